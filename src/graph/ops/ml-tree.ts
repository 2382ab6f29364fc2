/**
 * Op family: the tree ensembles of ONNX-ML (domain ai.onnx.ml) — TreeEnsembleRegressor
 * and TreeEnsembleClassifier (ml opsets 1–3: `nodes_*`, `target_*` / `class_*`
 * attribute arrays, and the `*_as_tensor` forms of opset 3) and TreeEnsemble (ml
 * opset 5: `nodes_*`, `leaf_*`, `tree_roots`, set membership).
 *
 * Every form is first flattened into one {@link TreeTables} layout (nodes by global
 * index, leaves pointing at a run of (target, weight) pairs, membership sets), which
 * the CPU reference walks here and the WebGPU kernel uploads as constant buffers.
 * The aggregation and post transforms follow onnxruntime's CPU kernels (which the
 * ONNX reference agrees with except in corner cases of the binary classifier):
 * SUM/AVERAGE/MIN/MAX per target, base values, LOGISTIC as 1/(1+e^-x), PROBIT with
 * onnxruntime's erf⁻¹ approximation, SOFTMAX, SOFTMAX_ZERO, and the binary
 * classifier's one-score forms ({@link classifierFinalize}).
 */
import { attr } from '../attrs.js';
import { expectDType } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp, type InferInput, type ValueType } from '../op.js';
import { Tensor } from '../tensor.js';

/** The ONNX-ML domain. */
export const ML_DOMAIN = 'ai.onnx.ml';

/** Branch modes in table order; LEAF last. */
export const TREE_MODES = ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ', 'BRANCH_MEMBER', 'LEAF'] as const;
/** Mode code of a leaf in {@link TreeTables.mode}. */
export const LEAF_MODE = 7;
/** Post transforms by code (TreeEnsemble's integer attribute order). */
export const POST_TRANSFORMS = ['NONE', 'SOFTMAX', 'LOGISTIC', 'SOFTMAX_ZERO', 'PROBIT'] as const;
/** A post transform. */
export type PostTransform = (typeof POST_TRANSFORMS)[number];
/** Aggregate functions by code (TreeEnsemble's integer attribute order). */
export const AGGREGATES = ['AVERAGE', 'SUM', 'MIN', 'MAX'] as const;
/** An aggregate function. */
export type Aggregate = (typeof AGGREGATES)[number];

/** Input element types the ML ops accept. */
export const ML_INPUTS = ['float32', 'float64', 'int64', 'int32'] as const;

/**
 * A tree ensemble flattened: node k has a feature, a mode code (index in
 * {@link TREE_MODES}), a threshold, its true and false successors (global indices)
 * and whether a missing value (NaN) goes the true way; a leaf (mode 7) holds instead
 * the first index and count of its (target, weight) pairs in `trueNext` / `falseNext`.
 * A BRANCH_MEMBER node's set is `sets[setStart[k] .. setStart[k] + setCount[k])`.
 */
export interface TreeTables {
  readonly feature: Int32Array;
  readonly mode: Uint8Array;
  readonly value: Float64Array;
  readonly trueNext: Int32Array;
  readonly falseNext: Int32Array;
  readonly missingTrue: Uint8Array;
  readonly setStart: Int32Array;
  readonly setCount: Int32Array;
  readonly sets: Float64Array;
  readonly weightTarget: Int32Array;
  readonly weightValue: Float64Array;
  readonly roots: Int32Array;
  /** Number of targets (regressor) or classes (classifier). */
  readonly nTargets: number;
  /** Largest feature index used (−1 when none). */
  readonly maxFeature: number;
  /** Depth of the deepest tree (a bound on the walk). */
  readonly depth: number;
}

/** How a node's scores become outputs, decided from the attributes alone. */
export interface TreeFinalize {
  readonly kind: 'regressor' | 'classifier';
  readonly aggregate: Aggregate;
  readonly post: PostTransform;
  readonly nTrees: number;
  readonly nTargets: number;
  /** Base values (empty or one per target/class; a binary classifier may give 1). */
  readonly base: readonly number[];
  /** Classifier: int64 class labels. */
  readonly labels: readonly number[];
  /** Classifier with two classes whose weights all go to one class id (onnxruntime's binary case). */
  readonly binaryCase: boolean;
  /** Every class weight is ≥ 0. */
  readonly allPositive: boolean;
}

