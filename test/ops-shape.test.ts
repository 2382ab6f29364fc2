import { expect } from 'chai';
import { AttributeError, DynamicRankError, GraphBuilder, ShapeError, Tensor } from '../src/graph/index.js';
import '../src/graph/ops/index.js';
import { f32, i64, iota, nodeTests, runNodeTest, runOp } from './ops-shape-onnxdata.js';

describe('ops: shape family (hand-derived)', () => {
  it('Reshape: 0 copies a dim, -1 is inferred', () => {
    const x = iota([2, 3, 4]);
    const a = runOp('Reshape', [x, i64([2], [0, -1])]).outs[0]!;
    expect(a.shape).to.deep.equal([2, 12]);
    expect(a.toArray()).to.deep.equal(x.toArray());
    // [-1, 0, 2]: 0 copies dim 1 (3), so -1 = 24 / (3*2) = 4.
    expect(runOp('Reshape', [x, i64([3], [-1, 0, 2])]).outs[0]!.shape).to.deep.equal([4, 3, 2]);
  });

  it('Reshape: allowzero=1 keeps a literal 0', () => {
    const x = new Tensor('float32', [0, 3]);
    expect(runOp('Reshape', [x, i64([2], [3, 0])], { allowzero: 1 }).outs[0]!.shape).to.deep.equal([3, 0]);
  });

  it('Reshape: symbolic dims propagate through 0 and cancel for -1', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 128, 256]);
    expect(b.Reshape([x, b.constant([0, 0, 4, 64], { dtype: 'int64' })]).shape).to.deep.equal(['batch', 128, 4, 64]);
    const y = b.input('y', 'float32', ['batch', 8, 64]);
    expect(b.Reshape([y, b.constant([-1, 512], { dtype: 'int64' })]).shape).to.deep.equal(['batch', 512]);
    // Two unknown factors on the input side: the -1 becomes a fresh symbol.
    const z = b.input('z', 'float32', ['n', 'm', 4]);
    const r = b.Reshape([z, b.constant([-1, 2], { dtype: 'int64' })]);
    expect(r.shape[1]).to.equal(2);
    expect(r.shape[0]).to.be.a('string').and.not.equal('n');
  });

  it('Reshape: non-constant shape gives fresh dims, and runs', () => {
    const x = iota([2, 3]);
    const { outs, syms } = runOp('Reshape', [x, i64([2], [3, 2])], {}, { constants: [] });
    expect(syms[0]!.shape.every((d) => typeof d === 'string')).to.equal(true);
    expect(outs[0]!.shape).to.deep.equal([3, 2]);
    expect(outs[0]!.toArray()).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });

  it('Reshape: opset-1 shape attribute', () => {
    expect(runOp('Reshape', [iota([2, 3])], { shape: [3, 2] }).outs[0]!.shape).to.deep.equal([3, 2]);
  });

  it('Reshape: size mismatch is a ShapeError naming the node and shapes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    expect(() => b.Reshape([x, b.constant([4, 2], { dtype: 'int64' })], {}, { name: 'bad_reshape' }))
      .to.throw(ShapeError, /bad_reshape: cannot reshape \[2,3\] to \[4,2\]/);
    expect(() => b.Reshape([x, b.constant([-1, -1], { dtype: 'int64' })])).to.throw(ShapeError, /more than one -1/);
    expect(() => b.Reshape([x])).to.throw(AttributeError, /needs a shape/);
  });

  it('Shape (start/end) and Size', () => {
    const x = new Tensor('float32', [2, 3, 4, 5]);
    expect(runOp('Shape', [x]).outs[0]!.toArray()).to.deep.equal([2, 3, 4, 5]);
    const s = runOp('Shape', [x], { start: 1, end: -1 }).outs[0]!;
    expect(s.dtype).to.equal('int64');
    expect(s.toArray()).to.deep.equal([3, 4]);
    const n = runOp('Size', [x]).outs[0]!;
    expect(n.shape).to.deep.equal([]);
    expect(n.toArray()).to.deep.equal([120]);
  });

  it('Flatten with axis 0, 2 and symbolic dims', () => {
    const x = new Tensor('float32', [2, 3, 4, 5]);
    expect(runOp('Flatten', [x], { axis: 2 }).outs[0]!.shape).to.deep.equal([6, 20]);
    expect(runOp('Flatten', [x], { axis: 0 }).outs[0]!.shape).to.deep.equal([1, 120]);
    expect(runOp('Flatten', [x], { axis: -1 }).outs[0]!.shape).to.deep.equal([24, 5]);
    const b = new GraphBuilder();
    expect(b.Flatten(b.input('x', 'float32', ['batch', 3, 4])).shape).to.deep.equal(['batch', 12]);
  });

  it('Squeeze: axes attribute (<13), axes input (>=13), and no axes', () => {
    const x = iota([1, 3, 1, 2]);
    expect(runOp('Squeeze', [x], { axes: [0, 2] }).outs[0]!.shape).to.deep.equal([3, 2]);
    expect(runOp('Squeeze', [x, i64([1], [-2])]).outs[0]!.shape).to.deep.equal([1, 3, 2]);
    const all = runOp('Squeeze', [x]).outs[0]!;
    expect(all.shape).to.deep.equal([3, 2]);
    expect(all.toArray()).to.deep.equal([0, 1, 2, 3, 4, 5]);
    const b = new GraphBuilder();
    expect(() => b.Squeeze(b.input('x', 'float32', [1, 3]), { axes: [1] }, { name: 'sq' })).to.throw(ShapeError, /sq: .*axis 1 .*size 3/);
    // Axes known only at run time: their count gives the rank; a dim every choice of axes keeps alike is kept.
    expect(b.Squeeze([b.input('y', 'float32', [1, 3]), b.input('ax', 'int64', [1])]).shape).to.deep.equal([3]);
    expect(b.Squeeze([b.input('y2', 'float32', [1, 4, 1, 5]), b.input('ax2', 'int64', [1])], {}, { name: 'sq4' }).shape).to.deep.equal(['sq4#axes0', 'sq4#axes1', 5]);
    expect(() => b.Squeeze([b.input('y3', 'float32', [1, 3]), b.input('ax3', 'int64', [2])], {}, { name: 'sq2' })).to.throw(ShapeError, /sq2: Squeeze of 2 axes of \[1,3\], which has 1 dims that may be 1/);
    // Axes of unknown length leave the output rank unknown until the sizes are.
    expect(() => b.Squeeze([b.input('y4', 'float32', [1, 3]), b.input('ax4', 'int64', ['k'])], {}, { name: 'sq5' })).to.throw(DynamicRankError, /sq5: axes of unknown length k/);
    // Without axes, a symbolic dim may be 1 at run time: the output rank is unknown until then.
    expect(() => b.Squeeze(b.input('z', 'float32', ['n', 1, 4]), {}, { name: 'sq3' })).to.throw(DynamicRankError, /sq3: Squeeze without axes of \[n,1,4\]: whether dim 0 \(n\) is 1/);
    expect(b.Squeeze(b.input('w', 'float32', ['n', 1, 4]), { axes: [1] }).shape).to.deep.equal(['n', 4]);
    // Run with the sizes known, the same Squeeze keeps a dim n = 2 and drops n = 1.
    expect(runOp('Squeeze', [iota([2, 1, 4])]).outs[0]!.shape).to.deep.equal([2, 4]);
    expect(runOp('Squeeze', [iota([1, 1, 4])]).outs[0]!.shape).to.deep.equal([4]);
  });

  it('Unsqueeze: axes attribute (<13) and input (>=13), negative axes', () => {
    const x = iota([3, 4]);
    expect(runOp('Unsqueeze', [x, i64([2], [0, 3])]).outs[0]!.shape).to.deep.equal([1, 3, 4, 1]);
    expect(runOp('Unsqueeze', [x], { axes: [1] }).outs[0]!.shape).to.deep.equal([3, 1, 4]);
    expect(runOp('Unsqueeze', [x, i64([1], [-1])]).outs[0]!.shape).to.deep.equal([3, 4, 1]);
    const b = new GraphBuilder();
    expect(() => b.Unsqueeze(b.input('x', 'float32', [3]), { axes: [0, 0] })).to.throw(ShapeError, /repeat/);
    // Axes known only at run time: rank 2 + 1; [1, 1] stays all ones whichever axis, [3, 4] does not.
    expect(b.Unsqueeze([b.input('o', 'float32', [1, 1]), b.input('oa', 'int64', [1])]).shape).to.deep.equal([1, 1, 1]);
    expect(b.Unsqueeze([b.input('u', 'float32', [3, 4]), b.input('ua', 'int64', [1])], {}, { name: 'us' }).shape).to.deep.equal(['us#axes0', 'us#axes1', 'us#axes2']);
    expect(runOp('Unsqueeze', [x, i64([1], [1])]).outs[0]!.shape).to.deep.equal([3, 1, 4]);
  });

  it('Expand broadcasts bidirectionally', () => {
    const x = f32([3, 1], [1, 2, 3]);
    const y = runOp('Expand', [x, i64([3], [2, 1, 2])]).outs[0]!;
    expect(y.shape).to.deep.equal([2, 3, 2]);
    expect(y.toArray()).to.deep.equal([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
    // A shape of [1] keeps the input's dims.
    expect(runOp('Expand', [x, i64([1], [1])]).outs[0]!.shape).to.deep.equal([3, 1]);
    const b = new GraphBuilder();
    expect(() => b.Expand([b.input('x', 'float32', [3]), b.constant([2], { dtype: 'int64' })])).to.throw(ShapeError, /cannot be broadcast/);
  });

  it('ConstantOfShape: value attribute and default float 0', () => {
    const a = runOp('ConstantOfShape', [i64([2], [2, 3])], { value: Tensor.from('int64', [1], [7]) }).outs[0]!;
    expect(a.dtype).to.equal('int64');
    expect(a.shape).to.deep.equal([2, 3]);
    expect(a.toArray()).to.deep.equal([7, 7, 7, 7, 7, 7]);
    const z = runOp('ConstantOfShape', [i64([1], [2])]).outs[0]!;
    expect(z.dtype).to.equal('float32');
    expect(z.toArray()).to.deep.equal([0, 0]);
  });

  it('Range: int and float, negative delta', () => {
    const r = runOp('Range', [Tensor.scalar('int32', 1), Tensor.scalar('int32', 10), Tensor.scalar('int32', 3)]).outs[0]!;
    expect(r.toArray()).to.deep.equal([1, 4, 7]);
    const f = runOp('Range', [Tensor.scalar('float32', 10), Tensor.scalar('float32', 4), Tensor.scalar('float32', -2)]).outs[0]!;
    expect(f.toArray()).to.deep.equal([10, 8, 6]);
    // Non-constant inputs: length is a fresh symbol at build time, concrete at run time.
    const { outs, syms } = runOp('Range', [Tensor.scalar('int64', 0), Tensor.scalar('int64', 3), Tensor.scalar('int64', 1)], {}, { constants: [] });
    expect(syms[0]!.shape[0]).to.be.a('string');
    expect(outs[0]!.toArray()).to.deep.equal([0, 1, 2]);
  });

  it('Dropout at inference: identity and all-true mask; a ratio outside [0, 1) in training mode is refused', () => {
    const x = f32([2], [1.5, -2]);
    const [y, mask] = runOp('Dropout', [x, Tensor.scalar('float32', 0.5)], {}, { outputs: 2 }).outs;
    expect(y!.toArray()).to.deep.equal([1.5, -2]);
    expect(mask!.dtype).to.equal('bool');
    expect(mask!.toArray()).to.deep.equal([1, 1]);
    expect(() => runOp('Dropout', [x, Tensor.scalar('float32', 1), Tensor.scalar('bool', 1)], {}, { outputs: 2 })).to.throw(ShapeError, /ratio must be in \[0, 1\)/);
  });

  it('EyeLike with k and dtype', () => {
    const e = runOp('EyeLike', [new Tensor('float32', [3, 4])], { k: 1, dtype: 7 }).outs[0]!;
    expect(e.dtype).to.equal('int64');
    expect(e.toArray()).to.deep.equal([0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    const l = runOp('EyeLike', [new Tensor('int32', [3, 2])], { k: -1 }).outs[0]!;
    expect(l.toArray()).to.deep.equal([0, 0, 1, 0, 0, 1]);
  });
});

describe('ops: shape family (ONNX node tests)', () => {
  const tests = nodeTests(
    'test_shape', 'test_size', 'test_reshape', 'test_flatten', 'test_squeeze', 'test_unsqueeze', 'test_expand',
    'test_constantofshape', 'test_range', 'test_dropout', 'test_eyelike',
  ).filter((t) => !t.endsWith('_expanded'));
  for (const t of tests) it(t, () => runNodeTest(t));
});
