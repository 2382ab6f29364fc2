/**
 * WebGPU kernels of the ONNX-ML tree ensembles (src/graph/ops/ml-tree.ts). The trees
 * flattened by the op ({@link treeEnsembleOf}) travel as constant buffers — nodes
 * (8 words each: feature, mode | missing-tracks-true << 8, threshold bits, true and
 * false successors or a leaf's weight run, membership set run), leaf (target, weight)
 * pairs, membership values, roots, base values and class labels — never as shader
 * text. Dispatch 1 has one invocation per (row, target): it walks every tree and
 * aggregates the weights of its target into scratch (with a has-score flag);
 * dispatch 2 has one invocation per row: base values, the post transform and (for the
 * classifier) the label, by the rules of {@link classifierFinalize}.
 *
 * The other ML ops (src/graph/ops/ml.ts) get per-element or per-row kernels reading
 * their attribute tables (offsets, scales, imputed values, categories, coefficients)
 * from constant buffers. Binarizer has an `expr` and gets the generic elementwise kernel.
 */
import type { OpDef } from '../../../graph/op.js';
import { ArrayFeatureExtractor, FeatureVectorizer, Imputer, LinearClassifier, LinearRegressor, Normalizer, OneHotEncoder, perFeature, Scaler, svcLayout, SVMClassifier, SVMRegressor } from '../../../graph/ops/ml.js';
import { sizeOf } from '../../../graph/shape.js';
import { parseTreeClassifier, parseTreeEnsemble, parseTreeRegressor, treeEnsembleOf, TreeEnsemble, TreeEnsembleClassifier, TreeEnsembleRegressor, type TreeParser } from '../../../graph/ops/ml-tree.js';
import { UnsupportedOpError } from '../../../graph/errors.js';
import { Tensor } from '../../../graph/tensor.js';
import type { Dispatch, GpuKernel } from '../kernel.js';
import { ShaderBuilder } from '../wgsl.js';

const HELPERS = [
  'fn mlLogistic(x: f32) -> f32 { let v = 1.0 / (1.0 + exp(-abs(x))); return select(v, 1.0 - v, x < 0.0); }',
  'fn mlProbit(p: f32) -> f32 { let x = 2.0 * p - 1.0; let sgn = select(1.0, -1.0, x < 0.0); let l = log((1.0 - x) * (1.0 + x));'
  + ' let v = 2.0 / (3.14159 * 0.147) + 0.5 * l; let v2 = (1.0 / 0.147) * l; let v3 = -v + sqrt(v * v - v2); return 1.41421356 * sgn * sqrt(v3 - v); }',
  'fn mlIsNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
];

function u32Tensor(v: ArrayLike<number>): Tensor {
  return new Tensor('uint32', [Math.max(1, v.length)], Uint32Array.from(v.length ? Array.from(v) : [0]));
}
function f32Tensor(v: ArrayLike<number>): Tensor {
  return new Tensor('float32', [Math.max(1, v.length)], Float32Array.from(v.length ? Array.from(v) : [0]));
}
function f32Bits(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0]!;
}

/** WGSL lines that apply `post` in place to `n` (≥ 2) scores `z(k)` of one row. */
function transformRowWgsl(post: string, n: string, z: (k: string) => string, f16: (v: string) => string): string {
  if (post === 'LOGISTIC') return `for (var k = 0u; k < ${n}; k++) { ${z('k')} = ${f16(`mlLogistic(f32(${z('k')}))`)}; }`;
  if (post === 'PROBIT') return `for (var k = 0u; k < ${n}; k++) { ${z('k')} = ${f16(`mlProbit(f32(${z('k')}))`)}; }`;
  if (post !== 'SOFTMAX' && post !== 'SOFTMAX_ZERO') return '';
  const zero = post === 'SOFTMAX_ZERO';
  return [
    `var mx = f32(${z('0u')}); for (var k = 1u; k < ${n}; k++) { mx = max(mx, f32(${z('k')})); }`,
    'var sum = 0.0;',
    `for (var k = 0u; k < ${n}; k++) { let v = f32(${z('k')}); var e = exp(v - mx);`,
    zero ? ' if (abs(v) <= 1e-7) { e = v * exp(-mx); } else { sum += e; }' : ' sum += e;',
    ` ${z('k')} = ${f16('e')}; }`,
    `for (var k = 0u; k < ${n}; k++) { ${z('k')} = ${f16(`f32(${z('k')}) / sum`)}; }`,
  ].join('\n');
}