type Raw = Readonly<Record<string, unknown>>;

function fail(node: string, msg: string): never {
  throw new AttributeError(`${node}: ${msg}`, node);
}

function nums(a: Raw, name: string): number[] | undefined {
  const v = a[name];
  if (v === undefined) return undefined;
  if (v instanceof Tensor) return Array.from(v.data as ArrayLike<number>, Number);
  return [...(v as readonly number[])];
}

/** The float array `name` or its `name_as_tensor` form (not both). */
function floatsOrTensor(a: Raw, name: string, node: string): number[] | undefined {
  const f = nums(a, name);
  const t = nums(a, `${name}_as_tensor`);
  if (f && t) fail(node, `give ${name} or ${name}_as_tensor, not both`);
  return f ?? t;
}

function sameLength(node: string, arrays: Record<string, readonly unknown[] | undefined>): number {
  const entries = Object.entries(arrays).filter(([, v]) => v !== undefined) as [string, readonly unknown[]][];
  const n = entries[0]?.[1].length ?? 0;
  for (const [k, v] of entries) if (v.length !== n) fail(node, `attribute ${k} has ${v.length} entries, expected ${n} (as ${entries[0]![0]})`);
  return n;
}

/** Checks that every tree is acyclic and returns the deepest tree's depth. */
function checkTrees(node: string, mode: Uint8Array, t: Int32Array, f: Int32Array, roots: Int32Array): number {
  let depth = 0;
  const n = mode.length;
  for (const r of roots) {
    const stack: [number, number][] = [[r, 0]];
    let visited = 0;
    while (stack.length) {
      const [k, d] = stack.pop()!;
      if (k < 0 || k >= n) fail(node, `a tree refers to node ${k}, outside the ${n} nodes`);
      if (++visited > n) fail(node, 'a tree is not acyclic');
      depth = Math.max(depth, d);
      if (mode[k] !== LEAF_MODE) stack.push([t[k]!, d + 1], [f[k]!, d + 1]);
    }
  }
  return depth;
}

