/// <reference types="@webgpu/types" />
/**
 * WebGPU kernels of the newest op families (quantization, windows and Det,
 * RNN/GRU/LSTM, GridSample, MaxUnpool) against the CPU reference on seeded random
 * and hand-picked inputs. Quantized outputs must match exactly; float outputs
 * within 1e-4 relative (to max(1, |expected|)).
 */
import { GraphBuilder, type Tensor } from '../src/graph/index.js';
import type { Sym } from '../src/graph/builder.js';
import type { DType } from '../src/graph/dtype.js';
import { Tensor as T } from '../src/graph/tensor.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { compareWithCpu, randomTensor } from './helpers/gpu-compare.js';

type Feed = (name: string, t: Tensor) => Sym;
type Build = (b: GraphBuilder, feed: Feed) => Sym[];

const c = (b: GraphBuilder, dtype: DType, shape: number[], v: number[]): Sym => b.constant(T.from(dtype, shape, v));
const rnd = (dtype: DType, shape: number[], seed: number, lo = -2, hi = 2): Tensor => randomTensor(dtype, shape, seed, lo, hi);
/** Every multiple of half a step in [-n/2, n/2] · scale: the .5 rounding boundaries of QuantizeLinear. */
const halves = (n: number, scale: number): Tensor => T.from('float32', [n + 1], Array.from({ length: n + 1 }, (_, k) => Math.fround((k - n / 2) * 0.5 * scale)));

function suite(title: string, tol: number, cases: Record<string, Build>): void {
  describe(title, function () {
    this.timeout(60000);
    let device: GPUDevice;
    before(async function () {
      device = await deviceOrSkip(this);
    });
    for (const [name, build] of Object.entries(cases)) {
      it(name, async function () {
        const b = new GraphBuilder(name.replace(/\W+/g, '_'));
        const feeds: Record<string, Tensor> = {};
        const feed: Feed = (n, t) => {
          feeds[n] = t;
          return b.input(n, t.dtype, [...t.shape]);
        };
        build(b, feed).forEach((s, j) => b.output(s, `y${j}`));
        await compareWithCpu(device, b.build(), feeds, tol);
      });
    }
  });
}

