/**
 * The scalar function table used by elementwise op expressions. Each entry is one
 * scalar function's name and JS form (see expr.ts). JS forms follow numpy/ONNX
 * semantics on doubles (the expression evaluator then coerces to the node's dtype;
 * bool is 0/1). Backends spell each function from tables of their own, keyed by
 * {@link ScalarFnName}.
 */
import { floatFormatOf, roundToFormat, type DType } from '../dtype.js';
import { scalarFn as fn, scalarFns, type ScalarFn } from '../expr.js';
import { ACTIVATION_FNS } from './scalar-fns-activation.js';
import { bitwise, erfJs, intPow, pyMod, roundHalfEven } from './elementwise-numerics.js';

const nanMax = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
const nanMin = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));

/** Unary math. */
const UNARY = scalarFns({
  abs: fn('abs', Math.abs),
  neg: fn('neg', (a) => -a),
  sign: fn('sign', (a) => (Number.isNaN(a) ? NaN : a > 0 ? 1 : a < 0 ? -1 : 0)),
  reciprocal: fn('reciprocal', (a) => 1 / a),
  floor: fn('floor', Math.floor),
  ceil: fn('ceil', Math.ceil),
  round: fn('round', roundHalfEven),
  sqrt: fn('sqrt', Math.sqrt),
  exp: fn('exp', Math.exp),
  log: fn('log', Math.log),
  sin: fn('sin', Math.sin),
  cos: fn('cos', Math.cos),
  tan: fn('tan', Math.tan),
  asin: fn('asin', Math.asin),
  acos: fn('acos', Math.acos),
  atan: fn('atan', Math.atan),
  sinh: fn('sinh', Math.sinh),
  cosh: fn('cosh', Math.cosh),
  asinh: fn('asinh', Math.asinh),
  acosh: fn('acosh', Math.acosh),
  atanh: fn('atanh', Math.atanh),
  erf: fn('erf', erfJs),
  isnan: fn('isnan', (a) => (Number.isNaN(a) ? 1 : 0)),
  isinf: fn('isinf', (a) => (a === Infinity || a === -Infinity ? 1 : 0)),
  isposinf: fn('isposinf', (a) => (a === Infinity ? 1 : 0)),
  isneginf: fn('isneginf', (a) => (a === -Infinity ? 1 : 0)),
  not: fn('not', (a) => (a ? 0 : 1)),
  /** Bitwise complement; the evaluator's wrap-around to the dtype makes -a-1 exact for every width but uint64. */
  bitnot: fn('bitnot', (a) => -a - 1),
  bitnotU64: fn('bitnotU64', (a) => 18446744073709551615 - a),
});

/** Binary arithmetic, comparisons and logic. */
const BINARY = scalarFns({
  add: fn('add', (a, b) => a + b),
  sub: fn('sub', (a, b) => a - b),
  mul: fn('mul', (a, b) => a * b),
  /** 32-bit integer product (exact modulo 2^32). */
  imul: fn('imul', Math.imul),
  div: fn('div', (a, b) => a / b),
  /** Integer division truncating toward zero (0 for b = 0). */
  idiv: fn('idiv', (a, b) => (b === 0 ? 0 : Math.trunc(a / b) + 0)),
  pow: fn('pow', Math.pow),
  ipow: fn('ipow', intPow),
  /** C fmod: remainder with the sign of the dividend. */
  fmod: fn('fmod', (a, b) => a % b),
  /** C fmod of integers (no negative zero; 0 for b = 0). */
  ifmod: fn('ifmod', (a, b) => (b === 0 ? 0 : (a % b) + 0)),
  /** Python mod: remainder with the sign of the divisor. */
  pymod: fn('pymod', pyMod),
  max: fn('max', nanMax),
  min: fn('min', nanMin),
  /** Left shift; exact modulo 2^64 (narrower widths wrap in the evaluator). */
  shl: fn('shl', (a, b) => (b >= 64 ? 0 : (a * 2 ** b) % 18446744073709551616)),
  shr: fn('shr', (a, b) => (b >= 64 ? 0 : Math.floor(a / 2 ** b))),
  bitand: fn('bitand', bitwise((a, b) => a & b, (a, b) => a & b)),
  bitor: fn('bitor', bitwise((a, b) => a | b, (a, b) => a | b)),
  bitxor: fn('bitxor', bitwise((a, b) => a ^ b, (a, b) => a ^ b)),
  eq: fn('eq', (a, b) => (a === b ? 1 : 0)),
  lt: fn('lt', (a, b) => (a < b ? 1 : 0)),
  le: fn('le', (a, b) => (a <= b ? 1 : 0)),
  gt: fn('gt', (a, b) => (a > b ? 1 : 0)),
  ge: fn('ge', (a, b) => (a >= b ? 1 : 0)),
  and: fn('and', (a, b) => (a && b ? 1 : 0)),
  or: fn('or', (a, b) => (a || b ? 1 : 0)),
  xor: fn('xor', (a, b) => ((a ? 1 : 0) ^ (b ? 1 : 0))),
});

