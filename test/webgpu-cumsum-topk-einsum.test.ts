/** WebGPU CumSum, TopK and Einsum kernels against the CPU reference. */
import { heavySuite, i64 } from './webgpu-kernel-cases.js';

heavySuite('webgpu CumSum/TopK/Einsum kernels vs CPU reference', {
  'CumSum axis 1 plain, exclusive, reverse, both': (b, f) => {
    const x = f('x', 'float32', [3, 6, 2]);
    const ax = i64(b, [1], []);
    return [b.CumSum([x, ax]), b.CumSum([x, ax], { exclusive: 1 }), b.CumSum([x, ax], { reverse: 1 }), b.CumSum([x, ax], { exclusive: 1, reverse: 1 })];
  },
  'CumSum int32 axis -1': (b, f) => b.CumSum([f('x', 'int32', [4, 9], -20, 20), i64(b, [-1], [])]),
  'TopK largest/smallest with ties, axis 1 and -1': (b, f) => {
    const x = f('x', 'int32', [3, 8, 2], 0, 4);
    const y = f('y', 'float32', [5, 11]);
    return [
      ...b.apply('TopK', [x, i64(b, [3])], { axis: 1 }, { outputs: 2 }),
      ...b.apply('TopK', [y, i64(b, [4])], { largest: 0 }, { outputs: 2 }),
      ...b.apply('TopK', [y, i64(b, [0])], {}, { outputs: 2 }),
    ];
  },
  'Einsum batched matmul, transpose, reduce, trace, outer, ellipsis': (b, f) => {
    const a = f('a', 'float32', [2, 3, 4]);
    const c = f('c', 'float32', [2, 4, 5]);
    const sq = f('sq', 'float32', [4, 4]);
    return [
      b.Einsum([a, c], { equation: 'bij,bjk->bik' }),
      b.Einsum([a], { equation: 'bij->bji' }),
      b.Einsum([a], { equation: 'bij->j' }),
      b.Einsum([sq], { equation: 'ii' }),
      b.Einsum([f('u', 'float32', [3]), f('v', 'float32', [5])], { equation: 'i,j->ij' }),
      b.Einsum([a, f('w', 'float32', [4])], { equation: '...j,j->...' }),
    ];
  },
});
