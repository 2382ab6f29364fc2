/// <reference types="@webgpu/types" />
/**
 * Helpers for WebGPU op tests: seeded random tensors, and a check that runs one
 * graph on the CPU reference backend and on WebGPU and compares every output
 * (dtype, shape, values within a tolerance; NaN equals NaN).
 */
import { expect } from 'chai';
import { compileCpu } from '../../src/backends/cpu/index.js';
import { compileWebGpu, type KernelOptions } from '../../src/backends/webgpu/index.js';
import type { DType } from '../../src/graph/dtype.js';
import { isFloat } from '../../src/graph/dtype.js';
import type { Graph } from '../../src/graph/graph.js';
import { Rng } from '../../src/graph/random.js';
import { Tensor } from '../../src/graph/tensor.js';

/** A small deterministic PRNG (mulberry32, src/graph/random.ts) as a function. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** A random tensor: floats in [lo, hi), integers in [lo, hi], bool 0/1. */
export function randomTensor(dtype: DType, shape: readonly number[], seed = 1, lo = -2, hi = 2): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, () => {
    if (dtype === 'bool') return r() < 0.5 ? 0 : 1;
    if (isFloat(dtype)) return lo + (hi - lo) * r();
    return Math.floor(lo + (hi - lo + 1) * r());
  });
  return Tensor.from(dtype, shape, vals);
}

/** Asserts two tensors are equal in dtype and shape, and in values within `tol` (relative to magnitude). */
export function expectClose(got: Tensor, want: Tensor, tol: number, what: string): void {
  expect(got.dtype, `${what} dtype`).to.equal(want.dtype);
  expect([...got.shape], `${what} shape`).to.deep.equal([...want.shape]);
  let bad = 0;
  let first = '';
  for (let i = 0; i < want.size; i++) {
    const a = got.data[i]!;
    const b = want.data[i]!;
    const ok = (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
    if (!ok) {
      if (!bad) first = `element ${i}: got ${a}, want ${b}`;
      bad++;
    }
  }
  expect(bad, `${what}: ${bad} of ${want.size} elements differ (${first})`).to.equal(0);
}

/** The largest |a − b| over the elements of two tensors, after asserting they have the same shape. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect([...a.shape]).to.deep.equal([...b.shape]);
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

/** Asserts two tensors have the same shape and |got − want| ≤ atol + rtol·|want| element by element, naming the first bad one. */
export function expectNear(got: Tensor, want: Tensor, atol: number, rtol: number, what: string): void {
  expect([...got.shape], `${what} shape`).to.deep.equal([...want.shape]);
  for (let i = 0; i < got.size; i++) {
    const x = Number(got.data[i]);
    const y = Number(want.data[i]);
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) expect.fail(`${what}[${i}]: ${x} vs ${y}`);
  }
}

/** Runs `graph` on the CPU reference and on WebGPU (with `kernelOptions`) with the same feeds and compares all outputs. */
export async function compareWithCpu(device: GPUDevice, graph: Graph, feeds: Record<string, Tensor>, tol = 1e-5, kernelOptions: KernelOptions = {}): Promise<Record<string, Tensor>> {
  const want = compileCpu(graph).run(feeds);
  const prog = await compileWebGpu(graph, { device, kernelOptions });
  const got = (await prog.run(feeds)) as Record<string, Tensor>;
  for (const [name, t] of Object.entries(want)) expectClose(got[name]!, t, tol, `${graph.name}/${name}`);
  prog.release();
  return got;
}
