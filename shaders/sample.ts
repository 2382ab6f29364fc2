/**
 * WGSL helpers of GridSample (kernels/sample.ts), following the CPU reference in
 * src/graph/ops/sample.ts: reflection of a coordinate into [lo, hi] and the
 * bicubic (A = -0.75) weights.
 */

/** `ks_reflect(x, lo, hi)`: reflects x into [lo, hi] as the reference's reflect(). */
export const REFLECT = `fn ks_reflect(x: f32, lo: f32, hi: f32) -> f32 {
  if (x >= lo && x <= hi) { return x; }
  let rng = hi - lo;
  if (rng <= 0.0) { return lo; }
  if (x < lo) {
    let dx = lo - x; let n = floor(dx / rng); let r = dx - n * rng;
    return select(hi - r, lo + r, n % 2.0 == 0.0);
  }
  let dx = x - hi; let n = floor(dx / rng); let r = dx - n * rng;
  return select(lo + r, hi - r, n % 2.0 == 0.0);
}`;

/** `ks_cubic(t)`: the four bicubic weights for fractional offset t. */
export const CUBIC = `fn ks_cubic(t: f32) -> vec4f {
  let A = -0.75;
  let w0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
  let w1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
  let w2 = ((A + 2.0) * (1.0 - t) - (A + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
  return vec4f(w0, w1, w2, 1.0 - w0 - w1 - w2);
}`;