/** Flattens the ml opset 1–3 attributes (`prefix` 'target' or 'class'). */
function legacyTables(a: Raw, prefix: 'target' | 'class', nTargets: number, node: string): TreeTables {
  const treeIds = nums(a, 'nodes_treeids') ?? fail(node, 'requires attribute nodes_treeids');
  const nodeIds = nums(a, 'nodes_nodeids') ?? fail(node, 'requires attribute nodes_nodeids');
  const features = nums(a, 'nodes_featureids') ?? fail(node, 'requires attribute nodes_featureids');
  const modes = (a.nodes_modes as readonly string[] | undefined) ?? fail(node, 'requires attribute nodes_modes');
  const values = floatsOrTensor(a, 'nodes_values', node) ?? features.map(() => 0);
  const trues = nums(a, 'nodes_truenodeids') ?? features.map(() => 0);
  const falses = nums(a, 'nodes_falsenodeids') ?? features.map(() => 0);
  const missing = nums(a, 'nodes_missing_value_tracks_true');
  floatsOrTensor(a, 'nodes_hitrates', node);
  const n = sameLength(node, { nodes_treeids: treeIds, nodes_nodeids: nodeIds, nodes_featureids: features, nodes_modes: modes, nodes_values: values, nodes_truenodeids: trues, nodes_falsenodeids: falses, nodes_missing_value_tracks_true: missing });
  const wTree = nums(a, `${prefix}_treeids`) ?? [];
  const wNode = nums(a, `${prefix}_nodeids`) ?? [];
  const wIds = nums(a, `${prefix}_ids`) ?? [];
  const wVals = floatsOrTensor(a, `${prefix}_weights`, node) ?? [];
  sameLength(node, { [`${prefix}_treeids`]: wTree, [`${prefix}_nodeids`]: wNode, [`${prefix}_ids`]: wIds, [`${prefix}_weights`]: wVals });
  const index = new Map<string, number>();
  const treeOrder: number[] = [];
  const seenTree = new Set<number>();
  for (let k = 0; k < n; k++) {
    const key = `${treeIds[k]}/${nodeIds[k]}`;
    if (index.has(key)) fail(node, `node ${nodeIds[k]} of tree ${treeIds[k]} is defined twice`);
    index.set(key, k);
    if (!seenTree.has(treeIds[k]!)) { seenTree.add(treeIds[k]!); treeOrder.push(treeIds[k]!); }
  }
  const mode = new Uint8Array(n);
  const trueNext = new Int32Array(n);
  const falseNext = new Int32Array(n);
  const child = new Set<number>();
  for (let k = 0; k < n; k++) {
    const m = TREE_MODES.indexOf(modes[k] as (typeof TREE_MODES)[number]);
    if (m < 0 || m === 6) fail(node, `nodes_modes[${k}] is '${modes[k]}', expected one of ${TREE_MODES.filter((x) => x !== 'BRANCH_MEMBER').join(', ')}`);
    mode[k] = m;
    if (m === LEAF_MODE) continue;
    for (const [ids, out] of [[trues, trueNext], [falses, falseNext]] as const) {
      const c = index.get(`${treeIds[k]}/${ids[k]}`);
      if (c === undefined) fail(node, `node ${nodeIds[k]} of tree ${treeIds[k]} branches to node ${ids[k]}, which the tree does not have`);
      out[k] = c;
      child.add(c);
    }
  }
  // Leaf weights: grouped per leaf, in attribute order.
  const perLeaf = new Map<number, number[]>();
  for (let w = 0; w < wIds.length; w++) {
    const k = index.get(`${wTree[w]}/${wNode[w]}`);
    if (k === undefined) fail(node, `${prefix}_nodeids[${w}] names node ${wNode[w]} of tree ${wTree[w]}, which does not exist`);
    if (mode[k] !== LEAF_MODE) fail(node, `${prefix}_nodeids[${w}] names node ${wNode[w]} of tree ${wTree[w]}, which is not a LEAF`);
    if (!(wIds[w]! >= 0 && wIds[w]! < nTargets)) fail(node, `${prefix}_ids[${w}] is ${wIds[w]}, outside 0..${nTargets - 1}`);
    (perLeaf.get(k) ?? perLeaf.set(k, []).get(k)!).push(w);
  }
  const weightTarget: number[] = [];
  const weightValue: number[] = [];
  for (let k = 0; k < n; k++) {
    if (mode[k] !== LEAF_MODE) continue;
    const ws = perLeaf.get(k) ?? [];
    trueNext[k] = weightTarget.length;
    falseNext[k] = ws.length;
    for (const w of ws) { weightTarget.push(wIds[w]!); weightValue.push(wVals[w]!); }
  }
  const roots = treeOrder.map((t) => {
    const r = [...Array(n).keys()].find((k) => treeIds[k] === t && !child.has(k));
    if (r === undefined) fail(node, `tree ${t} has no root (every node is some node's child)`);
    return r;
  });
  const rootArr = Int32Array.from(roots);
  const feature = Int32Array.from(features);
  for (let k = 0; k < n; k++) if (mode[k] !== LEAF_MODE && feature[k]! < 0) fail(node, `nodes_featureids[${k}] is negative`);
  const depth = checkTrees(node, mode, trueNext, falseNext, rootArr);
  return {
    feature, mode, value: Float64Array.from(values), trueNext, falseNext,
    missingTrue: Uint8Array.from(missing ?? features.map(() => 0), (v) => (v ? 1 : 0)),
    setStart: new Int32Array(n), setCount: new Int32Array(n), sets: new Float64Array(0),
    weightTarget: Int32Array.from(weightTarget), weightValue: Float64Array.from(weightValue),
    roots: rootArr, nTargets, maxFeature: Math.max(-1, ...features.filter((_, k) => mode[k] !== LEAF_MODE)), depth,
  };
}

