/// <reference types="@webgpu/types" />
/**
 * The ONNX-ML ops (ai.onnx.ml) against onnxruntime-node's CPU kernels, on the CPU
 * reference and on WebGPU: models built here with onnx-proto on seeded random
 * inputs — a 20-tree depth-6 random forest (regressor and classifier), gradient-boosted
 * classifiers (binary LOGISTIC, multi-class SOFTMAX), every branch mode with missing
 * values, the aggregate functions and post transforms, the `_as_tensor` forms, and
 * TreeEnsemble (ml opset 5). Tolerance: float32 scores 1e-5 relative + 1e-6 absolute
 * (WebGPU: 1e-4 relative + 1e-5, its exp/log differ in the last bits); labels exact.
 * Also: export writes the nodes back in ai.onnx.ml and a re-import runs the same;
 * bad attributes are typed errors naming the node.
 */
import { expect } from 'chai';
import { exportModel } from '../onnx/export.js';
import { importModel } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { KilnError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { compareTensors } from '../src/harness/compare.js';
import { sharedDevice } from './helpers/gpu.js';
import { rng } from './helpers/gpu-compare.js';
import { runOrt } from './onnx-util.js';

const A = onnx.AttributeProto.AttributeType;
const FLOAT = 1;
const INT64 = 7;
const DOUBLE = 11;
const CPU_TOL = { atol: 1e-6, rtol: 1e-5 };
const GPU_TOL = { atol: 1e-5, rtol: 1e-4 };

type AttrV = number | string | number[] | string[] | { tensor: pb.ITensorProto };
function attrs(a: Record<string, AttrV | undefined>): pb.IAttributeProto[] {
  return Object.entries(a).filter(([, v]) => v !== undefined).map(([name, v]) => {
    if (typeof v === 'number') return Number.isInteger(v) && !name.match(/value|weight|threshold|offset|scale|intercept|coef|gamma|rho/) ? { name, type: A.INT, i: v } : { name, type: A.FLOAT, f: v };
    if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) {
      if (v.length > 0 && typeof v[0] === 'string') return { name, type: A.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
      const floats = /values|weights|base|splits|offset|scale|coef|intercept|support|rho|prob|kernel_params|imputed|targets/.test(name) && !/ids|int64/.test(name);
      return floats ? { name, type: A.FLOATS, floats: v as number[] } : { name, type: A.INTS, ints: v as number[] };
    }
    return { name, type: A.TENSOR, t: (v as { tensor: pb.ITensorProto }).tensor };
  });
}

function vi(name: string, elemType: number, dims: (number | string)[]): pb.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/** A one-node ai.onnx.ml model. */
function mlModel(op: string, a: Record<string, AttrV | undefined>, inputs: pb.IValueInfoProto[], outputs: pb.IValueInfoProto[], mlOpset = 3): Uint8Array {
  const graph: pb.IGraphProto = {
    name: `ml_${op}`,
    node: [{ name: `${op}_node`, opType: op, domain: 'ai.onnx.ml', input: inputs.map((i) => i.name!), output: outputs.map((o) => o.name!), attribute: attrs(a) }],
    input: inputs,
    output: outputs,
  };
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: mlOpset }], graph }).finish();
}

interface TreeNode { tree: number; id: number; feature: number; mode: string; value: number; t: number; f: number; missing: number }
interface Forest { nodes: TreeNode[]; leaves: { tree: number; id: number; target: number; weight: number }[] }

/**
 * A forest of `nTrees` full binary trees of depth `depth` (node ids in breadth-first
 * order), thresholds uniform in [-1.5, 1.5], leaf weights from `leaf(tree, leafIndex, r)`.
 */
