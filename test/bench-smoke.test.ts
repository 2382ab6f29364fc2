/**
 * Benchmark harness: pure helpers against hand-derived values, and a smoke run of
 * `kiln bench` (a 64³ MatMul, Kiln on WebGPU vs ONNX Runtime Node, 3 runs) so the
 * harness cannot rot. The smoke run spawns fresh processes (like the real bench).
 */
import { expect } from 'chai';
import { maxAbsDiff, median, ratiosOf, type CaseResult } from '../bench/harness.js';
import { markdownTable, svgChart, syncReadme } from '../bench/report.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashValues, resolveCase } from '../bench/cases.js';
import { acquireGpu } from '../src/backends/webgpu/device.js';
import { kiln } from './cli-helpers.js';
import { parsePeers } from '../src/cli/commands/bench.js';
import { InputError } from '../src/graph/errors.js';

const f64 = (xs: number[]): Float64Array => Float64Array.from(xs);

describe('bench helpers', () => {
  it('rewrites only the README text between the bench markers (and reports missing markers)', () => {
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'kiln-readme-')), 'README.md');
    writeFileSync(f, 'intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\noutro\n');
    expect(syncReadme(f, 'new table')).to.equal(true);
    expect(readFileSync(f, 'utf8')).to.equal('intro\n<!-- bench:start -->\nnew table\n<!-- bench:end -->\noutro\n');
    writeFileSync(f, 'no markers\n');
    expect(syncReadme(f, 'x')).to.equal(false);
    expect(readFileSync(f, 'utf8')).to.equal('no markers\n');
  });

  it('median of odd and even lists', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
  });

  it('maxAbsDiff over outputs; NaN against a number is Infinity, equal infinities are 0', () => {
    const a = [{ name: 'y', shape: [3], data: f64([1, -Infinity, 3]) }];
    expect(maxAbsDiff(a, [{ name: 'y', shape: [3], data: f64([1.5, -Infinity, 2]) }])).to.equal(1);
    expect(maxAbsDiff(a, [{ name: 'y', shape: [3], data: f64([1, -Infinity, NaN]) }])).to.equal(Infinity);
    expect(maxAbsDiff(a, [{ name: 'y', shape: [2], data: f64([1, 2]) }])).to.equal(Infinity);
  });

  it('ratios are Kiln ÷ peer and skip missing numbers', () => {
    const r = ratiosOf({ warm: { median: 50, min: 40, max: 60, runs: 20 }, coldMs: 100, dispatches: 7 }, { warm: { median: 200, min: 1, max: 300, runs: 20 }, coldMs: 400, peakBytes: 10, dispatches: 10 });
    expect(r).to.deep.equal({ warm: 0.25, cold: 0.25, dispatches: 0.7 });
  });

  it('report: one table row per runtime, ratio cells, one SVG bar per ratio', () => {
    const res: CaseResult = {
      model: 'toy', kiln: { runtime: 'kiln-webgpu', warm: { median: 2, min: 1, max: 3, runs: 20 }, coldMs: 10, peakBytes: 2 ** 20, dispatches: 2 },
      peers: { 'ort-webgpu': { warm: { median: 4, min: 3, max: 5, runs: 20 }, coldMs: 40, peakBytes: 2 ** 21, dispatches: 4, maxAbsDiffVsKiln: 1e-6 } },
      ratios: { warm: 0.5, cold: 0.25, peakBytes: 0.5, dispatches: 0.5 }, ratiosAgainst: 'ort-webgpu',
      ratiosByPeer: { 'ort-webgpu': { warm: 0.5, cold: 0.25, peakBytes: 0.5, dispatches: 0.5 } },
    };
    const md = markdownTable([res]);
    expect(md).to.contain('| toy | **kiln** (webgpu) | 2.00 | 1.00–3.00 | – | 10 | – | 1.0 | 2 |');
    expect(md).to.contain('| toy | ort-webgpu | 4.00 | 3.00–5.00 | – | 40 | – | 2.0 | 4 |');
    expect(md).to.contain('| toy | 0.50 / 0.25 / 0.50 / 0.50 / – |');
    expect(svgChart([res], 't').match(/<rect [^>]*><title>/g)).to.have.length(4);
  });

  it('synthetic cases are deterministic and state their FLOPs', () => {
    expect(Array.from(hashValues(4, 1))).to.deep.equal(Array.from(hashValues(4, 1)));
    expect(resolveCase('matmul1024').flops).to.equal(2 * 1024 ** 3);
    expect(resolveCase('mlp').flops).to.equal(2 * 64 * (784 * 512 + 512 * 512 + 512 * 10));
    expect(() => resolveCase('no-such-model')).to.throw(/unknown model 'no-such-model'/);
  });

  it('--vs accepts the known peers and names an unknown one', () => {
    expect(parsePeers('ort-webgpu, tfjs-webgpu')).to.deep.equal(['ort-webgpu', 'tfjs-webgpu']);
    expect(() => parsePeers('ort-node,ort-gpu')).to.throw(InputError, /unknown peer 'ort-gpu'/);
  });
});

describe('kiln bench (smoke)', function () {
  this.timeout(120_000);

  it('matmul 64³: Kiln (WebGPU) vs ONNX Runtime Node, JSON with counts and ratios', async function () {
    const gpu = await acquireGpu();
    if (!gpu || !(await gpu.requestAdapter())) this.skip();
    const r = await kiln(['bench', 'matmul64', '--vs', 'ort-node', '--runs', '3', '--warmup', '1', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const res = JSON.parse(r.stdout) as CaseResult;
    expect(res.model).to.equal('matmul64');
    expect(res.kiln.error, res.kiln.error).to.equal(undefined);
    expect(res.kiln.warm!.runs).to.equal(3);
    expect(res.kiln.warm!.min).to.be.at.most(res.kiln.warm!.median);
    expect(res.kiln.coldMs).to.be.greaterThan(0);
    // A, B and Y are 64×64 float32 = 16 KiB each, all on the GPU at once.
    expect(res.kiln.peakBytes).to.be.at.least(3 * 64 * 64 * 4);
    expect(res.kiln.dispatches).to.be.at.least(1);
    expect(res.kiln.pipelines).to.be.at.least(1);
    expect(res.kiln.gflops).to.be.closeTo((2 * 64 ** 3) / (res.kiln.warm!.median * 1e6), 1e-9);
    const ort = res.peers['ort-node']!;
    expect(ort.error, ort.error).to.equal(undefined);
    // The peer is an independent implementation: outputs agree to fp32 rounding.
    expect(ort.maxAbsDiffVsKiln).to.be.lessThan(1e-4);
    expect(res.ratiosAgainst).to.equal('ort-node');
    expect(res.ratios.warm).to.be.closeTo(res.kiln.warm!.median / ort.warm!.median, 1e-9);
  });
});
