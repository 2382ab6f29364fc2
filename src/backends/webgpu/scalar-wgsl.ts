/**
 * WGSL spellings of the scalar functions (src/graph/ops/scalar-fns.ts), keyed by
 * function name: a function without a spelling here is a type error. A form receives
 * the rendered argument expressions, their WGSL scalar types (f32/f16/i32/u32; bool
 * is 0/1 in u32 or i32 — forms test bools against the untyped literal `0` so either
 * works; int64 is i32) and the WGSL type of the result. Functions needing several
 * uses of their input go through an f32 helper (prelude) so the argument expression
 * is evaluated once.
 */
import { floatFormatOf, type DType, type FloatFormat } from '../../graph/dtype.js';
import type { ScalarFn } from '../../graph/expr.js';
import { isScalarFnName, type ScalarFnName } from '../../graph/ops/scalar-fns.js';
import { erfHelper, SCALAR_HELPERS as H } from '../../../shaders/scalar-helpers.js';

/** The WGSL spelling of one scalar function. */
export interface WgslForm {
  /** Renders a call from argument expressions, their WGSL types and the result type. */
  readonly render: (args: readonly string[], argTypes: readonly string[], out: string) => string;
  /** WGSL helper functions the call needs (emitted once per shader). */
  readonly prelude?: string;
}

type Render = WgslForm['render'];

const form = (render: Render, prelude?: string): WgslForm => (prelude ? { render, prelude } : { render });

/** Arguments converted to f32. */
const asF32 = (a: readonly string[]): string => a.map((x) => `f32(${x})`).join(', ');

/**
 * A WGSL builtin of the same arity. f16 arguments are computed in f32 (WGSL allows
 * f16 exp/log/trig errors of several ulps growing with |x|).
 */
const builtin = (name: string): WgslForm =>
  form((a, t, out) => (t.includes('f16') ? `${out}(${name}(${asF32(a)}))` : `${name}(${a.join(', ')})`));

/** A float function computed in f32 by the prelude's function `helper`, cast to the output type. */
const viaF32 = (helper: string, prelude: string): WgslForm => form((a, _t, out) => `${out}(${helper}(${asF32(a)}))`, prelude);

/** A float helper `kiln_<name>(params) -> f32` whose body is `body`. */
const helper = (name: string, params: string, body: string): WgslForm =>
  viaF32(`kiln_${name}`, `fn kiln_${name}(${params}) -> f32 {\n${body}\n}`);

const b2 = (op: string): WgslForm => form(([a, b]) => `(${a} ${op} ${b})`);
const cmp = (op: string): WgslForm => form(([a, b]) => `u32(${a} ${op} ${b})`);
/** `~a` in the output type. */
const complement = form(([a], _t, out) => `${out}(~(${a}))`);
/** tanh with the argument clamped to ±15 (some drivers return NaN for large |x|). */
const tanhClamped = (v: string): string => `tanh(clamp(${v}, -15.0, 15.0))`;
const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** A shift: 0 for shift amounts ≥ 32 (WGSL masks them). */
const shift = (op: string): WgslForm =>
  form(([a, b], [ta, tb]) => `select(${ta}(0), ${a} ${op} ${tb === 'u32' ? b : `u32(${b})`}, ${b} < ${tb}(32))`);

/**
 * Rounding of an f32 to a narrow float format, ties to even (WGSL's round()),
 * exactly as roundToFormat in src/graph/dtype.ts: the f32 is scaled by powers of
 * two (ldexp, exact) so the format's quantum is 1. NaN/Inf are recognized by their
 * bits; Inf and NaN are made from variables (Dawn rejects them as constants).
 * bfloat16 subnormals are f32 subnormals, which a device may flush to zero.
 */
export const TO_FMT_HELPER = `fn kiln_tofmt(x: f32, mant: i32, emin: i32, maxv: f32, has_inf: bool, uz: bool, sat: bool) -> f32 {
  let bits = bitcast<u32>(x);
  let neg = (bits & 0x80000000u) != 0u;
  var special = 0x7fc00000u;
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return x; }
  if (sat && (bits & 0x7fffffffu) >= 0x7f800000u) { return select(maxv, -maxv, neg); }
  if (has_inf && (bits & 0x7fffffffu) == 0x7f800000u) { return x; }
  if ((bits & 0x7fffffffu) == 0x7f800000u) { return bitcast<f32>(special); }
  let a = abs(x);
  if (a == 0.0) { return select(x, 0.0, uz); }
  let e = max(i32((bits >> 23u) & 0xffu) - 127, emin);
  let r = ldexp(round(ldexp(a, mant - e)), e - mant);
  if (r > maxv) {
    if (sat) { return select(maxv, -maxv, neg); }
    if (has_inf) { special = select(0x7f800000u, 0xff800000u, neg); }
    return bitcast<f32>(special);
  }
  if (r == 0.0 && uz) { return 0.0; }
  return select(r, -r, neg);
}`;