/** Selection and conversion. */
const MISC = scalarFns({
  /** where(c, x, y): x where c is nonzero, else y. */
  where: fn('where', (c, x, y) => (c ? x : y)),
  /** Conversion to a float dtype, or between integer dtypes (the evaluator rounds or wraps). */
  cast: fn('cast', (a) => a),
  /** Conversion of floats to an integer dtype: truncation toward zero, NaN → 0 (no negative zero). */
  castint: fn('castint', (a) => (Number.isNaN(a) ? 0 : Math.trunc(a) + 0)),
  /** Conversion to bool: nonzero (NaN included) → 1. */
  tobool: fn('tobool', (a) => (a !== 0 ? 1 : 0)),
  /** Rounding to bfloat16 (ties to even; beyond the range ±Inf). */
  tobfloat16: fn('tobfloat16', (a) => roundToFormat(a, floatFormatOf('bfloat16')!)),
  /** Rounding to float8 E4M3FN (ties to even; beyond the range NaN: no saturation, see Cast). */
  tofloat8e4m3fn: fn('tofloat8e4m3fn', (a) => roundToFormat(a, floatFormatOf('float8e4m3fn')!)),
  /** Rounding to float8 E4M3FNUZ (ties to even; beyond the range NaN). */
  tofloat8e4m3fnuz: fn('tofloat8e4m3fnuz', (a) => roundToFormat(a, floatFormatOf('float8e4m3fnuz')!)),
  /** Rounding to float8 E5M2 (ties to even; beyond the range ±Inf). */
  tofloat8e5m2: fn('tofloat8e5m2', (a) => roundToFormat(a, floatFormatOf('float8e5m2')!)),
  /** Rounding to float8 E5M2FNUZ (ties to even; beyond the range NaN). */
  tofloat8e5m2fnuz: fn('tofloat8e5m2fnuz', (a) => roundToFormat(a, floatFormatOf('float8e5m2fnuz')!)),
});

/** The rounding function of each narrow float dtype (bfloat16, float8). */
export const TO_FORMAT: Readonly<Partial<Record<DType, ScalarFn>>> = {
  bfloat16: MISC.tobfloat16,
  float8e4m3fn: MISC.tofloat8e4m3fn,
  float8e4m3fnuz: MISC.tofloat8e4m3fnuz,
  float8e5m2: MISC.tofloat8e5m2,
  float8e5m2fnuz: MISC.tofloat8e5m2fnuz,
};

/** Scalar functions. */
export const F = { ...UNARY, ...BINARY, ...MISC, ...ACTIVATION_FNS } as const;

/** The name of a scalar function of the table: the key backends spell it under. */
export type ScalarFnName = keyof typeof F;

/** Whether `name` names a scalar function of the table. */
export function isScalarFnName(name: string): name is ScalarFnName {
  return Object.hasOwn(F, name);
}
