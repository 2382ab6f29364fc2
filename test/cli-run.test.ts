import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTensorFile } from '../onnx/tensor-proto.js';
import { writeGraphFile } from '../src/cli/io.js';
import { kiln, npyFloat32, tempDir, TESTDATA } from './cli-helpers.js';
import { smallGraph } from './viz-fixtures.js';

describe('cli: kiln run', function () {
  this.timeout(600_000);
  const dir = tempDir('run');
  const model = join(dir, 'small.json');
  before(() => writeGraphFile(model, smallGraph()));

  it('runs an ONNX model on .pb inputs and writes output_N.pb equal to the ONNX test data', async () => {
    const base = join(TESTDATA, 'node/test_add');
    const out = join(dir, 'out');
    const r = await kiln(['run', join(base, 'model.onnx'), '--input', `x=${base}/test_data_set_0/input_0.pb`, '--input', `y=${base}/test_data_set_0/input_1.pb`, '--backend', 'cpu', '--output-dir', out]);
    expect(r.stderr).to.match(/loading .*model\.onnx: 1 nodes/);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/output sum: float32\[3,4,5\] \[.*\] min .* max .* mean/);
    expect(r.stdout).to.match(/time: compile [\d.]+ ms, first run [\d.]+ ms/);
    const got = readTensorFile(join(out, 'output_0.pb')).tensor;
    const want = readTensorFile(join(base, 'test_data_set_0/output_0.pb')).tensor;
    expect(got.shape).to.deep.equal(want.shape);
    expect(got.toArray()).to.deep.equal(want.toArray());
  });

  it('runs a Kiln .json model on .npy, .json and random inputs', async () => {
    // x = -[1,2,3,4] cancels the Constant, so every softmax row is uniform: all 0.25
    const npy = join(dir, 'x.npy');
    writeFileSync(npy, npyFloat32([2, 4], [-1, -2, -3, -4, -1, -2, -3, -4]));
    const js = join(dir, 'x.json');
    writeFileSync(js, JSON.stringify([[-1, -2, -3, -4]]));
    const [a, b, c] = await Promise.all([
      kiln(['run', model, '--input', `x=${npy}`, '--backend', 'cpu', '-O', '0']),
      kiln(['run', model, '--input', `x=${js}`, '--backend', 'cpu', '--profile']),
      kiln(['run', model, '--random', '--dim', 'batch=3', '--backend', 'cpu', '--runs', '2']),
    ]);
    expect(a.code, a.stderr).to.equal(0);
    expect(a.stdout).to.contain('output y: float32[2,4] [0.25000, 0.25000, 0.25000, 0.25000, 0.25000, 0.25000, ...] min 0.25000 max 0.25000 mean 0.25000');
    expect(b.code, b.stderr).to.equal(0);
    expect(b.stdout).to.contain('output y: float32[1,4] [0.25000, 0.25000, 0.25000, 0.25000] min 0.25000 max 0.25000 mean 0.25000');
    expect(b.stdout).to.match(/profile: \d+ kernels/);
    expect(c.code, c.stderr).to.equal(0);
    // softmax rows sum to 1, so the mean over 4 columns is 0.25 whatever the inputs
    expect(c.stdout).to.match(/output y: float32\[3,4\] \[.*\] min .* max .* mean 0\.25000/);
    expect(c.stdout).to.match(/2 runs: min [\d.]+ ms median [\d.]+ ms/);
    expect(c.stderr).to.match(/benchmarking: median/);
  });

  it('runs on WebGPU (lavapipe here), falls back to the CPU without an adapter, and fails under CI', async () => {
    const noVulkan = { VK_ICD_FILENAMES: '/nonexistent/icd.json' };
    const args = ['run', model, '--random', '--dim', 'batch=3', '--backend', 'webgpu'];
    const [gpu, fallback, ci] = await Promise.all([kiln([...args, '--profile']), kiln(args, noVulkan), kiln(args, { ...noVulkan, CI: 'true' })]);
    expect(gpu.code, gpu.stderr).to.equal(0);
    const backend = /no WebGPU adapter/.test(gpu.stderr) ? 'cpu' : 'webgpu';
    expect(gpu.stdout).to.contain(`after -O2) on ${backend}`);
    expect(gpu.stdout).to.match(/output y: float32\[3,4\] \[.*\] min .* max .* mean 0\.25000/);
    expect(gpu.stdout).to.match(/profile: \d+ kernels/);
    expect(fallback.code, fallback.stderr).to.equal(0);
    expect(fallback.stderr).to.match(/kiln: notice: no WebGPU adapter \(.*\); running on the wasm backend\n/);
    expect(fallback.stdout).to.match(/on wasm\n/).and.to.match(/mean 0\.25000/);
    expect(ci.stderr).to.match(/kiln: NoAdapterError: --backend webgpu: .*CI is set, so Kiln does not fall back to the CPU/);
    expect(ci.code).to.equal(4);
  });

  it('fails with exit code 2 and a clear message: missing file, bad model bytes, bad --input, no inputs', async () => {
    // (the other input errors — unknown input, bad .npy, bad --dim, symbolic dims — are unit-tested in cli-io)
    const garbage = join(dir, 'bad.onnx');
    writeFileSync(garbage, Buffer.from('this is not a protobuf \xff\xff\xff'));
    const cases: [string[], RegExp][] = [
      [['run', join(dir, 'missing.onnx'), '--random'], /model '.*missing\.onnx' does not exist/],
      [['run', garbage, '--random'], /bad\.onnx: not a valid ONNX model/],
      [['run', model, '--input', 'x', '--backend', 'cpu'], /bad --input 'x': expected NAME=VALUE/],
      [['run', model, '--backend', 'cpu'], /no value for input 'x' \(float32\[batch,4\]\): pass --input NAME=FILE or --random/],
    ];
    const results = await Promise.all(cases.map(([args]) => kiln(args)));
    results.forEach((r, i) => {
      expect(r.stderr, cases[i]![0].join(' ')).to.match(cases[i]![1]);
      expect(r.code, r.stderr).to.equal(2);
    });
  });

  it('prints help for run, viz and optimize', async () => {
    const [run, viz, opt] = await Promise.all([kiln(['run', '--help']), kiln(['viz', '--help']), kiln(['optimize', '--help'])]);
    for (const r of [run, viz, opt]) expect(r.code).to.equal(0);
    expect(run.stdout).to.match(/Usage: kiln run \[options\] <model>/);
    for (const flag of ['--input', '--random', '--dim', '--backend', '-O', '--profile', '--output-dir']) expect(run.stdout).to.contain(flag);
    expect(viz.stdout).to.match(/Usage: kiln viz \[options\] <model>/);
    for (const flag of ['--output', '--diff', '--profile', '-O']) expect(viz.stdout).to.contain(flag);
    expect(opt.stdout).to.match(/Usage: kiln optimize \[options\] <in> <out>/);
  });
});
