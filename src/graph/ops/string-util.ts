/**
 * Helpers of the string ops: broadcasting a function over string tensors' elements,
 * and reading a string input as elements.
 */
import { DTypeError } from '../errors.js';
import { broadcastStrides } from '../reference.js';
import { broadcastShapes } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { DType } from '../dtype.js';

/** A string tensor's elements, or a DTypeError naming the node. */
export function stringsOf(t: Tensor, node: string, what: string): readonly string[] {
  if (!t.strings) throw new DTypeError(`${node}: ${what} has dtype ${t.dtype}, expected string`, node);
  return t.strings;
}

/**
 * Evaluates `f` on the broadcast elements of string tensors, giving a string tensor
 * (`out` = 'string') or a numeric one (`f` returns numbers).
 */
export function mapStrings(inputs: readonly Tensor[], out: DType, f: (vals: readonly string[]) => string | number, node: string): Tensor {
  const shape = broadcastShapes(inputs.map((t) => t.shape), node) as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  const strides = inputs.map((t) => broadcastStrides(t.shape, shape));
  const srcs = inputs.map((t) => stringsOf(t, node, 'input'));
  const res: (string | number)[] = new Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  const vals = new Array<string>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < inputs.length; j++) {
      let off = 0;
      for (let a = 0; a < shape.length; a++) off += idx[a]! * strides[j]![a]!;
      vals[j] = srcs[j]![off]!;
    }
    res[i] = f(vals);
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  if (out === 'string') return Tensor.fromStrings(shape, res as string[]);
  return Tensor.from(out, shape, res as number[]);
}
