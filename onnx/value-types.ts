/**
 * ONNX TypeProto ⇄ Kiln ValueType for tensors, sequences of tensors and optionals
 * (of a tensor or a sequence), and the SequenceProto / OptionalProto values of the
 * ONNX test data (`input_0.pb` of a sequence input), which onnx-proto does not
 * define: they are read here from the protobuf wire format.
 */
import type { DType } from '../src/graph/dtype.js';
import { ModelFormatError, UnsupportedOpError } from '../src/graph/errors.js';
import type { ValueType } from '../src/graph/op.js';
import type { Dim, Shape } from '../src/graph/shape.js';
import type { Tensor } from '../src/graph/tensor.js';
import { kindOf, NoneValue, optionalType, sequenceType, TensorSequence, type Value } from '../src/graph/value.js';
import type { pb } from './proto.js';
import { decodeTensorBytes, dtypeFromOnnx, longToNumber, ONNX_DTYPE, tensorFromProto } from './tensor-proto.js';
import { path, readFileSync } from './node-io.js';

/** A dim as written: a number, a symbol (`dim_param`), or unknown (null). */
export type StatedDim = number | string | null;

/** The dims of a TensorShapeProto: dim_param a symbol, dim_value a number, neither `${name}_dim${i}`. */
export function dimsFromProto(shape: pb.ITensorShapeProto, name: string): Dim[] {
  return (shape.dim ?? []).map((d, i) => {
    if (d.dimParam) return d.dimParam;
    if (d.dimValue !== null && d.dimValue !== undefined) return longToNumber(d.dimValue);
    return `${name}_dim${i}`;
  });
}

/**
 * The ValueType of a sequence or optional TypeProto (tensor elements; nested
 * sequences, maps and sparse tensors raise UnsupportedOpError naming `name`), or
 * undefined for a tensor or an empty TypeProto (the caller types those).
 */
export function containerTypeFromProto(t: pb.ITypeProto, name: string): ValueType | undefined {
  if (t.sequenceType) {
    const e = t.sequenceType.elemType;
    if (!e?.tensorType) throw new UnsupportedOpError([{ op: `sequence of ${e ? Object.keys(e).find((k) => (e as Record<string, unknown>)[k]) ?? 'unknown' : 'unknown'}`, nodes: [name] }]);
    const dtype = dtypeFromOnnx(e.tensorType.elemType ?? 0, name);
    return sequenceType(dtype, e.tensorType.shape ? dimsFromProto(e.tensorType.shape, `${name}_elem`) : undefined);
  }
  if (t.optionalType) {
    const e = t.optionalType.elemType;
    if (!e) throw new ModelFormatError(`${name}: optional type without an element type`, name);
    if (e.tensorType) {
      const dtype = dtypeFromOnnx(e.tensorType.elemType ?? 0, name);
      if (!e.tensorType.shape) return { dtype, shape: [], kind: 'optional', elem: undefined };
      return optionalType({ dtype, shape: dimsFromProto(e.tensorType.shape, `${name}_elem`) });
    }
    const inner = containerTypeFromProto(e, name);
    if (!inner || kindOf(inner) !== 'sequence') throw new UnsupportedOpError([{ op: 'optional of a non-tensor, non-sequence type', nodes: [name] }]);
    return optionalType(inner);
  }
  if (t.mapType || t.sparseTensorType) throw new UnsupportedOpError([{ op: `graph value of type ${t.mapType ? 'mapType' : 'sparseTensorType'}`, nodes: [name] }]);
  return undefined;
}

/** The TypeProto of a tensor type with stated dims. */
export function tensorTypeProto(dtype: DType, shape: readonly StatedDim[] | undefined): pb.ITypeProto {
  return {
    tensorType: {
      elemType: ONNX_DTYPE[dtype],
      ...(shape ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : d === null ? {} : { dimParam: d })) } } : {}),
    },
  };
}

/**
 * The TypeProto of a type. A tensor's dims are `stated` (default: its own); a
 * sequence's or optional's element dims are written as symbols the graph inputs
 * declare (`symbols`) or numbers, others unknown.
 */
export function typeToProto(t: ValueType, stated: readonly StatedDim[] | undefined, symbols: ReadonlySet<string>): pb.ITypeProto {
  const elemDims = (s: Shape): StatedDim[] => s.map((d) => (typeof d === 'number' || symbols.has(d) ? d : null));
  switch (kindOf(t)) {
    case 'sequence':
      return { sequenceType: { elemType: tensorTypeProto(t.dtype, t.elem ? elemDims(t.elem.shape) : undefined) } };
    case 'optional': {
      const e = t.elem;
      if (e && kindOf(e) === 'sequence') return { optionalType: { elemType: typeToProto(e, undefined, symbols) } };
      return { optionalType: { elemType: tensorTypeProto(t.dtype, e ? elemDims(e.shape) : undefined) } };
    }
    default:
      return tensorTypeProto(t.dtype, stated ?? t.shape);
  }
}

