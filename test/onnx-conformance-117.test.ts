/**
 * The ONNX 1.17 backend test data (opsets up to 22), fetched by .ci/setup-system.sh
 * into .cache/ (or `$KILN_ONNX_TESTDATA_117`). On the CPU backend, per suite: at
 * least the passes conformance/onnx-1.17.json records, no failing case outside its
 * list (each listed with why), and every case passing as imported (O0) passes after
 * the O2 passes too; every suite on the wasm backend (its own counts, `wasm`) and the
 * node suite on WebGPU likewise. Cases listed as 'reference' (the 1.17 expected output is wrong)
 * are run on onnxruntime-node as well: Kiln must equal it (atol 1e-5, rtol 1e-4).
 * Without the data the suite fails under CI=true and skips elsewhere, saying why.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compareTensors } from '../src/harness/compare.js';
import { listCases, REPO_ROOT, runConformance, SUITES, testDataRoot117 } from '../src/harness/conformance.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { atLevel, loadBackend, type Backend } from '../src/session/backends.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { checkWasmConformance } from './helpers/wasm-conformance.js';
import { importModelFile } from '../onnx/import.js';
import { runOrt } from './onnx-util.js';

interface Failing { readonly pattern: string; readonly kind: 'reference' | 'missing'; readonly reason: string }
const ledger = JSON.parse(readFileSync(path.join(REPO_ROOT, 'conformance/onnx-1.17.json'), 'utf8')) as { cpu: Record<string, number>; webgpu: Record<string, number>; wasm: Record<string, number>; failing: Failing[] };
const known = ledger.failing.map((f) => ({ ...f, re: new RegExp(f.pattern) }));

describe('ONNX 1.17 conformance (CPU backend, ratchet)', function () {
  this.timeout(300_000);
  const root = testDataRoot117();

  before(function () {
    if (existsSync(path.join(root, 'node'))) return;
    if (process.env.CI === 'true') throw new Error(`ONNX 1.17 test data missing at ${root}: run .ci/setup-system.sh`);
    console.log(`    (skipping: no ONNX 1.17 test data at ${root}; sudo .ci/setup-system.sh fetches it)`);
    this.skip();
  });

  for (const suite of SUITES) {
    it(`${suite}: passes at least ${ledger.cpu[suite]}, fails only the listed cases, and O2 keeps every O0 pass`, async () => {
      const report = await runConformance({ backend: await loadBackend('cpu'), suites: [suite], root });
      console.log(`      ${suite}: total ${report.total}, passed ${report.passed}, failed ${report.failed}, unsupported ${report.unsupported}`);
      const unlisted = report.cases.filter((c) => c.status === 'fail' && !known.some((k) => k.re.test(c.name))).map((c) => `${c.name}: ${c.detail}`);
      expect(unlisted, 'failing cases not in conformance/onnx-1.17.json').to.deep.equal([]);
      expect(report.passed).to.be.at.least(ledger.cpu[suite]!);
      const r2 = await runConformance({ backend: atLevel(await loadBackend('cpu'), 2), suites: [suite], root });
      const status = new Map(r2.cases.map((c) => [c.name, c]));
      const lost = report.cases.filter((c) => c.status === 'pass' && status.get(c.name)?.status !== 'pass').map((c) => `${c.name}: ${status.get(c.name)?.detail}`);
      console.log(`      ${suite} at O2: passed ${r2.passed}, failed ${r2.failed}, unsupported ${r2.unsupported}`);
      expect(lost, 'pass at O0, not at O2').to.deep.equal([]);
    });
  }

  for (const suite of SUITES) {
    it(`${suite} on wasm: passes at least ${ledger.wasm[suite]}, fails only the listed cases, and O2 keeps every O0 pass`, async () => {
      await checkWasmConformance(suite, root, ledger.wasm[suite]!, known.map((k) => k.re));
    });
  }

  it(`node on WebGPU: passes at least ${ledger.webgpu.node}, fails only the listed cases, and O2 keeps every O0 pass`, async function () {
    const device = await deviceOrSkip(this);
    // Statically imported compileWebGpu (see webgpu-conformance.test.ts: a dynamic import loads a second copy of the graph modules).
    const gpu: Backend = { name: 'webgpu', compile: (graph) => compileWebGpu(graph, { device }) };
    const report = await runConformance({ backend: gpu, suites: ['node'], root });
    console.log(`      webgpu node: total ${report.total}, passed ${report.passed}, failed ${report.failed}, unsupported ${report.unsupported}`);
    const unlisted = report.cases.filter((c) => c.status === 'fail' && !known.some((k) => k.re.test(c.name))).map((c) => `${c.name}: ${c.detail}`);
    expect(unlisted, 'failing cases not in conformance/onnx-1.17.json').to.deep.equal([]);
    expect(report.passed).to.be.at.least(ledger.webgpu.node!);
    const passing = report.cases.filter((c) => c.status === 'pass').map((c) => c.name.replace(/^node\//, ''));
    const r2 = await runConformance({ backend: atLevel(gpu, 2), suites: ['node'], root, filter: new RegExp(`^node/(${passing.join('|')})$`) });
    const lost = r2.cases.filter((c) => c.status !== 'pass').map((c) => `${c.name}: ${c.detail}`);
    console.log(`      webgpu node at O2: ${r2.passed} of the ${passing.length} O0 passes`);
    expect(lost, 'pass at O0, not at O2 (WebGPU)').to.deep.equal([]);
  });

  it("the cases whose 1.17 reference output is wrong: Kiln equals onnxruntime-node on them", async () => {
    const node = path.join(root, 'node');
    const cases = ledger.failing.filter((f) => f.kind === 'reference').flatMap((f) => {
      const re = new RegExp(f.pattern);
      return listCases(['node'], re, root).map((c) => c.name);
    });
    expect(cases.length, 'reference cases found').to.be.greaterThan(0);
    for (const name of cases) {
      const dir = path.join(node, name.replace(/^node\//, ''));
      const g = importModelFile(path.join(dir, 'model.onnx'));
      const set = readTestDataSets(dir)[0]!;
      const feeds = Object.fromEntries(g.inputs.map((inp, i) => [inp.name, set.inputs[i]!.tensor]));
      const kiln = compileCpu(g).run(feeds);
      const want = await runOrt(new Uint8Array(readFileSync(path.join(dir, 'model.onnx'))), feeds);
      for (const o of g.outputs) {
        const c = compareTensors(want[o.name]!, kiln[o.name]!, { atol: 1e-5, rtol: 1e-4 });
        expect(c.pass, `${name} ${o.name}: Kiln vs onnxruntime-node: ${c.detail ?? ''}`).to.equal(true);
        expect(compareTensors(set.outputs[0]!.tensor, kiln[o.name]!).pass, `${name}: still differs from the 1.17 data (else remove it from the list)`).to.equal(false);
      }
    }
  });
});
