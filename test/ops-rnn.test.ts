import { expect } from 'chai';
import { runReference, Tensor, type Node } from '../src/graph/index.js';
import '../src/graph/ops/index.js';

const node = (op: string, n: number, attrs: Node['attrs'] = {}, outs = 2): Node => ({
  name: `${op}_t`, op, domain: '', attrs,
  inputs: Array.from({ length: n }, (_, i) => `i${i}`),
  outputs: Array.from({ length: outs }, (_, i) => `o${i}`),
});

describe('ops: recurrent layers', () => {
  // hidden 1, input 1, batch 1, two steps; W = 1, R = 1, no bias
  const x = Tensor.from('float32', [2, 1, 1], [0.5, -1]);
  const one = Tensor.from('float32', [1, 1, 1], [1]);

  it('RNN: h1 = tanh(0.5), h2 = tanh(-1 + h1)', () => {
    const [y, yh] = runReference(node('RNN', 3, { hidden_size: 1 }), [x, one, one]);
    const h1 = Math.tanh(0.5);
    const h2 = Math.tanh(-1 + h1);
    expect(y!.shape).to.deep.equal([2, 1, 1, 1]);
    expect(y!.data[0]).to.be.closeTo(h1, 1e-6);
    expect(y!.data[1]).to.be.closeTo(h2, 1e-6);
    expect(yh!.data[0]).to.be.closeTo(h2, 1e-6);
  });

  it('RNN reverse direction runs the sequence backwards', () => {
    const [y] = runReference(node('RNN', 3, { hidden_size: 1, direction: 'reverse' }), [x, one, one]);
    const h2 = Math.tanh(-1);
    expect(y!.data[1]).to.be.closeTo(h2, 1e-6);
    expect(y!.data[0]).to.be.closeTo(Math.tanh(0.5 + h2), 1e-6);
  });

  it('GRU one step from zero state: h = (1 - z)·tanh(x)', () => {
    const w = Tensor.from('float32', [1, 3, 1], [1, 1, 1]);
    const r = Tensor.from('float32', [1, 3, 1], [0, 0, 0]);
    const [, yh] = runReference(node('GRU', 3, { hidden_size: 1 }), [Tensor.from('float32', [1, 1, 1], [2]), w, r]);
    const z = 1 / (1 + Math.exp(-2));
    expect(yh!.data[0]).to.be.closeTo((1 - z) * Math.tanh(2), 1e-6);
  });

  it('LSTM one step from zero state: c = i·tanh(x), h = o·tanh(c)', () => {
    const w = Tensor.from('float32', [1, 4, 1], [1, 1, 1, 1]);
    const r = Tensor.from('float32', [1, 4, 1], [0, 0, 0, 0]);
    const [, yh, yc] = runReference(node('LSTM', 3, { hidden_size: 1 }, 3), [Tensor.from('float32', [1, 1, 1], [1]), w, r]);
    const sig = 1 / (1 + Math.exp(-1));
    const c = sig * Math.tanh(1);
    expect(yc!.data[0]).to.be.closeTo(c, 1e-6);
    expect(yh!.data[0]).to.be.closeTo(sig * Math.tanh(c), 1e-6);
  });
});
