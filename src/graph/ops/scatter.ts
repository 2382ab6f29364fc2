/**
 * Op family: scatter — ScatterElements (and its opset-9 alias Scatter) and
 * ScatterND: a copy of the data with updates written, or combined by a reduction,
 * at the positions the indices address. Indices may be int32 or int64 (ScatterND:
 * int64) and negative; out-of-range indices raise an ExecutionError naming the node.
 */
import { attr } from '../attrs.js';
import { DTypeError, ShapeError } from '../errors.js';
import { defineOp, type InferInput } from '../op.js';
import { formatShape, normalizeAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { gatherNDShape } from './gather.js';
import { checkElementsShapes, forEachAxisIndex, normIndex, prod } from './index-util.js';
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

/** The scatter ops. */
export const scatterOps = { ScatterElements, Scatter, ScatterND } as const;
