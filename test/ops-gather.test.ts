import { expect } from 'chai';
import { ExecutionError, GraphBuilder, ShapeError, Tensor } from '../src/graph/index.js';
import '../src/graph/ops/index.js';
import { OPS } from '../src/graph/ops/index.js';
import { f32, i64, iota, nodeTests, runNodeTest, runOp } from './ops-shape-onnxdata.js';

const out = (op: string, ins: (Tensor | undefined)[], attrs: Record<string, unknown> = {}) => runOp(op, ins, attrs).outs[0]!;
const i32 = (shape: number[], v: number[]) => Tensor.from('int32', shape, v);

describe('ops: gather family (hand-derived)', () => {
  const data = f32([3, 2], [1, 2, 3, 4, 5, 6]);

  it('Gather on axis 0 and 1 with negative int32/int64 indices, and a scalar index', () => {
    const a = out('Gather', [data, i32([2], [2, -3])]);
    expect(a.shape).to.deep.equal([2, 2]);
    expect(a.toArray()).to.deep.equal([5, 6, 1, 2]);
    const b = out('Gather', [data, i64([1, 2], [-1, 0])], { axis: 1 });
    expect(b.shape).to.deep.equal([3, 1, 2]);
    expect(b.toArray()).to.deep.equal([2, 1, 4, 3, 6, 5]);
    const c = out('Gather', [data, Tensor.scalar('int64', 1)]);
    expect(c.shape).to.deep.equal([2]);
    expect(c.toArray()).to.deep.equal([3, 4]);
    const g = new GraphBuilder();
    expect(g.Gather([g.input('e', 'float32', [1000, 256]), g.input('ids', 'int64', ['batch', 'seq'])]).shape).to.deep.equal(['batch', 'seq', 256]);
  });

  it('out-of-range indices raise an ExecutionError naming the node', () => {
    expect(() => out('Gather', [data, i64([1], [3])])).to.throw(ExecutionError, /Gather: .*3 is out of range .*size 3/);
    expect(() => out('Gather', [data, i64([1], [-4])])).to.throw(ExecutionError, /-4 is out of range/);
    expect(() => out('GatherElements', [data, i64([1, 1], [5])])).to.throw(ExecutionError, /GatherElements: /);
    expect(() => out('ScatterND', [data, i64([1, 1], [7]), f32([1, 2], [0, 0])])).to.throw(ExecutionError, /ScatterND: /);
    expect(() => out('Gather', [data, f32([1], [0])])).to.throw(/int32 or int64/);
  });

  it('Gather of a [1000,256] embedding with [1,128] ids is fast', () => {
    const emb = iota([1000, 256]);
    const ids = Tensor.from('int64', [1, 128], Array.from({ length: 128 }, (_, i) => (i * 7) % 1000));
    const ctx = { node: 'g', attrs: { axis: 0 }, fresh: String, numOutputs: 1, outputs: [] };
    const r = OPS.Gather.cpu!([emb, ids], ctx)[0]!;
    expect(r.shape).to.deep.equal([1, 128, 256]);
    expect(r.data[5 * 256 + 3]).to.equal(35 * 256 + 3);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) OPS.Gather.cpu!([emb, ids], ctx);
    const ms = (performance.now() - t0) / 20;
    console.log(`      Gather [1000,256] x [1,128]: ${ms.toFixed(3)} ms`);
    expect(ms).to.be.below(20);
  });

  it('GatherElements (ONNX examples, axis 0 and 1, negative index)', () => {
    expect(out('GatherElements', [f32([2, 2], [1, 2, 3, 4]), i64([2, 2], [0, 0, 1, 0])], { axis: 1 }).toArray()).to.deep.equal([1, 1, 4, 3]);
    const d = f32([3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(out('GatherElements', [d, i64([2, 3], [1, 2, 0, 2, 0, 0])]).toArray()).to.deep.equal([4, 8, 3, 7, 2, 3]);
    expect(out('GatherElements', [d, i32([2, 3], [-2, -1, 0, -1, 0, 0])]).toArray()).to.deep.equal([4, 8, 3, 7, 2, 3]);
  });

  it('GatherND with batch_dims 0 and 1', () => {
    expect(out('GatherND', [f32([2, 2], [0, 1, 2, 3]), i64([2, 2], [0, 0, 1, 1])]).toArray()).to.deep.equal([0, 3]);
    const d = f32([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]);
    const r = out('GatherND', [d, i64([2, 1], [1, 0])], { batch_dims: 1 });
    expect(r.shape).to.deep.equal([2, 2]);
    expect(r.toArray()).to.deep.equal([2, 3, 4, 5]);
    const g = new GraphBuilder();
    expect(() => g.GatherND([g.input('d', 'float32', [2, 2]), g.input('i', 'int64', [1, 3])], {}, { name: 'gnd' })).to.throw(ShapeError, /gnd: /);
  });

  it('ScatterND with none, add (duplicates accumulate) and mul', () => {
    const d = f32([8], [1, 2, 3, 4, 5, 6, 7, 8]);
    const ind = i64([4, 1], [4, 3, 1, 7]);
    const upd = f32([4], [9, 10, 11, 12]);
    expect(out('ScatterND', [d, ind, upd]).toArray()).to.deep.equal([1, 11, 3, 10, 9, 6, 7, 12]);
    expect(out('ScatterND', [f32([2], [1, 2]), i64([2, 1], [0, 0]), f32([2], [5, 6])], { reduction: 'add' }).toArray()).to.deep.equal([12, 2]);
    expect(out('ScatterND', [f32([2], [1, 2]), i64([2, 1], [-1, 1]), f32([2], [5, 6])], { reduction: 'mul' }).toArray()).to.deep.equal([1, 60]);
    // Slices: data [2,2], indices [[1]] → row 1 replaced.
    expect(out('ScatterND', [f32([2, 2], [1, 2, 3, 4]), i64([1, 1], [1]), f32([1, 2], [7, 8])]).toArray()).to.deep.equal([1, 2, 7, 8]);
  });

  it('ScatterElements (ONNX example), reductions, and the Scatter alias', () => {
    const d = new Tensor('float32', [3, 3]);
    const ind = i64([2, 3], [1, 0, 2, 0, 2, 1]);
    const upd = f32([2, 3], [1, 1.5, 1.25, 2, 2.5, 2.25]);
    const want = [2, 1.5, 0, 1, 0, 2.25, 0, 2.5, 1.25];
    expect(out('ScatterElements', [d, ind, upd]).toArray()).to.deep.equal(want);
    expect(out('Scatter', [d, ind, upd]).toArray()).to.deep.equal(want);
    const x = f32([1, 3], [1, 2, 3]);
    expect(out('ScatterElements', [x, i64([1, 2], [-1, 0]), f32([1, 2], [5, 0])], { axis: 1, reduction: 'max' }).toArray()).to.deep.equal([1, 2, 5]);
    expect(out('ScatterElements', [x, i64([1, 2], [1, 1]), f32([1, 2], [5, 0])], { axis: 1, reduction: 'min' }).toArray()).to.deep.equal([1, 0, 3]);
    expect(out('ScatterElements', [x, i64([1, 2], [1, 1]), f32([1, 2], [5, 1])], { axis: 1, reduction: 'add' }).toArray()).to.deep.equal([1, 8, 3]);
  });

  it('OneHot: negative and out-of-range indices, axis -1 and 0', () => {
    const r = out('OneHot', [i64([4], [0, -1, 3, 1]), Tensor.scalar('int64', 3), f32([2], [0, 1])]);
    expect(r.shape).to.deep.equal([4, 3]);
    expect(r.toArray()).to.deep.equal([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
    const a0 = out('OneHot', [i64([2], [1, 2]), Tensor.scalar('float32', 3), Tensor.from('int64', [2], [-1, 5])], { axis: 0 });
    expect(a0.dtype).to.equal('int64');
    expect(a0.shape).to.deep.equal([3, 2]);
    expect(a0.toArray()).to.deep.equal([-1, -1, 5, -1, -1, 5]);
  });

  it('NonZero: [rank, fresh] at build time, coordinates at run time', () => {
    const g = new GraphBuilder();
    const s = g.NonZero(g.input('x', 'float32', [2, 2])).shape;
    expect(s[0]).to.equal(2);
    expect(s[1]).to.be.a('string');
    const r = out('NonZero', [f32([2, 2], [1, 0, 1, 1])]);
    expect(r.dtype).to.equal('int64');
    expect(r.shape).to.deep.equal([2, 3]);
    expect(r.toArray()).to.deep.equal([0, 1, 1, 0, 0, 1]);
  });

  it('Compress along an axis and flattened', () => {
    const x = f32([3, 2], [1, 2, 3, 4, 5, 6]);
    const bool = (v: number[]) => Tensor.from('bool', [v.length], v);
    const a = out('Compress', [x, bool([0, 1, 1])], { axis: 0 });
    expect(a.shape).to.deep.equal([2, 2]);
    expect(a.toArray()).to.deep.equal([3, 4, 5, 6]);
    expect(out('Compress', [x, bool([0, 1, 0, 0, 1])]).toArray()).to.deep.equal([2, 5]);
    expect(out('Compress', [x, bool([1, 0])], { axis: 1 }).toArray()).to.deep.equal([1, 3, 5]);
  });

  it('Unique sorted and unsorted (ONNX example)', () => {
    const x = f32([6], [2, 1, 1, 3, 4, 3]);
    const s = runOp('Unique', [x], {}, { outputs: 4 }).outs.map((t) => t.toArray());
    expect(s).to.deep.equal([[1, 2, 3, 4], [1, 0, 3, 4], [1, 0, 0, 2, 3, 2], [2, 1, 2, 1]]);
    const u = runOp('Unique', [x], { sorted: 0 }, { outputs: 4 }).outs.map((t) => t.toArray());
    expect(u).to.deep.equal([[2, 1, 3, 4], [0, 1, 3, 4], [0, 1, 1, 2, 3, 2], [1, 2, 2, 1]]);
  });
});

describe('ops: gather family (ONNX node tests)', () => {
  const tests = nodeTests('test_gather', 'test_scatter', 'test_onehot', 'test_nonzero', 'test_compress', 'test_unique')
    .filter((t) => !t.endsWith('_expanded'));
  for (const t of tests) it(t, () => runNodeTest(t));
});
