/**
 * BatchNormalization running statistics as training state (src/train/batch-norm.ts):
 * fit normalizes with batch statistics and updates the running mean and variance in
 * place (state), evaluate/predict/export read them (inference mode). With the
 * BatchNormalization as the first layer its input is the data itself, so the running
 * statistics after fit are computed here by hand in float64 over the same batches
 * (shuffle off): running = running·0.9 + batch·0.1, population variance (ONNX's
 * training-mode definition); |d| <= 1e-5 + 1e-5·|want| (float32 accumulation).
 * The exported ONNX runs in onnxruntime-node with Kiln's predictions (|d| <= 1e-5), the
 * -O2 step matches -O0 (|d| <= 1e-4), and WebGPU matches the reference (|d| <= 1e-4).
 */
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import type { GraphBuilder, Sym } from '../src/graph/builder.js';
import { batchNorm, dense, sequential } from '../src/graph/layers.js';
import { Tensor } from '../src/graph/tensor.js';
import { Model } from '../src/train/model.js';
import { adam, sgd } from '../src/train/optimizers.js';
import { sharedDevice } from './helpers/gpu.js';

const N = 48;
const BATCH = 16;
const C = 2;
const HW = 4;

/** Seeded data [N, C, 2, 2] with per-channel offsets (so the statistics move), 3 classes. */
function data(): { x: Tensor; y: Tensor } {
  let s = 11;
  const r = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296) - 0.5;
  const x = new Tensor('float32', [N, C, 2, 2]);
  const y = new Tensor('int32', [N]);
  for (let i = 0; i < N; i++) {
    y.data[i] = i % 3;
    for (let c = 0; c < C; c++) for (let k = 0; k < HW; k++) x.data[(i * C + c) * HW + k] = (c === 0 ? 2 : -1) + (c + 1) * r() + 0.3 * (i % 3);
  }
  return { x, y };
}

const flat = (b: GraphBuilder, x: Sym): Sym => b.Flatten([x], { axis: 1 });

function model(): Model {
  return new Model(sequential(batchNorm({ seed: 5 }), flat, dense(3, { seed: 6 })), { inputShape: [C, 2, 2], name: 'bn' });
}

/** The running mean and variance names (inputs 3 and 4 of the BatchNormalization). */
function statNames(m: Model): [string, string] {
  const n = m.forward.nodes.find((v) => v.op === 'BatchNormalization')!;
  return [n.inputs[3]!, n.inputs[4]!];
}

/** Running statistics after `epochs` passes over x in order, batch by batch, in float64. */
function reference(x: Tensor, mean0: Tensor, var0: Tensor, epochs: number): { mean: number[]; variance: number[] } {
  const mean = Array.from(mean0.data as Float32Array);
  const variance = Array.from(var0.data as Float32Array);
  for (let e = 0; e < epochs; e++) {
    for (let s = 0; s < N / BATCH; s++) {
      for (let c = 0; c < C; c++) {
        const v: number[] = [];
        for (let i = s * BATCH; i < (s + 1) * BATCH; i++) for (let k = 0; k < HW; k++) v.push(Number(x.data[(i * C + c) * HW + k]));
        const mu = v.reduce((a, b) => a + b, 0) / v.length;
        const va = v.reduce((a, b) => a + (b - mu) ** 2, 0) / v.length;
        mean[c] = mean[c]! * 0.9 + mu * 0.1;
        variance[c] = variance[c]! * 0.9 + va * 0.1;
      }
    }
  }
  return { mean, variance };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, abs: number, rel: number, what: string): void {
  expect(got.length, what).to.equal(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(Number(got[i]) - Number(want[i])), `${what}[${i}]: ${got[i]} vs ${want[i]}`).to.be.at.most(abs + rel * Math.abs(Number(want[i])));
}

