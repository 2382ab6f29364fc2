/**
 * int8 weight accuracy options (src/passes/quantize-weights.ts, bias-correction.ts):
 * MSE clipping never has a larger squared error than max-scaling; the float budget keeps
 * the smallest weights float32 within its bytes; bias correction removes the mean output
 * shift the rounding causes on the calibration batch (checked with the CPU reference:
 * mean error per output channel ≤ 1e-5 after, versus the shift before).
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';
import { keptFloat, quantizePerChannel, quantizeWeights } from '../src/passes/quantize-weights.js';
import { randomTensor } from './helpers/gpu-compare.js';

const sqErr = (w: Tensor, q: Tensor, s: Tensor, inner: number): number => {
  let e = 0;
  for (let i = 0; i < w.size; i++) e += (Number(w.data[i]) - Number(q.data[i]) * Number(s.data[Math.floor(i / inner)])) ** 2;
  return e;
};

describe('weight quantization: accuracy options (clipping, float budget, bias correction)', () => {
  it('mse clipping: per channel, a smaller squared error than max-scaling on heavy-tailed weights', () => {
    // Laplace-distributed weights (deterministic): long tails, where clipping pays
    const w = Tensor.from('float32', [2, 4096], Array.from({ length: 8192 }, (_, i) => (i % 2 ? 1 : -1) * -Math.log(((i * 7919) % 8191 + 0.5) / 8192)));
    const max = quantizePerChannel(w, 0, 'max');
    const mse = quantizePerChannel(w, 0, 'mse');
    expect(sqErr(w, mse.q, mse.scale, 4096)).to.be.lessThan(sqErr(w, max.q, max.scale, 4096));
    expect(Number(mse.scale.data[0])).to.be.lessThan(Number(max.scale.data[0]));
  });

  it('float budget: the smallest weights stay float while 3 bytes each fit in the budget', () => {
    const ws = [{ node: 'a', elements: 1000 }, { node: 'b', elements: 10 }, { node: 'c', elements: 100 }];
    // total 4 · 1110 = 4440 bytes; budget 0.1 → 444 bytes: b (30) and c (300) fit, a does not
    expect([...keptFloat(ws, 0.1)].sort()).to.deep.equal(['b', 'c']);
    expect(keptFloat(ws, 0).size).to.equal(0);
  });

  it('bias correction: the mean output error per channel on the calibration batch goes to ~0', () => {
    const b = new GraphBuilder('gemm');
    const x = b.input('x', 'float32', [64, 32]);
    const w = b.constant(randomTensor('float32', [16, 32], 7));
    const bias = b.constant(randomTensor('float32', [16], 8));
    b.output(b.Gemm([x, w, bias], { transB: 1 }), 'y');
    const g = b.build();
    const xs = randomTensor('float32', [64, 32], 9);
    for (let i = 0; i < xs.size; i++) xs.data[i] = Math.abs(Number(xs.data[i])); // positive, as after a ReLU
    const feeds = new Map([['x', xs]]);
    const ref = compileCpu(g).run({ x: xs })['y']!;
    const meanErr = (gq: typeof g): number => {
      const y = compileCpu(gq).run({ x: xs })['y']!;
      let worst = 0;
      for (let c = 0; c < 16; c++) {
        let s = 0;
        for (let r = 0; r < 64; r++) s += Number(y.data[r * 16 + c]) - Number(ref.data[r * 16 + c]);
        worst = Math.max(worst, Math.abs(s / 64));
      }
      return worst;
    };
    const plain = quantizeWeights(g, { bits: 8, minElements: 1 });
    const corrected = quantizeWeights(g, { bits: 8, minElements: 1, calibration: [feeds] });
    expect(corrected.report.biasesCorrected).to.equal(1);
    expect(meanErr(plain.graph)).to.be.greaterThan(1e-4);
    expect(meanErr(corrected.graph)).to.be.lessThan(1e-5);
  });
});
