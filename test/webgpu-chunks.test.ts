/// <reference types="@webgpu/types" />
/**
 * Values larger than one storage binding on WebGPU (src/backends/webgpu/chunk.ts): a
 * node that reads or writes an activation over the binding limit runs as chunks of
 * rows, each binding a byte range of the value. Checked with a small binding limit
 * (`maxBindingBytes`, 256 KiB) on activations of 1–2 MiB, against the CPU reference
 * (float32, atol 1e-4 + rtol 1e-4): a fused elementwise chain with a broadcast bias,
 * MatMul, Gemm, Gather (embedding rows), Conv (by batch and by output channels),
 * Softmax; and a consumer with no chunk rule gives a LimitError naming the node.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { LimitError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectNear, randomTensor } from './helpers/gpu-compare.js';

const LIMIT = 256 * 1024;

describe('webgpu: activations larger than one storage binding run in chunks', function () {
  this.timeout(180_000);
  let device: GPUDevice;
  before(async function () { device = await deviceOrSkip(this); });

  async function check(g: Graph, feeds: Record<string, Tensor>, level: 0 | 2 = 2): Promise<void> {
    const graph = level === 2 ? optimize(g).graph : g;
    const prog = await compileWebGpu(graph, { device, maxBindingBytes: LIMIT });
    const got = (await prog.run(feeds)) as Record<string, Tensor>;
    const chunked = prog.plan!.dispatches.length;
    prog.release();
    const whole = await compileWebGpu(graph, { device });
    // The chunks are extra dispatches of the same kernels: more than the unlimited plan has.
    expect(chunked, 'dispatches with the small binding limit').to.be.greaterThan(whole.plan!.dispatches.length);
    whole.release();
    const want = compileCpu(g).run(feeds);
    for (const o of g.outputs) expectNear(got[o.name]!, want[o.name]!, 1e-4, 1e-4, `${g.name} ${o.name}`);
  }

  it('a fused elementwise chain with a broadcast bias (2 MiB values)', async () => {
    const b = new GraphBuilder('ew');
    const x = b.input('x', 'float32', [512, 1024]);
    const bias = b.constant(randomTensor('float32', [1024], 2, -1, 1));
    b.output(b.Relu([b.Mul([b.Add([x, bias]), x])]), 'y');
    const feeds = { x: randomTensor('float32', [512, 1024], 1, -1, 1) };
    await check(b.build(), feeds, 0);
    await check(b.build(), feeds, 2);
  });

  it('MatMul and Gemm whose A and Y are over the limit (rows)', async () => {
    const b = new GraphBuilder('mm');
    const x = b.input('x', 'float32', [1024, 256]);
    const w = b.constant(randomTensor('float32', [256, 384], 3, -0.1, 0.1));
    const y = b.MatMul([x, w]);
    b.output(b.Gemm([y, b.constant(randomTensor('float32', [384, 320], 4, -0.1, 0.1)), b.constant(randomTensor('float32', [320], 5, -1, 1))]), 'z');
    await check(b.build(), { x: randomTensor('float32', [1024, 256], 6, -1, 1) });
  });

  it('Gather of embedding rows into an output over the limit', async () => {
    const b = new GraphBuilder('gather');
    const ids = b.input('ids', 'int64', [4, 512]);
    b.output(b.Gather([b.constant(randomTensor('float32', [1000, 256], 7, -1, 1)), ids], { axis: 0 }), 'e');
    const idx = Tensor.from('int64', [4, 512], Array.from({ length: 2048 }, (_, i) => (i * 37) % 1000));
    await check(b.build(), { ids: idx }, 0);
  });

  it('Conv by batch and with one image by output channels; Softmax by rows', async () => {
    const b = new GraphBuilder('conv');
    const x = b.input('x', 'float32', [4, 8, 64, 64]);
    const w = b.constant(randomTensor('float32', [16, 8, 3, 3], 8, -0.2, 0.2));
    b.output(b.Conv([x, w], { pads: [1, 1, 1, 1] }), 'y');
    await check(b.build(), { x: randomTensor('float32', [4, 8, 64, 64], 9, -1, 1) }, 0);

    const c = new GraphBuilder('conv1');
    const x1 = c.input('x', 'float32', [1, 4, 64, 64]);
    c.output(c.Conv([x1, c.constant(randomTensor('float32', [64, 4, 3, 3], 10, -0.2, 0.2))], { pads: [1, 1, 1, 1] }), 'y');
    await check(c.build(), { x: randomTensor('float32', [1, 4, 64, 64], 11, -1, 1) }, 0);

    const s = new GraphBuilder('softmax');
    const xs = s.input('x', 'float32', [256, 1024]);
    s.output(s.Softmax([xs], { axis: -1 }), 'y');
    await check(s.build(), { x: randomTensor('float32', [256, 1024], 12, -4, 4) }, 0);
  });

  it('a consumer with no chunk rule is a LimitError naming the node', async () => {
    const b = new GraphBuilder('nochunk');
    const x = b.input('x', 'float32', [512, 1024]);
    // A CumSum down the rows: each block's scan depends on every earlier row, and it has no chunk rule.
    b.output(b.CumSum([x, b.constant(Tensor.from('int64', [], [0]))], {}, { name: 'sum_over_rows' }), 'y');
    let err: unknown;
    try {
      const prog = await compileWebGpu(b.build(), { device, maxBindingBytes: LIMIT });
      await prog.run({ x: randomTensor('float32', [512, 1024], 13, -1, 1) });
      prog.release();
    } catch (e) { err = e; }
    expect(err).to.be.instanceOf(LimitError);
    expect((err as Error).message).to.match(/sum_over_rows/);
  });
});
