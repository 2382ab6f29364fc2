/**
 * Reads the Fashion-MNIST IDX files (gzip) of the Debian package dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist, or FASHION_MNIST_DIR). Used by the example and
 * by bench/train.ts.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../src/graph/errors.js';
import { Tensor } from '../../src/graph/tensor.js';

/** Where the Fashion-MNIST IDX files are. */
export const FASHION_MNIST_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

/** Reads a gzip IDX file (at most `limit` items): images as float32 [n, 784] scaled to [0, 1], labels as int32 [n]. */
export function readIdx(file: string, limit: number, dir = FASHION_MNIST_DIR): Tensor {
  const b = gunzipSync(readFileSync(path.join(dir, file)));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = dv.getUint32(0);
  const n = Math.min(dv.getUint32(4), limit);
  if (magic === 2049) return new Tensor('int32', [n], Int32Array.from(b.subarray(8, 8 + n)));
  if (magic !== 2051) throw new InputError(`${file}: not an IDX image/label file (magic ${magic})`);
  const px = dv.getUint32(8) * dv.getUint32(12);
  return new Tensor('float32', [n, px], Float32Array.from(b.subarray(16, 16 + n * px), (v) => v / 255));
}
