/**
 * Helpers shared by the shape, movement, gather and scatter op families: reading
 * constant integer inputs, index normalization with typed errors, per-axis index
 * walks, and fast strided copies
 * (the one loop behind Transpose, Slice, Expand, Tile and DepthToSpace).
 */
import { allocStorage, ONNX_CODE_DTYPES, type DType, type TypedArray } from '../dtype.js';
import { DTypeError, ExecutionError, ShapeError } from '../errors.js';
import type { InferInput } from '../op.js';
import { formatShape, sizeOf, type ConcreteShape, type Dim } from '../shape.js';
import { Tensor, tensorInts } from '../tensor.js';

/** Integer dtypes accepted for index and shape inputs. */
export const INDEX_DTYPES: readonly DType[] = ['int32', 'int64'];

/** Throws a DTypeError unless an index/shape input is int32 or int64. */
export function expectIndexDType(x: InferInput | Tensor, node: string, what: string): void {
  if (!INDEX_DTYPES.includes(x.dtype)) {
    throw new DTypeError(`${node}: ${what} must be int32 or int64, got ${x.dtype}`, node);
  }
}

/** The integer values of a constant input, or undefined when not known at build time. */
export function knownInts(x: InferInput | undefined): number[] | undefined {
  return x?.value ? tensorInts(x.value) : undefined;
}

/** The integer values of a 1-D (or scalar) input at run time. */
export function ints(t: Tensor): number[] {
  return tensorInts(t);
}

/** The static length of a 1-D shape-like input, or a ShapeError naming the node. */
export function vectorLength(x: InferInput, node: string, what: string): number {
  if (x.shape.length > 1) throw new ShapeError(`${node}: ${what} must be 1-D, got ${formatShape(x.shape)}`, node);
  const n = x.shape.length === 0 ? 1 : x.shape[0]!;
  if (typeof n !== 'number') {
    throw new ShapeError(`${node}: ${what} has unknown length ${n}; its rank decides the output rank`, node);
  }
  return n;
}

/**
 * Normalizes an index against a dim of size `n` (negative counts from the end);
 * throws an ExecutionError naming the node when it falls outside [-n, n).
 */
export function normIndex(i: number, n: number, node: string, what: string): number {
  const j = i < 0 ? i + n : i;
  if (!(j >= 0 && j < n)) throw new ExecutionError(`${node}: ${what} ${i} is out of range for a dim of size ${n}`, node);
  return j;
}

/** Normalizes axes (negative allowed) for rank `rank`, rejecting duplicates. */
export function normAxes(axes: readonly number[], rank: number, node: string): number[] {
  const out = axes.map((a) => {
    const b = a < 0 ? a + rank : a;
    if (!Number.isInteger(b) || b < 0 || b >= rank) throw new ShapeError(`${node}: axis ${a} is out of range for rank ${rank}`, node);
    return b;
  });
  if (new Set(out).size !== out.length) throw new ShapeError(`${node}: axes ${JSON.stringify(axes)} repeat an axis`, node);
  return out;
}

/** Most choices of axes {@link unknownAxesShape} compares (beyond, every output dim is fresh). */
const MAX_AXES_CHOICES = 4096;

/**
 * The output shape (of rank `rank`) of an op whose axes are known only at run time
 * (Squeeze, Unsqueeze, a Reduce* without keepdims): `shapeFor` gives the output for
 * each choice of `count` positions out of `among` (the dims that may be squeezed or
 * reduced, or the output positions an inserted 1 may take). A dim that every choice
 * gives alike is kept (a Squeeze of [2, 1, 3] by one axis is [2, 3] whatever the
 * axis); the others are fresh dims, sized once the axes are known (the CPU reference
 * infers again from the values; a backend that plans ahead reads the axes first).
 */
export function unknownAxesShape(among: readonly number[], count: number, rank: number, shapeFor: (chosen: ReadonlySet<number>) => Dim[], fresh: (t: string | number) => string): Dim[] {
  const out: (Dim | null)[] = new Array<Dim | null>(rank).fill(null);
  let seen = 0;
  const pick = (from: number, chosen: number[]): boolean => {
    if (chosen.length === count) {
      if (++seen > MAX_AXES_CHOICES) return false;
      shapeFor(new Set(chosen)).forEach((d, i) => {
        if (seen === 1) out[i] = d;
        else if (out[i] !== d) out[i] = null;
      });
      return true;
    }
    for (let k = from; k <= among.length - (count - chosen.length); k++) if (!pick(k + 1, [...chosen, among[k]!])) return false;
    return true;
  };
  const complete = pick(0, []);
  return out.map((d, i) => (complete && seen > 0 && d !== null ? d : fresh(`axes${i}`)));
}

