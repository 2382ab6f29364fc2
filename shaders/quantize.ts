/**
 * WGSL helpers of the quantization kernels (kernels/quantize.ts): a division that
 * rounds like the CPU reference's `Math.fround(x / s)` (one fma correction step,
 * so a GPU whose f32 division is not correctly rounded still agrees at the .5
 * boundaries where rounding to an integer would otherwise differ by one), NaN
 * tests that survive fast-math, and saturation to the integer range.
 */

/** `kq_isnan(v)`: true for NaN (bit test; `v != v` may be folded away). */
export const IS_NAN = `fn kq_isnan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }`;

/**
 * `kq_split(a)`: Veltkamp split of an f32 into a high part of 12 bits and the rest
 * (exact products of halves), used by {@link DIV} for an exact residual without
 * relying on a fused fma (lavapipe's fma is not always fused).
 */
export const SPLIT = `fn kq_split(a: f32) -> vec2f { let c = 4097.0 * a; let h = c - (c - a); return vec2f(h, a - h); }`;

/**
 * `kq_div(x, s)`: x / s correctly rounded in the common case: the residual
 * `kq_resid(x, q, s)` = x - q·s is computed exactly (Dekker's product) and corrects q once.
 * Needs {@link IS_NAN} and {@link SPLIT}.
 */
export const DIV = `fn kq_resid(x: f32, q: f32, s: f32) -> f32 {
  let a = kq_split(q); let b = kq_split(s);
  let p = q * s;
  let e = ((a.x * b.x - p) + a.x * b.y + a.y * b.x) + a.y * b.y;
  return (x - p) - e;
}
fn kq_div(x: f32, s: f32) -> f32 {
  let q = x / s;
  if (kq_isnan(q) || (bitcast<u32>(q) & 0x7f800000u) == 0x7f800000u || abs(q) > 1e30 || abs(q) < 1e-30) { return q; }
  return q + kq_resid(x, q, s) / s;
}`;

/**
 * `kq_sat(v, lo, hi)`: round half to even, NaN → 0, clamp to [lo, hi] (as f32).
 * `v` is the already rounded-and-offset value.
 */
export const SATURATE = `fn kq_sat(v: f32, lo: f32, hi: f32) -> f32 { return select(clamp(v, lo, hi), 0.0, kq_isnan(v)); }`;

/** All quantization helpers, in dependency order. */
export const QUANT_HELPERS: readonly string[] = [IS_NAN, SPLIT, DIV, SATURATE];

/** Integer range of a quantized dtype, as WGSL f32 literals `[lo, hi]`. */
export function qRange(dtype: string): [string, string] {
  if (dtype === 'uint8') return ['0.0', '255.0'];
  if (dtype === 'int8') return ['-128.0', '127.0'];
  if (dtype === 'uint16') return ['0.0', '65535.0'];
  if (dtype === 'int16') return ['-32768.0', '32767.0'];
  if (dtype === 'uint4') return ['0.0', '15.0'];
  if (dtype === 'int4') return ['-8.0', '7.0'];
  return ['-2147483648.0', '2147483520.0'];
}