// ---- SequenceProto / OptionalProto (protobuf wire format) -------------------------

/** One field of a protobuf message: a varint's value, or a length-delimited field's bytes. */
interface WireField { readonly field: number; readonly varint?: number; readonly bytes?: Uint8Array }

function wireFields(b: Uint8Array, where: string): WireField[] {
  const out: WireField[] = [];
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (i >= b.length) throw new ModelFormatError(`${where}: truncated protobuf`, where);
      const c = b[i++]!;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < b.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) out.push({ field, varint: varint() });
    else if (wire === 2) {
      const n = varint();
      if (i + n > b.length) throw new ModelFormatError(`${where}: truncated protobuf`, where);
      out.push({ field, bytes: b.subarray(i, i + n) });
      i += n;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else throw new ModelFormatError(`${where}: unsupported protobuf wire type ${wire}`, where);
  }
  return out;
}

const utf8 = new TextDecoder();
/** ONNX SequenceProto / OptionalProto DataType codes. */
const ELEM = { TENSOR: 1, SEQUENCE: 3, OPTIONAL: 5 } as const;

function tensorOf(bytes: Uint8Array, where: string, baseDir: string): Tensor {
  const p = decodeTensorBytes(bytes, where);
  return tensorFromProto(p, where, { baseDir });
}

/** Decodes a SequenceProto (of tensors); `type` (the declared sequence type) gives an empty one its dtype. */
export function sequenceFromBytes(b: Uint8Array, where: string, type: ValueType | undefined, baseDir = '.'): { name: string; value: TensorSequence } {
  let name = '';
  let elemType = ELEM.TENSOR as number;
  const items: Tensor[] = [];
  for (const f of wireFields(b, where)) {
    if (f.field === 1 && f.bytes) name = utf8.decode(f.bytes);
    else if (f.field === 2 && f.varint !== undefined) elemType = f.varint;
    else if (f.field === 3 && f.bytes) items.push(tensorOf(f.bytes, `${where}[${items.length}]`, baseDir));
    else if (f.field >= 4 && f.field <= 7 && f.bytes) throw new UnsupportedOpError([{ op: 'sequence of non-tensors in test data', nodes: [where] }]);
  }
  if (elemType !== ELEM.TENSOR && elemType !== 0) throw new UnsupportedOpError([{ op: 'sequence of non-tensors in test data', nodes: [where] }]);
  const dtype = items[0]?.dtype ?? type?.dtype ?? 'float32';
  return { name, value: new TensorSequence(dtype, items) };
}

/** Decodes an OptionalProto (of a tensor or sequence): its value, or a NoneValue of `type` when empty. */
export function optionalFromBytes(b: Uint8Array, where: string, type: ValueType | undefined, baseDir = '.'): { name: string; value: Value } {
  let name = '';
  let value: Value | undefined;
  for (const f of wireFields(b, where)) {
    if (f.field === 1 && f.bytes) name = utf8.decode(f.bytes);
    else if (f.field === 3 && f.bytes) value = tensorOf(f.bytes, where, baseDir);
    else if (f.field === 5 && f.bytes) value = sequenceFromBytes(f.bytes, where, type?.elem, baseDir).value;
    else if ((f.field === 4 || f.field === 6 || f.field === 7) && f.bytes) throw new UnsupportedOpError([{ op: 'optional of a map or sparse tensor in test data', nodes: [where] }]);
  }
  return { name, value: value ?? new NoneValue(type) };
}

/**
 * Reads a test-data file (`input_0.pb`) holding a value of type `type`: a
 * TensorProto for a tensor (or when `type` is undefined), a SequenceProto for a
 * sequence, an OptionalProto for an optional.
 */
export function readValueFile(file: string, type: ValueType | undefined): { name: string; value: Value } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  const baseDir = path.dirname(file);
  const kind = type ? kindOf(type) : 'tensor';
  if (kind === 'sequence') return sequenceFromBytes(bytes, file, type, baseDir);
  if (kind === 'optional') return optionalFromBytes(bytes, file, type, baseDir);
  const proto = decodeTensorBytes(bytes, file);
  return { name: proto.name ?? '', value: tensorFromProto(proto, proto.name ? `${file} (${proto.name})` : file, { baseDir }) };
}
