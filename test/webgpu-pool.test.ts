/** WebGPU pooling kernels against the CPU reference (pads, strides, dilations, ceil_mode, indices, global pools). */
import { heavySuite } from './webgpu-kernel-cases.js';

heavySuite('webgpu Pool kernels vs CPU reference', {
  'MaxPool 3x3 stride 2 pads 1 with Indices': (b, f) => b.apply('MaxPool', [f('x', 'float32', [2, 3, 7, 8])], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { outputs: 2 }),
  'MaxPool ceil_mode, dilations, storage_order 1': (b, f) =>
    b.apply('MaxPool', [f('x', 'float32', [1, 2, 9, 7])], { kernel_shape: [2, 3], strides: [2, 2], dilations: [2, 1], ceil_mode: 1, storage_order: 1 }, { outputs: 2 }),
  'MaxPool 1-D SAME_UPPER and 3-D': (b, f) => [
    b.MaxPool(f('x', 'float32', [2, 3, 11]), { kernel_shape: [4], strides: [3], auto_pad: 'SAME_UPPER' }),
    b.MaxPool(f('y', 'float32', [1, 2, 4, 5, 6]), { kernel_shape: [2, 2, 3], strides: [1, 2, 2] }),
  ],
  'AveragePool count_include_pad 0/1 with ceil_mode': (b, f) => {
    const x = f('x', 'float32', [1, 3, 6, 7]);
    return [
      b.AveragePool(x, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }),
      b.AveragePool(x, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1, ceil_mode: 1 }),
    ];
  },
  'LpPool p=2 and p=1': (b, f) => {
    const x = f('x', 'float32', [2, 2, 5, 5]);
    return [b.LpPool(x, { kernel_shape: [2, 2], p: 2 }), b.LpPool(x, { kernel_shape: [3, 2], strides: [2, 1], pads: [1, 0, 1, 1], p: 1 })];
  },
  'GlobalAveragePool, GlobalMaxPool, GlobalLpPool': (b, f) => {
    const x = f('x', 'float32', [2, 5, 3, 4]);
    return [b.GlobalAveragePool(x), b.GlobalMaxPool(x), b.apply('GlobalLpPool', [x], { p: 3 })[0]!];
  },
});
