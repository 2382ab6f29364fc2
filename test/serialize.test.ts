import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { Graph, GraphBuilder, ModelFormatError, Tensor, type Node } from '../src/graph/index.js';
import { loadGraph, saveGraph, GRAPH_FORMAT_VERSION } from '../src/graph/serialize.js';
import { optimize } from '../src/passes/index.js';

/** A graph exercising every field: symbolic dims, several dtypes, attributes, a nested graph. */
function richGraph(): Graph {
  const b = new GraphBuilder('rich');
  const x = b.input('x', 'float32', ['batch', 1, 4]);
  const w = b.constant(Tensor.from('float32', [3, 4], [0.5, -1, 2, 3, 1e-7, -0.25, 7, 8, 9, 10, 11, 1 / 3]), { name: 'w' });
  const bias = b.constant([1, 2, 3, 4], { name: 'bias' });
  const h = b.Add([x, w]);
  const s = b.Softmax(b.Add([h, bias]), { axis: -1 });
  b.output(b.Relu(s), 'y');
  b.constant(Tensor.from('float16', [2], [0.1, 65504]), { name: 'half' });
  b.constant(Tensor.from('int64', [3], [-(2 ** 40), 0, 2 ** 52]), { name: 'big' });
  b.constant(Tensor.from('bool', [2, 2], [1, 0, 0, 1]), { name: 'mask' });
  return b.build();
}

function withOddNodes(g: Graph): Graph {
  const shared = Tensor.from('int32', [2], [-5, 7]);
  const inner = richGraph();
  const odd: Node = {
    name: 'odd </script> "node"',
    op: 'Custom',
    domain: 'com.example',
    inputs: ['x', ''],
    outputs: ['odd_out'],
    attrs: {
      nan: NaN, inf: -Infinity, negz: -0, f: 1e-5, i: 3, s: 'héllo\n"', ints: [1, -2, 3], floats: [0.5, Infinity],
      strs: ['a', 'b'], empty: [], t1: shared, t2: shared, body: inner,
    },
  };
  return g.with({
    nodes: [...g.nodes, odd],
    valueTypes: new Map([...g.valueTypes, ['odd_out', { dtype: 'uint8', shape: ['n', 2] }]]),
    meta: { producer: 'test', opset: 17 },
  });
}

/** Structural comparison of two graphs, field by field (tensors by dtype, shape and bits). */
function expectSameGraph(a: Graph, b: Graph): void {
  expect(b.name).to.equal(a.name);
  expect(b.meta).to.deep.equal(a.meta);
  expect(b.inputs).to.deep.equal(a.inputs);
  expect(b.outputs).to.deep.equal(a.outputs);
  expect([...b.valueTypes]).to.deep.equal([...a.valueTypes]);
  expect([...b.initializers.keys()]).to.deep.equal([...a.initializers.keys()]);
  for (const [k, t] of a.initializers) expectSameTensor(b.initializers.get(k)!, t);
  expect(b.nodes.length).to.equal(a.nodes.length);
  a.nodes.forEach((n, i) => {
    const m = b.nodes[i]!;
    expect([m.name, m.op, m.domain, m.inputs, m.outputs]).to.deep.equal([n.name, n.op, n.domain, n.inputs, n.outputs]);
    expect(Object.keys(m.attrs)).to.deep.equal(Object.keys(n.attrs));
    for (const [k, v] of Object.entries(n.attrs)) {
      const w = m.attrs[k];
      if (v instanceof Tensor) expectSameTensor(w as Tensor, v);
      else if (v instanceof Graph) expectSameGraph(v, w as Graph);
      else if (typeof v === 'number') expect(Object.is(w, v), `${k}: ${String(w)} vs ${v}`).to.equal(true);
      else expect(w).to.deep.equal(v);
    }
  });
}

function expectSameTensor(got: Tensor, want: Tensor): void {
  expect(got.dtype).to.equal(want.dtype);
  expect(got.shape).to.deep.equal(want.shape);
  expect(got.data.constructor).to.equal(want.data.constructor);
  expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(
    Buffer.from(want.data.buffer, want.data.byteOffset, want.data.byteLength))).to.equal(true);
}

