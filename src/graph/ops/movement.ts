/**
 * Op family: data movement — Transpose, Concat, Split, Slice, Tile (padding is in
 * pad.ts, block and sequence rearrangements in rearrange.ts). CPU references are
 * strided copies with precomputed strides.
 */
import { attr } from '../attrs.js';
import { expectDType } from '../dtype.js';
import { AttributeError, DTypeError, ShapeError } from '../errors.js';
import { defineOp, setTrait, type InferInput } from '../op.js';
import { formatShape, normalizeAxis, requireStatic, stridesOf, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { SHAPE_VALUE, vectorValue } from '../shape-values.js';
import { INDEX_DTYPES, expectIndexDType, knownInts, normAxes, permute, prod, stridedCopy, vectorLength } from './index-util.js';
import { declareGradient } from '../gradient.js';
import type { Sym } from '../builder.js';
import { inversePerm, selectAdjoint, zerosLike } from './grad-util.js';

/** Checks that `perm` is a permutation of 0..rank-1. */
function checkPerm(perm: readonly number[], rank: number, node: string): void {
  const seen = new Set(perm);
  if (perm.length !== rank || seen.size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)) {
    throw new AttributeError(`${node}: Transpose perm ${JSON.stringify(perm)} is not a permutation of 0..${rank - 1}`, node);
  }
}

/** Transpose: permutes axes (default: reverses them). */
export const Transpose = defineOp({
  name: 'Transpose',
  inputs: ['data'],
  outputs: ['transposed'],
  attrs: { perm: attr.optInts() },
  category: 'injective',
  doc: 'Permutes the axes.',
  infer([x], ctx) {
    const r = x!.shape.length;
    const perm = ctx.attrs.perm ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    checkPerm(perm, r, ctx.node);
    return [{ dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) }];
  },
  cpu([x], ctx) {
    const r = x!.rank;
    return [permute(x!, ctx.attrs.perm ?? Array.from({ length: r }, (_, i) => r - 1 - i))];
  },
});
declareGradient(Transpose, ({ b, inputs: [x], grads: [g], attrs }) => {
  const r = x!.rank;
  return [b.Transpose([g!], { perm: inversePerm(attrs.perm ?? Array.from({ length: r }, (_, i) => r - 1 - i)) })];
});

/** Merges two dims that must be equal; a number wins over a symbol. */
function mergeDim(a: Dim, b: Dim, node: string, what: string): Dim {
  if (a === b) return a;
  if (typeof a === 'number' && typeof b === 'number') throw new ShapeError(`${node}: ${what}: ${a} vs ${b}`, node);
  return typeof a === 'number' ? a : b;
}

/** Concat: joins tensors along an axis (0-sized inputs allowed). */
export const Concat = defineOp({
  name: 'Concat',
  inputs: ['...inputs'],
  outputs: ['concat_result'],
  attrs: { axis: attr.int() },
  category: 'injective',
  doc: 'Concatenates along an axis.',
  infer(ins, ctx) {
    const xs = ins.filter((t): t is InferInput => t !== undefined);
    if (xs.length === 0) throw new ShapeError(`${ctx.node}: Concat needs at least one input`, ctx.node);
    const first = xs[0]!;
    const r = first.shape.length;
    const axis = normalizeAxis(ctx.attrs.axis, r, ctx.node);
    const out: Dim[] = [...first.shape];
    let sum = 0;
    const syms: Dim[] = [];
    for (const t of xs) {
      if (t.dtype !== first.dtype) throw new DTypeError(`${ctx.node}: Concat inputs have dtypes ${first.dtype} and ${t.dtype}`, ctx.node);
      if (t.shape.length !== r) throw new ShapeError(`${ctx.node}: Concat inputs ${formatShape(first.shape)} and ${formatShape(t.shape)} differ in rank`, ctx.node);
      t.shape.forEach((d, i) => {
        if (i !== axis) out[i] = mergeDim(out[i]!, d, ctx.node, `Concat inputs ${formatShape(first.shape)} and ${formatShape(t.shape)} differ on axis ${i}`);
      });
      const d = t.shape[axis]!;
      if (typeof d === 'number') sum += d;
      else syms.push(d);
    }
    out[axis] = syms.length === 0 ? sum : syms.length === 1 && sum === 0 ? syms[0]! : ctx.fresh(axis);
    return [{ dtype: first.dtype, shape: out }];
  },
  cpu(ins, ctx) {
    const xs = ins.filter((t): t is Tensor => t !== undefined);
    const shape = requireStatic(ctx.outputs[0]!.shape, ctx.node, 'output');
    const axis = normalizeAxis(ctx.attrs.axis, shape.length, ctx.node);
    const out = new Tensor(xs[0]!.dtype, shape);
    const outer = prod(shape, 0, axis);
    const inner = prod(shape, axis + 1);
    const outBlock = shape[axis]! * inner;
    let pos = 0;
    for (const x of xs) {
      const block = x.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) out.data.set(x.data.subarray(o * block, (o + 1) * block), o * outBlock + pos);
      pos += block;
    }
    return [out];
  },
});
// Split the gradient into pieces of the inputs' sizes along the axis.
declareGradient(Concat, ({ b, inputs, grads: [g], attrs, wants }) => {
  const xs = inputs.filter((x): x is Sym => x !== undefined);
  const axis = attrs.axis < 0 ? attrs.axis + g!.rank : attrs.axis;
  if (xs.length === 1) return [g];
  const sizes = b.Concat(xs.map((x) => b.Shape([x], { start: axis, end: axis + 1 })), { axis: 0 });
  const parts = b.Split([g!, sizes], { axis }, { outputs: xs.length });
  let k = 0;
  return inputs.map((x, i) => (x === undefined ? undefined : wants(i) ? parts[k++] : (k++, undefined)));
});

