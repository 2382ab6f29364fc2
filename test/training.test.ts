/**
 * Training (src/train): a tiny MLP trains on the CPU reference with each optimizer and
 * its loss falls by at least 30 %; the -O2 step matches -O0 (same seed, |d| <= 1e-4);
 * saved/loaded weights reproduce predictions exactly; the exported ONNX runs in
 * onnxruntime-node with the same predictions (|d| <= 1e-5); SGD and AdamW ops agree
 * with their formulas written out here in float64 (1e-5 relative + 1e-6).
 */
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { dense, sequential } from '../src/graph/layers.js';
import { TRAINING_OPS } from '../src/graph/ops/index.js';
import { Tensor } from '../src/graph/tensor.js';
import { Model } from '../src/train/model.js';
import { sharedDevice } from './helpers/gpu.js';
import { adam, adamw, sgd, schedules, type Optimizer } from '../src/train/optimizers.js';

/** Two Gaussian-ish blobs per class, 3 classes, 4 features (seeded). */
function data(n: number): { x: Tensor; y: Tensor } {
  let s = 7;
  const r = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296) - 0.5;
  const x = new Tensor('float32', [n, 4]);
  const y = new Tensor('int32', [n]);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y.data[i] = c;
    for (let j = 0; j < 4; j++) x.data[i * 4 + j] = (j === c ? 2 : 0) + r();
  }
  return { x, y };
}

function mlp(): Model {
  return new Model(sequential(dense(8, { activation: 'relu', seed: 11 }), dense(3, { seed: 12 })), { inputShape: [4], name: 'tiny' });
}

