/**
 * TensorProto ⇄ Tensor. Decoding accepts every encoding ONNX allows: `raw_data`
 * (little-endian), the typed fields (`float_data`; `int32_data`, which also carries
 * float16/bfloat16/float8 bits, int8/uint8/int16/uint16, bool and int4/uint4 packed
 * two per entry; `int64_data`; `double_data`; `uint64_data`) and external data
 * files. Encoding always writes `raw_data`. int4/uint4 are packed two per byte,
 * low nibble first (the last high nibble 0 for an odd count); float8 and bfloat16
 * are their bit patterns.
 *
 * int64/uint64 values are held as doubles (see src/graph/dtype.ts): values beyond
 * 2^53 are rounded to the nearest double.
 */
import type Long from 'long';
import {
  DTYPES, dtypeBits, dtypeOfOnnxCode, floatFormatOf, formatBits, fromFormatBits, fromHalfBits, onnxCodeOf, packNibbles, rawByteLength,
  toHalfBits, unpackNibbles, type DType, type FloatFormat,
} from '../src/graph/dtype.js';
import { ModelFormatError, UnsupportedOpError } from '../src/graph/errors.js';
import { Tensor } from '../src/graph/tensor.js';
import { sizeOf, MAX_ELEMENTS } from '../src/graph/shape.js';
import { onnx, type pb } from './proto.js';
import { readFileSync, realpathSync, statSync, path } from './node-io.js';

/** ONNX TensorProto.DataType codes of the dtypes Kiln supports. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = Object.freeze(Object.fromEntries(DTYPES.map((d) => [d, onnxCodeOf(d)])) as Record<DType, number>);

const CODE_NAMES: Readonly<Record<number, string>> = {
  0: 'UNDEFINED', 8: 'STRING', 14: 'COMPLEX64', 15: 'COMPLEX128',
};

/** Kiln dtype of an ONNX data type code; unsupported codes (string, complex, float4, ...) raise UnsupportedOpError. */
export function dtypeFromOnnx(code: number, where: string): DType {
  const d = dtypeOfOnnxCode(code);
  if (d) return d;
  const label = CODE_NAMES[code] ?? `data type ${code}`;
  throw new UnsupportedOpError([{ op: `tensor type ${label}`, nodes: [where] }]);
}

/** A number from a protobuf int64 field (number or Long); values beyond 2^53 round to the nearest double. */
export function longToNumber(v: number | Long | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  return v.toNumber();
}

/** Options for decoding tensors that may live in external files. */
export interface TensorDecodeOptions {
  /** Directory that external data paths are relative to. */
  readonly baseDir?: string;
}

/** Checks an external data path: relative, without `..` components. Returns the resolved path. */
export function resolveExternalPath(location: string, baseDir: string | undefined, where: string): string {
  if (location === '') throw new ModelFormatError(`${where}: external data has no location`, where);
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || /^[a-zA-Z]:/.test(location)) {
    throw new ModelFormatError(`${where}: external data path '${location}' is absolute; only relative paths are allowed`, where);
  }
  if (location.split(/[\\/]+/).some((c) => c === '..')) {
    throw new ModelFormatError(`${where}: external data path '${location}' leaves the model directory ('..' is not allowed)`, where);
  }
  if (baseDir === undefined) {
    throw new ModelFormatError(`${where}: tensor uses external data '${location}' but no base directory was given`, where);
  }
  return path.join(baseDir, location);
}

function readExternal(t: pb.ITensorProto, where: string, opts: TensorDecodeOptions): Uint8Array {
  const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const file = resolveExternalPath(kv.get('location') ?? '', opts.baseDir, where);
  const offset = Number(kv.get('offset') ?? '0');
  const lengthStr = kv.get('length');
  let size: number;
  try {
    // Symbolic links may not lead out of the model directory, and only regular files are read.
    const real = realpathSync(file);
    const root = realpathSync(opts.baseDir!);
    if (!real.startsWith(root + path.sep)) {
      throw new ModelFormatError(`${where}: external data file '${kv.get('location')}' resolves outside the model directory`, where);
    }
    const st = statSync(real);
    if (!st.isFile()) throw new ModelFormatError(`${where}: external data '${kv.get('location')}' is not a regular file`, where);
    size = st.size;
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError(`${where}: external data file '${kv.get('location')}' cannot be read`, where);
  }
  const length = lengthStr === undefined ? size - offset : Number(lengthStr);
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new ModelFormatError(`${where}: external data range offset=${offset} length=${length} is outside '${kv.get('location')}' (${size} bytes)`, where);
  }
  const buf = readFileSync(file);
  return new Uint8Array(buf.buffer, buf.byteOffset + offset, length);
}