describe('serialize: graph JSON + weights', () => {
  it('round-trips a builder graph exactly and runs to the same outputs', () => {
    const g = richGraph();
    const { json, weights } = saveGraph(g);
    const back = loadGraph(json, weights);
    expectSameGraph(g, back);
    const x = Tensor.from('float32', [2, 1, 4], [1, 2, 3, 4, -1, 0.5, 0, 2]);
    const want = compileCpu(g).run({ x });
    const got = compileCpu(back).run({ x });
    expect(got.y!.toArray()).to.deep.equal(want.y!.toArray());
    // hand-checked: 0.1 rounds to float16 0.0999755859375; int64 values exact below 2^53
    expect(back.initializers.get('half')!.toArray()).to.deep.equal([0.0999755859375, 65504]);
    expect(back.initializers.get('big')!.toArray()).to.deep.equal([-(2 ** 40), 0, 2 ** 52]);
  });

  it('round-trips special numbers, strings, shared tensors and nested graphs', () => {
    const g = withOddNodes(richGraph());
    const { json, weights } = saveGraph(g);
    const back = loadGraph(json, weights);
    expectSameGraph(g, back);
    const odd = back.nodes[back.nodes.length - 1]!;
    expect(odd.attrs.t1, 'one tensor object shared by both attributes').to.equal(odd.attrs.t2);
    // the shared tensor is stored once: one blob range for both attributes
    const doc = JSON.parse(json) as { graph: { nodes: { attrs: Record<string, { v: { offset: number } }> }[] } };
    const attrs = doc.graph.nodes[doc.graph.nodes.length - 1]!.attrs;
    expect(attrs.t1!.v.offset).to.equal(attrs.t2!.v.offset);
    // saving the loaded graph gives the same bytes
    const again = saveGraph(back);
    expect(again.json).to.equal(json);
    expect(Buffer.from(again.weights).equals(Buffer.from(weights))).to.equal(true);
  });

  it('round-trips an optimized graph with Fused nodes, which still runs to the unoptimized outputs', () => {
    const g = richGraph();
    const opt = optimize(g, { level: 2 }).graph;
    const fused = opt.nodes.filter((n) => n.op === 'Fused');
    expect(fused.length).to.be.greaterThan(0);
    const { json, weights } = saveGraph(opt);
    const back = loadGraph(json, weights);
    expectSameGraph(opt, back);
    const x = Tensor.from('float32', [1, 1, 4], [0.25, -3, 2, 1]);
    const want = compileCpu(g).run({ x }).y!.toArray();
    const got = compileCpu(back).run({ x }).y!.toArray();
    got.forEach((v, i) => expect(v).to.be.closeTo(want[i]!, 1e-6));
  });

  it('rejects bad documents with a ModelFormatError naming the path', () => {
    const { json, weights } = saveGraph(richGraph());
    const doc = JSON.parse(json) as Record<string, any>;
    const bad = (mut: (d: any) => void): string => {
      const d = JSON.parse(json);
      mut(d);
      return JSON.stringify(d);
    };
    expect(() => loadGraph('{not json', weights)).to.throw(ModelFormatError, /does not parse/);
    expect(() => loadGraph(bad((d) => { d.format = 'onnx'; }), weights)).to.throw(ModelFormatError, /\$\.format/);
    expect(() => loadGraph(bad((d) => { d.version = GRAPH_FORMAT_VERSION + 1; }), weights)).to.throw(ModelFormatError, /version 2 is not supported/);
    expect(() => loadGraph(json, weights.subarray(0, 8))).to.throw(ModelFormatError, /weightsBytes/);
    expect(() => loadGraph(bad((d) => { d.graph.inputs[0].dtype = 'float128'; }), weights)).to.throw(ModelFormatError, /\$\.graph\.inputs\[0\]\.dtype: unknown dtype 'float128'/);
    expect(() => loadGraph(bad((d) => { d.graph.inputs[0].shape = [-1, 4]; }), weights)).to.throw(ModelFormatError, /inputs\[0\]\.shape\[0\]/);
    expect(() => loadGraph(bad((d) => { d.graph.initializers[0].tensor.offset = 1e6; }), weights)).to.throw(ModelFormatError, /outside the \d+-byte weights blob/);
    expect(() => loadGraph(bad((d) => { d.graph.initializers[0].tensor.bytes = 4; }), weights)).to.throw(ModelFormatError, /needs 48 bytes, got 4/);
    expect(() => loadGraph(bad((d) => { d.graph.nodes[0].attrs = { a: { t: 'blob', v: 1 } }; }), weights)).to.throw(ModelFormatError, /nodes\[0\]\.attrs\.a\.t: unknown attribute tag 'blob'/);
    expect(() => loadGraph(bad((d) => { d.graph.nodes = 'x'; }), weights)).to.throw(ModelFormatError, /\$\.graph\.nodes: must be an array/);
    expect(doc.format).to.equal('kiln-graph');
  });
});
