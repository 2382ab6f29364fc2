/// <reference types="@webgpu/types" />
/**
 * Shared driver of the heavy-kernel WebGPU tests: each case builds a graph from
 * seeded random inputs; the suite compares WebGPU with the CPU reference.
 */
import type { DType } from '../src/graph/dtype.js';
import { GraphBuilder, type Graph, type Tensor } from '../src/graph/index.js';
import type { Sym } from '../src/graph/builder.js';
import type { KernelOptions } from '../src/backends/webgpu/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { compareWithCpu, randomTensor } from './helpers/gpu-compare.js';

/** Declares a graph input fed with a seeded random tensor. */
export type Feed = (name: string, dtype: DType, shape: number[], lo?: number, hi?: number) => Sym;
/** Builds one case's outputs. */
export type Build = (b: GraphBuilder, feed: Feed) => Sym | Sym[];

/** An int64 constant. */
export const i64 = (b: GraphBuilder, v: number[], shape?: number[]): Sym => b.constant(v, { dtype: 'int64', ...(shape ? { shape } : {}) });

/** Builds case `k` of a suite: its graph (outputs `y0`, `y1`, ...) and seeded random feeds. */
export function buildCase(name: string, build: Build, seed: number): { graph: Graph; feeds: Record<string, Tensor> } {
  const b = new GraphBuilder(name);
  const feeds: Record<string, Tensor> = {};
  const feed: Feed = (n, dtype, shape, lo, hi) => {
    feeds[n] = randomTensor(dtype, shape, seed + Object.keys(feeds).length, lo, hi);
    return b.input(n, dtype, shape);
  };
  const out = build(b, feed);
  (Array.isArray(out) ? out : [out]).forEach((s, j) => b.output(s, `y${j}`));
  return { graph: b.build(), feeds };
}

/** A mocha suite comparing every case on WebGPU (with `kernelOptions`) with the CPU reference (relative tolerance `tol`). */
export function heavySuite(title: string, cases: Record<string, Build>, tol = 1e-4, seed = 7000, kernelOptions: KernelOptions = {}): void {
  describe(title, function () {
    this.timeout(60000);
    let device: GPUDevice;
    before(async function () {
      device = await deviceOrSkip(this);
    });
    Object.entries(cases).forEach(([name, build], k) => {
      it(name, async function () {
        const { graph, feeds } = buildCase(name, build, seed + 31 * k);
        await compareWithCpu(device, graph, feeds, tol, kernelOptions);
      });
    });
  });
}
