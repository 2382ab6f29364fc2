/// <reference types="@webgpu/types" />
/**
 * Values (activations) larger than one storage binding on WebGPU (src/backends/webgpu/chunk.ts):
 * compiled with `maxBindingBytes` 64 KiB, so tensors of a few hundred KiB take the paths a
 * 411 MB weight or an LLM's logits take on a real device. Each op family runs as chunks that
 * bind byte ranges of the large value (no binding over the limit in the plan) and equals the
 * CPU reference on the original graph (float32, atol 1e-5 + rtol 1e-5); at O0 and at O2 (fused
 * elementwise groups and epilogues). Transpose and Slice run as tiles (boxes of the output),
 * reductions by the rows before their axes; MatMulInteger, ConvInteger and ConvTranspose like
 * MatMul and Conv. Reductions over a leading axis
 * reduce blocks of rows merged into the output (L2, LogSum, LogSumExp finished on the last);
 * Gemm with transA runs as m × n × k blocks; misaligned rows are staged. A node with none of
 * these (CumSum, ConvTranspose of one image with a run-time weight) is a LimitError naming
 * the node, its op and why.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, type Sym } from '../src/graph/builder.js';
import { LimitError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectNear, randomTensor } from './helpers/gpu-compare.js';

const LIMIT = 64 * 1024;

const w = (b: GraphBuilder, shape: number[], seed: number, name: string) => b.constant(randomTensor('float32', shape, seed, -0.5, 0.5), { name });

/** The single output of `b.apply`. */
const one = (s: Sym | Sym[]): Sym => (Array.isArray(s) ? s[0]! : s);