suite('webgpu quantization kernels vs CPU reference (exact)', 1e-7, {
  'QuantizeLinear uint8 per-tensor at every .5 boundary (half to even)': (b, f) => b.apply('QuantizeLinear', [f('x', halves(1200, 0.37)), c(b, 'float32', [], [0.37]), c(b, 'uint8', [], [128])]),
  'QuantizeLinear int8 per-axis (axis 1), saturating': (b, f) =>
    b.apply('QuantizeLinear', [f('x', rnd('float32', [2, 3, 5], 11, -30, 30)), c(b, 'float32', [3], [0.1, 0.25, 0.07]), c(b, 'int8', [3], [-3, 0, 9])], { axis: 1 }),
  'QuantizeLinear without zero point (uint8), scale from a feed': (b, f) => b.apply('QuantizeLinear', [f('x', rnd('float32', [37], 12, -1, 3)), f('s', T.from('float32', [], [0.013]))]),
  'DequantizeLinear uint8 per-tensor, int8 per-axis, int32 without zero point': (b, f) => [
    ...b.apply('DequantizeLinear', [f('q', rnd('uint8', [4, 6], 13, 0, 255)), c(b, 'float32', [], [0.05]), c(b, 'uint8', [], [17])]),
    ...b.apply('DequantizeLinear', [f('r', rnd('int8', [2, 4, 3], 14, -128, 127)), c(b, 'float32', [4], [0.5, 0.1, 2, 0.03]), c(b, 'int8', [4], [1, -2, 0, 5])], { axis: 1 }),
    ...b.apply('DequantizeLinear', [f('z', rnd('int32', [9], 15, -100000, 100000)), c(b, 'float32', [], [0.001])]),
  ],
  'DynamicQuantizeLinear: range with 0, scale, zero point, values': (b, f) => b.apply('DynamicQuantizeLinear', [f('x', rnd('float32', [3, 700], 16, -1.5, 4))]),
  'DynamicQuantizeLinear all positive and all zero inputs': (b, f) => [
    ...b.apply('DynamicQuantizeLinear', [f('x', rnd('float32', [5, 7], 17, 0.5, 2))]),
    ...b.apply('DynamicQuantizeLinear', [f('z', T.from('float32', [4], [0, 0, 0, 0]))]),
  ],
  'QLinearMatMul 2-D uint8 (per-tensor)': (b, f) =>
    b.apply('QLinearMatMul', [f('a', rnd('uint8', [5, 7], 18, 0, 255)), c(b, 'float32', [], [0.02]), c(b, 'uint8', [], [113]), f('b', rnd('uint8', [7, 6], 19, 0, 255)), c(b, 'float32', [], [0.03]), c(b, 'uint8', [], [114]), c(b, 'float32', [], [0.11]), c(b, 'uint8', [], [118])]),
  'QLinearMatMul batched int8 with per-column b scales': (b, f) =>
    b.apply('QLinearMatMul', [f('a', rnd('int8', [2, 3, 4], 20, -128, 127)), c(b, 'float32', [], [0.01]), c(b, 'int8', [], [2]), f('b', rnd('int8', [4, 5], 21, -128, 127)), c(b, 'float32', [5], [0.01, 0.02, 0.03, 0.015, 0.005]), c(b, 'int8', [5], [0, 1, -1, 3, 0]), c(b, 'float32', [], [0.05]), c(b, 'int8', [], [-4])]),
  'QLinearConv 2-D pads, strides, per-channel w scales, bias': (b, f) =>
    b.apply('QLinearConv', [
      f('x', rnd('uint8', [1, 3, 7, 6], 22, 0, 255)), c(b, 'float32', [], [0.01]), c(b, 'uint8', [], [120]),
      f('w', rnd('uint8', [4, 3, 3, 3], 23, 0, 255)), c(b, 'float32', [4], [0.004, 0.002, 0.003, 0.001]), c(b, 'uint8', [4], [128, 127, 129, 130]),
      c(b, 'float32', [], [0.05]), c(b, 'uint8', [], [128]), c(b, 'int32', [4], [100, -200, 0, 3000]),
    ], { pads: [1, 0, 1, 2], strides: [2, 1] }),
  'QLinearConv groups 2, int8, no bias': (b, f) =>
    b.apply('QLinearConv', [
      f('x', rnd('int8', [2, 4, 5, 5], 24, -128, 127)), c(b, 'float32', [], [0.02]), c(b, 'int8', [], [0]),
      f('w', rnd('int8', [6, 2, 2, 2], 25, -128, 127)), c(b, 'float32', [], [0.01]), c(b, 'int8', [], [0]),
      c(b, 'float32', [], [0.4]), c(b, 'int8', [], [3]),
    ], { group: 2 }),
  'edge shapes: size 0 and size 1 (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear)': (b, f) => [
    ...b.apply('QuantizeLinear', [f('e', T.from('float32', [0, 4], [])), c(b, 'float32', [], [0.1]), c(b, 'int8', [], [1])]),
    ...b.apply('DequantizeLinear', [f('o', T.from('uint8', [1], [200])), c(b, 'float32', [], [0.1]), c(b, 'uint8', [], [1])]),
    ...b.apply('DynamicQuantizeLinear', [f('z', T.from('float32', [0], []))]),
  ],
  'ConvInteger uint8 with zero points (per-channel w), pads; int8 without zero points': (b, f) => [
    ...b.apply('ConvInteger', [f('x', rnd('uint8', [1, 2, 5, 4], 26, 0, 255)), f('w', rnd('uint8', [3, 2, 2, 3], 27, 0, 255)), c(b, 'uint8', [], [100]), c(b, 'uint8', [3], [120, 128, 131])], { pads: [1, 1, 0, 1] }),
    ...b.apply('ConvInteger', [f('q', rnd('int8', [2, 2, 6], 28, -128, 127)), f('v', rnd('int8', [4, 2, 3], 29, -128, 127))], { strides: [2] }),
  ],
});

