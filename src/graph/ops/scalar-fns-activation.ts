/**
 * Scalar functions of the activation ops. Attribute parameters (alpha, beta, ...) are
 * passed as constant arguments after the input, so one function serves every value.
 */
import { scalarFn as fn, scalarFns } from '../expr.js';
import { erfJs, sigmoidJs, softplusJs } from './elementwise-numerics.js';

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Activation functions. */
export const ACTIVATION_FNS = scalarFns({
  /** leakyrelu(x, alpha) = x ≥ 0 ? x : alpha·x */
  leakyrelu: fn('leakyrelu', (x, al) => (x >= 0 ? x : al! * x)),
  /** elu(x, alpha) = x > 0 ? x : alpha·(e^x − 1) */
  elu: fn('elu', (x, al) => (x > 0 ? x : al! * Math.expm1(x))),
  /** selu(x, alpha, gamma) = gamma·(x > 0 ? x : alpha·(e^x − 1)) */
  selu: fn('selu', (x, al, g) => g! * (x > 0 ? x : al! * Math.expm1(x))),
  /** celu(x, alpha) = max(0, x) + min(0, alpha·(e^(x/alpha) − 1)) */
  celu: fn('celu', (x, al) => Math.max(0, x) + Math.min(0, al! * Math.expm1(x / al!))),
  /** Logistic sigmoid, stable for large |x|. */
  sigmoid: fn('sigmoid', sigmoidJs),
  /** hardsigmoid(x, alpha, beta) = clamp(alpha·x + beta, 0, 1) */
  hardsigmoid: fn('hardsigmoid', (x, al, be) => Math.max(0, Math.min(1, al! * x + be!))),
  /** hardswish(x) = x·clamp(x/6 + 1/2, 0, 1) */
  hardswish: fn('hardswish', (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5))),
  /** softplus(x) = log(1 + e^x), as log1p(e^-|x|) + max(x, 0). */
  softplus: fn('softplus', softplusJs),
  /** softsign(x) = x / (1 + |x|) */
  softsign: fn('softsign', (x) => x / (1 + Math.abs(x))),
  /** Hyperbolic tangent. */
  tanh: fn('tanh', Math.tanh),
  /** thresholdedrelu(x, alpha) = x > alpha ? x : 0 */
  thresholdedrelu: fn('thresholdedrelu', (x, al) => (x > al! ? x : 0)),
  /** mish(x) = x·tanh(softplus(x)) */
  mish: fn('mish', (x) => x * Math.tanh(softplusJs(x))),
  /** gelu(x) = x/2·(1 + erf(x/√2)) */
  gelu: fn('gelu', (x) => 0.5 * x * (1 + erfJs(x * SQRT1_2))),
  /** gelu with approximate='tanh': x/2·(1 + tanh(√(2/π)·(x + 0.044715x³))) */
  gelutanh: fn('gelutanh', (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))),
  /** prelu(x, slope) = x < 0 ? slope·x : x */
  prelu: fn('prelu', (x, s) => (x < 0 ? s! * x : x)),
  /** shrink(x, bias, lambd) = x < −lambd ? x + bias : x > lambd ? x − bias : 0 */
  shrink: fn('shrink', (x, b, l) => (x < -l! ? x + b! : x > l! ? x - b! : 0)),
});
