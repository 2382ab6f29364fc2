/** Op family: activation functions (elementwise, plus PRelu which broadcasts its slope). */
import { attr } from '../attrs.js';
import type { GraphBuilder, Sym } from '../builder.js';
import { declareGradient } from '../gradient.js';
import { FLOATS, NUMERIC, expectDType, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { E, type Expr } from '../expr.js';
import { defineOp } from '../op.js';
import { broadcastShapes, formatShape, shapeEq } from '../shape.js';
import { expectSameDType, unaryFn, unaryOp } from './elementwise-util.js';
import { F } from './scalar-fns.js';
import { gradWhere, scalar as k, sumTo, unaryGrad } from './grad-util.js';

const c = (v: number, d: DType): Expr => E.const(v, d);

/** Relu: max(x, 0). */
export const Relu = unaryOp({
  name: 'Relu', doc: 'max(x, 0).', types: NUMERIC, attrs: {},
  expr: (x, _a, out) => E.call(F.max, [x, c(0, out)], out),
});
declareGradient(Relu, unaryGrad((b, x, _y, g) => gradWhere(b, b.Greater([x, k(b, 0, x)]), g)));
/** LeakyRelu: x ≥ 0 ? x : alpha·x. */
export const LeakyRelu = unaryOp({
  name: 'LeakyRelu', doc: 'x for x ≥ 0, alpha·x below.', types: FLOATS, attrs: { alpha: attr.float(0.01) },
  expr: (x, a, out) => E.call(F.leakyrelu, [x, c(a.alpha, out)], out),
});
declareGradient(LeakyRelu, unaryGrad((b, x, _y, g, a) => b.Where([b.Less([x, k(b, 0, x)]), b.Mul([g, k(b, a.alpha, g)]), g])));
/** Elu: x > 0 ? x : alpha·(e^x − 1). */
export const Elu = unaryOp({
  name: 'Elu', doc: 'Exponential linear unit.', types: FLOATS, attrs: { alpha: attr.float(1) },
  expr: (x, a, out) => E.call(F.elu, [x, c(a.alpha, out)], out),
});
declareGradient(Elu, unaryGrad((b, x, y, g, a) => b.Where([b.Greater([x, k(b, 0, x)]), g, b.Mul([g, b.Add([y, k(b, a.alpha, y)])])])));
/** Selu: gamma·(x > 0 ? x : alpha·(e^x − 1)). */
export const Selu = unaryOp({
  name: 'Selu', doc: 'Scaled exponential linear unit.', types: FLOATS,
  attrs: { alpha: attr.float(1.67326319217681884765625), gamma: attr.float(1.05070102519989013671875) },
  expr: (x, a, out) => E.call(F.selu, [x, c(a.alpha, out), c(a.gamma, out)], out),
});
declareGradient(Selu, unaryGrad((b, x, y, g, a) => b.Mul([g, b.Where([b.Greater([x, k(b, 0, x)]), k(b, a.gamma, x), b.Add([y, k(b, a.alpha * a.gamma, y)])])])));
/** Celu: max(0, x) + min(0, alpha·(e^(x/alpha) − 1)). */
export const Celu = unaryOp({
  name: 'Celu', doc: 'Continuously differentiable exponential linear unit.', types: FLOATS,
  attrs: { alpha: attr.float(1, (v) => (v === 0 ? 'must be nonzero' : undefined)) },
  expr: (x, a, out) => E.call(F.celu, [x, c(a.alpha, out)], out),
});
declareGradient(Celu, unaryGrad((b, x, _y, g, a) => b.Mul([g, b.Min([k(b, 1, x), b.Exp([b.Div([x, k(b, a.alpha, x)])])])])));
/** Sigmoid: 1 / (1 + e^−x). */
export const Sigmoid = unaryFn('Sigmoid', F.sigmoid, FLOATS, 'Logistic sigmoid.');
declareGradient(Sigmoid, unaryGrad((b, _x, y, g) => b.Mul([g, b.Mul([y, b.Sub([k(b, 1, y), y])])])));
/** HardSigmoid: clamp(alpha·x + beta, 0, 1). */
export const HardSigmoid = unaryOp({
  name: 'HardSigmoid', doc: 'Piecewise-linear sigmoid.', types: FLOATS, attrs: { alpha: attr.float(0.2), beta: attr.float(0.5) },
  expr: (x, a, out) => E.call(F.hardsigmoid, [x, c(a.alpha, out), c(a.beta, out)], out),
});
declareGradient(HardSigmoid, unaryGrad((b, _x, y, g, a) => gradWhere(b, b.And([b.Greater([y, k(b, 0, y)]), b.Less([y, k(b, 1, y)])]), b.Mul([g, k(b, a.alpha, g)]))));
/** HardSwish: x·clamp(x/6 + 1/2, 0, 1). */
export const HardSwish = unaryFn('HardSwish', F.hardswish, FLOATS, 'x · HardSigmoid(x) with alpha 1/6, beta 1/2.');
declareGradient(HardSwish, unaryGrad((b, x, _y, g) => {
    const mid = b.Add([b.Div([x, k(b, 3, x)]), k(b, 0.5, x)]);
    return b.Mul([g, b.Where([b.Greater([x, k(b, 3, x)]), k(b, 1, x), b.Where([b.Less([x, k(b, -3, x)]), k(b, 0, x), mid])])]);
  }));
/** Softplus: log(1 + e^x). */
export const Softplus = unaryFn('Softplus', F.softplus, FLOATS, 'log(1 + e^x), computed stably.');
declareGradient(Softplus, unaryGrad((b, x, _y, g) => b.Mul([g, b.Sigmoid([x])])));
/** Softsign: x / (1 + |x|). */
export const Softsign = unaryFn('Softsign', F.softsign, FLOATS, 'x / (1 + |x|).');
declareGradient(Softsign, unaryGrad((b, x, _y, g) => { const d = b.Add([k(b, 1, x), b.Abs([x])]); return b.Div([g, b.Mul([d, d])]); }));
/** Tanh. */
export const Tanh = unaryFn('Tanh', F.tanh, FLOATS, 'Hyperbolic tangent.');
declareGradient(Tanh, unaryGrad((b, _x, y, g) => b.Mul([g, b.Sub([k(b, 1, y), b.Mul([y, y])])])));
/** ThresholdedRelu: x > alpha ? x : 0. */
export const ThresholdedRelu = unaryOp({
  name: 'ThresholdedRelu', doc: 'x above alpha, else 0.', types: FLOATS, attrs: { alpha: attr.float(1) },
  expr: (x, a, out) => E.call(F.thresholdedrelu, [x, c(a.alpha, out)], out),
});
declareGradient(ThresholdedRelu, unaryGrad((b, x, _y, g, a) => gradWhere(b, b.Greater([x, k(b, a.alpha, x)]), g)));
/** Mish: x·tanh(softplus(x)). */
export const Mish = unaryFn('Mish', F.mish, FLOATS, 'x · tanh(softplus(x)).');
declareGradient(Mish, unaryGrad((b, x, _y, g) => { const t = b.Tanh([b.Softplus([x])]); return b.Mul([g, b.Add([t, b.Mul([b.Mul([x, b.Sigmoid([x])]), b.Sub([k(b, 1, t), b.Mul([t, t])])])])]); }));
/** Gelu (opset 20): exact via erf, or the tanh approximation with approximate='tanh'. */
export const Gelu = unaryOp({
  name: 'Gelu', doc: 'Gaussian error linear unit.', types: FLOATS,
  attrs: { approximate: attr.string<'none' | 'tanh'>('none', ['none', 'tanh']) },
  expr: (x, a, out) => E.call(a.approximate === 'tanh' ? F.gelutanh : F.gelu, [x], out),
});
declareGradient(Gelu, unaryGrad((b, x, _y, g, a) => b.Mul([g, a.approximate === 'tanh' ? geluTanhSlope(b, x) : geluSlope(b, x)])));
/** Shrink: x < −lambd ? x + bias : x > lambd ? x − bias : 0. */
export const Shrink = unaryOp({
  name: 'Shrink', doc: 'Soft/hard shrinkage.', types: NUMERIC, ports: ['input', 'output'],
  attrs: { bias: attr.float(0), lambd: attr.float(0.5) },
  expr: (x, a, out) => E.call(F.shrink, [x, c(a.bias, out), c(a.lambd, out)], out),
});
declareGradient(Shrink, unaryGrad((b, x, _y, g, a) => gradWhere(b, b.Greater([b.Abs([x]), k(b, a.lambd, x)]), g)));

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
declareGradient(PRelu, ({ b, inputs: [x, s], grads: [g], wants }) => {
  const neg = b.Less([x!, k(b, 0, x!)]);
  return [
    wants(0) ? b.Where([neg, b.Mul([g!, s!]), g!]) : undefined,
    wants(1) ? sumTo(b, b.Where([neg, b.Mul([g!, x!]), k(b, 0, g!)]), s!) : undefined,
  ];
});

/** d/dx of exact GELU: Φ(x) + x·φ(x). */
function geluSlope(b: GraphBuilder, x: Sym): Sym {
  const cdf = b.Mul([k(b, 0.5, x), b.Add([k(b, 1, x), b.Erf([b.Mul([x, k(b, Math.SQRT1_2, x)])])])]);
  const pdf = b.Mul([k(b, 1 / Math.sqrt(2 * Math.PI), x), b.Exp([b.Mul([b.Mul([x, x]), k(b, -0.5, x)])])]);
  return b.Add([cdf, b.Mul([x, pdf])]);
}

/** d/dx of tanh-approximated GELU 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³). */
function geluTanhSlope(b: GraphBuilder, x: Sym): Sym {
  const c = Math.sqrt(2 / Math.PI);
  const x2 = b.Mul([x, x]);
  const t = b.Tanh([b.Mul([k(b, c, x), b.Add([x, b.Mul([k(b, 0.044715, x), b.Mul([x2, x])])])])]);
  const du = b.Mul([k(b, c, x), b.Add([k(b, 1, x), b.Mul([k(b, 3 * 0.044715, x), x2])])]);
  const half = k(b, 0.5, x);
  return b.Add([b.Mul([half, b.Add([k(b, 1, x), t])]), b.Mul([b.Mul([half, x]), b.Mul([b.Sub([k(b, 1, t), b.Mul([t, t])]), du])])]);
}

/** Activation ops. */
export const activationOps = {
  Relu, LeakyRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid, HardSwish, Softplus, Softsign,
  Tanh, ThresholdedRelu, Mish, Gelu, Shrink, PRelu,
} as const;
