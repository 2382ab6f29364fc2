/**
 * Element types. Every dtype has one storage class on the CPU:
 * float16 values live in a Float32Array (rounded to half precision after each op),
 * and so do bfloat16 and the four float8 formats (every value of theirs, ±Inf and
 * NaN included, is an exact float32; each op's result is rounded to the format,
 * see {@link roundToFormat}); int4/uint4 hold one element per byte (Int8Array /
 * Uint8Array, wrapped to 4 bits after each op; packed two per byte only in ONNX
 * `raw_data`), int64/uint64 in a Float64Array holding exact integers up to 2^53
 * (larger values are rounded to the nearest double; documented in README), bool in
 * a Uint8Array of 0/1. string tensors hold their elements as a JS string array
 * ({@link Tensor.strings}); their `data` is a zero-filled Uint8Array placeholder of
 * the same length, so sizes and shapes work unchanged. `string` is in {@link DTYPES}
 * but not in {@link ALL}: an op takes strings only where its signature names them.
 */
import { DTypeError } from './errors.js';

/** All element types Kiln knows. */
export const DTYPES = [
  'float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16',
  'int32', 'uint32', 'int64', 'uint64', 'bool',
  'bfloat16', 'float8e4m3fn', 'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz', 'int4', 'uint4',
  'string',
] as const;

/** An element type. */
export type DType = (typeof DTYPES)[number];

/** Typed array used to store a dtype on the CPU. */
export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array
  | Uint16Array | Int32Array | Uint32Array;

/**
 * A binary floating-point format narrower than float32 (bfloat16, float8): sign,
 * `exp` exponent bits with `bias`, `mant` mantissa bits. `inf`: has ±Inf (IEEE-like:
 * an all-ones exponent is Inf/NaN); otherwise `uz` (FNUZ: no -0, the only NaN is
 * 0x80) or FN (only S.1111.111 is NaN). `max` is the largest finite value.
 */
export interface FloatFormat {
  readonly exp: number;
  readonly mant: number;
  readonly bias: number;
  readonly inf: boolean;
  readonly uz: boolean;
  readonly max: number;
}

/** The format of an `exp`/`mant` layout; `max` follows from the special-value rules. */
function format(exp: number, mant: number, bias: number, kind: 'ieee' | 'fn' | 'fnuz'): FloatFormat {
  const top = 2 ** exp - 1; // all-ones exponent field
  // IEEE: the top exponent is Inf/NaN; FN: only all-ones mantissa there is NaN; FNUZ: all patterns but 0x80 are numbers.
  const maxExp = kind === 'ieee' ? top - 1 : top;
  const maxMant = kind === 'fn' ? 2 ** mant - 2 : 2 ** mant - 1;
  return { exp, mant, bias, inf: kind === 'ieee', uz: kind === 'fnuz', max: (1 + maxMant / 2 ** mant) * 2 ** (maxExp - bias) };
}

interface DTypeInfo {
  /** Bits per element in the ONNX representation (4 for int4/uint4: packed two per byte; 0 for string: no fixed size). */
  bits: number;
  kind: 'float' | 'int' | 'uint' | 'bool' | 'string';
  storage: { new (n: number): TypedArray };
  min: number;
  max: number;
  /** ONNX TensorProto.DataType code. */
  onnx: number;
  /** The storage can hold values the dtype cannot: results are coerced after each op. */
  wide: boolean;
  /** Narrow float formats (values rounded to it). */
  format?: FloatFormat;
  /** The ONNX IR version and default-domain opset that introduced the type (float8: 9 / 19, int4: 10 / 21). */
  since?: { ir: number; opset: number };
}

