/**
 * WGSL helper functions behind the scalar function spellings
 * (src/backends/webgpu/scalar-wgsl.ts). Each is emitted once per shader that uses it.
 * NaN tests use the bits (`x != x` is folded away by some drivers), and NaN results
 * come from a private variable (a NaN constant is a WGSL compile error).
 */

/** Rational approximation of erf on [-4, 4] (Eigen's generic_fast_erf_float), ±1 beyond, as WGSL function `name`. */
export function erfHelper(name: string): string {
  return `fn ${name}(x0: f32) -> f32 {
  let x = clamp(x0, -4.0, 4.0);
  let x2 = x * x;
  var p = -2.72614225801306e-10;
  p = fma(x2, p, 2.77068142495902e-08);
  p = fma(x2, p, -2.10102402082508e-06);
  p = fma(x2, p, -5.69250639462346e-05);
  p = fma(x2, p, -7.34990630326855e-04);
  p = fma(x2, p, -2.95459980854025e-03);
  p = fma(x2, p, -1.60960333262415e-02);
  p = x * p;
  var q = -1.45660718464996e-05;
  q = fma(x2, q, -2.13374055278905e-04);
  q = fma(x2, q, -1.68282697438203e-03);
  q = fma(x2, q, -7.37332916720468e-03);
  q = fma(x2, q, -1.42647390514189e-02);
  return select(p / q, x0, (bitcast<u32>(x0) & 0x7fffffffu) > 0x7f800000u);
}`;
}

/** The helpers, by the scalar function that needs them. */
export const SCALAR_HELPERS = {
  isnan: 'fn kiln_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
  /** asin/acos through atan2 (some drivers' asin/acos are off by 1e-4). */
  asin: 'fn kiln_asin(x: f32) -> f32 { return atan2(x, sqrt((1.0 - x) * (1.0 + x))); }',
  acos: 'fn kiln_acos(x: f32) -> f32 { return atan2(sqrt((1.0 - x) * (1.0 + x)), x); }',
  isinf: 'fn kiln_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }',
  erf: erfHelper('kiln_erf'),
  /** x^y for floats: integer exponents of negative bases (and −0) get the right sign; NaN for other negative bases; 0^−y = ∞. */
  powf: `var<private> kiln_powf_bits: vec2u = vec2u(0x7fc00000u, 0x7f800000u);
fn kiln_powf(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0) { return 1.0; }
  var r: f32;
  if (x == 0.0) { r = select(0.0, bitcast<f32>(kiln_powf_bits.y), y < 0.0); } else { r = pow(abs(x), y); }
  if ((bitcast<u32>(x) >> 31u) == 0u) { return r; }
  if (floor(y) != y) { return select(bitcast<f32>(kiln_powf_bits.x), r, x == 0.0); }
  return select(r, -r, abs(y) % 2.0 == 1.0);
}`,
  /** x^y for integers by squaring; negative exponents give 0 except for bases ±1. */
  powi: `fn kiln_powi(x: i32, y: i32) -> i32 {
  if (y < 0) { if (x == 1) { return 1; } if (x == -1) { return select(-1, 1, (y & 1) == 0); } return 0; }
  var r = 1; var b = x; var e = y;
  loop { if (e == 0) { break; } if ((e & 1) == 1) { r = r * b; } b = b * b; e = e >> 1u; }
  return r;
}`,
  /** Float remainder with the sign of the divisor. */
  modf: `fn kiln_modf(a: f32, b: f32) -> f32 {
  let r = a % b;
  return select(r, r + b, r != 0.0 && ((r < 0.0) != (b < 0.0)));
}`,
  /** Integer remainder with the sign of the divisor (0 for b = 0). */
  modi: `fn kiln_modi(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let r = a % b;
  return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}`,
  /** Truncating integer division (0 for b = 0). */
  divi: `fn kiln_divi(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (a == -2147483647 - 1 && b == -1) { return a; }
  return a / b;
}`,
} as const;
