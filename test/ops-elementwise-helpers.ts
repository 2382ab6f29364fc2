/** Helpers shared by the elementwise op tests: run one op on the CPU, compare with tolerance. */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, type DType } from '../src/graph/index.js';

/** A tensor from numbers; shape defaults to a vector. */
export function T(dtype: DType, values: readonly number[], shape: readonly number[] = [values.length]): Tensor {
  return Tensor.from(dtype, shape, values);
}

/**
 * Builds a one-node graph applying `op` to fresh inputs of the given tensors' types
 * (`undefined` = omitted optional input), runs it with the CPU backend, returns output 0.
 */
export function run1(op: string, inputs: readonly (Tensor | undefined)[], attrs: Record<string, unknown> = {}): Tensor {
  const b = new GraphBuilder('t');
  const feeds: Record<string, Tensor> = {};
  const syms = inputs.map((t, i) => {
    if (!t) return undefined;
    feeds[`x${i}`] = t;
    return b.input(`x${i}`, t.dtype, t.shape);
  });
  const [y] = b.apply(op, syms, attrs as never);
  b.output(y!, 'y');
  return compileCpu(b.build()).run(feeds).y!;
}

/** Asserts elementwise closeness (NaN matches NaN, infinities must match exactly). */
export function expectClose(actual: Tensor, expected: readonly number[], rtol = 1e-6, atol = 1e-7): void {
  const a = actual.toArray();
  expect(a.length, 'element count').to.equal(expected.length);
  a.forEach((v, i) => {
    const e = expected[i]!;
    const where = `element ${i}: got ${v}, expected ${e} (all: ${a.join(', ')})`;
    if (Number.isNaN(e)) expect(Number.isNaN(v), where).to.equal(true);
    else if (!Number.isFinite(e)) expect(v, where).to.equal(e);
    else expect(Math.abs(v - e) <= atol + rtol * Math.abs(e), where).to.equal(true);
  });
}

/** Asserts exact equality of elements, dtype and shape. */
export function expectExact(actual: Tensor, dtype: DType, shape: readonly number[], expected: readonly number[]): void {
  expect(actual.dtype).to.equal(dtype);
  expect(actual.shape).to.deep.equal(shape);
  expect(actual.toArray()).to.deep.equal(expected);
}
