/**
 * Accuracy floor of Kiln's training on real data: the Fashion-MNIST MLP of
 * examples/fashion-mnist (784-128-10, Adam lr 0.002, batch 128) trained on WebGPU for
 * 5 epochs on the first 6000 training images, then evaluated on the 10000 test images.
 *
 * Measured on lavapipe (2 cores): 82.47 % test accuracy (3 epochs gave 81.10 %), in about
 * 15 s. The floor is 80 % (that minus ~2.5 points, for rounding differences between
 * backends and drivers); falling below it means
 * training broke (gradients, optimizer, data order), not noise: training is seeded and
 * deterministic. The data is the Debian package dataset-fashion-mnist
 * (.ci/setup-system.sh installs it); with CI=true its absence fails the test.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { dense, sequential } from '../src/graph/layers.js';
import { Model } from '../src/train/model.js';
import { adam } from '../src/train/optimizers.js';
import { FASHION_MNIST_DIR, readIdx } from '../examples/fashion-mnist/idx.js';
import { deviceOrSkip } from './helpers/gpu.js';

const FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const FLOOR = 0.8;

describe('training: Fashion-MNIST MLP accuracy floor (WebGPU)', function () {
  this.timeout(180_000);
  let device: GPUDevice;

  before(async function () {
    const missing = FILES.filter((f) => !existsSync(path.join(FASHION_MNIST_DIR, f)));
    if (missing.length) {
      const why = `Fashion-MNIST is absent (${missing.join(', ')} not in ${FASHION_MNIST_DIR}; apt-get install dataset-fashion-mnist or set FASHION_MNIST_DIR)`;
      if (process.env.CI === 'true') throw new Error(why);
      console.log(`    (skipping: ${why})`);
      this.skip();
    }
    device = await deviceOrSkip(this);
  });

  it(`784-128-10, 6000 images, 5 epochs: test accuracy >= ${100 * FLOOR} %`, async () => {
    const x = readIdx('train-images-idx3-ubyte.gz', 6000);
    const y = readIdx('train-labels-idx1-ubyte.gz', 6000);
    const xt = readIdx('t10k-images-idx3-ubyte.gz', 10000);
    const yt = readIdx('t10k-labels-idx1-ubyte.gz', 10000);
    const model = new Model(sequential(dense(128, { activation: 'relu', seed: 1 }), dense(10, { seed: 2 })), { inputShape: [784], name: 'fashion_mlp' });
    model.compile({ optimizer: adam({ lr: 0.002 }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend: 'webgpu', device });
    try {
      const log = await model.fit(x, y, { epochs: 5, batchSize: 128 });
      const test = await model.evaluate(xt, yt, { batchSize: 1000 });
      console.log(`    loss ${log.steps[0]!.loss.toFixed(3)} (first step) -> ${log.epochs.at(-1)!.loss.toFixed(3)} (last epoch); test accuracy ${(100 * test.accuracy!).toFixed(2)} %`);
      expect(log.epochs.at(-1)!.loss).to.be.lessThan(log.epochs[0]!.loss);
      expect(test.accuracy).to.be.at.least(FLOOR);
    } finally {
      model.release();
    }
  });
});