function treeKernel(parse: TreeParser): GpuKernel {
  return {
    plan(ctx) {
      const { tables: t, fin } = treeEnsembleOf(parse, ctx.attrs, ctx.node);
      const x = ctx.inputs[0]!;
      const N = x.shape.length === 1 ? 1 : x.shape[0]!;
      const F = x.shape.length === 1 ? x.shape[0]! : x.shape[1]!;
      const T = fin.nTargets;
      const nNodes = t.mode.length;
      const nodeWords = new Uint32Array(nNodes * 8);
      for (let k = 0; k < nNodes; k++) {
        nodeWords.set([t.feature[k]!, t.mode[k]! | (t.missingTrue[k]! << 8), f32Bits(t.value[k]!), t.trueNext[k]!, t.falseNext[k]!, t.setStart[k]!, t.setCount[k]!, 0], k * 8);
      }
      const weightWords = new Uint32Array(t.weightTarget.length * 2);
      t.weightTarget.forEach((tg, w) => weightWords.set([tg, f32Bits(t.weightValue[w]!)], w * 2));
      for (const l of fin.labels) if (!(l >= -(2 ** 31) && l < 2 ** 31)) throw new UnsupportedOpError([{ op: 'TreeEnsembleClassifier', nodes: [ctx.node] }], `class label ${l} does not fit the 32-bit labels of the WebGPU backend`);
      const constants = [u32Tensor(nodeWords), u32Tensor(weightWords), f32Tensor(t.sets), u32Tensor(t.roots), f32Tensor(fin.base), new Tensor('int32', [Math.max(1, fin.labels.length)], Int32Array.from(fin.labels.length ? fin.labels : [0]))];
      const total = N * T;
      const dispatches: Dispatch[] = [];

      // 1: per (row, target) aggregates.
      {
        const sb = new ShaderBuilder(ctx);
        const X = sb.input(0);
        const nodes = sb.constant(0, 'u32');
        const weights = sb.constant(1, 'u32');
        const sets = sb.constant(2, 'f32');
        const roots = sb.constant(3, 'u32');
        const S = sb.scratch(0, 'f32');
        const H = sb.scratch(1, 'u32');
        for (const h of HELPERS) sb.fn(h);
        const nT = sb.u32(T);
        const nF = sb.u32(F);
        const nTrees = sb.u32(t.roots.length);
        const steps = sb.u32(t.depth + 1);
        const agg = fin.aggregate === 'MIN' ? 'acc = select(val, min(acc, val), has == 1u);'
          : fin.aggregate === 'MAX' ? 'acc = select(val, max(acc, val), has == 1u);' : 'acc += val;';
        dispatches.push(sb.linear(total, (i) => [
          `  let r = ${i} / ${nT}; let tg = ${i} % ${nT};`,
          '  var acc = 0.0; var has = 0u;',
          `  for (var k = 0u; k < ${nTrees}; k++) {`,
          `    var nd = ${roots}[k];`,
          `    for (var step = 0u; step < ${steps}; step++) {`,
          `      let m = ${nodes}[nd * 8u + 1u]; let mode = m & 255u;`,
          '      if (mode == 7u) { break; }',
          `      let xv = f32(${X}[r * ${nF} + ${nodes}[nd * 8u]]);`,
          `      let v = bitcast<f32>(${nodes}[nd * 8u + 2u]);`,
          '      var c = false;',
          '      if (mlIsNan(xv)) { c = mode == 5u || (m >> 8u) == 1u; }',
          '      else if (mode == 0u) { c = xv <= v; } else if (mode == 1u) { c = xv < v; } else if (mode == 2u) { c = xv >= v; }',
          '      else if (mode == 3u) { c = xv > v; } else if (mode == 4u) { c = xv == v; } else if (mode == 5u) { c = xv != v; }',
          `      else { let s0 = ${nodes}[nd * 8u + 5u]; for (var j = s0; j < s0 + ${nodes}[nd * 8u + 6u]; j++) { if (${sets}[j] == xv) { c = true; } } }`,
          `      nd = select(${nodes}[nd * 8u + 4u], ${nodes}[nd * 8u + 3u], c);`,
          '    }',
          `    let w0 = ${nodes}[nd * 8u + 3u]; let wn = ${nodes}[nd * 8u + 4u];`,
          `    for (var w = w0; w < w0 + wn; w++) { if (${weights}[w * 2u] == tg) { let val = bitcast<f32>(${weights}[w * 2u + 1u]); ${agg} has = 1u; } }`,
          '  }',
          `  ${S}[${i}] = acc; ${H}[${i}] = has;`,
        ].join('\n'), 'TreeEnsemble.walk'));
      }

      // 2: per row finalization.
      {
        const sb = new ShaderBuilder(ctx);
        const S = sb.scratch(0, 'f32');
        const H = sb.scratch(1, 'u32');
        const base = sb.constant(4, 'f32');
        const labels = sb.constant(5, 'i32');
        for (const h of HELPERS) sb.fn(h);
        const nT = sb.u32(T);
        const classifier = fin.kind === 'classifier';
        const zi = classifier ? 1 : 0;
        const Z = sb.output(zi);
        const zs = ctx.outputs[zi]!.storage;
        const cast = (v: string): string => `${zs}(${v})`;
        const z = (k: string): string => `${Z}[r * ${nT} + ${k}]`;
        let body: string[];
        if (!classifier) {
          const nb = fin.base.length > 0;
          body = [
            `  for (var k = 0u; k < ${nT}; k++) { var s = ${S}[r * ${nT} + k];${fin.aggregate === 'AVERAGE' ? ` s = s / ${sb.f32(fin.nTrees)};` : ''}${nb ? ` s += ${base}[k];` : ''} ${z('k')} = ${cast('s')}; }`,
            T === 1 ? (fin.post === 'PROBIT' ? `  ${z('0u')} = ${cast(`mlProbit(f32(${z('0u')}))`)};` : '') : transformRowWgsl(fin.post, nT, z, cast),
          ];
        } else {
          const Y = sb.output(0);
          const ys = ctx.outputs[0]!.storage;
          if (T > 2) {
            body = [
              '  var best = 0u; var bestS = 0.0; var found = false;',
              `  for (var k = 0u; k < ${nT}; k++) { var s = ${S}[r * ${nT} + k]; var h = ${H}[r * ${nT} + k];`,
              fin.base.length ? `    s += ${base}[k]; h = 1u;` : '',
              '    if (h == 1u && (!found || s > bestS)) { best = k; bestS = s; found = true; }',
              `    ${z('k')} = ${cast('s')}; }`,
              `  ${Y}[r] = ${ys}(${labels}[best]);`,
              transformRowWgsl(fin.post, nT, z, cast),
            ];
          } else {
            const b = fin.base;
            const lines = [
              `  var s0 = ${S}[r * 2u]; var s1 = ${S}[r * 2u + 1u]; let h0 = ${H}[r * 2u] == 1u; let h1 = ${H}[r * 2u + 1u] == 1u;`,
              '  var size = 2u; var wa = -1;',
            ];
            if (b.length === 2) lines.push(`  if (h1) { s1 = ${base}[1] + s0; s0 = -s1; } else { s1 += ${base}[1]; s0 += ${base}[0]; }`);
            else if (b.length === 1) lines.push(`  s0 += ${base}[0]; if (!h1) { size = 1u; }`);
            else lines.push('  wa = 3; if (!h1) { size = 1u; }');
            lines.push('  var pos = 0.0; if (size == 2u && h1) { pos = s1; } else if (h0) { pos = s0; }');
            if (fin.binaryCase) {
              const cut = fin.allPositive ? '0.5' : '0.0';
              const [wp, wn] = fin.allPositive ? [0, 1] : [2, 3];
              lines.push(`  var lab = ${labels}[0]; if (pos > ${cut}) { wa = ${wp}; lab = ${labels}[1]; } else { wa = ${wn}; }`);
            } else lines.push('  let lab = select(0, 1, pos > 0.0);');
            lines.push(`  ${Y}[r] = ${ys}(lab);`);
            const tr = transformRowWgsl(fin.post, '2u', z, cast);
            lines.push(`  if (size == 2u) { ${z('0u')} = ${cast('s0')}; ${z('1u')} = ${cast('s1')};\n${tr}\n  }`);
            const one = fin.post === 'PROBIT' ? `${z('0u')} = ${cast('mlProbit(s0)')}; ${z('1u')} = ${cast('0.0')};`
              : [
                `if (wa == 0 || wa == 1) { ${z('0u')} = ${cast('1.0 - s0')}; ${z('1u')} = ${cast('s0')}; }`,
                fin.post === 'LOGISTIC'
                  ? `else if (wa == 2 || wa == 3) { ${z('0u')} = ${cast('mlLogistic(-s0)')}; ${z('1u')} = ${cast('mlLogistic(s0)')}; }`
                  : `else if (wa == 2 || wa == 3) { ${z('0u')} = ${cast('-s0')}; ${z('1u')} = ${cast('s0')}; }`,
                `else { ${z('0u')} = ${cast('s0')}; ${z('1u')} = ${cast('0.0')}; }`,
              ].join(' ');
            lines.push(`  else { ${one} }`);
            body = lines;
          }
        }
        dispatches.push(sb.linear(N, (i) => [`  let r = ${i};`, ...body].join('\n'), 'TreeEnsemble.finalize'));
      }
      return { constants, scratch: [total * 4, total * 4], dispatches };
    },
  };
}

