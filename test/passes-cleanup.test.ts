import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, verify, type Graph } from '../src/graph/index.js';
import { cse, dce, foldBatchNormRules, foldConstants, rewrite, simplifyRules, structuralForm } from '../src/passes/index.js';

function same(actual: Graph, expected: Graph): void {
  verify(actual);
  expect(structuralForm(actual)).to.equal(structuralForm(expected));
}
const i64 = (v: number[]) => ({ dtype: 'int64' as const, shape: [v.length] });

describe('passes: constant and shape folding', () => {
  it('folds an all-constant subexpression into one initializer', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    b.output(b.Add([x, b.Add([b.constant([1, 2, 3]), b.constant([1, 1, 1])])]));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [2, 3]);
    e.output(e.Add([ex, e.constant([2, 3, 4])]));
    same(foldConstants(b.build()), e.build());
  });

  it('turns Shape→Gather→Concat→Reshape into a constant shape', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    const d0 = b.Gather([b.Shape(x), b.constant([0], { dtype: 'int64' })]);
    const shape = b.Concat([d0, b.constant([-1], { dtype: 'int64' })], { axis: 0 });
    b.output(b.Reshape([x, shape]));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [2, 3, 4]);
    e.output(e.Reshape([ex, e.constant([2, -1], i64([2, -1]))]));
    const g = foldConstants(b.build());
    same(g, e.build());
    expect(g.typeOf(g.outputs[0]!.name).shape).to.deep.equal([2, 12]);
  });

  it('never inflates the model: ConstantOfShape above the cap stays, below it folds', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [300, 300]);
    const big = b.ConstantOfShape(b.constant([300, 300], { dtype: 'int64' }), { value: Tensor.from('float32', [1], [1]) });
    b.output(b.Add([x, big]));
    const g = b.build();
    expect(foldConstants(g)).to.equal(g);
    const folded = foldConstants(g, 100_000);
    expect(folded.nodes.map((n) => n.op)).to.deep.equal(['Add']);
  });
});

describe('passes: DCE and CSE', () => {
  it('DCE removes nodes no output needs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    b.Relu(x);
    b.output(b.Add([x, x]));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [4]);
    e.output(e.Add([ex, ex]));
    same(dce(b.build()), e.build());
  });

  it('CSE merges structurally equal nodes and equal small constants', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    const r1 = b.Add([b.Relu(x), b.constant([1])]);
    const r2 = b.Add([b.Relu(x), b.constant([1])]);
    b.output(b.Mul([r1, r2]));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [4]);
    const r = e.Add([e.Relu(ex), e.constant([1])]);
    e.output(e.Mul([r, r]));
    const g = cse(b.build());
    same(g, e.build());
    expect(g.nodes).to.have.length(3);
  });
});

describe('passes: simplify rules', () => {
  it('removes Identity, Dropout, same-dtype Cast, identity Transpose and no-op Reshape', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    let v = b.Identity(x);
    v = b.Dropout(v);
    v = b.Cast(v, { to: 1 });
    v = b.Transpose(v, { perm: [0, 1] });
    v = b.Reshape([v, b.constant([2, 3], { dtype: 'int64' })]);
    b.output(b.Relu(v));
    const e = new GraphBuilder();
    e.output(e.Relu(e.input('x', 'float32', [2, 3])));
    same(rewrite(b.build(), simplifyRules), e.build());
  });

  it('merges Transpose∘Transpose (and drops it when the composition is the identity)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    const t = b.Transpose(b.Transpose(x, { perm: [1, 2, 0] }), { perm: [1, 2, 0] });
    const back = b.Transpose(b.Transpose(x, { perm: [2, 0, 1] }), { perm: [1, 2, 0] });
    b.output(b.Relu(t));
    b.output(b.Relu(back));
    // [1,2,0] then [1,2,0]: out axis i = in axis p1[p2[i]] = [2,0,1].
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [2, 3, 4]);
    e.output(e.Relu(e.Transpose(ex, { perm: [2, 0, 1] })));
    e.output(e.Relu(ex));
    const g = rewrite(b.build(), simplifyRules);
    same(g, e.build());
    expect(g.typeOf(g.outputs[0]!.name).shape).to.deep.equal([4, 2, 3]);
  });

  it('merges Reshape∘Reshape into one Reshape with the final static shape (0 and -1 resolved)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    const r1 = b.Reshape([x, b.constant([6, 4], { dtype: 'int64' })]);
    // [6,4] → [3, 0, -1]: 0 copies 4, -1 is 24 / 12 = 2.
    b.output(b.Relu(b.Reshape([r1, b.constant([3, 0, -1], { dtype: 'int64' })])));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [2, 3, 4]);
    e.output(e.Relu(e.Reshape([ex, e.constant([3, 4, 2], { dtype: 'int64' })])));
    same(rewrite(b.build(), simplifyRules), e.build());
  });

  it('merges Reshape∘Flatten, and removes the pair when it restores the shape', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    const f = b.Flatten(x, { axis: 1 });
    b.output(b.Relu(b.Reshape([f, b.constant([0, 4, -1], { dtype: 'int64' })])));
    b.output(b.Relu(b.Reshape([b.Flatten(x, { axis: 1 }), b.constant([0, 3, -1], { dtype: 'int64' })])));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [2, 3, 4]);
    e.output(e.Relu(e.Reshape([ex, e.constant([2, 4, 3], { dtype: 'int64' })])));
    e.output(e.Relu(ex));
    same(rewrite(b.build(), simplifyRules), e.build());
  });

  it('keeps a graph output name when the node producing it is removed', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.output(b.Identity(b.Relu(x)), 'y');
    const g = rewrite(b.build(), simplifyRules);
    verify(g);
    expect(g.outputs.map((o) => o.name)).to.deep.equal(['y']);
    expect(g.nodes.map((n) => n.op)).to.deep.equal(['Relu']);
    expect(compileCpu(g).run({ x: Tensor.from('float32', [2], [-1, 2]) }).y!.toArray()).to.deep.equal([0, 2]);
  });
});