/** Graphs whose values exceed LIMIT bytes; `feeds` float32 inputs by shape. */
const cases: Record<string, { build: (b: GraphBuilder) => void; ids?: Tensor; uses?: RegExp }> = {
  'elementwise Add + Relu with a broadcast bias [64, 512] + [512]': {
    build: (b) => { b.output(b.Relu(b.Add([b.input('x', 'float32', [64, 512]), w(b, [512], 1, 'bias')])), 'y'); },
  },
  'Where over [2, 96, 128] with a condition broadcast along rows [96, 1]': {
    build: (b) => {
      const x = b.input('x', 'float32', [2, 96, 128]);
      b.output(b.Where([b.Greater([w(b, [96, 1], 2, 't'), b.constant(Tensor.from('float32', [], [0]))]), x, b.Neg(x)]), 'y');
    },
  },
  'MatMul [2, 256, 64] · [64, 128]: rows of batch × M': {
    build: (b) => { b.output(b.MatMul([b.input('x', 'float32', [2, 256, 64]), w(b, [64, 128], 3, 'w')]), 'y'); },
  },
  'batched MatMul [4, 128, 64] · [4, 64, 96] of two activations: by batch': {
    build: (b) => { b.output(b.MatMul([b.input('x', 'float32', [4, 128, 64]), b.input('x2', 'float32', [4, 64, 96])]), 'y'); },
  },
  'MatMul + bias + Relu (a Fused epilogue at O2) [300, 64] · [64, 100]': {
    build: (b) => { b.output(b.Relu(b.Add([b.MatMul([b.input('x', 'float32', [300, 64]), w(b, [64, 100], 4, 'w')]), w(b, [100], 5, 'bias')])), 'y'); },
  },
  'Gemm transB with a per-column C [400, 32] · [80, 32]ᵀ': {
    build: (b) => { b.output(b.Gemm([b.input('x', 'float32', [400, 32]), w(b, [80, 32], 6, 'w'), w(b, [80], 7, 'c')], { transB: 1, alpha: 0.5, beta: 2 }), 'y'); },
  },
  'Gather from a table [1000, 64] (split into row blocks too) by ids [1, 600]': {
    build: (b) => { b.output(b.Gather([w(b, [1000, 64], 8, 'table'), b.input('ids', 'int64', [1, 600])]), 'y'); },
    ids: Tensor.from('int64', [1, 600], Array.from({ length: 600 }, (_, i) => ((i * 37) % 2000) - 1000)),
  },
  'Conv 3×3 by batch [4, 8, 24, 24] → [4, 16, 22, 22]': {
    build: (b) => { b.output(b.Conv([b.input('x', 'float32', [4, 8, 24, 24]), w(b, [16, 8, 3, 3], 9, 'w'), w(b, [16], 10, 'b')]), 'y'); },
  },
  'Conv 3×3 + Relu by output channels, one image [1, 4, 48, 48] → [1, 32, 48, 48]': {
    build: (b) => { b.output(b.Relu(b.Conv([b.input('x', 'float32', [1, 4, 48, 48]), w(b, [32, 4, 3, 3], 11, 'w'), w(b, [32], 12, 'b')], { pads: [1, 1, 1, 1] })), 'y'); },
  },
  'Conv by output channels with a weight over the limit (one constant per chunk) [1, 64, 8, 8] · [128, 64, 3, 3]': {
    build: (b) => { b.output(b.Conv([b.input('x', 'float32', [1, 64, 8, 8]), w(b, [128, 64, 3, 3], 16, 'w'), w(b, [128], 17, 'b')], { pads: [1, 1, 1, 1] }), 'y'); },
  },
  'depthwise Conv by groups [1, 32, 32, 32], group 32': {
    build: (b) => { b.output(b.Conv([b.input('x', 'float32', [1, 32, 32, 32]), w(b, [32, 1, 3, 3], 13, 'w')], { group: 32, pads: [1, 1, 1, 1] }), 'y'); },
  },
  'Reshape, Softmax over the last axis and Concat along it [8, 64, 40]': {
    build: (b) => {
      const x = b.input('x', 'float32', [8, 2560]);
      const s = b.Softmax(b.Reshape([x, b.constant(Tensor.from('int64', [3], [8, 64, 40]))]), { axis: -1 });
      b.output(b.Concat([s, b.Exp(s)], { axis: 2 }), 'y');
    },
  },
  'Transpose 2-D [64, 512] → [512, 64] (blocks of rows × columns)': {
    build: (b) => { b.output(b.Transpose(b.Neg(b.input('x', 'float32', [64, 512])), { perm: [1, 0] }), 'y'); },
  },
  'Transpose NCHW → NHWC [2, 64, 16, 16] (per image, blocks of pixels × channels)': {
    build: (b) => { b.output(b.Transpose(b.input('x', 'float32', [2, 64, 16, 16]), { perm: [0, 2, 3, 1] }), 'y'); },
  },
  'Transpose of heads [2, 8, 64, 32] perm [0, 2, 1, 3]': {
    build: (b) => { b.output(b.Transpose(b.input('x', 'float32', [2, 8, 64, 32]), { perm: [0, 2, 1, 3] }), 'y'); },
  },
  'Slice of the last axis [64, 512] → [64, 300] and with step -2 along rows': {
    build: (b) => {
      const x = b.input('x', 'float32', [64, 512]);
      const ints = (v: number[]) => b.constant(Tensor.from('int64', [v.length], v));
      b.output(b.Slice([x, ints([100]), ints([400]), ints([1])]), 'y');
      b.output(b.Slice([x, ints([-1]), ints([-65]), ints([0]), ints([-2])]), 'z');
    },
  },
  'Slice of the last row of [512, 64] (a small output from a value beyond the limit)': {
    build: (b) => { b.output(b.Slice([b.Exp(b.input('x', 'float32', [512, 64])), b.constant(Tensor.from('int64', [1], [-1])), b.constant(Tensor.from('int64', [1], [512])), b.constant(Tensor.from('int64', [1], [0]))]), 'y'); },
  },
  'ReduceSum over the last axis and ReduceMean over the last two (keepdims 0 and 1) [8, 64, 8, 8]': {
    build: (b) => {
      const x = b.input('x', 'float32', [8, 64, 8, 8]);
      b.output(b.ReduceSum([x, b.constant(Tensor.from('int64', [1], [-1]))], { keepdims: 0 }), 'y');
      b.output(b.ReduceMean([x, b.constant(Tensor.from('int64', [2], [2, 3]))], { keepdims: 1 }), 'z');
    },
  },
  'ReduceMax over axis 1 and ArgMax over the last axis [64, 8, 128]': {
    build: (b) => {
      const x = b.input('x', 'float32', [64, 8, 128]);
      b.output(b.ReduceMax([x, b.constant(Tensor.from('int64', [1], [1]))], { keepdims: 0 }), 'y');
      b.output(one(b.apply('ArgMax', [x], { axis: -1, keepdims: 0 })), 'z');
    },
  },
  'ReduceSum over rows, ReduceMean over all axes, ReduceMax over axis 1 of [1, 300, 128] (blocks of rows merged into the output)': {
    build: (b) => {
      const x = b.input('x', 'float32', [1, 300, 128]);
      const ax = (v: number[]) => b.constant(Tensor.from('int64', [v.length], v));
      b.output(b.ReduceSum([x, ax([0, 1])], { keepdims: 0 }), 'y');
      b.output(b.ReduceMean([x], { keepdims: 1 }), 'z');
      b.output(b.ReduceMax([b.Neg(x), ax([1])], { keepdims: 1 }), 'm');
    },
  },
  'MatMulInteger uint8 [256, 128] · [128, 64] with zero points, by rows': {
    build: (b) => {
      const q = b.constant(randomTensor('uint8', [128, 64], 19, 0, 255), { name: 'wq' });
      b.output(one(b.apply('MatMulInteger', [b.input('x', 'uint8', [256, 128]), q, b.constant(Tensor.from('uint8', [], [128])), b.constant(Tensor.from('uint8', [], [120]))], {})), 'y');
    },
  },
  'ConvInteger uint8 × int8 by batch [4, 8, 24, 24], and by output channels with a per-channel w_zero_point [1, 4, 48, 48]': {
    build: (b) => {
      const wq = b.constant(randomTensor('int8', [16, 8, 3, 3], 20, -100, 100), { name: 'wq' });
      const xz = b.constant(Tensor.from('uint8', [], [100]));
      b.output(one(b.apply('ConvInteger', [b.input('x', 'uint8', [4, 8, 24, 24]), wq, xz, b.constant(Tensor.from('int8', [], [3]))], {})), 'y');
      const wz = b.constant(randomTensor('int8', [16], 21, -5, 5), { name: 'wz' });
      const wq2 = b.constant(randomTensor('int8', [16, 4, 3, 3], 27, -100, 100), { name: 'wq2' });
      b.output(one(b.apply('ConvInteger', [b.input('x2', 'uint8', [1, 4, 48, 48]), wq2, xz, wz], { pads: [1, 1, 1, 1] })), 'z');
    },
  },
  'ConvTranspose by batch [4, 16, 16, 16] → [4, 8, 32, 32], and by groups [1, 64, 16, 16] → [1, 32, 32, 32], group 4': {
    build: (b) => {
      const up = { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] };
      b.output(b.ConvTranspose([b.input('x', 'float32', [4, 16, 16, 16]), w(b, [16, 8, 3, 3], 22, 'w'), w(b, [8], 23, 'b')], up), 'y');
      b.output(b.ConvTranspose([b.input('x2', 'float32', [1, 64, 16, 16]), w(b, [64, 8, 3, 3], 24, 'w2'), w(b, [32], 25, 'b2')], { ...up, group: 4 }), 'z');
    },
  },
  'Gemm transA [256, 128]ᵀ · [256, 16] (blocks of K added into the output), + Relu and × a residual (a Fused epilogue at O2)': {
    build: (b) => {
      const g = b.Gemm([b.input('x', 'float32', [256, 128]), b.input('x2', 'float32', [256, 16])], { transA: 1 });
      b.output(b.Relu(g), 'y');
      b.output(b.Mul([b.Relu(b.Gemm([b.input('x3', 'float32', [300, 64]), w(b, [300, 32], 33, 'w')], { transA: 1, alpha: 0.25 })), b.input('x4', 'float32', [64, 32])]), 'z');
    },
    uses: /Gemm\.block/,
  },
  'Gemm transA, transB with B beyond the limit and a per-column C [300, 64]ᵀ · [200, 300]ᵀ (blocks of m × n × k)': {
    build: (b) => { b.output(b.Gemm([b.input('x', 'float32', [300, 64]), w(b, [200, 300], 28, 'w'), w(b, [200], 29, 'c')], { transA: 1, transB: 1, alpha: 0.5, beta: 2 }), 'y'); },
    uses: /Gemm\.block/,
  },
  'Gemm transA with an output and a full C beyond the limit [80, 256]ᵀ · [80, 128] + C [256, 128]': {
    build: (b) => { b.output(b.Gemm([b.input('x', 'float32', [80, 256]), w(b, [80, 128], 30, 'w'), b.input('x2', 'float32', [256, 128])], { transA: 1, beta: -1 }), 'y'); },
    uses: /Gemm\.block/,
  },
  'ReduceL2, ReduceLogSum and ReduceLogSumExp over rows of [300, 128] and over all axes (blocks merged, finished by the last)': {
    build: (b) => {
      const x = b.input('x', 'float32', [300, 128]);
      const ax = (v: number[]) => b.constant(Tensor.from('int64', [v.length], v));
      b.output(b.ReduceL2([x, ax([0])], { keepdims: 0 }), 'y');
      b.output(b.ReduceLogSum([b.Exp(x), ax([0])], { keepdims: 1 }), 'z');
      b.output(b.ReduceLogSumExp([b.Mul([x, b.constant(Tensor.from('float32', [], [40]))]), ax([0])], { keepdims: 0 }), 'm');
      b.output(b.ReduceLogSumExp([x], { keepdims: 0 }), 'a');
    },
    uses: /^ReduceL2\.merge/,
  },
  'ConvTranspose of one image, one group, by output channels [1, 16, 32, 32] → [1, 8, 63, 63], + bias + Relu': {
    build: (b) => {
      const x = b.input('x', 'float32', [1, 16, 32, 32]);
      b.output(b.Relu(b.ConvTranspose([x, w(b, [16, 8, 3, 3], 18, 'w'), w(b, [8], 31, 'b')], { strides: [2, 2], pads: [1, 1, 1, 1] })), 'y');
    },
  },
  'ConvTranspose of one image, one group, with a weight beyond the limit [1, 64, 8, 8] · [64, 128, 3, 3]': {
    build: (b) => { b.output(b.ConvTranspose([b.input('x', 'float32', [1, 64, 8, 8]), w(b, [64, 128, 3, 3], 32, 'w')], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }), 'y'); },
  },
  'MatMulInteger with a per-row a_zero_point (a constant and an input) [256, 128] · [128, 64]': {
    build: (b) => {
      const az = b.constant(randomTensor('uint8', [256], 26, 0, 255), { name: 'az' });
      const x = b.input('x', 'uint8', [256, 128]);
      const q = b.input('x2', 'uint8', [128, 64]);
      b.output(one(b.apply('MatMulInteger', [x, q, az], {})), 'y');
      b.output(one(b.apply('MatMulInteger', [x, q, b.input('x3', 'uint8', [256]), b.constant(Tensor.from('uint8', [], [7]))], {})), 'z');
    },
  },
  'Softmax and Add over few rows not a multiple of the offset alignment [5, 5001] (staged through scratch)': {
    build: (b) => {
      const x = b.input('x', 'float32', [5, 5001]);
      b.output(b.Add([b.Softmax(x, { axis: -1 }), b.Neg(x)]), 'y');
    },
    uses: /^chunk\.stage\.output/,
  },
  'LayerNormalization over [64, 512]': {
    build: (b) => { b.output(b.LayerNormalization([b.input('x', 'float32', [64, 512]), w(b, [512], 14, 'g'), w(b, [512], 15, 'beta')], { axis: -1 }), 'y'); },
  },
};