describe('BatchNormalization running statistics in training (src/train)', function () {
  this.timeout(120000);
  const { x, y } = data();

  it('fit updates the running mean/var like the hand-computed momentum reference; predict and ONNX export (onnxruntime-node) use them', async () => {
    const m = model();
    const [meanName, varName] = statNames(m);
    const mean0 = m.weights.get(meanName)!;
    const var0 = m.weights.get(varName)!;
    m.compile({ optimizer: sgd({ lr: 0.05 }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend: 'cpu' });
    const log = await m.fit(x, y, { epochs: 2, batchSize: BATCH, shuffle: false });
    expect(log.steps.length).to.equal(6);
    log.steps.forEach((s) => expect(Number.isFinite(s.loss)).to.equal(true));
    const want = reference(x, mean0, var0, 2);
    const gotMean = m.weights.get(meanName)!.data as Float32Array;
    const gotVar = m.weights.get(varName)!.data as Float32Array;
    expect(Array.from(gotMean)).to.not.deep.equal(Array.from(mean0.data as Float32Array));
    expectClose(gotMean, want.mean, 1e-5, 1e-5, 'running mean');
    expectClose(gotVar, want.variance, 1e-5, 1e-5, 'running var');

    // Inference mode: predict normalizes with the running statistics; the exported graph must agree.
    const p = await m.predict(x);
    const sess = await ort.InferenceSession.create(m.toOnnx());
    const out = await sess.run({ x: new ort.Tensor('float32', x.data as Float32Array, [N, C, 2, 2]) });
    expectClose(out.pred!.data as Float32Array, p.data as Float32Array, 1e-5, 0, 'onnxruntime-node vs Kiln predict');
    // The exported BatchNormalization holds the trained statistics, not the initial ones.
    const g = m.inferenceGraph();
    expect(Array.from(g.initializers.get(meanName)!.data as Float32Array)).to.deep.equal(Array.from(gotMean));
    // evaluate reads the same running statistics: its loss equals the loss of predict's outputs.
    const ev = await m.evaluate(x, y);
    let ce = 0;
    for (let i = 0; i < N; i++) {
      const row = Array.from({ length: 3 }, (_, j) => Number(p.data[i * 3 + j]));
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
      ce += lse - row[Number(y.data[i])]!;
    }
    expect(Math.abs(ev.loss - ce / N)).to.be.at.most(1e-5);
  });

  it('the -O2 training step with BatchNormalization matches -O0 (|d| <= 1e-4)', async () => {
    const run = async (level: 0 | 2) => {
      const m = model();
      m.compile({ optimizer: adam({ lr: 0.01 }), loss: 'softmaxCrossEntropy', backend: 'cpu', optimizationLevel: level });
      const log = await m.fit(x, y, { epochs: 2, batchSize: BATCH, seed: 4 });
      return { losses: log.steps.map((s) => s.loss), w: m.weights };
    };
    const a = await run(0);
    const b = await run(2);
    expectClose(b.losses, a.losses, 1e-4, 0, 'step losses');
    for (const [n, t] of a.w) expectClose(b.w.get(n)!.data as Float32Array, t.data as Float32Array, 1e-4, 0, n);
  });

  it('on WebGPU the running statistics stay GPU state and match the reference (|d| <= 1e-4)', async function () {
    const device = await sharedDevice();
    if (!device) {
      if (process.env.CI === 'true') throw new Error('no WebGPU adapter under CI');
      console.log('    (skipped: no WebGPU adapter)');
      this.skip();
    }
    const m = model();
    const [meanName, varName] = statNames(m);
    const want = reference(x, m.weights.get(meanName)!, m.weights.get(varName)!, 2);
    m.compile({ optimizer: sgd({ lr: 0.05 }), loss: 'softmaxCrossEntropy', backend: 'webgpu', device: device! });
    await m.fit(x, y, { epochs: 2, batchSize: BATCH, shuffle: false });
    expectClose(m.weights.get(meanName)!.data as Float32Array, want.mean, 1e-4, 1e-4, 'running mean');
    expectClose(m.weights.get(varName)!.data as Float32Array, want.variance, 1e-4, 1e-4, 'running var');
    const p = await m.predict(x);
    m.release();
    const cpu = model();
    cpu.compile({ optimizer: sgd({ lr: 0.05 }), loss: 'softmaxCrossEntropy', backend: 'cpu' });
    await cpu.fit(x, y, { epochs: 2, batchSize: BATCH, shuffle: false });
    expectClose(p.data as Float32Array, (await cpu.predict(x)).data as Float32Array, 1e-3, 0, 'WebGPU vs CPU predict');
  });
});