function lastDim(shape: readonly number[]): number {
  return shape.length ? shape[shape.length - 1]! : 1;
}

function i32Tensor(v: readonly number[], node: string, what: string): Tensor {
  for (const x of v) if (!(x >= -(2 ** 31) && x < 2 ** 31)) throw new UnsupportedOpError([{ op: what, nodes: [node] }], `value ${x} does not fit the 32-bit integers of the WebGPU backend`);
  return new Tensor('int32', [Math.max(1, v.length)], Int32Array.from(v.length ? v : [0]));
}

/** Scaler: one invocation per element. */
const scalerKernel: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const C = lastDim(x.shape);
    const a = ctx.attrs as { offset?: number[]; scale?: number[] };
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const off = sb.constant(0, 'f32');
    const sc = sb.constant(1, 'f32');
    const Y = sb.output(0);
    const nC = sb.u32(C);
    return {
      constants: [f32Tensor(perFeature(a.offset ?? [0], C, ctx.node, 'offset')), f32Tensor(perFeature(a.scale ?? [1], C, ctx.node, 'scale'))],
      dispatches: [sb.linear(sizeOf(x.shape), (i) => `  ${Y}[${i}] = ${ctx.outputs[0]!.storage}((f32(${X}[${i}]) - ${off}[${i} % ${nC}]) * ${sc}[${i} % ${nC}]);`, 'Scaler')],
    };
  },
};

