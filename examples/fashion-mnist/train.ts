/**
 * Fashion-MNIST MLP trained with Kiln's training API on WebGPU (Node), then test accuracy.
 * Data: Debian package dataset-fashion-mnist (IDX files, gzip) in /usr/share/datasets/fashion-mnist
 * (or FASHION_MNIST_DIR). Usage:
 *   npx tsx examples/fashion-mnist/train.ts [--train N] [--epochs E] [--hidden 128] [--lr 0.002] [--cosine]
 *     [--backend cpu|webgpu] [--log log.json]
 * --cosine decays the learning rate along a cosine to 0 over all steps.
 */
import { dense, sequential } from '../../src/graph/layers.js';
import { Tensor } from '../../src/graph/tensor.js';
import { Model } from '../../src/train/model.js';
import { adam, schedules } from '../../src/train/optimizers.js';
import { readIdx as idx } from './idx.js';

const arg = (k: string, d: string): string => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? process.argv[i + 1]! : d; };

const nTrain = Number(arg('train', '60000'));
const epochs = Number(arg('epochs', '1'));
const backend = arg('backend', 'webgpu') as 'cpu' | 'webgpu';
const x = idx('train-images-idx3-ubyte.gz', nTrain);
const y = idx('train-labels-idx1-ubyte.gz', nTrain);
const xt = idx('t10k-images-idx3-ubyte.gz', 10000);
const yt = idx('t10k-labels-idx1-ubyte.gz', 10000);

const hidden = Number(arg('hidden', '128'));
const lr0 = Number(arg('lr', '0.002'));
const steps = Math.ceil((x.shape[0]! * 0.95) / 128) * epochs;
const lr = process.argv.includes('--cosine') ? schedules.cosine(lr0, steps) : lr0;
const model = new Model(sequential(dense(hidden, { activation: 'relu', seed: 1 }), dense(10, { seed: 2 })), { inputShape: [784], name: 'fashion_mlp' });
model.compile({ optimizer: adam({ lr }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend });
const t0 = performance.now();
const log = await model.fit(x, y, { epochs, batchSize: 128, validationSplit: 0.05, verbose: true, ...(process.argv.includes('--log') ? { logPath: arg('log', 'train-log.json') } : {}) });
const secs = (performance.now() - t0) / 1000;
const test = await model.evaluate(xt, yt, { batchSize: 1000 });
const e = log.epochs;
console.log(`backend ${log.backend}: ${x.shape[0]} train images, ${epochs} epoch(s) in ${secs.toFixed(1)} s; loss ${log.steps[0]!.loss.toFixed(3)} (first step) -> ${e.at(-1)!.loss.toFixed(3)} (last epoch mean)`);
console.log(`test accuracy: ${(100 * test.accuracy!).toFixed(2)} % (loss ${test.loss.toFixed(4)}, 10000 test images)`);
model.release();
process.exit(0);
