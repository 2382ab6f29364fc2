/**
 * Op family: the ONNX-ML (ai.onnx.ml) models and feature transforms other than the
 * tree ensembles (src/graph/ops/ml-tree.ts): LinearRegressor, LinearClassifier,
 * Scaler, Normalizer, Binarizer, ArrayFeatureExtractor, Imputer, OneHotEncoder
 * (int64 categories), FeatureVectorizer, and ZipMap (maps are not values Kiln has:
 * a typed error naming the node). Semantics follow onnxruntime's CPU kernels; rows
 * are the last axis of a [N, C] (or [C]) input.
 */
import { attr } from '../attrs.js';
import { expectDType } from '../dtype.js';
import { AttributeError, DTypeError, InputError, ShapeError } from '../errors.js';
import { E } from '../expr.js';
import { defineOp, type InferInput, type ValueType } from '../op.js';
import { Tensor } from '../tensor.js';
import { F } from './scalar-fns.js';
import { logistic, ML_DOMAIN, ML_INPUTS, POST_TRANSFORMS, probit, transformRow, type PostTransform } from './ml-tree.js';

function fail(node: string, msg: string): never {
  throw new AttributeError(`${node}: ${msg}`, node);
}

/** N and C of a [N, C] or [C] input (typed error otherwise). */
export function mlRows(x: InferInput | Tensor, node: string, what = 'X'): { n: number | string; c: number | string } {
  if (x.shape.length === 1) return { n: 1, c: x.shape[0]! };
  if (x.shape.length !== 2) throw new ShapeError(`${node}: ${what} must be [N, C] or [C], got rank ${x.shape.length}`, node);
  return { n: x.shape[0]!, c: x.shape[1]! };
}

/** A per-feature table of length 1 or C (typed error otherwise); returns it spread to C where C is known. */
export function perFeature(vals: readonly number[], c: number | string, node: string, name: string): readonly number[] {
  if (typeof c !== 'number') return vals;
  if (vals.length === c) return vals;
  if (vals.length === 1) return Array(c).fill(vals[0]);
  fail(node, `${name} has ${vals.length} values, expected 1 or ${c} (one per feature)`);
}

/** Scaler: Y = (X − offset) · scale per feature (float32). */
export const Scaler = defineOp({
  name: 'Scaler', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y'], category: 'opaque',
  attrs: { offset: attr.optFloats(), scale: attr.optFloats() },
  doc: 'Per-feature affine scaling (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    const c = x!.shape.length ? x!.shape[x!.shape.length - 1]! : 1;
    perFeature(ctx.attrs.offset ?? [0], c, ctx.node, 'offset');
    perFeature(ctx.attrs.scale ?? [1], c, ctx.node, 'scale');
    return [{ dtype: 'float32', shape: x!.shape }];
  },
  cpu([x], ctx) {
    const c = x!.shape.length ? x!.shape[x!.shape.length - 1]! : 1;
    const off = perFeature(ctx.attrs.offset ?? [0], c, ctx.node, 'offset');
    const sc = perFeature(ctx.attrs.scale ?? [1], c, ctx.node, 'scale');
    return [Tensor.from('float32', x!.shape, Array.from(x!.data, (v, i) => (Number(v) - Math.fround(off[i % c]!)) * Math.fround(sc[i % c]!)))];
  },
});

/** The norms of Normalizer. */
export const NORMS = ['MAX', 'L1', 'L2'] as const;

/** Normalizer: each row divided by its MAX, L1 or L2 norm (a zero norm leaves the row as is). */
export const Normalizer = defineOp({
  name: 'Normalizer', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y'], category: 'opaque',
  attrs: { norm: attr.string<(typeof NORMS)[number]>('MAX', NORMS) },
  doc: 'Row normalization (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    mlRows(x!, ctx.node);
    return [{ dtype: 'float32', shape: x!.shape }];
  },
  cpu([x], ctx) {
    const { n, c } = mlRows(x!, ctx.node) as { n: number; c: number };
    const y = new Float32Array(n * c);
    for (let r = 0; r < n; r++) {
      const row = Array.from(x!.data.subarray(r * c, (r + 1) * c), (v) => Math.fround(Number(v)));
      const norm = ctx.attrs.norm === 'MAX' ? Math.max(...row) : ctx.attrs.norm === 'L1' ? row.reduce((s, v) => s + Math.abs(v), 0) : Math.sqrt(row.reduce((s, v) => s + v * v, 0));
      row.forEach((v, k) => (y[r * c + k] = norm !== 0 ? v / norm : v));
    }
    return [new Tensor('float32', x!.shape, y)];
  },
});

