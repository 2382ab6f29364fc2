/**
 * Op family: shape manipulation — Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze,
 * Expand, ConstantOfShape, Range, Dropout (inference form), EyeLike.
 * Shape inputs are read from constant values when known at build time; otherwise
 * output dims get fresh symbolic names.
 */
import { attr } from '../attrs.js';
import { ALL, NUMERIC, expectDType, type DType } from '../dtype.js';
import { AttributeError, DTypeError, DynamicRankError, ExecutionError, ShapeError } from '../errors.js';
import { defineOp, setTrait, type InferInput, type ValueType } from '../op.js';
import { broadcastShapes, formatShape, requireStatic, type Dim, type Shape as DimList } from '../shape.js';
import { broadcastStrides } from '../reference.js';
import { Tensor } from '../tensor.js';
import { SHAPE_VALUE, vectorValue } from '../shape-values.js';
import { seedKey, uniform01 } from './random.js';
import { ONNX_DTYPE, knownInts, normAxes, prodDims, scalarOf, stridedCopy, unknownAxesShape, vectorLength } from './index-util.js';
import { declareGradient } from '../gradient.js';
import { sumTo } from './grad-util.js';

/** Fresh dims, one per axis, for outputs whose shape values are unknown at build time. */
function freshDims(n: number, fresh: (t: string | number) => string, tag = ''): Dim[] {
  return Array.from({ length: n }, (_, i) => fresh(`${tag}${i}`));
}

/** Output type of a pure re-view of `x` with the given shape. */
function sameData(x: Tensor, out: ValueType | undefined, node: string): Tensor {
  return x.reshape(requireStatic(out!.shape, node, 'output shape'));
}

/** Shape: the input's shape as an int64 vector (opset 15 `start`/`end` slice it). */
export const Shape = defineOp({
  name: 'Shape',
  inputs: ['data'],
  outputs: ['shape'],
  attrs: { start: attr.int(0), end: attr.optInt() },
  category: 'opaque',
  shapeOnly: true,
  doc: 'The shape of a tensor as int64[rank] (optionally sliced by start/end).',
  infer([x], ctx) {
    const r = x!.shape.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const s = clamp(ctx.attrs.start);
    const e = clamp(ctx.attrs.end ?? r);
    return [{ dtype: 'int64', shape: [Math.max(e - s, 0)] }];
  },
  cpu([x], ctx) {
    const r = x!.rank;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const dims = x!.shape.slice(clamp(ctx.attrs.start), clamp(ctx.attrs.end ?? r));
    return [Tensor.from('int64', [dims.length], dims)];
  },
});

/** Size: the number of elements of the input, as an int64 scalar. */
export const Size = defineOp({
  name: 'Size',
  inputs: ['data'],
  outputs: ['size'],
  attrs: {},
  category: 'opaque',
  shapeOnly: true,
  doc: 'Number of elements as an int64 scalar.',
  infer() {
    return [{ dtype: 'int64', shape: [] }];
  },
  cpu([x]) {
    return [Tensor.scalar('int64', x!.size)];
  },
});

/** Splits dims into a numeric product and a multiset of symbolic names. */
function factor(dims: readonly Dim[]): { num: number; syms: string[] } {
  let num = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') num *= d;
    else syms.push(d);
  }
  return { num, syms };
}

/**
 * Output shape of Reshape: `0` copies the input dim (unless allowzero), `-1` is
 * inferred. Symbolic dims that appear on both sides cancel, so
 * [batch,128,256] → [0,0,4,64] gives [batch,128,4,64] and [batch,8,64] → [-1,512] gives [batch,512].
 */
