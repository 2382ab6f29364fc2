/** WebGPU Conv / ConvTranspose kernels against the CPU reference (pads, strides, dilations, groups, depthwise, 1-D/3-D). */
import { expect } from 'chai';
import { DEFAULT_KERNEL_LIMITS, type KernelOptions } from '../src/backends/webgpu/kernel.js';
import { registerAllKernels } from '../src/backends/webgpu/kernels/index.js';
import { planGraph } from '../src/backends/webgpu/plan.js';
import type { GraphBuilder } from '../src/graph/index.js';
import type { Sym } from '../src/graph/builder.js';
import { randomTensor } from './helpers/gpu-compare.js';
import { buildCase, heavySuite, type Build } from './webgpu-kernel-cases.js';

heavySuite('webgpu Conv kernels vs CPU reference', {
  'Conv 2-D 3x3 pads 1, bias': (b, f) => b.Conv([f('x', 'float32', [2, 3, 7, 6]), f('w', 'float32', [5, 3, 3, 3]), f('b', 'float32', [5])], { pads: [1, 1, 1, 1] }),
  'Conv strides 2, dilations 2, asymmetric pads, no bias': (b, f) =>
    b.Conv([f('x', 'float32', [1, 4, 9, 11]), f('w', 'float32', [6, 4, 3, 2])], { strides: [2, 2], dilations: [2, 1], pads: [0, 1, 2, 0] }),
  'Conv groups 2 (3 outputs per group)': (b, f) => b.Conv([f('x', 'float32', [1, 4, 5, 5]), f('w', 'float32', [6, 2, 3, 3]), f('b', 'float32', [6])], { group: 2, pads: [1, 1, 1, 1] }),
  'Conv depthwise 3x3 stride 2 SAME_UPPER': (b, f) => b.Conv([f('x', 'float32', [2, 5, 8, 7]), f('w', 'float32', [5, 1, 3, 3]), f('b', 'float32', [5])], { group: 5, strides: [2, 2], auto_pad: 'SAME_UPPER' }),
  'Conv pointwise 1x1 (matmul path), bias': (b, f) => b.Conv([f('x', 'float32', [2, 8, 4, 5]), f('w', 'float32', [12, 8, 1, 1]), f('b', 'float32', [12])]),
  'Conv pointwise vec4 (spatial 16)': (b, f) => b.Conv([f('x', 'float32', [1, 8, 4, 4]), f('w', 'float32', [7, 8, 1, 1])]),
  'Conv 1-D with pads': (b, f) => b.Conv([f('x', 'float32', [2, 3, 10]), f('w', 'float32', [4, 3, 3])], { pads: [2, 1] }),
  'Conv 3-D': (b, f) => b.Conv([f('x', 'float32', [1, 2, 4, 5, 3]), f('w', 'float32', [3, 2, 2, 3, 2]), f('b', 'float32', [3])], { pads: [1, 0, 1, 0, 1, 1] }),
  'Conv VALID auto_pad, 1x1 stride 2': (b, f) => [b.Conv([f('x', 'float32', [1, 3, 6, 6]), f('w', 'float32', [2, 3, 2, 2])], { auto_pad: 'VALID' }), b.Conv([f('y', 'float32', [1, 3, 6, 6]), f('v', 'float32', [4, 3, 1, 1])], { strides: [2, 2] })],
  'ConvTranspose 2-D strides 2, pads, bias': (b, f) => b.ConvTranspose([f('x', 'float32', [1, 3, 4, 5]), f('w', 'float32', [3, 2, 3, 3]), f('b', 'float32', [2])], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  'ConvTranspose groups, dilations, output_padding': (b, f) =>
    b.ConvTranspose([f('x', 'float32', [2, 4, 3, 3]), f('w', 'float32', [4, 1, 2, 2])], { group: 2, dilations: [2, 1], strides: [2, 3], output_padding: [1, 1] }),
  'ConvTranspose 1-D output_shape': (b, f) => b.ConvTranspose([f('x', 'float32', [1, 2, 5]), f('w', 'float32', [2, 3, 3])], { strides: [2], output_shape: [10] }),
  'ConvTranspose SAME_UPPER': (b, f) => b.ConvTranspose([f('x', 'float32', [1, 2, 3, 3]), f('w', 'float32', [2, 2, 3, 3])], { strides: [2, 2], auto_pad: 'SAME_UPPER' }),
});

/** A constant weight (the implicit-GEMM conv needs weights known at plan time). */
const wc = (b: GraphBuilder, shape: number[], seed: number): Sym => b.constant(randomTensor('float32', shape, seed, -1, 1));

/** Conv with constant weights: the implicit GEMM by default, im2col + GEMM with `implicitGemm: false`. */
const CONSTANT_WEIGHT_CASES: Record<string, Build> = {
  '3x3 pads 1, 16→12 channels, batch 2, bias': (b, f) => b.Conv([f('x', 'float32', [2, 16, 9, 10]), wc(b, [12, 16, 3, 3], 1), wc(b, [12], 2)], { pads: [1, 1, 1, 1] }),
  '3x3 stride 2, 8→16, output width 7 (partial column tile)': (b, f) => b.Conv([f('x', 'float32', [1, 8, 14, 14]), wc(b, [16, 8, 3, 3], 3)], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  '7x7 stride 2 pads 3, 3→5 channels (odd K, channels padded to 8)': (b, f) => b.Conv([f('x', 'float32', [1, 3, 20, 18]), wc(b, [5, 3, 7, 7], 4)], { strides: [2, 2], pads: [3, 3, 3, 3] }),
  '1x1 stride 2, 4 channels (tm 4)': (b, f) => b.Conv([f('x', 'float32', [1, 6, 9, 9]), wc(b, [4, 6, 1, 1], 5)], { strides: [2, 2] }),
  'dilations 2x3, asymmetric pads, 3 output channels': (b, f) => b.Conv([f('x', 'float32', [1, 5, 11, 13]), wc(b, [3, 5, 3, 2], 6)], { dilations: [2, 3], pads: [2, 0, 1, 3] }),
  '1-D conv, stride 3': (b, f) => b.Conv([f('x', 'float32', [2, 4, 23]), wc(b, [9, 4, 5], 7)], { strides: [3], pads: [2, 2] }),
  'SAME_UPPER, 2x4 kernel': (b, f) => b.Conv([f('x', 'float32', [1, 7, 6, 9]), wc(b, [10, 7, 2, 4], 8), wc(b, [10], 9)], { auto_pad: 'SAME_UPPER' }),
  'rows of 3 outputs (4 columns per invocation), stride 2': (b, f) => b.Conv([f('x', 'float32', [1, 9, 6, 6]), wc(b, [11, 9, 3, 3], 12)], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  'vec2 input rows (width 16), pads 1 and 2, stride 1 and 2': (b, f) => {
    const x = f('x', 'float32', [2, 8, 10, 16]);
    return [b.Conv([x, wc(b, [12, 8, 3, 3], 13)], { pads: [1, 1, 1, 1] }), b.Conv([x, wc(b, [8, 8, 5, 5], 14)], { pads: [2, 2, 2, 2], strides: [2, 2] }), b.Conv([x, wc(b, [4, 8, 1, 1], 15)], { strides: [1, 2] })];
  },
  'vec2 input rows (width 14), odd pads: 3x3 stride 1 and 2, 7x7 pads 3': (b, f) => {
    const x = f('x', 'float32', [1, 6, 9, 14]);
    return [b.Conv([x, wc(b, [9, 6, 3, 3], 18)], { pads: [1, 1, 1, 1] }), b.Conv([x, wc(b, [8, 6, 3, 3], 19)], { pads: [1, 1, 1, 1], strides: [2, 2] }), b.Conv([x, wc(b, [5, 6, 7, 7], 20)], { pads: [3, 3, 3, 3] })];
  },
  'vec2 input rows, residual Add of the conv input itself': (b, f) => {
    const x = f('x', 'float32', [1, 8, 5, 8]);
    return b.Relu([b.Add([b.Conv([x, wc(b, [8, 8, 3, 3], 16), wc(b, [8], 17)], { pads: [1, 1, 1, 1] }), x])]);
  },
  'fused epilogue: bias + residual Add + Relu': (b, f) => {
    const y = b.Conv([f('x', 'float32', [1, 8, 6, 6]), wc(b, [8, 8, 3, 3], 10), wc(b, [8], 11)], { pads: [1, 1, 1, 1] });
    return b.Relu([b.Add([y, f('r', 'float32', [1, 8, 6, 6])])]);
  },
};

heavySuite('webgpu Conv implicit GEMM (constant weights) vs CPU reference', CONSTANT_WEIGHT_CASES);
heavySuite('webgpu Conv im2col + GEMM fallback (constant weights, implicitGemm: false) vs CPU reference', CONSTANT_WEIGHT_CASES, 1e-4, 7000, { implicitGemm: false });

describe('webgpu Conv kernel options (no device)', function () {
  /** Dispatch labels of a 3x3 conv with constant weights planned with `kernelOptions`. */
  const labels = (kernelOptions?: KernelOptions): string[] => {
    registerAllKernels();
    const { graph } = buildCase('conv', (b, f) => b.Conv([f('x', 'float32', [1, 2, 9, 9]), wc(b, [6, 2, 3, 3], 1)], { pads: [1, 1, 1, 1] }), 1);
    const types = new Map(graph.inputs.map((i) => [i.name, { dtype: i.dtype, shape: i.shape }]));
    return planGraph(graph, types, { limits: DEFAULT_KERNEL_LIMITS, f16: false, subgroups: false, maxBufferSize: 2 ** 32, kernelOptions }).dispatches.map((d) => d.label);
  };

  it('plans one implicit-GEMM dispatch by default and im2col + GEMM with implicitGemm: false', function () {
    expect(labels()).to.deep.equal(['Conv.gemm3w1s8x8']);
    expect(labels({ implicitGemm: true })).to.deep.equal(['Conv.gemm3w1s8x8']);
    expect(labels({ implicitGemm: false })).to.deep.equal(['Conv.im2col', 'Conv.im2col-gemm.nn6x4']);
  });
});

/** A constant float16 weight. */
const wc16 = (b: GraphBuilder, shape: number[], seed: number): Sym => b.constant(randomTensor('float16', shape, seed, -1, 1));

// float16 activations and weights: the implicit GEMM reads X as f16 (scalar loads)
// and accumulates in f32; the CPU reference rounds to half after each op, hence the
// looser tolerance.
heavySuite('webgpu Conv implicit GEMM, float16 vs CPU reference', {
  '3x3 pads 1, 8→12 channels, bias, Relu epilogue': (b, f) => b.Relu(b.Conv([f('x', 'float16', [1, 8, 7, 10]), wc16(b, [12, 8, 3, 3], 21), wc16(b, [12], 22)], { pads: [1, 1, 1, 1] })),
}, 2e-2);

describe('webgpu window shaders: bounds checks without short-circuit operators (no device)', function () {
  /**
   * WGSL's `&&` and `||` are control flow; SwiftShader (Chromium's WebGPU without a GPU)
   * took 268 s to compile one depthwise conv whose window loops held chains of them
   * (shaders/conv.ts), so window kernels join their bounds checks with `&` and `|`.
   */
  const CASES: Record<string, Build> = {
    'direct, grouped, depthwise, 1-D and 3-D': (b, f) => [
      b.Conv([f('a', 'float32', [1, 4, 7, 7]), f('wa', 'float32', [6, 2, 3, 3])], { group: 2, pads: [1, 1, 1, 1] }),
      b.Conv([f('d', 'float32', [1, 8, 9, 9]), wc(b, [8, 1, 3, 3], 1)], { group: 8, pads: [1, 1, 1, 1], strides: [2, 2] }),
      b.Conv([f('e', 'float32', [2, 3, 10]), f('we', 'float32', [4, 3, 3])], { pads: [2, 1] }),
      b.Conv([f('g', 'float32', [1, 2, 4, 5, 3]), f('wg', 'float32', [3, 2, 2, 3, 2])], { pads: [1, 0, 1, 0, 1, 1] }),
    ],
    'implicit GEMM (scalar and vec2 rows)': (b, f) => [
      b.Conv([f('x', 'float32', [1, 3, 9, 9]), wc(b, [6, 3, 3, 3], 2)], { pads: [1, 1, 1, 1] }),
      b.Conv([f('y', 'float32', [1, 8, 10, 16]), wc(b, [12, 8, 3, 3], 3)], { pads: [1, 1, 1, 1] }),
    ],
    'ConvTranspose': (b, f) => b.ConvTranspose([f('x', 'float32', [1, 3, 4, 5]), f('w', 'float32', [3, 2, 3, 3])], { strides: [2, 2], pads: [1, 1, 1, 1] }),
    'MaxPool (with Indices), AveragePool': (b, f) => {
      const x = f('x', 'float32', [1, 3, 8, 8]);
      const mp = b.apply('MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }, { outputs: 2 });
      return [...(Array.isArray(mp) ? mp : [mp]), b.AveragePool([x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })];
    },
  };
  const shaders = (name: string, kernelOptions?: KernelOptions): readonly { label: string; shader: string }[] => {
    registerAllKernels();
    const { graph } = buildCase(name, CASES[name]!, 1);
    const types = new Map(graph.inputs.map((i) => [i.name, { dtype: i.dtype, shape: i.shape }]));
    return planGraph(graph, types, { limits: DEFAULT_KERNEL_LIMITS, f16: false, subgroups: false, maxBufferSize: 2 ** 32, kernelOptions }).dispatches;
  };
  for (const name of Object.keys(CASES)) {
    it(`${name}: no && or || in the WGSL`, function () {
      // The variants too: im2col + GEMM, and ConvTranspose's direct gather.
      const ds = [...shaders(name), ...shaders(name, { implicitGemm: false, convTransposeGemm: false })];
      for (const d of ds) expect(d.shader, d.label).not.to.match(/&&|\|\|/);
      console.log(`      ${[...new Set(ds.map((d) => d.label))].join(', ')}`);
    });
  }
});
