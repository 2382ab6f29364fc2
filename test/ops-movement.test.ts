import { expect } from 'chai';
import { AttributeError, GraphBuilder, ShapeError, Tensor } from '../src/graph/index.js';
import '../src/graph/ops/index.js';
import { OPS } from '../src/graph/ops/index.js';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { NODE_DATA, f32, i64, iota, nodeTests, runModelTest, runNodeTest, runOp } from './ops-shape-onnxdata.js';

const HUGE = 2 ** 63 - 1; // INT64_MAX as read from an int64 tensor
const out = (op: string, ins: (Tensor | undefined)[], attrs: Record<string, unknown> = {}) => runOp(op, ins, attrs).outs[0]!;

describe('ops: movement family (hand-derived)', () => {
  it('Transpose: default reverses axes; explicit perm', () => {
    const t = out('Transpose', [iota([2, 3])]);
    expect(t.shape).to.deep.equal([3, 2]);
    expect(t.toArray()).to.deep.equal([0, 3, 1, 4, 2, 5]);
    // [1,2,3] perm [1,0,2]: out[j][0][k] = x[0][j][k] — same order; perm [2,1,0] on [2,1,2]:
    const u = out('Transpose', [iota([2, 1, 2])], { perm: [2, 1, 0] });
    expect(u.shape).to.deep.equal([2, 1, 2]);
    expect(u.toArray()).to.deep.equal([0, 2, 1, 3]);
  });

  it('Transpose: a bad perm is an AttributeError naming the node', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    expect(() => b.Transpose(x, { perm: [0, 0] }, { name: 'tp' })).to.throw(AttributeError, /tp: Transpose perm \[0,0\]/);
    expect(() => b.Transpose(x, { perm: [0, 1, 2] })).to.throw(AttributeError, /not a permutation/);
  });

  it('Concat along axes 1 and -1, with a 0-sized input; mismatch named', () => {
    const a = f32([2, 1], [1, 2]);
    const c = f32([2, 2], [3, 4, 5, 6]);
    const r = out('Concat', [a, new Tensor('float32', [2, 0]), c], { axis: -1 });
    expect(r.shape).to.deep.equal([2, 3]);
    expect(r.toArray()).to.deep.equal([1, 3, 4, 2, 5, 6]);
    expect(out('Concat', [a, a], { axis: 0 }).toArray()).to.deep.equal([1, 2, 1, 2]);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 2]);
    expect(b.Concat([x, b.input('y', 'float32', ['n', 3])], { axis: 1 }).shape).to.deep.equal(['n', 5]);
    expect(() => b.Concat([x, b.input('z', 'float32', [3, 4])], { axis: 0 }, { name: 'cat' })).to.throw(ShapeError, /cat: .*axis 1/);
  });

  it('Split: equal parts, uneven sizes (input and attribute), num_outputs', () => {
    const eq = runOp('Split', [iota([6])], {}, { outputs: 3 }).outs;
    expect(eq.map((t) => t.toArray())).to.deep.equal([[0, 1], [2, 3], [4, 5]]);
    const x = iota([2, 6]);
    const un = runOp('Split', [x, i64([3], [1, 2, 3])], { axis: 1 }, { outputs: 3 }).outs;
    expect(un.map((t) => t.shape)).to.deep.equal([[2, 1], [2, 2], [2, 3]]);
    expect(un.map((t) => t.toArray())).to.deep.equal([[0, 6], [1, 2, 7, 8], [3, 4, 5, 9, 10, 11]]);
    const at = runOp('Split', [x], { axis: -1, split: [4, 2] }, { outputs: 2 }).outs;
    expect(at.map((t) => t.toArray())).to.deep.equal([[0, 1, 2, 3, 6, 7, 8, 9], [4, 5, 10, 11]]);
    const no = runOp('Split', [iota([7])], { num_outputs: 3 }, { outputs: 3 }).outs;
    expect(no.map((t) => t.toArray())).to.deep.equal([[0, 1, 2], [3, 4, 5], [6]]);
    const b = new GraphBuilder();
    expect(() => b.Split(b.input('x', 'float32', [7]), {}, { outputs: 2, name: 'sp' })).to.throw(ShapeError, /sp: .*7.*2 outputs/);
    expect(() => b.Split(b.input('y', 'float32', [7]), { split: [3, 3] }, { outputs: 2 })).to.throw(ShapeError, /sum to 6/);
  });

  it('Slice: negative steps, huge ends, clamping, axes; opset-1 attributes', () => {
    const x = iota([10]);
    const s = (st: number[], en: number[], ax?: number[], sp?: number[]) =>
      out('Slice', [x, i64([st.length], st), i64([en.length], en), ax && i64([ax.length], ax), sp && i64([sp.length], sp)]).toArray();
    expect(s([8], [2], [0], [-2])).to.deep.equal([8, 6, 4]);
    expect(s([2], [HUGE])).to.deep.equal([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s([-3], [HUGE])).to.deep.equal([7, 8, 9]);
    expect(s([-1], [-HUGE], [0], [-1])).to.deep.equal([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(s([20], [30])).to.deep.equal([]);
    expect(s([-100], [3])).to.deep.equal([0, 1, 2]);
    const m = iota([3, 4]);
    const cols = out('Slice', [m, i64([1], [1]), i64([1], [3]), i64([1], [-1])]);
    expect(cols.shape).to.deep.equal([3, 2]);
    expect(cols.toArray()).to.deep.equal([1, 2, 5, 6, 9, 10]);
    expect(out('Slice', [m], { starts: [1, 2], ends: [3, 4] }).toArray()).to.deep.equal([6, 7, 10, 11]);
    const b = new GraphBuilder();
    const y = b.input('y', 'float32', ['batch', 10]);
    const k = (v: number[]) => b.constant(v, { dtype: 'int64' });
    expect(b.Slice([y, k([0, 2]), k([HUGE, 5])]).shape).to.deep.equal(['batch', 3]);
    expect(() => b.Slice([y, k([0]), k([1]), k([0]), k([0])], {}, { name: 'sl' })).to.throw(ShapeError, /sl: .*step 0/);
  });

  it('Tile', () => {
    expect(out('Tile', [f32([2], [1, 2]), i64([1], [3])]).toArray()).to.deep.equal([1, 2, 1, 2, 1, 2]);
    const t = out('Tile', [f32([2, 2], [1, 2, 3, 4]), i64([2], [2, 1])]);
    expect(t.shape).to.deep.equal([4, 2]);
    expect(t.toArray()).to.deep.equal([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(out('Tile', [f32([1, 2], [1, 2]), i64([2], [2, 2])]).toArray()).to.deep.equal([1, 2, 1, 2, 1, 2, 1, 2]);
  });

  it('Pad: constant, reflect, edge, attribute form, axes input, negative pads', () => {
    const x = f32([2, 2], [1, 2, 3, 4]);
    const c = out('Pad', [x, i64([4], [1, 0, 0, 1]), Tensor.scalar('float32', 9)]);
    expect(c.shape).to.deep.equal([3, 3]);
    expect(c.toArray()).to.deep.equal([9, 9, 9, 1, 2, 9, 3, 4, 9]);
    const v = f32([3], [1, 2, 3]);
    expect(out('Pad', [v, i64([2], [2, 2])], { mode: 'reflect' }).toArray()).to.deep.equal([3, 2, 1, 2, 3, 2, 1]);
    expect(out('Pad', [v, i64([2], [2, 1])], { mode: 'edge' }).toArray()).to.deep.equal([1, 1, 1, 2, 3, 3]);
    expect(out('Pad', [v], { pads: [1, 1], value: 5 }).toArray()).to.deep.equal([5, 1, 2, 3, 5]);
    expect(out('Pad', [x, i64([2], [1, 1]), undefined, i64([1], [1])]).toArray()).to.deep.equal([0, 1, 2, 0, 0, 3, 4, 0]);
    expect(out('Pad', [v, i64([2], [-1, 0])]).toArray()).to.deep.equal([2, 3]);
    const r2 = out('Pad', [x, i64([4], [1, 1, 1, 1])], { mode: 'reflect' });
    // reflect in 2-D: rows (1,0,1,0) by cols (1,0,1,0) of [[1,2],[3,4]]
    expect(r2.toArray()).to.deep.equal([4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1]);
  });

  it('DepthToSpace (DCR and CRD) and SpaceToDepth', () => {
    const x = iota([1, 8, 1, 1]);
    const dcr = out('DepthToSpace', [x], { blocksize: 2 });
    expect(dcr.shape).to.deep.equal([1, 2, 2, 2]);
    // DCR: out[c][i][j] = x[(i*2+j)*2 + c]
    expect(dcr.toArray()).to.deep.equal([0, 2, 4, 6, 1, 3, 5, 7]);
    // CRD: out[c][i][j] = x[c*4 + i*2 + j]
    expect(out('DepthToSpace', [x], { blocksize: 2, mode: 'CRD' }).toArray()).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    const s = out('SpaceToDepth', [f32([1, 1, 2, 2], [0, 1, 2, 3])], { blocksize: 2 });
    expect(s.shape).to.deep.equal([1, 4, 1, 1]);
    expect(s.toArray()).to.deep.equal([0, 1, 2, 3]);
    expect(out('SpaceToDepth', [dcr], { blocksize: 2 }).toArray()).to.deep.equal(x.toArray());
    const b = new GraphBuilder();
    expect(() => b.DepthToSpace(b.input('x', 'float32', [1, 6, 2, 2]), { blocksize: 2 })).to.throw(ShapeError, /not divisible by 4/);
  });

  it('Trilu upper/lower with k', () => {
    const x = iota([3, 3]);
    expect(out('Trilu', [x]).toArray()).to.deep.equal([0, 1, 2, 0, 4, 5, 0, 0, 8]);
    expect(out('Trilu', [x], { upper: 0 }).toArray()).to.deep.equal([0, 0, 0, 3, 4, 0, 6, 7, 8]);
    expect(out('Trilu', [x, Tensor.scalar('int64', 1)]).toArray()).to.deep.equal([0, 1, 2, 0, 0, 5, 0, 0, 0]);
    expect(out('Trilu', [x, Tensor.scalar('int64', -1)], { upper: 0 }).toArray()).to.deep.equal([0, 0, 0, 3, 0, 0, 6, 7, 0]);
  });

  it('ReverseSequence', () => {
    const x = iota([4, 2]);
    const r = out('ReverseSequence', [x, i64([2], [4, 2])], { time_axis: 0, batch_axis: 1 });
    expect(r.toArray()).to.deep.equal([6, 3, 4, 1, 2, 5, 0, 7]);
  });

  it('is fast on model-sized tensors (Transpose, Slice, Concat)', () => {
    const x = iota([1, 128, 4, 64]);
    const time = (f: () => Tensor) => { f(); const t0 = performance.now(); for (let i = 0; i < 10; i++) f(); return (performance.now() - t0) / 10; };
    const perm = OPS.Transpose.cpu!([x], { node: 't', attrs: { perm: [0, 2, 1, 3] }, fresh: String, numOutputs: 1, outputs: [{ dtype: 'float32', shape: [1, 4, 128, 64] }] })[0]!;
    expect(perm.data[1 * 128 * 64 + 5 * 64 + 7]).to.equal(x.data[5 * 256 + 1 * 64 + 7]);
    const tT = time(() => OPS.Transpose.cpu!([x], { node: 't', attrs: { perm: [0, 2, 1, 3] }, fresh: String, numOutputs: 1, outputs: [] })[0]!);
    const big = iota([1, 512, 768]);
    const tS = time(() => OPS.Slice.cpu!([big, i64([1], [1]), i64([1], [HUGE]), i64([1], [1]), undefined], { node: 's', attrs: { starts: undefined, ends: undefined, axes: undefined }, fresh: String, numOutputs: 1, outputs: [] })[0]!);
    const tC = time(() => OPS.Concat.cpu!([big, big], { node: 'c', attrs: { axis: 1 }, fresh: String, numOutputs: 1, outputs: [{ dtype: 'float32', shape: [1, 1024, 768] }] })[0]!);
    // Baseline under the same machine load: allocate and copy an output-sized array.
    const copy = (n: number) => time(() => { const d = new Float32Array(n); d.set(big.data.subarray(0, Math.min(n, big.size))); return big; });
    const cBig = copy(1024 * 768);
    console.log(`      Transpose [1,128,4,64]: ${tT.toFixed(2)} ms; Slice [1,512,768]: ${tS.toFixed(2)} ms; Concat 2x[1,512,768]: ${tC.toFixed(2)} ms (plain copy of 786k floats: ${cBig.toFixed(2)} ms)`);
    expect(tT).to.be.below(10 * copy(x.size) + 10);
    expect(tS).to.be.below(10 * cBig + 10);
    expect(tC).to.be.below(10 * cBig + 10);
  });
});

describe('ops: movement family (ONNX node tests)', () => {
  const tests = nodeTests(
    'test_transpose', 'test_concat', 'test_split', 'test_slice', 'test_tile', 'test_constant_pad', 'test_edge_pad', 'test_reflect_pad',
    'test_depthtospace', 'test_spacetodepth', 'test_tril', 'test_triu', 'test_reversesequence',
  ).filter((t) => !t.endsWith('_expanded'));
  for (const t of tests) it(t, () => runNodeTest(t));
});

describe('ops: movement/shape ops in old-opset PyTorch exports (pytorch-operator)', () => {
  const root = path.join(NODE_DATA, '..', 'pytorch-operator');
  // chunk: Split(split attr); index: Slice(attrs); pad: Pad(pads attr); repeat: Tile; view: Reshape.
  const names = ['chunk', 'concat2', 'flatten', 'index', 'pad', 'permute2', 'repeat', 'repeat_dim_overflow', 'view'];
  for (const n of names) {
    const dir = path.join(root, `test_operator_${n}`);
    if (existsSync(dir)) it(`test_operator_${n}`, () => runModelTest(dir));
  }
});
