/**
 * The scalar function table used by elementwise op expressions. Each entry gives the
 * JS and WGSL forms of one scalar function (see expr.ts). JS forms follow numpy/ONNX
 * semantics on doubles (the expression evaluator then coerces to the node's dtype);
 * WGSL forms receive rendered arguments, their WGSL scalar types (f32/f16/i32/u32;
 * bool is 0/1 in u32 or i32 — forms test bools against the untyped literal `0` so
 * either works; int64 is i32) and the output WGSL type.
 */
import type { ScalarFn } from '../expr.js';
import { ACTIVATION_FNS } from './scalar-fns-activation.js';
import { bitwise, erfJs, intPow, pyMod, roundHalfEven, WGSL } from './elementwise-numerics.js';

type Js = ScalarFn['js'];
type Wgsl = ScalarFn['wgsl'];

/** Builds a table entry. */
export function fn(name: string, js: Js, wgsl: Wgsl, prelude?: string): ScalarFn {
  return prelude ? { name, js, wgsl, prelude } : { name, js, wgsl };
}

/**
 * A function mapping to a WGSL builtin of the same arity. f16 arguments are computed
 * in f32 (WGSL allows f16 exp/log/trig errors of several ulps growing with |x|).
 */
function builtin(name: string, js: Js, wgslName = name): ScalarFn {
  return fn(name, js, (a, t, out) =>
    (t.includes('f16') ? `${out}(${wgslName}(${a.map((x) => `f32(${x})`).join(', ')}))` : `${wgslName}(${a.join(', ')})`));
}

/** A float function computed in f32 by a prelude helper, cast to the output type. */
function viaF32(name: string, js: Js, helper: string, prelude: string): ScalarFn {
  return fn(name, js, (a, _t, out) => `${out}(${helper}(${a.map((x) => `f32(${x})`).join(', ')}))`, prelude);
}

const b2 = (op: string): Wgsl => ([a, b]) => `(${a} ${op} ${b})`;
const cmp = (op: string): Wgsl => ([a, b]) => `u32(${a} ${op} ${b})`;
const nanMax = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
const nanMin = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));

/** Unary math. */
const UNARY = {
  abs: builtin('abs', Math.abs),
  neg: fn('neg', (a) => -a, ([a]) => `(-(${a}))`),
  sign: fn('sign', (a) => (Number.isNaN(a) ? NaN : a > 0 ? 1 : a < 0 ? -1 : 0), ([a], [t]) =>
    (t === 'u32' ? `u32(${a} != 0u)` : `sign(${a})`)),
  reciprocal: fn('reciprocal', (a) => 1 / a, ([a], _t, out) => `(${out}(1) / ${a})`),
  floor: builtin('floor', Math.floor),
  ceil: builtin('ceil', Math.ceil),
  round: builtin('round', roundHalfEven),
  sqrt: builtin('sqrt', Math.sqrt),
  exp: builtin('exp', Math.exp),
  log: builtin('log', Math.log),
  sin: builtin('sin', Math.sin),
  cos: builtin('cos', Math.cos),
  tan: builtin('tan', Math.tan),
  asin: viaF32('asin', Math.asin, 'kiln_asin', WGSL.asin),
  acos: viaF32('acos', Math.acos, 'kiln_acos', WGSL.acos),
  atan: builtin('atan', Math.atan),
  sinh: builtin('sinh', Math.sinh),
  cosh: builtin('cosh', Math.cosh),
  asinh: builtin('asinh', Math.asinh),
  acosh: builtin('acosh', Math.acosh),
  atanh: builtin('atanh', Math.atanh),
  erf: viaF32('erf', erfJs, 'kiln_erf', WGSL.erf),
  isnan: fn('isnan', (a) => (Number.isNaN(a) ? 1 : 0), ([a]) => `u32(kiln_isnan(f32(${a})))`, WGSL.isnan),
  isinf: fn('isinf', (a) => (a === Infinity || a === -Infinity ? 1 : 0), ([a]) => `u32(kiln_isinf(f32(${a})))`, WGSL.isinf),
  isposinf: fn('isposinf', (a) => (a === Infinity ? 1 : 0), ([a]) => `u32(kiln_isinf(f32(${a})) && ${a} > 0)`, WGSL.isinf),
  isneginf: fn('isneginf', (a) => (a === -Infinity ? 1 : 0), ([a]) => `u32(kiln_isinf(f32(${a})) && ${a} < 0)`, WGSL.isinf),
  not: fn('not', (a) => (a ? 0 : 1), ([a]) => `u32(${a} == 0)`),
  /** Bitwise complement; the evaluator's wrap-around to the dtype makes -a-1 exact for every width but uint64. */
  bitnot: fn('bitnot', (a) => -a - 1, ([a], _t, out) => `${out}(~(${a}))`),
  bitnotU64: fn('bitnotU64', (a) => 18446744073709551615 - a, ([a], _t, out) => `${out}(~(${a}))`),
} as const;

