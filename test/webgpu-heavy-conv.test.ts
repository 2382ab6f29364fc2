/** WebGPU Conv / ConvTranspose kernels against the CPU reference (pads, strides, dilations, groups, depthwise, 1-D/3-D). */
import { heavySuite } from './webgpu-heavy-cases.js';

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