/** Flattens TreeEnsemble's (ml opset 5) attributes: leaves become nodes after the branch nodes. */
function v5Tables(a: Raw, node: string): TreeTables {
  const features = nums(a, 'nodes_featureids')!;
  const splits = nums(a, 'nodes_splits')!;
  const modes = nums(a, 'nodes_modes')!;
  const trues = nums(a, 'nodes_truenodeids')!;
  const falses = nums(a, 'nodes_falsenodeids')!;
  const tl = nums(a, 'nodes_trueleafs')!;
  const fl = nums(a, 'nodes_falseleafs')!;
  const missing = nums(a, 'nodes_missing_value_tracks_true');
  const n = sameLength(node, { nodes_featureids: features, nodes_splits: splits, nodes_modes: modes, nodes_truenodeids: trues, nodes_falsenodeids: falses, nodes_trueleafs: tl, nodes_falseleafs: fl, nodes_missing_value_tracks_true: missing });
  const lt = nums(a, 'leaf_targetids')!;
  const lw = nums(a, 'leaf_weights')!;
  const nl = sameLength(node, { leaf_targetids: lt, leaf_weights: lw });
  const nTargets = a.n_targets as number;
  for (let l = 0; l < nl; l++) if (!(lt[l]! >= 0 && lt[l]! < nTargets)) fail(node, `leaf_targetids[${l}] is ${lt[l]}, outside 0..${nTargets - 1}`);
  const total = n + nl;
  const mode = new Uint8Array(total).fill(LEAF_MODE);
  const trueNext = new Int32Array(total);
  const falseNext = new Int32Array(total);
  for (let k = 0; k < n; k++) {
    if (!(modes[k]! >= 0 && modes[k]! <= 6)) fail(node, `nodes_modes[${k}] is ${modes[k]}, expected 0..6`);
    mode[k] = modes[k]!;
    for (const [ids, leaf, out] of [[trues, tl, trueNext], [falses, fl, falseNext]] as const) {
      const c = ids[k]!;
      if (!(c >= 0 && c < (leaf[k] ? nl : n))) fail(node, `node ${k} branches to ${leaf[k] ? 'leaf' : 'node'} ${c}, outside the ${leaf[k] ? nl : n} ${leaf[k] ? 'leaves' : 'nodes'}`);
      out[k] = leaf[k] ? n + c : c;
    }
  }
  for (let l = 0; l < nl; l++) { trueNext[n + l] = l; falseNext[n + l] = 1; }
  const rootIds = nums(a, 'tree_roots')!;
  const roots = Int32Array.from(rootIds, (r) => {
    if (!(r >= 0 && r < n)) fail(node, `tree_roots has ${r}, outside the ${n} nodes`);
    return tl[r] && fl[r] && trues[r] === falses[r] ? n + trues[r]! : r;
  });
  // Membership sets, NaN-terminated, one per BRANCH_MEMBER node in node order (as onnxruntime reads them).
  const members = nums(a, 'membership_values') ?? [];
  const nMember = modes.filter((m) => m === 6).length;
  if (nMember > 0 && members.filter((v) => Number.isNaN(v)).length < nMember) fail(node, `membership_values must hold one NaN-terminated set per BRANCH_MEMBER node (${nMember})`);
  const setStart = new Int32Array(total);
  const setCount = new Int32Array(total);
  const sets: number[] = [];
  let at = 0;
  for (let k = 0; k < n; k++) {
    if (mode[k] !== 6) continue;
    setStart[k] = sets.length;
    while (at < members.length && !Number.isNaN(members[at]!)) sets.push(members[at++]!);
    at++;
    setCount[k] = sets.length - setStart[k]!;
  }
  const depth = checkTrees(node, mode, trueNext, falseNext, roots);
  const feature = new Int32Array(total);
  feature.set(features);
  const value = new Float64Array(total);
  value.set(splits);
  const mt = new Uint8Array(total);
  if (missing) mt.set(missing.map((v) => (v ? 1 : 0)));
  return {
    feature, mode, value, trueNext, falseNext, missingTrue: mt, setStart, setCount, sets: Float64Array.from(sets),
    weightTarget: Int32Array.from(lt), weightValue: Float64Array.from(lw), roots, nTargets, maxFeature: Math.max(-1, ...features), depth,
  };
}

const tableCache = new WeakMap<object, { tables: TreeTables; fin: TreeFinalize }>();

/** Number of classes of a classifier node (typed error for string labels, not supported yet). */
function classLabels(a: Raw, node: string): number[] {
  if (a.classlabels_strings !== undefined) fail(node, 'string class labels (classlabels_strings) are not supported yet; use classlabels_int64s');
  const l = nums(a, 'classlabels_int64s');
  if (!l || l.length === 0) fail(node, 'requires classlabels_int64s');
  return l;
}

