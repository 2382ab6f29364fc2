/**
 * Shared machinery of the reduction family: axis resolution (attribute or input form),
 * output-shape inference, and a strided CPU reduction loop.
 *
 * The CPU loop first collapses the input shape into alternating runs of kept and
 * reduced axes (adjacent axes of the same kind merge), then walks the input once in
 * row-major order with an odometer over the collapsed dims, so the innermost run is
 * a tight loop with a fixed output offset (reduced run) or a unit output stride (kept run).
 */
import { dtypeRange, isFloat, type DType } from '../dtype.js';
import { AttributeError, DynamicRankError, ShapeError } from '../errors.js';
import type { InferInput, OpContext } from '../op.js';
import { formatShape, normalizeAxis, type ConcreteShape, type Dim, type Shape } from '../shape.js';
import { Tensor, tensorInts } from '../tensor.js';
import { unknownAxesShape } from './index-util.js';

/** Attributes every Reduce* op shares. */
export interface ReduceAttrs {
  readonly keepdims: number;
  readonly noop_with_empty_axes: number;
  readonly axes: readonly number[] | undefined;
}

/** Resolved axes: a sorted list of distinct axes, 'noop' (return the input), or 'unknown' (input not constant). */
export type ResolvedAxes = readonly number[] | 'noop' | 'unknown';

/**
 * Resolves the axes of a Reduce* node from its `axes` attribute (older opsets) or its
 * optional second input (newer opsets). Empty axes mean every axis, unless
 * `noop_with_empty_axes` is set.
 */
export function resolveAxes(
  axesInput: { value?: Tensor | undefined; shape: Shape } | Tensor | undefined,
  attrs: ReduceAttrs,
  rank: number,
  node: string,
): ResolvedAxes {
  if (axesInput !== undefined && attrs.axes !== undefined) {
    throw new AttributeError(`${node}: axes given both as attribute and as input`, node);
  }
  let list: readonly number[];
  if (axesInput !== undefined) {
    const t = axesInput instanceof Tensor ? axesInput : axesInput.value;
    if (!t) {
      if (axesInput.shape.length === 1 && axesInput.shape[0] === 0) list = [];
      else return 'unknown';
    } else {
      list = tensorInts(t);
    }
  } else {
    list = attrs.axes ?? [];
  }
  if (list.length === 0) {
    if (attrs.noop_with_empty_axes) return 'noop';
    return Array.from({ length: rank }, (_, i) => i);
  }
  const out = new Set<number>();
  for (const a of list) {
    const n = normalizeAxis(a, rank, node);
    if (out.has(n)) throw new ShapeError(`${node}: axis ${a} is repeated in axes [${list.join(',')}]`, node);
    out.add(n);
  }
  return [...out].sort((x, y) => x - y);
}

/** The output shape of reducing `shape` over `axes`. */
export function reducedShape(shape: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/** Output shape of a Reduce* node, or fresh dims when the axes are not known at build time. */
export function inferReduceShape(x: InferInput, axesIn: InferInput | undefined, ctx: OpContext<ReduceAttrs>): Dim[] {
  const axes = resolveAxes(axesIn, ctx.attrs, x.shape.length, ctx.node);
  if (axes === 'noop') return [...x.shape];
  if (axes === 'unknown') {
    if (ctx.attrs.keepdims) return x.shape.map((_, i) => ctx.fresh(i));
    // Without keepdims the axes' count gives the rank (they are distinct; an empty list is known).
    const n = axesIn!.shape.length === 0 ? 1 : axesIn!.shape[0]!;
    if (axesIn!.shape.length > 1) throw new ShapeError(`${ctx.node}: axes must be 1-D, got ${formatShape(axesIn!.shape)}`, ctx.node);
    if (typeof n !== 'number') throw new DynamicRankError(`${ctx.node}: axes of unknown length ${n} with keepdims=0: the output rank is known only at run time`, ctx.node);
    const r = x.shape.length;
    if (n > r) throw new ShapeError(`${ctx.node}: ${n} axes for an input of rank ${r} (${formatShape(x.shape)})`, ctx.node);
    return unknownAxesShape(Array.from({ length: r }, (_, i) => i), n, r - n, (gone) => x.shape.filter((_, i) => !gone.has(i)), ctx.fresh);
  }
  return reducedShape(x.shape, axes, !!ctx.attrs.keepdims);
}

/** A reduction: identity element, per-element accumulation and a final map (count = reduced elements). */
export interface ReduceKind {
  /** Initial accumulator value for a dtype (e.g. -inf for max of floats). */
  init(dtype: DType): number;
  /** Folds one input element into the accumulator. */
  step(acc: number, x: number): number;
  /** Final value from the accumulator and the number of elements reduced. */
  finish?(acc: number, count: number): number;
  /** True if the input should be shifted by its per-output maximum first (log-sum-exp). */
  shiftByMax?: boolean;
}

const lowest = (d: DType): number => (isFloat(d) ? -Infinity : dtypeRange(d).min);
const highest = (d: DType): number => (isFloat(d) ? Infinity : dtypeRange(d).max);

/** Max that propagates NaN (as numpy's maximum). */
function maxNaN(a: number, b: number): number { return a > b || Number.isNaN(a) ? a : b; }
/** Min that propagates NaN. */
function minNaN(a: number, b: number): number { return a < b || Number.isNaN(a) ? a : b; }

/** Accumulation rules of each Reduce* op. */
export const REDUCE_KINDS = {
  ReduceSum: { init: () => 0, step: (a, x) => a + x },
  ReduceMean: { init: () => 0, step: (a, x) => a + x, finish: (a, n) => a / n },
  ReduceMax: { init: lowest, step: maxNaN },
  ReduceMin: { init: highest, step: minNaN },
  ReduceProd: { init: () => 1, step: (a, x) => a * x },
  ReduceL1: { init: () => 0, step: (a, x) => a + Math.abs(x) },
  ReduceL2: { init: () => 0, step: (a, x) => a + x * x, finish: (a) => Math.sqrt(a) },
  ReduceLogSum: { init: () => 0, step: (a, x) => a + x, finish: (a) => Math.log(a) },
  ReduceLogSumExp: { init: () => 0, step: (a, x) => a + Math.exp(x), finish: (a) => Math.log(a), shiftByMax: true },
  ReduceSumSquare: { init: () => 0, step: (a, x) => a + x * x },
} as const satisfies Record<string, ReduceKind>;

/** Collapsed geometry: dims, whether each is reduced, and output strides (0 on reduced dims). */
interface Geometry {
  dims: number[];
  reduced: boolean[];
  outStrides: number[];
  outSize: number;
}

function collapse(shape: ConcreteShape, axes: readonly number[]): Geometry {
  const dims: number[] = [];
  const reduced: boolean[] = [];
  shape.forEach((d, i) => {
    const r = axes.includes(i);
    if (d === 1) return;
    if (dims.length && reduced[reduced.length - 1] === r) dims[dims.length - 1]! *= d;
    else { dims.push(d); reduced.push(r); }
  });
  if (dims.length === 0) { dims.push(1); reduced.push(false); }
  const outStrides = new Array<number>(dims.length).fill(0);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    if (!reduced[i]) { outStrides[i] = acc; acc *= dims[i]!; }
  }
  return { dims, reduced, outStrides, outSize: acc };
}

