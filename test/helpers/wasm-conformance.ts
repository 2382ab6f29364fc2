/**
 * The conformance ratchet of the wasm backend, shared by the ONNX 1.12 and 1.17
 * suites: one suite as imported (O0) on `wasm`, at least `min` passes, no failing case
 * outside the ledger's list, every O0 pass still passing after the O2 passes, and at
 * least one case whose steps ran in emitted WebAssembly (not all on the reference).
 */
import { expect } from 'chai';
import { compileWasm, type WasmProgram } from '../../src/backends/wasm/index.js';
import { runConformance, type Suite } from '../../src/harness/conformance.js';
import { atLevel, type Backend } from '../../src/session/backends.js';

/** The wasm backend, keeping every program it compiles (to count the ones that ran wasm kernels). */
export function recordingWasm(programs: WasmProgram[]): Backend {
  return {
    name: 'wasm',
    compile(graph) {
      const p = compileWasm(graph);
      programs.push(p);
      return Promise.resolve({
        run: (feeds) => Promise.resolve(p.run(feeds)),
        runValues: (feeds) => Promise.resolve(p.runValues(feeds)),
        release: () => undefined,
      });
    },
  };
}

/** Runs `suite` on wasm at O0 and O2 and checks it as the file comment says; returns the O0 pass count. */
export async function checkWasmConformance(suite: Suite, root: string, min: number, known: readonly RegExp[]): Promise<number> {
  const programs: WasmProgram[] = [];
  const t0 = performance.now();
  const report = await runConformance({ backend: recordingWasm(programs), suites: [suite], root });
  const inWasm = programs.filter((p) => p.coverage.wasm > 0).length;
  console.log(`      wasm ${suite}: total ${report.total}, passed ${report.passed}, failed ${report.failed}, unsupported ${report.unsupported}; ${inWasm} cases ran wasm kernels (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const unlisted = report.cases.filter((c) => c.status === 'fail' && !known.some((k) => k.test(c.name))).map((c) => `${c.name}: ${c.detail}`);
  expect(unlisted, `wasm ${suite}: failing cases not listed (with why) in the ledger`).to.deep.equal([]);
  expect(report.passed, `wasm ${suite}: passed ${report.passed} < ${min}`).to.be.at.least(min);
  expect(inWasm, `wasm ${suite}: no case ran a wasm kernel`).to.be.greaterThan(0);
  const r2 = await runConformance({ backend: atLevel(recordingWasm([]), 2), suites: [suite], root });
  const status = new Map(r2.cases.map((c) => [c.name, c]));
  const lost = report.cases.filter((c) => c.status === 'pass' && status.get(c.name)?.status !== 'pass').map((c) => `${c.name}: ${status.get(c.name)?.detail}`);
  console.log(`      wasm ${suite} at O2: passed ${r2.passed}, failed ${r2.failed}, unsupported ${r2.unsupported}`);
  expect(lost, `wasm ${suite}: pass at O0, not at O2`).to.deep.equal([]);
  return report.passed;
}
