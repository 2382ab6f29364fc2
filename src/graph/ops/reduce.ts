/**
 * Op family: reductions (Reduce*) and ArgMax/ArgMin.
 *
 * Every Reduce* op accepts its axes either as the `axes` attribute (older opsets) or as
 * the optional second input (ReduceSum ≥ 13, the others ≥ 18); giving both is an error.
 * Empty axes reduce every axis unless `noop_with_empty_axes` is set (then the input is
 * returned unchanged). Reducing a 0-sized axis gives the op's identity: 0 for sums,
 * 1 for products, -inf/+inf (or the dtype's min/max for integers) for max/min.
 */
import { attr } from '../attrs.js';
import { NUMERIC, expectDType, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import { normalizeAxis, type ConcreteShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { REDUCE_KINDS, inferReduceShape, reduceCpu, reducedShape, resolveAxes, splitAround, type ReduceKind } from './reduce-util.js';
import type { GraphBuilder, Sym } from '../builder.js';
import { declareGradient, GradientError } from '../gradient.js';
import { gradWhere, unreduce } from './grad-util.js';

const reduceAttrs = {
  keepdims: attr.int(1),
  noop_with_empty_axes: attr.int(0),
  axes: attr.optInts(),
};

function defineReduce(name: keyof typeof REDUCE_KINDS, doc: string, dtypes: readonly DType[] = NUMERIC) {
  const kind: ReduceKind = REDUCE_KINDS[name];
  return defineOp({
    name,
    inputs: ['data', 'axes?'],
    outputs: ['reduced'],
    attrs: reduceAttrs,
    category: 'reduction',
    shapeInputs: [1],
    doc,
    infer([x, axes], ctx) {
      expectDType(x!.dtype, dtypes, ctx.node, 'data');
      if (axes) {
        expectDType(axes.dtype, ['int64'], ctx.node, 'axes');
        if (axes.shape.length !== 1) {
          throw new ShapeError(`${ctx.node}: axes input must be 1-D, got shape [${axes.shape.join(',')}]`, ctx.node);
        }
      }
      return [{ dtype: x!.dtype, shape: inferReduceShape(x!, axes, ctx) }];
    },
    cpu([x, axesT], ctx) {
      const axes = resolveAxes(axesT, ctx.attrs, x!.rank, ctx.node);
      if (axes === 'noop') return [x!];
      if (axes === 'unknown') throw new ShapeError(`${ctx.node}: axes are unknown at run time`, ctx.node);
      const shape = reducedShape(x!.shape, axes, !!ctx.attrs.keepdims) as ConcreteShape;
      return [reduceCpu(x!, axes, kind, shape, x!.dtype)];
    },
  });
}

/** ReduceSum: sum over the given axes. */
export const ReduceSum = defineReduce('ReduceSum', 'Sum over axes.');
/** ReduceMean: arithmetic mean over the given axes. */
export const ReduceMean = defineReduce('ReduceMean', 'Mean over axes.');
/** ReduceMax: maximum over the given axes. */
export const ReduceMax = defineReduce('ReduceMax', 'Maximum over axes (bool too, opset 20: any).', [...NUMERIC, 'bool']);
/** ReduceMin: minimum over the given axes. */
export const ReduceMin = defineReduce('ReduceMin', 'Minimum over axes (bool too, opset 20: all).', [...NUMERIC, 'bool']);
/** ReduceProd: product over the given axes. */
export const ReduceProd = defineReduce('ReduceProd', 'Product over axes.');
/** ReduceL1: sum of absolute values over the given axes. */
export const ReduceL1 = defineReduce('ReduceL1', 'L1 norm over axes.');
/** ReduceL2: square root of the sum of squares over the given axes. */
export const ReduceL2 = defineReduce('ReduceL2', 'L2 norm over axes.');
/** ReduceLogSum: log of the sum over the given axes. */
export const ReduceLogSum = defineReduce('ReduceLogSum', 'Log of sum over axes.');
/** ReduceLogSumExp: log(sum(exp(x))) over the given axes, computed stably. */
export const ReduceLogSumExp = defineReduce('ReduceLogSumExp', 'Log-sum-exp over axes.');
/** ReduceSumSquare: sum of squares over the given axes. */
export const ReduceSumSquare = defineReduce('ReduceSumSquare', 'Sum of squares over axes.');

/**
 * The gradient of a Reduce* op: `spread(b, x, y, g)` gives dL/dx from the input, the
 * output and its gradient, both already broadcast back to x's shape (and the output as it is).
 */
function declareReduceGradient(op: ReturnType<typeof defineReduce>, spread: (b: GraphBuilder, x: Sym, y: Sym, g: Sym, reduced: Sym) => Sym): void {
  declareGradient(op, ({ b, inputs: [x, axesIn], outputs: [y], grads: [g], attrs, node }) => {
    const axes = resolveAxes(axesIn, attrs, x!.rank, node);
    if (axes === 'noop') return [g, undefined];
    if (axes === 'unknown') throw new GradientError(`${node}: the gradient of ${op.name} needs constant axes`, node);
    const back = (v: Sym): Sym => unreduce(b, v, x!, axes, !!attrs.keepdims);
    return [spread(b, x!, back(y!), back(g!), y!), undefined];
  });
}
declareReduceGradient(ReduceSum, (_b, _x, _y, g) => g);
declareReduceGradient(ReduceMean, (b, x, _y, g, y) => b.Div([g, b.CastLike([b.Div([b.Size([x]), b.Size([y])]), x])]));
declareReduceGradient(ReduceMax, (b, x, y, g) => gradWhere(b, b.Equal([x, y]), g));
declareReduceGradient(ReduceMin, (b, x, y, g) => gradWhere(b, b.Equal([x, y]), g));
declareReduceGradient(ReduceProd, (b, x, y, g) => b.Div([b.Mul([g, y]), x]));
declareReduceGradient(ReduceL1, (b, x, _y, g) => b.Mul([g, b.Sign([x])]));
declareReduceGradient(ReduceL2, (b, x, y, g) => b.Div([b.Mul([g, x]), y]));
declareReduceGradient(ReduceLogSum, (b, _x, y, g) => b.Div([g, b.Exp([y])]));
declareReduceGradient(ReduceLogSumExp, (b, x, y, g) => b.Mul([g, b.Exp([b.Sub([x, y])])]));
declareReduceGradient(ReduceSumSquare, (b, x, _y, g) => b.Mul([g, b.Add([x, x])]));

const argAttrs = { axis: attr.int(0), keepdims: attr.int(1), select_last_index: attr.int(0) };

function defineArg(name: 'ArgMax' | 'ArgMin', better: (a: number, b: number) => boolean, doc: string) {
  return defineOp({
    name,
    inputs: ['data'],
    outputs: ['reduced'],
    attrs: argAttrs,
    category: 'reduction',
    doc,
    infer([x], ctx) {
      expectDType(x!.dtype, NUMERIC, ctx.node, 'data');
      const axis = normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
      return [{ dtype: 'int64', shape: reducedShape(x!.shape, [axis], !!ctx.attrs.keepdims) }];
    },
    cpu([x], ctx) {
      const axis = normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node);
      if (x!.shape[axis] === 0) throw new ShapeError(`${ctx.node}: ${name} over an empty axis ${axis} of ${x}`, ctx.node);
      const { outer, n, inner } = splitAround(x!.shape, axis);
      const out = new Tensor('int64', reducedShape(x!.shape, [axis], !!ctx.attrs.keepdims) as ConcreteShape);
      const src = x!.data;
      const last = !!ctx.attrs.select_last_index;
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * n * inner + i;
          let best = src[base]!;
          let bi = 0;
          for (let k = 1; k < n; k++) {
            const v = src[base + k * inner]!;
            if (better(v, best) || (last && v === best)) { best = v; bi = k; }
          }
          out.data[o * inner + i] = bi;
        }
      }
      return [out];
    },
  });
}

/** ArgMax: index of the largest element along `axis` (first, or last with select_last_index). */
export const ArgMax = defineArg('ArgMax', (a, b) => a > b, 'Index of the maximum along an axis.');
/** ArgMin: index of the smallest element along `axis` (first, or last with select_last_index). */
export const ArgMin = defineArg('ArgMin', (a, b) => a < b, 'Index of the minimum along an axis.');

/** Reduction ops. */
export const reduceOps = {
  ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
  ReduceLogSum, ReduceLogSumExp, ReduceSumSquare, ArgMax, ArgMin,
} as const;