/** Imputer: one invocation per element. */
const imputerKernel: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const C = lastDim(x.shape);
    const a = ctx.attrs as { imputed_value_floats?: number[]; imputed_value_int64s?: number[]; replaced_value_float: number; replaced_value_int64: number };
    const ints = x.storage === 'i32' || x.storage === 'u32';
    const table = perFeature((ints ? a.imputed_value_int64s : a.imputed_value_floats) ?? [0], C, ctx.node, 'imputed values');
    const sb = new ShaderBuilder(ctx);
    for (const h of HELPERS) sb.fn(h);
    const X = sb.input(0);
    const tbl = sb.constant(0, ints ? 'i32' : 'f32');
    const Y = sb.output(0);
    const nC = sb.u32(C);
    const st = ctx.outputs[0]!.storage;
    const hit = ints ? `i32(v) == ${sb.i32(a.replaced_value_int64)}` : Number.isNaN(a.replaced_value_float) ? 'mlIsNan(f32(v))' : `f32(v) == ${sb.f32(a.replaced_value_float)}`;
    return {
      constants: [ints ? i32Tensor(table, ctx.node, 'Imputer') : f32Tensor(table)],
      dispatches: [sb.linear(sizeOf(x.shape), (i) => `  let v = ${X}[${i}];\n  ${Y}[${i}] = select(${st}(v), ${st}(${tbl}[${i} % ${nC}]), ${hit});`, 'Imputer')],
    };
  },
};

/** Normalizer: one invocation per row. */
const normalizerKernel: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const C = lastDim(x.shape);
    const N = sizeOf(x.shape) / Math.max(C, 1);
    const norm = (ctx.attrs as { norm: string }).norm;
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const Y = sb.output(0);
    const nC = sb.u32(C);
    const acc = norm === 'MAX' ? `nm = select(max(nm, v), v, k == 0u);` : norm === 'L1' ? 'nm += abs(v);' : 'nm += v * v;';
    return {
      dispatches: [sb.linear(N, (r) => [
        `  var nm = 0.0;`,
        `  for (var k = 0u; k < ${nC}; k++) { let v = f32(${X}[${r} * ${nC} + k]); ${acc} }`,
        norm === 'L2' ? '  nm = sqrt(nm);' : '',
        `  for (var k = 0u; k < ${nC}; k++) { let v = f32(${X}[${r} * ${nC} + k]); ${Y}[${r} * ${nC} + k] = ${ctx.outputs[0]!.storage}(select(v, v / nm, nm != 0.0)); }`,
      ].join('\n'), 'Normalizer')],
    };
  },
};

