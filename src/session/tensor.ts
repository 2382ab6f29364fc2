/**
 * The public Tensor, in ONNX Runtime Web's style: `new Tensor(type, data, dims)`.
 * It is Kiln's CPU tensor (src/graph/tensor.ts) with ORT's constructor order, so
 * code written for `ort.Tensor` works after changing the import. Data conversions:
 * BigInt64Array (int64) → exact doubles, Uint16Array float16 bits → numbers,
 * plain arrays → the dtype's storage.
 */
import { coerce, fromHalfBits, isDType, storageClass, type DType, type TypedArray } from '../graph/dtype.js';
import { InputError } from '../graph/errors.js';
import { Tensor as CoreTensor } from '../graph/tensor.js';

/** Data accepted by the Tensor constructor. */
export type TensorDataLike = TypedArray | BigInt64Array | BigUint64Array | readonly number[] | readonly boolean[] | readonly bigint[];

function toStorage(type: DType, data: TensorDataLike): TypedArray {
  const Cls = storageClass(type);
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
   * @param type element type ('float32', 'int64', 'bool', ...)
   * @param data elements in row-major order
   * @param dims shape (default: 1-D of data's length)
   */
  constructor(type: DType | string, data: TensorDataLike, dims?: readonly number[]) {
    if (!isDType(type)) throw new InputError(`unknown tensor type '${type}'`);
    const shape = dims ?? [data.length];
    super(type, shape, toStorage(type, data));
  }
}
