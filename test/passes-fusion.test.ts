import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileExprJs, GraphBuilder, Tensor, verify, type Graph, type Sym } from '../src/graph/index.js';
import {
  attentionRules, fusedExpr, fuseElementwise, fuseEpilogues, MAX_FUSED_INPUTS, optimize, recognizeRules, rewrite, structuralForm,
} from '../src/passes/index.js';

function same(actual: Graph, expected: Graph): void {
  verify(actual);
  expect(structuralForm(actual)).to.equal(structuralForm(expected));
}

function run(g: Graph, feeds: Record<string, Tensor>): number[] {
  return compileCpu(g).run(feeds)[g.outputs[0]!.name]!.toArray();
}

function close(a: number[], b: number[], tol = 1e-5): void {
  expect(a.length).to.equal(b.length);
  a.forEach((v, i) => expect(v).to.be.closeTo(b[i]!, tol));
}

describe('passes: GELU and LayerNorm recognition', () => {
  const forms: [string, (b: GraphBuilder, x: Sym) => Sym][] = [
    ['(x·inner)·0.5', (b, x) => b.Mul([b.Mul([x, erfInner(b, x)]), b.constant(0.5)])],
    ['(x·0.5)·inner', (b, x) => b.Mul([b.Mul([x, b.constant(0.5)]), erfInner(b, x)])],
    ['x·(inner·0.5), 1/√2 as a product', (b, x) => b.Mul([x, b.Mul([erfInner(b, x, true), b.constant(0.5)])])],
  ];
  function erfInner(b: GraphBuilder, x: Sym, mul = false): Sym {
    const scaled = mul ? b.Mul([x, b.constant(Math.SQRT1_2)]) : b.Div([x, b.constant(1.4142135)]);
    return b.Add([b.Erf(scaled), b.constant(1)]);
  }
  for (const [label, build] of forms) {
    it(`recognizes the erf GELU ${label}`, () => {
      const b = new GraphBuilder();
      const x = b.input('x', 'float32', [2, 3]);
      b.output(build(b, x));
      const e = new GraphBuilder();
      e.output(e.Gelu(e.input('x', 'float32', [2, 3])));
      same(rewrite(b.build(), recognizeRules), e.build());
    });
  }

  it('recognizes the tanh GELU', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    const cube = b.Mul([b.Pow([x, b.constant(3)]), b.constant(0.044715)]);
    const t = b.Tanh(b.Mul([b.Add([x, cube]), b.constant(Math.sqrt(2 / Math.PI))]));
    b.output(b.Mul([b.Mul([b.constant(0.5), x]), b.Add([t, b.constant(1)])]));
    const e = new GraphBuilder();
    e.output(e.Gelu(e.input('x', 'float32', [4]), { approximate: 'tanh' }));
    const g = rewrite(b.build(), recognizeRules);
    same(g, e.build());
    // gelu_tanh(1) = 0.5·(1 + tanh(0.79788456·1.044715)) = 0.841192
    close(run(g, { x: Tensor.from('float32', [4], [1, 0, -1, 2]) }), [0.841192, 0, -0.158808, 1.954598], 1e-5);
  });

  it('leaves a near-GELU with a wrong constant alone', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    b.output(b.Mul([b.Mul([x, b.Add([b.Erf(b.Div([x, b.constant(2)])), b.constant(1)])]), b.constant(0.5)]));
    const g = b.build();
    expect(rewrite(g, recognizeRules)).to.equal(g);
  });

  it('recognizes the opset-13 LayerNorm decomposition', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    const d = b.Sub([x, b.ReduceMean(x, { axes: [-1] })]);
    const v = b.ReduceMean(b.Pow([d, b.constant(2)]), { axes: [-1] });
    const n = b.Div([d, b.Sqrt(b.Add([v, b.constant(1e-5)]))]);
    b.output(b.Add([b.Mul([n, b.constant([1, 2, 3, 4])]), b.constant([0, 0.5, 0, -1])]));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [2, 3, 4]);
    e.output(e.LayerNormalization([ex, e.constant([1, 2, 3, 4]), e.constant([0, 0.5, 0, -1])], { axis: 2, epsilon: 1e-5 }));
    const before = b.build();
    const g = rewrite(before, recognizeRules);
    same(g, e.build());
    const feed = { x: Tensor.from('float32', [2, 3, 4], Array.from({ length: 24 }, (_, i) => Math.sin(i))) };
    close(run(g, feed), run(before, feed), 1e-5);
  });
});