/** Split sizes from the input, the opset<13 attribute, num_outputs (opset 18) or the output count. */
function splitSizes(dim: Dim, given: readonly number[] | undefined, numOutputsAttr: number | undefined, count: number, node: string): readonly Dim[] | undefined {
  if (given) {
    if (given.some((s) => s < 0)) throw new ShapeError(`${node}: Split sizes ${JSON.stringify(given)} must be non-negative`, node);
    const total = given.reduce((a, b) => a + b, 0);
    if (typeof dim === 'number' && total !== dim) throw new ShapeError(`${node}: Split sizes ${JSON.stringify(given)} sum to ${total}, but the axis has ${dim}`, node);
    return given;
  }
  if (typeof dim !== 'number') return undefined;
  if (numOutputsAttr !== undefined) {
    const chunk = Math.ceil(dim / numOutputsAttr);
    return Array.from({ length: numOutputsAttr }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
  }
  if (dim % count !== 0) throw new ShapeError(`${node}: Split axis of size ${dim} cannot be split evenly into ${count} outputs`, node);
  return Array.from({ length: count }, () => dim / count);
}

/** Split: splits along an axis into several outputs (sizes from `split` or equal parts). */
export const Split = defineOp({
  name: 'Split',
  inputs: ['input', 'split?'],
  outputs: ['...outputs'],
  attrs: { axis: attr.int(0), split: attr.optInts(), num_outputs: attr.optInt((v) => (v >= 1 ? undefined : 'must be >= 1')) },
  category: 'injective',
  multi: true,
  shapeInputs: [1],
  doc: 'Splits a tensor into several along an axis.',
  outputCount([, s], attrs) {
    return attrs.split?.length ?? attrs.num_outputs ?? s?.value?.size;
  },
  infer([x, s], ctx) {
    const axis = normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    let given = ctx.attrs.split;
    if (s) {
      expectDType(s.dtype, ['int64'], ctx.node, 'Split split');
      given = knownInts(s);
      if (!given) {
        const n = vectorLength(s, ctx.node, 'Split split');
        return Array.from({ length: n }, (_, i) => ({ dtype: x!.dtype, shape: x!.shape.map((d, a) => (a === axis ? ctx.fresh(i) : d)) }));
      }
    }
    const count = given?.length ?? ctx.attrs.num_outputs ?? ctx.numOutputs;
    if (count !== ctx.numOutputs) {
      throw new ShapeError(`${ctx.node}: Split makes ${count} outputs but the node declares ${ctx.numOutputs} (builder: pass { outputs: ${count} })`, ctx.node);
    }
    const sizes = splitSizes(x!.shape[axis]!, given, ctx.attrs.num_outputs, Math.max(count, 1), ctx.node);
    return Array.from({ length: sizes?.length ?? Math.max(count, 1) }, (_, i) => ({
      dtype: x!.dtype,
      shape: x!.shape.map((d, a) => (a === axis ? sizes?.[i] ?? ctx.fresh(i) : d)),
    }));
  },
  cpu([x], ctx) {
    const axis = normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node);
    const outer = prod(x!.shape, 0, axis);
    const inner = prod(x!.shape, axis + 1);
    const inBlock = x!.shape[axis]! * inner;
    let pos = 0;
    return ctx.outputs.map((o) => {
      const shape = requireStatic(o.shape, ctx.node, 'output');
      const t = new Tensor(x!.dtype, shape);
      const block = shape[axis]! * inner;
      for (let b = 0; b < outer; b++) t.data.set(x!.data.subarray(b * inBlock + pos, b * inBlock + pos + block), b * block);
      pos += block;
      return t;
    });
  },
});
declareGradient(Split, ({ b, outputs, grads, attrs }) => [
  b.Concat(outputs.map((y, i) => grads[i] ?? zerosLike(b, y!)), { axis: attrs.axis }),
  undefined,
]);