export function reshapeDims(inShape: DimList, target: readonly number[], allowzero: boolean, node: string, fresh: () => string): Dim[] {
  const out: Dim[] = target.map((t, i) => {
    if (t === 0 && !allowzero) {
      if (i >= inShape.length) throw new ShapeError(`${node}: Reshape target ${JSON.stringify(target)} copies dim ${i} (0) but the input ${formatShape(inShape)} has rank ${inShape.length}`, node);
      return inShape[i]!;
    }
    if (t < -1 || !Number.isInteger(t)) throw new ShapeError(`${node}: Reshape target ${JSON.stringify(target)} has invalid dim ${t}`, node);
    return t;
  });
  const inferAt = out.indexOf(-1);
  if (out.lastIndexOf(-1) !== inferAt) throw new ShapeError(`${node}: Reshape target ${JSON.stringify(target)} has more than one -1`, node);
  if (allowzero && inferAt >= 0 && target.includes(0)) throw new ShapeError(`${node}: Reshape target ${JSON.stringify(target)} has both -1 and 0 with allowzero=1`, node);
  const inF = factor(inShape);
  const outF = factor(out.filter((_, i) => i !== inferAt));
  const rest = [...inF.syms];
  const outRest: string[] = [];
  for (const s of outF.syms) {
    const k = rest.indexOf(s);
    if (k >= 0) rest.splice(k, 1);
    else outRest.push(s);
  }
  const mismatch = () => new ShapeError(`${node}: cannot reshape ${formatShape(inShape)} to ${JSON.stringify(target)} (element counts differ)`, node);
  if (inferAt < 0) {
    if (rest.length === 0 && outRest.length === 0 && inF.num !== outF.num) throw mismatch();
    return out;
  }
  if (outRest.length > 0) {
    out[inferAt] = fresh();
  } else if (rest.length === 0) {
    if (outF.num === 0 || inF.num % outF.num !== 0) throw mismatch();
    out[inferAt] = inF.num / outF.num;
  } else if (rest.length === 1 && inF.num === outF.num) {
    out[inferAt] = rest[0]!;
  } else {
    out[inferAt] = fresh();
  }
  return out;
}

/** Reshape (opset 14 with allowzero; the opset-1 `shape` attribute is also accepted). */
export const Reshape = defineOp({
  name: 'Reshape',
  inputs: ['data', 'shape?'],
  outputs: ['reshaped'],
  attrs: { allowzero: attr.int(0), shape: attr.optInts() },
  category: 'injective',
  shapeInputs: [1],
  doc: 'Gives the data a new shape (0 copies a dim, -1 is inferred).',
  infer([x, s], ctx) {
    let target: readonly number[] | undefined = ctx.attrs.shape;
    if (s) {
      expectDType(s.dtype, ['int64'], ctx.node, 'Reshape shape');
      target = knownInts(s);
      if (!target) return [{ dtype: x!.dtype, shape: freshDims(vectorLength(s, ctx.node, 'Reshape shape'), ctx.fresh) }];
    }
    if (!target) throw new AttributeError(`${ctx.node}: Reshape needs a shape input (or the opset-1 shape attribute)`, ctx.node);
    return [{ dtype: x!.dtype, shape: reshapeDims(x!.shape, target, ctx.attrs.allowzero === 1, ctx.node, () => ctx.fresh('d')) }];
  },
  cpu([x], ctx) {
    return [sameData(x!, ctx.outputs[0], ctx.node)];
  },
});
declareGradient(Reshape, ({ b, inputs: [x], grads: [g] }) => [b.Reshape([g!, b.Shape([x!])])]);

/** Flatten: 2-D view [d0*…*d(axis-1), d(axis)*…]. */
export const Flatten = defineOp({
  name: 'Flatten',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { axis: attr.int(1) },
  category: 'injective',
  doc: 'Flattens to 2-D around an axis.',
  infer([x], ctx) {
    const r = x!.shape.length;
    const a = ctx.attrs.axis < 0 ? ctx.attrs.axis + r : ctx.attrs.axis;
    if (a < 0 || a > r) throw new ShapeError(`${ctx.node}: Flatten axis ${ctx.attrs.axis} is out of range for ${formatShape(x!.shape)}`, ctx.node);
    return [{ dtype: x!.dtype, shape: [prodDims(x!.shape.slice(0, a), () => ctx.fresh(0)), prodDims(x!.shape.slice(a), () => ctx.fresh(1))] }];
  },
  cpu([x], ctx) {
    return [sameData(x!, ctx.outputs[0], ctx.node)];
  },
});
declareGradient(Flatten, ({ b, inputs: [x], grads: [g] }) => [b.Reshape([g!, b.Shape([x!])])]);

/**
 * Axes from the opset-13 input or the older attribute; undefined if neither. An axes
 * input whose values are known only at run time gives their count (`unknown`): it
 * decides the output rank; an axes input of unknown length is a DynamicRankError (the
 * rank is then known only once the sizes are: the session types the graph per input
 * sizes and small integer input values).
 */
function axesOf(input: InferInput | undefined, attrAxes: readonly number[] | undefined, node: string): number[] | { unknown: number } | undefined {
  if (input) {
    expectDType(input.dtype, ['int64'], node, 'axes');
    const v = knownInts(input);
    if (v) return v;
    if (input.shape.length > 1) throw new ShapeError(`${node}: axes must be 1-D, got ${formatShape(input.shape)}`, node);
    const n = input.shape.length === 0 ? 1 : input.shape[0]!;
    if (typeof n !== 'number') throw new DynamicRankError(`${node}: axes of unknown length ${n}: the output rank is known only at run time`, node);
    return n === 0 ? [] : { unknown: n };
  }
  return attrAxes ? [...attrAxes] : undefined;
}

