/**
 * WGSL of the recurrent kernels (kernels/rnn.ts): the ONNX activation table as
 * WGSL expressions, and the step bodies of RNN, GRU and LSTM. One workgroup runs
 * one (direction, batch) pair through all its time steps; invocations stride over
 * hidden units; the state lives in scratch storage (two h buffers used in turn, c,
 * and GRU's z and r⊙h) with a storageBarrier between phases.
 */

/** An activation as a WGSL expression of `x` (f32), given its (defaulted) alpha and beta. */
export const WGSL_ACTIVATIONS: Readonly<Record<string, (x: string, a?: number, b?: number) => string>> = {
  relu: (x) => `max(0.0, ${x})`,
  tanh: (x) => `kr_tanh(${x})`,
  sigmoid: (x) => `kr_sigmoid(${x})`,
  affine: (x, a = 1, b = 0) => `(${f(a)} * ${x} + ${f(b)})`,
  leakyrelu: (x, a = 0.01) => `select(${f(a)} * ${x}, ${x}, ${x} >= 0.0)`,
  thresholdedrelu: (x, a = 1) => `select(0.0, ${x}, ${x} > ${f(a)})`,
  scaledtanh: (x, a = 1, b = 1) => `(${f(a)} * kr_tanh(${f(b)} * ${x}))`,
  hardsigmoid: (x, a = 0.2, b = 0.5) => `clamp(${f(a)} * ${x} + ${f(b)}, 0.0, 1.0)`,
  elu: (x, a = 1) => `select(${f(a)} * (exp(${x}) - 1.0), ${x}, ${x} >= 0.0)`,
  softsign: (x) => `(${x} / (1.0 + abs(${x})))`,
  softplus: (x) => `(log(1.0 + exp(-abs(${x}))) + max(${x}, 0.0))`,
};

function f(v: number): string {
  const s = String(Math.fround(v));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** Overflow-safe tanh and sigmoid (WGSL's tanh may give NaN for large |x| on some drivers). */
export const RNN_HELPERS = `fn kr_tanh(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }
fn kr_sigmoid(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }`;
