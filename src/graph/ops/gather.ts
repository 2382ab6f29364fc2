/**
 * Op family: indexing — Gather, GatherElements, GatherND, ScatterElements (and its
 * opset-9 alias Scatter), ScatterND, with OneHot, NonZero, Compress and Unique in
 * gather-extra.ts. Indices may be int32 or int64 and negative; out-of-range indices
 * raise an ExecutionError naming the node.
 */
import { attr } from '../attrs.js';
import type { TypedArray } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { defineOp, type InferInput } from '../op.js';
import { formatShape, normalizeAxis, sizeOf, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expectIndexDType, normIndex, prod } from './index-util.js';
import { gatherExtraOps } from './gather-extra.js';

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

/**
 * Calls `visit(k, target)` for every element k of an index tensor of shape `ishape`,
 * where target is the offset into a tensor of shape `dshape` addressed by the
 * element's coordinates with coordinate `axis` replaced by the (normalized) index.
 */
function forEachAxisIndex(ishape: readonly number[], indices: TypedArray, dshape: readonly number[], axis: number, node: string, visit: (k: number, target: number) => void): void {
  const rank = ishape.length;
  ishape.forEach((d, a) => {
    if (a !== axis && d > dshape[a]!) throw new ShapeError(`${node}: indices ${formatShape(ishape)} exceed data ${formatShape(dshape)} on axis ${a}`, node);
  });
  const dst = new Array<number>(rank);
  for (let a = rank - 1, acc = 1; a >= 0; a--) { dst[a] = acc; acc *= dshape[a]!; }
  const n = sizeOf(ishape);
  const idx = new Int32Array(rank);
  let base = 0; // offset from all coordinates except `axis`
  const dim = dshape[axis]!;
  const axStride = dst[axis]!;
  for (let k = 0; k < n; k++) {
    visit(k, base + normIndex(indices[k]!, dim, node, 'index') * axStride);
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      if (a !== axis) base += dst[a]!;
      if (idx[a]! < ishape[a]!) break;
      if (a !== axis) base -= dst[a]! * ishape[a]!;
      idx[a] = 0;
    }
  }
}

/** Checks index tensors against data for GatherElements/ScatterElements. */
function checkElementsShapes(x: InferInput, i: InferInput, node: string, op: string): void {
  expectIndexDType(i, node, `${op} indices`);
  if (i.shape.length !== x.shape.length) throw new ShapeError(`${node}: ${op} indices ${formatShape(i.shape)} must have the rank of data ${formatShape(x.shape)}`, node);
}

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

/** Output shape of GatherND. */
function gatherNDShape(x: readonly Dim[], i: readonly Dim[], b: number, node: string): Dim[] {
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

type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';
/** How a scatter combines the existing value with an update. */
const REDUCE: Record<Reduction, (a: number, b: number) => number> = {
  none: (_a, b) => b,
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  max: (a, b) => Math.max(a, b),
  min: (a, b) => Math.min(a, b),
};
const reductionAttr = () => attr.string<Reduction>('none', ['none', 'add', 'mul', 'max', 'min']);

/** Shared definition of ScatterElements and Scatter (opset 9). */
function scatterElementsSpec<N extends string>(name: N, withReduction: boolean) {
  return {
    name,
    inputs: ['data', 'indices', 'updates'],
    outputs: ['output'],
    attrs: { axis: attr.int(0), reduction: reductionAttr() },
    category: 'opaque' as const,
    doc: withReduction ? 'Writes updates into a copy of data at per-element indices.' : 'Opset-9 alias of ScatterElements.',
    infer([x, i, u]: readonly (InferInput | undefined)[], ctx: { node: string; attrs: { axis: number } }) {
      checkElementsShapes(x!, i!, ctx.node, name);
      normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
      if (u!.dtype !== x!.dtype) throw new DTypeError(`${ctx.node}: ${name} updates have dtype ${u!.dtype}, data ${x!.dtype}`, ctx.node);
      if (u!.shape.length !== i!.shape.length || u!.shape.some((d, a) => typeof d === 'number' && typeof i!.shape[a] === 'number' && d !== i!.shape[a])) {
        throw new ShapeError(`${ctx.node}: ${name} updates ${formatShape(u!.shape)} must match indices ${formatShape(i!.shape)}`, ctx.node);
      }
      return [{ dtype: x!.dtype, shape: x!.shape }];
    },
    cpu([x, ind, upd]: readonly (Tensor | undefined)[], ctx: { node: string; attrs: { axis: number; reduction: Reduction } }) {
      const axis = normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node);
      const out = new Tensor(x!.dtype, x!.shape, x!.data.slice());
      const f = REDUCE[ctx.attrs.reduction];
      const dst = out.data;
      const u = upd!.data;
      forEachAxisIndex(ind!.shape, ind!.data, x!.shape, axis, ctx.node, (k, t) => { dst[t] = f(dst[t]!, u[k]!); });
      return [out];
    },
  };
}

/** ScatterElements: copy of data with updates written (or reduced) at per-element indices. */
export const ScatterElements = defineOp(scatterElementsSpec('ScatterElements', true));
/** Scatter: the deprecated opset-9/10 name of ScatterElements. */
export const Scatter = defineOp(scatterElementsSpec('Scatter', false));

/** ScatterND: copy of data with update slices written (or reduced) at index tuples. */
export const ScatterND = defineOp({
  name: 'ScatterND',
  inputs: ['data', 'indices', 'updates'],
  outputs: ['output'],
  attrs: { reduction: reductionAttr() },
  category: 'opaque',
  doc: 'Writes update slices at index tuples.',
  infer([x, i, u], ctx) {
    if (i!.dtype !== 'int64') throw new DTypeError(`${ctx.node}: ScatterND indices must be int64, got ${i!.dtype}`, ctx.node);
    if (u!.dtype !== x!.dtype) throw new DTypeError(`${ctx.node}: ScatterND updates have dtype ${u!.dtype}, data ${x!.dtype}`, ctx.node);
    const want = gatherNDShape(x!.shape, i!.shape, 0, ctx.node);
    if (want.length !== u!.shape.length || want.some((d, a) => typeof d === 'number' && typeof u!.shape[a] === 'number' && d !== u!.shape[a])) {
      throw new ShapeError(`${ctx.node}: ScatterND updates ${formatShape(u!.shape)} must have shape ${formatShape(want)}`, ctx.node);
    }
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x, ind, upd], ctx) {
    const ishape = ind!.shape;
    const k = ishape[ishape.length - 1]!;
    const out = new Tensor(x!.dtype, x!.shape, x!.data.slice());
    const st = x!.strides;
    const n = prod(ishape, 0, ishape.length - 1);
    const slice = prod(x!.shape, k);
    const f = REDUCE[ctx.attrs.reduction];
    const dst = out.data;
    const u = upd!.data;
    const idx = ind!.data;
    for (let j = 0; j < n; j++) {
      let off = 0;
      for (let a = 0; a < k; a++) off += normIndex(idx[j * k + a]!, x!.shape[a]!, ctx.node, 'ScatterND index') * st[a]!;
      for (let e = 0; e < slice; e++) dst[off + e] = f(dst[off + e]!, u[j * slice + e]!);
    }
    return [out];
  },
});

/** Gather/scatter ops. */
export const gatherOps = { Gather, GatherElements, GatherND, ScatterElements, Scatter, ScatterND, ...gatherExtraOps } as const;