/** ArrayFeatureExtractor: one invocation per output element (indices read at run time, clamped to the axis). */
const arrayFeatureKernel: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const C = lastDim(x.shape);
    const L = sizeOf(ctx.inputs[1]!.shape);
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const I = sb.input(1);
    const Z = sb.output(0);
    const nC = sb.u32(C);
    const nL = sb.u32(L);
    return {
      dispatches: [sb.linear(sizeOf(ctx.outputs[0]!.shape), (i) => `  let o = ${i} / ${nL}; let k = u32(clamp(i32(${I}[${i} % ${nL}]), 0, i32(${nC}) - 1));\n  ${Z}[${i}] = ${X}[o * ${nC} + k];`, 'ArrayFeatureExtractor')],
    };
  },
};

/** OneHotEncoder: one invocation per output element (unknown values give zeros). */
const oneHotKernel: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const cats = (ctx.attrs as { cats_int64s: number[] }).cats_int64s;
    const ints = x.storage === 'i32' || x.storage === 'u32';
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const K = sb.constant(0, ints ? 'i32' : 'f32');
    const Y = sb.output(0);
    const nK = sb.u32(cats.length);
    return {
      constants: [ints ? i32Tensor(cats, ctx.node, 'OneHotEncoder') : f32Tensor(cats)],
      dispatches: [sb.linear(sizeOf(ctx.outputs[0]!.shape), (i) => {
        const eq = ints ? `i32(${X}[${i} / ${nK}]) == ${K}[${i} % ${nK}]` : `f32(${X}[${i} / ${nK}]) == ${K}[${i} % ${nK}]`;
        return `  ${Y}[${i}] = ${ctx.outputs[0]!.storage}(select(0.0, 1.0, ${eq}));`;
      }, 'OneHotEncoder')],
    };
  },
};

/** FeatureVectorizer: one invocation per output element, choosing its input by column. */
const featureVectorizerKernel: GpuKernel = {
  plan(ctx) {
    const dims = (ctx.attrs as { inputdimensions: number[] }).inputdimensions;
    const total = dims.reduce((s, d) => s + d, 0);
    if (ctx.inputs.length > ctx.limits.maxStorageBuffersPerShaderStage - 1) throw new UnsupportedOpError([{ op: 'FeatureVectorizer', nodes: [ctx.node] }], `more inputs (${ctx.inputs.length}) than storage bindings`);
    const sb = new ShaderBuilder(ctx);
    const ins = ctx.inputs.map((_, k) => sb.input(k));
    const Y = sb.output(0);
    const nT = sb.u32(total);
    const lines = ['  let r = i / ' + nT + '; let col = i % ' + nT + '; var v = 0.0;'];
    let start = 0;
    ctx.inputs.forEach((inp, k) => {
      const rowsK = inp!.shape.length >= 2 ? inp!.shape[0]! : 1;
      const C = sizeOf(inp!.shape) / Math.max(rowsK, 1);
      lines.push(`  ${k ? 'else ' : ''}if (col < ${sb.u32(start + dims[k]!)}) { let j = col - ${sb.u32(start)}; if (j < ${sb.u32(C)}) { v = f32(${ins[k]}[r * ${sb.u32(C)} + j]); } }`);
      start += dims[k]!;
    });
    lines.push(`  ${Y}[i] = ${ctx.outputs[0]!.storage}(v);`);
    return { dispatches: [sb.linear(sizeOf(ctx.outputs[0]!.shape), () => lines.join('\n'), 'FeatureVectorizer')] };
  },
};