/** Reads one tree-ensemble op's attributes into the shared layout. */
export type TreeParser = (attrs: Raw, node: string) => { tables: TreeTables; fin: TreeFinalize };

/** TreeEnsemble's (ml opset 5) attributes. */
export const parseTreeEnsemble: TreeParser = (attrs, node) => {
  const tables = v5Tables(attrs, node);
  const post = attrs.post_transform as number;
  const agg = attrs.aggregate_function as number;
  if (!(post >= 0 && post <= 4)) fail(node, `post_transform ${post} is not one of 0..4`);
  if (!(agg >= 0 && agg <= 3)) fail(node, `aggregate_function ${agg} is not one of 0..3`);
  return { tables, fin: { kind: 'regressor', aggregate: AGGREGATES[agg]!, post: POST_TRANSFORMS[post]!, nTrees: tables.roots.length, nTargets: tables.nTargets, base: [], labels: [], binaryCase: false, allPositive: false } };
};

/** TreeEnsembleClassifier's attributes. */
export const parseTreeClassifier: TreeParser = (attrs, node) => {
  const labels = classLabels(attrs, node);
  const tables = legacyTables(attrs, 'class', labels.length, node);
  const base = floatsOrTensor(attrs, 'base_values', node) ?? [];
  if (base.length !== 0 && base.length !== labels.length && !(labels.length === 2 && base.length === 1)) fail(node, `base_values has ${base.length} values for ${labels.length} classes`);
  const ids = new Set(tables.weightTarget);
  return {
    tables,
    fin: {
      kind: 'classifier', aggregate: 'SUM', post: attrs.post_transform as PostTransform, nTrees: tables.roots.length, nTargets: labels.length, base, labels,
      binaryCase: labels.length === 2 && ids.size === 1, allPositive: tables.weightValue.every((w) => w >= 0),
    },
  };
};

/** TreeEnsembleRegressor's attributes. */
export const parseTreeRegressor: TreeParser = (attrs, node) => {
  const nT = attrs.n_targets as number | undefined;
  const ids = nums(attrs, 'target_ids') ?? [];
  const nTargets = nT ?? Math.max(0, ...ids) + 1;
  if (!(nTargets >= 1)) fail(node, `n_targets must be ≥ 1, got ${nTargets}`);
  const tables = legacyTables(attrs, 'target', nTargets, node);
  const base = floatsOrTensor(attrs, 'base_values', node) ?? [];
  if (base.length !== 0 && base.length !== nTargets) fail(node, `base_values has ${base.length} values for ${nTargets} targets`);
  return { tables, fin: { kind: 'regressor', aggregate: attrs.aggregate_function as Aggregate, post: attrs.post_transform as PostTransform, nTrees: tables.roots.length, nTargets, base, labels: [], binaryCase: false, allPositive: false } };
};

/**
 * The flattened trees and the finalization of a tree-ensemble node read by `parse`
 * from its resolved attributes; typed errors naming the node for inconsistent
 * attributes. Cached per attribute object.
 */
export function treeEnsembleOf(parse: TreeParser, attrs: Raw, node: string): { tables: TreeTables; fin: TreeFinalize } {
  const hit = tableCache.get(attrs);
  if (hit) return hit;
  const r = parse(attrs, node);
  tableCache.set(attrs, r);
  return r;
}

/** onnxruntime's logistic: 1/(1+e^-|x|), mirrored for x < 0. */
export function logistic(x: number): number {
  const v = 1 / (1 + Math.exp(-Math.abs(x)));
  return x < 0 ? 1 - v : v;
}

/** onnxruntime's probit: √2·erf⁻¹(2p − 1) with its closed-form erf⁻¹ approximation. */
export function probit(p: number): number {
  const x = 2 * p - 1;
  const sgn = x < 0 ? -1 : 1;
  const y = (1 - x) * (1 + x);
  const l = Math.log(y);
  const v = 2 / (3.14159 * 0.147) + 0.5 * l;
  const v2 = (1 / 0.147) * l;
  const v3 = -v + Math.sqrt(v * v - v2);
  return 1.41421356 * sgn * Math.sqrt(v3 - v);
}

