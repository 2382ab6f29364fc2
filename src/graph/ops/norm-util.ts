/**
 * Helpers shared by the normalization ops: moments of a contiguous block, expansion of
 * a small parameter tensor (scale, bias) to a block shape, and the matching build-time
 * shape checks.
 */
import { FLOATS, expectDType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import type { InferInput } from '../op.js';
import { formatShape, stridesOf, type ConcreteShape, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** Mean and population variance of `len` contiguous elements of `src` from `base` (two-pass, float64). */
export function moments(src: ArrayLike<number>, base: number, len: number): { mean: number; variance: number } {
  let s = 0;
  for (let k = 0; k < len; k++) s += src[base + k]!;
  const mean = s / len;
  let v = 0;
  for (let k = 0; k < len; k++) {
    const d = src[base + k]! - mean;
    v += d * d;
  }
  return { mean, variance: v / len };
}

/**
 * Checks at build time that `small` broadcasts unidirectionally into `big`
 * (right-aligned; each dim 1 or equal; symbolic dims are trusted).
 */
export function checkBroadcastInto(small: Shape, big: Shape, node: string, what: string): void {
  const off = big.length - small.length;
  const bad = off < 0 || small.some((d, i) => {
    const b = big[off + i]!;
    return d !== 1 && d !== b && typeof d === 'number' && typeof b === 'number';
  });
  if (bad) {
    throw new ShapeError(`${node}: ${what} of shape ${formatShape(small)} does not broadcast to ${formatShape(big)}`, node);
  }
}

/** Expands `t` (unidirectionally broadcast, right-aligned) to `shape`, as a flat Float64Array. */
export function expandTo(t: Tensor, shape: ConcreteShape, node: string, what: string): Float64Array {
  checkBroadcastInto(t.shape, shape, node, what);
  let n = 1;
  for (const d of shape) n *= d;
  const out = new Float64Array(n);
  if (t.size === n) {
    out.set(t.data);
    return out;
  }
  const off = shape.length - t.rank;
  const st = stridesOf(t.shape);
  const bst = shape.map((_, i) => (i < off || t.shape[i - off] === 1 ? 0 : st[i - off]!));
  const ost = stridesOf(shape);
  for (let j = 0; j < n; j++) {
    let rem = j;
    let src = 0;
    for (let a = 0; a < shape.length; a++) {
      const q = Math.floor(rem / ost[a]!);
      rem -= q * ost[a]!;
      src += q * bst[a]!;
    }
    out[j] = t.data[src]!;
  }
  return out;
}

/** Checks that a per-channel parameter is a float 1-D tensor of `count` elements (when both are known). */
export function checkPerChannel(p: InferInput | undefined, count: number | string, node: string, what: string): void {
  if (!p) return;
  expectDType(p.dtype, FLOATS, node, what);
  const d = p.shape[0];
  if (p.shape.length !== 1 || (typeof d === 'number' && typeof count === 'number' && d !== count)) {
    throw new ShapeError(`${node}: ${what} must have shape [${count}], got ${formatShape(p.shape)}`, node);
  }
}

/** Product of concrete dims from `from` to the end. */
export function tailSize(shape: ConcreteShape, from: number): number {
  let n = 1;
  for (let i = from; i < shape.length; i++) n *= shape[i]!;
  return n;
}
