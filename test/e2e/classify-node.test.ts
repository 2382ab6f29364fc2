/**
 * examples/classify-node.ts from the command line (CPU backend): its top 5 equal
 * onnxruntime-node's on the same procedural picture.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ROOT } from '../../scripts/build-browser.js';
import { drawPicture, SIZE } from '../../examples/classify/picture.js';
import { toNchw, topK, type Scored } from '../../examples/classify/preprocess.js';

const MODEL = resolve(ROOT, process.env.KILN_MODELS ?? '../shared/models', 'mobilenet_v2/model.onnx');

describe('examples/classify-node.ts', function () {
  this.timeout(180_000);
  it('prints the same top 5 as onnxruntime-node', async function () {
    if (!existsSync(MODEL)) this.skip();
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/classify-node.ts'), '--model', MODEL, '--seed', '5', '--backend', 'cpu', '--runs', '1', '--json'], { cwd: ROOT, encoding: 'utf8' });
    const got = JSON.parse(out.trim().split('\n').pop()!) as { backend: string; medianMs: number; top5: Scored[] };
    expect(got.backend).to.equal('cpu');
    expect(got.medianMs).to.be.greaterThan(0);
    const s = await ort.InferenceSession.create(MODEL);
    const y = (await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', toNchw(drawPicture(5), SIZE), [1, 3, SIZE, SIZE]) }))[s.outputNames[0]!]!.data as Float32Array;
    const want = topK(y, 5);
    expect(got.top5.map((t) => t.index)).to.deep.equal(want.map((t) => t.index));
    got.top5.forEach((t, i) => expect(t.logit).to.be.closeTo(want[i]!.logit, 1e-3));
  });
});
