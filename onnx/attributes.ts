/**
 * AttributeProto → attribute values, and the `Constant` node's `value_*` variants
 * folded into one tensor. A GRAPH attribute becomes a {@link PendingSubgraph} that the
 * importer converts once the enclosing scope's types are known; GRAPHS attributes are
 * kept as protos (no op takes them) and sparse tensors raise UnsupportedOpError.
 */
import type { AttrValue } from '../src/graph/attrs.js';
import { ModelFormatError, UnsupportedOpError } from '../src/graph/errors.js';
import { Tensor } from '../src/graph/tensor.js';
import { onnx, type pb } from './proto.js';
import { dtypeFromOnnx, longToNumber, tensorFromProto, type TensorDecodeOptions } from './tensor-proto.js';
import { containerTypeFromProto, dimsFromProto } from './value-types.js';

const T = onnx.AttributeProto.AttributeType;
const utf8 = new TextDecoder();

/** A GRAPH attribute not yet converted: the importer turns it into a Graph in its enclosing scope. */
export class PendingSubgraph {
  constructor(readonly proto: pb.IGraphProto) {}
}

type Conv = (a: pb.IAttributeProto, where: string, opts: TensorDecodeOptions) => AttrValue;

const CONVERT: ReadonlyMap<number, Conv> = new Map<number, Conv>([
  [T.FLOAT, (a) => a.f ?? 0],
  [T.INT, (a) => longToNumber(a.i)],
  [T.STRING, (a) => utf8.decode(a.s ?? new Uint8Array())],
  [T.TENSOR, (a, w, o) => tensorFromProto(a.t ?? {}, w, o)],
  [T.FLOATS, (a) => [...(a.floats ?? [])]],
  [T.INTS, (a) => (a.ints ?? []).map(longToNumber)],
  [T.STRINGS, (a) => (a.strings ?? []).map((s) => utf8.decode(s))],
  [T.GRAPH, (a) => new PendingSubgraph(a.g ?? {})],
  [T.GRAPHS, (a) => a.graphs ?? []],
  [T.TYPE_PROTO, (a, w) => typeAttrFromProto(a.tp ?? {}, w)],
]);

/** A TYPE_PROTO attribute (Optional's `type`) as a ValueType. */
function typeAttrFromProto(tp: pb.ITypeProto, where: string): AttrValue {
  const c = containerTypeFromProto(tp, where);
  if (c) return c;
  if (!tp.tensorType) throw new ModelFormatError(`${where}: type attribute without a type`, where);
  return { dtype: dtypeFromOnnx(tp.tensorType.elemType ?? 0, where), shape: tp.tensorType.shape ? dimsFromProto(tp.tensorType.shape, where) : [] };
}

/** Attribute type of an attribute written without `type` (very old models): guessed from the field set. */
function guessType(a: pb.IAttributeProto): number {
  if (a.t) return T.TENSOR;
  if (a.g) return T.GRAPH;
  if (a.tp) return T.TYPE_PROTO;
  if (a.floats?.length) return T.FLOATS;
  if (a.ints?.length) return T.INTS;
  if (a.strings?.length) return T.STRINGS;
  if (a.s?.length) return T.STRING;
  if (a.f) return T.FLOAT;
  return T.INT;
}

/** Converts one attribute. `where` names the node for errors. */
export function attrFromProto(a: pb.IAttributeProto, node: string, op: string, opts: TensorDecodeOptions): AttrValue {
  const type = a.type || guessType(a);
  const conv = CONVERT.get(type);
  if (!conv) {
    const kind = (T as unknown as Record<number, string>)[type] ?? `type ${type}`;
    throw new UnsupportedOpError([{ op: `${op} with a ${kind} attribute '${a.name}'`, nodes: [node] }]);
  }
  return conv(a, `${node}.${a.name ?? ''}`, opts);
}

/** Converts every attribute of a node into a record. Duplicate names are a format error. */
export function attrsFromProto(list: readonly pb.IAttributeProto[], node: string, op: string, opts: TensorDecodeOptions): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const a of list) {
    const name = a.name ?? '';
    if (name === '') throw new ModelFormatError(`${node}: attribute without a name`, node);
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new ModelFormatError(`${node}: attribute '${name}' given twice`, node);
    out[name] = attrFromProto(a, node, op, opts);
  }
  return out;
}

type ConstantForm = (v: AttrValue) => Tensor;
/** The `Constant` attribute forms and the tensor each gives. */
const CONSTANT_FORMS: Readonly<Record<string, ConstantForm>> = {
  value: (v) => v as Tensor,
  value_float: (v) => Tensor.from('float32', [], [v as number]),
  value_floats: (v) => Tensor.from('float32', [(v as number[]).length], v as number[]),
  value_int: (v) => Tensor.from('int64', [], [v as number]),
  value_ints: (v) => Tensor.from('int64', [(v as number[]).length], v as number[]),
};

/** Names of the `Constant` attributes that hold strings (unsupported). */
export const STRING_CONSTANT_FORMS: readonly string[] = ['value_string', 'value_strings'];

/**
 * Folds a Constant node's `value_*` attribute into `{ value: Tensor }`. Throws
 * UnsupportedOpError for string values and sparse tensors, ModelFormatError when no
 * or several value attributes are present.
 */
export function constantValue(attrs: Readonly<Record<string, AttrValue>>, node: string): Tensor {
  const keys = Object.keys(attrs);
  const strings = keys.filter((k) => STRING_CONSTANT_FORMS.includes(k));
  if (strings.length) throw new UnsupportedOpError([{ op: `Constant with ${strings[0]}`, nodes: [node] }]);
  const forms = keys.filter((k) => Object.prototype.hasOwnProperty.call(CONSTANT_FORMS, k));
  if (forms.length !== 1) {
    throw new ModelFormatError(`${node}: Constant needs exactly one value attribute, got ${keys.join(', ') || 'none'}`, node);
  }
  return CONSTANT_FORMS[forms[0]!]!(attrs[forms[0]!]!);
}