/**
 * Walks `src` in row-major order and calls `visit(outIndex, inStart, runLength, outStep)` for
 * each innermost run: elements `src[inStart .. inStart+runLength)` map to output indices
 * `outIndex + k*outStep`.
 */
function walk(g: Geometry, total: number, visit: (o: number, i: number, len: number, oStep: number) => void): void {
  const r = g.dims.length;
  const inner = g.dims[r - 1]!;
  const oStep = g.outStrides[r - 1]!;
  if (total === 0) return;
  const idx = new Array<number>(r).fill(0);
  let o = 0;
  for (let i = 0; i < total; i += inner) {
    visit(o, i, inner, oStep);
    for (let a = r - 2; a >= 0; a--) {
      idx[a]!++;
      o += g.outStrides[a]!;
      if (idx[a]! < g.dims[a]!) break;
      o -= g.outStrides[a]! * g.dims[a]!;
      idx[a] = 0;
    }
  }
}

/**
 * Reduces `x` over `axes` (sorted, distinct) with `kind`, giving a tensor of `outShape`
 * and `outDtype`. Accumulates in float64.
 */
export function reduceCpu(x: Tensor, axes: readonly number[], kind: ReduceKind, outShape: ConcreteShape, outDtype: DType): Tensor {
  const g = collapse(x.shape, axes);
  const src = x.data;
  let count = 1;
  for (const a of axes) count *= x.shape[a]!;
  const shift = new Float64Array(g.outSize);
  if (kind.shiftByMax) {
    shift.fill(-Infinity);
    walk(g, x.size, (o, i, len, s) => {
      for (let k = 0; k < len; k++) shift[o + k * s] = maxNaN(shift[o + k * s]!, src[i + k]!);
    });
    for (let k = 0; k < shift.length; k++) if (!Number.isFinite(shift[k]!)) shift[k] = 0;
  }
  const acc = new Float64Array(g.outSize).fill(kind.init(x.dtype));
  const step = kind.step;
  walk(g, x.size, (o, i, len, s) => {
    if (s === 0) {
      let a = acc[o]!;
      const m = shift[o]!;
      for (let k = 0; k < len; k++) a = step(a, src[i + k]! - m);
      acc[o] = a;
    } else {
      for (let k = 0; k < len; k++) acc[o + k * s] = step(acc[o + k * s]!, src[i + k]! - shift[o + k * s]!);
    }
  });
  const out = new Tensor(outDtype, outShape);
  const fin = kind.finish;
  for (let k = 0; k < acc.length; k++) {
    const v = fin ? fin(acc[k]!, count) : acc[k]!;
    out.data[k] = kind.shiftByMax ? v + shift[k]! : v;
  }
  return out;
}

/** Splits `shape` around `axis` into (outer, axis length, inner) element counts. */
export function splitAround(shape: ConcreteShape, axis: number): { outer: number; n: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, n: shape[axis]!, inner };
}
