import { expect } from 'chai';
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { InferenceSession, Tensor } from '../src/session/index.js';
import { GraphBuilder, InputError, ModelFormatError } from '../src/graph/index.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { compareTensors } from '../src/harness/compare.js';

const MODELS = path.resolve(import.meta.dirname, '../../shared/models');

function smallGraph() {
  const b = new GraphBuilder('small');
  const x = b.input('x', 'float32', ['batch', 3]);
  b.output(b.Relu(b.Add([x, b.constant([1, -2, 0.5])])), 'y');
  return b.build();
}

describe('session API (CPU backend)', () => {
  it('creates from a Graph, exposes metadata, runs with an ORT-style Tensor', async () => {
    const s = await InferenceSession.create(smallGraph(), { backend: 'cpu' });
    expect(s.inputNames).to.deep.equal(['x']);
    expect(s.outputNames).to.deep.equal(['y']);
    expect(s.inputMetadata[0]).to.deep.include({ dtype: 'float32', shape: ['batch', 3] });
    const out = await s.run({ x: new Tensor('float32', new Float32Array([0, 1, 2, -3, 4, -5]), [2, 3]) });
    expect(out.y!.toArray()).to.deep.equal([1, 0, 2.5, 0, 2, 0]);
    expect(out.y!.shape).to.deep.equal([2, 3]);
    s.release();
  });

  it('accepts ONNX Runtime executionProviders and freeDimensions', async () => {
    const s = await InferenceSession.create(smallGraph(), { executionProviders: ['wasm'], freeDimensions: { batch: 2 } });
    expect(s.backend).to.equal('wasm');
    expect(s.inputMetadata[0]!.shape).to.deep.equal([2, 3]);
  });

  it('rejects bad feeds with InputErrors naming the input', async () => {
    const s = await InferenceSession.create(smallGraph(), { backend: 'cpu' });
    await s.run({}).then(() => expect.fail('no error'), (e) => expect(e).to.be.instanceOf(InputError).with.property('message').match(/missing feed for input 'x'/));
    await s.run({ x: new Tensor('int32', [1, 2, 3], [1, 3]) }).then(() => expect.fail('no error'), (e) => expect(e).to.be.instanceOf(InputError).with.property('message').match(/'x' expects dtype float32, got int32/));
    await s.run({ x: new Tensor('float32', [1, 2, 3, 4], [4]) }).then(() => expect.fail('no error'), (e) => expect(e).to.be.instanceOf(InputError).with.property('message').match(/rank 2/));
    await s.run({ x: new Tensor('float32', [1, 2, 3], [1, 3]), z: new Tensor('float32', [1], [1]) }).then(() => expect.fail('no error'), (e) => expect(e).to.be.instanceOf(InputError).with.property('message').match(/unexpected feed 'z'/));
  });

  it('rejects garbage model bytes with ModelFormatError', async () => {
    await InferenceSession.create(new Uint8Array([1, 2, 3, 4, 5]), { backend: 'cpu' }).then(
      () => expect.fail('no error'),
      (e) => expect(e).to.be.instanceOf(ModelFormatError),
    );
  });

  it('runs a shared model from a path and matches its reference output', async function () {
    const dir = path.join(MODELS, 'squeezenet1_1');
    if (!existsSync(dir)) {
      if (process.env.CI === 'true') throw new Error(`shared models missing at ${MODELS}`);
      console.log(`      (skipped: no shared models at ${MODELS})`);
      this.skip();
    }
    const s = await InferenceSession.create(path.join(dir, 'model.onnx'), { backend: 'cpu' });
    const [set] = readTestDataSets(dir);
    const feeds = Object.fromEntries(set!.inputs.map((t, i) => [s.inputNames[i]!, t.tensor]));
    const out = await s.run(feeds);
    const cmp = compareTensors(set!.outputs[0]!.tensor, out[s.outputNames[0]!]!);
    expect(cmp.pass, JSON.stringify(cmp)).to.equal(true);
    expect(readFileSync).to.be.a('function');
  });
});
