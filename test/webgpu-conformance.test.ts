/// <reference types="@webgpu/types" />
/**
 * WebGPU conformance ratchet on the ONNX node suite: every case that passes on the
 * CPU backend must pass on WebGPU, unless conformance/webgpu-exceptions.json lists
 * it with a reason; and every listed exception must still fail on WebGPU (and
 * still pass on CPU), so the list can only shrink. Every case passing on WebGPU as
 * imported (O0) must also pass after the O1 and after the O2 passes (no op is
 * level-dependent).
 *
 * Runs the whole node suite, each case on CPU then WebGPU at O0, O1 and O2 (11.4 s
 * on lavapipe measured with O1 added; before that, on a loaded machine,
 * 2 cores: 18–43 s for 907 in-scope cases, depending on load). With
 * KILN_WEBGPU_CONFORMANCE=subset it runs only the cases whose name matches
 * `subset` in the exceptions file (a quick local check: 196 cases, 8 s).
 * Without an adapter it skips with the reason printed; with CI=true it fails.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { atLevel, loadBackend, type Backend } from '../src/session/backends.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { listCases, readOutOfScope, REPO_ROOT, runCase, testDataRoot, type CaseResult } from '../src/harness/conformance.js';
import { deviceOrSkip } from './helpers/gpu.js';

interface Exceptions {
  readonly subset: string;
  readonly cases: readonly { readonly name: string; readonly reason: string }[];
}

const FILE = path.join(REPO_ROOT, 'conformance/webgpu-exceptions.json');
const exceptions = JSON.parse(readFileSync(FILE, 'utf8')) as Exceptions;
const TOL = { atol: 1e-4, rtol: 1e-3 };

describe('ONNX conformance on WebGPU (node suite, ratchet with exceptions)', function () {
  this.timeout(900_000);
  const haveData = existsSync(path.join(testDataRoot(), 'node'));
  const subset = process.env.KILN_WEBGPU_CONFORMANCE === 'subset';
  let cpu: Backend;
  let gpu: Backend;
  const cpuResults = new Map<string, CaseResult>();
  const gpuResults = new Map<string, CaseResult>();
  const gpuO1Results = new Map<string, CaseResult>();
  const gpuO2Results = new Map<string, CaseResult>();

  before(async function () {
    await deviceOrSkip(this);
    if (!haveData) {
      console.log(`    (skipping WebGPU conformance: no ONNX test data under ${testDataRoot()})`);
      this.skip();
    }
    cpu = await loadBackend('cpu');
    // Statically imported (not loadBackend's dynamic import): under mocha's tsx hook a
    // dynamic import loads a second copy of the graph modules, whose Tensor and error
    // classes fail instanceof checks against this copy's.
    gpu = { name: 'webgpu', compile: (graph) => compileWebGpu(graph) };
    const rules = readOutOfScope().map((r) => new RegExp(r.pattern));
    const filter = subset ? new RegExp(exceptions.subset) : undefined;
    const cases = listCases(['node'], filter).filter((c) => !rules.some((r) => r.test(c.name)));
    const listed = new Set(exceptions.cases.map((e) => e.name));
    const t0 = performance.now();
    for (const c of listCases(['node']).filter((c) => cases.some((x) => x.name === c.name) || listed.has(c.name))) {
      cpuResults.set(c.name, await runCase(c.name, c.dir, { backend: cpu, suites: ['node'], tolerance: TOL }));
      gpuResults.set(c.name, await runCase(c.name, c.dir, { backend: gpu, suites: ['node'], tolerance: TOL }));
      if (gpuResults.get(c.name)!.status === 'pass') {
        gpuO1Results.set(c.name, await runCase(c.name, c.dir, { backend: atLevel(gpu, 1), suites: ['node'], tolerance: TOL }));
        gpuO2Results.set(c.name, await runCase(c.name, c.dir, { backend: atLevel(gpu, 2), suites: ['node'], tolerance: TOL }));
      }
    }
    const count = (s: string): number => [...gpuResults.values()].filter((r) => r.status === s).length;
    console.log(
      `      webgpu node${subset ? ' (subset)' : ''}: total ${gpuResults.size}, passed ${count('pass')}, failed ${count('fail')}, unsupported ${count('unsupported')} ` +
        `(${[...gpuO1Results.values()].filter((r) => r.status === 'pass').length} of them also at O1, ${[...gpuO2Results.values()].filter((r) => r.status === 'pass').length} at O2) ` +
        `in ${((performance.now() - t0) / 1000).toFixed(1)} s (CPU, WebGPU O0, O1 and O2)`,
    );
  });

  it('every exception has a reason and names an existing case, once', () => {
    const names = new Set(listCases(['node']).map((c) => c.name));
    const seen = new Set<string>();
    for (const e of exceptions.cases) {
      expect(e.reason, `${e.name}: reason`).to.be.a('string').with.length.greaterThan(10);
      expect(names.has(e.name), `${e.name} is not a case of the node suite`).to.equal(true);
      expect(seen.has(e.name), `${e.name} listed twice`).to.equal(false);
      seen.add(e.name);
    }
  });

  it('every case that passes on CPU passes on WebGPU unless listed', () => {
    const listed = new Set(exceptions.cases.map((e) => e.name));
    const bad = [...cpuResults.values()]
      .filter((c) => c.status === 'pass' && !listed.has(c.name) && gpuResults.get(c.name)?.status !== 'pass')
      .map((c) => `${c.name}: ${gpuResults.get(c.name)?.status} — ${gpuResults.get(c.name)?.detail}`);
    expect(cpuResults.size).to.be.greaterThan(0);
    expect(bad, `passes on CPU, not on WebGPU:\n${bad.join('\n')}`).to.deep.equal([]);
  });

  for (const [level, results] of [[1, gpuO1Results], [2, gpuO2Results]] as const) {
    it(`every case that passes on WebGPU at O0 passes at O${level}`, () => {
      const lost = [...results.values()].filter((r) => r.status !== 'pass').map((r) => `${r.name}: ${r.status} — ${r.detail}`);
      expect(results.size).to.be.greaterThan(0);
      expect(lost, `pass at O0, not at O${level}:\n${lost.join('\n')}`).to.deep.equal([]);
    });
  }

  it('every listed exception still passes on CPU and still fails on WebGPU (the list only shrinks)', () => {
    const stale = exceptions.cases
      .filter((e) => cpuResults.get(e.name)?.status !== 'pass' || gpuResults.get(e.name)?.status === 'pass')
      .map((e) => `${e.name}: cpu ${cpuResults.get(e.name)?.status}, webgpu ${gpuResults.get(e.name)?.status} — remove it from conformance/webgpu-exceptions.json`);
    expect(stale, stale.join('\n')).to.deep.equal([]);
  });
});