type RawReader = (dv: DataView, i: number) => number;
type RawWriter = (dv: DataView, i: number, v: number) => void;
const fmt = (d: DType): FloatFormat => floatFormatOf(d)!;
const bits8 = (d: DType): RawReader => (dv, i) => fromFormatBits(dv.getUint8(i), fmt(d));
const write8 = (d: DType): RawWriter => (dv, i, v) => dv.setUint8(i, formatBits(v, fmt(d)));
/** Readers of one element of raw data (int4/uint4 are unpacked apart: two per byte). */
const RAW: Readonly<Record<DType, RawReader>> = {
  bfloat16: (dv, i) => fromFormatBits(dv.getUint16(i * 2, true), fmt('bfloat16')),
  float8e4m3fn: bits8('float8e4m3fn'),
  float8e4m3fnuz: bits8('float8e4m3fnuz'),
  float8e5m2: bits8('float8e5m2'),
  float8e5m2fnuz: bits8('float8e5m2fnuz'),
  int4: (dv, i) => dv.getInt8(i),
  uint4: (dv, i) => dv.getUint8(i),
  float32: (dv, i) => dv.getFloat32(i * 4, true),
  float16: (dv, i) => fromHalfBits(dv.getUint16(i * 2, true)),
  float64: (dv, i) => dv.getFloat64(i * 8, true),
  int8: (dv, i) => dv.getInt8(i),
  uint8: (dv, i) => dv.getUint8(i),
  int16: (dv, i) => dv.getInt16(i * 2, true),
  uint16: (dv, i) => dv.getUint16(i * 2, true),
  int32: (dv, i) => dv.getInt32(i * 4, true),
  uint32: (dv, i) => dv.getUint32(i * 4, true),
  int64: (dv, i) => Number(dv.getBigInt64(i * 8, true)),
  uint64: (dv, i) => Number(dv.getBigUint64(i * 8, true)),
  bool: (dv, i) => (dv.getUint8(i) ? 1 : 0),
  string: () => 0, // never used: string tensors have no raw layout
};

/** Writers of one element of raw data (int4/uint4 are packed apart). */
const RAW_WRITE: Readonly<Record<DType, RawWriter>> = {
  bfloat16: (dv, i, v) => dv.setUint16(i * 2, formatBits(v, fmt('bfloat16')), true),
  float8e4m3fn: write8('float8e4m3fn'),
  float8e4m3fnuz: write8('float8e4m3fnuz'),
  float8e5m2: write8('float8e5m2'),
  float8e5m2fnuz: write8('float8e5m2fnuz'),
  int4: (dv, i, v) => dv.setInt8(i, v),
  uint4: (dv, i, v) => dv.setUint8(i, v),
  float32: (dv, i, v) => dv.setFloat32(i * 4, v, true),
  float16: (dv, i, v) => dv.setUint16(i * 2, toHalfBits(v), true),
  float64: (dv, i, v) => dv.setFloat64(i * 8, v, true),
  int8: (dv, i, v) => dv.setInt8(i, v),
  uint8: (dv, i, v) => dv.setUint8(i, v),
  int16: (dv, i, v) => dv.setInt16(i * 2, v, true),
  uint16: (dv, i, v) => dv.setUint16(i * 2, v, true),
  int32: (dv, i, v) => dv.setInt32(i * 4, v, true),
  uint32: (dv, i, v) => dv.setUint32(i * 4, v, true),
  int64: (dv, i, v) => dv.setBigInt64(i * 8, BigInt(Math.trunc(v)), true),
  uint64: (dv, i, v) => dv.setBigUint64(i * 8, BigInt(Math.trunc(v)), true),
  bool: (dv, i, v) => dv.setUint8(i, v ? 1 : 0),
  string: () => undefined, // never used: string tensors are written as string_data
};