/** Binarizer: 1 where X > threshold, else 0 (X's type). */
export const Binarizer = defineOp({
  name: 'Binarizer', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y'], category: 'elementwise',
  attrs: { threshold: attr.float(0) },
  doc: 'X > threshold ? 1 : 0 (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  expr: ([x], a, out) => E.call(F.where, [E.call(F.gt, [x!, E.const(a.threshold, x!.dtype)], 'bool'), E.const(1, out), E.const(0, out)], out),
});

/** ArrayFeatureExtractor: Y = X[..., indices] (a 1-D X gives [1, len]). */
export const ArrayFeatureExtractor = defineOp({
  name: 'ArrayFeatureExtractor', domain: ML_DOMAIN, inputs: ['X', 'Y'], outputs: ['Z'], category: 'opaque',
  attrs: {},
  doc: 'Selects elements of the last axis (ONNX-ML).',
  infer([x, idx], ctx): ValueType[] {
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    if (idx!.dtype !== 'int64') throw new DTypeError(`${ctx.node}: ArrayFeatureExtractor indices must be int64, got ${idx!.dtype}`, ctx.node);
    if (x!.shape.length === 0) throw new ShapeError(`${ctx.node}: X must have rank ≥ 1`, ctx.node);
    const len = idx!.shape.every((d) => typeof d === 'number') ? idx!.shape.reduce<number>((p, d) => p * (d as number), 1) : 'n_indices';
    return [{ dtype: x!.dtype, shape: x!.shape.length === 1 ? [1, len] : [...x!.shape.slice(0, -1), len] }];
  },
  cpu([x, idx], ctx) {
    const c = x!.shape[x!.shape.length - 1]!;
    const ids = Array.from(idx!.data, Number);
    for (const k of ids) if (!(k >= 0 && k < c)) throw new InputError(`${ctx.node}: ArrayFeatureExtractor index ${k} is outside 0..${c - 1}`, ctx.node);
    const outer = x!.size / c;
    const shape = x!.shape.length === 1 ? [1, ids.length] : [...x!.shape.slice(0, -1), ids.length];
    const out = new Tensor(x!.dtype, shape);
    for (let o = 0; o < outer; o++) ids.forEach((k, j) => (out.data[o * ids.length + j] = x!.data[o * c + k]!));
    return [out];
  },
});

/** Imputer: elements equal to the replaced value (NaN: NaN elements) become the imputed value of their feature. */
export const Imputer = defineOp({
  name: 'Imputer', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y'], category: 'opaque',
  attrs: { imputed_value_floats: attr.optFloats(), imputed_value_int64s: attr.optInts(), replaced_value_float: attr.float(0), replaced_value_int64: attr.int(0) },
  doc: 'Replaces missing values per feature (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ['float32', 'float64', 'int64', 'int32'], ctx.node, 'X');
    const ints = x!.dtype === 'int64' || x!.dtype === 'int32';
    const table = ints ? ctx.attrs.imputed_value_int64s : ctx.attrs.imputed_value_floats;
    if (!table || table.length === 0) fail(ctx.node, `Imputer on ${x!.dtype} needs ${ints ? 'imputed_value_int64s' : 'imputed_value_floats'}`);
    perFeature(table, x!.shape.length ? x!.shape[x!.shape.length - 1]! : 1, ctx.node, ints ? 'imputed_value_int64s' : 'imputed_value_floats');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x], ctx) {
    const ints = x!.dtype === 'int64' || x!.dtype === 'int32';
    const c = x!.shape.length ? x!.shape[x!.shape.length - 1]! : 1;
    const table = perFeature((ints ? ctx.attrs.imputed_value_int64s : ctx.attrs.imputed_value_floats)!, c, ctx.node, 'imputed values');
    const rep = ints ? ctx.attrs.replaced_value_int64 : Math.fround(ctx.attrs.replaced_value_float);
    const out = new Tensor(x!.dtype, x!.shape);
    for (let i = 0; i < x!.size; i++) {
      const v = x!.data[i]!;
      out.data[i] = (Number.isNaN(rep) ? Number.isNaN(v) : v === rep) ? table[i % c]! : v;
    }
    return [out];
  },
});