suite('webgpu window and Det kernels vs CPU reference', 1e-4, {
  'Hann/Hamming/Blackman windows, periodic and symmetric, size from a feed': (b, f) => {
    const n = f('n', T.from('int64', [], [17]));
    return [
      ...b.apply('HannWindow', [n]),
      ...b.apply('HammingWindow', [n], { periodic: 0 }),
      ...b.apply('BlackmanWindow', [n]),
      ...b.apply('BlackmanWindow', [n], { periodic: 0 }),
    ];
  },
  'Det of a batch of 3x3 and one 5x5, singular and permuted matrices': (b, f) => [
    ...b.apply('Det', [f('a', rnd('float32', [2, 3, 3, 3], 26))]),
    ...b.apply('Det', [f('m', rnd('float32', [5, 5], 27))]),
    ...b.apply('Det', [f('s', T.from('float32', [2, 2, 2], [1, 2, 2, 4, 0, 1, 1, 0]))]),
  ],
});

const w = (dirs: number, gates: number, hid: number, k: number, seed: number): Tensor => rnd('float32', [dirs, gates * hid, k], seed, -0.6, 0.6);

suite('webgpu RNN/GRU/LSTM kernels vs CPU reference', 1e-4, {
  'RNN forward, bias, initial_h, seq 5': (b, f) =>
    b.apply('RNN', [f('x', rnd('float32', [5, 2, 3], 30)), f('w', w(1, 1, 4, 3, 31)), f('r', w(1, 1, 4, 4, 32)), f('b', rnd('float32', [1, 8], 33, -0.5, 0.5)), undefined, f('h', rnd('float32', [1, 2, 4], 34))], { hidden_size: 4 }),
  'RNN bidirectional Relu/Tanh, sequence_lens, layout 1': (b, f) =>
    b.apply('RNN', [f('x', rnd('float32', [3, 4, 2], 35)), f('w', w(2, 1, 5, 2, 36)), f('r', w(2, 1, 5, 5, 37)), undefined, f('l', T.from('int32', [3], [4, 2, 0]))], { hidden_size: 5, direction: 'bidirectional', activations: ['Relu', 'Tanh'], layout: 1 }),
  'GRU forward default, clip': (b, f) =>
    b.apply('GRU', [f('x', rnd('float32', [4, 3, 3], 38)), f('w', w(1, 3, 6, 3, 39)), f('r', w(1, 3, 6, 6, 40)), f('b', rnd('float32', [1, 36], 41, -0.5, 0.5))], { hidden_size: 6, clip: 0.8 }),
  'GRU reverse, linear_before_reset, initial_h': (b, f) =>
    b.apply('GRU', [f('x', rnd('float32', [5, 2, 4], 42)), f('w', w(1, 3, 3, 4, 43)), f('r', w(1, 3, 3, 3, 44)), f('b', rnd('float32', [1, 18], 45, -0.5, 0.5)), undefined, f('h', rnd('float32', [1, 2, 3], 46))], { hidden_size: 3, direction: 'reverse', linear_before_reset: 1 }),
  'GRU bidirectional with sequence_lens and 300 hidden units (units loop past 256 invocations)': (b, f) =>
    b.apply('GRU', [f('x', rnd('float32', [3, 2, 2], 47)), f('w', w(2, 3, 300, 2, 48)), f('r', rnd('float32', [2, 900, 300], 49, -0.05, 0.05)), undefined, f('l', T.from('int32', [2], [3, 1]))], { hidden_size: 300, direction: 'bidirectional' }),
  'LSTM forward, bias, initial h/c, peepholes': (b, f) =>
    b.apply('LSTM', [f('x', rnd('float32', [4, 2, 3], 50)), f('w', w(1, 4, 5, 3, 51)), f('r', w(1, 4, 5, 5, 52)), f('b', rnd('float32', [1, 40], 53, -0.5, 0.5)), undefined, f('h', rnd('float32', [1, 2, 5], 54)), f('c', rnd('float32', [1, 2, 5], 55)), f('p', rnd('float32', [1, 15], 56, -0.5, 0.5))], { hidden_size: 5 }),
  'LSTM bidirectional, input_forget, HardSigmoid/Tanh/Tanh with params, layout 1': (b, f) =>
    b.apply('LSTM', [f('x', rnd('float32', [2, 3, 4], 57)), f('w', w(2, 4, 3, 4, 58)), f('r', w(2, 4, 3, 3, 59))], {
      hidden_size: 3, direction: 'bidirectional', input_forget: 1, layout: 1,
      activations: ['HardSigmoid', 'Tanh', 'Tanh', 'Sigmoid', 'ScaledTanh', 'Tanh'], activation_alpha: [0.3, 0.9], activation_beta: [0.4, 1.1],
    }),
  'LSTM with only Y (no Y_h / Y_c outputs) and RNN with only Y_h': (b, f) => [
    ...b.apply('LSTM', [f('x', rnd('float32', [3, 1, 2], 67)), f('w', w(1, 4, 4, 2, 68)), f('r', w(1, 4, 4, 4, 69))], { hidden_size: 4 }, { outputs: 1 }),
    b.apply('RNN', [f('z', rnd('float32', [3, 2, 2], 70)), f('v', w(1, 1, 3, 2, 71)), f('u', w(1, 1, 3, 3, 72))], { hidden_size: 3 })[1]!,
  ],
});

