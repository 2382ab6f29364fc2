/**
 * Numeric helpers behind the scalar function table (scalar-fns.ts): the JS forms that
 * need more than one `Math` call (erf, half-to-even rounding, stable sigmoid/softplus,
 * Python-style mod, 64-bit bitwise ops).
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