function forest(seed: number, nTrees: number, depth: number, F: number, leaf: (tree: number, r: () => number) => { target: number; weight: number }[], modes: readonly string[] = ['BRANCH_LEQ']): Forest {
  const r = rng(seed);
  const nodes: TreeNode[] = [];
  const leaves: Forest['leaves'] = [];
  for (let t = 0; t < nTrees; t++) {
    const inner = 2 ** depth - 1;
    for (let id = 0; id < 2 ** (depth + 1) - 1; id++) {
      if (id < inner) {
        nodes.push({ tree: t, id, feature: Math.floor(r() * F), mode: modes[Math.floor(r() * modes.length)]!, value: Math.fround(r() * 3 - 1.5), t: 2 * id + 1, f: 2 * id + 2, missing: r() < 0.5 ? 1 : 0 });
      } else {
        nodes.push({ tree: t, id, feature: 0, mode: 'LEAF', value: 0, t: 0, f: 0, missing: 0 });
        for (const l of leaf(t, r)) leaves.push({ tree: t, id, ...l });
      }
    }
  }
  return { nodes, leaves };
}

function forestAttrs(fr: Forest, prefix: 'target' | 'class', asTensor = false): Record<string, AttrV> {
  const dbl = (vals: number[]): { tensor: pb.ITensorProto } => ({ tensor: { dataType: DOUBLE, dims: [vals.length], doubleData: vals } });
  const values = fr.nodes.map((n) => n.value);
  const weights = fr.leaves.map((l) => Math.fround(l.weight));
  return {
    nodes_treeids: fr.nodes.map((n) => n.tree), nodes_nodeids: fr.nodes.map((n) => n.id), nodes_featureids: fr.nodes.map((n) => n.feature),
    nodes_modes: fr.nodes.map((n) => n.mode), nodes_truenodeids: fr.nodes.map((n) => n.t), nodes_falsenodeids: fr.nodes.map((n) => n.f),
    nodes_missing_value_tracks_true: fr.nodes.map((n) => n.missing),
    ...(asTensor ? { nodes_values_as_tensor: dbl(values), [`${prefix}_weights_as_tensor`]: dbl(weights) } : { nodes_values: values, [`${prefix}_weights`]: weights }),
    [`${prefix}_treeids`]: fr.leaves.map((l) => l.tree), [`${prefix}_nodeids`]: fr.leaves.map((l) => l.id), [`${prefix}_ids`]: fr.leaves.map((l) => l.target),
  };
}

/** Seeded rows of F features in [-2, 2]; with `nanRate`, some NaN. */
function rows(seed: number, n: number, F: number, nanRate = 0, dtype: 'float32' | 'float64' = 'float32'): Tensor {
  const r = rng(seed);
  return Tensor.from(dtype, [n, F], Array.from({ length: n * F }, () => (r() < nanRate ? NaN : r() * 4 - 2)));
}

let device: GPUDevice | null | undefined;
async function gpu(): Promise<GPUDevice | null> {
  if (device === undefined) device = await sharedDevice();
  if (!device && process.env.CI === 'true') throw new Error('no WebGPU adapter');
  return device;
}

function expectSame(got: Record<string, Tensor>, want: Record<string, Tensor>, tol: { atol: number; rtol: number }, what: string): number {
  let worst = 0;
  for (const [k, t] of Object.entries(want)) {
    expect(got[k], `${what}: output ${k}`).to.not.equal(undefined);
    const c = compareTensors(t, got[k]!, tol);
    expect(c.pass, `${what}/${k}: max abs err ${c.maxAbsErr}, rel ${c.maxRelErr} ${c.detail ?? ''}`).to.equal(true);
    worst = Math.max(worst, Number.isFinite(c.maxRelErr) ? c.maxRelErr : 0);
  }
  return worst;
}

const measured: Record<string, { cpu: number; gpu?: number }> = {};

