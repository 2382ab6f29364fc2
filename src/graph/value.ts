/**
 * Sequence and optional values (ONNX's sequence(tensor) and optional(T)): their
 * types and their runtime form in the CPU reference.
 *
 * Types: a {@link ValueType} with `kind` 'sequence' or 'optional' (absent: a tensor,
 * so all tensor code is unchanged). A sequence's `elem` is its elements' tensor type
 * (dims symbolic where elements differ; undefined when even the rank is unknown); an
 * optional's `elem` is the tensor or sequence type it may hold.
 *
 * Runtime: a sequence is a {@link TensorSequence} (its element dtype and an array of
 * tensors); a present optional is just the value it holds, an absent one a
 * {@link NoneValue}.
 */
import type { DType } from './dtype.js';
import { DTypeError, ExecutionError } from './errors.js';
import type { ValueKind, ValueType } from './op.js';
import { formatShape, type Dim, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

/** A sequence of tensors of one dtype (shapes may differ). Immutable. */
export class TensorSequence {
  /** The elements, in order. */
  readonly items: readonly Tensor[];

  /** Creates a sequence of `items`, each of dtype `dtype` (checked). */
  constructor(readonly dtype: DType, items: readonly Tensor[]) {
    for (const t of items) {
      if (t.dtype !== dtype) throw new DTypeError(`a sequence of ${dtype} cannot hold a ${t.dtype} tensor`);
    }
    this.items = Object.freeze([...items]);
  }

  /** Number of elements. */
  get length(): number { return this.items.length; }

  /** Short description for messages: `seq(float32)[3]`. */
  toString(): string { return `seq(${this.dtype})[${this.items.length}]`; }
}

/** An absent optional value; `type` is the optional's type where known. */
export class NoneValue {
  /** Creates an empty optional of type `type` (an optional ValueType) when known. */
  constructor(readonly type?: ValueType) {}

  /** Short description for messages. */
  toString(): string { return 'none'; }
}

/** A runtime value of the CPU reference: a tensor, a sequence, or an absent optional. */
export type Value = Tensor | TensorSequence | NoneValue;

/** The kind of a type ('tensor' when `kind` is absent). */
export function kindOf(t: ValueType): ValueKind {
  return t.kind ?? 'tensor';
}

/** True for a tensor type (no `kind`, or 'tensor'). */
export function isTensorType(t: ValueType): boolean {
  return kindOf(t) === 'tensor';
}

/** The type of a sequence of `dtype` tensors of shape `elem` (undefined: unknown), of `length` elements where known. */
export function sequenceType(dtype: DType, elem?: Shape, length?: number): ValueType {
  return { dtype, shape: [], kind: 'sequence', elem: elem ? { dtype, shape: elem } : undefined, ...(length !== undefined ? { length } : {}) };
}

/** The type of an optional holding `elem` (a tensor or sequence type). */
export function optionalType(elem: ValueType): ValueType {
  return { dtype: elem.dtype, shape: [], kind: 'optional', elem };
}

/** A type without a value name or constant value (a port's type; kind and element kept). */
export function bareType(v: ValueType): ValueType {
  if (!v.kind) return { dtype: v.dtype, shape: v.shape };
  return { dtype: v.dtype, shape: v.shape, kind: v.kind, elem: v.elem, ...(v.length !== undefined ? { length: v.length } : {}) };
}

/** A type for messages: `float32[2,3]`, `seq(float32[?])`, `opt(seq(float32[3]))`. */
export function formatType(t: ValueType): string {
  switch (kindOf(t)) {
    case 'sequence': return `seq(${t.elem ? formatType(t.elem) : `${t.dtype}[*]`})`;
    case 'optional': return `opt(${t.elem ? formatType(t.elem) : `${t.dtype}`})`;
    default: return `${t.dtype}${formatShape(t.shape)}`;
  }
}

/** One shape covering `shapes`: equal dims kept, others symbolic (`fresh(i)`); undefined if none or ranks differ. */
export function commonShape(shapes: readonly Shape[], fresh: (axis: number) => string): Dim[] | undefined {
  const first = shapes[0];
  if (!first || shapes.some((s) => s.length !== first.length)) return undefined;
  return first.map((d, i) => (shapes.every((s) => s[i] === d) ? d : fresh(i)));
}

/** The type of a runtime value (a sequence's element shape from its elements). */
export function typeOfValue(v: Value): ValueType {
  if (v instanceof Tensor) return { dtype: v.dtype, shape: v.shape };
  if (v instanceof TensorSequence) return sequenceType(v.dtype, commonShape(v.items.map((t) => t.shape), (i) => `seq_dim${i}`), v.length);
  return v.type ?? { dtype: 'float32', shape: [], kind: 'optional', elem: undefined };
}

/** The element shape a sequence type gives its elements; `extra` (a tensor's shape) is joined in: alone when the sequence is known empty. */
export function elemShapeWith(seq: ValueType, extra: Shape, fresh: (axis: number) => string): Dim[] | undefined {
  if (seq.length === 0) return [...extra];
  return seq.elem ? commonShape([seq.elem.shape, extra], fresh) : undefined;
}

/** True if two types are of the same kind all the way down (tensor, sequence of tensor, optional of ...). */
export function sameKinds(a: ValueType, b: ValueType): boolean {
  if (kindOf(a) !== kindOf(b)) return false;
  if (kindOf(a) !== 'optional' || !a.elem || !b.elem) return true;
  return sameKinds(a.elem, b.elem);
}

/**
 * Merges two types of one value (If branches, a Loop's initial and carried value):
 * tensors with `tensors`; sequences by dtype, element shapes with {@link commonShape};
 * an optional with an optional or with what it holds gives an optional. Other mixes
 * are a DTypeError naming `node`.
 */
export function mergeValueTypes(
  a: ValueType,
  b: ValueType,
  node: string,
  what: string,
  fresh: (tag: string) => string,
  tensors: (a: ValueType, b: ValueType) => ValueType,
): ValueType {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka === 'tensor' && kb === 'tensor') return tensors(a, b);
  if (ka === 'optional' || kb === 'optional') {
    const ea = ka === 'optional' ? a.elem : a;
    const eb = kb === 'optional' ? b.elem : b;
    if (!ea || !eb) return optionalType((ea ?? eb) ?? { dtype: a.dtype, shape: [] });
    return optionalType(mergeValueTypes(ea, eb, node, what, fresh, tensors));
  }
  if (ka !== kb) throw new DTypeError(`${node}: ${what} is a ${ka} in one place and a ${kb} in the other`, node);
  if (a.dtype !== b.dtype) throw new DTypeError(`${node}: ${what} is a sequence of ${a.dtype} in one place and of ${b.dtype} in the other`, node);
  // An empty sequence's element type constrains nothing.
  const shape = a.length === 0 ? b.elem?.shape : b.length === 0 ? a.elem?.shape
    : a.elem && b.elem ? commonShape([a.elem.shape, b.elem.shape], (i) => fresh(`${what}_elem${i}`)) : undefined;
  return sequenceType(a.dtype, shape, a.length === b.length ? a.length : undefined);
}

/** The value as a tensor, or an ExecutionError naming `node` (a sequence or absent optional where a tensor is needed). */
export function asTensor(v: Value | undefined, node: string, what: string): Tensor {
  if (v instanceof Tensor) return v;
  throw new ExecutionError(`${node}: ${what} must be a tensor, got ${v === undefined ? 'nothing' : v.toString()}`, node);
}

/** The value as a sequence, or an ExecutionError naming `node`. */
export function asSequence(v: Value | undefined, node: string, what: string): TensorSequence {
  if (v instanceof TensorSequence) return v;
  throw new ExecutionError(`${node}: ${what} must be a sequence, got ${v === undefined ? 'nothing' : v.toString()}`, node);
}

/** The values as tensors (an op's results where only tensors may flow), or an ExecutionError naming `node`. */
export function tensorsOnly(values: readonly Value[], node: string): Tensor[] {
  return values.map((v, i) => asTensor(v, node, `output #${i}`));
}
