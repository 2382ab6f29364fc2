/**
 * Op family: gather — Gather, GatherElements and GatherND read the data at the
 * positions the indices address (the writing counterparts are in scatter.ts).
 * Indices may be int32 or int64 and negative; out-of-range indices raise an
 * ExecutionError naming the node.
 */
import { attr } from '../attrs.js';
import { DTypeError, ShapeError } from '../errors.js';
import { defineOp, setTrait } from '../op.js';
import { formatShape, normalizeAxis, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { knownDims, SHAPE_VALUE } from '../shape-values.js';
import { checkElementsShapes, expectIndexDType, forEachAxisIndex, normIndex, prod } from './index-util.js';
import { declareGradient } from '../gradient.js';
import { selectAdjoint } from './grad-util.js';

/** Gather: picks slices along an axis by index (`out = data[..., indices, ...]`). */
export const Gather = defineOp({
  name: 'Gather',
  inputs: ['data', 'indices'],
  outputs: ['output'],
  attrs: { axis: attr.int(0) },
  category: 'injective',
  doc: 'Gathers slices along an axis.',
  infer([x, i], ctx) {
    expectIndexDType(i!, ctx.node, 'Gather indices');
    const axis = normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    return [{ dtype: x!.dtype, shape: [...x!.shape.slice(0, axis), ...i!.shape, ...x!.shape.slice(axis + 1)] }];
  },
  cpu([x, ind], ctx) {
    const axis = normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node);
    const dim = x!.shape[axis]!;
    const outer = prod(x!.shape, 0, axis);
    const inner = prod(x!.shape, axis + 1);
    const idx = ind!.data;
    const nIdx = idx.length;
    const norm = new Float64Array(nIdx);
    for (let j = 0; j < nIdx; j++) norm[j] = normIndex(idx[j]!, dim, ctx.node, `Gather index`);
    const shape = [...x!.shape.slice(0, axis), ...ind!.shape, ...x!.shape.slice(axis + 1)];
    const out = new Tensor(x!.dtype, shape);
    const src = x!.data;
    const dst = out.data;
    let o = 0;
    for (let b = 0; b < outer; b++) {
      const base = b * dim * inner;
      for (let j = 0; j < nIdx; j++, o += inner) {
        const s = base + norm[j]! * inner;
        if (inner === 1) dst[o] = src[s]!;
        else dst.set(src.subarray(s, s + inner), o);
      }
    }
    return [out];
  },
});
declareGradient(Gather, ({ b, inputs: [x, idx], grads: [g], attrs }) => [selectAdjoint(b, x!, g!, (i) => b.Gather([i, idx!], attrs)), undefined]);

/** GatherElements: `out[i][j] = data[index[i][j]][j]` (for axis 0), shaped like indices. */
export const GatherElements = defineOp({
  name: 'GatherElements',
  inputs: ['data', 'indices'],
  outputs: ['output'],
  attrs: { axis: attr.int(0) },
  category: 'injective',
  doc: 'Gathers single elements along an axis.',
  infer([x, i], ctx) {
    checkElementsShapes(x!, i!, ctx.node, 'GatherElements');
    normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    return [{ dtype: x!.dtype, shape: i!.shape }];
  },
  cpu([x, ind], ctx) {
    const axis = normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node);
    const out = new Tensor(x!.dtype, ind!.shape);
    const src = x!.data;
    const dst = out.data;
    forEachAxisIndex(ind!.shape, ind!.data, x!.shape, axis, ctx.node, (k, t) => { dst[k] = src[t]!; });
    return [out];
  },
});
declareGradient(GatherElements, ({ b, inputs: [x, idx], grads: [g], attrs }) => [selectAdjoint(b, x!, g!, (i) => b.GatherElements([i, idx!], attrs)), undefined]);

/** Output shape of GatherND (and the updates shape ScatterND expects). */
export function gatherNDShape(x: readonly Dim[], i: readonly Dim[], b: number, node: string): Dim[] {
  const q = i.length;
  const last = i[q - 1];
  if (q < 1 || typeof last !== 'number') throw new ShapeError(`${node}: GatherND indices ${formatShape(i)} need a known last dim`, node);
  if (b >= q || b >= x.length || last > x.length - b) throw new ShapeError(`${node}: GatherND indices ${formatShape(i)} do not fit data ${formatShape(x)} with batch_dims=${b}`, node);
  return [...i.slice(0, q - 1), ...x.slice(b + last)];
}

/** GatherND: gathers slices addressed by index tuples (with leading batch dims). */
export const GatherND = defineOp({
  name: 'GatherND',
  inputs: ['data', 'indices'],
  outputs: ['output'],
  attrs: { batch_dims: attr.int(0, (v) => (v >= 0 ? undefined : 'must be >= 0')) },
  category: 'injective',
  doc: 'Gathers slices by index tuples.',
  infer([x, i], ctx) {
    if (i!.dtype !== 'int64') throw new DTypeError(`${ctx.node}: GatherND indices must be int64, got ${i!.dtype}`, ctx.node);
    return [{ dtype: x!.dtype, shape: gatherNDShape(x!.shape, i!.shape, ctx.attrs.batch_dims, ctx.node) }];
  },
  cpu([x, ind], ctx) {
    const b = ctx.attrs.batch_dims;
    const ishape = ind!.shape;
    const k = ishape[ishape.length - 1]!;
    const out = new Tensor(x!.dtype, gatherNDShape(x!.shape, ishape, b, ctx.node) as number[]);
    const st = x!.strides;
    const batches = prod(x!.shape, 0, b);
    const perBatch = prod(ishape, b, ishape.length - 1);
    const slice = prod(x!.shape, b + k);
    const batchStride = prod(x!.shape, b);
    const src = x!.data;
    const dst = out.data;
    const idx = ind!.data;
    let o = 0;
    for (let bi = 0; bi < batches; bi++) {
      for (let j = 0; j < perBatch; j++) {
        let off = bi * batchStride;
        const t = (bi * perBatch + j) * k;
        for (let a = 0; a < k; a++) off += normIndex(idx[t + a]!, x!.shape[b + a]!, ctx.node, 'GatherND index') * st[b + a]!;
        dst.set(src.subarray(off, off + slice), o);
        o += slice;
      }
    }
    return [out];
  },
});

/** The gather ops. */
export const gatherOps = { Gather, GatherElements, GatherND } as const;

// Shape values (shape-values.ts): known indices picking dims of a shape vector.
setTrait(Gather, SHAPE_VALUE, ([data, idx], _t, attrs) => {
  const ids = knownDims(idx);
  if (!data || data.scalar || !ids || !idx || (attrs.axis as number) !== 0) return undefined;
  const n = data.dims.length;
  if (ids.some((i) => i < -n || i >= n)) return undefined;
  return { dims: ids.map((i) => data.dims[i < 0 ? i + n : i]!), scalar: idx.scalar };
});