/** Runs a model on onnxruntime, Kiln CPU and Kiln WebGPU (and the exported round trip on the CPU); returns the Kiln graph. */
async function check(what: string, bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Graph> {
  const want = await runOrt(bytes, feeds);
  const g = importModel(bytes);
  const cpu = expectSame(compileCpu(g).run(feeds), want, CPU_TOL, `${what} (CPU)`);
  measured[what] = { cpu };
  const exported = exportModel(g);
  const ml = onnx.ModelProto.decode(exported).opsetImport.find((o) => o.domain === 'ai.onnx.ml');
  expect(Number(ml?.version ?? 0), `${what}: exported ai.onnx.ml opset`).to.be.at.least(g.nodes.some((n) => n.op === 'TreeEnsemble') ? 5 : 1);
  expectSame(compileCpu(importModel(exported)).run(feeds), want, CPU_TOL, `${what} (exported, re-imported)`);
  expectSame(await runOrt(exported, feeds), want, CPU_TOL, `${what} (exported, on onnxruntime)`);
  const d = await gpu();
  if (d) {
    const prog = await compileWebGpu(g, { device: d });
    try {
      measured[what]!.gpu = expectSame((await prog.run(feeds)) as Record<string, Tensor>, want, GPU_TOL, `${what} (WebGPU)`);
    } finally {
      prog.release();
    }
  }
  return g;
}

describe('ONNX-ML tree ensembles vs onnxruntime-node (CPU and WebGPU)', function () {
  this.timeout(120_000);

  it('random forest regressor: 20 trees of depth 6, 2 targets, AVERAGE, base values', async () => {
    const F = 8;
    const fr = forest(1, 20, 6, F, (_, r) => [{ target: 0, weight: r() * 10 - 5 }, { target: 1, weight: r() }]);
    const bytes = mlModel('TreeEnsembleRegressor', { ...forestAttrs(fr, 'target'), n_targets: 2, aggregate_function: 'AVERAGE', base_values: [0.5, -0.25] }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 2])]);
    await check('rf-regressor', bytes, { X: rows(2, 64, F) });
  });

  for (const agg of ['SUM', 'MIN', 'MAX']) {
    it(`regressor ${agg}, one target, missing values tracked`, async () => {
      const F = 5;
      const fr = forest(3, 7, 4, F, (_, r) => [{ target: 0, weight: r() * 4 - 2 }]);
      const bytes = mlModel('TreeEnsembleRegressor', { ...forestAttrs(fr, 'target'), n_targets: 1, aggregate_function: agg, base_values: [0.125] }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 1])]);
      await check(`regressor-${agg}`, bytes, { X: rows(4, 50, F, 0.15) });
    });
  }

  it('every branch mode (LEQ, LT, GTE, GT, EQ, NEQ) with NaN inputs, on integer-valued features', async () => {
    const F = 4;
    const fr = forest(5, 6, 5, F, (_, r) => [{ target: 0, weight: r() }, { target: 1, weight: r() - 0.5 }], ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ']);
    for (const n of fr.nodes) n.value = Math.round(n.value);
    const r = rng(6);
    const X = Tensor.from('float32', [80, F], Array.from({ length: 80 * F }, () => (r() < 0.1 ? NaN : Math.round(r() * 4 - 2))));
    const bytes = mlModel('TreeEnsembleRegressor', { ...forestAttrs(fr, 'target'), n_targets: 2 }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 2])]);
    await check('branch-modes', bytes, { X });
  });

  for (const post of ['SOFTMAX', 'LOGISTIC', 'SOFTMAX_ZERO']) {
    it(`regressor, 3 targets, post_transform ${post}`, async () => {
      const F = 6;
      const fr = forest(7, 5, 3, F, (_, r) => [{ target: Math.floor(r() * 3), weight: r() < 0.3 ? 0 : r() * 2 - 1 }]);
      const bytes = mlModel('TreeEnsembleRegressor', { ...forestAttrs(fr, 'target'), n_targets: 3, post_transform: post }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 3])]);
      await check(`regressor-${post}`, bytes, { X: rows(8, 40, F) });
    });
  }

  it('regressor with the _as_tensor (double) attributes, double input', async () => {
    const F = 6;
    const fr = forest(9, 10, 4, F, (_, r) => [{ target: 0, weight: r() * 3 }]);
    const bytes = mlModel('TreeEnsembleRegressor', { ...forestAttrs(fr, 'target', true), n_targets: 1 }, [vi('X', DOUBLE, ['N', F])], [vi('Y', FLOAT, ['N', 1])]);
    await check('regressor-as-tensor', bytes, { X: rows(10, 30, F, 0, 'float64') });
  });

  it('random forest classifier: 20 trees of depth 6, 3 classes (labels 10, 20, 30), probabilities averaged as weights', async () => {
    const F = 8;
    const fr = forest(11, 20, 6, F, (_, r) => {
      const p = [r(), r(), r()];
      const s = p[0]! + p[1]! + p[2]!;
      return p.map((v, k) => ({ target: k, weight: v / s / 20 }));
    });
    const bytes = mlModel('TreeEnsembleClassifier', { ...forestAttrs(fr, 'class'), classlabels_int64s: [10, 20, 30] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 3])]);
    await check('rf-classifier', bytes, { X: rows(12, 64, F) });
  });

  it('random forest classifier, binary (weights for both classes)', async () => {
    const F = 5;
    const fr = forest(13, 10, 4, F, (_, r) => { const p = r(); return [{ target: 0, weight: (1 - p) / 10 }, { target: 1, weight: p / 10 }]; });
    const bytes = mlModel('TreeEnsembleClassifier', { ...forestAttrs(fr, 'class'), classlabels_int64s: [0, 1] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 2])]);
    await check('rf-binary', bytes, { X: rows(14, 64, F) });
  });

  it('gradient-boosted binary classifier (one score, LOGISTIC, base value)', async () => {
    const F = 6;
    const fr = forest(15, 30, 4, F, (_, r) => [{ target: 0, weight: r() * 0.6 - 0.3 }]);
    const bytes = mlModel('TreeEnsembleClassifier', { ...forestAttrs(fr, 'class'), classlabels_int64s: [0, 1], post_transform: 'LOGISTIC', base_values: [0.2] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 2])]);
    await check('gbt-binary-logistic', bytes, { X: rows(16, 100, F, 0.05) });
  });

  it('gradient-boosted binary classifier (one score, NONE, no base values; positive weights)', async () => {
    const F = 6;
    const fr = forest(25, 4, 3, F, (_, r) => [{ target: 0, weight: r() * 0.25 }]);
    const bytes = mlModel('TreeEnsembleClassifier', { ...forestAttrs(fr, 'class'), classlabels_int64s: [3, 7] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 2])]);
    await check('gbt-binary-positive', bytes, { X: rows(26, 60, F) });
  });

  it('gradient-boosted multi-class classifier (4 classes, one class per tree, SOFTMAX, base values)', async () => {
    const F = 7;
    const fr = forest(17, 24, 5, F, (t, r) => [{ target: t % 4, weight: r() * 2 - 1 }]);
    const bytes = mlModel('TreeEnsembleClassifier', { ...forestAttrs(fr, 'class'), classlabels_int64s: [0, 1, 2, 3], post_transform: 'SOFTMAX', base_values: [0.1, -0.1, 0.2, 0] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 4])]);
    await check('gbt-softmax', bytes, { X: rows(18, 100, F) });
  });

  it('multi-class classifier, LOGISTIC and _as_tensor weights', async () => {
    const F = 7;
    const fr = forest(19, 9, 4, F, (t, r) => [{ target: t % 3, weight: r() * 2 - 1 }]);
    const bytes = mlModel('TreeEnsembleClassifier', { ...forestAttrs(fr, 'class', true), classlabels_int64s: [5, 6, 7], post_transform: 'LOGISTIC' }, [vi('X', DOUBLE, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 3])]);
    await check('gbt-logistic-as-tensor', bytes, { X: rows(20, 50, F, 0, 'float64') });
  });

  it('TreeEnsemble (ml opset 5): a 12-tree random forest in the new form', async () => {
    const F = 6;
    const fr = forest(21, 12, 4, F, (_, r) => [{ target: Math.floor(r() * 2), weight: r() * 2 - 1 }]);
    // Convert: branch nodes indexed globally, leaves separately.
    const branch = fr.nodes.filter((n) => n.mode !== 'LEAF');
    const leafNodes = fr.nodes.filter((n) => n.mode === 'LEAF');
    const bIdx = new Map(branch.map((n, k) => [`${n.tree}/${n.id}`, k]));
    const lIdx = new Map(leafNodes.map((n, k) => [`${n.tree}/${n.id}`, k]));
    const leafW = leafNodes.map((n) => fr.leaves.find((l) => l.tree === n.tree && l.id === n.id)!);
    const modes = branch.map((_, k) => k % 3);
    const roots = branch.map((n, k) => (n.id === 0 ? k : -1)).filter((k) => k >= 0);
    const ref = (n: TreeNode, c: number) => bIdx.get(`${n.tree}/${c}`) ?? lIdx.get(`${n.tree}/${c}`)!;
    const t = (dataType: number, vals: number[]): { tensor: pb.ITensorProto } => ({ tensor: dataType === FLOAT ? { dataType, dims: [vals.length], floatData: vals } : { dataType, dims: [vals.length], int32Data: vals } });
    const a: Record<string, AttrV> = {
      n_targets: 2, aggregate_function: 1, post_transform: 0, tree_roots: roots,
      nodes_featureids: branch.map((n) => n.feature), nodes_splits: t(FLOAT, branch.map((n) => n.value)), nodes_modes: t(2, modes),
      nodes_truenodeids: branch.map((n) => ref(n, n.t)), nodes_falsenodeids: branch.map((n) => ref(n, n.f)),
      nodes_trueleafs: branch.map((n) => (bIdx.has(`${n.tree}/${n.t}`) ? 0 : 1)), nodes_falseleafs: branch.map((n) => (bIdx.has(`${n.tree}/${n.f}`) ? 0 : 1)),
      nodes_missing_value_tracks_true: branch.map((n) => n.missing),
      leaf_targetids: leafW.map((l) => l.target), leaf_weights: t(FLOAT, leafW.map((l) => Math.fround(l.weight))),
    };
    const rr = rng(23);
    const X = Tensor.from('float32', [60, F], Array.from({ length: 60 * F }, () => (rr() < 0.05 ? NaN : rr() < 0.5 ? Math.round(rr() * 4 - 2) : rr() * 4 - 2)));
    const bytes = mlModel('TreeEnsemble', a, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 2])], 5);
    await check('tree-ensemble-v5', bytes, { X });
  });

  it('TreeEnsemble (ml opset 5): BRANCH_MEMBER sets at the root and under a branch, NaN-terminated in node order', async () => {
    const t = (dataType: number, vals: number[]): { tensor: pb.ITensorProto } => ({ tensor: dataType === FLOAT ? { dataType, dims: [vals.length], floatData: vals } : { dataType, dims: [vals.length], int32Data: vals } });
    const X = Tensor.from('float32', [12, 2], [-1, 1, -1, -1, -1, 2, -1, 0, 1, 1, 1, 2, 1, -2, 1, -1, 1, 0, -1, -2, NaN, 1, 2, NaN]);
    const common = { n_targets: 1, tree_roots: [0], nodes_truenodeids: [1, 0, 2], nodes_falsenodeids: [2, 1, 3], nodes_trueleafs: [0, 1, 1], nodes_falseleafs: [0, 1, 1], leaf_targetids: [0, 0, 0, 0], leaf_weights: t(FLOAT, [10, 20, 30, 40]), nodes_splits: t(FLOAT, [0, 0, 0]) };
    const under = mlModel('TreeEnsemble', { ...common, nodes_featureids: [0, 1, 1], nodes_modes: t(2, [0, 6, 6]), nodes_missing_value_tracks_true: [0, 1, 0], membership_values: t(FLOAT, [1, -1, NaN, 2, -2, NaN]) }, [vi('X', FLOAT, ['N', 2])], [vi('Y', FLOAT, ['N', 1])], 5);
    await check('tree-ensemble-member-under', under, { X });
    const root = mlModel('TreeEnsemble', { ...common, nodes_featureids: [1, 0, 0], nodes_modes: t(2, [6, 0, 0]), membership_values: t(FLOAT, [1, -1, NaN]) }, [vi('X', FLOAT, ['N', 2])], [vi('Y', FLOAT, ['N', 1])], 5);
    await check('tree-ensemble-member-root', root, { X });
  });

  it('bad attributes are typed errors naming the node', () => {
    const fr = forest(1, 1, 2, 3, () => [{ target: 0, weight: 1 }]);
    const good = forestAttrs(fr, 'target');
    const cases: [string, Record<string, AttrV>][] = [
      ['nodes_modes', { ...good, nodes_modes: (good.nodes_modes as string[]).slice(1) }],
      ['BRANCH_XX', { ...good, nodes_modes: (good.nodes_modes as string[]).map((m, k) => (k === 0 ? 'BRANCH_XX' : m)) }],
      ['target_ids', { ...good, target_ids: (good.target_ids as number[]).map(() => 5), n_targets: 1 }],
      ['branches to node', { ...good, nodes_truenodeids: (good.nodes_truenodeids as number[]).map((v) => v + 100) }],
    ];
    for (const [want, a] of cases) {
      const bytes = mlModel('TreeEnsembleRegressor', a, [vi('X', FLOAT, ['N', 3])], [vi('Y', FLOAT, ['N', 1])]);
      let err: unknown;
      try { compileCpu(importModel(bytes)).run({ X: rows(1, 2, 3) }); } catch (e) { err = e; }
      expect(err, want).to.be.instanceOf(KilnError);
      expect(String((err as Error).message), want).to.contain('TreeEnsembleRegressor_node').and.to.contain(want);
    }
    const cls = mlModel('TreeEnsembleClassifier', { ...forestAttrs(fr, 'class'), classlabels_strings: ['a', 'b'] }, [vi('X', FLOAT, ['N', 3])], [vi('label', 8, ['N']), vi('probabilities', FLOAT, ['N', 2])]);
    expect(() => compileCpu(importModel(cls)).run({ X: rows(1, 2, 3) })).to.throw(KilnError, /TreeEnsembleClassifier_node.*string class labels/);
  });
});

