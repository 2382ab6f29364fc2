import { expect } from 'chai';
import { AttributeError, DTypeError, DynamicRankError, GraphBuilder, ShapeError, Tensor, runReference } from '../src/graph/index.js';
import '../src/graph/ops/reduce.js';

/** Runs one node with the CPU reference; `undefined` marks an omitted optional input. */
function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, unknown> = {}): Tensor[] {
  const names = inputs.map((t, i) => (t ? `in${i}` : ''));
  return runReference({ name: `${op}_test`, op, domain: '', inputs: names, outputs: ['out0'], attrs: attrs as never }, inputs);
}
const f32 = (shape: number[], v: number[]) => Tensor.from('float32', shape, v);
const axesT = (v: number[]) => Tensor.from('int64', [v.length], v);
function expectClose(t: Tensor, shape: number[], want: number[], tol = 1e-5): void {
  expect(t.shape).to.deep.equal(shape);
  t.toArray().forEach((v, i) => {
    const w = want[i]!;
    if (Number.isNaN(w)) expect(v, `element ${i}`).to.be.NaN;
    else if (!Number.isFinite(w)) expect(v, `element ${i}`).to.equal(w);
    else expect(v, `element ${i}`).to.be.closeTo(w, tol);
  });
}

describe('ops: reductions', () => {
  const x23 = f32([2, 3], [1, 2, 3, 4, 5, 6]);

  it('ReduceSum over one axis, keepdims 1 and 0, attribute and input forms, negative axes', () => {
    expectClose(run('ReduceSum', [x23], { axes: [1] })[0]!, [2, 1], [6, 15]);
    expectClose(run('ReduceSum', [x23], { axes: [1], keepdims: 0 })[0]!, [2], [6, 15]);
    expectClose(run('ReduceSum', [x23, axesT([-1])], { keepdims: 0 })[0]!, [2], [6, 15]);
    expectClose(run('ReduceSum', [x23, axesT([0])])[0]!, [1, 3], [5, 7, 9]);
    expectClose(run('ReduceSum', [x23], { axes: [-2], keepdims: 0 })[0]!, [3], [5, 7, 9]);
  });

  it('empty axes reduce everything; noop_with_empty_axes returns the input', () => {
    expectClose(run('ReduceSum', [x23])[0]!, [1, 1], [21]);
    expectClose(run('ReduceSum', [x23], { keepdims: 0 })[0]!, [], [21]);
    expectClose(run('ReduceSum', [x23, axesT([])], { keepdims: 0 })[0]!, [], [21]);
    expectClose(run('ReduceSum', [x23, axesT([])], { noop_with_empty_axes: 1 })[0]!, [2, 3], [1, 2, 3, 4, 5, 6]);
  });

  it('reduces non-adjacent axes of a 3-D tensor', () => {
    // x[i,j,k] = 6i + 2j + k; summing over i and k gives 8j + 14.
    const x = f32([2, 3, 2], Array.from({ length: 12 }, (_, i) => i));
    expectClose(run('ReduceSum', [x], { axes: [0, 2] })[0]!, [1, 3, 1], [14, 22, 30]);
    expectClose(run('ReduceSum', [x, axesT([2, 0])], { keepdims: 0 })[0]!, [3], [14, 22, 30]);
    // max over axis 1: x[i,2,k] = 6i + 4 + k.
    expectClose(run('ReduceMax', [x], { axes: [1], keepdims: 0 })[0]!, [2, 2], [4, 5, 10, 11]);
  });

  it('each reduction kind on hand-computed values', () => {
    expectClose(run('ReduceMean', [x23], { axes: [0], keepdims: 0 })[0]!, [3], [2.5, 3.5, 4.5]);
    expectClose(run('ReduceMax', [x23], { axes: [1], keepdims: 0 })[0]!, [2], [3, 6]);
    expectClose(run('ReduceMin', [x23], { axes: [1], keepdims: 0 })[0]!, [2], [1, 4]);
    expectClose(run('ReduceProd', [x23], { axes: [1], keepdims: 0 })[0]!, [2], [6, 120]);
    expectClose(run('ReduceL1', [f32([2, 2], [-1, 2, 3, -4])], { axes: [1], keepdims: 0 })[0]!, [2], [3, 7]);
    expectClose(run('ReduceL2', [f32([2, 2], [3, -4, 6, 8])], { axes: [1], keepdims: 0 })[0]!, [2], [5, 10]);
    expectClose(run('ReduceSumSquare', [f32([2, 2], [1, 2, 3, 4])], { axes: [1], keepdims: 0 })[0]!, [2], [5, 25]);
    expectClose(run('ReduceLogSum', [f32([2, 2], [1, 2, 3, 4])], { axes: [1], keepdims: 0 })[0]!, [2], [Math.log(3), Math.log(7)]);
    // log(e^1000 + e^1000) = 1000 + ln 2 must not overflow.
    expectClose(run('ReduceLogSumExp', [f32([2, 2], [0, 0, 1000, 1000])], { axes: [1], keepdims: 0 })[0]!, [2], [Math.LN2, 1000 + Math.LN2], 1e-3);
  });

  it('integer reductions keep the dtype', () => {
    const x = Tensor.from('int32', [2, 2], [1, 2, 3, 4]);
    const y = run('ReduceSum', [x], { axes: [0], keepdims: 0 })[0]!;
    expect(y.dtype).to.equal('int32');
    expect(y.toArray()).to.deep.equal([4, 6]);
  });

  it('empty reductions give the identity element', () => {
    const e = f32([2, 0], []);
    const r = (op: string, x: Tensor = e) => run(op, [x], { axes: [1], keepdims: 0 })[0]!.toArray();
    expect(r('ReduceSum')).to.deep.equal([0, 0]);
    expect(r('ReduceProd')).to.deep.equal([1, 1]);
    expect(r('ReduceMax')).to.deep.equal([-Infinity, -Infinity]);
    expect(r('ReduceMin')).to.deep.equal([Infinity, Infinity]);
    expect(r('ReduceSumSquare')).to.deep.equal([0, 0]);
    expect(r('ReduceLogSumExp')).to.deep.equal([-Infinity, -Infinity]);
    expect(r('ReduceMax', Tensor.from('int32', [2, 0], []))).to.deep.equal([-2147483648, -2147483648]);
  });

  it('ArgMax/ArgMin with keepdims and select_last_index ties (ONNX doc examples)', () => {
    const d = f32([2, 2], [2, 1, 3, 10]);
    const a = run('ArgMax', [d], { axis: 1 })[0]!;
    expect(a.dtype).to.equal('int64');
    expect(a.shape).to.deep.equal([2, 1]);
    expect(a.toArray()).to.deep.equal([0, 1]);
    expect(run('ArgMin', [d], { axis: 0, keepdims: 0 })[0]!.toArray()).to.deep.equal([0, 0]);
    const ties = f32([2, 2], [2, 2, 3, 10]);
    expect(run('ArgMax', [ties], { axis: 1 })[0]!.toArray()).to.deep.equal([0, 1]);
    expect(run('ArgMax', [ties], { axis: 1, select_last_index: 1 })[0]!.toArray()).to.deep.equal([1, 1]);
    const minTies = f32([2, 2], [1, 1, 3, 3]);
    expect(run('ArgMin', [minTies], { axis: -1, keepdims: 0 })[0]!.toArray()).to.deep.equal([0, 0]);
    expect(run('ArgMin', [minTies], { axis: -1, keepdims: 0, select_last_index: 1 })[0]!.toArray()).to.deep.equal([1, 1]);
  });

  describe('inference', () => {
    it('keeps symbolic dims and handles constant axes inputs', () => {
      const b = new GraphBuilder();
      const x = b.input('x', 'float32', ['batch', 3, 4]);
      expect(b.ReduceMean(x, { axes: [-1] }).shape).to.deep.equal(['batch', 3, 1]);
      expect(b.apply('ReduceMax', [x], { axes: [1], keepdims: 0 })[0]!.shape).to.deep.equal(['batch', 4]);
      const axes = b.constant([0, 2], { dtype: 'int64' });
      expect(b.apply('ReduceSum', [x, axes], { keepdims: 0 })[0]!.shape).to.deep.equal([3]);
      expect(b.ArgMax(x, { axis: 0, keepdims: 0 }).dtype).to.equal('int64');
    });

    it('gives fresh dims for unknown axes with keepdims=1; with keepdims=0 the rank from their count, a DynamicRankError for an unknown count', () => {
      const b = new GraphBuilder();
      const x = b.input('x', 'float32', ['batch', 3]);
      const axes = b.input('axes', 'int64', [1]);
      const y = b.apply('ReduceSum', [x, axes])[0]!;
      expect(y.shape).to.have.length(2);
      expect(y.shape.every((d) => typeof d === 'string')).to.equal(true);
      // One axis of [batch, 3] goes: [3] or [batch], so the dim left is fresh.
      expect(b.apply('ReduceSum', [x, axes], { keepdims: 0 }, { name: 'rs' })[0]!.shape).to.deep.equal(['rs#axes0']);
      const ones = b.input('ones', 'float32', [2, 1, 1]);
      // One axis of [2, 1, 1]: [1, 1], [2, 1] or [2, 1], so dim 1 is 1 whichever it is.
      expect(b.apply('ReduceSum', [ones, b.input('ax1', 'int64', [1])], { keepdims: 0 }, { name: 'r1' })[0]!.shape).to.deep.equal(['r1#axes0', 1]);
      expect(() => b.apply('ReduceSum', [x, b.input('ax3', 'int64', [3])], { keepdims: 0 }, { name: 'rs3' })).to.throw(ShapeError, /rs3: 3 axes for an input of rank 2/);
      expect(() => b.apply('ReduceSum', [x, b.input('axk', 'int64', ['k'])], { keepdims: 0 }, { name: 'rsk' })).to.throw(DynamicRankError, /rsk: axes of unknown length k/);
    });

    it('rejects bad dtypes, axes out of range, and axes given twice', () => {
      const b = new GraphBuilder();
      const x = b.input('x', 'float32', [2, 3]);
      const flag = b.input('flag', 'bool', [2]);
      expect(() => b.apply('ReduceSum', [flag], {}, { name: 'rb' })).to.throw(DTypeError, /rb: data has dtype bool/);
      expect(() => b.apply('ReduceSum', [x], { axes: [2] })).to.throw(ShapeError, /axis 2 is out of range for rank 2/);
      const axes = b.constant([0], { dtype: 'int64' });
      expect(() => b.apply('ReduceSum', [x, axes], { axes: [0] })).to.throw(AttributeError, /both as attribute and as input/);
    });
  });
});