/** Applies a post transform to a row of two or more scores (in place). */
export function transformRow(s: number[], post: PostTransform): void {
  if (post === 'LOGISTIC') for (let i = 0; i < s.length; i++) s[i] = logistic(s[i]!);
  else if (post === 'PROBIT') for (let i = 0; i < s.length; i++) s[i] = probit(s[i]!);
  else if (post === 'SOFTMAX' || post === 'SOFTMAX_ZERO') {
    const m = Math.max(...s);
    const zero = post === 'SOFTMAX_ZERO';
    let sum = 0;
    for (let i = 0; i < s.length; i++) {
      if (zero && Math.abs(s[i]!) <= 1e-7) s[i] = s[i]! * Math.exp(-m);
      else { s[i] = Math.exp(s[i]! - m); sum += s[i]!; }
    }
    for (let i = 0; i < s.length; i++) s[i] = s[i]! / sum;
  }
}

/**
 * A classifier row's outputs from its per-class sums and has-score flags (onnxruntime's
 * rules): more than two classes add the base values, label the best scored class and
 * transform all scores; two classes follow the binary rules — a single score (no
 * weight for class 1) becomes [1−s, s] when every weight is ≥ 0, else [−s, s] or
 * [logistic(−s), logistic(s)] under LOGISTIC.
 */
export function classifierFinalize(fin: TreeFinalize, s: number[], has: boolean[]): { label: number; z: number[] } {
  if (fin.nTargets > 2) {
    fin.base.forEach((b, k) => { s[k] = s[k]! + b; has[k] = true; });
    let best = -1;
    for (let k = 0; k < s.length; k++) if (has[k] && (best < 0 || s[k]! > s[best]!)) best = k;
    transformRow(s, fin.post);
    return { label: fin.labels[Math.max(best, 0)]!, z: s };
  }
  let s0 = s[0]!, s1 = s[1]!;
  let size = 2;
  let wa = -1;
  const b = fin.base;
  if (b.length === 2) {
    if (has[1]) { s1 = b[1]! + s0; s0 = -s1; } else { s1 += b[1]!; s0 += b[0]!; }
  } else if (b.length === 1) {
    s0 += b[0]!;
    if (!has[1]) size = 1;
  } else {
    wa = 3;
    if (!has[1]) size = 1;
  }
  const pos = size === 2 && has[1] ? s1 : has[0] ? s0 : 0;
  let label: number;
  if (fin.binaryCase) {
    if (fin.allPositive) { wa = pos > 0.5 ? 0 : 1; label = fin.labels[pos > 0.5 ? 1 : 0]!; } else { wa = pos > 0 ? 2 : 3; label = fin.labels[pos > 0 ? 1 : 0]!; }
  } else label = pos > 0 ? 1 : 0;
  if (size === 2) { const z = [s0, s1]; transformRow(z, fin.post); return { label, z }; }
  if (fin.post === 'PROBIT') return { label, z: [probit(s0), 0] };
  if (wa === 0 || wa === 1) return { label, z: [1 - s0, s0] };
  if (wa === 2 || wa === 3) return { label, z: fin.post === 'LOGISTIC' ? [logistic(-s0), logistic(s0)] : [-s0, s0] };
  return { label, z: [s0, 0] };
}

/** A regressor row's outputs from its per-target aggregates (base values added, then the post transform; one target: PROBIT only). */
export function regressorFinalize(fin: TreeFinalize, s: number[]): number[] {
  for (let k = 0; k < s.length; k++) s[k] = (fin.aggregate === 'AVERAGE' ? s[k]! / fin.nTrees : s[k]!) + (fin.base[k] ?? 0);
  if (s.length === 1) return fin.post === 'PROBIT' ? [probit(s[0]!)] : s;
  transformRow(s, fin.post);
  return s;
}

/** True where a branch node sends `x` the true way. */
export function branchTrue(t: TreeTables, k: number, x: number): boolean {
  const v = t.value[k]!;
  const m = t.mode[k]!;
  let c: boolean;
  switch (m) {
    case 0: c = x <= v; break;
    case 1: c = x < v; break;
    case 2: c = x >= v; break;
    case 3: c = x > v; break;
    case 4: c = x === v; break;
    case 5: c = x !== v; break;
    default: {
      c = false;
      for (let j = t.setStart[k]!; j < t.setStart[k]! + t.setCount[k]!; j++) if (t.sets[j] === x) c = true;
    }
  }
  return c || (t.missingTrue[k] === 1 && Number.isNaN(x));
}

