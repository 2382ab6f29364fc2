/**
 * Export tests. Exported models are run by onnxruntime-node (an independent
 * implementation) and compared with the Kiln CPU backend or with the models'
 * expected outputs; `import(export(g))` must give back `g` structurally.
 */
import * as path from 'node:path';
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { AttrValue } from '../src/graph/attrs.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import '../src/graph/ops/index.js';
import { optimize } from '../src/passes/pipelines.js';
import { compareTensors } from '../src/harness/compare.js';
import { exportModel } from '../onnx/export.js';
import { importModel, importModelFile } from '../onnx/import.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { runOrt, SHARED_MODEL_NAMES, SHARED_MODELS } from './onnx-util.js';

const TOL = { atol: 1e-4, rtol: 1e-3 };

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
const rnd = lcg(7);
const randn = (shape: number[]): Tensor => Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * 2));

function mlp(): Graph {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', ['batch', 4]);
  const h = b.Relu(b.Add([b.MatMul([x, b.constant(randn([4, 3]), { name: 'w1' })]), b.constant(randn([3]), { name: 'b1' })]));
  b.output(b.Softmax(h, { axis: -1 }), 'y');
  return b.build();
}

function convnet(): Graph {
  const b = new GraphBuilder('convnet');
  const x = b.input('x', 'float32', [1, 2, 6, 6]);
  const c = b.Conv([x, b.constant(randn([3, 2, 3, 3])), b.constant(randn([3]))], { pads: [1, 1, 1, 1] });
  const bn = b.BatchNormalization([c, b.constant(randn([3])), b.constant(randn([3])), b.constant(randn([3])), b.constant(Tensor.from('float32', [3], [1, 2, 0.5]))], { epsilon: 1e-5 });
  const p = b.MaxPool(b.Relu(bn), { kernel_shape: [2, 2], strides: [2, 2] });
  const f = b.Flatten(b.GlobalAveragePool(p), { axis: 1 });
  b.output(b.Gemm([f, b.constant(randn([3, 2])), b.constant(randn([2]))], { alpha: 0.5 }), 'logits');
  return b.build();
}

/** Uses the attribute forms of operands that are inputs in opset 17. */
function legacyForms(): Graph {
  const b = new GraphBuilder('legacy');
  const x = b.input('x', 'float32', [2, 3, 4]);
  const t = b.Transpose(x, { perm: [1, 0, 2] });
  const r = b.Reshape(t, { shape: [3, 8] });
  const s = b.Slice(r, { starts: [0, 1], ends: [3, 7], axes: [0, 1] });
  const u = b.Squeeze(b.Unsqueeze(s, { axes: [0] }), { axes: [0] });
  const [p1, p2] = b.Split(u, { axis: 1, split: [2, 4] }, { outputs: 2 });
  const c = b.Concat([p2!, p1!], { axis: 1 });
  const m = b.ReduceMean(c, { axes: [1], keepdims: 1 });
  const sum = b.ReduceSum(c, { axes: [0], keepdims: 0 });
  b.output(b.Clip(c, { min: -0.3, max: 0.4 }), 'clipped');
  b.output(m, 'mean');
  b.output(sum, 'sum');
  b.output(b.Pad(c, { pads: [0, 1, 1, 0], value: 2 }), 'padded');
  b.output(b.Upsample(b.Reshape(c, { shape: [1, 1, 3, 6] }), { scales: [1, 1, 2, 2] }), 'up');
  b.output(b.Cast(b.Greater([c, b.constant(0)]), { to: 7 }), 'positive');
  return b.build();
}

const BUILT: Record<string, { graph: () => Graph; feeds: () => Record<string, Tensor> }> = {
  mlp: { graph: mlp, feeds: () => ({ x: randn([5, 4]) }) },
  convnet: { graph: convnet, feeds: () => ({ x: randn([1, 2, 6, 6]) }) },
  'legacy attribute forms': { graph: legacyForms, feeds: () => ({ x: randn([2, 3, 4]) }) },
};

async function expectOrtMatchesKiln(g: Graph, feeds: Record<string, Tensor>): Promise<void> {
  const want = compileCpu(g).run(feeds);
  const got = await runOrt(exportModel(g), feeds);
  for (const o of g.outputs) {
    const c = compareTensors(want[o.name]!, got[o.name]!, TOL);
    expect(c.pass, `${g.name}/${o.name}: ${c.detail}`).to.equal(true);
  }
}