/** Dtypes whose CPU storage has the ONNX raw layout (little-endian host): copied as bytes. */
const SAME_LAYOUT: ReadonlySet<DType> = new Set<DType>(
  new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? ['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32'] : [],
);

function decodeRaw(dtype: DType, shape: readonly number[], raw: Uint8Array, where: string): Tensor {
  const n = sizeOf(shape);
  const want = rawByteLength(dtype, n);
  if (raw.byteLength !== want) {
    throw new ModelFormatError(`${where}: raw data has ${raw.byteLength} bytes, ${dtype}[${shape.join(',')}] needs ${want}`, where);
  }
  const t = new Tensor(dtype, shape);
  if (dtypeBits(dtype) === 4) {
    unpackNibbles(raw, n, t.data as Int8Array | Uint8Array);
    return t;
  }
  if (SAME_LAYOUT.has(dtype)) {
    new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).set(raw);
    return t;
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read = RAW[dtype];
  for (let i = 0; i < n; i++) t.data[i] = read(dv, i);
  return t;
}

/** Which typed field of TensorProto holds each dtype, and how to turn an entry into a value. */
const TYPED_FIELD: Readonly<Record<DType, { field: keyof pb.ITensorProto; conv: (v: number | Long) => number }>> = {
  bfloat16: { field: 'int32Data', conv: (v) => fromFormatBits((v as number) & 0xffff, fmt('bfloat16')) },
  float8e4m3fn: { field: 'int32Data', conv: (v) => fromFormatBits((v as number) & 0xff, fmt('float8e4m3fn')) },
  float8e4m3fnuz: { field: 'int32Data', conv: (v) => fromFormatBits((v as number) & 0xff, fmt('float8e4m3fnuz')) },
  float8e5m2: { field: 'int32Data', conv: (v) => fromFormatBits((v as number) & 0xff, fmt('float8e5m2')) },
  float8e5m2fnuz: { field: 'int32Data', conv: (v) => fromFormatBits((v as number) & 0xff, fmt('float8e5m2fnuz')) },
  // int4/uint4: each int32_data entry is one packed byte (two elements), unpacked apart.
  int4: { field: 'int32Data', conv: (v) => v as number },
  uint4: { field: 'int32Data', conv: (v) => v as number },
  float32: { field: 'floatData', conv: (v) => v as number },
  float16: { field: 'int32Data', conv: (v) => fromHalfBits((v as number) & 0xffff) },
  float64: { field: 'doubleData', conv: (v) => v as number },
  int8: { field: 'int32Data', conv: (v) => v as number },
  uint8: { field: 'int32Data', conv: (v) => v as number },
  int16: { field: 'int32Data', conv: (v) => v as number },
  uint16: { field: 'int32Data', conv: (v) => v as number },
  int32: { field: 'int32Data', conv: (v) => v as number },
  bool: { field: 'int32Data', conv: (v) => ((v as number) ? 1 : 0) },
  int64: { field: 'int64Data', conv: longToNumber },
  uint32: { field: 'uint64Data', conv: longToNumber },
  uint64: { field: 'uint64Data', conv: longToNumber },
  string: { field: 'stringData', conv: () => 0 }, // decoded apart (UTF-8 bytes)
};

/** The dims of a TensorProto, checked to be non-negative and not absurdly large. */
export function tensorDims(t: pb.ITensorProto, where: string): number[] {
  const dims = (t.dims ?? []).map((d) => longToNumber(d));
  let n = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new ModelFormatError(`${where}: invalid dim ${d} in [${dims.join(',')}]`, where);
    n *= d;
  }
  if (n > MAX_ELEMENTS) throw new ModelFormatError(`${where}: tensor [${dims.join(',')}] has too many elements`, where);
  return dims;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const UTF8_OUT = new TextEncoder();

