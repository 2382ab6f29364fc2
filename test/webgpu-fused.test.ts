/// <reference types="@webgpu/types" />
/** The Fused elementwise kind on WebGPU: one dispatch, same result as the unfused graph on the CPU. */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';
import { fuseElementwise } from '../src/passes/fuse-elementwise.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectClose, randomTensor } from './helpers/gpu-compare.js';

describe('webgpu Fused elementwise kernel', function () {
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });

  it('renders the composed expression of a broadcast chain in one dispatch', async function () {
    const b = new GraphBuilder('chain');
    const x = b.input('x', 'float32', [3, 5]);
    const s = b.input('s', 'float32', [5]);
    const c = b.input('c', 'float32', [3, 1]);
    const y = b.Sigmoid(b.Relu(b.Mul([b.Add([x, s]), c])));
    const z = b.Where([b.Greater([y, b.constant(0.6)]), y, b.Neg(x)]);
    b.output(z, 'z');
    const g = b.build();
    const fused = fuseElementwise(g);
    expect(fused.nodes.filter((n) => n.op === 'Fused').length).to.equal(1);
    const feeds: Record<string, Tensor> = { x: randomTensor('float32', [3, 5], 1), s: randomTensor('float32', [5], 2), c: randomTensor('float32', [3, 1], 3) };
    const want = compileCpu(g).run(feeds).z!;
    const prog = await compileWebGpu(fused, { device });
    expect(prog.dispatchCount).to.equal(1);
    expect(prog.plan!.dispatches[0]!.label).to.equal('Fused.elementwise');
    expectClose((await prog.run(feeds)).z as Tensor, want, 1e-5, 'fused');
    prog.release();
  });
});