/** Squeeze: removes axes of size 1 (all of them when no axes are given). */
export const Squeeze = defineOp({
  name: 'Squeeze',
  inputs: ['data', 'axes?'],
  outputs: ['squeezed'],
  attrs: { axes: attr.optInts() },
  category: 'injective',
  shapeInputs: [1],
  doc: 'Removes dims of size 1.',
  infer([x, ax], ctx) {
    const shape = x!.shape;
    const axes = axesOf(ax, ctx.attrs.axes, ctx.node);
    if (axes && !Array.isArray(axes)) {
      // The axes are known at run time: `unknown` of the dims that may be 1 go.
      const may = shape.flatMap((d, i) => (d === 1 || typeof d !== 'number' ? [i] : []));
      if (axes.unknown > may.length) throw new ShapeError(`${ctx.node}: Squeeze of ${axes.unknown} axes of ${formatShape(shape)}, which has ${may.length} dims that may be 1`, ctx.node);
      const out = unknownAxesShape(may, axes.unknown, shape.length - axes.unknown, (gone) => shape.filter((_, i) => !gone.has(i)), ctx.fresh);
      return [{ dtype: x!.dtype, shape: out }];
    }
    if (!axes) {
      // Without axes every dim of size 1 goes: a symbolic dim may be 1 at run time, so
      // the output rank is not known until the sizes are (the caller types the graph
      // again once they are: the session per input sizes, see DynamicRankError).
      const open = shape.findIndex((d) => typeof d !== 'number');
      if (open >= 0) {
        throw new DynamicRankError(`${ctx.node}: Squeeze without axes of ${formatShape(shape)}: whether dim ${open} (${String(shape[open])}) is 1, and so the output rank, is known only at run time`, ctx.node);
      }
      return [{ dtype: x!.dtype, shape: shape.filter((d) => d !== 1) }];
    }
    const norm = normAxes(axes, shape.length, ctx.node);
    for (const a of norm) {
      if (typeof shape[a] === 'number' && shape[a] !== 1) {
        throw new ShapeError(`${ctx.node}: Squeeze axis ${a} of ${formatShape(shape)} has size ${shape[a]}, not 1`, ctx.node);
      }
    }
    return [{ dtype: x!.dtype, shape: shape.filter((_, i) => !norm.includes(i)) }];
  },
  cpu([x], ctx) {
    return [sameData(x!, ctx.outputs[0], ctx.node)];
  },
});
declareGradient(Squeeze, ({ b, inputs: [x], grads: [g] }) => [b.Reshape([g!, b.Shape([x!])])]);

/** Unsqueeze: inserts axes of size 1 (axes relative to the output rank). */
export const Unsqueeze = defineOp({
  name: 'Unsqueeze',
  inputs: ['data', 'axes?'],
  outputs: ['expanded'],
  attrs: { axes: attr.optInts() },
  category: 'injective',
  shapeInputs: [1],
  doc: 'Inserts dims of size 1.',
  infer([x, ax], ctx) {
    const axes = axesOf(ax, ctx.attrs.axes, ctx.node);
    if (!axes) throw new AttributeError(`${ctx.node}: Unsqueeze needs axes (input, or attribute before opset 13)`, ctx.node);
    if (!Array.isArray(axes)) {
      // The axes are known at run time: `unknown` 1s go somewhere among the output's dims.
      const rank = x!.shape.length + axes.unknown;
      const positions = Array.from({ length: rank }, (_, i) => i);
      const out = unknownAxesShape(positions, axes.unknown, rank, (ones) => {
        let k = 0;
        return positions.map((i) => (ones.has(i) ? 1 : x!.shape[k++]!));
      }, ctx.fresh);
      return [{ dtype: x!.dtype, shape: out }];
    }
    const rank = x!.shape.length + axes.length;
    const norm = normAxes(axes, rank, ctx.node);
    const out: Dim[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : x!.shape[k++]!);
    return [{ dtype: x!.dtype, shape: out }];
  },
  cpu([x], ctx) {
    return [sameData(x!, ctx.outputs[0], ctx.node)];
  },
});
declareGradient(Unsqueeze, ({ b, inputs: [x], grads: [g] }) => [b.Reshape([g!, b.Shape([x!])])]);

