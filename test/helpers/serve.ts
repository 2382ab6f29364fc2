/** Tiny models with a dynamic batch dim for the `kiln serve` tests, and their expected outputs. */
import { model, vi } from '../onnx-util.js';

const FLOAT = 1;

/** y = x · W + b with x: [batch, 3], W: [3, 2] (a model with a leading dynamic batch dim). */
export function tinyModel(scale: number): Uint8Array {
  const w = [1, 2, 3, 4, 5, 6].map((v) => v * scale);
  return model({
    input: [vi('x', FLOAT, ['batch', 3])],
    output: [vi('y', FLOAT, ['batch', 2])],
    initializer: [
      { name: 'W', dataType: FLOAT, dims: [3, 2], floatData: w },
      { name: 'b', dataType: FLOAT, dims: [2], floatData: [0.5, -0.5] },
    ],
    node: [
      { opType: 'MatMul', input: ['x', 'W'], output: ['xw'] },
      { opType: 'Add', input: ['xw', 'b'], output: ['y'] },
    ],
  });
}

/** The expected output of {@link tinyModel} for rows of x. */
export function tinyExpected(rows: readonly number[][], scale: number): number[][] {
  const w = [[1, 2], [3, 4], [5, 6]].map((r) => r.map((v) => v * scale));
  return rows.map((x) => [0, 1].map((j) => x[0]! * w[0]![j]! + x[1]! * w[1]![j]! + x[2]! * w[2]![j]! + (j === 0 ? 0.5 : -0.5)));
}

/** s = a + b and p = a * b, two inputs [batch, 2] (TF Serving's named instances; missing inputs). */
export function pairModel(): Uint8Array {
  return model({
    input: [vi('a', FLOAT, ['n', 2]), vi('b', FLOAT, ['n', 2])],
    output: [vi('s', FLOAT, ['n', 2]), vi('p', FLOAT, ['n', 2])],
    node: [{ opType: 'Add', input: ['a', 'b'], output: ['s'] }, { opType: 'Mul', input: ['a', 'b'], output: ['p'] }],
  });
}

