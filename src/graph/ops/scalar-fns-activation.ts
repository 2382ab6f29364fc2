/**
 * Scalar functions of the activation ops. Attribute parameters (alpha, beta, ...) are
 * passed as constant arguments after the input, so one function serves every value.
 * Functions needing several uses of their input in WGSL go through an f32 helper
 * (prelude) so the argument expression is evaluated once.
 */
import type { ScalarFn } from '../expr.js';
import { erfJs, sigmoidJs, softplusJs, WGSL } from './elementwise-numerics.js';

function fn(name: string, js: ScalarFn['js'], wgsl: ScalarFn['wgsl'], prelude?: string): ScalarFn {
  return prelude ? { name, js, wgsl, prelude } : { name, js, wgsl };
}
/** Float helper `kiln_<name>(x: f32, ...)` whose body is `body`; output cast to the output type. */
function helper(name: string, js: ScalarFn['js'], params: string, body: string): ScalarFn {
  const prelude = `fn kiln_${name}(${params}) -> f32 {\n${body}\n}`;
  return fn(name, js, (a, _t, out) => `${out}(kiln_${name}(${a.map((x) => `f32(${x})`).join(', ')}))`, prelude);
}

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const tanhWgsl = (v: string): string => `tanh(clamp(${v}, -15.0, 15.0))`;

/** Activation functions. */
export const ACTIVATION_FNS = {
  /** leakyrelu(x, alpha) = x ≥ 0 ? x : alpha·x */
  leakyrelu: fn('leakyrelu', (x, al) => (x >= 0 ? x : al! * x), ([x, al], _t, out) => `select(${al} * ${x}, ${x}, ${x} >= ${out}(0))`),
  /** elu(x, alpha) = x > 0 ? x : alpha·(e^x − 1) */
  elu: helper('elu', (x, al) => (x > 0 ? x : al! * Math.expm1(x)), 'x: f32, al: f32',
    '  return select(al * (exp(x) - 1.0), x, x > 0.0);'),
  /** selu(x, alpha, gamma) = gamma·(x > 0 ? x : alpha·(e^x − 1)) */
  selu: helper('selu', (x, al, g) => g! * (x > 0 ? x : al! * Math.expm1(x)), 'x: f32, al: f32, g: f32',
    '  return g * select(al * (exp(x) - 1.0), x, x > 0.0);'),
  /** celu(x, alpha) = max(0, x) + min(0, alpha·(e^(x/alpha) − 1)) */
  celu: helper('celu', (x, al) => Math.max(0, x) + Math.min(0, al! * Math.expm1(x / al!)), 'x: f32, al: f32',
    '  return max(x, 0.0) + min(0.0, al * (exp(x / al) - 1.0));'),
  /** Logistic sigmoid, stable for large |x|. */
  sigmoid: helper('sigmoid', sigmoidJs, 'x: f32',
    '  let e = exp(-abs(x));\n  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);'),
  /** hardsigmoid(x, alpha, beta) = clamp(alpha·x + beta, 0, 1) */
  hardsigmoid: fn('hardsigmoid', (x, al, be) => Math.max(0, Math.min(1, al! * x + be!)),
    ([x, al, be], _t, out) => `clamp(${al} * ${x} + ${be}, ${out}(0), ${out}(1))`),
  /** hardswish(x) = x·clamp(x/6 + 1/2, 0, 1) */
  hardswish: helper('hardswish', (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)), 'x: f32',
    '  return x * clamp(x / 6.0 + 0.5, 0.0, 1.0);'),
  /** softplus(x) = log(1 + e^x), as log1p(e^-|x|) + max(x, 0). */
  softplus: helper('softplus', softplusJs, 'x: f32', '  return log(1.0 + exp(-abs(x))) + max(x, 0.0);'),
  /** softsign(x) = x / (1 + |x|) */
  softsign: helper('softsign', (x) => x / (1 + Math.abs(x)), 'x: f32', '  return x / (1.0 + abs(x));'),
  /** tanh, with the argument clamped to ±15 in WGSL (some drivers return NaN for large |x|). */
  tanh: helper('tanh', Math.tanh, 'x: f32', `  return select(${tanhWgsl('x')}, x, (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u);`),
  /** thresholdedrelu(x, alpha) = x > alpha ? x : 0 */
  thresholdedrelu: fn('thresholdedrelu', (x, al) => (x > al! ? x : 0),
    ([x, al], _t, out) => `select(${out}(0), ${x}, ${x} > ${al})`),
  /** mish(x) = x·tanh(softplus(x)) */
  mish: helper('mish', (x) => x * Math.tanh(softplusJs(x)), 'x: f32',
    `  let sp = log(1.0 + exp(-abs(x))) + max(x, 0.0);\n  return x * ${tanhWgsl('sp')};`),
  /** gelu(x) = x/2·(1 + erf(x/√2)) */
  gelu: fn('gelu', (x) => 0.5 * x * (1 + erfJs(x * SQRT1_2)), ([x], _t, out) => `${out}(kiln_gelu(f32(${x})))`,
    `${WGSL.erf.replace('kiln_erf', 'kiln_gelu_erf')}\nfn kiln_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + kiln_gelu_erf(x * ${SQRT1_2})); }`),
  /** gelu with approximate='tanh': x/2·(1 + tanh(√(2/π)·(x + 0.044715x³))) */
  gelutanh: helper('gelutanh', (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))), 'x: f32',
    `  let u = ${SQRT_2_OVER_PI} * (x + 0.044715 * x * x * x);\n  return 0.5 * x * (1.0 + ${tanhWgsl('u')});`),
  /** prelu(x, slope) = x < 0 ? slope·x : x */
  prelu: fn('prelu', (x, s) => (x < 0 ? s! * x : x), ([x, s], [t], out) =>
    (t === 'u32' ? x! : `select(${x}, ${s} * ${x}, ${x} < ${out}(0))`)),
  /** shrink(x, bias, lambd) = x < −lambd ? x + bias : x > lambd ? x − bias : 0 */
  shrink: fn('shrink', (x, b, l) => (x < -l! ? x + b! : x > l! ? x - b! : 0), ([x, b, l], [t], out) =>
    (t === 'u32'
      ? `select(${out}(0), ${x} - ${b}, ${x} > ${l})`
      : `select(select(${out}(0), ${x} - ${b}, ${x} > ${l}), ${x} + ${b}, ${x} < -(${l}))`)),
} as const;