/** Huge ends (INT64_MAX-like) mean "to the end". */
const clampInt = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/** One axis of a resolved slice: first index, step and element count. */
interface AxisSlice { readonly start: number; readonly step: number; readonly count: number }

/** Resolves start/end/step against a dim per ONNX Slice (negative counts from the end, clamped). */
export function sliceAxis(dim: number, start: number, end: number, step: number): AxisSlice {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clampInt(s, 0, dim);
    e = clampInt(e, 0, dim);
  } else {
    s = clampInt(s, 0, dim - 1);
    e = clampInt(e, -1, dim - 1);
  }
  const count = Math.max(0, Math.ceil((e - s) / step));
  return { start: count > 0 ? s : 0, step, count };
}

/** Slice parameters from inputs (opset ≥ 10) or attributes (opset 1); undefined where unknown. */
function sliceParams(ins: readonly (InferInput | undefined)[], attrs: { starts?: readonly number[] | undefined; ends?: readonly number[] | undefined; axes?: readonly number[] | undefined }, rank: number, node: string) {
  const [, st, en, ax, sp] = ins;
  for (const [t, n] of [[st, 'starts'], [en, 'ends'], [ax, 'axes'], [sp, 'steps']] as const) {
    if (t) expectIndexDType(t, node, `Slice ${n}`);
  }
  const starts = st ? knownInts(st) : attrs.starts ? [...attrs.starts] : undefined;
  const ends = en ? knownInts(en) : attrs.ends ? [...attrs.ends] : undefined;
  if (!st && !attrs.starts) throw new AttributeError(`${node}: Slice needs starts and ends (inputs, or attributes before opset 10)`, node);
  const axesRaw = ax ? knownInts(ax) : attrs.axes ? [...attrs.axes] : undefined;
  const n = starts?.length ?? (st ? vectorLength(st, node, 'Slice starts') : 0);
  const axes = axesRaw ? normAxes(axesRaw, rank, node) : ax ? undefined : Array.from({ length: n }, (_, i) => i);
  const steps = sp ? knownInts(sp) : Array.from({ length: n }, () => 1);
  if (starts && ends && starts.length !== ends.length) throw new ShapeError(`${node}: Slice starts (${starts.length}) and ends (${ends.length}) differ in length`, node);
  if (steps?.some((s) => s === 0)) throw new ShapeError(`${node}: Slice step 0 is invalid`, node);
  return { starts, ends, axes, steps };
}

