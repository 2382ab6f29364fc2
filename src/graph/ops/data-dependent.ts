/**
 * Op family: ops whose output shape depends on input values — OneHot (the depth),
 * NonZero, Compress (the mask) and Unique. Inference gives fresh symbolic dims
 * unless the values are known.
 */
import { attr } from '../attrs.js';
import { NUMERIC, expectDType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import { formatShape, normalizeAxis, requireStatic, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { prod, scalarOf } from './index-util.js';

/** Number of non-zero elements of a tensor. */
function countNonZero(t: Tensor): number {
  let n = 0;
  for (let k = 0; k < t.data.length; k++) if (t.data[k] !== 0) n++;
  return n;
}

/** OneHot: one-hot encoding along a new axis; values = [off, on]; indices outside [-depth, depth) give all-off. */
export const OneHot = defineOp({
  name: 'OneHot',
  inputs: ['indices', 'depth', 'values'],
  outputs: ['output'],
  attrs: { axis: attr.int(-1) },
  category: 'opaque',
  shapeInputs: [1],
  doc: 'One-hot encoding.',
  infer([i, d, v], ctx) {
    expectDType(i!.dtype, NUMERIC, ctx.node, 'OneHot indices');
    expectDType(d!.dtype, NUMERIC, ctx.node, 'OneHot depth');
    if (v!.shape.length !== 1 || (typeof v!.shape[0] === 'number' && v!.shape[0] !== 2)) {
      throw new ShapeError(`${ctx.node}: OneHot values must be [off, on] (shape [2]), got ${formatShape(v!.shape)}`, ctx.node);
    }
    const r = i!.shape.length + 1;
    const axis = normalizeAxis(ctx.attrs.axis, r, ctx.node);
    let depth: Dim = ctx.fresh('depth');
    if (d!.value) {
      depth = Math.trunc(scalarOf(d!.value, ctx.node, 'OneHot depth'));
      if (depth < 1) throw new ShapeError(`${ctx.node}: OneHot depth ${depth} must be >= 1`, ctx.node);
    }
    const shape = [...i!.shape];
    shape.splice(axis, 0, depth);
    return [{ dtype: v!.dtype, shape }];
  },
  cpu([ind, , vals], ctx) {
    const shape = requireStatic(ctx.outputs[0]!.shape, ctx.node, 'output');
    const axis = normalizeAxis(ctx.attrs.axis, shape.length, ctx.node);
    const depth = shape[axis]!;
    const out = Tensor.full(vals!.dtype, shape, vals!.data[0]!);
    const on = vals!.data[1]!;
    const inner = prod(shape, axis + 1);
    const idx = ind!.data;
    for (let k = 0; k < idx.length; k++) {
      let j = Math.trunc(idx[k]!);
      if (j < 0) j += depth;
      if (j < 0 || j >= depth) continue;
      const outerI = Math.floor(k / inner);
      out.data[(outerI * depth + j) * inner + (k % inner)] = on;
    }
    return [out];
  },
});

/** NonZero: coordinates of non-zero elements, int64[rank, count] (count is data-dependent). */
export const NonZero = defineOp({
  name: 'NonZero',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {},
  category: 'opaque',
  doc: 'Indices of non-zero elements.',
  infer([x], ctx) {
    let count: Dim = ctx.fresh('count');
    if (x!.value) count = countNonZero(x!.value);
    return [{ dtype: 'int64', shape: [x!.shape.length, count] }];
  },
  cpu([x]) {
    const d = x!.data;
    const r = x!.rank;
    const hits: number[] = [];
    for (let k = 0; k < d.length; k++) if (d[k] !== 0) hits.push(k);
    const out = new Tensor('int64', [r, hits.length]);
    const st = x!.strides;
    hits.forEach((k, j) => {
      let rem = k;
      for (let a = 0; a < r; a++) {
        out.data[a * hits.length + j] = Math.floor(rem / st[a]!);
        rem %= st[a]!;
      }
    });
    return [out];
  },
});

/** Compress: keeps slices along an axis (or of the flattened input) where the condition is true. */
export const Compress = defineOp({
  name: 'Compress',
  inputs: ['input', 'condition'],
  outputs: ['output'],
  attrs: { axis: attr.optInt() },
  category: 'opaque',
  shapeInputs: [1],
  doc: 'Selects slices by a boolean condition.',
  infer([x, c], ctx) {
    expectDType(c!.dtype, ['bool'], ctx.node, 'Compress condition');
    if (c!.shape.length !== 1) throw new ShapeError(`${ctx.node}: Compress condition must be 1-D, got ${formatShape(c!.shape)}`, ctx.node);
    let count: Dim = ctx.fresh('count');
    if (c!.value) count = countNonZero(c!.value);
    if (ctx.attrs.axis === undefined) return [{ dtype: x!.dtype, shape: [count] }];
    const axis = normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    return [{ dtype: x!.dtype, shape: x!.shape.map((d, a) => (a === axis ? count : d)) }];
  },
  cpu([x, c], ctx) {
    const flat = ctx.attrs.axis === undefined;
    const shape = flat ? [x!.size] : x!.shape;
    const axis = flat ? 0 : normalizeAxis(ctx.attrs.axis!, shape.length, ctx.node);
    const dim = shape[axis]!;
    const cond = c!.data;
    if (cond.length > dim) throw new ShapeError(`${ctx.node}: Compress condition has ${cond.length} entries, the axis only ${dim}`, ctx.node);
    const keep: number[] = [];
    for (let j = 0; j < cond.length; j++) if (cond[j]) keep.push(j);
    const outer = prod(shape, 0, axis);
    const inner = prod(shape, axis + 1);
    const outShape = shape.map((d, a) => (a === axis ? keep.length : d));
    const out = new Tensor(x!.dtype, outShape);
    let o = 0;
    for (let b = 0; b < outer; b++) {
      for (const j of keep) {
        const s = (b * dim + j) * inner;
        out.data.set(x!.data.subarray(s, s + inner), o);
        o += inner;
      }
    }
    return [out];
  },
});

/** Unique: unique elements (or slices along `axis`), sorted or in first-occurrence order, with indices, inverse indices and counts. */
export const Unique = defineOp({
  name: 'Unique',
  inputs: ['X'],
  outputs: ['Y', 'indices?', 'inverse_indices?', 'counts?'],
  attrs: { sorted: attr.int(1), axis: attr.optInt() },
  category: 'opaque',
  doc: 'Unique elements or slices.',
  infer([x], ctx) {
    const n = ctx.fresh('unique');
    const flat = ctx.attrs.axis === undefined;
    const axis = flat ? 0 : normalizeAxis(ctx.attrs.axis!, x!.shape.length, ctx.node);
    const y = flat ? [n] : x!.shape.map((d, a) => (a === axis ? n : d));
    const inv = flat ? [x!.shape.reduce<Dim>((p, d) => (typeof p === 'number' && typeof d === 'number' ? p * d : ctx.fresh('size')), 1)] : [x!.shape[axis]!];
    return [{ dtype: x!.dtype, shape: y }, { dtype: 'int64', shape: [n] }, { dtype: 'int64', shape: inv }, { dtype: 'int64', shape: [n] }];
  },
  cpu([x], ctx) {
    const flat = ctx.attrs.axis === undefined;
    const shape = flat ? [x!.size] : x!.shape;
    const axis = flat ? 0 : normalizeAxis(ctx.attrs.axis!, shape.length, ctx.node);
    const dim = shape[axis]!;
    const outer = prod(shape, 0, axis);
    const inner = prod(shape, axis + 1);
    const sliceOf = (j: number): number[] => {
      const s: number[] = [];
      for (let b = 0; b < outer; b++) for (let i = 0; i < inner; i++) s.push(x!.data[(b * dim + j) * inner + i]!);
      return s;
    };
    const firstOf = new Map<string, number>();
    const slices: number[][] = [];
    const order: number[] = [];
    const inverseKey: string[] = [];
    for (let j = 0; j < dim; j++) {
      const s = sliceOf(j);
      const key = s.join(',');
      inverseKey.push(key);
      if (!firstOf.has(key)) { firstOf.set(key, j); order.push(j); }
      slices[j] = s;
    }
    if (ctx.attrs.sorted !== 0) {
      order.sort((a, b) => {
        const sa = slices[a]!, sb = slices[b]!;
        for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return sa[i]! - sb[i]!;
        return 0;
      });
    }
    const pos = new Map<string, number>(order.map((j, u) => [inverseKey[j]!, u]));
    const counts = new Array<number>(order.length).fill(0);
    for (const k of inverseKey) counts[pos.get(k)!]!++;
    const u = order.length;
    const y = new Tensor(x!.dtype, shape.map((d, a) => (a === axis ? u : d)));
    order.forEach((j, q) => {
      const s = slices[j]!;
      for (let b = 0; b < outer; b++) for (let i = 0; i < inner; i++) y.data[(b * u + q) * inner + i] = s[b * inner + i]!;
    });
    return [
      y,
      Tensor.from('int64', [u], order),
      Tensor.from('int64', [dim], inverseKey.map((k) => pos.get(k)!)),
      Tensor.from('int64', [u], counts),
    ];
  },
});

/** The indexing ops defined here. */
export const dataDependentOps = { OneHot, NonZero, Compress, Unique } as const;
