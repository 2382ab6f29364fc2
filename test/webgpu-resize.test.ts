/** WebGPU Resize / Upsample against the CPU reference (nearest modes, linear, cubic, crop-and-resize, sizes, axes). */
import type { GraphBuilder } from '../src/graph/index.js';
import type { Sym } from '../src/graph/builder.js';
import { heavySuite, i64 } from './webgpu-kernel-cases.js';

const none = (b: GraphBuilder): Sym => b.constant([], { dtype: 'float32', shape: [0] });
const sc = (b: GraphBuilder, v: number[]): Sym => b.constant(v, { dtype: 'float32' });

heavySuite('webgpu Resize kernels vs CPU reference', {
  'nearest: round_prefer_floor/ceil, floor, ceil (scales 2, 1.7)': (b, f) => {
    const x = f('x', 'float32', [1, 2, 3, 4]);
    const s = sc(b, [1, 1, 2, 1.7]);
    return (['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] as const).map((m) => b.Resize([x, none(b), s], { mode: 'nearest', nearest_mode: m }));
  },
  'linear half_pixel, align_corners, asymmetric, pytorch_half_pixel (downscale)': (b, f) => {
    const x = f('x', 'float32', [1, 1, 5, 6]);
    const s = sc(b, [1, 1, 0.6, 1.5]);
    return (['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel', 'half_pixel_symmetric'] as const).map((c) =>
      b.Resize([x, none(b), s], { mode: 'linear', coordinate_transformation_mode: c }));
  },
  'cubic with exclude_outside, sizes input': (b, f) => {
    const x = f('x', 'float32', [1, 2, 4, 4]);
    return [
      b.Resize([x, none(b), none(b), i64(b, [1, 2, 7, 5])], { mode: 'cubic' }),
      b.Resize([x, none(b), none(b), i64(b, [1, 2, 6, 9])], { mode: 'cubic', exclude_outside: 1, cubic_coeff_a: -0.5 }),
    ];
  },
  'tf_crop_and_resize with extrapolation, axes + keep_aspect_ratio_policy': (b, f) => {
    const x = f('x', 'float32', [1, 1, 4, 5]);
    return [
      b.Resize([x, sc(b, [0, 0, -0.2, 0.1, 1, 1, 0.8, 1.3]), sc(b, [1, 1, 1.5, 1.2])], { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: 9 }),
      b.Resize([x, none(b), none(b), i64(b, [6, 6])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' }),
    ];
  },
  'Upsample nearest and linear (scales attribute / input), int32 linear rounds': (b, f) => {
    const x = f('x', 'float32', [1, 2, 3, 3]);
    return [
      b.apply('Upsample', [x], { mode: 'nearest', scales: [1, 1, 2, 3] })[0]!,
      b.apply('Upsample', [x, sc(b, [1, 1, 1.5, 2])], { mode: 'linear' })[0]!,
      b.Resize([f('z', 'int32', [1, 1, 3, 3], -9, 9), none(b), sc(b, [1, 1, 2, 2])], { mode: 'linear' }),
    ];
  },
});