/** OneHotEncoder (int64 categories): Y[..., k] = 1 where X equals cats_int64s[k]; an unknown value is all zeros when `zeros` = 1, an error otherwise. */
export const OneHotEncoder = defineOp({
  name: 'OneHotEncoder', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y'], category: 'opaque',
  attrs: { cats_int64s: attr.optInts(), cats_strings: attr.optStrings(), zeros: attr.int(1) },
  doc: 'One-hot encoding against a category list (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    if (ctx.attrs.cats_strings !== undefined) fail(ctx.node, 'string categories (cats_strings) are not supported yet; use cats_int64s');
    const cats = ctx.attrs.cats_int64s;
    if (!cats || cats.length === 0) fail(ctx.node, 'OneHotEncoder requires cats_int64s');
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    return [{ dtype: 'float32', shape: [...x!.shape, cats.length] }];
  },
  cpu([x], ctx) {
    const cats = ctx.attrs.cats_int64s!;
    const index = new Map(cats.map((v, k) => [v, k]));
    const out = new Tensor('float32', [...x!.shape, cats.length]);
    for (let i = 0; i < x!.size; i++) {
      const k = index.get(Number(x!.data[i]));
      if (k === undefined) {
        if (ctx.attrs.zeros === 0) throw new InputError(`${ctx.node}: OneHotEncoder value ${x!.data[i]} is not a category and zeros is 0`, ctx.node);
        continue;
      }
      out.data[i * cats.length + k] = 1;
    }
    return [out];
  },
});

/** FeatureVectorizer: the inputs' rows ([N, C_i], or [C_i]) concatenated, each cut or zero-padded to inputdimensions[i] (float32). */
export const FeatureVectorizer = defineOp({
  name: 'FeatureVectorizer', domain: ML_DOMAIN, inputs: ['...X'], outputs: ['Y'], category: 'opaque',
  attrs: { inputdimensions: attr.ints() },
  doc: 'Concatenates feature rows (ONNX-ML).',
  infer(ins, ctx): ValueType[] {
    const dims = ctx.attrs.inputdimensions;
    if (dims.length !== ins.length) fail(ctx.node, `inputdimensions has ${dims.length} entries for ${ins.length} inputs`);
    let n: number | string = 1;
    ins.forEach((x, i) => { expectDType(x!.dtype, ML_INPUTS, ctx.node, `X${i}`); if (x!.shape.length >= 2) n = x!.shape[0]!; });
    return [{ dtype: 'float32', shape: [n, dims.reduce((s, d) => s + d, 0)] }];
  },
  cpu(ins, ctx) {
    const dims = ctx.attrs.inputdimensions;
    const total = dims.reduce((s, d) => s + d, 0);
    const n = Math.max(...ins.map((x) => (x!.shape.length >= 2 ? x!.shape[0]! : 1)));
    const out = new Tensor('float32', [n, total]);
    let at = 0;
    ins.forEach((x, i) => {
      const c = x!.shape.length ? x!.size / (x!.shape.length >= 2 ? x!.shape[0]! : 1) : 1;
      for (let r = 0; r < n; r++) for (let k = 0; k < Math.min(c, dims[i]!); k++) out.data[r * total + at + k] = Number(x!.data[r * c + k]);
      at += dims[i]!;
    });
    return [out];
  },
});

/** ZipMap: outputs a sequence of maps, a value kind Kiln does not have — a typed error naming the node. */
export const ZipMap = defineOp({
  name: 'ZipMap', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Z'], category: 'opaque',
  attrs: { classlabels_int64s: attr.optInts(), classlabels_strings: attr.optStrings() },
  doc: 'Scores to a sequence of maps (ONNX-ML): not supported (no map values).',
  infer(_ins, ctx): ValueType[] {
    throw new DTypeError(`${ctx.node}: ZipMap outputs a sequence of maps, and Kiln has no map values; use the classifier's score tensor instead`, ctx.node);
  },
});

