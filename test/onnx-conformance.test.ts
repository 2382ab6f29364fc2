/**
 * The conformance ratchet: runs the ONNX backend test suites on the CPU backend and
 * fails if fewer cases pass than conformance/baseline.json records — as imported
 * (O0), and again after the O1 and the O2 passes, where every case passing at O0
 * must pass (no op is level-dependent). A case that fails must be listed with why in
 * the baseline's `failing` list. The wasm backend runs every suite against its own
 * counts (`wasm`) and the same list, at O0 and O2 (test/helpers/wasm-conformance.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { atLevel, loadBackend } from '../src/session/backends.js';
import { REPO_ROOT, runConformance, SUITES, testDataRoot, type ConformanceReport } from '../src/harness/conformance.js';
import { checkWasmConformance } from './helpers/wasm-conformance.js';

const baseline = JSON.parse(readFileSync(path.join(REPO_ROOT, 'conformance/baseline.json'), 'utf8')) as { cpu: Record<string, number>; wasm: Record<string, number>; failing: { pattern: string; reason: string }[] };
const known = baseline.failing.map((f) => new RegExp(f.pattern));

describe('ONNX conformance (CPU backend, ratchet)', function () {
  this.timeout(240_000);
  const haveData = existsSync(path.join(testDataRoot(), 'node'));

  for (const suite of SUITES) {
    it(`${suite}: passes at least the baseline (${baseline.cpu[suite]}), at O0, O1 and O2`, async function () {
      if (!haveData) this.skip();
      const report: ConformanceReport = await runConformance({ backend: await loadBackend('cpu'), suites: [suite] });
      const failing = report.cases.filter((c) => c.status === 'fail').map((c) => `${c.name}: ${c.detail}`);
      console.log(`      ${suite}: total ${report.total}, passed ${report.passed}, failed ${report.failed}, unsupported ${report.unsupported}`);
      if (failing.length) console.log(`      failing:\n        ${failing.slice(0, 20).join('\n        ')}`);
      expect(report.total).to.be.greaterThan(0);
      const unlisted = report.cases.filter((c) => c.status === 'fail' && !known.some((k) => k.test(c.name))).map((c) => `${c.name}: ${c.detail}`);
      expect(unlisted, 'failing cases not listed (with why) in conformance/baseline.json').to.deep.equal([]);
      expect(report.passed, `${suite}: passed ${report.passed} < baseline ${baseline.cpu[suite]}`).to.be.at.least(baseline.cpu[suite]!);
      for (const level of [1, 2] as const) {
        const r = await runConformance({ backend: atLevel(await loadBackend('cpu'), level), suites: [suite] });
        const status = new Map(r.cases.map((c) => [c.name, c]));
        const lost = report.cases.filter((c) => c.status === 'pass' && status.get(c.name)?.status !== 'pass').map((c) => `${c.name}: ${status.get(c.name)?.detail}`);
        console.log(`      ${suite} at O${level}: passed ${r.passed}, failed ${r.failed}, unsupported ${r.unsupported}`);
        expect(lost, `pass at O0, not at O${level}:\n${lost.join('\n')}`).to.deep.equal([]);
      }
    });
  }

  for (const suite of SUITES) {
    it(`${suite} on wasm: passes at least ${baseline.wasm[suite]}, fails only the listed cases, and O2 keeps every O0 pass`, async function () {
      if (!haveData) this.skip();
      await checkWasmConformance(suite, testDataRoot(), baseline.wasm[suite]!, known);
    });
  }
});
