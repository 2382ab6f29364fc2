/**
 * Host ↔ GPU storage conversion (see kernel.ts for the storage of each dtype).
 *
 * int64/uint64 are **narrowed** to 32 bits on the GPU: uploads range-check every
 * element and throw a {@link LimitError} naming the tensor when a value does not
 * fit (token ids, indices and shapes always do in practice); downloads widen back.
 * bool is a u32 0/1, float64 narrows to f32, float16 is stored as f16 when the
 * device has `shader-f16` (else as f32), bfloat16 and float8 are f32 (exact: their
 * CPU storage already holds the rounded values; kernels writing them round with the
 * format's rounding function), narrow ints (int4/uint4 included) widen to i32/u32.
 */
import { allocStorage, dtypeRange, fromHalfBits, toHalfBits, type DType } from '../../graph/dtype.js';
import { LimitError } from '../../graph/errors.js';
import { Tensor } from '../../graph/tensor.js';
import type { ConcreteShape } from '../../graph/shape.js';
import { storageBytes, storageOf, type GpuStorage } from './kernel.js';

/** Bytes a GPU buffer needs for `n` elements of `storage` (≥ 4, multiple of 4). */
export function bufferBytes(n: number, storage: GpuStorage): number {
  return Math.max(4, Math.ceil((n * storageBytes(storage)) / 4) * 4);
}

/** Converts a CPU tensor to the bytes of its GPU storage; `what` names it in errors. */
export function toStorage(t: Tensor, f16: boolean, what: string): ArrayBuffer {
  const storage = storageOf(t.dtype, f16);
  const n = t.size;
  const out = new ArrayBuffer(bufferBytes(n, storage));
  const src = t.data;
  if (storage === 'f32') {
    new Float32Array(out, 0, n).set(src);
  } else if (storage === 'f16') {
    const h = new Uint16Array(out, 0, n);
    for (let i = 0; i < n; i++) h[i] = toHalfBits(src[i]!);
  } else if (storage === 'i32') {
    const a = new Int32Array(out, 0, n);
    if (t.dtype === 'int64') {
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        if (v < -2147483648 || v > 2147483647) {
          throw new LimitError(`${what}: int64 value ${v} at element ${i} does not fit the GPU's 32-bit integer storage`, what);
        }
        a[i] = v;
      }
    } else {
      a.set(src);
    }
  } else {
    const a = new Uint32Array(out, 0, n);
    if (t.dtype === 'uint64') {
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        if (v > 4294967295) throw new LimitError(`${what}: uint64 value ${v} at element ${i} does not fit the GPU's 32-bit integer storage`, what);
        a[i] = v;
      }
    } else {
      a.set(src);
    }
  }
  return out;
}

/** Converts GPU storage bytes back to a CPU tensor of `dtype` and `shape`. */
export function fromStorage(bytes: ArrayBuffer, dtype: DType, shape: ConcreteShape, f16: boolean): Tensor {
  const storage = storageOf(dtype, f16);
  let n = 1;
  for (const d of shape) n *= d;
  const data = allocStorage(dtype, n);
  if (storage === 'f16') {
    const h = new Uint16Array(bytes, 0, n);
    for (let i = 0; i < n; i++) data[i] = fromHalfBits(h[i]!);
  } else {
    const view = storage === 'f32' ? new Float32Array(bytes, 0, n) : storage === 'i32' ? new Int32Array(bytes, 0, n) : new Uint32Array(bytes, 0, n);
    if (dtype === 'bool') {
      for (let i = 0; i < n; i++) data[i] = view[i] ? 1 : 0;
    } else if (dtype === 'int8' || dtype === 'int16' || dtype === 'uint8' || dtype === 'uint16' || dtype === 'int4' || dtype === 'uint4') {
      const { min, max } = dtypeRange(dtype);
      const span = max - min + 1;
      for (let i = 0; i < n; i++) {
        let w = (view[i]! - min) % span;
        if (w < 0) w += span;
        data[i] = w + min;
      }
    } else {
      data.set(view);
    }
  }
  return new Tensor(dtype, shape, data);
}
