/**
 * Tensor codecs of the serving protocols: the Open Inference Protocol's (KServe v2)
 * datatype names, its JSON tensors (flat or nested `data`), its binary tensor
 * extension (raw little-endian element bytes), and TensorFlow Serving's nested lists
 * (row `instances` and columnar `inputs`). Nothing from a request is evaluated: JSON
 * is parsed with JSON.parse and every value is checked for its type.
 */
import { isString, storageClass, type DType } from '../graph/dtype.js';
import { InputError } from '../graph/errors.js';
import type { Shape } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';

/** Open Inference Protocol datatype of each Kiln dtype that the protocol names. */
const TO_WIRE: Partial<Record<DType, string>> = {
  bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64',
  int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  float16: 'FP16', float32: 'FP32', float64: 'FP64', bfloat16: 'BF16', string: 'BYTES',
};
const FROM_WIRE = new Map<string, DType>(Object.entries(TO_WIRE).map(([d, w]) => [w, d as DType]));

/** Bytes per element of a binary tensor (the extension's raw layout). */
const WIRE_BYTES: Partial<Record<DType, number>> = {
  bool: 1, uint8: 1, int8: 1, uint16: 2, int16: 2, float16: 2, bfloat16: 2, uint32: 4, int32: 4, float32: 4,
  uint64: 8, int64: 8, float64: 8,
};

/** The protocol's datatype for a Kiln dtype (e.g. 'FP32' for float32); the dtype upper-cased when the protocol has no name for it. */
export function wireDatatype(d: DType): string {
  return TO_WIRE[d] ?? d.toUpperCase();
}

/** The Kiln dtype of a protocol datatype, or undefined when unknown. */
export function dtypeOfWire(datatype: string): DType | undefined {
  return FROM_WIRE.get(datatype);
}

/** A model shape as metadata spells it: -1 for every symbolic (dynamic) dim. */
export function wireShape(s: Shape): number[] {
  return s.map((d) => (typeof d === 'number' ? d : -1));
}

/** Checks that `shape` is a list of non-negative integers and returns it. */
export function parseShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new InputError(`${what}: 'shape' must be a list of non-negative integers`, what);
  }
  return shape as number[];
}

/** Deepest nesting of tensor data accepted. */
export const MAX_RANK = 32;

/** Flattens nested lists (row-major), checking they are rectangular; returns the elements and the shape found. */
export function flattenNested(value: unknown, what: string): { values: unknown[]; shape: number[] } {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (shape.length > MAX_RANK) throw new InputError(`${what}: nested lists deeper than ${MAX_RANK} levels`, what);
    probe = probe[0];
  }
  const values: unknown[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw new InputError(`${what}: nested lists are not rectangular`, what);
      values.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw new InputError(`${what}: nested lists are not rectangular`, what);
    for (const e of v) walk(e, depth + 1);
  };
  walk(value, 0);
  return { values, shape };
}

/** A tensor of `dtype` and `shape` from JSON elements (numbers, or booleans for BOOL, strings for BYTES). */
export function tensorFromJson(dtype: DType, shape: readonly number[], values: readonly unknown[], what: string): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) {
    throw new InputError(`${what}: shape [${shape.join(', ')}] needs ${n} elements, got ${values.length}`, what);
  }
  if (isString(dtype)) {
    if (!values.every((v) => typeof v === 'string')) throw new InputError(`${what}: BYTES data must be strings`, what);
    return Tensor.fromStrings(shape, values as string[]);
  }
  const nums = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) nums[i] = v;
    else if (typeof v === 'boolean' && dtype === 'bool') nums[i] = v ? 1 : 0;
    else throw new InputError(`${what}: element ${i} (${JSON.stringify(v) ?? String(v)}) is not a ${dtype === 'bool' ? 'boolean' : 'finite number'}`, what);
  }
  if (dtype !== 'bool' && dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16' && dtype !== 'bfloat16') {
    for (let i = 0; i < n; i++) if (!Number.isInteger(nums[i])) throw new InputError(`${what}: element ${i} (${nums[i]}) is not an integer`, what);
  }
  return Tensor.from(dtype, shape, nums);
}

/** The elements of a tensor as JSON values (booleans for bool, strings for string tensors). */
export function tensorToJson(t: Tensor): (number | boolean | string)[] {
  if (t.strings) return [...t.strings];
  if (t.dtype === 'bool') return Array.from(t.data, (v) => v !== 0);
  return Array.from(t.data as ArrayLike<number>);
}

