/**
 * A briefly trained CNN (the layers of examples/fashion-mnist --model cnn, small) exported
 * with Model.toOnnx() runs in onnxruntime-node with the predictions Kiln gives: the same
 * argmax on every row and logits within 1e-4. Synthetic, seeded data (a bright square
 * whose position is the class), so no data set is needed; trained on WebGPU.
 */
import { expect } from 'chai';
import { conv2d, dense, flatten, maxPool2d, reshape, sequential } from '../src/graph/layers.js';
import { Rng } from '../src/graph/random.js';
import { Tensor } from '../src/graph/tensor.js';
import { Model } from '../src/train/model.js';
import { adam } from '../src/train/optimizers.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { runOrt } from './onnx-util.js';

const SIDE = 16;
const CLASSES = 4;

/** n images of SIDE×SIDE: noise plus a 6×6 square in the quadrant of the label. */
function synthetic(n: number, seed: number): [Tensor, Tensor] {
  const rng = new Rng(seed);
  const x = new Tensor('float32', [n, SIDE * SIDE], rng.floats(n * SIDE * SIDE, 0, 0.3));
  const y = new Tensor('int32', [n]);
  for (let i = 0; i < n; i++) {
    const c = i % CLASSES;
    y.data[i] = c;
    const r0 = (c >> 1) * 8 + 1; const c0 = (c & 1) * 8 + 1;
    for (let r = r0; r < r0 + 6; r++) for (let k = c0; k < c0 + 6; k++) x.data[i * SIDE * SIDE + r * SIDE + k] = 1;
  }
  return [x, y];
}

const argmax = (t: Tensor, row: number): number => {
  let a = 0;
  for (let j = 1; j < CLASSES; j++) if (t.data[row * CLASSES + j]! > t.data[row * CLASSES + a]!) a = j;
  return a;
};

describe('training: a trained CNN exported to ONNX predicts in onnxruntime-node what Kiln predicts', function () {
  this.timeout(60_000);

  it('conv-relu-maxpool ×2, dense: equal argmax, logits within 1e-4', async function () {
    const device = await deviceOrSkip(this);
    const model = new Model(sequential(
      reshape([1, SIDE, SIDE]),
      conv2d(4, { kernel: 3, activation: 'relu', seed: 1 }), maxPool2d(2),
      conv2d(8, { kernel: 3, activation: 'relu', seed: 2 }), maxPool2d(2),
      flatten(), dense(16, { activation: 'relu', seed: 3 }), dense(CLASSES, { seed: 4 })), { inputShape: [SIDE * SIDE], name: 'cnn' });
    model.compile({ optimizer: adam({ lr: 0.01 }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend: 'webgpu', device });
    try {
      const [x, y] = synthetic(256, 7);
      const before = model.toOnnx();
      await model.fit(x, y, { epochs: 2, batchSize: 32 });
      const [xt, yt] = synthetic(64, 8);
      const test = await model.evaluate(xt, yt);
      expect(test.accuracy, 'the CNN learns the synthetic task').to.be.at.least(0.9);
      const onnx = model.toOnnx();
      expect(Buffer.from(onnx).equals(Buffer.from(before)), 'export carries the trained weights').to.equal(false);
      const kiln = await model.predict(xt);
      const ort = (await runOrt(onnx, { x: xt })).pred!;
      expect(ort.shape).to.deep.equal([64, CLASSES]);
      let maxDiff = 0;
      for (let i = 0; i < kiln.size; i++) maxDiff = Math.max(maxDiff, Math.abs(kiln.data[i]! - ort.data[i]!));
      expect(maxDiff).to.be.lessThan(1e-4);
      for (let r = 0; r < 64; r++) expect(argmax(ort, r), `row ${r}`).to.equal(argmax(kiln, r));
    } finally {
      model.release();
    }
  });
});