describe('passes: attention, epilogue and elementwise fusion', () => {
  it('fuses Transpose(K), MatMul(Q,Kᵀ)·scale + mask → Softmax → MatMul(V) into one attention node', () => {
    const b = new GraphBuilder();
    const q = b.input('q', 'float32', [2, 4, 8]);
    const k = b.input('k', 'float32', [2, 4, 8]);
    const v = b.input('v', 'float32', [2, 4, 8]);
    const mask = b.input('mask', 'float32', [1, 4, 4]);
    const s = b.Add([b.Div([b.MatMul([q, b.Transpose(k, { perm: [0, 2, 1] })]), b.constant(Math.sqrt(8))]), mask]);
    b.output(b.MatMul([b.Softmax(s, { axis: -1 }), v]));
    const before = b.build();

    // The Transpose read only by the product joins the group (its input k becomes the group's first input).
    const sb = new GraphBuilder('sub');
    const sk = sb.input('k', 'float32', [2, 4, 8]);
    const sq = sb.input('q', 'float32', [2, 4, 8]);
    const sm = sb.input('mask', 'float32', [1, 4, 4]);
    const sv = sb.input('v', 'float32', [2, 4, 8]);
    const ss = sb.Add([sb.Div([sb.MatMul([sq, sb.Transpose(sk, { perm: [0, 2, 1] })]), sb.constant(Math.sqrt(8))]), sm]);
    sb.output(sb.MatMul([sb.Softmax(ss, { axis: -1 }), sv]));
    const e = new GraphBuilder();
    const [eq, ek, ev, em] = [e.input('q', 'float32', [2, 4, 8]), e.input('k', 'float32', [2, 4, 8]), e.input('v', 'float32', [2, 4, 8]), e.input('mask', 'float32', [1, 4, 4])];
    e.output(e.Fused([ek, eq, em, ev], { kind: 'attention', graph: sb.build() }));

    const g = rewrite(before, attentionRules);
    same(g, e.build());
    const feeds = Object.fromEntries(before.inputs.map((i, n) => [i.name, Tensor.from('float32', i.shape as number[], Array.from({ length: (i.shape as number[]).reduce((p, d) => p * d, 1) }, (_, j) => Math.cos(j + n)))]));
    close(run(g, feeds), run(before, feeds), 1e-6);
  });

  it('absorbs bias, activation and residual into a MatMul epilogue, keeping the anchor inside', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [3, 4]);
    const r = b.input('r', 'float32', [3, 2]);
    const w = b.constant([1, 0, 0, 1, 1, 1, -1, 2], { shape: [4, 2] });
    b.output(b.Add([b.Relu(b.Add([b.MatMul([x, w]), b.constant([0.5, -0.5])])), r]));
    const before = b.build();
    const sb = new GraphBuilder('sub');
    const sx = sb.input('x', 'float32', [3, 4]);
    const sw = sb.input('w', 'float32', [4, 2]);
    const sbias = sb.input('bias', 'float32', [2]);
    const sr = sb.input('r', 'float32', [3, 2]);
    sb.output(sb.Add([sb.Relu(sb.Add([sb.MatMul([sx, sw]), sbias])), sr]));
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [3, 4]);
    const er = e.input('r', 'float32', [3, 2]);
    const ew = e.constant([1, 0, 0, 1, 1, 1, -1, 2], { shape: [4, 2] });
    e.output(e.Fused([ex, ew, e.constant([0.5, -0.5]), er], { kind: 'epilogue', graph: sb.build() }));
    const g = fuseEpilogues(before);
    same(g, e.build());
    const feeds = { x: Tensor.from('float32', [3, 4], [1, 2, 3, 4, -1, -2, -3, -4, 0, 1, 0, 1]), r: Tensor.from('float32', [3, 2], [1, 1, 1, 1, 1, 1]) };
    // row 0: x·w = [1+3-4, 2+3+8] = [0, 13] → +bias [0.5, 12.5] → relu → +1 = [1.5, 13.5]
    expect(run(g, feeds).slice(0, 2)).to.deep.equal([1.5, 13.5]);
    close(run(g, feeds), run(before, feeds));
  });

  it('keeps the anchor\'s scalar operands as inputs, inlines the chain\'s scalars', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 1, 2, 2]);
    const conv = b.Conv([x, b.constant([2], { shape: [1, 1, 1, 1] }), b.constant([1], { shape: [1] })]);
    b.output(b.Mul([b.Relu(conv), b.constant(3)]));
    const g = fuseEpilogues(b.build());
    const fused = g.nodes[0]!;
    expect(g.nodes).to.have.length(1);
    expect(fused.inputs).to.have.length(3);
    const sub = fused.attrs['graph'] as Graph;
    expect([...sub.initializers.values()].map((t) => t.toArray())).to.deep.equal([[3]]);
    // 3·relu(2x + 1)
    expect(run(g, { x: Tensor.from('float32', [1, 1, 2, 2], [1, -1, 0, 2]) })).to.deep.equal([9, 0, 3, 15]);
  });

  it('fuses a connected elementwise group into one node whose fusedExpr computes it', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    const y = b.input('y', 'float32', [3]);
    const sm = b.Softmax(x, { axis: -1 });
    b.output(b.Mul([b.Relu(b.Add([sm, y])), b.constant(2)]));
    const g = fuseElementwise(b.build());
    verify(g);
    expect(g.nodes.map((n) => `${n.op}${n.attrs['kind'] ? `:${String(n.attrs['kind'])}` : ''}`)).to.deep.equal(['Softmax', 'Fused:elementwise']);
    const fused = g.nodes[1]!;
    expect(fused.inputs).to.deep.equal([sm.name, 'y']);
    const f = compileExprJs(fusedExpr(fused));
    // 2·relu(a + b)
    expect(f([0.25, 1])).to.equal(2.5);
    expect(f([-3, 1])).to.equal(0);
  });

  it('does not fuse a producer whose value is also read outside the group', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    const a = b.Relu(x);
    b.output(b.Add([a, b.constant(1)]));
    b.output(b.Softmax(a));
    const g = fuseElementwise(b.build());
    expect(g.nodes.map((n) => n.op).sort()).to.deep.equal(['Add', 'Relu', 'Softmax']);
  });

  for (const batch of [2, 'batch'] as const) it(`O0 and O2 give equal outputs on a small MLP-with-LayerNorm graph (batch dim ${batch})`, () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [batch, 4]);
    const h = b.Add([b.MatMul([x, b.constant(Array.from({ length: 16 }, (_, i) => (i % 5) / 5 - 0.3), { shape: [4, 4] })]), b.constant([0.1, 0.2, 0.3, 0.4])]);
    const gelu = b.Mul([b.Mul([h, b.Add([b.Erf(b.Div([h, b.constant(Math.SQRT2)])), b.constant(1)])]), b.constant(0.5)]);
    const d = b.Sub([gelu, b.ReduceMean(gelu, { axes: [-1] })]);
    const n = b.Div([d, b.Sqrt(b.Add([b.ReduceMean(b.Pow([d, b.constant(2)]), { axes: [-1] }), b.constant(1e-5)]))]);
    b.output(b.Identity(b.Add([b.Mul([n, b.constant([1, 1, 2, 2])]), b.constant([0, 0, 1, 1])])), 'y');
    const g0 = optimize(b.build(), { level: 0 }).graph;
    const { graph: g2, report } = optimize(b.build(), { level: 2, debug: true });
    expect(g2.nodes.map((m) => m.op)).to.deep.equal(['Fused', 'LayerNormalization']);
    expect(report.passes.length).to.be.greaterThan(3);
    const feed = { x: Tensor.from('float32', [2, 4], [1, -2, 3, 0.5, 0, 0.25, -1, 2]) };
    close(run(g2, feed), run(g0, feed), 1e-5);
  });
});

describe('passes: fused group size', () => {
  it('splits a chain reading 10 distinct values into groups of at most MAX_FUSED_INPUTS inputs', () => {
    const b = new GraphBuilder();
    const xs = Array.from({ length: 10 }, (_, i) => b.input(`x${i}`, 'float32', [4]));
    let acc = xs[0]!;
    for (const x of xs.slice(1)) acc = b.Add([acc, x]);
    b.output(b.Relu(acc), 'y');
    const g = b.build();
    const fused = fuseElementwise(g);
    verify(fused);
    for (const n of fused.nodes) expect(new Set(n.inputs).size).to.be.at.most(MAX_FUSED_INPUTS);
    expect(fused.nodes.length).to.be.lessThan(g.nodes.length);
    const feeds = Object.fromEntries(xs.map((x, i) => [x.name, Tensor.from('float32', [4], [i, -i, 1, 2])]));
    expect(compileCpu(fused).run(feeds).y!.toArray()).to.deep.equal(compileCpu(g).run(feeds).y!.toArray());
  });
});
