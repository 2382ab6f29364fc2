/**
 * Op family: Softmax, LogSoftmax and Hardmax in their opset-13 form (one axis,
 * default -1). Pre-13 models (flatten to 2-D at `axis`) are rewritten by the importer.
 *
 * The CPU reference subtracts each row's maximum before exponentiating, so large inputs
 * do not overflow. A row whose elements are all -inf gives NaN, as the ONNX reference does.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType, type TypedArray } from '../dtype.js';
import { defineOp, type ValueType } from '../op.js';
import { normalizeAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { splitAround } from './reduce-util.js';
import { declareGradient } from '../gradient.js';
import { ints } from './grad-util.js';

/** Writes one row's result: `n` elements of `src` at `base + k*inner` into `dst` at the same offsets. */
type RowFn = (src: ArrayLike<number>, dst: TypedArray, base: number, n: number, inner: number, tmp: Float64Array) => void;

function rowMax(src: ArrayLike<number>, base: number, n: number, inner: number): number {
  let m = -Infinity;
  for (let k = 0; k < n; k++) {
    const v = src[base + k * inner]!;
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

const softmaxRow: RowFn = (src, dst, base, n, inner, tmp) => {
  const m = rowMax(src, base, n, inner);
  let s = 0;
  for (let k = 0; k < n; k++) {
    const e = Math.exp(src[base + k * inner]! - m);
    tmp[k] = e;
    s += e;
  }
  const r = 1 / s;
  for (let k = 0; k < n; k++) dst[base + k * inner] = tmp[k]! * r;
};

const logSoftmaxRow: RowFn = (src, dst, base, n, inner) => {
  const m = rowMax(src, base, n, inner);
  let s = 0;
  for (let k = 0; k < n; k++) s += Math.exp(src[base + k * inner]! - m);
  const ls = Math.log(s);
  for (let k = 0; k < n; k++) dst[base + k * inner] = src[base + k * inner]! - m - ls;
};

const hardmaxRow: RowFn = (src, dst, base, n, inner) => {
  let best = 0;
  for (let k = 1; k < n; k++) if (src[base + k * inner]! > src[base + best * inner]!) best = k;
  for (let k = 0; k < n; k++) dst[base + k * inner] = k === best ? 1 : 0;
};

function defineSoftmaxLike(name: 'Softmax' | 'LogSoftmax' | 'Hardmax', row: RowFn, doc: string) {
  return defineOp({
    name,
    inputs: ['input'],
    outputs: ['output'],
    attrs: { axis: attr.int(-1) },
    category: 'opaque',
    doc,
    infer([x], ctx): ValueType[] {
      expectDType(x!.dtype, FLOATS, ctx.node, 'input');
      normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
      return [{ dtype: x!.dtype, shape: x!.shape }];
    },
    cpu([x], ctx) {
      const axis = normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node);
      const { outer, n, inner } = splitAround(x!.shape, axis);
      const out = new Tensor(x!.dtype, x!.shape);
      const src = x!.data;
      const tmp = new Float64Array(n);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) row(src, out.data, o * n * inner + i, n, inner, tmp);
      }
      return [out];
    },
  });
}

/** Softmax: exp(x) / sum(exp(x)) along `axis` (default -1). */
export const Softmax = defineSoftmaxLike('Softmax', softmaxRow, 'Normalized exponential along an axis.');
/** LogSoftmax: x - log(sum(exp(x))) along `axis` (default -1). */
export const LogSoftmax = defineSoftmaxLike('LogSoftmax', logSoftmaxRow, 'Log of softmax along an axis.');
/** Hardmax: 1 at the first maximum along `axis`, 0 elsewhere. */
export const Hardmax = defineSoftmaxLike('Hardmax', hardmaxRow, 'One-hot of the first maximum along an axis.');

// dx = y·(g − Σ g·y) and dx = g − e^y·Σ g, the sums along the axis.
declareGradient(Softmax, ({ b, outputs: [y], grads: [g], attrs }) => [
  b.Mul([y!, b.Sub([g!, b.ReduceSum([b.Mul([g!, y!]), ints(b, [attrs.axis])], { keepdims: 1 })])]),
]);
declareGradient(LogSoftmax, ({ b, outputs: [y], grads: [g], attrs }) => [
  b.Sub([g!, b.Mul([b.Exp([y!]), b.ReduceSum([g!, ints(b, [attrs.axis])], { keepdims: 1 })])]),
]);

/** Softmax-family ops. */
export const softmaxOps = { Softmax, LogSoftmax, Hardmax } as const;
