/**
 * Element types. Every dtype has one storage class on the CPU:
 * float16 values live in a Float32Array (rounded to half precision after each op),
 * int64/uint64 in a Float64Array holding exact integers up to 2^53 (larger values are
 * rounded to the nearest double; documented in README), bool in a Uint8Array of 0/1.
 */
import { DTypeError } from './errors.js';

/** All element types Kiln knows. */
export const DTYPES = [
  'float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16',
  'int32', 'uint32', 'int64', 'uint64', 'bool',
] as const;

/** An element type. */
export type DType = (typeof DTYPES)[number];

/** Typed array used to store a dtype on the CPU. */
export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array
  | Uint16Array | Int32Array | Uint32Array;

interface DTypeInfo {
  bytes: number;
  kind: 'float' | 'int' | 'uint' | 'bool';
  storage: { new (n: number): TypedArray };
  min: number;
  max: number;
}

const INFO: Record<DType, DTypeInfo> = {
  float32: { bytes: 4, kind: 'float', storage: Float32Array, min: -Infinity, max: Infinity },
  float16: { bytes: 2, kind: 'float', storage: Float32Array, min: -Infinity, max: Infinity },
  float64: { bytes: 8, kind: 'float', storage: Float64Array, min: -Infinity, max: Infinity },
  int8: { bytes: 1, kind: 'int', storage: Int8Array, min: -128, max: 127 },
  uint8: { bytes: 1, kind: 'uint', storage: Uint8Array, min: 0, max: 255 },
  int16: { bytes: 2, kind: 'int', storage: Int16Array, min: -32768, max: 32767 },
  uint16: { bytes: 2, kind: 'uint', storage: Uint16Array, min: 0, max: 65535 },
  int32: { bytes: 4, kind: 'int', storage: Int32Array, min: -2147483648, max: 2147483647 },
  uint32: { bytes: 4, kind: 'uint', storage: Uint32Array, min: 0, max: 4294967295 },
  int64: { bytes: 8, kind: 'int', storage: Float64Array, min: -(2 ** 63), max: 2 ** 63 },
  uint64: { bytes: 8, kind: 'uint', storage: Float64Array, min: 0, max: 2 ** 64 },
  bool: { bytes: 1, kind: 'bool', storage: Uint8Array, min: 0, max: 1 },
};

/** True if `s` names a dtype. */
export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(INFO, s);
}

/** Size in bytes of one element in the ONNX / packed representation. */
export function dtypeBytes(d: DType): number { return INFO[d].bytes; }
/** True for float16/32/64. */
export function isFloat(d: DType): boolean { return INFO[d].kind === 'float'; }
/** True for signed and unsigned integers (not bool). */
export function isInteger(d: DType): boolean { return INFO[d].kind === 'int' || INFO[d].kind === 'uint'; }
/** True for unsigned integers. */
export function isUnsigned(d: DType): boolean { return INFO[d].kind === 'uint'; }
/** Smallest and largest representable values. */
export function dtypeRange(d: DType): { min: number; max: number } { return { min: INFO[d].min, max: INFO[d].max }; }

/** Allocates a zeroed CPU storage array for `n` elements of dtype `d`. */
export function allocStorage(d: DType, n: number): TypedArray {
  return new INFO[d].storage(n);
}

/** The typed-array class used to store `d` on the CPU. */
export function storageClass(d: DType): { new (n: number): TypedArray; readonly BYTES_PER_ELEMENT: number } { return INFO[d].storage as { new (n: number): TypedArray; readonly BYTES_PER_ELEMENT: number }; }

/** Dtype groups used in op signatures. */
export const FLOATS: readonly DType[] = ['float32', 'float16', 'float64'];
/** Signed and unsigned integer dtypes. */
export const INTS: readonly DType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'];
/** Floats and integers (everything numeric but bool). */
export const NUMERIC: readonly DType[] = [...FLOATS, ...INTS];
/** Every dtype. */
export const ALL: readonly DType[] = DTYPES;

/** Throws a DTypeError naming the node unless `d` is one of `allowed`. */
export function expectDType(d: DType, allowed: readonly DType[], node: string, what: string): void {
  if (!allowed.includes(d)) {
    throw new DTypeError(`${node}: ${what} has dtype ${d}, expected one of ${allowed.join(', ')}`, node);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Converts a number to IEEE half bits (round to nearest even). */
export function toHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** Converts IEEE half bits to a number. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Rounds a number to the nearest float16 value. */
export function roundHalf(v: number): number { return fromHalfBits(toHalfBits(v)); }

/**
 * Converts a JS number to what a `d` element holds: rounding for float16/float32,
 * truncation and wrap-around for integers, 0/1 for bool.
 */
export function coerce(d: DType, v: number): number {
  switch (INFO[d].kind) {
    case 'float':
      return d === 'float16' ? roundHalf(v) : d === 'float32' ? Math.fround(v) : v;
    case 'bool':
      return v !== 0 && !Number.isNaN(v) ? 1 : 0;
    default: {
      if (!Number.isFinite(v)) return 0;
      const t = Math.trunc(v);
      if (d === 'int64' || d === 'uint64') return t + 0;
      const span = INFO[d].max - INFO[d].min + 1;
      let w = (t - INFO[d].min) % span;
      if (w < 0) w += span;
      return w + INFO[d].min;
    }
  }
}
