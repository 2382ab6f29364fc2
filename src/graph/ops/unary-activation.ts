/** Op family: activation functions (elementwise, plus PRelu which broadcasts its slope). */
import { attr } from '../attrs.js';
import { FLOATS, NUMERIC, expectDType, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { E, type Expr } from '../expr.js';
import { defineOp } from '../op.js';
import { broadcastShapes, formatShape, shapeEq } from '../shape.js';
import { expectSameDType, unaryFn, unaryOp } from './elementwise-util.js';
import { F } from './scalar-fns.js';

const c = (v: number, d: DType): Expr => E.const(v, d);

/** Relu: max(x, 0). */
export const Relu = unaryOp({
  name: 'Relu', doc: 'max(x, 0).', types: NUMERIC, attrs: {},
  expr: (x, _a, out) => E.call(F.max, [x, c(0, out)], out),
});
/** LeakyRelu: x ≥ 0 ? x : alpha·x. */
export const LeakyRelu = unaryOp({
  name: 'LeakyRelu', doc: 'x for x ≥ 0, alpha·x below.', types: FLOATS, attrs: { alpha: attr.float(0.01) },
  expr: (x, a, out) => E.call(F.leakyrelu, [x, c(a.alpha, out)], out),
});
/** Elu: x > 0 ? x : alpha·(e^x − 1). */
export const Elu = unaryOp({
  name: 'Elu', doc: 'Exponential linear unit.', types: FLOATS, attrs: { alpha: attr.float(1) },
  expr: (x, a, out) => E.call(F.elu, [x, c(a.alpha, out)], out),
});
/** Selu: gamma·(x > 0 ? x : alpha·(e^x − 1)). */
export const Selu = unaryOp({
  name: 'Selu', doc: 'Scaled exponential linear unit.', types: FLOATS,
  attrs: { alpha: attr.float(1.67326319217681884765625), gamma: attr.float(1.05070102519989013671875) },
  expr: (x, a, out) => E.call(F.selu, [x, c(a.alpha, out), c(a.gamma, out)], out),
});
/** Celu: max(0, x) + min(0, alpha·(e^(x/alpha) − 1)). */
export const Celu = unaryOp({
  name: 'Celu', doc: 'Continuously differentiable exponential linear unit.', types: FLOATS,
  attrs: { alpha: attr.float(1, (v) => (v === 0 ? 'must be nonzero' : undefined)) },
  expr: (x, a, out) => E.call(F.celu, [x, c(a.alpha, out)], out),
});
/** Sigmoid: 1 / (1 + e^−x). */
export const Sigmoid = unaryFn('Sigmoid', F.sigmoid, FLOATS, 'Logistic sigmoid.');
/** HardSigmoid: clamp(alpha·x + beta, 0, 1). */
export const HardSigmoid = unaryOp({
  name: 'HardSigmoid', doc: 'Piecewise-linear sigmoid.', types: FLOATS, attrs: { alpha: attr.float(0.2), beta: attr.float(0.5) },
  expr: (x, a, out) => E.call(F.hardsigmoid, [x, c(a.alpha, out), c(a.beta, out)], out),
});
/** HardSwish: x·clamp(x/6 + 1/2, 0, 1). */
export const HardSwish = unaryFn('HardSwish', F.hardswish, FLOATS, 'x · HardSigmoid(x) with alpha 1/6, beta 1/2.');
/** Softplus: log(1 + e^x). */
export const Softplus = unaryFn('Softplus', F.softplus, FLOATS, 'log(1 + e^x), computed stably.');
/** Softsign: x / (1 + |x|). */
export const Softsign = unaryFn('Softsign', F.softsign, FLOATS, 'x / (1 + |x|).');
/** Tanh. */
export const Tanh = unaryFn('Tanh', F.tanh, FLOATS, 'Hyperbolic tangent.');
/** ThresholdedRelu: x > alpha ? x : 0. */
export const ThresholdedRelu = unaryOp({
  name: 'ThresholdedRelu', doc: 'x above alpha, else 0.', types: FLOATS, attrs: { alpha: attr.float(1) },
  expr: (x, a, out) => E.call(F.thresholdedrelu, [x, c(a.alpha, out)], out),
});
/** Mish: x·tanh(softplus(x)). */
export const Mish = unaryFn('Mish', F.mish, FLOATS, 'x · tanh(softplus(x)).');
/** Gelu (opset 20): exact via erf, or the tanh approximation with approximate='tanh'. */
export const Gelu = unaryOp({
  name: 'Gelu', doc: 'Gaussian error linear unit.', types: FLOATS,
  attrs: { approximate: attr.string<'none' | 'tanh'>('none', ['none', 'tanh']) },
  expr: (x, a, out) => E.call(a.approximate === 'tanh' ? F.gelutanh : F.gelu, [x], out),
});
/** Shrink: x < −lambd ? x + bias : x > lambd ? x − bias : 0. */
export const Shrink = unaryOp({
  name: 'Shrink', doc: 'Soft/hard shrinkage.', types: NUMERIC, ports: ['input', 'output'],
  attrs: { bias: attr.float(0), lambd: attr.float(0.5) },
  expr: (x, a, out) => E.call(F.shrink, [x, c(a.bias, out), c(a.lambd, out)], out),
});

/** PRelu: x < 0 ? slope·x : x, the slope broadcasting to X's shape (unidirectionally). */
export const PRelu = defineOp({
  name: 'PRelu',
  inputs: ['X', 'slope'],
  outputs: ['Y'],
  attrs: {},
  category: 'broadcast',
  doc: 'Leaky ReLU with a learned slope broadcast to X.',
  infer([x, s], ctx) {
    expectDType(x!.dtype, NUMERIC, ctx.node, 'X');
    expectSameDType(x!, s!, ctx.node, 'PRelu', 'X and slope');
    const shape = broadcastShapes([x!.shape, s!.shape], ctx.node);
    if (!shapeEq(shape, x!.shape)) {
      throw new ShapeError(`${ctx.node}: PRelu slope ${formatShape(s!.shape)} does not broadcast to X ${formatShape(x!.shape)}`, ctx.node);
    }
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  expr: ([x, s], _a, out) => E.call(F.prelu, [x!, s!], out),
});

/** Activation ops. */
export const activationOps = {
  Relu, LeakyRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid, HardSwish, Softplus, Softsign,
  Tanh, ThresholdedRelu, Mish, Gelu, Shrink, PRelu,
} as const;
