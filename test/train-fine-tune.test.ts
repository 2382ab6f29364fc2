/**
 * Fine-tuning an imported ONNX model: Model.fromGraph over fromOnnx's graph, some
 * initializers frozen with compile({ freeze }), the rest trained by fit. Checks that
 * the frozen weights keep their exact bytes, the trained ones move, the loss falls,
 * and the export keeps the model's own input/output names and runs in
 * onnxruntime-node with Kiln's predictions (within 1e-5). CPU backend, seeded data.
 */
import { expect } from 'chai';
import { GraphBuilder } from '../src/graph/builder.js';
import { InputError } from '../src/graph/errors.js';
import { dense, sequential } from '../src/graph/layers.js';
import { Rng } from '../src/graph/random.js';
import { Tensor } from '../src/graph/tensor.js';
import { fromOnnx, toOnnx } from '../src/index.js';
import { Model } from '../src/train/model.js';
import { adam } from '../src/train/optimizers.js';
import { runOrt } from './onnx-util.js';

const D = 12, CLASSES = 3;

/** An ONNX file as an exporter would write it: input 'pixels', output 'logits'. */
function onnxModel(): Uint8Array {
  const b = new GraphBuilder('pretrained');
  const x = b.input('pixels', 'float32', ['n', D]);
  b.output(sequential(dense(16, { activation: 'relu', seed: 11 }), dense(CLASSES, { seed: 12 }))(b, x), 'logits');
  return toOnnx(b.build());
}

/** n rows: noise plus a bright block of 4 features at the label's position. */
function data(n: number, seed: number): [Tensor, Tensor] {
  const rng = new Rng(seed);
  const x = new Tensor('float32', [n, D], rng.floats(n * D, 0, 0.3));
  const y = new Tensor('int32', [n]);
  for (let i = 0; i < n; i++) {
    const c = i % CLASSES;
    y.data[i] = c;
    for (let k = 0; k < 4; k++) x.data[i * D + c * 4 + k] = 1;
  }
  return [x, y];
}

describe('training: fine-tuning an imported ONNX model (Model.fromGraph + freeze)', function () {
  this.timeout(60_000);

  it('frozen initializers keep their bytes, the others train; the export keeps its names and runs in onnxruntime-node', async () => {
    const g = fromOnnx(onnxModel());
    const model = Model.fromGraph(g);
    const names = [...g.initializers.keys()].filter((n) => g.initializers.get(n)!.shape.length >= 1);
    const weights = names.filter((n) => g.initializers.get(n)!.shape.length === 2);
    expect(weights.length, 'two dense weight matrices').to.equal(2);
    const frozen = weights[0]!;
    model.compile({ optimizer: adam({ lr: 0.02 }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend: 'cpu', freeze: [frozen] });
    const [x, y] = data(240, 3);
    const [xt, yt] = data(60, 4);
    const before = await model.evaluate(xt, yt);
    const log = await model.fit(x, y, { epochs: 4, batchSize: 24 });
    const after = await model.evaluate(xt, yt);
    expect(log.epochs.at(-1)!.loss, 'the training loss falls').to.be.lessThan(log.epochs[0]!.loss);
    expect(after.loss, 'the test loss falls').to.be.lessThan(before.loss);
    expect(after.accuracy, 'the fine-tuned model learns the task').to.be.at.least(0.9);
    const bytes = (t: Tensor) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength);
    expect(bytes(model.weights.get(frozen)!).equals(bytes(g.initializers.get(frozen)!)), `${frozen} is frozen`).to.equal(true);
    for (const n of names.filter((n) => n !== frozen)) {
      expect(bytes(model.weights.get(n)!).equals(bytes(g.initializers.get(n)!)), `${n} is trained`).to.equal(false);
    }
    const onnx = model.toOnnx();
    const back = fromOnnx(onnx);
    expect(back.inputs.map((v) => v.name)).to.deep.equal(['pixels']);
    expect(back.outputs.map((v) => v.name)).to.deep.equal(['logits']);
    const kiln = await model.predict(xt);
    const ort = (await runOrt(onnx, { pixels: xt })).logits!;
    let worst = 0;
    for (let i = 0; i < kiln.size; i++) worst = Math.max(worst, Math.abs((kiln.data[i] as number) - (ort.data[i] as number)));
    expect(worst, 'onnxruntime-node equals Kiln on the fine-tuned export').to.be.lessThan(1e-5);
    model.release();
  });

  it('a graph with two inputs is refused with a clear error', () => {
    const b = new GraphBuilder('two');
    const a = b.input('a', 'float32', ['n', 2]);
    const c = b.input('c', 'float32', ['n', 2]);
    b.output(b.Add([a, c]), 'sum');
    expect(() => Model.fromGraph(b.build())).to.throw(InputError, /exactly one of each/);
  });
});