/** Rows × coefficientsᵀ + intercepts, in float64, for the linear models. */
function linearScores(x: Tensor, coef: readonly number[], icpt: readonly number[] | undefined, targets: number, node: string): { s: Float64Array; n: number } {
  const { n, c } = mlRows(x, node) as { n: number; c: number };
  const s = new Float64Array(n * targets);
  for (let r = 0; r < n; r++) {
    for (let t = 0; t < targets; t++) {
      let acc = icpt?.[t] !== undefined ? Math.fround(icpt[t]!) : 0;
      for (let k = 0; k < c; k++) acc += Math.fround(Number(x.data[r * c + k])) * Math.fround(coef[t * c + k]!);
      s[r * targets + t] = acc;
    }
  }
  return { s, n };
}

function checkCoefficients(coef: readonly number[], icpt: readonly number[] | undefined, targets: number, c: number | string, node: string): void {
  if (typeof c === 'number' && coef.length !== targets * c) fail(node, `coefficients has ${coef.length} values, expected ${targets} × ${c}`);
  if (icpt && icpt.length !== 0 && icpt.length !== targets) fail(node, `intercepts has ${icpt.length} values, expected ${targets}`);
}

/** LinearRegressor: Y[N, targets] = X·coefficientsᵀ + intercepts, then the post transform (one target: PROBIT only). */
export const LinearRegressor = defineOp({
  name: 'LinearRegressor', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y'], category: 'opaque',
  attrs: { coefficients: attr.optFloats(), intercepts: attr.optFloats(), targets: attr.int(1), post_transform: attr.string<PostTransform>('NONE', POST_TRANSFORMS) },
  doc: 'Linear regression (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    const { n, c } = mlRows(x!, ctx.node);
    checkCoefficients(ctx.attrs.coefficients ?? [], ctx.attrs.intercepts, ctx.attrs.targets, c, ctx.node);
    return [{ dtype: 'float32', shape: [n, ctx.attrs.targets] }];
  },
  cpu([x], ctx) {
    const T = ctx.attrs.targets;
    const { s, n } = linearScores(x!, ctx.attrs.coefficients ?? [], ctx.attrs.intercepts, T, ctx.node);
    const y = new Float32Array(n * T);
    for (let r = 0; r < n; r++) {
      const row = Array.from(s.subarray(r * T, (r + 1) * T));
      if (T === 1) row[0] = ctx.attrs.post_transform === 'PROBIT' ? probit(row[0]!) : row[0]!;
      else transformRow(row, ctx.attrs.post_transform);
      y.set(row, r * T);
    }
    return [new Tensor('float32', [n, T], y)];
  },
});

/**
 * The outputs of a LinearClassifier row (onnxruntime's rules): several classes take the
 * arg-max label and transform all scores; one score row (two labels) takes label 1 when
 * the score is > 0 and writes [1 − p, p] (p the score, transformed unless NONE).
 */
export function linearClassifierRow(s: number[], labels: readonly number[], post: PostTransform): { label: number; z: number[] } {
  if (s.length === 1) {
    const v = s[0]!;
    const label = labels.length === 2 ? labels[v > 0 ? 1 : 0]! : v > 0 ? 1 : 0;
    const p = post === 'NONE' ? v : post === 'PROBIT' ? probit(v) : logistic(v);
    return { label, z: [1 - p, p] };
  }
  let best = 0;
  for (let k = 1; k < s.length; k++) if (s[k]! > s[best]!) best = k;
  transformRow(s, post);
  return { label: labels[best]!, z: s };
}

