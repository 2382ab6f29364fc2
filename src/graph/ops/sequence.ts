/**
 * Op family: sequences and optionals (ONNX's sequence(tensor) and optional(T)) —
 * SequenceEmpty, SequenceConstruct, SequenceInsert, SequenceAt, SequenceErase,
 * SequenceLength, SplitToSequence, ConcatFromSequence, SequenceMap (a body run per
 * element, held like Loop's: captures after its own inputs), Optional,
 * OptionalHasElement and OptionalGetElement. Types and runtime values are those of
 * src/graph/value.ts; each op's CPU reference is its `run`.
 */
import { attr } from '../attrs.js';
import type { DType } from '../dtype.js';
import { AttributeError, DTypeError, ExecutionError, ShapeError } from '../errors.js';
import type { Graph } from '../graph.js';
import { defineOp, setTrait, type InferInput, type ValueType } from '../op.js';
import { runGraphReference } from '../reference.js';
import { normalizeAxis, type Dim, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import {
  asSequence, asTensor, bareType, commonShape, elemShapeWith, formatType, kindOf, NoneValue, optionalType, sequenceType, TensorSequence, type Value,
} from '../value.js';
import { BODY_INPUT_TYPES, HOLDS_BODIES } from './control.js';
import { ONNX_DTYPE_CODES } from './elementwise-select.js';

/** The input as a sequence type, or a DTypeError naming the node. */
function seqIn(x: InferInput | undefined, node: string, what: string): ValueType {
  if (!x || kindOf(x) !== 'sequence') throw new DTypeError(`${node}: ${what} must be a sequence, got ${x ? formatType(x) : 'nothing'}`, node);
  return x;
}

/** The input as a tensor type, or a DTypeError naming the node. */
function tensorIn(x: InferInput | undefined, node: string, what: string): InferInput {
  if (!x || kindOf(x) !== 'tensor') throw new DTypeError(`${node}: ${what} must be a tensor, got ${x ? formatType(x) : 'nothing'}`, node);
  return x;
}

/** Checks a position input: an int32/int64 tensor of one element. */
function checkPosition(p: InferInput | undefined, node: string): void {
  if (!p) return;
  tensorIn(p, node, 'position');
  if (p.dtype !== 'int64' && p.dtype !== 'int32') throw new DTypeError(`${node}: position must be int32 or int64, got ${p.dtype}`, node);
  if (p.shape.length > 1 || (p.shape.length === 1 && p.shape[0] !== 1)) throw new ShapeError(`${node}: position must be a scalar`, node);
}

/** A position in `[-n, n - 1]` (or `[-n, n]` with `end`), made non-negative. */
function position(p: Value | undefined, n: number, end: boolean, node: string): number {
  const t = asTensor(p, node, 'position');
  if (t.size !== 1) throw new ShapeError(`${node}: position must be a scalar, got ${t}`, node);
  const k = Number(t.data[0]);
  const hi = end ? n : n - 1;
  if (k < -n || k > hi) throw new ShapeError(`${node}: position ${k} is out of range [${-n}, ${hi}] for a sequence of ${n}`, node);
  return k < 0 ? k + n : k;
}

function elemShapeOf(t: ValueType): Shape | undefined {
  return t.elem?.shape;
}

/** The dtype an int attribute (an ONNX TensorProto.DataType code) names, or an AttributeError. */
function dtypeAttr(code: number, node: string, what: string): DType {
  const d = ONNX_DTYPE_CODES[code];
  if (!d) throw new AttributeError(`${node}: attribute '${what}' = ${code} is not a supported ONNX data type`, node);
  return d;
}

/** SequenceEmpty: a sequence with no elements, of dtype `dtype` (default float). */
export const SequenceEmpty = defineOp({
  name: 'SequenceEmpty',
  inputs: [],
  outputs: ['output'],
  attrs: { dtype: attr.int(1) },
  category: 'opaque',
  doc: 'An empty sequence of tensors.',
  infer(_ins, ctx) {
    return [sequenceType(dtypeAttr(ctx.attrs.dtype, ctx.node, 'dtype'), undefined, 0)];
  },
  run(_ins, ctx) {
    return [new TensorSequence(dtypeAttr(ctx.attrs.dtype, ctx.node, 'dtype'), [])];
  },
});

/** SequenceConstruct: a sequence of its inputs (tensors of one dtype). */
export const SequenceConstruct = defineOp({
  name: 'SequenceConstruct',
  inputs: ['...inputs'],
  outputs: ['output_sequence'],
  attrs: {},
  category: 'opaque',
  doc: 'A sequence of the given tensors.',
  infer(ins, ctx) {
    const ts = ins.map((x, i) => tensorIn(x, ctx.node, `input ${i}`));
    const dtype = ts[0]!.dtype;
    for (const t of ts) if (t.dtype !== dtype) throw new DTypeError(`${ctx.node}: SequenceConstruct inputs must share a dtype, got ${dtype} and ${t.dtype}`, ctx.node);
    return [sequenceType(dtype, commonShape(ts.map((t) => t.shape), (i) => ctx.fresh(`elem${i}`)), ts.length)];
  },
  run(ins, ctx) {
    const ts = ins.map((x, i) => asTensor(x, ctx.node, `input ${i}`));
    return [new TensorSequence(ts[0]!.dtype, ts)];
  },
});

/** SequenceInsert: the sequence with `tensor` inserted at `position` (default: at the end). */
export const SequenceInsert = defineOp({
  name: 'SequenceInsert',
  inputs: ['input_sequence', 'tensor', 'position?'],
  outputs: ['output_sequence'],
  attrs: {},
  category: 'opaque',
  doc: 'Inserts a tensor into a sequence.',
  infer([s, t, p], ctx) {
    const seq = seqIn(s, ctx.node, 'input_sequence');
    const x = tensorIn(t, ctx.node, 'tensor');
    if (x.dtype !== seq.dtype) throw new DTypeError(`${ctx.node}: cannot insert a ${x.dtype} tensor into a sequence of ${seq.dtype}`, ctx.node);
    checkPosition(p, ctx.node);
    return [sequenceType(seq.dtype, elemShapeWith(seq, x.shape, (i) => ctx.fresh(`elem${i}`)), seq.length === undefined ? undefined : seq.length + 1)];
  },
  run([s, t, p], ctx) {
    const seq = asSequence(s, ctx.node, 'input_sequence');
    const x = asTensor(t, ctx.node, 'tensor');
    const at = p === undefined ? seq.length : position(p, seq.length, true, ctx.node);
    const items = [...seq.items];
    items.splice(at, 0, x);
    return [new TensorSequence(seq.dtype, items)];
  },
});

/** SequenceAt: the element at `position` (negative counts from the end). */
export const SequenceAt = defineOp({
  name: 'SequenceAt',
  inputs: ['input_sequence', 'position'],
  outputs: ['tensor'],
  attrs: {},
  category: 'opaque',
  doc: 'The element of a sequence at a position.',
  infer([s, p], ctx) {
    const seq = seqIn(s, ctx.node, 'input_sequence');
    checkPosition(p, ctx.node);
    const e = elemShapeOf(seq);
    if (!e) throw new ShapeError(`${ctx.node}: the elements of ${formatType(seq)} differ in rank (or are unknown), so SequenceAt's output cannot be typed`, ctx.node);
    return [{ dtype: seq.dtype, shape: e }];
  },
  run([s, p], ctx) {
    const seq = asSequence(s, ctx.node, 'input_sequence');
    return [seq.items[position(p, seq.length, false, ctx.node)]!];
  },
});

/** SequenceErase: the sequence without the element at `position` (default: the last). */
export const SequenceErase = defineOp({
  name: 'SequenceErase',
  inputs: ['input_sequence', 'position?'],
  outputs: ['output_sequence'],
  attrs: {},
  category: 'opaque',
  doc: 'Removes an element from a sequence.',
  infer([s, p], ctx) {
    const seq = seqIn(s, ctx.node, 'input_sequence');
    checkPosition(p, ctx.node);
    return [sequenceType(seq.dtype, elemShapeOf(seq), seq.length ? seq.length - 1 : undefined)];
  },
  run([s, p], ctx) {
    const seq = asSequence(s, ctx.node, 'input_sequence');
    if (seq.length === 0) throw new ShapeError(`${ctx.node}: cannot erase from an empty sequence`, ctx.node);
    const at = p === undefined ? seq.length - 1 : position(p, seq.length, false, ctx.node);
    return [new TensorSequence(seq.dtype, seq.items.filter((_, i) => i !== at))];
  },
});

/** SequenceLength: the number of elements, as an int64 scalar. */
export const SequenceLength = defineOp({
  name: 'SequenceLength',
  inputs: ['input_sequence'],
  outputs: ['length'],
  attrs: {},
  category: 'opaque',
  doc: 'The number of elements of a sequence.',
  infer([s], ctx) {
    seqIn(s, ctx.node, 'input_sequence');
    return [{ dtype: 'int64', shape: [] }];
  },
  run([s], ctx) {
    return [Tensor.from('int64', [], [asSequence(s, ctx.node, 'input_sequence').length])];
  },
});

/** Copies `[start, start + len)` of `axis` of `t`. */
function sliceRange(t: Tensor, axis: number, start: number, len: number): Tensor {
  const outer = t.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = t.shape[axis]!;
  const out = new Tensor(t.dtype, t.shape.map((d, i) => (i === axis ? len : d)));
  for (let o = 0; o < outer; o++) out.data.set(t.data.subarray((o * n + start) * inner, (o * n + start + len) * inner), o * len * inner);
  return out;
}

/** The split sizes SplitToSequence uses for a dim of `n`, from its `split` input (undefined: pieces of 1). */
function splitSizes(split: Tensor | undefined, n: number, node: string): number[] {
  if (!split) return Array.from({ length: n }, () => 1);
  const v = Array.from(split.data as ArrayLike<number | bigint>, Number);
  if (split.rank === 0) {
    const k = v[0]!;
    if (!(k > 0)) throw new ShapeError(`${node}: split must be positive, got ${k}`, node);
    const out: number[] = [];
    for (let s = 0; s < n; s += k) out.push(Math.min(k, n - s));
    return out;
  }
  if (split.rank !== 1) throw new ShapeError(`${node}: split must be a scalar or a 1-D tensor, got ${split}`, node);
  if (v.some((k) => k < 0) || v.reduce((a, b) => a + b, 0) !== n) throw new ShapeError(`${node}: split sizes [${v.join(', ')}] must be non-negative and sum to ${n}`, node);
  return v;
}

/** SplitToSequence: splits a tensor along `axis` into a sequence (pieces of 1, of a given size, or of given sizes). */
export const SplitToSequence = defineOp({
  name: 'SplitToSequence',
  inputs: ['input', 'split?'],
  outputs: ['output_sequence'],
  attrs: { axis: attr.int(0), keepdims: attr.int(1) },
  category: 'opaque',
  doc: 'Splits a tensor into a sequence of tensors.',
  infer([x, split], ctx) {
    const t = tensorIn(x, ctx.node, 'input');
    const axis = normalizeAxis(ctx.attrs.axis, t.shape.length, ctx.node);
    if (split) {
      tensorIn(split, ctx.node, 'split');
      if (split.dtype !== 'int64' && split.dtype !== 'int32') throw new DTypeError(`${ctx.node}: split must be int32 or int64, got ${split.dtype}`, ctx.node);
      if (split.shape.length > 1) throw new ShapeError(`${ctx.node}: split must be a scalar or a 1-D tensor`, ctx.node);
    }
    let d: Dim | undefined;
    const n = t.shape[axis];
    let sizes: number[] | undefined;
    if (!split) {
      d = 1;
      if (typeof n === 'number') sizes = splitSizes(undefined, n, ctx.node);
    } else if (split.value) {
      sizes = typeof n === 'number' ? splitSizes(split.value, n, ctx.node) : split.value.rank === 1 ? Array.from(split.value.data as ArrayLike<number | bigint>, Number) : undefined;
      if (sizes && sizes.length > 0 && sizes.every((k) => k === sizes![0])) d = sizes[0]!;
    }
    const dim = d ?? ctx.fresh('split');
    const shape = !split && !ctx.attrs.keepdims ? t.shape.filter((_, i) => i !== axis) : t.shape.map((e, i) => (i === axis ? dim : e));
    return [sequenceType(t.dtype, shape, sizes?.length)];
  },
  run([x, split], ctx) {
    const t = asTensor(x, ctx.node, 'input');
    const axis = normalizeAxis(ctx.attrs.axis, t.rank, ctx.node);
    const sizes = splitSizes(split === undefined ? undefined : asTensor(split, ctx.node, 'split'), t.shape[axis]!, ctx.node);
    const squeeze = split === undefined && !ctx.attrs.keepdims;
    let at = 0;
    const items = sizes.map((k) => {
      const part = sliceRange(t, axis, at, k);
      at += k;
      return squeeze ? part.reshape(part.shape.filter((_, i) => i !== axis)) : part;
    });
    return [new TensorSequence(t.dtype, items)];
  },
});

/** ConcatFromSequence: concatenates the elements along `axis` (or stacks them along a new axis with `new_axis`). */
export const ConcatFromSequence = defineOp({
  name: 'ConcatFromSequence',
  inputs: ['input_sequence'],
  outputs: ['concat_result'],
  attrs: { axis: attr.int(), new_axis: attr.int(0) },
  category: 'opaque',
  doc: 'Concatenates (or stacks) the tensors of a sequence.',
  infer([s], ctx) {
    const seq = seqIn(s, ctx.node, 'input_sequence');
    const e = elemShapeOf(seq);
    if (!e) throw new ShapeError(`${ctx.node}: the elements of ${formatType(seq)} differ in rank (or are unknown), so ConcatFromSequence's output cannot be typed`, ctx.node);
    const stack = ctx.attrs.new_axis === 1;
    const axis = normalizeAxis(ctx.attrs.axis, e.length + (stack ? 1 : 0), ctx.node);
    // Known when the sequence's length is and (to concatenate) its elements' dim on the axis.
    const n = seq.length;
    const along = e[axis];
    const total: Dim = n !== undefined && n > 0 && typeof along === 'number' ? n * along : ctx.fresh('concat');
    const shape: Dim[] = stack ? [...e.slice(0, axis), n !== undefined && n > 0 ? n : ctx.fresh('count'), ...e.slice(axis)] : e.map((d, i) => (i === axis ? total : d));
    return [{ dtype: seq.dtype, shape }];
  },
  run([s], ctx) {
    const seq = asSequence(s, ctx.node, 'input_sequence');
    if (seq.length === 0) throw new ShapeError(`${ctx.node}: cannot concatenate an empty sequence`, ctx.node);
    const stack = ctx.attrs.new_axis === 1;
    const rank = seq.items[0]!.rank;
    const axis = normalizeAxis(ctx.attrs.axis, rank + (stack ? 1 : 0), ctx.node);
    const parts = stack ? seq.items.map((t) => t.reshape([...t.shape.slice(0, axis), 1, ...t.shape.slice(axis)])) : seq.items;
    const first = parts[0]!;
    for (const p of parts) {
      if (p.rank !== first.rank || p.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
        throw new ShapeError(`${ctx.node}: sequence elements ${first} and ${p} cannot be concatenated along axis ${axis}`, ctx.node);
      }
    }
    const total = parts.reduce((a, p) => a + p.shape[axis]!, 0);
    const out = new Tensor(seq.dtype, first.shape.map((d, i) => (i === axis ? total : d)));
    const outer = first.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = first.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    let off = 0;
    for (const p of parts) {
      const k = p.shape[axis]!;
      for (let o = 0; o < outer; o++) out.data.set(p.data.subarray(o * k * inner, (o + 1) * k * inner), (o * total + off) * inner);
      off += k;
    }
    return [out];
  },
});

/**
 * SequenceMap: runs `body` once per element of `input_sequence` (and of the other
 * sequence inputs, element by element; tensor inputs are passed whole), each body
 * output collected into an output sequence. Captures follow the op's own inputs.
 */
export const SequenceMap = defineOp({
  name: 'SequenceMap',
  inputs: ['input_sequence', '...additional_inputs'],
  outputs: ['...out_sequence'],
  attrs: { body: attr.graph() },
  category: 'opaque',
  multi: true,
  doc: 'Applies a subgraph to each element of a sequence.',
  outputCount: (_ins, attrs) => (attrs.body as Graph).outputs.length,
  infer(ins, ctx) {
    const body = ctx.attrs.body as Graph;
    const seq = seqIn(ins[0], ctx.node, 'input_sequence');
    if (ins.length < body.inputs.length) throw new ShapeError(`${ctx.node}: SequenceMap body takes ${body.inputs.length} inputs, the node gives ${ins.length}`, ctx.node);
    return body.outputs.map((o) => {
      if (kindOf(o) !== 'tensor') throw new DTypeError(`${ctx.node}: SequenceMap body output '${o.name}' must be a tensor, got ${formatType(o)}`, ctx.node);
      return sequenceType(o.dtype, o.shape, seq.length);
    });
  },
  run(ins, ctx) {
    const body = ctx.attrs.body as Graph;
    const own = body.inputs.length;
    const n = asSequence(ins[0], ctx.node, 'input_sequence').length;
    ins.slice(0, own).forEach((v, k) => {
      if (v instanceof TensorSequence && v.length !== n) throw new ShapeError(`${ctx.node}: input ${k} has ${v.length} elements, input_sequence ${n}`, ctx.node);
    });
    const caps = new Map<string, Value>();
    body.captures.forEach((c, i) => {
      const v = ins[own + i];
      if (!v) throw new ExecutionError(`${ctx.node}: captured value '${c.name}' of body '${body.name}' is not bound`, ctx.node);
      caps.set(c.name, v);
    });
    const outs: Tensor[][] = body.outputs.map(() => []);
    for (let i = 0; i < n; i++) {
      const feeds = new Map(caps);
      body.inputs.forEach((b, k) => {
        const v = ins[k];
        if (!v) throw new ExecutionError(`${ctx.node}: input ${k} is missing`, ctx.node);
        feeds.set(b.name, v instanceof TensorSequence ? v.items[i]! : v);
      });
      runGraphReference(body, feeds).forEach((v, k) => outs[k]!.push(asTensor(v, ctx.node, `body output ${k}`)));
    }
    return outs.map((items, k) => new TensorSequence(body.outputs[k]!.dtype, items));
  },
});

setTrait(SequenceMap, HOLDS_BODIES, true);
setTrait(SequenceMap, BODY_INPUT_TYPES, (_a, ins) => ins.map((t) => (t && kindOf(t) === 'sequence' ? t.elem : t)));

/** Optional: an optional holding `input`, or an empty one of type `type` when there is no input. */
export const Optional = defineOp({
  name: 'Optional',
  inputs: ['input?'],
  outputs: ['output'],
  attrs: { type: attr.optType() },
  category: 'opaque',
  doc: 'Wraps a tensor or sequence as an optional (empty without an input).',
  infer([x], ctx) {
    const t = (ctx.attrs.type as ValueType | undefined) ?? (x ? bareType(x) : undefined);
    if (!t) throw new AttributeError(`${ctx.node}: Optional without an input needs its 'type' attribute`, ctx.node);
    if (kindOf(t) === 'optional') throw new DTypeError(`${ctx.node}: Optional cannot hold an optional`, ctx.node);
    if (x && ctx.attrs.type && (x.dtype !== t.dtype || kindOf(x) !== kindOf(t))) {
      throw new DTypeError(`${ctx.node}: input is ${formatType(x)}, but attribute 'type' says ${formatType(t)}`, ctx.node);
    }
    return [optionalType(x ? bareType(x) : t)];
  },
  run([x], ctx) {
    return [x ?? new NoneValue(ctx.outputs[0])];
  },
});

/** OptionalHasElement: true when the optional holds a value (an omitted input, or an empty optional, gives false). */
export const OptionalHasElement = defineOp({
  name: 'OptionalHasElement',
  inputs: ['input?'],
  outputs: ['output'],
  attrs: {},
  category: 'opaque',
  doc: 'Whether an optional holds a value.',
  infer() {
    return [{ dtype: 'bool', shape: [] }];
  },
  run([x]) {
    return [Tensor.from('bool', [], [x !== undefined && !(x instanceof NoneValue) ? 1 : 0])];
  },
});

/** OptionalGetElement: the value an optional holds (a tensor or sequence input is returned as is). */
export const OptionalGetElement = defineOp({
  name: 'OptionalGetElement',
  inputs: ['input'],
  outputs: ['output'],
  attrs: {},
  category: 'opaque',
  doc: 'The value an optional holds.',
  infer([x], ctx) {
    if (kindOf(x!) !== 'optional') return [bareType(x!)];
    if (!x!.elem) throw new DTypeError(`${ctx.node}: the type held by ${formatType(x!)} is unknown`, ctx.node);
    return [bareType(x!.elem)];
  },
  run([x], ctx) {
    if (x === undefined || x instanceof NoneValue) throw new ExecutionError(`${ctx.node}: OptionalGetElement of an empty optional`, ctx.node);
    return [x];
  },
});

/** The sequence and optional ops. */
export const sequenceOps = {
  SequenceEmpty, SequenceConstruct, SequenceInsert, SequenceAt, SequenceErase, SequenceLength,
  SplitToSequence, ConcatFromSequence, SequenceMap, Optional, OptionalHasElement, OptionalGetElement,
} as const;
