/** WebGPU MatMul / Gemm / MatMulInteger kernels against the CPU reference (odd, empty and broadcast shapes). */
import { heavySuite, type Build } from './webgpu-kernel-cases.js';

const mm = (a: number[], bShape: number[]): Build => (b, f) => b.MatMul([f('a', 'float32', a), f('b', 'float32', bShape)]);

heavySuite('webgpu MatMul/Gemm kernels vs CPU reference', {
  'MatMul 3x5x7 (scalar form)': mm([3, 5], [5, 7]),
  'MatMul 1x1x1': mm([1, 1], [1, 1]),
  'MatMul 0-sized M and K': (b, f) => [b.MatMul([f('a', 'float32', [0, 4]), f('b', 'float32', [4, 3])]), b.MatMul([f('c', 'float32', [2, 0]), f('d', 'float32', [0, 3])])],
  'MatMul 37x64x72 (nn vec4 form, ragged rows)': mm([37, 64], [64, 72]),
  'MatMul 1-D x 2-D and 2-D x 1-D': (b, f) => [b.MatMul([f('v', 'float32', [8]), f('m', 'float32', [8, 5])]), b.MatMul([f('n', 'float32', [6, 8]), f('w', 'float32', [8])])],
  'MatMul batched broadcast [2,1,5,8]x[3,8,12]': mm([2, 1, 5, 8], [3, 8, 12]),
  'MatMul batched [4,9,16]x[16,20]': mm([4, 9, 16], [16, 20]),
  'MatMul int32': (b, f) => b.MatMul([f('a', 'int32', [3, 6], -5, 5), f('b', 'int32', [2, 6, 5], -5, 5)]),
  'Gemm alpha/beta, C row broadcast': (b, f) => b.Gemm([f('a', 'float32', [7, 12]), f('b', 'float32', [12, 9]), f('c', 'float32', [9])], { alpha: 0.5, beta: 2 }),
  'Gemm transA transB, C column broadcast': (b, f) => b.Gemm([f('a', 'float32', [12, 7]), f('b', 'float32', [9, 12]), f('c', 'float32', [7, 1])], { transA: 1, transB: 1 }),
  'Gemm transB (nt vec2 form), scalar C, no C': (b, f) => {
    const a = f('a', 'float32', [10, 16]);
    const w = f('w', 'float32', [13, 16]);
    return [b.Gemm([a, w, f('c', 'float32', [1])], { transB: 1, beta: -1 }), b.Gemm([a, w], { transB: 1 })];
  },
  'Gemm x·xᵀ (one binding read as A and Bᵀ by the nt form)': (b, f) => {
    const x = f('x', 'float32', [9, 14]);
    return b.Gemm([x, x], { transB: 1 });
  },
  'MatMulInteger uint8 with per-row/per-column zero points': (b, f) =>
    b.MatMulInteger([f('a', 'uint8', [5, 7], 0, 255), f('b', 'uint8', [7, 6], 0, 255), f('za', 'uint8', [5], 0, 255), f('zb', 'uint8', [6], 0, 255)]),
  'MatMulInteger int8 scalar zero point': (b, f) => b.MatMulInteger([f('a', 'int8', [2, 3, 9], -128, 127), f('b', 'int8', [9, 4], -128, 127), f('za', 'int8', [], -3, 3)]),
});