/** The linear models: per (row, target) dot products into scratch, then a per-row pass for the transform (and the classifier's label). */
function linearKernel(classifier: boolean): GpuKernel {
  return {
    plan(ctx) {
      const x = ctx.inputs[0]!;
      const C = lastDim(x.shape);
      const N = sizeOf(x.shape) / Math.max(C, 1);
      const a = ctx.attrs as { coefficients: number[]; intercepts?: number[]; targets?: number; post_transform: string; classlabels_ints?: number[] };
      const coef = a.coefficients ?? [];
      const T = C > 0 ? coef.length / C : 1;
      const icpt = a.intercepts?.length ? a.intercepts : Array(T).fill(0);
      const constants = [f32Tensor(coef), f32Tensor(icpt), i32Tensor(a.classlabels_ints ?? [], ctx.node, 'LinearClassifier')];
      const dispatches: Dispatch[] = [];
      {
        const sb = new ShaderBuilder(ctx);
        const X = sb.input(0);
        const W = sb.constant(0, 'f32');
        const B = sb.constant(1, 'f32');
        const S = sb.scratch(0, 'f32');
        const nC = sb.u32(C);
        const nT = sb.u32(T);
        dispatches.push(sb.linear(N * T, (i) => `  let r = ${i} / ${nT}; let t = ${i} % ${nT};\n  var acc = ${B}[t];\n  for (var k = 0u; k < ${nC}; k++) { acc += f32(${X}[r * ${nC} + k]) * ${W}[t * ${nC} + k]; }\n  ${S}[${i}] = acc;`, 'Linear.scores'));
      }
      {
        const sb = new ShaderBuilder(ctx);
        for (const h of HELPERS) sb.fn(h);
        const S = sb.scratch(0, 'f32');
        const L = sb.constant(2, 'i32');
        const zi = classifier ? 1 : 0;
        const Z = sb.output(zi);
        const zs = ctx.outputs[zi]!.storage;
        const cast = (v: string): string => `${zs}(${v})`;
        const nT = sb.u32(T);
        const post = a.post_transform;
        const lines: string[] = [];
        if (classifier && T === 1) {
          const Y = sb.output(0);
          const two = (a.classlabels_ints ?? []).length === 2;
          const p = post === 'NONE' ? 's' : post === 'PROBIT' ? 'mlProbit(s)' : 'mlLogistic(s)';
          lines.push(`  let s = ${S}[r]; let p = ${p};`, `  ${Z}[r * 2u] = ${cast('1.0 - p')}; ${Z}[r * 2u + 1u] = ${cast('p')};`);
          lines.push(two ? `  ${Y}[r] = ${ctx.outputs[0]!.storage}(select(${L}[0], ${L}[1], s > 0.0));` : `  ${Y}[r] = ${ctx.outputs[0]!.storage}(select(0, 1, s > 0.0));`);
        } else {
          const z = (k: string): string => `${Z}[r * ${nT} + ${k}]`;
          lines.push(`  var best = 0u; var bestS = ${S}[r * ${nT}];`);
          lines.push(`  for (var k = 0u; k < ${nT}; k++) { let s = ${S}[r * ${nT} + k]; if (s > bestS) { best = k; bestS = s; } ${z('k')} = ${cast('s')}; }`);
          if (classifier) lines.push(`  ${sb.output(0)}[r] = ${ctx.outputs[0]!.storage}(${L}[best]);`);
          if (T === 1) { if (post === 'PROBIT') lines.push(`  ${z('0u')} = ${cast(`mlProbit(f32(${z('0u')}))`)};`); } else lines.push(transformRowWgsl(post, nT, z, cast));
        }
        dispatches.push(sb.linear(N, (r) => [`  let r = ${r};`, ...lines].join('\n'), 'Linear.finalize'));
      }
      return { constants, scratch: [N * T * 4], dispatches };
    },
  };
}

/** WGSL of an SVM kernel K(row, support vector j) (the kernel type picks the formula; γ, c0 and the degree are uniforms). */
function svmKernelWgsl(sb: ShaderBuilder, kind: string, params: readonly number[], X: string, xo: string, V: string, vo: string, c: string): string {
  const [gamma = 0, coef0 = 0, degree = 0] = params;
  const g = sb.f32(gamma);
  const c0 = sb.f32(coef0);
  if (kind === 'RBF') return `{ var d = 0.0; for (var k = 0u; k < ${c}; k++) { let t = f32(${X}[${xo} + k]) - ${V}[${vo} + k]; d += t * t; } kv = exp(-${g} * d); }`;
  const dot = `var dot = 0.0; for (var k = 0u; k < ${c}; k++) { dot += f32(${X}[${xo} + k]) * ${V}[${vo} + k]; }`;
  if (kind === 'LINEAR') return `{ ${dot} kv = dot; }`;
  if (kind === 'POLY') return `{ ${dot} let b = ${g} * dot + ${c0}; kv = 1.0; for (var e = 0u; e < ${sb.u32(Math.max(0, Math.round(degree)))}; e++) { kv *= b; } }`;
  return `{ ${dot} kv = tanh(clamp(${g} * dot + ${c0}, -15.0, 15.0)); }`;
}

