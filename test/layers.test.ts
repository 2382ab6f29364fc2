import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, ShapeError, verify } from '../src/graph/index.js';
import { averagePool2d, conv2d, batchNorm, dense, embedding, flatten, layerNorm, maxPool2d, multiHeadAttention, reshape, sequential, softmax } from '../src/graph/layers.js';
import { gradients } from '../src/passes/autodiff.js';

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

  it('maxPool2d, averagePool2d, flatten and reshape compute 2×2 pooling of NCHW input', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 16]);
    const img = reshape([1, 4, 4])(b, x);
    const mx = maxPool2d(2)(b, img);
    const av = averagePool2d(2)(b, img);
    expect(img.shape).to.deep.equal(['batch', 1, 4, 4]);
    expect(mx.shape).to.deep.equal(['batch', 1, 2, 2]);
    b.output(flatten()(b, mx), 'max');
    b.output(flatten()(b, av), 'avg');
    const same = maxPool2d(2, { stride: 1, padding: 'same' })(b, img);
    expect(same.shape).to.deep.equal(['batch', 1, 4, 4]);
    const xs = Array.from({ length: 16 }, (_, i) => ((i * 7) % 16) - 5);
    const out = compileCpu(b.build()).run({ x: Tensor.from('float32', [1, 16], xs) });
    expect(out.max!.shape).to.deep.equal([1, 4]);
    const at = (r: number, c: number) => xs[r * 4 + c]!;
    const win = (r: number, c: number) => [at(r, c), at(r, c + 1), at(r + 1, c), at(r + 1, c + 1)];
    const corners = [[0, 0], [0, 2], [2, 0], [2, 2]] as const;
    expect(out.max!.toArray()).to.deep.equal(corners.map(([r, c]) => Math.max(...win(r, c))));
    corners.forEach(([r, c], i) => expect(out.avg!.data[i]).to.be.closeTo(win(r, c).reduce((s, v) => s + v, 0) / 4, 1e-6));
  });

  it('a small CNN of these layers is differentiable with respect to every weight', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 64]);
    const y = sequential(reshape([1, 8, 8]), conv2d(2, { seed: 1, activation: 'relu' }), maxPool2d(2), conv2d(3, { seed: 2 }), averagePool2d(2), flatten(), dense(4, { seed: 3 }))(b, x);
    expect(y.shape).to.deep.equal([2, 4]);
    b.output(b.ReduceSum([b.Mul([y, y])], { keepdims: 0 }), 'loss');
    const g = b.build();
    const wrt = [...g.initializers].filter(([, t]) => t.dtype === 'float32').map(([n]) => n);
    expect(wrt).to.have.length(6);
    const { graph, grads } = gradients(g, 'loss', wrt);
    const out = compileCpu(graph).run({ x: Tensor.from('float32', [2, 64], Array.from({ length: 128 }, (_, i) => Math.sin(i))) });
    for (const w of wrt) {
      const gr = out[grads.get(w)!]!;
      expect(gr.shape).to.deep.equal([...g.initializers.get(w)!.shape]);
      expect(gr.data.every((v) => Number.isFinite(v))).to.equal(true);
      expect(gr.data.some((v) => v !== 0), `gradient of ${w} is all zeros`).to.equal(true);
    }
  });

  it('rejects heads that do not divide the model dim', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 4, 10]);
    expect(() => multiHeadAttention(3)(b, x)).to.throw(ShapeError, /not divisible by 3/);
  });
});
