/**
 * Shared check of the wasm kernel tests: runs a graph on the wasm backend and on the
 * CPU reference, checks that `op` ran in wasm (not on the reference) and that output
 * `y` agrees, |wasm − cpu| ≤ 1e-5 + 1e-5·|cpu| (or exactly).
 */
import { expect } from 'chai';
import { compileCpu } from '../../src/backends/cpu/index.js';
import { compileWasm, type WasmProgram } from '../../src/backends/wasm/index.js';
import type { Graph } from '../../src/graph/graph.js';
import type { Tensor } from '../../src/graph/tensor.js';

/** Compiles `g` for wasm, runs it on `feeds` against the CPU reference and returns the program and its `y`. */
export function wasmMatchesCpu(label: string, g: Graph, feeds: Record<string, Tensor>, op: string, exact = false): { p: WasmProgram; got: Tensor } {
  const want = compileCpu(g).run(feeds)['y']!;
  const p = compileWasm(g);
  const got = p.run(feeds)['y']!;
  expect(p.coverage.wasmOps, `${label}: ${op} ran on the reference`).to.include(op);
  expect(got.shape, label).to.deep.equal(want.shape);
  for (let i = 0; i < want.size; i++) {
    const w = Number(want.data[i]), v = Number(got.data[i]);
    if (exact ? v !== w : !(Math.abs(w - v) <= 1e-5 + 1e-5 * Math.abs(w))) expect.fail(`${label}: y[${i}] wasm ${v} vs cpu ${w}`);
  }
  return { p, got };
}