/** SVMRegressor: one invocation per row, looping over the support vectors (constant buffers). */
const svmRegressorKernel: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const C = lastDim(x.shape);
    const N = sizeOf(x.shape) / Math.max(C, 1);
    const a = ctx.attrs as { coefficients?: number[]; kernel_params?: number[]; kernel_type: string; n_supports: number; one_class: number; post_transform: string; rho?: number[]; support_vectors?: number[] };
    const sb = new ShaderBuilder(ctx);
    for (const h of HELPERS) sb.fn(h);
    const X = sb.input(0);
    const V = sb.constant(0, 'f32');
    const W = sb.constant(1, 'f32');
    const Y = sb.output(0);
    const nC = sb.u32(C);
    const lines = ['  var s = 0.0;'];
    if (a.n_supports > 0) lines.push(`  for (var j = 0u; j < ${sb.u32(a.n_supports)}; j++) { var kv = 0.0; ${svmKernelWgsl(sb, a.kernel_type, a.kernel_params ?? [], X, `r * ${nC}`, V, `j * ${nC}`, nC)} s += ${W}[j] * kv; }`);
    else lines.push(`  for (var k = 0u; k < ${nC}; k++) { s += ${W}[k] * f32(${X}[r * ${nC} + k]); }`);
    lines.push(`  s += ${sb.f32(a.rho?.[0] ?? 0)};`);
    if (a.post_transform === 'PROBIT') lines.push('  s = mlProbit(s);');
    if (a.one_class) lines.push('  s = select(-1.0, 1.0, s > 0.0);');
    lines.push(`  ${Y}[r] = ${ctx.outputs[0]!.storage}(s);`);
    return {
      constants: [f32Tensor(a.support_vectors ?? []), f32Tensor(a.coefficients ?? [])],
      dispatches: [sb.linear(N, (r) => [`  let r = ${r};`, ...lines].join('\n'), 'SVMRegressor')],
    };
  },
};

/**
 * SVMClassifier: SVC form — kernels per (row, support vector), pair scores per (row, class pair), then votes and the label per row;
 * linear form — one invocation per row.
 */
