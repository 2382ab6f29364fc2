import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';

describe('webgpu: non-finite constants in generated WGSL', () => {
  it('-Infinity and NaN constants compile and match the CPU (masked scores, fused and epilogue)', async function () {
    const device = await deviceOrSkip(this);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    const w = b.constant(new Tensor('float32', [3, 3], Float32Array.from({ length: 9 }, (_, i) => i / 9)));
    const m = b.MatMul([x, w]);
    const masked = b.Where([b.Greater([m, b.constant(0.5)]), m, b.constant(-Infinity)]);
    b.output(masked, 'masked');
    b.output(b.Add([b.Relu(b.MatMul([x, w])), b.constant(NaN)]), 'nan');
    const g = optimize(b.build(), { level: 2 }).graph;
    const feeds = { x: Tensor.from('float32', [2, 3], [1, 2, 3, -1, 0, 0.5]) };
    const gpu = await (await compileWebGpu(g, { device })).run(feeds);
    const cpu = compileCpu(g).run(feeds);
    expect(gpu.masked!.toArray()).to.deep.equal(cpu.masked!.toArray());
    expect(gpu.masked!.toArray().slice(3)).to.deep.equal([-Infinity, -Infinity, -Infinity]);
    expect(gpu.nan!.toArray().every(Number.isNaN)).to.equal(true);
  });
});
