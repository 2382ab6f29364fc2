/**
 * Numeric helpers behind the scalar function table (scalar-fns.ts): the JS forms that
 * need more than one `Math` call (erf, half-to-even rounding, stable sigmoid/softplus,
 * Python-style mod, 64-bit bitwise ops) and the WGSL helper functions (preludes).
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const INV_SQRT_PI = 0.5641895835477563;

/**
 * erf(x) to double precision (~1e-15). For |x| < 3 the all-positive series
 * erf(x) = 2/√π · e^(-x²) · Σ (2x²)^n x / (1·3·…·(2n+1)) (no cancellation); beyond,
 * the continued fraction erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
 */
export function erfJs(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return x > 0 ? 1 : -1;
  let r: number;
  if (ax < 3) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  } else {
    let t = ax;
    for (let k = 80; k >= 1; k--) t = ax + k / 2 / t;
    r = 1 - (Math.exp(-ax * ax) * INV_SQRT_PI) / t;
  }
  return x < 0 ? -r : r;
}

/** Rounds to the nearest integer, ties to even (numpy.round / ONNX Round). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** 1 / (1 + e^-x), without overflow for large |x|. */
export function sigmoidJs(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + e^x), stable: log1p(e^-|x|) + max(x, 0). */
export function softplusJs(x: number): number {
  return Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0);
}

/** Remainder with the sign of the divisor (Python `%`, numpy.mod); NaN for b = 0. */
export function pyMod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r + 0;
}

type BitOp = (a: bigint, b: bigint) => bigint;
/** A bitwise op on integers up to 64 bits (fast path for 32-bit values). */
export function bitwise(fast: (a: number, b: number) => number, slow: BitOp): (a: number, b: number) => number {
  return (a, b) => ((a | 0) === a && (b | 0) === b ? fast(a, b) : Number(slow(BigInt(a), BigInt(b))));
}

/** Power with an integer result: exact 32-bit wrap-around products for small operands. */
export function intPow(a: number, b: number): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b % 2 === 0 ? 1 : -1) : 0;
  return Math.pow(a, b);
}

/**
 * WGSL helpers. Each is emitted once per shader that uses it. NaN tests use the bits
 * (`x != x` is folded away by some drivers), and NaN results come from a private
 * variable (a NaN constant is a WGSL compile error).
 */
export const WGSL = {
  isnan: 'fn kiln_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
  /** asin/acos through atan2 (some drivers' asin/acos are off by 1e-4). */
  asin: 'fn kiln_asin(x: f32) -> f32 { return atan2(x, sqrt((1.0 - x) * (1.0 + x))); }',
  acos: 'fn kiln_acos(x: f32) -> f32 { return atan2(sqrt((1.0 - x) * (1.0 + x)), x); }',
  isinf: 'fn kiln_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }',
  /** Rational approximation of erf on [-4, 4] (Eigen's generic_fast_erf_float), ±1 beyond. */
  erf: `fn kiln_erf(x0: f32) -> f32 {
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
}`,
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