const INF = Infinity;
const F8 = { ir: 9, opset: 19 };
const I4 = { ir: 10, opset: 21 };
const INFO: Record<DType, DTypeInfo> = {
  float32: { bits: 32, kind: 'float', storage: Float32Array, min: -INF, max: INF, onnx: 1, wide: false },
  float16: { bits: 16, kind: 'float', storage: Float32Array, min: -INF, max: INF, onnx: 10, wide: true },
  float64: { bits: 64, kind: 'float', storage: Float64Array, min: -INF, max: INF, onnx: 11, wide: false },
  int8: { bits: 8, kind: 'int', storage: Int8Array, min: -128, max: 127, onnx: 3, wide: false },
  uint8: { bits: 8, kind: 'uint', storage: Uint8Array, min: 0, max: 255, onnx: 2, wide: false },
  int16: { bits: 16, kind: 'int', storage: Int16Array, min: -32768, max: 32767, onnx: 5, wide: false },
  uint16: { bits: 16, kind: 'uint', storage: Uint16Array, min: 0, max: 65535, onnx: 4, wide: false },
  int32: { bits: 32, kind: 'int', storage: Int32Array, min: -2147483648, max: 2147483647, onnx: 6, wide: false },
  uint32: { bits: 32, kind: 'uint', storage: Uint32Array, min: 0, max: 4294967295, onnx: 12, wide: false },
  int64: { bits: 64, kind: 'int', storage: Float64Array, min: -(2 ** 63), max: 2 ** 63, onnx: 7, wide: true },
  uint64: { bits: 64, kind: 'uint', storage: Float64Array, min: 0, max: 2 ** 64, onnx: 13, wide: true },
  bool: { bits: 8, kind: 'bool', storage: Uint8Array, min: 0, max: 1, onnx: 9, wide: false },
  bfloat16: { bits: 16, kind: 'float', storage: Float32Array, min: -INF, max: INF, onnx: 16, wide: true, format: format(8, 7, 127, 'ieee') },
  float8e4m3fn: { bits: 8, kind: 'float', storage: Float32Array, min: -448, max: 448, onnx: 17, wide: true, format: format(4, 3, 7, 'fn'), since: F8 },
  float8e4m3fnuz: { bits: 8, kind: 'float', storage: Float32Array, min: -240, max: 240, onnx: 18, wide: true, format: format(4, 3, 8, 'fnuz'), since: F8 },
  float8e5m2: { bits: 8, kind: 'float', storage: Float32Array, min: -INF, max: INF, onnx: 19, wide: true, format: format(5, 2, 15, 'ieee'), since: F8 },
  float8e5m2fnuz: { bits: 8, kind: 'float', storage: Float32Array, min: -57344, max: 57344, onnx: 20, wide: true, format: format(5, 2, 16, 'fnuz'), since: F8 },
  int4: { bits: 4, kind: 'int', storage: Int8Array, min: -8, max: 7, onnx: 22, wide: true, since: I4 },
  uint4: { bits: 4, kind: 'uint', storage: Uint8Array, min: 0, max: 15, onnx: 21, wide: true, since: I4 },
  string: { bits: 0, kind: 'string', storage: Uint8Array, min: NaN, max: NaN, onnx: 8, wide: false },
};

const BY_ONNX = new Map<number, DType>(DTYPES.map((d) => [INFO[d].onnx, d]));

/** The ONNX IR version and default-domain opset a model holding `d` needs at least (IR 3, opset 1 for the long-standing types). */
export function onnxSinceOf(d: DType): { ir: number; opset: number } { return INFO[d].since ?? { ir: 3, opset: 1 }; }
/** The ONNX TensorProto.DataType code of a dtype. */
export function onnxCodeOf(d: DType): number { return INFO[d].onnx; }
/** The dtype of an ONNX TensorProto.DataType code; undefined for codes Kiln has no dtype for. */
export function dtypeOfOnnxCode(code: number): DType | undefined { return BY_ONNX.get(code); }
/** ONNX TensorProto.DataType codes → Kiln dtypes (every dtype Kiln has). */
export const ONNX_CODE_DTYPES: Readonly<Record<number, DType>> = Object.freeze(Object.fromEntries(DTYPES.map((d) => [INFO[d].onnx, d])));

/** True if `s` names a dtype. */
export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(INFO, s);
}

/** Size in bytes of one element in the ONNX / packed representation (0.5 for int4/uint4). */
export function dtypeBytes(d: DType): number { return INFO[d].bits / 8; }
/** Bytes `n` elements of `d` take in ONNX `raw_data` (4-bit types packed two per byte, the last byte half used for odd `n`). */
export function rawByteLength(d: DType, n: number): number { return Math.ceil((n * INFO[d].bits) / 8); }
/** Bits per element in the ONNX representation (4 for int4/uint4). */
export function dtypeBits(d: DType): number { return INFO[d].bits; }
/** The narrow float format of bfloat16 and the float8 types; undefined for other dtypes. */
export function floatFormatOf(d: DType): FloatFormat | undefined { return INFO[d].format; }
/** True when `d`'s CPU storage can hold values `d` cannot (float16, bfloat16, float8, int4/uint4, int64/uint64): op results are coerced. */
export function isWideStorage(d: DType): boolean { return INFO[d].wide; }
/** True for float16/32/64. */
export function isFloat(d: DType): boolean { return INFO[d].kind === 'float'; }
/** True for signed and unsigned integers (not bool). */
export function isInteger(d: DType): boolean { return INFO[d].kind === 'int' || INFO[d].kind === 'uint'; }
/** True for the string dtype (elements held in {@link Tensor.strings}). */
export function isString(d: DType): boolean { return INFO[d].kind === 'string'; }
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
/** Every numeric and bool dtype: the dtypes an op takes unless it names `string` too. */
export const ALL: readonly DType[] = DTYPES.filter((d) => d !== 'string');
/** The string dtype alone, for signatures. */
export const STRINGS: readonly DType[] = ['string'];

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