/** Nested lists of a tensor's elements (TensorFlow Serving's spelling); a scalar is its element. */
export function tensorToNested(t: Tensor, from = 0, dims: readonly number[] = t.shape): unknown {
  const flat = tensorToJson(t);
  const build = (offset: number, depth: number): unknown => {
    if (depth === dims.length) return flat[offset];
    const stride = dims.slice(depth + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[depth]! }, (_, i) => build(offset + i * stride, depth + 1));
  };
  return build(from, 0);
}

/** A tensor from the binary extension's raw little-endian bytes. */
export function tensorFromBinary(dtype: DType, shape: readonly number[], bytes: Uint8Array, what: string): Tensor {
  const size = WIRE_BYTES[dtype];
  if (size === undefined) throw new InputError(`${what}: datatype ${wireDatatype(dtype)} is not supported as binary data`, what);
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== n * size) {
    throw new InputError(`${what}: shape [${shape.join(', ')}] of ${wireDatatype(dtype)} needs ${n * size} bytes of binary data, got ${bytes.length}`, what);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new (storageClass(dtype))(n);
  for (let i = 0; i < n; i++) out[i] = readElement(view, dtype, i * size);
  if (dtype === 'float16' || dtype === 'bfloat16') return Tensor.from(dtype, shape, out);
  return new Tensor(dtype, shape, out);
}

/** One element of a binary tensor. */
function readElement(v: DataView, d: DType, at: number): number {
  switch (d) {
    case 'bool': return v.getUint8(at) ? 1 : 0;
    case 'uint8': return v.getUint8(at);
    case 'int8': return v.getInt8(at);
    case 'uint16': return v.getUint16(at, true);
    case 'int16': return v.getInt16(at, true);
    case 'uint32': return v.getUint32(at, true);
    case 'int32': return v.getInt32(at, true);
    case 'float32': return v.getFloat32(at, true);
    case 'float64': return v.getFloat64(at, true);
    case 'uint64': return Number(v.getBigUint64(at, true));
    case 'int64': return Number(v.getBigInt64(at, true));
    case 'float16': return halfToFloat(v.getUint16(at, true));
    case 'bfloat16': { const b = new DataView(new ArrayBuffer(4)); b.setUint16(0, v.getUint16(at, true)); return b.getFloat32(0); }
    default: throw new InputError(`datatype ${wireDatatype(d)} is not supported as binary data`);
  }
}

/** A float16 bit pattern as a number. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A float as a float16 bit pattern (round to nearest even). */
function floatToHalf(x: number): number {
  const f = new DataView(new ArrayBuffer(4));
  f.setFloat32(0, x);
  const b = f.getUint32(0);
  const s = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  let m = b & 0x7fffff;
  if (((b >>> 23) & 0xff) === 0xff) return s | 0x7c00 | (m ? 0x200 : 0);
  if (e >= 31) return s | 0x7c00;
  if (e <= 0) {
    if (e < -10) return s;
    m |= 0x800000;
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return s | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const rest = m & 0x1fff;
  let out = s | (e << 10) | (m >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1))) out++;
  return out;
}

/** A tensor's elements as the binary extension's raw little-endian bytes. */
export function tensorToBinary(t: Tensor): Uint8Array {
  const size = WIRE_BYTES[t.dtype];
  if (size === undefined) throw new InputError(`datatype ${wireDatatype(t.dtype)} is not supported as binary data`);
  const out = new Uint8Array(t.size * size);
  const v = new DataView(out.buffer);
  const d = t.data as ArrayLike<number>;
  for (let i = 0; i < t.size; i++) {
    const x = d[i]!;
    const at = i * size;
    switch (t.dtype) {
      case 'bool': v.setUint8(at, x ? 1 : 0); break;
      case 'uint8': v.setUint8(at, x); break;
      case 'int8': v.setInt8(at, x); break;
      case 'uint16': v.setUint16(at, x, true); break;
      case 'int16': v.setInt16(at, x, true); break;
      case 'uint32': v.setUint32(at, x, true); break;
      case 'int32': v.setInt32(at, x, true); break;
      case 'float32': v.setFloat32(at, x, true); break;
      case 'float64': v.setFloat64(at, x, true); break;
      case 'uint64': v.setBigUint64(at, BigInt(Math.trunc(x)), true); break;
      case 'int64': v.setBigInt64(at, BigInt(Math.trunc(x)), true); break;
      case 'float16': v.setUint16(at, floatToHalf(x), true); break;
      case 'bfloat16': { const f = new DataView(new ArrayBuffer(4)); f.setFloat32(0, x); v.setUint16(at, f.getUint16(0), true); break; }
      default: throw new InputError(`datatype ${wireDatatype(t.dtype)} is not supported as binary data`);
    }
  }
  return out;
}
