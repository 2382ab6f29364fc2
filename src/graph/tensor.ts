/**
 * A concrete tensor on the CPU: dtype, concrete shape and a typed array in the
 * storage class of its dtype (see dtype.ts). Tensors are treated as immutable.
 */
import { allocStorage, coerce, isFloat, storageClass, type DType, type TypedArray } from './dtype.js';
import { ShapeError } from './errors.js';
import { checkDims, formatShape, sizeOf, stridesOf, type ConcreteShape } from './shape.js';

/** An immutable CPU tensor. */
export class Tensor {
  /** Element type. */
  readonly dtype: DType;
  /** Concrete shape. */
  readonly shape: ConcreteShape;
  /** Elements in row-major order, in the storage class of `dtype`. */
  readonly data: TypedArray;

  /**
   * Creates a tensor. `data` must already be in the storage class of `dtype`
   * (use {@link Tensor.from} to convert plain numbers).
   */
  constructor(dtype: DType, shape: ConcreteShape, data?: TypedArray) {
    checkDims(shape, 'tensor');
    const n = sizeOf(shape);
    const d = data ?? allocStorage(dtype, n);
    if (d.length !== n) {
      throw new ShapeError(`tensor of shape ${formatShape(shape)} needs ${n} elements, got ${d.length}`);
    }
    if (!(d instanceof storageClass(dtype))) {
      throw new ShapeError(`tensor of dtype ${dtype} must be stored in ${storageClass(dtype).name}, got ${d.constructor.name}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = d;
  }

  /** Builds a tensor from plain numbers (or booleans/bigints), coercing each to `dtype`. */
  static from(dtype: DType, shape: ConcreteShape, values: ArrayLike<number | boolean | bigint>): Tensor {
    const t = new Tensor(dtype, shape);
    if (values.length !== t.data.length) {
      throw new ShapeError(`tensor of shape ${formatShape(shape)} needs ${t.data.length} elements, got ${values.length}`);
    }
    for (let i = 0; i < values.length; i++) t.data[i] = coerce(dtype, Number(values[i]));
    return t;
  }

  /** A scalar (rank-0) tensor. */
  static scalar(dtype: DType, v: number): Tensor {
    return Tensor.from(dtype, [], [v]);
  }

  /** A tensor filled with one value. */
  static full(dtype: DType, shape: ConcreteShape, v: number): Tensor {
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

  /** Elements as plain numbers. */
  toArray(): number[] { return Array.from(this.data as ArrayLike<number>); }

  /** Same data, new shape (sizes must match). */
  reshape(shape: ConcreteShape): Tensor {
    return new Tensor(this.dtype, shape, this.data);
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
