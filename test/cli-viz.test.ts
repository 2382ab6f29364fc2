import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readTensorFile } from '../onnx/tensor-proto.js';
import { writeGraphFile } from '../src/cli/io.js';
import { kiln, tempDir } from './cli-helpers.js';
import { hostileGraph, smallGraph } from './viz-fixtures.js';
import { SHARED_MODELS } from './viz-shared.js';

describe('cli: kiln viz and kiln optimize', function () {
  this.timeout(600_000);
  const dir = tempDir('viz');
  const model = join(dir, 'small.json');
  const hostile = join(dir, 'hostile.json');
  const garbage = join(dir, 'garbage.onnx');
  before(() => {
    writeFileSync(garbage, Buffer.from('this is not a protobuf \xff\xff\xff'));
    writeGraphFile(model, smallGraph());
    writeGraphFile(hostile, hostileGraph());
  });

  it('writes .html (with --diff and --profile), .dot and .svg', async () => {
    const html = join(dir, 'g.html');
    const dot = join(dir, 'g.dot');
    const svg = join(dir, 'g.svg');
    const hostileHtml = join(dir, 'h.html');
    const [a, b, c, d] = await Promise.all([
      kiln(['viz', model, '--diff', '--profile', '--backend', 'cpu', '--dim', 'batch=2', '-o', html]),
      kiln(['viz', model, '-O', '0', '-o', dot]),
      kiln(['viz', model, '-o', svg]),
      kiln(['viz', hostile, '-O', '0', '-o', hostileHtml]),
    ]);
    for (const r of [a, b, c, d]) expect(r.code, r.stderr).to.equal(0);
    expect(a.stdout).to.match(/wrote .*g\.html \(\d+ nodes, before: 6\)/);
    const page = readFileSync(html, 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="kiln-data">(.*?)<\/script>/s.exec(page)![1]!) as { panes: { label: string; profile?: { kernel: string; ms: number }[] }[] };
    expect(data.panes.map((p) => p.label)).to.deep.equal(['before (as loaded)', 'after -O2']);
    expect(data.panes[1]!.profile!.length).to.be.greaterThan(0);
    expect(readFileSync(dot, 'utf8')).to.match(/^digraph kiln \{/).and.to.contain('label="Softmax\\n[batch,4]"');
    expect(readFileSync(svg, 'utf8')).to.match(/<svg[\s\S]*class="node"/);
    const h = readFileSync(hostileHtml, 'utf8');
    expect(h).not.to.contain('<img');
    expect(h.match(/<\/script>/g)!.length).to.equal(2);
  });

  it('fails clearly with exit 2: no Graphviz for .svg, unknown extension, missing or bad model', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['viz', model, '-o', join(dir, 'x.svg')], { KILN_DOT: '/nonexistent/dot' }, /Graphviz '\/nonexistent\/dot' was not found; install Graphviz/],
      [['viz', model, '-o', join(dir, 'x.png')], {}, /unknown output type '\.png' \(use \.html, \.dot or \.svg\)/],
      [['viz', join(dir, 'missing.json'), '-o', join(dir, 'x.html')], {}, /model '.*missing\.json' does not exist/],
      [['optimize', join(dir, 'missing.onnx'), join(dir, 'o.onnx')], {}, /does not exist/],
      [['optimize', garbage, join(dir, 'o.onnx')], {}, /garbage\.onnx: not a valid ONNX model/],
      [['optimize', model, join(dir, 'o.txt')], {}, /use a \.onnx or \.json file name/],
    ];
    const results = await Promise.all(cases.map(([args, env]) => kiln(args, env)));
    results.forEach((r, i) => {
      expect(r.stderr, cases[i]![0].join(' ')).to.match(cases[i]![2]);
      expect(r.code, r.stderr).to.equal(2);
    });
    expect(existsSync(join(dir, 'x.svg'))).to.equal(false);
  });

  it('optimize writes standard ONNX that onnxruntime runs to the test data outputs', async function () {
    const base = join(SHARED_MODELS, 'squeezenet1_1');
    if (!existsSync(base)) this.skip();
    const out = join(dir, 'squeezenet.opt.onnx');
    const r = await kiln(['optimize', join(base, 'model.onnx'), out, '-O', '2']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^nodes: 83 → \d+ \(-\d+\)/);
    expect(r.stdout).to.match(/Fused:\w+\s+0\s+\d+\s+\+\d+/);
    expect(r.stdout).to.contain(`wrote ${out}`);
    const session = await ort.InferenceSession.create(out);
    const input = readTensorFile(join(base, 'test_data_set_0/input_0.pb'));
    const want = readTensorFile(join(base, 'test_data_set_0/output_0.pb')).tensor;
    const res = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(input.tensor.data), [...input.tensor.shape]) });
    const got = res[session.outputNames[0]!]!.data as Float32Array;
    expect(got.length).to.equal(want.size);
    let maxErr = 0;
    for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - want.data[i]!));
    expect(maxErr).to.be.below(1e-3);
  });
});
