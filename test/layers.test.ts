import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, ShapeError, verify } from '../src/graph/index.js';
import { conv2d, batchNorm, dense, embedding, layerNorm, multiHeadAttention, sequential, softmax } from '../src/graph/layers.js';

describe('layers', () => {
  it('dense computes x·W + b with seeded, deterministic weights', () => {
    const build = () => {
      const b = new GraphBuilder();
      const x = b.input('x', 'float32', ['batch', 4]);
      b.output(dense(3, { seed: 42 })(b, x), 'y');
      return b.build();
    };
    const g1 = build();
    const g2 = build();
    verify(g1);
    const w1 = [...g1.initializers.values()].map((t) => t.toArray());
    const w2 = [...g2.initializers.values()].map((t) => t.toArray());
    expect(w1).to.deep.equal(w2);
    const [W, bias] = [...g1.initializers.values()];
    const x = Tensor.from('float32', [1, 4], [1, 2, 3, 4]);
    const y = compileCpu(g1).run({ x }).y!;
    expect(y.shape).to.deep.equal([1, 3]);
    for (let j = 0; j < 3; j++) {
      let s = bias!.data[j]!;
      for (let i = 0; i < 4; i++) s += (i + 1) * W!.data[i * 3 + j]!;
      expect(y.data[j]).to.be.closeTo(s, 1e-5);
    }
  });

  it('sequential MLP with softmax gives rows that sum to 1', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 8]);
    b.output(sequential(dense(16, { activation: 'relu' }), dense(5), softmax())(b, x), 'p');
    const out = compileCpu(b.build()).run({ x: Tensor.from('float32', [3, 8], Array.from({ length: 24 }, (_, i) => Math.sin(i))) }).p!;
    expect(out.shape).to.deep.equal([3, 5]);
    for (let r = 0; r < 3; r++) {
      let s = 0;
      for (let c = 0; c < 5; c++) s += out.data[r * 5 + c]!;
      expect(s).to.be.closeTo(1, 1e-5);
    }
  });

  it('conv2d + batchNorm keep spatial size with same padding', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 3, 8, 8]);
    const y = sequential(conv2d(4, { kernel: 3, activation: 'relu' }), batchNorm())(b, x);
    expect(y.shape).to.deep.equal([1, 4, 8, 8]);
  });

  it('embedding + layerNorm + causal attention build a transformer block', () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'int64', [1, 6]);
    const h = embedding(50, 16)(b, ids);
    const a = multiHeadAttention(4, { causal: true })(b, layerNorm()(b, h));
    expect(a.shape).to.deep.equal([1, 6, 16]);
    b.output(a, 'out');
    const out = compileCpu(b.build()).run({ ids: Tensor.from('int64', [1, 6], [1, 2, 3, 4, 5, 6]) }).out!;
    expect(out.data.every((v) => Number.isFinite(v))).to.equal(true);
  });

  it('rejects heads that do not divide the model dim', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 4, 10]);
    expect(() => multiHeadAttention(3)(b, x)).to.throw(ShapeError, /not divisible by 3/);
  });
});