describe('ONNX-ML linear models and feature transforms vs onnxruntime-node (CPU and WebGPU)', function () {
  this.timeout(120_000);
  after(() => console.log('      max relative error vs onnxruntime:', JSON.stringify(measured)));
  const F = 5;
  const coef = (seed: number, n: number): number[] => { const r = rng(seed); return Array.from({ length: n }, () => Math.fround(r() * 2 - 1)); };

  it('Scaler (per-feature and single offset/scale)', async () => {
    await check('scaler', mlModel('Scaler', { offset: coef(1, F), scale: coef(2, F) }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', F])], 1), { X: rows(3, 20, F) });
    await check('scaler-1', mlModel('Scaler', { offset: [0.5], scale: [2] }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', F])], 1), { X: rows(4, 20, F) });
  });

  for (const norm of ['MAX', 'L1', 'L2']) {
    it(`Normalizer ${norm} (a zero row included)`, async () => {
      const X = rows(5, 12, F);
      for (let k = 0; k < F; k++) X.data[k] = 0;
      await check(`normalizer-${norm}`, mlModel('Normalizer', { norm }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', F])], 1), { X });
    });
  }

  it('Binarizer', async () => {
    await check('binarizer', mlModel('Binarizer', { threshold: 0.25 }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', F])], 1), { X: rows(6, 20, F) });
  });

  it('ArrayFeatureExtractor (2-D and 1-D X)', async () => {
    const idx = Tensor.from('int64', [3], [4, 0, 2]);
    await check('afe', mlModel('ArrayFeatureExtractor', {}, [vi('X', FLOAT, [6, F]), vi('I', INT64, [3])], [vi('Z', FLOAT, [6, 3])], 1), { X: rows(7, 6, F), I: idx });
    await check('afe-1d', mlModel('ArrayFeatureExtractor', {}, [vi('X', FLOAT, [F]), vi('I', INT64, [3])], [vi('Z', FLOAT, [1, 3])], 1), { X: Tensor.from('float32', [F], [1, 2, 3, 4, 5]), I: idx });
  });

  it('Imputer (NaN replaced per feature; a given replaced value)', async () => {
    await check('imputer-nan', mlModel('Imputer', { imputed_value_floats: coef(8, F), replaced_value_float: NaN }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', F])], 1), { X: rows(9, 20, F, 0.3) });
    const X = Tensor.from('float32', [4, F], Array.from({ length: 4 * F }, (_, i) => (i % 3 === 0 ? -1 : i)));
    await check('imputer-value', mlModel('Imputer', { imputed_value_floats: [7.5], replaced_value_float: -1 }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', F])], 1), { X });
  });

  it('OneHotEncoder (int64 categories, unknown values as zeros)', async () => {
    const X = Tensor.from('int64', [6, 2], [1, 3, 5, 7, 2, 1, 9, 3, 5, 5, 7, 0]);
    await check('onehot', mlModel('OneHotEncoder', { cats_int64s: [1, 3, 5, 7], zeros: 1 }, [vi('X', INT64, [6, 2])], [vi('Y', FLOAT, [6, 2, 4])], 1), { X });
  });

  it('FeatureVectorizer (cut and zero-padded inputs)', async () => {
    await check('featurevectorizer', mlModel('FeatureVectorizer', { inputdimensions: [3, 4] }, [vi('A', FLOAT, [4, 3]), vi('B', FLOAT, [4, 2])], [vi('Y', FLOAT, [4, 7])], 1), { A: rows(10, 4, 3), B: rows(11, 4, 2) });
  });

  for (const post of ['NONE', 'SOFTMAX', 'LOGISTIC']) {
    it(`LinearRegressor, 3 targets, ${post}`, async () => {
      await check(`linreg-${post}`, mlModel('LinearRegressor', { coefficients: coef(12, 3 * F), intercepts: coef(13, 3), targets: 3, post_transform: post }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 3])], 1), { X: rows(14, 30, F) });
    });
  }

  it('LinearRegressor, one target', async () => {
    await check('linreg-1', mlModel('LinearRegressor', { coefficients: coef(15, F), intercepts: [0.5] }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 1])], 1), { X: rows(16, 30, F) });
  });

  for (const post of ['NONE', 'SOFTMAX', 'LOGISTIC']) {
    it(`LinearClassifier, 3 classes (labels 4, 5, 6), ${post}`, async () => {
      await check(`lincls-${post}`, mlModel('LinearClassifier', { coefficients: coef(17, 3 * F), intercepts: coef(18, 3), classlabels_ints: [4, 5, 6], post_transform: post, multi_class: 1 }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 3])], 1), { X: rows(19, 30, F) });
    });
  }

  for (const post of ['NONE', 'LOGISTIC']) {
    it(`LinearClassifier, binary (one coefficient row), ${post}`, async () => {
      await check(`lincls-bin-${post}`, mlModel('LinearClassifier', { coefficients: coef(20, F), intercepts: [0.1], classlabels_ints: [0, 1], post_transform: post }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 2])], 1), { X: rows(21, 30, F) });
    });
  }

  for (const kernel of ['LINEAR', 'POLY', 'RBF', 'SIGMOID']) {
    it(`SVMRegressor, ${kernel} kernel, 12 support vectors`, async () => {
      const params = kernel === 'POLY' ? [0.3, 0.5, 3] : kernel === 'RBF' ? [0.4, 0, 0] : [0.2, 0.1, 0];
      await check(`svr-${kernel}`, mlModel('SVMRegressor', { coefficients: coef(22, 12), kernel_params: params, kernel_type: kernel, n_supports: 12, rho: [0.3], support_vectors: coef(23, 12 * F) }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 1])], 1), { X: rows(24, 30, F) });
    });
  }

  it('SVMRegressor, linear form (no support vectors) and one_class', async () => {
    await check('svr-linear-form', mlModel('SVMRegressor', { coefficients: coef(25, F), kernel_params: [0, 0, 0], n_supports: 0, rho: [0.1] }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 1])], 1), { X: rows(26, 30, F) });
    await check('svr-one-class', mlModel('SVMRegressor', { coefficients: coef(27, 6), kernel_params: [0.5, 0, 0], kernel_type: 'RBF', n_supports: 6, one_class: 1, rho: [-0.1], support_vectors: coef(28, 6 * F) }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', 1])], 1), { X: rows(29, 30, F) });
  });

  for (const [kernel, classes] of [['RBF', 3], ['POLY', 4], ['LINEAR', 2], ['SIGMOID', 2]] as const) {
    it(`SVMClassifier (one-vs-one, ${kernel} kernel, ${classes} classes)`, async () => {
      const vpc = Array.from({ length: classes }, (_, k) => 2 + (k % 2));
      const V = vpc.reduce((s, v) => s + v, 0);
      const params = kernel === 'POLY' ? [0.3, 0.5, 2] : kernel === 'RBF' ? [0.4, 0, 0] : [0.2, 0.1, 0];
      const pairs = (classes * (classes - 1)) / 2;
      const labels = Array.from({ length: classes }, (_, k) => 10 + k);
      await check(`svc-${kernel}-${classes}`, mlModel('SVMClassifier', { classlabels_ints: labels, coefficients: coef(30, (classes - 1) * V), kernel_params: params, kernel_type: kernel, rho: coef(31, pairs), support_vectors: coef(32, V * F), vectors_per_class: vpc }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('scores', FLOAT, ['N', classes > 2 ? pairs : 2])], 1), { X: rows(33, 40, F) });
    });
  }

  it('SVMClassifier, linear form (3 classes)', async () => {
    await check('svc-linear-form', mlModel('SVMClassifier', { classlabels_ints: [0, 1, 2], coefficients: coef(34, 3 * F), kernel_params: [0, 0, 0], rho: [0.2] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('scores', FLOAT, ['N', 3])], 1), { X: rows(35, 40, F) });
  });

  it('ZipMap and bad attributes: typed errors naming the node', () => {
    const zip = mlModel('ZipMap', { classlabels_int64s: [0, 1] }, [vi('X', FLOAT, ['N', 2])], [{ name: 'Z', type: { sequenceType: { elemType: { mapType: { keyType: INT64, valueType: { tensorType: { elemType: FLOAT } } } } } } }], 1);
    // A declared map type stops the import at the value (a typed error naming it); an undeclared one reaches the op, which names the node.
    expect(() => compileCpu(importModel(zip))).to.throw(KilnError, /mapType/);
    const zip2 = mlModel('ZipMap', { classlabels_int64s: [0, 1] }, [vi('X', FLOAT, ['N', 2])], [{ name: 'Z' }], 1);
    expect(() => compileCpu(importModel(zip2))).to.throw(KilnError, /ZipMap_node.*maps/);
    const bad = mlModel('Scaler', { offset: [1, 2], scale: [1] }, [vi('X', FLOAT, ['N', F])], [vi('Y', FLOAT, ['N', F])], 1);
    expect(() => compileCpu(importModel(bad)).run({ X: rows(1, 2, F) })).to.throw(KilnError, /Scaler_node.*offset/);
    const lin = mlModel('LinearClassifier', { coefficients: coef(1, 7), classlabels_ints: [0, 1, 2] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('probabilities', FLOAT, ['N', 3])], 1);
    expect(() => compileCpu(importModel(lin)).run({ X: rows(1, 2, F) })).to.throw(KilnError, /LinearClassifier_node.*coefficients/);
    const svc = mlModel('SVMClassifier', { classlabels_ints: [0, 1], coefficients: coef(1, 4), kernel_params: [0.1, 0, 0], kernel_type: 'RBF', rho: [0], support_vectors: coef(2, 4 * F), vectors_per_class: [2, 2], prob_a: [1], prob_b: [0] }, [vi('X', FLOAT, ['N', F])], [vi('label', INT64, ['N']), vi('scores', FLOAT, ['N', 2])], 1);
    expect(() => compileCpu(importModel(svc)).run({ X: rows(1, 2, F) })).to.throw(KilnError, /SVMClassifier_node.*prob_a/);
  });
});