/** LinearClassifier: scores X·coefficientsᵀ + intercepts, labels by arg-max (int64 classlabels_ints). */
export const LinearClassifier = defineOp({
  name: 'LinearClassifier', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y', 'Z'], multi: true, category: 'opaque',
  attrs: { coefficients: attr.floats(), intercepts: attr.optFloats(), classlabels_ints: attr.optInts(), classlabels_strings: attr.optStrings(), multi_class: attr.int(0), post_transform: attr.string<PostTransform>('NONE', POST_TRANSFORMS) },
  doc: 'Linear classification (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    if (ctx.attrs.classlabels_strings !== undefined) fail(ctx.node, 'string class labels (classlabels_strings) are not supported yet; use classlabels_ints');
    const labels = ctx.attrs.classlabels_ints;
    if (!labels || labels.length === 0) fail(ctx.node, 'LinearClassifier requires classlabels_ints');
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    const { n, c } = mlRows(x!, ctx.node);
    const rows = typeof c === 'number' && c > 0 ? ctx.attrs.coefficients.length / c : labels.length;
    if (!Number.isInteger(rows) || (rows !== labels.length && !(rows === 1 && labels.length === 2))) fail(ctx.node, `coefficients has ${ctx.attrs.coefficients.length} values: expected ${labels.length} × ${c} (or 1 × ${c} for two classes)`);
    checkCoefficients(ctx.attrs.coefficients, ctx.attrs.intercepts, rows, c, ctx.node);
    return [{ dtype: 'int64', shape: [n] }, { dtype: 'float32', shape: [n, rows === 1 ? 2 : rows] }];
  },
  cpu([x], ctx) {
    const { c } = mlRows(x!, ctx.node) as { c: number };
    const T = ctx.attrs.coefficients.length / c;
    const { s, n } = linearScores(x!, ctx.attrs.coefficients, ctx.attrs.intercepts, T, ctx.node);
    const W = T === 1 ? 2 : T;
    const y = new Float64Array(n);
    const z = new Float32Array(n * W);
    for (let r = 0; r < n; r++) {
      const o = linearClassifierRow(Array.from(s.subarray(r * T, (r + 1) * T)), ctx.attrs.classlabels_ints!, ctx.attrs.post_transform);
      y[r] = o.label;
      z.set(o.z, r * W);
    }
    return [new Tensor('int64', [n], y), new Tensor('float32', [n, W], z)];
  },
});


/** SVM kernel types. */
export const SVM_KERNELS = ['LINEAR', 'POLY', 'RBF', 'SIGMOID'] as const;

/** The kernel K(x, sv) of an SVM over a row and a support vector (float64): linear x·v, poly (γ·x·v + c0)^d, rbf e^(−γ‖x − v‖²), sigmoid tanh(γ·x·v + c0). */
export function svmKernel(kind: (typeof SVM_KERNELS)[number], params: readonly number[], x: ArrayLike<number>, xo: number, v: ArrayLike<number>, vo: number, c: number): number {
  const [gamma = 0, coef0 = 0, degree = 0] = params.map(Math.fround);
  if (kind === 'RBF') {
    let d = 0;
    for (let k = 0; k < c; k++) { const t = x[xo + k]! - v[vo + k]!; d += t * t; }
    return Math.exp(-gamma * d);
  }
  let dot = 0;
  for (let k = 0; k < c; k++) dot += x[xo + k]! * v[vo + k]!;
  if (kind === 'LINEAR') return dot;
  if (kind === 'POLY') return (gamma * dot + coef0) ** degree;
  return Math.tanh(gamma * dot + coef0);
}

/** SVMRegressor: Σ coefficients·K(x, support vector) + rho (no support vectors: a linear model over the coefficients); one_class gives ±1. */
export const SVMRegressor = defineOp({
  name: 'SVMRegressor', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y'], category: 'opaque',
  attrs: {
    coefficients: attr.optFloats(), kernel_params: attr.optFloats(), kernel_type: attr.string<(typeof SVM_KERNELS)[number]>('LINEAR', SVM_KERNELS),
    n_supports: attr.int(0), one_class: attr.int(0), post_transform: attr.string<PostTransform>('NONE', POST_TRANSFORMS), rho: attr.optFloats(), support_vectors: attr.optFloats(),
  },
  doc: 'Support vector regression (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    const { n, c } = mlRows(x!, ctx.node);
    const a = ctx.attrs;
    const coef = a.coefficients ?? [];
    if (typeof c === 'number') {
      if (a.n_supports > 0 && (a.support_vectors ?? []).length !== a.n_supports * c) fail(ctx.node, `support_vectors has ${(a.support_vectors ?? []).length} values, expected n_supports × ${c}`);
      if (coef.length !== (a.n_supports > 0 ? a.n_supports : c)) fail(ctx.node, `coefficients has ${coef.length} values, expected ${a.n_supports > 0 ? a.n_supports : c}`);
    }
    return [{ dtype: 'float32', shape: [n, 1] }];
  },
  cpu([x], ctx) {
    const a = ctx.attrs;
    const { n, c } = mlRows(x!, ctx.node) as { n: number; c: number };
    const xs = Float64Array.from(x!.data, (v) => Math.fround(Number(v)));
    const sv = Float64Array.from(a.support_vectors ?? [], Math.fround);
    const coef = (a.coefficients ?? []).map(Math.fround);
    const rho = Math.fround(a.rho?.[0] ?? 0);
    const y = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      let s = 0;
      if (a.n_supports > 0) for (let j = 0; j < a.n_supports; j++) s += coef[j]! * svmKernel(a.kernel_type, a.kernel_params ?? [], xs, r * c, sv, j * c, c);
      else for (let k = 0; k < c; k++) s += coef[k]! * xs[r * c + k]!;
      s += rho;
      if (a.post_transform === 'PROBIT') s = probit(s);
      y[r] = a.one_class ? (s > 0 ? 1 : -1) : s;
    }
    return [new Tensor('float32', [n, 1], y)];
  },
});

