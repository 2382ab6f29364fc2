/**
 * The conformance ratchet: runs the ONNX backend test suites on the CPU backend and
 * fails if fewer cases pass than conformance/baseline.json records.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { loadBackend } from '../onnx/backends.js';
import { REPO_ROOT, runConformance, SUITES, testDataRoot, type ConformanceReport } from '../onnx/conformance.js';

const baseline = JSON.parse(readFileSync(path.join(REPO_ROOT, 'conformance/baseline.json'), 'utf8')) as { cpu: Record<string, number> };

describe('ONNX conformance (CPU backend, ratchet)', function () {
  this.timeout(240_000);
  const haveData = existsSync(path.join(testDataRoot(), 'node'));

  for (const suite of SUITES) {
    it(`${suite}: passes at least the baseline (${baseline.cpu[suite]})`, async function () {
      if (!haveData) this.skip();
      const report: ConformanceReport = await runConformance({ backend: await loadBackend('cpu'), suites: [suite] });
      const failing = report.cases.filter((c) => c.status === 'fail').map((c) => `${c.name}: ${c.detail}`);
      console.log(`      ${suite}: total ${report.total}, passed ${report.passed}, failed ${report.failed}, unsupported ${report.unsupported}`);
      if (failing.length) console.log(`      failing:\n        ${failing.slice(0, 20).join('\n        ')}`);
      expect(report.total).to.be.greaterThan(0);
      expect(report.passed, `${suite}: passed ${report.passed} < baseline ${baseline.cpu[suite]}`).to.be.at.least(baseline.cpu[suite]!);
    });
  }
});