/** Slice: strided sub-tensor (negative steps, clamping, huge ends allowed). */
export const Slice = defineOp({
  name: 'Slice',
  inputs: ['data', 'starts?', 'ends?', 'axes?', 'steps?'],
  outputs: ['output'],
  attrs: { starts: attr.optInts(), ends: attr.optInts(), axes: attr.optInts() },
  category: 'injective',
  shapeInputs: [1, 2, 3, 4],
  doc: 'Extracts a strided slice.',
  infer(ins, ctx) {
    const x = ins[0]!;
    const p = sliceParams(ins, ctx.attrs, x.shape.length, ctx.node);
    if (!p.axes) return [{ dtype: x.dtype, shape: x.shape.map((_, i) => ctx.fresh(i)) }];
    const out: Dim[] = [...x.shape];
    p.axes.forEach((a, i) => {
      const d = x.shape[a]!;
      const [s, e, st] = [p.starts?.[i], p.ends?.[i], p.steps?.[i]];
      if (s === undefined || e === undefined || st === undefined) out[a] = ctx.fresh(a);
      else if (typeof d === 'number') out[a] = sliceAxis(d, s, e, st).count;
      else out[a] = s === 0 && st === 1 && e >= 2 ** 31 - 1 ? d : ctx.fresh(a);
    });
    return [{ dtype: x.dtype, shape: out }];
  },
  cpu(ins, ctx) {
    const x = ins[0]!;
    const p = sliceParams(ins.map((t) => (t ? { ...t, value: t } : undefined)), ctx.attrs, x.rank, ctx.node);
    const st = x.strides;
    const shape = [...x.shape];
    const strides = [...st];
    let offset = 0;
    p.axes!.forEach((a, i) => {
      const r = sliceAxis(x.shape[a]!, p.starts![i]!, p.ends![i]!, p.steps![i]!);
      shape[a] = r.count;
      strides[a] = st[a]! * r.step;
      offset += r.start * st[a]!;
    });
    return [new Tensor(x.dtype, shape, stridedCopy(x.data, x.dtype, offset, shape, strides))];
  },
});
declareGradient(Slice, ({ b, inputs: [x, ...rest], grads: [g], attrs }) => [selectAdjoint(b, x!, g!, (i) => b.Slice([i, ...rest], attrs))]);

/** Tile: repeats the input along every axis. */
export const Tile = defineOp({
  name: 'Tile',
  inputs: ['input', 'repeats'],
  outputs: ['output'],
  attrs: {},
  category: 'injective',
  shapeInputs: [1],
  doc: 'Repeats the tensor along each axis.',
  infer([x, rep], ctx) {
    if (!INDEX_DTYPES.includes(rep!.dtype)) throw new DTypeError(`${ctx.node}: Tile repeats must be int64, got ${rep!.dtype}`, ctx.node);
    const r = knownInts(rep);
    if (!r) return [{ dtype: x!.dtype, shape: x!.shape.map((_, i) => ctx.fresh(i)) }];
    if (r.length !== x!.shape.length || r.some((v) => v < 0)) {
      throw new ShapeError(`${ctx.node}: Tile repeats ${JSON.stringify(r)} must be ${x!.shape.length} non-negative values for input ${formatShape(x!.shape)}`, ctx.node);
    }
    return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => (r[i] === 1 ? d : typeof d === 'number' ? d * r[i]! : ctx.fresh(i))) }];
  },
  cpu([x], ctx) {
    const shape = requireStatic(ctx.outputs[0]!.shape, ctx.node, 'output');
    const st = stridesOf(x!.shape);
    const view: number[] = [];
    const vst: number[] = [];
    x!.shape.forEach((d, i) => {
      view.push(d === 0 ? 0 : shape[i]! / d, d);
      vst.push(0, st[i]!);
    });
    return [new Tensor(x!.dtype, shape, stridedCopy(x!.data, x!.dtype, 0, view, vst))];
  },
});
declareGradient(Tile, ({ b, inputs: [x, reps], grads: [g] }) => [selectAdjoint(b, x!, g!, (i) => b.Tile([i, reps!])), undefined]);

/** Movement ops. */
export const movementOps = { Transpose, Concat, Split, Slice, Tile } as const;

// Shape values (shape-values.ts): Concat of shape vectors; Slice of one with known bounds.
setTrait(Concat, SHAPE_VALUE, (vs) => (vs.length > 0 && vs.every((v) => v && !v.scalar) ? vectorValue(vs.flatMap((v) => v!.dims)) : undefined));
setTrait(Slice, SHAPE_VALUE, ([v], types, attrs) => {
  if (!v || v.scalar) return undefined;
  const p = sliceParams(types, attrs as Parameters<typeof sliceParams>[1], 1, '');
  if (!p.axes || !p.starts || !p.ends || !p.steps || p.axes.length !== 1) return undefined;
  const { start, step, count } = sliceAxis(v.dims.length, p.starts[0]!, p.ends[0]!, p.steps[0]!);
  return vectorValue(Array.from({ length: count }, (_, k) => v.dims[start + k * step]!));
});