/** Expand: broadcasts the input to a shape (bidirectionally, like numpy). */
export const Expand = defineOp({
  name: 'Expand',
  inputs: ['input', 'shape'],
  outputs: ['output'],
  attrs: {},
  category: 'injective',
  shapeInputs: [1],
  doc: 'Broadcasts to a shape.',
  infer([x, s], ctx) {
    expectDType(s!.dtype, ['int64'], ctx.node, 'Expand shape');
    const v = knownInts(s);
    if (!v) {
      const n = vectorLength(s!, ctx.node, 'Expand shape');
      const shape = freshDims(Math.max(n, x!.shape.length), ctx.fresh);
      return [{ dtype: x!.dtype, shape }];
    }
    return [{ dtype: x!.dtype, shape: broadcastShapes([x!.shape, v], ctx.node) }];
  },
  cpu([x], ctx) {
    const shape = requireStatic(ctx.outputs[0]!.shape, ctx.node, 'output');
    return [new Tensor(x!.dtype, shape, stridedCopy(x!.data, x!.dtype, 0, shape, broadcastStrides(x!.shape, shape)))];
  },
});
declareGradient(Expand, ({ b, inputs: [x], grads: [g] }) => [sumTo(b, g!, x!)]);

/** ConstantOfShape: a tensor of the given shape filled with `value` (default float32 0). */
export const ConstantOfShape = defineOp({
  name: 'ConstantOfShape',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { value: attr.optTensor() },
  category: 'opaque',
  shapeInputs: [0],
  doc: 'A tensor of a given shape filled with one value.',
  infer([s], ctx) {
    expectDType(s!.dtype, ['int64'], ctx.node, 'ConstantOfShape input');
    const dtype = ctx.attrs.value?.dtype ?? 'float32';
    if (ctx.attrs.value && ctx.attrs.value.size !== 1) throw new AttributeError(`${ctx.node}: ConstantOfShape value must hold one element, got ${ctx.attrs.value}`, ctx.node);
    const v = knownInts(s);
    return [{ dtype, shape: v ?? freshDims(vectorLength(s!, ctx.node, 'ConstantOfShape input'), ctx.fresh) }];
  },
  cpu(_ins, ctx) {
    const out = ctx.outputs[0]!;
    return [Tensor.full(out.dtype, requireStatic(out.shape, ctx.node, 'output'), ctx.attrs.value?.data[0] ?? 0)];
  },
});

/** Range: start, start+delta, … up to (not including) limit. */
export const Range = defineOp({
  name: 'Range',
  inputs: ['start', 'limit', 'delta'],
  outputs: ['output'],
  attrs: {},
  category: 'opaque',
  shapeInputs: [0, 1, 2],
  doc: 'An arithmetic sequence [start, limit) by delta.',
  infer(ins, ctx) {
    const [s, l, d] = ins as InferInput[];
    expectDType(s!.dtype, ['float32', 'float64', 'int16', 'int32', 'int64'], ctx.node, 'Range start');
    if (l!.dtype !== s!.dtype || d!.dtype !== s!.dtype) {
      throw new DTypeError(`${ctx.node}: Range inputs have dtypes ${s!.dtype}, ${l!.dtype}, ${d!.dtype}; they must match`, ctx.node);
    }
    for (const [t, n] of [[s, 'start'], [l, 'limit'], [d, 'delta']] as const) {
      if (t!.shape.length !== 0 && !(t!.shape.length === 1 && t!.shape[0] === 1)) throw new ShapeError(`${ctx.node}: Range ${n} must be a scalar, got ${formatShape(t!.shape)}`, ctx.node);
    }
    if (!s!.value || !l!.value || !d!.value) return [{ dtype: s!.dtype, shape: [ctx.fresh(0)] }];
    const delta = scalarOf(d!.value, ctx.node, 'delta');
    if (delta === 0) throw new ShapeError(`${ctx.node}: Range delta is 0`, ctx.node);
    const n = Math.max(Math.ceil((scalarOf(l!.value, ctx.node, 'limit') - scalarOf(s!.value, ctx.node, 'start')) / delta), 0);
    return [{ dtype: s!.dtype, shape: [n] }];
  },
  cpu([s, , d], ctx) {
    const out = new Tensor(s!.dtype, requireStatic(ctx.outputs[0]!.shape, ctx.node, 'output'));
    const start = s!.data[0]!;
    const delta = d!.data[0]!;
    for (let i = 0; i < out.size; i++) out.data[i] = start + i * delta;
    return [out];
  },
});

/**
 * The ratio of a Dropout: input `ratio` (opset 12+), else the attribute (older forms),
 * else 0.5; a ShapeError naming the node outside [0, 1).
 */
