/**
 * Op family: scans — CumSum (cumulative sum along an axis, exclusive and reverse
 * variants).
 */
import { attr } from '../attrs.js';
import { NUMERIC, expectDType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp, type ValueType } from '../op.js';
import { formatShape, normalizeAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { scalarInt } from './index-util.js';
import { splitAround } from './reduce-util.js';
import { declareGradient } from '../gradient.js';

/**
 * CumSum: cumulative sum along the axis given by the second input. `exclusive` leaves
 * out the current element; `reverse` sums from the end.
 */
export const CumSum = defineOp({
  name: 'CumSum',
  inputs: ['x', 'axis'],
  outputs: ['y'],
  attrs: { exclusive: attr.int(0), reverse: attr.int(0) },
  category: 'opaque',
  doc: 'Cumulative sum along an axis.',
  infer([x, axis], ctx): ValueType[] {
    expectDType(x!.dtype, NUMERIC, ctx.node, 'x');
    expectDType(axis!.dtype, ['int32', 'int64'], ctx.node, 'axis');
    if (axis!.shape.length > 1 || (axis!.shape.length === 1 && axis!.shape[0] !== 1)) {
      throw new ShapeError(`${ctx.node}: axis must be a scalar or 1-element tensor, got ${formatShape(axis!.shape)}`, ctx.node);
    }
    if (axis!.value) normalizeAxis(scalarInt(axis!.value, ctx.node, 'axis'), x!.shape.length, ctx.node);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x, axisT], ctx) {
    const axis = normalizeAxis(scalarInt(axisT!, ctx.node, 'axis'), x!.rank, ctx.node);
    const { outer, n, inner } = splitAround(x!.shape, axis);
    const out = new Tensor(x!.dtype, x!.shape);
    const src = x!.data;
    const excl = !!ctx.attrs.exclusive;
    const rev = !!ctx.attrs.reverse;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * n * inner + i;
        let s = 0;
        for (let j = 0; j < n; j++) {
          const p = base + (rev ? n - 1 - j : j) * inner;
          const v = src[p]!;
          if (!excl) s += v;
          out.data[p] = s;
          if (excl) s += v;
        }
      }
    }
    return [out];
  },
});
// The adjoint of a cumulative sum is the cumulative sum the other way (same exclusive).
declareGradient(CumSum, ({ b, inputs: [, axis], grads: [g], attrs }) => [b.CumSum([g!, axis!], { exclusive: attrs.exclusive, reverse: attrs.reverse ? 0 : 1 }), undefined]);

/** The scan ops. */
export const cumsumOps = { CumSum } as const;
