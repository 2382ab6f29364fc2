/**
 * Parses Fashion-MNIST IDX bytes (already decompressed) into Kiln tensors. No Node
 * imports: shared by examples/fashion-mnist/idx.ts (Node, files) and the browser
 * training page examples/train-browser (fetched over HTTP).
 */
import { InputError } from '../../src/graph/errors.js';
import { Tensor } from '../../src/graph/tensor.js';

/** Bytes of the IDX header: 8 for a label file (magic 2049), 16 for an image file (magic 2051). */
export function idxHeaderBytes(b: Uint8Array, name: string): number {
  if (b.byteLength < 8) throw new InputError(`${name}: too short for an IDX header (${b.byteLength} bytes)`);
  const magic = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
  if (magic === 2049) return 8;
  if (magic === 2051) return 16;
  throw new InputError(`${name}: not an IDX image/label file (magic ${magic})`);
}

/**
 * Parses IDX bytes (at most `limit` items): images as float32 [n, 784] scaled to [0, 1],
 * labels as int32 [n]. `b` may be a prefix of the file holding at least `limit` items.
 */
export function parseIdx(b: Uint8Array, limit: number, name: string): Tensor {
  const head = idxHeaderBytes(b, name);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.byteLength < head) throw new InputError(`${name}: truncated IDX header`);
  const px = head === 16 ? dv.getUint32(8) * dv.getUint32(12) : 1;
  const n = Math.min(dv.getUint32(4), limit, Math.floor((b.byteLength - head) / px));
  if (head === 8) return new Tensor('int32', [n], Int32Array.from(b.subarray(8, 8 + n)));
  return new Tensor('float32', [n, px], Float32Array.from(b.subarray(16, 16 + n * px), (v) => v / 255));
}