export function dropoutRatio(ratio: Tensor | undefined, attrRatio: number | undefined, node: string): number {
  const r = ratio ? Number(ratio.data[0]) : attrRatio ?? 0.5;
  if (!(r >= 0 && r < 1)) throw new ShapeError(`${node}: Dropout ratio must be in [0, 1), got ${r}`, node);
  return r;
}

/**
 * Dropout: at inference (training_mode absent or false) the identity, with an all-true
 * mask. In training mode each element is kept with probability 1 − ratio and scaled
 * by 1 / (1 − ratio), the others are 0; the mask says which were kept. The draws are
 * the random family's counter-based stream (uniform01 of the seed's key and the
 * element index, kept when ≥ ratio), so the WebGPU kernel draws the same mask.
 */
export const Dropout = defineOp({
  name: 'Dropout',
  inputs: ['data', 'ratio?', 'training_mode?'],
  outputs: ['output', 'mask?'],
  attrs: { seed: attr.optInt(), ratio: attr.optFloat(), is_test: attr.optInt() },
  category: 'injective',
  doc: 'Dropout: identity at inference; in training mode, zeroes elements with probability ratio and scales the rest.',
  infer([x, , tm], ctx) {
    expectDType(x!.dtype, NUMERIC, ctx.node, 'Dropout data');
    if (tm && tm.dtype !== 'bool') throw new DTypeError(`${ctx.node}: Dropout training_mode must be bool, got ${tm.dtype}`, ctx.node);
    return [{ dtype: x!.dtype, shape: x!.shape }, { dtype: 'bool', shape: x!.shape }];
  },
  cpu([x, ratio, tm], ctx) {
    if (!tm || !tm.data[0]) return [x!, Tensor.full('bool', x!.shape, 1)];
    const r = dropoutRatio(ratio, ctx.attrs.ratio, ctx.node);
    const key = seedKey(ctx.attrs.seed);
    const scale = 1 / (1 - r);
    const y = new Tensor(x!.dtype, x!.shape);
    const mask = new Tensor('bool', x!.shape);
    for (let i = 0; i < x!.size; i++) {
      const keep = uniform01(key, i) >= r;
      mask.data[i] = keep ? 1 : 0;
      y.data[i] = keep ? Number(x!.data[i]) * scale : 0;
    }
    return [y, mask];
  },
});
// The same node applied to the gradient: same seed and element indices, so the same mask and scale.
declareGradient(Dropout, ({ b, inputs: [, ratio, tm], grads: [g], attrs }) => [b.Dropout([g!, ratio, tm], attrs)]);

/** EyeLike: a 2-D tensor with ones on the k-th diagonal, shaped like the input. */
export const EyeLike = defineOp({
  name: 'EyeLike',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { k: attr.int(0), dtype: attr.optInt() },
  category: 'opaque',
  doc: 'Identity-like matrix with ones on diagonal k.',
  infer([x], ctx) {
    if (x!.shape.length !== 2) throw new ShapeError(`${ctx.node}: EyeLike input must be 2-D, got ${formatShape(x!.shape)}`, ctx.node);
    let dtype: DType = x!.dtype;
    if (ctx.attrs.dtype !== undefined) {
      const d = ONNX_DTYPE[ctx.attrs.dtype];
      if (!d) throw new AttributeError(`${ctx.node}: EyeLike dtype ${ctx.attrs.dtype} is not a supported ONNX data type`, ctx.node);
      dtype = d;
    }
    expectDType(dtype, ALL, ctx.node, 'EyeLike output');
    return [{ dtype, shape: x!.shape }];
  },
  cpu([x], ctx) {
    const out = new Tensor(ctx.outputs[0]!.dtype, x!.shape);
    const [h, w] = x!.shape as [number, number];
    const k = ctx.attrs.k;
    for (let i = Math.max(0, -k); i < h && i + k < w; i++) out.data[i * w + i + k] = 1;
    return [out];
  },
});

/** Shape ops. */
export const shapeOps = { Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Expand, ConstantOfShape, Range, Dropout, EyeLike } as const;

// Shape values (shape-values.ts): Shape of a partly symbolic shape lists its dims;
// Squeeze/Unsqueeze turn a one-element vector into a scalar and back.
setTrait(Shape, SHAPE_VALUE, (_v, [x], attrs) => {
  const r = x!.shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  return vectorValue(x!.shape.slice(clamp(attrs.start as number), clamp((attrs.end as number | undefined) ?? r)));
});
setTrait(Squeeze, SHAPE_VALUE, ([v]) => (v && !v.scalar && v.dims.length === 1 ? { dims: v.dims, scalar: true } : undefined));
setTrait(Unsqueeze, SHAPE_VALUE, ([v]) => (v?.scalar ? { dims: v.dims, scalar: false } : undefined));