/** Resolved attributes of SVMClassifier. */
interface SvcAttrs {
  readonly coefficients?: readonly number[] | undefined; readonly kernel_params?: readonly number[] | undefined; readonly kernel_type: (typeof SVM_KERNELS)[number];
  readonly post_transform: PostTransform; readonly prob_a?: readonly number[] | undefined; readonly prob_b?: readonly number[] | undefined; readonly rho?: readonly number[] | undefined;
  readonly support_vectors?: readonly number[] | undefined; readonly vectors_per_class?: readonly number[] | undefined; readonly classlabels_ints?: readonly number[] | undefined;
}

/** The layout of an SVMClassifier node: SVC (one-vs-one over support vectors) or linear, with its sizes; typed errors for what is inconsistent or not supported yet. */
export function svcLayout(a: SvcAttrs, c: number | string, node: string): { svc: boolean; classes: number; vectors: number; starts: number[]; pairs: number; scores: number } {
  const labels = a.classlabels_ints ?? [];
  const classes = labels.length;
  if (classes < 2) fail(node, 'SVMClassifier requires two or more classlabels_ints');
  if (a.prob_a?.length || a.prob_b?.length) fail(node, 'SVMClassifier with probability estimates (prob_a, prob_b) is not supported yet');
  if (a.post_transform !== 'NONE') fail(node, `SVMClassifier post_transform ${a.post_transform} is not supported yet (only NONE)`);
  const vpc = a.vectors_per_class ?? [];
  const vectors = vpc.reduce((s, v) => s + v, 0);
  const svc = vectors > 0;
  const coef = a.coefficients ?? [];
  const pairs = (classes * (classes - 1)) / 2;
  const starts = vpc.map((_, k) => vpc.slice(0, k).reduce((s, v) => s + v, 0));
  if (svc) {
    if (vpc.length !== classes) fail(node, `vectors_per_class has ${vpc.length} entries for ${classes} classes`);
    if (typeof c === 'number' && (a.support_vectors ?? []).length !== vectors * c) fail(node, `support_vectors has ${(a.support_vectors ?? []).length} values, expected ${vectors} × ${c}`);
    if (coef.length !== (classes - 1) * vectors) fail(node, `coefficients has ${coef.length} values, expected ${classes - 1} × ${vectors}`);
    if ((a.rho ?? []).length < pairs) fail(node, `rho has ${(a.rho ?? []).length} values, expected ${pairs} (one per class pair)`);
  } else {
    if (typeof c === 'number' && coef.length !== classes * c) fail(node, `coefficients has ${coef.length} values, expected ${classes} × ${c}`);
    if ((a.rho ?? []).length < 1) fail(node, 'rho must have at least one value');
  }
  return { svc, classes, vectors, starts, pairs, scores: svc ? (classes > 2 ? pairs : 2) : classes };
}

