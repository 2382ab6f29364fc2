/** WebGPU reductions, softmax family and normalizations against the CPU reference. */
import { heavySuite, i64 } from './webgpu-kernel-cases.js';

heavySuite('webgpu Reduce/Softmax/Norm kernels vs CPU reference', {
  'ReduceSum/Mean/Max/Min over several axis sets, keepdims 0/1': (b, f) => {
    const x = f('x', 'float32', [3, 4, 5, 2]);
    return [
      b.ReduceSum([x, i64(b, [1])]),
      b.ReduceMean([x, i64(b, [0, 2])], { keepdims: 0 }),
      b.ReduceMax([x, i64(b, [1, 2, 3])]),
      b.ReduceMin([x, i64(b, [-1])], { keepdims: 0 }),
      b.ReduceSum(x, { keepdims: 0 }),
    ];
  },
  'ReduceProd/L1/L2/LogSum/LogSumExp/SumSquare (attribute axes, opset 13 style)': (b, f) => {
    const x = f('x', 'float32', [2, 3, 4], 0.5, 1.5);
    const y = f('y', 'float32', [2, 3, 4], -20, 20);
    return [
      b.apply('ReduceProd', [x], { axes: [2] })[0]!,
      b.apply('ReduceL1', [y], { axes: [0, 1] })[0]!,
      b.apply('ReduceL2', [y], { axes: [1] })[0]!,
      b.apply('ReduceLogSum', [x], { axes: [0, 2], keepdims: 0 })[0]!,
      b.apply('ReduceLogSumExp', [y], { axes: [2] })[0]!,
      b.apply('ReduceSumSquare', [y], { axes: [0] })[0]!,
    ];
  },
  'ReduceSum int32, ReduceMax int64, empty axes noop': (b, f) => {
    const x = f('x', 'int32', [4, 6], -50, 50);
    return [b.ReduceSum([x, i64(b, [1])]), b.ReduceMax([f('z', 'int64', [3, 5], -9, 9), i64(b, [0])]), b.ReduceSum([x, i64(b, [], [0])], { noop_with_empty_axes: 1 })];
  },
  'ReduceSum over a 0-sized axis, ReduceMax of size-1 axes': (b, f) => [b.ReduceSum([f('x', 'float32', [3, 0, 2]), i64(b, [1])]), b.ReduceMax([f('y', 'float32', [1, 5, 1]), i64(b, [0, 2])], { keepdims: 0 })],
  'ArgMax/ArgMin (keepdims, select_last_index, ties)': (b, f) => {
    const x = f('x', 'int32', [4, 7, 3], 0, 3);
    return [b.ArgMax(x, { axis: 1 }), b.ArgMin(x, { axis: -1, keepdims: 0 }), b.ArgMax(x, { axis: 1, select_last_index: 1 }), b.ArgMax(f('y', 'float32', [5, 9]), { axis: 1 })];
  },
  'Softmax/LogSoftmax/Hardmax last and middle axis': (b, f) => {
    const x = f('x', 'float32', [3, 5, 7], -10, 10);
    return [b.Softmax(x), b.LogSoftmax(x, { axis: 1 }), b.Hardmax(x, { axis: -1 }), b.Softmax(x, { axis: 0 })];
  },
  'Softmax row with -inf entries and an all -inf row': (b, f) => {
    const mask = b.constant([0, -Infinity, 0, -Infinity, -Infinity, -Infinity, 0, 0, 0], { shape: [3, 3] });
    return b.Softmax(b.Add([f('x', 'float32', [3, 3]), mask]));
  },
  'LayerNormalization with Mean/InvStdDev outputs, axis -1 and -2': (b, f) => {
    const x = f('x', 'float32', [2, 3, 10]);
    const [y, m, s] = b.apply('LayerNormalization', [x, f('s', 'float32', [10]), f('bb', 'float32', [10])], { epsilon: 1e-5 }, { outputs: 3 });
    const z = b.apply('LayerNormalization', [x, f('s2', 'float32', [1, 10])], { axis: -2 })[0]!;
    return [y!, m!, s!, z];
  },
  'BatchNormalization, InstanceNormalization, GroupNormalization (per-group and per-channel)': (b, f) => {
    const x = f('x', 'float32', [2, 4, 3, 3]);
    const pc = (n: string, lo = -1, hi = 1) => f(n, 'float32', [4], lo, hi);
    return [
      b.BatchNormalization([x, pc('s'), pc('b'), pc('m'), pc('v', 0.1, 2)]),
      b.InstanceNormalization([x, pc('s2'), pc('b2')]),
      b.apply('GroupNormalization', [x, f('gs', 'float32', [2]), f('gb', 'float32', [2])], { num_groups: 2 })[0]!,
      b.apply('GroupNormalization', [x, pc('cs'), pc('cb')], { num_groups: 2 })[0]!,
    ];
  },
  'LRN, MeanVarianceNormalization, LpNormalization p=1/2': (b, f) => {
    const x = f('x', 'float32', [2, 5, 3, 4]);
    return [b.LRN(x, { size: 3, alpha: 0.01, beta: 0.75, bias: 1.5 }), b.MeanVarianceNormalization(x), b.LpNormalization(x, { axis: 1, p: 1 }), b.LpNormalization(x, { axis: -1, p: 2 })];
  },
});