/** Binary arithmetic, comparisons and logic. */
const BINARY = {
  add: fn('add', (a, b) => a + b, b2('+')),
  sub: fn('sub', (a, b) => a - b, b2('-')),
  mul: fn('mul', (a, b) => a * b, b2('*')),
  /** 32-bit integer product (exact modulo 2^32). */
  imul: fn('imul', Math.imul, b2('*')),
  div: fn('div', (a, b) => a / b, b2('/')),
  /** Integer division truncating toward zero (0 for b = 0, as WGSL's guard). */
  idiv: fn('idiv', (a, b) => (b === 0 ? 0 : Math.trunc(a / b) + 0), ([a, b], [ta], out) =>
    (ta === 'u32' ? `select(${a} / ${b}, 0u, ${b} == 0u)` : `${out}(kiln_divi(i32(${a}), i32(${b})))`), WGSL.divi),
  pow: fn('pow', Math.pow, ([a, b], _t, out) => `${out}(kiln_powf(f32(${a}), f32(${b})))`, WGSL.powf),
  ipow: fn('ipow', intPow, ([a, b], _t, out) => `${out}(kiln_powi(i32(${a}), i32(${b})))`, WGSL.powi),
  /** C fmod: remainder with the sign of the dividend (WGSL `%` on floats and ints). */
  fmod: fn('fmod', (a, b) => a % b, ([a, b], [ta], out) => (ta === 'f16' ? `${out}(f32(${a}) % f32(${b}))` : `(${a} % ${b})`)),
  /** C fmod of integers (no negative zero; 0 for b = 0, as WGSL). */
  ifmod: fn('ifmod', (a, b) => (b === 0 ? 0 : (a % b) + 0), b2('%')),
  /** Python mod: remainder with the sign of the divisor. */
  pymod: fn('pymod', pyMod, ([a, b], [ta], out) =>
    (ta === 'u32' ? `(${a} % ${b})` : ta === 'i32' ? `${out}(kiln_modi(i32(${a}), i32(${b})))` : `${out}(kiln_modf(f32(${a}), f32(${b})))`),
  `${WGSL.modi}\n${WGSL.modf}`),
  max: fn('max', nanMax, ([a, b]) => `max(${a}, ${b})`),
  min: fn('min', nanMin, ([a, b]) => `min(${a}, ${b})`),
  /** Left shift; exact modulo 2^64 (narrower widths wrap in the evaluator). */
  shl: fn('shl', (a, b) => (b >= 64 ? 0 : (a * 2 ** b) % 18446744073709551616), ([a, b], [ta, tb]) => `select(${ta}(0), ${a} << ${tb === 'u32' ? b : `u32(${b})`}, ${b} < ${tb}(32))`),
  shr: fn('shr', (a, b) => (b >= 64 ? 0 : Math.floor(a / 2 ** b)), ([a, b], [ta, tb]) => `select(${ta}(0), ${a} >> ${tb === 'u32' ? b : `u32(${b})`}, ${b} < ${tb}(32))`),
  bitand: fn('bitand', bitwise((a, b) => a & b, (a, b) => a & b), b2('&')),
  bitor: fn('bitor', bitwise((a, b) => a | b, (a, b) => a | b), b2('|')),
  bitxor: fn('bitxor', bitwise((a, b) => a ^ b, (a, b) => a ^ b), b2('^')),
  eq: fn('eq', (a, b) => (a === b ? 1 : 0), cmp('==')),
  lt: fn('lt', (a, b) => (a < b ? 1 : 0), cmp('<')),
  le: fn('le', (a, b) => (a <= b ? 1 : 0), cmp('<=')),
  gt: fn('gt', (a, b) => (a > b ? 1 : 0), cmp('>')),
  ge: fn('ge', (a, b) => (a >= b ? 1 : 0), cmp('>=')),
  and: fn('and', (a, b) => (a && b ? 1 : 0), ([a, b]) => `u32(${a} != 0 && ${b} != 0)`),
  or: fn('or', (a, b) => (a || b ? 1 : 0), ([a, b]) => `u32(${a} != 0 || ${b} != 0)`),
  xor: fn('xor', (a, b) => ((a ? 1 : 0) ^ (b ? 1 : 0)), ([a, b]) => `u32((${a} != 0) != (${b} != 0))`),
} as const;

/** Selection and conversion. */
const MISC = {
  /** where(c, x, y): x where c is nonzero, else y. */
  where: fn('where', (c, x, y) => (c ? x : y), ([c, x, y]) => `select(${y}, ${x}, ${c} != 0)`),
  /** Conversion to a float dtype, or between integer dtypes (the evaluator rounds or wraps). */
  cast: fn('cast', (a) => a, ([a], _t, out) => `${out}(${a})`),
  /** Conversion of floats to an integer dtype: truncation toward zero, NaN → 0 (no negative zero). */
  castint: fn('castint', (a) => (Number.isNaN(a) ? 0 : Math.trunc(a) + 0), ([a], [t], out) =>
    (t === 'f32' || t === 'f16' ? `select(${out}(${a}), ${out}(0), kiln_isnan(f32(${a})))` : `${out}(${a})`), WGSL.isnan),
  /** Conversion to bool: nonzero (NaN included) → 1. */
  tobool: fn('tobool', (a) => (a !== 0 ? 1 : 0), ([a], [t]) =>
    (t === 'f32' || t === 'f16' ? `u32((bitcast<u32>(f32(${a})) << 1u) != 0u)` : `u32(${a} != 0)`)),
} as const;

/** Scalar functions. */
export const F = { ...UNARY, ...BINARY, ...MISC, ...ACTIVATION_FNS } as const;