/** A string tensor from `string_data` (UTF-8 bytes; ONNX has no raw or external layout for strings). */
function decodeStrings(t: pb.ITensorProto, shape: number[], n: number, where: string): Tensor {
  if ((t.rawData && t.rawData.byteLength > 0) || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new ModelFormatError(`${where}: a string tensor must use string_data, not raw or external data`, where);
  }
  const vals = t.stringData ?? [];
  if (vals.length !== n) throw new ModelFormatError(`${where}: string_data holds ${vals.length} values, string[${shape.join(',')}] needs ${n}`, where);
  const out = vals.map((b, i) => {
    try {
      return UTF8.decode(b);
    } catch {
      throw new ModelFormatError(`${where}: string_data entry ${i} is not valid UTF-8`, where);
    }
  });
  return Tensor.fromStrings(shape, out);
}

/** Decodes a TensorProto into a Tensor. `where` names it in error messages. */
export function tensorFromProto(t: pb.ITensorProto, where = t.name || 'tensor', opts: TensorDecodeOptions = {}): Tensor {
  const dtype = dtypeFromOnnx(t.dataType ?? 0, where);
  const shape = tensorDims(t, where);
  if (dtype === 'string') return decodeStrings(t, shape, sizeOf(shape), where);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    return decodeRaw(dtype, shape, readExternal(t, where, opts), where);
  }
  const n = sizeOf(shape);
  if (t.rawData && t.rawData.byteLength > 0) return decodeRaw(dtype, shape, t.rawData, where);
  const { field, conv } = TYPED_FIELD[dtype];
  const values = (t[field] ?? []) as ArrayLike<number | Long>;
  const entries = dtypeBits(dtype) === 4 ? Math.ceil(n / 2) : n;
  if (values.length !== entries) {
    throw new ModelFormatError(`${where}: ${String(field)} holds ${values.length} values, ${dtype}[${shape.join(',')}] needs ${entries}`, where);
  }
  if (entries !== n) {
    const t4 = new Tensor(dtype, shape);
    unpackNibbles(values as ArrayLike<number>, n, t4.data as Int8Array | Uint8Array);
    return t4;
  }
  const plain = new Float64Array(n);
  for (let i = 0; i < n; i++) plain[i] = conv(values[i]!);
  return Tensor.from(dtype, shape, plain);
}

/** Encodes a Tensor as a TensorProto with little-endian `raw_data` (a string tensor: UTF-8 `string_data`). */
export function tensorToProto(t: Tensor, name: string): pb.TensorProto {
  if (t.strings) {
    return onnx.TensorProto.create({ name, dims: [...t.shape], dataType: ONNX_DTYPE[t.dtype], stringData: t.strings.map((v) => UTF8_OUT.encode(v)) });
  }
  let raw: Uint8Array = new Uint8Array(rawByteLength(t.dtype, t.size));
  if (dtypeBits(t.dtype) === 4) {
    raw = packNibbles(t.data);
  } else if (SAME_LAYOUT.has(t.dtype)) {
    raw.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } else {
    const dv = new DataView(raw.buffer);
    const write = RAW_WRITE[t.dtype];
    for (let i = 0; i < t.size; i++) write(dv, i, t.data[i]!);
  }
  return onnx.TensorProto.create({ name, dims: [...t.shape], dataType: ONNX_DTYPE[t.dtype], rawData: raw });
}

/** Decodes protobuf bytes as a TensorProto, turning protobuf errors into ModelFormatError. */
export function decodeTensorBytes(bytes: Uint8Array, where: string): pb.TensorProto {
  try {
    return onnx.TensorProto.decode(bytes);
  } catch (e) {
    throw new ModelFormatError(`${where}: not a valid TensorProto (${(e as Error).message})`, where);
  }
}

/** Reads a serialized TensorProto file (`input_0.pb`): its name (may be '') and tensor. */
export function readTensorFile(file: string): { name: string; tensor: Tensor } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  const proto = decodeTensorBytes(bytes, file);
  return { name: proto.name ?? '', tensor: tensorFromProto(proto, proto.name ? `${file} (${proto.name})` : file, { baseDir: path.dirname(file) }) };
}