/** Per-row, per-target aggregates (and has-score flags) of a flattened ensemble over rows of `row(i, f)`. */
export function ensembleScores(t: TreeTables, fin: TreeFinalize, n: number, row: (i: number, f: number) => number, round: (v: number) => number): { s: Float64Array; has: Uint8Array } {
  const T = t.nTargets;
  const s = new Float64Array(n * T);
  const has = new Uint8Array(n * T);
  for (let i = 0; i < n; i++) {
    for (const r of t.roots) {
      let k = r;
      while (t.mode[k] !== LEAF_MODE) k = branchTrue(t, k, round(row(i, t.feature[k]!))) ? t.trueNext[k]! : t.falseNext[k]!;
      for (let w = t.trueNext[k]!; w < t.trueNext[k]! + t.falseNext[k]!; w++) {
        const o = i * T + t.weightTarget[w]!;
        const v = t.weightValue[w]!;
        if (fin.aggregate === 'MIN') s[o] = has[o] ? Math.min(s[o]!, v) : v;
        else if (fin.aggregate === 'MAX') s[o] = has[o] ? Math.max(s[o]!, v) : v;
        else s[o] = s[o]! + v;
        has[o] = 1;
      }
    }
  }
  return { s, has };
}

function inputRows(x: InferInput, node: string): { n: number | string; f: number | string } {
  expectDType(x.dtype, ML_INPUTS, node, 'X');
  if (x.shape.length === 1) return { n: 1, f: x.shape[0]! };
  if (x.shape.length !== 2) throw new ShapeError(`${node}: X must be [N, F] or [F], got rank ${x.shape.length}`, node);
  return { n: x.shape[0]!, f: x.shape[1]! };
}

function checkFeatures(t: TreeTables, f: number | string, node: string): void {
  if (typeof f === 'number' && t.maxFeature >= f) throw new ShapeError(`${node}: a tree reads feature ${t.maxFeature}, but X has ${f} features`, node);
}

function runEnsemble(parse: TreeParser, x: Tensor, attrs: Raw, node: string): { scores: Float64Array; labels?: Float64Array; n: number; T: number } {
  const { tables, fin } = treeEnsembleOf(parse, attrs, node);
  const F = x.shape.length === 1 ? x.shape[0]! : x.shape[1]!;
  const n = x.shape.length === 1 ? 1 : x.shape[0]!;
  checkFeatures(tables, F, node);
  const round = x.dtype === 'float64' ? (v: number) => v : Math.fround;
  const { s, has } = ensembleScores(tables, fin, n, (i, f) => Number(x.data[i * F + f]), round);
  const T = fin.nTargets;
  const scores = new Float64Array(n * T);
  const labels = fin.kind === 'classifier' ? new Float64Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const row = Array.from(s.subarray(i * T, (i + 1) * T));
    if (labels) {
      const r = classifierFinalize(fin, row, Array.from(has.subarray(i * T, (i + 1) * T), (h) => h === 1));
      labels[i] = r.label;
      scores.set(r.z, i * T);
    } else scores.set(regressorFinalize(fin, row), i * T);
  }
  return { scores, ...(labels ? { labels } : {}), n, T };
}

const legacyNodeAttrs = {
  nodes_treeids: attr.optInts(), nodes_nodeids: attr.optInts(), nodes_featureids: attr.optInts(), nodes_modes: attr.optStrings(),
  nodes_values: attr.optFloats(), nodes_values_as_tensor: attr.optTensor(), nodes_hitrates: attr.optFloats(), nodes_hitrates_as_tensor: attr.optTensor(),
  nodes_truenodeids: attr.optInts(), nodes_falsenodeids: attr.optInts(), nodes_missing_value_tracks_true: attr.optInts(),
  base_values: attr.optFloats(), base_values_as_tensor: attr.optTensor(),
  post_transform: attr.string<PostTransform>('NONE', POST_TRANSFORMS),
};