/**
 * WGSL f32 of the f32 expression `a` rounded to the narrow float format of `dtype`
 * (needs {@link TO_FMT_HELPER}); with `saturate`, clamped to ±its largest finite value first (NaN kept).
 */
export function toFormatWgsl(dtype: DType, a: string, saturate = false): string {
  const f: FloatFormat = floatFormatOf(dtype)!;
  const maxBits = new Uint32Array(new Float32Array([f.max]).buffer)[0]!;
  return `kiln_tofmt(${a}, ${f.mant}, ${1 - f.bias}, bitcast<f32>(${maxBits}u), ${f.inf}, ${f.uz}, ${saturate})`;
}

/** The scalar function rounding to the format of `dtype`. */
const toFormat = (dtype: DType): WgslForm => form(([a], _t, out) => `${out}(${toFormatWgsl(dtype, `f32(${a})`)})`, TO_FMT_HELPER);

/** The WGSL spelling of every scalar function. */
export const SCALAR_WGSL: Readonly<Record<ScalarFnName, WgslForm>> = {
  abs: builtin('abs'),
  neg: form(([a]) => `(-(${a}))`),
  sign: form(([a], [t]) => (t === 'u32' ? `u32(${a} != 0u)` : `sign(${a})`)),
  reciprocal: form(([a], _t, out) => `(${out}(1) / ${a})`),
  floor: builtin('floor'),
  ceil: builtin('ceil'),
  round: builtin('round'),
  sqrt: builtin('sqrt'),
  exp: builtin('exp'),
  log: builtin('log'),
  sin: builtin('sin'),
  cos: builtin('cos'),
  tan: builtin('tan'),
  asin: viaF32('kiln_asin', H.asin),
  acos: viaF32('kiln_acos', H.acos),
  atan: builtin('atan'),
  sinh: builtin('sinh'),
  cosh: builtin('cosh'),
  asinh: builtin('asinh'),
  acosh: builtin('acosh'),
  atanh: builtin('atanh'),
  erf: viaF32('kiln_erf', H.erf),
  isnan: form(([a]) => `u32(kiln_isnan(f32(${a})))`, H.isnan),
  isinf: form(([a]) => `u32(kiln_isinf(f32(${a})))`, H.isinf),
  isposinf: form(([a]) => `u32(kiln_isinf(f32(${a})) && ${a} > 0)`, H.isinf),
  isneginf: form(([a]) => `u32(kiln_isinf(f32(${a})) && ${a} < 0)`, H.isinf),
  not: form(([a]) => `u32(${a} == 0)`),
  bitnot: complement,
  bitnotU64: complement,

  add: b2('+'),
  sub: b2('-'),
  mul: b2('*'),
  imul: b2('*'),
  div: b2('/'),
  /** Truncating division, 0 for b = 0 (WGSL's `/` would give a). */
  idiv: form(([a, b], [ta], out) =>
    (ta === 'u32' ? `select(${a} / ${b}, 0u, ${b} == 0u)` : `${out}(kiln_divi(i32(${a}), i32(${b})))`), H.divi),
  pow: form(([a, b], _t, out) => `${out}(kiln_powf(f32(${a}), f32(${b})))`, H.powf),
  ipow: form(([a, b], _t, out) => `${out}(kiln_powi(i32(${a}), i32(${b})))`, H.powi),
  /** WGSL `%` is C fmod on floats and ints (0 for integer b = 0). */
  fmod: form(([a, b], [ta], out) => (ta === 'f16' ? `${out}(f32(${a}) % f32(${b}))` : `(${a} % ${b})`)),
  ifmod: b2('%'),
  pymod: form(([a, b], [ta], out) =>
    (ta === 'u32' ? `(${a} % ${b})` : ta === 'i32' ? `${out}(kiln_modi(i32(${a}), i32(${b})))` : `${out}(kiln_modf(f32(${a}), f32(${b})))`),
  `${H.modi}\n${H.modf}`),
  max: form(([a, b]) => `max(${a}, ${b})`),
  min: form(([a, b]) => `min(${a}, ${b})`),
  shl: shift('<<'),
  shr: shift('>>'),
  bitand: b2('&'),
  bitor: b2('|'),
  bitxor: b2('^'),
  eq: cmp('=='),
  lt: cmp('<'),
  le: cmp('<='),
  gt: cmp('>'),
  ge: cmp('>='),
  and: form(([a, b]) => `u32(${a} != 0 && ${b} != 0)`),
  or: form(([a, b]) => `u32(${a} != 0 || ${b} != 0)`),
  xor: form(([a, b]) => `u32((${a} != 0) != (${b} != 0))`),

  where: form(([c, x, y]) => `select(${y}, ${x}, ${c} != 0)`),
  cast: form(([a], _t, out) => `${out}(${a})`),
  castint: form(([a], [t], out) =>
    (t === 'f32' || t === 'f16' ? `select(${out}(${a}), ${out}(0), kiln_isnan(f32(${a})))` : `${out}(${a})`), H.isnan),
  tobool: form(([a], [t]) => (t === 'f32' || t === 'f16' ? `u32((bitcast<u32>(f32(${a})) << 1u) != 0u)` : `u32(${a} != 0)`)),
  tobfloat16: toFormat('bfloat16'),
  tofloat8e4m3fn: toFormat('float8e4m3fn'),
  tofloat8e4m3fnuz: toFormat('float8e4m3fnuz'),
  tofloat8e5m2: toFormat('float8e5m2'),
  tofloat8e5m2fnuz: toFormat('float8e5m2fnuz'),

  leakyrelu: form(([x, al], _t, out) => `select(${al} * ${x}, ${x}, ${x} >= ${out}(0))`),
  elu: helper('elu', 'x: f32, al: f32', '  return select(al * (exp(x) - 1.0), x, x > 0.0);'),
  selu: helper('selu', 'x: f32, al: f32, g: f32', '  return g * select(al * (exp(x) - 1.0), x, x > 0.0);'),
  celu: helper('celu', 'x: f32, al: f32', '  return max(x, 0.0) + min(0.0, al * (exp(x / al) - 1.0));'),
  sigmoid: helper('sigmoid', 'x: f32', '  let e = exp(-abs(x));\n  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);'),
  hardsigmoid: form(([x, al, be], _t, out) => `clamp(${al} * ${x} + ${be}, ${out}(0), ${out}(1))`),
  hardswish: helper('hardswish', 'x: f32', '  return x * clamp(x / 6.0 + 0.5, 0.0, 1.0);'),
  softplus: helper('softplus', 'x: f32', '  return log(1.0 + exp(-abs(x))) + max(x, 0.0);'),
  softsign: helper('softsign', 'x: f32', '  return x / (1.0 + abs(x));'),
  /** Clamped tanh, NaN passed through. */
  tanh: helper('tanh', 'x: f32', `  return select(${tanhClamped('x')}, x, (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u);`),
  thresholdedrelu: form(([x, al], _t, out) => `select(${out}(0), ${x}, ${x} > ${al})`),
  mish: helper('mish', 'x: f32', `  let sp = log(1.0 + exp(-abs(x))) + max(x, 0.0);\n  return x * ${tanhClamped('sp')};`),
  gelu: form(([x], _t, out) => `${out}(kiln_gelu(f32(${x})))`,
    `${erfHelper('kiln_gelu_erf')}\nfn kiln_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + kiln_gelu_erf(x * ${SQRT1_2})); }`),
  gelutanh: helper('gelutanh', 'x: f32',
    `  let u = ${SQRT_2_OVER_PI} * (x + 0.044715 * x * x * x);\n  return 0.5 * x * (1.0 + ${tanhClamped('u')});`),
  prelu: form(([x, s], [t], out) => (t === 'u32' ? x! : `select(${x}, ${s} * ${x}, ${x} < ${out}(0))`)),
  shrink: form(([x, b, l], [t], out) =>
    (t === 'u32'
      ? `select(${out}(0), ${x} - ${b}, ${x} > ${l})`
      : `select(select(${out}(0), ${x} - ${b}, ${x} > ${l}), ${x} + ${b}, ${x} < -(${l}))`)),
};

/** The WGSL spelling of `fn` (looked up by its name). */
export function scalarWgsl(fn: ScalarFn): WgslForm {
  if (!isScalarFnName(fn.name)) throw new Error(`scalar function '${fn.name}' has no WGSL spelling`);
  return SCALAR_WGSL[fn.name];
}