/** The largest byte range any dispatch of the program's plan binds. */
function largestBinding(prog: { plan?: { dispatches: readonly { slots: readonly number[]; views?: readonly ({ size: number } | undefined)[] }[]; slotBytes: readonly number[] } | undefined }): number {
  let most = 0;
  for (const d of prog.plan!.dispatches) d.slots.forEach((s, k) => { most = Math.max(most, d.views?.[k]?.size ?? prog.plan!.slotBytes[s]!); });
  return most;
}

describe('webgpu: values larger than one storage binding (chunks, at a 64 KiB binding limit)', function () {
  this.timeout(300_000);
  let device: GPUDevice;
  before(async function () { device = await deviceOrSkip(this); });

  for (const [name, c] of Object.entries(cases)) {
    for (const level of [0, 2] as const) {
      it(`${name} at O${level}: equal to the CPU, no binding over the limit`, async () => {
        const b = new GraphBuilder('wide-values');
        c.build(b);
        const g0: Graph = b.build();
        const g = optimize(g0, { level }).graph;
        const feeds: Record<string, Tensor> = {};
        for (const i of g0.inputs) feeds[i.name] = i.dtype === 'int64' ? c.ids! : i.dtype === 'uint8' ? randomTensor('uint8', i.shape as number[], 32, 0, 255) : randomTensor('float32', i.shape as number[], 31, -1, 1);
        const shapes = [...[...g0.valueTypes.values()].map((t) => t.shape as number[]), ...[...g0.initializers.values()].map((t) => t.shape as number[]), ...g0.inputs.map((i) => i.shape as number[])];
        const biggest = Math.max(...shapes.map((s) => s.reduce((p, d) => p * d, 4)));
        expect(biggest, 'the case has a value beyond the limit').to.be.greaterThan(LIMIT);
        const prog = await compileWebGpu(g, { device, maxBindingBytes: LIMIT });
        try {
          const got = (await prog.run(feeds)) as Record<string, Tensor>;
          expect(largestBinding(prog)).to.be.at.most(LIMIT);
          if (c.uses) expect(prog.plan!.dispatches.map((d) => d.label)).to.satisfy((ls: string[]) => ls.some((l) => c.uses!.test(l)), `a dispatch labelled ${c.uses}`);
          const want = compileCpu(g0).run(feeds);
          for (const o of g0.outputs) expectNear(got[o.name]!, want[o.name]!, 1e-5, 1e-5, `${name}: ${o.name}`);
        } finally {
          prog.release();
        }
      });
    }
  }

  /** Nodes whose kernels have no split or tiles for a value beyond the limit, each named in its LimitError. */
  const refused: Record<string, (b: GraphBuilder) => void> = {
    'ConvTranspose of one image, one group, whose weight is an input (its output channels are not contiguous in W)': (b) => {
      b.output(b.ConvTranspose([b.input('x', 'float32', [1, 16, 32, 32]), b.input('w', 'float32', [16, 8, 3, 3])], { strides: [2, 2], pads: [1, 1, 1, 1] }, { name: 'the_node' }), 'y');
    },
    'CumSum along the one axis of [20000] (a scan has no split or tiles)': (b) => {
      b.output(b.CumSum([b.input('x', 'float32', [20000]), b.constant(Tensor.from('int64', [], [0]))], {}, { name: 'the_node' }), 'y');
    },
  };
  for (const [name, build] of Object.entries(refused)) {
    it(`${name}: a LimitError naming the node, its op and the binding limit`, async () => {
      const b = new GraphBuilder('wide-refused');
      build(b);
      const g = b.build();
      let err: unknown;
      try {
        const prog = await compileWebGpu(g, { device, maxBindingBytes: LIMIT });
        const feeds = Object.fromEntries(g.inputs.map((i) => [i.name, randomTensor(i.dtype, i.shape as number[], 41, 0, 3)]));
        await prog.run(feeds);
        prog.release();
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(LimitError);
      const op = g.nodes.find((n) => n.name === 'the_node')!.op;
      expect((err as Error).message).to.match(/^the_node: /).and.to.include(op).and.to.match(/maxStorageBufferBindingSize 65536/).and.to.match(/cannot read or write it in chunks/);
      console.log(`      ${(err as Error).message}`);
    });
  }
});
