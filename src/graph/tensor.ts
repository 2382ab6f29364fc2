/**
 * A concrete tensor on the CPU: dtype, concrete shape and a typed array in the
 * storage class of its dtype (see dtype.ts). Tensors are treated as immutable.
 */
import {
  allocStorage, coerce, dtypeBits, floatFormatOf, formatBits, fromFormatBits, isFloat, isString, packNibbles, rawByteLength, storageClass, unpackNibbles,
  type DType, type TypedArray,
} from './dtype.js';
import { DTypeError, ShapeError } from './errors.js';
import { checkDims, formatShape, sizeOf, stridesOf, type ConcreteShape } from './shape.js';

/** An immutable CPU tensor. */
export class Tensor {
  /** Element type. */
  readonly dtype: DType;
  /** Concrete shape. */
  readonly shape: ConcreteShape;
  /** Elements in row-major order, in the storage class of `dtype` (a zero placeholder for string tensors). */
  readonly data: TypedArray;
  /** A string tensor's elements in row-major order; undefined for every other dtype. */
  readonly strings: readonly string[] | undefined;

  /**
   * Creates a tensor. `data` must already be in the storage class of `dtype`
   * (use {@link Tensor.from} to convert plain numbers). A string tensor takes its
   * elements in `strings` (required; see {@link Tensor.fromStrings}).
   */
  constructor(dtype: DType, shape: ConcreteShape, data?: TypedArray, strings?: readonly string[]) {
    checkDims(shape, 'tensor');
    const n = sizeOf(shape);
    const d = data ?? allocStorage(dtype, n);
    if (d.length !== n) {
      throw new ShapeError(`tensor of shape ${formatShape(shape)} needs ${n} elements, got ${d.length}`);
    }
    if (!(d instanceof storageClass(dtype))) {
      throw new ShapeError(`tensor of dtype ${dtype} must be stored in ${storageClass(dtype).name}, got ${d.constructor.name}`);
    }
    if (!isString(dtype) && strings !== undefined) throw new DTypeError(`tensor of dtype ${dtype} cannot hold string elements`);
    // An op that builds its result from numeric storage alone cannot take strings: refuse rather than lose them.
    if (isString(dtype) && strings === undefined) throw new DTypeError('a string tensor needs its elements (Tensor.fromStrings); this op does not take strings');
    if (strings && strings.length !== n) {
      throw new ShapeError(`tensor of shape ${formatShape(shape)} needs ${n} elements, got ${strings.length}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = d;
    this.strings = strings ? Object.freeze([...strings]) : undefined;
  }

  /** A string tensor from its elements in row-major order. */
  static fromStrings(shape: ConcreteShape, values: readonly string[]): Tensor {
    for (const v of values) if (typeof v !== 'string') throw new DTypeError(`Tensor.fromStrings: element ${String(v)} is not a string`);
    return new Tensor('string', shape, undefined, values);
  }

  /** Builds a tensor from plain numbers (or booleans/bigints), coercing each to `dtype`. */
  static from(dtype: DType, shape: ConcreteShape, values: ArrayLike<number | boolean | bigint>): Tensor {
    if (isString(dtype)) throw new DTypeError('Tensor.from: string tensors are built with Tensor.fromStrings');
    const t = new Tensor(dtype, shape);
    if (values.length !== t.data.length) {
      throw new ShapeError(`tensor of shape ${formatShape(shape)} needs ${t.data.length} elements, got ${values.length}`);
    }
    for (let i = 0; i < values.length; i++) t.data[i] = coerce(dtype, Number(values[i]));
    return t;
  }

  /**
   * Builds a bfloat16, float8 or int4/uint4 tensor from its ONNX bit layout: one
   * bit pattern per element (Uint16Array for bfloat16, Uint8Array for float8), or
   * for int4/uint4 the bytes packed two elements each, low nibble first.
   * @throws {DTypeError} for other dtypes; {@link ShapeError} when the count does not fit the shape.
   */
  static fromBits(dtype: DType, shape: ConcreteShape, bits: ArrayLike<number>): Tensor {
    const t = new Tensor(dtype, shape);
    const f = floatFormatOf(dtype);
    const want = f ? t.size : rawByteLength(dtype, t.size);
    if (!f && dtypeBits(dtype) !== 4) throw new DTypeError(`Tensor.fromBits: ${dtype} has no bit layout of its own (only bfloat16, float8 and int4/uint4)`);
    if (bits.length !== want) throw new ShapeError(`Tensor.fromBits: ${dtype}${formatShape(shape)} needs ${want} ${f ? 'bit patterns' : 'packed bytes'}, got ${bits.length}`);
    if (f) for (let i = 0; i < t.size; i++) t.data[i] = fromFormatBits(bits[i]!, f);
    else unpackNibbles(bits, t.size, t.data as Int8Array | Uint8Array);
    return t;
  }

  /**
   * The ONNX bit layout of a bfloat16, float8 or int4/uint4 tensor (see
   * {@link Tensor.fromBits}): Uint16Array / Uint8Array bit patterns, or packed bytes.
   * @throws {DTypeError} for other dtypes.
   */
  toBits(): Uint8Array | Uint16Array {
    const f = floatFormatOf(this.dtype);
    if (f) {
      const out = dtypeBits(this.dtype) === 16 ? new Uint16Array(this.size) : new Uint8Array(this.size);
      for (let i = 0; i < this.size; i++) out[i] = formatBits(this.data[i]!, f);
      return out;
    }
    if (dtypeBits(this.dtype) === 4) return packNibbles(this.data);
    throw new DTypeError(`Tensor.toBits: ${this.dtype} has no bit layout of its own (only bfloat16, float8 and int4/uint4)`);
  }

  /** A scalar (rank-0) tensor. */
  static scalar(dtype: DType, v: number): Tensor {
    return Tensor.from(dtype, [], [v]);
  }

  /** A tensor filled with one value. */
  static full(dtype: DType, shape: ConcreteShape, v: number): Tensor {
    if (isString(dtype)) throw new DTypeError('Tensor.full: string tensors are built with Tensor.fromStrings');
    const t = new Tensor(dtype, shape);
    t.data.fill(coerce(dtype, v));
    return t;
  }

  /** Number of elements. */
  get size(): number { return this.data.length; }
  /** Number of axes. */
  get rank(): number { return this.shape.length; }
  /** The shape, under ONNX Runtime's name (`tensor.dims`). */
  get dims(): ConcreteShape { return this.shape; }
  /** The element type, under ONNX Runtime's name (`tensor.type`). */
  get type(): DType { return this.dtype; }
  /** Row-major strides. */
  get strides(): number[] { return stridesOf(this.shape); }

  /** Elements as plain numbers. @throws {DTypeError} for a string tensor (see {@link Tensor.toStrings}). */
  toArray(): number[] {
    if (this.strings) throw new DTypeError('Tensor.toArray: a string tensor has no numbers; use toStrings()');
    return Array.from(this.data as ArrayLike<number>);
  }

  /** A string tensor's elements. @throws {DTypeError} for other dtypes. */
  toStrings(): string[] {
    if (!this.strings) throw new DTypeError(`Tensor.toStrings: a ${this.dtype} tensor holds no strings`);
    return [...this.strings];
  }

  /** Same data, new shape (sizes must match). */
  reshape(shape: ConcreteShape): Tensor {
    return new Tensor(this.dtype, shape, this.data, this.strings);
  }

  /** True if dtype is a float type. */
  get isFloat(): boolean { return isFloat(this.dtype); }

  /** Short description for messages: `float32[1,3]`. */
  toString(): string { return `${this.dtype}${formatShape(this.shape)}`; }
}

/** Reads an element of a tensor as a number; for index lists (axes, shapes). */
export function tensorInts(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number>, (v) => Math.trunc(v));
}
