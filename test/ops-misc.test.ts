import { expect } from 'chai';
import { AttributeError, GraphBuilder, ShapeError, Tensor, runReference } from '../src/graph/index.js';
import '../src/graph/ops/cumsum.js';
import '../src/graph/ops/ranking.js';

function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, unknown> = {}, nOut = 1): Tensor[] {
  const names = inputs.map((t, i) => (t ? `in${i}` : ''));
  const outs = Array.from({ length: nOut }, (_, i) => `out${i}`);
  return runReference({ name: `${op}_test`, op, domain: '', inputs: names, outputs: outs, attrs: attrs as never }, inputs);
}
const f32 = (shape: number[], v: number[]) => Tensor.from('float32', shape, v);
const i64 = (v: number[]) => Tensor.from('int64', [v.length], v);

describe('ops: misc', () => {
  describe('CumSum', () => {
    const x = f32([4], [1, 2, 3, 4]);
    const ax = Tensor.scalar('int32', 0);
    it('inclusive, exclusive, reverse, and both', () => {
      expect(run('CumSum', [x, ax])[0]!.toArray()).to.deep.equal([1, 3, 6, 10]);
      expect(run('CumSum', [x, ax], { exclusive: 1 })[0]!.toArray()).to.deep.equal([0, 1, 3, 6]);
      expect(run('CumSum', [x, ax], { reverse: 1 })[0]!.toArray()).to.deep.equal([10, 9, 7, 4]);
      expect(run('CumSum', [x, ax], { exclusive: 1, reverse: 1 })[0]!.toArray()).to.deep.equal([9, 7, 4, 0]);
    });
    it('along either axis of a matrix, axis as int64 [1] or negative', () => {
      const m = f32([2, 3], [1, 2, 3, 4, 5, 6]);
      expect(run('CumSum', [m, i64([1])])[0]!.toArray()).to.deep.equal([1, 3, 6, 4, 9, 15]);
      expect(run('CumSum', [m, Tensor.scalar('int64', -2)])[0]!.toArray()).to.deep.equal([1, 2, 3, 5, 7, 9]);
      const b = new GraphBuilder();
      const xi = b.input('x', 'float32', ['n', 3]);
      expect(() => b.apply('CumSum', [xi, b.constant([2], { dtype: 'int64' })], {}, { name: 'cs' })).to.throw(ShapeError, /cs: axis 2 is out of range/);
    });
  });

  describe('TopK', () => {
    const x = f32([2, 4], [1, 3, 3, 2, 5, 5, 5, 0]);
    it('largest with ties: lower index first', () => {
      const [v, i] = run('TopK', [x, i64([2])], {}, 2);
      expect(v!.shape).to.deep.equal([2, 2]);
      expect(v!.toArray()).to.deep.equal([3, 3, 5, 5]);
      expect(i!.dtype).to.equal('int64');
      expect(i!.toArray()).to.deep.equal([1, 2, 0, 1]);
    });
    it('smallest, along axis 0, and with the opset-1 k attribute', () => {
      const [v, i] = run('TopK', [x, i64([2])], { largest: 0 }, 2);
      expect(v!.toArray()).to.deep.equal([1, 2, 0, 5]);
      expect(i!.toArray()).to.deep.equal([0, 3, 3, 0]);
      const [v0, i0] = run('TopK', [f32([2, 2], [1, 3, 2, 0])], { axis: 0, k: 1 }, 2);
      expect(v0!.toArray()).to.deep.equal([2, 3]);
      expect(i0!.toArray()).to.deep.equal([1, 0]);
    });
    it('inference: constant K, unknown K, K out of range, missing K', () => {
      const b = new GraphBuilder();
      const xi = b.input('x', 'float32', ['batch', 10]);
      const [v, i] = b.TopK([xi, b.constant([3], { dtype: 'int64' })], { largest: 1 });
      expect(v!.shape).to.deep.equal(['batch', 3]);
      expect(i!.dtype).to.equal('int64');
      const k = b.input('k', 'int64', [1]);
      const [vu] = b.apply('TopK', [xi, k]);
      expect(vu!.shape[0]).to.equal('batch');
      expect(vu!.shape[1]).to.be.a('string');
      expect(() => b.apply('TopK', [xi, b.constant([11], { dtype: 'int64' })], {}, { name: 'tk' })).to.throw(ShapeError, /tk: TopK K=11 is out of range/);
      expect(() => b.apply('TopK', [xi])).to.throw(AttributeError, /needs K/);
    });
  });

  it('NonMaxSuppression: ONNX suppress_by_IOU example', () => {
    const boxes = f32([1, 6, 4], [0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, -0.1, 1, 0.9, 0, 10, 1, 11, 0, 10.1, 1, 11.1, 0, 100, 1, 101]);
    const scores = f32([1, 1, 6], [0.9, 0.75, 0.6, 0.95, 0.5, 0.3]);
    const y = run('NonMaxSuppression', [boxes, scores, i64([3]), f32([1], [0.5]), f32([1], [0])])[0]!;
    expect(y.dtype).to.equal('int64');
    expect(y.shape).to.deep.equal([3, 3]);
    expect(y.toArray()).to.deep.equal([0, 0, 3, 0, 0, 0, 0, 0, 5]);
    const none = run('NonMaxSuppression', [boxes, scores])[0]!;
    expect(none.shape).to.deep.equal([0, 3]);
  });
});