/** TreeEnsembleRegressor (ai.onnx.ml 1–3): Y[N, n_targets] from the aggregated leaf weights. */
export const TreeEnsembleRegressor = defineOp({
  name: 'TreeEnsembleRegressor',
  domain: ML_DOMAIN,
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {
    ...legacyNodeAttrs,
    target_treeids: attr.optInts(), target_nodeids: attr.optInts(), target_ids: attr.optInts(), target_weights: attr.optFloats(), target_weights_as_tensor: attr.optTensor(),
    n_targets: attr.optInt(), aggregate_function: attr.string<Aggregate>('SUM', AGGREGATES),
  },
  category: 'opaque',
  doc: 'Tree ensemble regressor (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    const { n, f } = inputRows(x!, ctx.node);
    const { tables } = treeEnsembleOf(parseTreeRegressor, ctx.attrs, ctx.node);
    checkFeatures(tables, f, ctx.node);
    return [{ dtype: 'float32', shape: [n, tables.nTargets] }];
  },
  cpu([x], ctx) {
    const r = runEnsemble(parseTreeRegressor, x!, ctx.attrs, ctx.node);
    return [Tensor.from('float32', [r.n, r.T], r.scores)];
  },
});

/** TreeEnsembleClassifier (ai.onnx.ml 1–3): labels Y[N] (int64) and scores Z[N, classes]. */
export const TreeEnsembleClassifier = defineOp({
  name: 'TreeEnsembleClassifier',
  domain: ML_DOMAIN,
  inputs: ['X'],
  outputs: ['Y', 'Z'],
  multi: true,
  attrs: {
    ...legacyNodeAttrs,
    class_treeids: attr.optInts(), class_nodeids: attr.optInts(), class_ids: attr.optInts(), class_weights: attr.optFloats(), class_weights_as_tensor: attr.optTensor(),
    classlabels_int64s: attr.optInts(), classlabels_strings: attr.optStrings(),
  },
  category: 'opaque',
  doc: 'Tree ensemble classifier (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    const { n, f } = inputRows(x!, ctx.node);
    const { tables } = treeEnsembleOf(parseTreeClassifier, ctx.attrs, ctx.node);
    checkFeatures(tables, f, ctx.node);
    return [{ dtype: 'int64', shape: [n] }, { dtype: 'float32', shape: [n, tables.nTargets] }];
  },
  cpu([x], ctx) {
    const r = runEnsemble(parseTreeClassifier, x!, ctx.attrs, ctx.node);
    return [Tensor.from('int64', [r.n], r.labels!), Tensor.from('float32', [r.n, r.T], r.scores)];
  },
});

/** TreeEnsemble (ai.onnx.ml 5): Y[N, n_targets] of X's type. */
export const TreeEnsemble = defineOp({
  name: 'TreeEnsemble',
  domain: ML_DOMAIN,
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {
    aggregate_function: attr.int(1), post_transform: attr.int(0), n_targets: attr.int(), tree_roots: attr.ints(),
    nodes_featureids: attr.ints(), nodes_splits: attr.tensor(), nodes_modes: attr.tensor(), nodes_truenodeids: attr.ints(), nodes_falsenodeids: attr.ints(),
    nodes_trueleafs: attr.ints(), nodes_falseleafs: attr.ints(), nodes_hitrates: attr.optTensor(), nodes_missing_value_tracks_true: attr.optInts(),
    leaf_targetids: attr.ints(), leaf_weights: attr.tensor(), membership_values: attr.optTensor(),
  },
  category: 'opaque',
  doc: 'Tree ensemble (ONNX-ML 5).',
  infer([x], ctx): ValueType[] {
    const { n, f } = inputRows(x!, ctx.node);
    expectDType(x!.dtype, ['float32', 'float64', 'float16'], ctx.node, 'X');
    const { tables } = treeEnsembleOf(parseTreeEnsemble, ctx.attrs, ctx.node);
    checkFeatures(tables, f, ctx.node);
    return [{ dtype: x!.dtype, shape: [n, tables.nTargets] }];
  },
  cpu([x], ctx) {
    const r = runEnsemble(parseTreeEnsemble, x!, ctx.attrs, ctx.node);
    return [Tensor.from(x!.dtype, [r.n, r.T], r.scores)];
  },
});

/** The tree-ensemble ops (by name). */
export const mlTreeOps = { TreeEnsembleRegressor, TreeEnsembleClassifier, TreeEnsemble } as const;