/** SVMClassifier (no probability estimates, post_transform NONE): one-vs-one votes over support vectors, or a linear model; int64 labels. */
export const SVMClassifier = defineOp({
  name: 'SVMClassifier', domain: ML_DOMAIN, inputs: ['X'], outputs: ['Y', 'Z'], multi: true, category: 'opaque',
  attrs: {
    classlabels_ints: attr.optInts(), classlabels_strings: attr.optStrings(), coefficients: attr.optFloats(), kernel_params: attr.optFloats(),
    kernel_type: attr.string<(typeof SVM_KERNELS)[number]>('LINEAR', SVM_KERNELS), post_transform: attr.string<PostTransform>('NONE', POST_TRANSFORMS),
    prob_a: attr.optFloats(), prob_b: attr.optFloats(), rho: attr.optFloats(), support_vectors: attr.optFloats(), vectors_per_class: attr.optInts(),
  },
  doc: 'Support vector classification (ONNX-ML).',
  infer([x], ctx): ValueType[] {
    if (ctx.attrs.classlabels_strings !== undefined) fail(ctx.node, 'string class labels (classlabels_strings) are not supported yet; use classlabels_ints');
    expectDType(x!.dtype, ML_INPUTS, ctx.node, 'X');
    const { n, c } = mlRows(x!, ctx.node);
    const l = svcLayout(ctx.attrs, c, ctx.node);
    return [{ dtype: 'int64', shape: [n] }, { dtype: 'float32', shape: [n, l.scores] }];
  },
  cpu([x], ctx) {
    const a = ctx.attrs;
    const { n, c } = mlRows(x!, ctx.node) as { n: number; c: number };
    const l = svcLayout(a, c, ctx.node);
    const labels = a.classlabels_ints!;
    const xs = Float64Array.from(x!.data, (v) => Math.fround(Number(v)));
    const coef = (a.coefficients ?? []).map(Math.fround);
    const rho = (a.rho ?? []).map(Math.fround);
    const sv = Float64Array.from(a.support_vectors ?? [], Math.fround);
    const vpc = a.vectors_per_class ?? [];
    const y = new Float64Array(n);
    const z = new Float32Array(n * l.scores);
    for (let r = 0; r < n; r++) {
      if (l.svc) {
        const k = Array.from({ length: l.vectors }, (_, v) => Math.fround(svmKernel(a.kernel_type, a.kernel_params ?? [], xs, r * c, sv, v * c, c)));
        const votes = new Array(l.classes).fill(0);
        let p = 0;
        for (let i = 0; i < l.classes - 1; i++) {
          for (let j = i + 1; j < l.classes; j++, p++) {
            let sum = 0;
            for (let m = 0; m < vpc[i]!; m++) sum += coef[(j - 1) * l.vectors + l.starts[i]! + m]! * k[l.starts[i]! + m]!;
            for (let m = 0; m < vpc[j]!; m++) sum += coef[i * l.vectors + l.starts[j]! + m]! * k[l.starts[j]! + m]!;
            sum += rho[p]!;
            votes[sum > 0 ? i : j]++;
            if (l.classes > 2) z[r * l.scores + p] = sum;
            else { z[r * 2] = -sum; z[r * 2 + 1] = sum; }
          }
        }
        let best = 0;
        for (let q = 1; q < l.classes; q++) if (votes[q] > votes[best]) best = q;
        y[r] = labels[best]!;
      } else {
        let best = 0;
        for (let t = 0; t < l.classes; t++) {
          let s = rho[0]!;
          for (let q = 0; q < c; q++) s += coef[t * c + q]! * xs[r * c + q]!;
          z[r * l.scores + t] = s;
          if (z[r * l.scores + t]! > z[r * l.scores + best]!) best = t;
        }
        const mw = z[r * l.scores + best]!;
        const allPos = coef.every((v) => v >= 0);
        y[r] = l.classes === 2 ? labels[(allPos && mw >= 0.5) || (mw > 0 && !allPos) ? 1 : best]! : labels[best]!;
      }
    }
    return [new Tensor('int64', [n], y), new Tensor('float32', [n, l.scores], z)];
  },
});

/** The non-tree ONNX-ML ops (by name). */
export const mlOps = { Scaler, Normalizer, Binarizer, ArrayFeatureExtractor, Imputer, OneHotEncoder, FeatureVectorizer, ZipMap, LinearRegressor, LinearClassifier, SVMRegressor, SVMClassifier } as const;
