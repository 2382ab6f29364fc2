import { expect } from 'chai';
import { DTypeError, GraphBuilder, ShapeError, Tensor, runReference } from '../src/graph/index.js';
import '../src/graph/ops/softmax.js';

function run(op: string, x: Tensor, attrs: Record<string, unknown> = {}): Tensor {
  return runReference({ name: `${op}_test`, op, domain: '', inputs: ['x'], outputs: ['y'], attrs: attrs as never }, [x])[0]!;
}
const f32 = (shape: number[], v: number[]) => Tensor.from('float32', shape, v);
function expectClose(t: Tensor, want: number[], tol = 1e-6): void {
  t.toArray().forEach((v, i) => {
    const w = want[i]!;
    if (Number.isNaN(w)) expect(v, `element ${i}`).to.be.NaN;
    else expect(v, `element ${i}`).to.be.closeTo(w, tol);
  });
}

describe('ops: softmax family', () => {
  it('Softmax along the last axis: [0, ln 3] gives [1/4, 3/4]', () => {
    const y = run('Softmax', f32([2, 2], [0, Math.log(3), 5, 5]));
    expect(y.shape).to.deep.equal([2, 2]);
    expectClose(y, [0.25, 0.75, 0.5, 0.5]);
  });

  it('Softmax along axis 0 (strided rows)', () => {
    expectClose(run('Softmax', f32([2, 2], [0, 0, Math.log(3), 0]), { axis: 0 }), [0.25, 0.5, 0.75, 0.5]);
  });

  it('is stable for large inputs and handles -Infinity; an all -inf row gives NaN', () => {
    expectClose(run('Softmax', f32([1, 2], [1000, 1000])), [0.5, 0.5]);
    expectClose(run('Softmax', f32([1, 3], [-Infinity, 0, 0])), [0, 0.5, 0.5]);
    expectClose(run('Softmax', f32([2, 2], [-Infinity, -Infinity, 0, 0])), [NaN, NaN, 0.5, 0.5]);
  });

  it('LogSoftmax: [0, ln 3] gives [ln 1/4, ln 3/4]; large inputs do not overflow', () => {
    expectClose(run('LogSoftmax', f32([1, 2], [0, Math.log(3)])), [Math.log(0.25), Math.log(0.75)]);
    expectClose(run('LogSoftmax', f32([1, 2], [10000, 10000])), [-Math.LN2, -Math.LN2], 1e-4);
  });

  it('Hardmax marks the first maximum', () => {
    expect(run('Hardmax', f32([2, 3], [1, 3, 3, 2, 0, 1])).toArray()).to.deep.equal([0, 1, 0, 1, 0, 0]);
    expect(run('Hardmax', f32([2, 2], [1, 3, 2, 0]), { axis: 0 }).toArray()).to.deep.equal([0, 1, 1, 0]);
  });

  it('inference keeps symbolic shapes and rejects integer inputs and bad axes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 'seq', 8]);
    expect(b.apply('Softmax', [x])[0]!.shape).to.deep.equal(['batch', 'seq', 8]);
    const i = b.input('i', 'int32', [4]);
    expect(() => b.apply('Softmax', [i], {}, { name: 'sm' })).to.throw(DTypeError, /sm: input has dtype int32/);
    expect(() => b.apply('LogSoftmax', [x], { axis: 3 })).to.throw(ShapeError, /axis 3 is out of range for rank 3/);
  });
});
