/**
 * Reads the Fashion-MNIST IDX files (gzip) of the Debian package dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist, or FASHION_MNIST_DIR). Used by the example and
 * by bench/train.ts.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Tensor } from '../../src/graph/tensor.js';
import { parseIdx } from './idx-parse.js';

/** Where the Fashion-MNIST IDX files are. */
export const FASHION_MNIST_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

/** Reads a gzip IDX file (at most `limit` items): images as float32 [n, 784] scaled to [0, 1], labels as int32 [n]. */
export function readIdx(file: string, limit: number, dir = FASHION_MNIST_DIR): Tensor {
  return parseIdx(gunzipSync(readFileSync(path.join(dir, file))), limit, file);
}