const svmClassifierKernel: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const C = lastDim(x.shape);
    const N = sizeOf(x.shape) / Math.max(C, 1);
    const a = ctx.attrs as unknown as Parameters<typeof svcLayout>[0] & { kernel_type: string };
    const l = svcLayout(a, C, ctx.node);
    const coef = a.coefficients ?? [];
    const vpc = a.vectors_per_class ?? [];
    const constants = [f32Tensor(a.support_vectors ?? []), f32Tensor(coef), f32Tensor(a.rho ?? []), u32Tensor(vpc), u32Tensor(l.starts), i32Tensor(a.classlabels_ints ?? [], ctx.node, 'SVMClassifier')];
    const ys = ctx.outputs[0]!.storage;
    const zs = ctx.outputs[1]!.storage;
    const dispatches: Dispatch[] = [];
    if (!l.svc) {
      const sb = new ShaderBuilder(ctx);
      const X = sb.input(0);
      const W = sb.constant(1, 'f32');
      const R = sb.constant(2, 'f32');
      const L = sb.constant(5, 'i32');
      const Y = sb.output(0);
      const Z = sb.output(1);
      const nC = sb.u32(C);
      const nK = sb.u32(l.classes);
      const allPos = sb.u32(coef.every((v) => v >= 0) ? 1 : 0);
      const label = l.classes === 2
        ? `let pick = (${allPos} == 1u && mw >= 0.5) || (mw > 0.0 && ${allPos} == 0u); ${Y}[r] = ${ys}(select(${L}[best], ${L}[1], pick));`
        : `${Y}[r] = ${ys}(${L}[best]);`;
      dispatches.push(sb.linear(N, (r) => [
        `  let r = ${r}; var best = 0u; var mw = 0.0;`,
        `  for (var t = 0u; t < ${nK}; t++) { var s = ${R}[0]; for (var q = 0u; q < ${nC}; q++) { s += ${W}[t * ${nC} + q] * f32(${X}[r * ${nC} + q]); }`,
        `    ${Z}[r * ${nK} + t] = ${zs}(s); if (t == 0u || s > mw) { best = t; mw = s; } }`,
        `  ${label}`,
      ].join('\n'), 'SVMClassifier.linear'));
      return { constants, dispatches };
    }
    const nV = l.vectors;
    {
      const sb = new ShaderBuilder(ctx);
      const X = sb.input(0);
      const V = sb.constant(0, 'f32');
      const K = sb.scratch(0, 'f32');
      const nC = sb.u32(C);
      const nVu = sb.u32(nV);
      dispatches.push(sb.linear(N * nV, (i) => `  let r = ${i} / ${nVu}; let v = ${i} % ${nVu}; var kv = 0.0;\n  ${svmKernelWgsl(sb, a.kernel_type, a.kernel_params ?? [], X, `r * ${nC}`, V, `v * ${nC}`, nC)}\n  ${K}[${i}] = kv;`, 'SVMClassifier.kernels'));
    }
    {
      const sb = new ShaderBuilder(ctx);
      const K = sb.scratch(0, 'f32');
      const P = sb.scratch(1, 'f32');
      const W = sb.constant(1, 'f32');
      const R = sb.constant(2, 'f32');
      const VPC = sb.constant(3, 'u32');
      const ST = sb.constant(4, 'u32');
      const Z = sb.output(1);
      const nVu = sb.u32(nV);
      const nK = sb.u32(l.classes);
      const nP = sb.u32(l.pairs);
      const write = l.classes > 2 ? `${Z}[r * ${nP} + p] = ${zs}(sum);` : `${Z}[r * 2u] = ${zs}(-sum); ${Z}[r * 2u + 1u] = ${zs}(sum);`;
      dispatches.push(sb.linear(N * l.pairs, (idx) => [
        `  let r = ${idx} / ${nP}; let p = ${idx} % ${nP};`,
        '  var pi = 0u; var pj = 1u; var q = 0u;',
        `  for (var i = 0u; i + 1u < ${nK}; i++) { for (var j = i + 1u; j < ${nK}; j++) { if (q == p) { pi = i; pj = j; } q++; } }`,
        '  var sum = 0.0;',
        `  for (var m = 0u; m < ${VPC}[pi]; m++) { sum += ${W}[(pj - 1u) * ${nVu} + ${ST}[pi] + m] * ${K}[r * ${nVu} + ${ST}[pi] + m]; }`,
        `  for (var m = 0u; m < ${VPC}[pj]; m++) { sum += ${W}[pi * ${nVu} + ${ST}[pj] + m] * ${K}[r * ${nVu} + ${ST}[pj] + m]; }`,
        `  sum += ${R}[p];`,
        `  ${P}[${idx}] = sum; ${write}`,
      ].join('\n'), 'SVMClassifier.pairs'));
    }
    {
      const sb = new ShaderBuilder(ctx);
      const P = sb.scratch(1, 'f32');
      const L = sb.constant(5, 'i32');
      const Y = sb.output(0);
      const nK = sb.u32(l.classes);
      const nP = sb.u32(l.pairs);
      dispatches.push(sb.linear(N, (r) => [
        `  let r = ${r}; var best = 0u; var bestV = -1;`,
        `  for (var c = 0u; c < ${nK}; c++) {`,
        '    var votes = 0; var q = 0u;',
        `    for (var i = 0u; i + 1u < ${nK}; i++) { for (var j = i + 1u; j < ${nK}; j++) { let s = ${P}[r * ${nP} + q]; if ((s > 0.0 && i == c) || (!(s > 0.0) && j == c)) { votes++; } q++; } }`,
        '    if (votes > bestV) { best = c; bestV = votes; }',
        '  }',
        `  ${Y}[r] = ${ys}(${L}[best]);`,
      ].join('\n'), 'SVMClassifier.votes'));
    }
    return { constants, scratch: [N * nV * 4, N * l.pairs * 4], dispatches };
  },
};

/** The ONNX-ML kernels, by op handle (the ML ops are not in OPS). */
export const mlKernels: readonly (readonly [OpDef, GpuKernel])[] = [
  [TreeEnsembleRegressor, treeKernel(parseTreeRegressor)],
  [TreeEnsembleClassifier, treeKernel(parseTreeClassifier)],
  [TreeEnsemble, treeKernel(parseTreeEnsemble)],
  [Scaler, scalerKernel],
  [Imputer, imputerKernel],
  [Normalizer, normalizerKernel],
  [ArrayFeatureExtractor, arrayFeatureKernel],
  [OneHotEncoder, oneHotKernel],
  [FeatureVectorizer, featureVectorizerKernel],
  [LinearRegressor, linearKernel(false)],
  [LinearClassifier, linearKernel(true)],
  [SVMRegressor, svmRegressorKernel],
  [SVMClassifier, svmClassifierKernel],
];