function attrEqual(a: AttrValue | undefined, b: AttrValue | undefined): boolean {
  if (a instanceof Tensor || b instanceof Tensor) {
    return a instanceof Tensor && b instanceof Tensor && a.dtype === b.dtype && a.shape.join() === b.shape.join() && a.toArray().every((v, i) => Object.is(v, b.data[i]));
  }
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.fround(a) === Math.fround(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => attrEqual(v as AttrValue, b[i] as AttrValue));
  return a === b;
}

/** Asserts two graphs have the same ports, nodes (name, op, inputs, outputs, attributes) and initializers. */
function expectSameStructure(a: Graph, b: Graph): void {
  const port = (g: Graph) => [g.inputs, g.outputs].map((l) => l.map((v) => `${v.name}:${v.dtype}[${v.shape.join(',')}]`));
  expect(port(b)).to.deep.equal(port(a));
  expect(b.nodes.length).to.equal(a.nodes.length);
  const byName = new Map(b.nodes.map((n) => [n.name, n]));
  for (const n of a.nodes) {
    const m = byName.get(n.name);
    expect(m, `node ${n.name}`).to.not.equal(undefined);
    expect([m!.op, m!.domain, m!.inputs, m!.outputs], n.name).to.deep.equal([n.op, n.domain, n.inputs, n.outputs]);
    expect(Object.keys(m!.attrs).sort(), `${n.name} attribute names`).to.deep.equal(Object.keys(n.attrs).sort());
    for (const k of Object.keys(n.attrs)) expect(attrEqual(n.attrs[k], m!.attrs[k]), `${n.name}.${k}`).to.equal(true);
  }
  expect([...b.initializers.keys()].sort()).to.deep.equal([...a.initializers.keys()].sort());
  for (const [k, t] of a.initializers) expect(attrEqual(t, b.initializers.get(k)), `initializer ${k}`).to.equal(true);
}

describe('ONNX export: builder graphs run in onnxruntime', function () {
  this.timeout(60_000);
  for (const [name, c] of Object.entries(BUILT)) {
    it(`${name}: onnxruntime output matches the Kiln CPU backend`, async () => {
      await expectOrtMatchesKiln(c.graph(), c.feeds());
    });
  }

  it('optimized graphs (Fused nodes) are expanded and still match', async () => {
    for (const c of [BUILT.mlp!, BUILT.convnet!]) {
      const g = c.graph();
      const opt = optimize(g, { level: 2 }).graph;
      expect(opt.nodes.some((n) => n.op === 'Fused'), `${g.name} has Fused nodes after O2`).to.equal(true);
      const feeds = c.feeds();
      const want = compileCpu(g).run(feeds);
      const got = await runOrt(exportModel(opt), feeds);
      for (const o of g.outputs) expect(compareTensors(want[o.name]!, got[o.name]!, TOL).pass, o.name).to.equal(true);
    }
  });
});

describe('ONNX export: import(export(g)) equals g', () => {
  for (const name of ['mlp', 'convnet']) {
    it(name, () => {
      const g = BUILT[name]!.graph();
      expectSameStructure(g, importModel(exportModel(g), { foldStaticShapes: false }));
    });
  }
});

describe('ONNX export: shared models after import run in onnxruntime', function () {
  this.timeout(120_000);
  for (const name of SHARED_MODEL_NAMES) {
    it(`${name}: matches the expected outputs`, async () => {
      const dir = path.join(SHARED_MODELS, name);
      const g = importModelFile(path.join(dir, 'model.onnx'));
      const [set] = readTestDataSets(dir);
      const feeds: Record<string, Tensor> = {};
      g.inputs.forEach((inp, i) => { feeds[inp.name] = set!.inputs[i]!.tensor; });
      const got = await runOrt(exportModel(g), feeds);
      g.outputs.forEach((o, i) => {
        const c = compareTensors(set!.outputs[i]!.tensor, got[o.name]!, TOL);
        expect(c.pass, `${name}/${o.name}: ${c.detail}`).to.equal(true);
      });
      if (name.endsWith('opset13')) expectSameStructure(g, importModel(exportModel(g)));
    });
  }
});