/**
 * Copies a strided view of `src` into a new contiguous array: element at output
 * index (i0..ik) reads `src[offset + Σ i_a * strides[a]]`. Strides may be zero
 * (broadcast) or negative (reversed slices). No per-element allocation.
 */
export function stridedCopy(src: TypedArray, dtype: DType, offset: number, fullShape: ConcreteShape, fullStrides: readonly number[]): TypedArray {
  const n = sizeOf(fullShape);
  const dst = allocStorage(dtype, n);
  if (n === 0) return dst;
  // Coalesce: drop size-1 axes and merge neighbours that are contiguous in the source,
  // so contiguous slices and concats become a few large block copies.
  const shape: number[] = [];
  const strides: number[] = [];
  fullShape.forEach((d, a) => {
    if (d === 1) return;
    const k = shape.length - 1;
    if (k >= 0 && strides[k] === fullStrides[a]! * d) {
      shape[k] = shape[k]! * d;
      strides[k] = fullStrides[a]!;
    } else {
      shape.push(d);
      strides.push(fullStrides[a]!);
    }
  });
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[offset]!;
    return dst;
  }
  const inner = shape[rank - 1]!;
  const innerStride = strides[rank - 1]!;
  const outer = n / inner;
  const idx = new Int32Array(rank);
  let base = offset;
  let o = 0;
  for (let b = 0; b < outer; b++) {
    if (innerStride === 1) {
      dst.set(src.subarray(base, base + inner), o);
      o += inner;
    } else {
      let s = base;
      for (let i = 0; i < inner; i++, s += innerStride) dst[o++] = src[s]!;
    }
    for (let a = rank - 2; a >= 0; a--) {
      idx[a]!++;
      base += strides[a]!;
      if (idx[a]! < shape[a]!) break;
      base -= strides[a]! * shape[a]!;
      idx[a] = 0;
    }
  }
  return dst;
}

/** Returns a new tensor with the axes of `x` permuted (`out.shape[i] = x.shape[perm[i]]`). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const st = x.strides;
  const shape = perm.map((p) => x.shape[p]!);
  return new Tensor(x.dtype, shape, stridedCopy(x.data, x.dtype, 0, shape, perm.map((p) => st[p]!)));
}

/** Product of concrete dims from `from` to `to` (exclusive). */
export function prod(shape: ConcreteShape, from = 0, to = shape.length): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= shape[i]!;
  return n;
}

/** Product of possibly symbolic dims; a fresh name when any is symbolic (or the dim itself if it is the only factor). */
export function prodDims(dims: readonly Dim[], fresh: () => string): Dim {
  let n = 1;
  const syms: Dim[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return n;
  if (syms.length === 1 && n === 1) return syms[0]!;
  return n === 0 ? 0 : fresh();
}

/** Reads an element of `t` as a JS number (for scalars held in tensors). */
export function scalarOf(t: Tensor, node: string, what: string): number {
  if (t.size !== 1) throw new ShapeError(`${node}: ${what} must hold one element, got ${t}`, node);
  return t.data[0]!;
}

/** Reads a scalar or one-element integer tensor. */
export function scalarInt(t: Tensor, node: string, what: string): number {
  if (t.size !== 1) throw new ShapeError(`${node}: ${what} must hold one element, got ${t}`, node);
  return tensorInts(t)[0]!;
}

/**
 * Calls `visit(k, target)` for every element k of an index tensor of shape `ishape`,
 * where target is the offset into a tensor of shape `dshape` addressed by the
 * element's coordinates with coordinate `axis` replaced by the (normalized) index.
 */
export function forEachAxisIndex(ishape: readonly number[], indices: TypedArray, dshape: readonly number[], axis: number, node: string, visit: (k: number, target: number) => void): void {
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
export function checkElementsShapes(x: InferInput, i: InferInput, node: string, op: string): void {
  expectIndexDType(i, node, `${op} indices`);
  if (i.shape.length !== x.shape.length) throw new ShapeError(`${node}: ${op} indices ${formatShape(i.shape)} must have the rank of data ${formatShape(x.shape)}`, node);
}

/** ONNX TensorProto data type codes → Kiln dtypes (for `dtype`/`to` attributes). */
export const ONNX_DTYPE: Readonly<Record<number, DType>> = ONNX_CODE_DTYPES;
