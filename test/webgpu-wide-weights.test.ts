/// <reference types="@webgpu/types" />
/**
 * Weights larger than one storage binding on WebGPU (src/backends/webgpu/legalize.ts):
 * a MatMul/Gemm whose constant weight exceeds maxStorageBufferBindingSize runs as
 * column blocks that fit. Checked end to end on a real weight just over the device's
 * limit, and with a small limit (the rewrite alone, then compiled) on MatMul, Gemm
 * with transB and a per-column C, and a Fused epilogue (unfused first); against the
 * CPU reference on the original graph (float32, atol 1e-4 + rtol 1e-4); and a Gather
 * from a wide table (row blocks, negative indices) along axis 0 and 1.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { splitWideWeights } from '../src/backends/webgpu/legalize.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectNear, randomTensor } from './helpers/gpu-compare.js';


const ops = (g: Graph): string[] => g.nodes.map((n) => n.op);

describe('webgpu: weights larger than one storage binding', function () {
  this.timeout(120_000);
  let device: GPUDevice;
  before(async function () { device = await deviceOrSkip(this); });

  it('a MatMul whose weight is just over maxStorageBufferBindingSize runs as column blocks, equal to the CPU', async () => {
    const K = 2048;
    const N = Math.floor(device.limits.maxStorageBufferBindingSize / 4 / K) + 8;
    const b = new GraphBuilder('wide');
    const x = b.input('x', 'float32', [2, K]);
    b.output(b.MatMul([x, b.constant(randomTensor('float32', [K, N], 5, -0.05, 0.05), { name: 'w' })]), 'y');
    const g = b.build();
    const feeds = { x: randomTensor('float32', [2, K], 6, -1, 1) };
    const prog = await compileWebGpu(g, { device });
    const got = ((await prog.run(feeds)) as Record<string, Tensor>).y!;
    prog.release();
    expectNear(got, compileCpu(g).run(feeds).y!, 1e-4, 1e-4, 'y');
    expect(ops(splitWideWeights(g, device.limits.maxStorageBufferBindingSize)).filter((o) => o === 'MatMul')).to.have.length(2);
  });

  it('a Gather from an embedding table just over maxStorageBufferBindingSize runs as row blocks, equal to the CPU', async () => {
    const D = 1024;
    const V = Math.floor(device.limits.maxStorageBufferBindingSize / 4 / D) + 16;
    const b = new GraphBuilder('wide-embedding');
    const ids = b.input('ids', 'int64', [1, 6]);
    b.output(b.Gather([b.constant(randomTensor('float32', [V, D], 7), { name: 'wte' }), ids]), 'y');
    const g = b.build();
    const feeds = { ids: Tensor.from('int64', [1, 6], [0, 1, V - 1, V - 17, 12345, -1]) };
    const prog = await compileWebGpu(g, { device });
    const got = ((await prog.run(feeds)) as Record<string, Tensor>).y!;
    prog.release();
    expectNear(got, compileCpu(g).run(feeds).y!, 1e-4, 1e-4, 'y');
  });

  const cases: Record<string, (b: GraphBuilder) => void> = {
    'MatMul [3, 64] · [64, 50]': (b) => {
      b.output(b.MatMul([b.input('x', 'float32', [3, 64]), b.constant(randomTensor('float32', [64, 50], 11), { name: 'w' })]), 'y');
    },
    'batched MatMul [2, 3, 64] · [64, 50]': (b) => {
      b.output(b.MatMul([b.input('x', 'float32', [2, 3, 64]), b.constant(randomTensor('float32', [64, 50], 12), { name: 'w' })]), 'y');
    },
    'Gemm transB with a per-column C': (b) => {
      b.output(b.Gemm([b.input('x', 'float32', [4, 64]), b.constant(randomTensor('float32', [50, 64], 13), { name: 'w' }), b.constant(randomTensor('float32', [50], 14), { name: 'c' })], { transB: 1, alpha: 0.5, beta: 2 }), 'y');
    },
    'Gemm with a scalar C': (b) => {
      b.output(b.Gemm([b.input('x', 'float32', [4, 64]), b.constant(randomTensor('float32', [64, 50], 15), { name: 'w' }), b.constant(randomTensor('float32', [1], 16), { name: 'c' })]), 'y');
    },
    'MatMul + bias + Relu (a Fused epilogue at O2)': (b) => {
      const h = b.MatMul([b.input('x', 'float32', [3, 64]), b.constant(randomTensor('float32', [64, 50], 17), { name: 'w' })]);
      b.output(b.Relu(b.Add([h, b.constant(randomTensor('float32', [50], 18), { name: 'bias' })])), 'y');
    },
  };
  for (const [name, build] of Object.entries(cases)) {
    it(`${name}: split at a 4 KiB limit into blocks, equal to the CPU on the original`, async () => {
      const b = new GraphBuilder(name);
      build(b);
      const g0 = b.build();
      const g = optimize(g0, { level: 2 }).graph;
      if (name.includes('Fused')) expect(ops(g)).to.include('Fused');
      const split = splitWideWeights(g, 4096);
      const products = ops(split).filter((o) => o === 'MatMul' || o === 'Gemm');
      expect(products.length, ops(split).join(' ')).to.equal(4); // 64 × 50 × 4 bytes = 12.8 KB → 4 blocks of ≤ 16 columns
      expect(ops(split)).to.include('Concat');
      const x = g0.inputs[0]!;
      const feeds = { x: randomTensor('float32', x.shape as number[], 19, -1, 1) };
      const prog = await compileWebGpu(split, { device });
      const got = ((await prog.run(feeds)) as Record<string, Tensor>).y!;
      prog.release();
      expectNear(got, compileCpu(g0).run(feeds).y!, 1e-4, 1e-4, name);
    });
  }

  for (const [name, axis, table, idx] of [
    ['an embedding table [100, 16], int64 indices with negatives', 0, [100, 16], [2, 5]],
    ['a table [6, 200] gathered along axis 1', 1, [6, 200], [3, 4]],
  ] as const) {
    it(`Gather from ${name}: row blocks at a 4 KiB limit, equal to the CPU on the original`, async () => {
      const b = new GraphBuilder('gather');
      const ids = b.input('ids', 'int64', [...idx]);
      b.output(b.Gather([b.constant(randomTensor('float32', [...table], 21), { name: 'table' }), ids], { axis }), 'y');
      const g = b.build();
      const split = splitWideWeights(g, 4096);
      expect(ops(split).filter((o) => o === 'Gather').length, ops(split).join(' ')).to.be.greaterThan(1);
      const n = table[axis];
      const values = Array.from({ length: idx[0] * idx[1] }, (_, i) => ((i * 37) % (2 * n)) - n); // every block, and negatives
      const feeds = { ids: Tensor.from('int64', [...idx], values) };
      const prog = await compileWebGpu(split, { device });
      const got = ((await prog.run(feeds)) as Record<string, Tensor>).y!;
      prog.release();
      expectNear(got, compileCpu(g).run(feeds).y!, 1e-4, 1e-4, name);
    });
  }

  it('leaves a graph without wide weights as it is', () => {
    const b = new GraphBuilder('narrow');
    b.output(b.MatMul([b.input('x', 'float32', [3, 8]), b.constant(randomTensor('float32', [8, 4], 1), { name: 'w' })]), 'y');
    const g = b.build();
    expect(splitWideWeights(g, 4096)).to.equal(g);
  });
});