const grid = (shape: number[], seed: number): Tensor => rnd('float32', shape, seed, -1.3, 1.3);

suite('webgpu GridSample and MaxUnpool kernels vs CPU reference', 1e-4, {
  'GridSample bilinear zeros, align_corners 0 and 1': (b, f) => {
    const x = f('x', rnd('float32', [2, 3, 5, 6], 60));
    const g = f('g', grid([2, 4, 7, 2], 61));
    return [...b.apply('GridSample', [x, g]), ...b.apply('GridSample', [x, g], { align_corners: 1 })];
  },
  'GridSample nearest border / reflection': (b, f) => {
    const x = f('x', rnd('float32', [1, 2, 4, 5], 62));
    const g = f('g', grid([1, 6, 3, 2], 63));
    return [...b.apply('GridSample', [x, g], { mode: 'nearest', padding_mode: 'border' }), ...b.apply('GridSample', [x, g], { mode: 'nearest', padding_mode: 'reflection', align_corners: 1 })];
  },
  'GridSample bicubic zeros / border / reflection': (b, f) => {
    const x = f('x', rnd('float32', [1, 2, 6, 5], 64));
    const g = f('g', grid([1, 3, 4, 2], 65));
    return [
      ...b.apply('GridSample', [x, g], { mode: 'bicubic' }),
      ...b.apply('GridSample', [x, g], { mode: 'bicubic', padding_mode: 'border' }),
      ...b.apply('GridSample', [x, g], { mode: 'bicubic', padding_mode: 'reflection' }),
      ...b.apply('GridSample', [x, g], { mode: 'bilinear', padding_mode: 'reflection' }),
    ];
  },
  'MaxUnpool of MaxPool indices, default and larger output_shape': (b, f) => {
    const x = f('x', rnd('float32', [1, 2, 6, 4], 66));
    const [p, i] = b.apply('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] }, { outputs: 2 }) as [Sym, Sym];
    return [...b.apply('MaxUnpool', [p, i], { kernel_shape: [2, 2], strides: [2, 2] }), ...b.apply('MaxUnpool', [p, i, c(b, 'int64', [4], [1, 2, 7, 5])], { kernel_shape: [2, 2], strides: [2, 2] })];
  },
});