describe('passes: BatchNormalization folding', () => {
  it('folds BN into a 1×1 Conv: W\' = W·s, b\' = (b − mean)·s + B', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 1, 2, 2]);
    const conv = b.Conv([x, b.constant([2, 3], { shape: [2, 1, 1, 1] })]);
    // s = scale / sqrt(var + eps) = [1/sqrt(4), 2/sqrt(1)] = [0.5, 2]
    const bn = b.BatchNormalization([conv, b.constant([1, 2]), b.constant([0.5, -1]), b.constant([1, 0]), b.constant([3, 0])], { epsilon: 1 });
    b.output(bn);
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [1, 1, 2, 2]);
    // W' = [2·0.5, 3·2] = [1, 6]; b' = [(0 − 1)·0.5 + 0.5, (0 − 0)·2 − 1] = [0, −1]
    e.output(e.Conv([ex, e.constant([1, 6], { shape: [2, 1, 1, 1] }), e.constant([0, -1])]));
    const g = rewrite(b.build(), foldBatchNormRules);
    same(g, e.build());
    const feed = { x: Tensor.from('float32', [1, 1, 2, 2], [1, 2, 3, 4]) };
    expect(compileCpu(g).run(feed)[g.outputs[0]!.name]!.toArray()).to.deep.equal([1, 2, 3, 4, 5, 11, 17, 23]);
  });

  it('folds BN into a Gemm (transB = 1) with its bias', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 2]);
    const gemm = b.Gemm([x, b.constant([1, 2, 3, 4], { shape: [2, 2] }), b.constant([1, 1])], { transB: 1, beta: 2 });
    b.output(b.BatchNormalization([gemm, b.constant([1, 2]), b.constant([0.5, -1]), b.constant([1, 0]), b.constant([3, 0])], { epsilon: 1 }));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [1, 2]);
    // rows scaled by s = [0.5, 2]; C' = (2·1 − mean)·s + B = [(2 − 1)·0.5 + 0.5, 2·2 − 1] = [1, 3]
    e.output(e.Gemm([ex, e.constant([0.5, 1, 6, 8], { shape: [2, 2] }), e.constant([1, 3])], { transB: 1, beta: 1 }));
    same(rewrite(b.build(), foldBatchNormRules), e.build());
  });
});

describe('passes: folding never inflates the model', () => {
  const w = Array.from({ length: 300 * 300 }, (_, i) => i % 7);
  it('folds Transpose of a weight read only by it (the old weight is freed)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 300]);
    b.output(b.MatMul([x, b.Transpose(b.constant(w, { shape: [300, 300] }), { perm: [1, 0] })]));
    const g = foldConstants(b.build());
    expect(g.nodes.map((n) => n.op)).to.deep.equal(['MatMul']);
    expect([...g.initializers.values()].reduce((s, t) => s + t.size, 0)).to.equal(90000);
  });
  it('keeps Transpose of a weight that another node also reads', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 300]);
    const c = b.constant(w, { shape: [300, 300] });
    b.output(b.Add([b.MatMul([x, b.Transpose(c, { perm: [1, 0] })]), b.MatMul([x, c])]));
    const g = b.build();
    expect(foldConstants(g)).to.equal(g);
  });
});
