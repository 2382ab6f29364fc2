/**
 * The wasm backend against the CPU reference: every shared model (/work/shared/models),
 * same seeded feeds, |wasm − cpu| ≤ 1e-4 + 1e-3·|cpu| on every output element, at the
 * session's default -O2. Without the shared models the test fails when CI=true and
 * skips (saying why) elsewhere.
 */
import { expect } from 'chai';
import { existsSync, readdirSync } from 'node:fs';
import { InferenceSession } from '../src/session/index.js';
import { Tensor } from '../src/graph/tensor.js';

const MODELS = '/work/shared/models';

function feedsFor(s: InferenceSession): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const i of s.inputMetadata) {
    const shape = i.shape.map((d) => (typeof d === 'number' ? d : 1));
    const n = shape.reduce((a, b) => a * b, 1);
    feeds[i.name] = i.dtype === 'float32'
      ? new Tensor('float32', shape, Float32Array.from({ length: n }, (_, k) => Math.sin(k * 0.37)))
      : new Tensor(i.dtype, shape, Float64Array.from({ length: n }, (_, k) => k % 7) as never);
  }
  return feeds;
}

describe('wasm backend vs CPU reference (shared models)', function () {
  this.timeout(120_000);
  const present = existsSync(MODELS);
  if (!present && process.env['CI'] === 'true') {
    it('needs the shared models', () => { throw new Error(`${MODELS} is missing`); });
    return;
  }
  if (!present) { console.log(`skipping: ${MODELS} is missing`); return; }
  for (const m of readdirSync(MODELS).filter((d) => existsSync(`${MODELS}/${d}/model.onnx`)).sort()) {
    it(`${m}: wasm matches cpu within 1e-4 + 1e-3|ref|`, async () => {
      const path = `${MODELS}/${m}/model.onnx`;
      const cpu = await InferenceSession.create(path, { backend: 'cpu' });
      const wasm = await InferenceSession.create(path, { executionProviders: ['wasm'] });
      expect(wasm.backend).to.equal('wasm');
      const feeds = feedsFor(cpu);
      const want = await cpu.run(feeds);
      const got = await wasm.run(feeds);
      for (const k of Object.keys(want)) {
        const x = want[k]!.data, y = got[k]!.data;
        expect(y.length, k).to.equal(x.length);
        for (let j = 0; j < x.length; j++) {
          const d = Math.abs(Number(x[j]) - Number(y[j]));
          if (!(d <= 1e-4 + 1e-3 * Math.abs(Number(x[j])))) expect.fail(`${m} ${k}[${j}]: wasm ${y[j]} vs cpu ${x[j]}`);
        }
      }
    });
  }
});