describe('training (src/train)', function () {
  this.timeout(60000);
  const { x, y } = data(96);

  const cases: [string, Optimizer][] = [
    ['sgd', sgd({ lr: 0.1 })],
    ['sgd nesterov + clip', sgd({ lr: 0.1, momentum: 0.9, nesterov: true, clipNorm: 1 })],
    ['adam', adam({ lr: 0.02 })],
    ['adamw cosine', adamw({ lr: schedules.cosine(0.02, 30), weightDecay: 0.01 })],
  ];
  for (const [name, opt] of cases) {
    it(`${name}: loss falls by >= 30% in 5 epochs (CPU)`, async () => {
      const m = mlp();
      m.compile({ optimizer: opt, loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend: 'cpu' });
      const log = await m.fit(x, y, { epochs: 5, batchSize: 16, seed: 3 });
      const first = log.epochs[0]!.loss;
      const last = log.epochs.at(-1)!.loss;
      expect(last, `${name}: epoch loss ${first} -> ${last}`).to.be.lessThan(0.7 * first);
      expect(log.steps.length).to.equal(30);
    });
  }

  it('the -O2 training step matches -O0 on the same seed (|d| <= 1e-4)', async () => {
    const run = async (level: 0 | 2) => {
      const m = mlp();
      m.compile({ optimizer: adam({ lr: 0.01 }), loss: 'softmaxCrossEntropy', backend: 'cpu', optimizationLevel: level });
      const log = await m.fit(x, y, { epochs: 1, batchSize: 16, seed: 5 });
      return { losses: log.steps.map((s) => s.loss), w: m.weights };
    };
    const a = await run(0);
    const b = await run(2);
    a.losses.forEach((l, i) => expect(Math.abs(l - b.losses[i]!)).to.be.at.most(1e-4));
    for (const [n, t] of a.w) (t.data as Float32Array).forEach((v, i) => expect(Math.abs(v - Number(b.w.get(n)!.data[i]))).to.be.at.most(1e-4));
  });

  it('saved/loaded weights reproduce predictions; exported ONNX matches in onnxruntime-node (|d| <= 1e-5)', async () => {
    const m = mlp();
    m.compile({ optimizer: sgd({ lr: 0.1 }), loss: 'softmaxCrossEntropy', backend: 'cpu' });
    await m.fit(x, y, { epochs: 2, batchSize: 16 });
    const p = await m.predict(x);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'kiln-train-')), 'w.json');
    await m.saveWeights(file);
    const m2 = mlp();
    m2.compile({ optimizer: sgd({ lr: 0.1 }), loss: 'softmaxCrossEntropy', backend: 'cpu' });
    const before = await m2.predict(x);
    expect(Array.from(before.data as Float32Array)).to.not.deep.equal(Array.from(p.data as Float32Array));
    await m2.loadWeights(file);
    m2.release();
    const after = await m2.predict(x);
    expect(Array.from(after.data as Float32Array)).to.deep.equal(Array.from(p.data as Float32Array));
    const sess = await ort.InferenceSession.create(m.toOnnx());
    const out = await sess.run({ x: new ort.Tensor('float32', x.data as Float32Array, [96, 4]) });
    const o = out.pred!.data as Float32Array;
    expect(o.length).to.equal(p.size);
    o.forEach((v, i) => expect(Math.abs(v - Number(p.data[i]))).to.be.at.most(1e-5));
  });

  it('SGD and AdamW ops agree with their formulas (float64, 1e-5 rel + 1e-6)', async () => {
    const sh = [5];
    for (const [op, per, attrs] of [['SGD', 2, { weight_decay: 0.1 }], ['AdamW', 4, { alpha: 0.9, beta: 0.99, epsilon: 1e-8, weight_decay: 0.05 }]] as const) {
      const b = new GraphBuilder(op);
      const R = b.input('R', 'float32', []);
      const T = b.input('T', 'int64', []);
      const ins = ['X', 'G', 'V', 'H'].slice(0, per).map((k) => b.input(k, 'float32', sh));
      const outs = b.apply(TRAINING_OPS[op], [R, T, ...ins], attrs);
      outs.forEach((s, i) => b.output(s, `o${i}`));
      const model = await compileCpu(b.build());
      const vals = ins.map((_, k) => Float32Array.from({ length: 5 }, (_, i) => (k === 3 ? 0.1 + 0.2 * i : Math.sin(i + k * 3))));
      const feeds: Record<string, Tensor> = { R: Tensor.from('float32', [], [0.05]), T: Tensor.from('int64', [], [3]) };
      ins.forEach((s, k) => (feeds[s.name] = new Tensor('float32', sh, vals[k]!)));
      const got = await model.run(feeds);
      for (let i = 0; i < 5; i++) {
        const [x, g, v, h] = vals.map((a) => a[i]!);
        let want: number[];
        if (op === 'SGD') want = [x! - 0.05 * (g! + 0.1 * x!)];
        else {
          const v2 = 0.9 * v! + 0.1 * g!;
          const h2 = 0.99 * h! + 0.01 * g! * g!;
          const r = (0.05 * Math.sqrt(1 - 0.99 ** 3)) / (1 - 0.9 ** 3);
          want = [x! - (r * v2) / (Math.sqrt(h2) + 1e-8) - 0.05 * 0.05 * x!, v2, h2];
        }
        want.forEach((w, j) => expect(Math.abs(Number(got[`o${j}`]!.data[i]) - w), `${op} out ${j}[${i}]`).to.be.at.most(1e-5 * Math.abs(w) + 1e-6));
      }
    }
  });
});

describe('training on WebGPU (src/train)', function () {
  this.timeout(120000);
  it('a tiny MLP trains on WebGPU (loss falls by >= 30%) and matches the CPU run (|d| <= 1e-3)', async function () {
    const device = await sharedDevice();
    if (!device) {
      if (process.env.CI === 'true') throw new Error('no WebGPU adapter under CI');
      console.log('    (skipped: no WebGPU adapter)');
      this.skip();
    }
    const { x, y } = data(96);
    const run = async (backend: 'cpu' | 'webgpu') => {
      const m = mlp();
      m.compile({ optimizer: adam({ lr: 0.02 }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend, ...(backend === 'webgpu' ? { device: device! } : {}) });
      const log = await m.fit(x, y, { epochs: 5, batchSize: 16, seed: 3 });
      const p = await m.predict(x);
      m.release();
      return { log, p };
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    expect(gpu.log.backend).to.equal('webgpu');
    expect(gpu.log.epochs.at(-1)!.loss).to.be.lessThan(0.7 * gpu.log.epochs[0]!.loss);
    gpu.log.steps.forEach((s, i) => expect(Math.abs(s.loss - cpu.log.steps[i]!.loss), `step ${i}`).to.be.at.most(1e-3));
    (gpu.p.data as Float32Array).forEach((v, i) => expect(Math.abs(v - Number(cpu.p.data[i]))).to.be.at.most(1e-3));
  });
});
