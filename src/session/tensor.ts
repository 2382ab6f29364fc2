/**
 * The public Tensor, in ONNX Runtime Web's style: `new Tensor(type, data, dims)`.
 * It is Kiln's CPU tensor (src/graph/tensor.ts) with ORT's constructor order, so
 * code written for `ort.Tensor` works after changing the import. Data conversions:
 * BigInt64Array (int64) → exact doubles, Uint16Array float16 / bfloat16 bits and
 * Uint8Array float8 bits → numbers, plain arrays (and a Float32Array for bfloat16 /
 * float8, an Int8Array / Uint8Array of one int4 / uint4 per element) → the dtype's
 * storage, rounded or wrapped to the dtype.
 */
import { coerce, dtypeBits, floatFormatOf, fromFormatBits, fromHalfBits, isDType, storageClass, type DType, type TypedArray } from '../graph/dtype.js';
import { InputError } from '../graph/errors.js';
import { Tensor as CoreTensor } from '../graph/tensor.js';

/** Data accepted by the Tensor constructor. */
export type TensorDataLike = TypedArray | BigInt64Array | BigUint64Array | readonly number[] | readonly boolean[] | readonly bigint[] | readonly string[];

function toStorage(type: DType, data: Exclude<TensorDataLike, readonly string[]>): TypedArray {
  const Cls = storageClass(type);
  const fmt = floatFormatOf(type);
  if (fmt && (data instanceof Uint16Array || data instanceof Uint8Array)) {
    // bfloat16 / float8 bit patterns.
    return Float32Array.from(data, (b) => fromFormatBits(b, fmt));
  }
  if (data instanceof Cls && (fmt || dtypeBits(type) === 4)) return (data as TypedArray).map((v) => coerce(type, v));
  if (data instanceof Cls && !(type === 'float16' && data instanceof Uint16Array)) return data as TypedArray;
  const out = new Cls(data.length);
  if (type === 'float16' && data instanceof Uint16Array) {
    for (let i = 0; i < data.length; i++) out[i] = fromHalfBits(data[i]!);
    return out;
  }
  for (let i = 0; i < data.length; i++) out[i] = coerce(type, Number(data[i]));
  return out;
}

/** A CPU tensor constructed ONNX-Runtime-style: `new Tensor('float32', data, [1, 3])`. */
export class Tensor extends CoreTensor {
  /**
   * @param type element type ('float32', 'int64', 'bool', 'string', ...)
   * @param data elements in row-major order (a string array for 'string')
   * @param dims shape (default: 1-D of data's length)
   */
  constructor(type: DType | string, data: TensorDataLike, dims?: readonly number[]) {
    if (!isDType(type)) throw new InputError(`unknown tensor type '${type}'`);
    const shape = dims ?? [data.length];
    const isStr = type === 'string';
    const list = data as readonly unknown[];
    if (isStr !== (Array.isArray(data) && list.length > 0 && typeof list[0] === 'string') && !(isStr && Array.isArray(data) && list.length === 0)) {
      throw new InputError(isStr ? "a 'string' tensor's data must be a string array" : `a '${type}' tensor cannot hold strings`);
    }
    if (isStr && list.some((v) => typeof v !== 'string')) throw new InputError("a 'string' tensor's data must be a string array");
    if (isStr) super(type, shape, undefined, data as readonly string[]);
    else super(type, shape, toStorage(type, data as Exclude<TensorDataLike, readonly string[]>));
  }
}