/** floor(log2(a)) for a finite a > 0, exact. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

/** Rounds a non-negative number to an integer, ties to even. */
function rintPositive(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/**
 * Rounds `v` to the nearest value of a narrow float format, ties to even (the
 * ONNX Cast rules with `saturate` = 0): a magnitude beyond the largest finite value
 * after rounding, or ±Inf, becomes ±Inf where the format has infinities, NaN
 * otherwise; NaN stays NaN; FNUZ formats have no -0 (it becomes +0).
 */
export function roundToFormat(v: number, f: FloatFormat): number {
  if (Number.isNaN(v)) return NaN;
  const neg = v < 0 || Object.is(v, -0);
  const a = Math.abs(v);
  if (a === 0) return f.uz ? 0 : v;
  if (a === Infinity) return f.inf ? v : NaN;
  const emin = 1 - f.bias;
  const q = 2 ** (Math.max(exponentOf(a), emin) - f.mant);
  const r = rintPositive(a / q) * q;
  if (r > f.max) return f.inf ? (neg ? -Infinity : Infinity) : NaN;
  if (r === 0 && f.uz) return 0;
  return neg ? -r : r;
}

/**
 * The bit pattern of `v` in a narrow float format; `v` is first rounded with
 * {@link roundToFormat}. NaN is 0x80 in FNUZ formats, 0x7f in E4M3FN (its only
 * positive NaN), and the quiet NaN in IEEE-like formats (bfloat16 0x7fc0, e5m2 0x7e).
 */
export function formatBits(v: number, f: FloatFormat): number {
  const r = roundToFormat(v, f);
  const width = 1 + f.exp + f.mant;
  const signBit = 2 ** (width - 1);
  const topExp = 2 ** f.exp - 1;
  if (Number.isNaN(r)) return f.uz ? signBit : f.inf ? (topExp << f.mant) | (1 << (f.mant - 1)) : (topExp << f.mant) | (2 ** f.mant - 1);
  const sign = r < 0 || Object.is(r, -0) ? signBit : 0;
  const a = Math.abs(r);
  if (a === Infinity) return sign | (topExp << f.mant);
  if (a === 0) return sign;
  const emin = 1 - f.bias;
  const e = exponentOf(a);
  if (e < emin) return sign | (a / 2 ** (emin - f.mant));
  return sign | ((e + f.bias) << f.mant) | (a / 2 ** (e - f.mant) - 2 ** f.mant);
}

/** The value of a bit pattern of a narrow float format (every pattern has one: FNUZ 0x80 and the NaN patterns are NaN). */
export function fromFormatBits(b: number, f: FloatFormat): number {
  const width = 1 + f.exp + f.mant;
  const signBit = 2 ** (width - 1);
  const topExp = 2 ** f.exp - 1;
  const mantMask = 2 ** f.mant - 1;
  const e = (b >>> f.mant) & topExp;
  const m = b & mantMask;
  if (f.uz && b === signBit) return NaN;
  if (e === topExp && (f.inf || (!f.uz && m === mantMask))) return f.inf && m === 0 ? (b & signBit ? -Infinity : Infinity) : NaN;
  const mag = e === 0 ? m * 2 ** (1 - f.bias - f.mant) : (1 + m / 2 ** f.mant) * 2 ** (e - f.bias);
  return b & signBit ? -mag : mag;
}

/** Rounds a number to the nearest float16 value. */
export function roundHalf(v: number): number { return fromHalfBits(toHalfBits(v)); }

/**
 * Converts a JS number to what a `d` element holds: rounding for float16/float32,
 * truncation and wrap-around for integers, 0/1 for bool.
 */
export function coerce(d: DType, v: number): number {
  switch (INFO[d].kind) {
    case 'float': {
      const f = INFO[d].format;
      return f ? roundToFormat(v, f) : d === 'float16' ? roundHalf(v) : d === 'float32' ? Math.fround(v) : v;
    }
    case 'bool':
      return v !== 0 && !Number.isNaN(v) ? 1 : 0;
    case 'string':
      return 0;
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

/**
 * Packs 4-bit elements (int4/uint4, one per entry of `values`) two per byte as ONNX
 * stores them: element 2i in the low nibble of byte i, element 2i+1 in the high one
 * (an odd count leaves the last high nibble 0).
 */
export function packNibbles(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1]! |= (values[i]! & 0xf) << ((i & 1) * 4);
  return out;
}

/**
 * Unpacks `n` 4-bit elements from bytes packed as {@link packNibbles} writes them
 * into `out` (Int8Array: sign-extended int4; Uint8Array: uint4).
 */
export function unpackNibbles(bytes: ArrayLike<number>, n: number, out: Int8Array | Uint8Array): Int8Array | Uint8Array {
  const signed = out instanceof Int8Array;
  for (let i = 0; i < n; i++) {
    const v = ((bytes[i >> 1] ?? 0) >> ((i & 1) * 4)) & 0xf;
    out[i] = signed && v > 7 ? v - 16 : v;
  }
  return out;
}
