/**
 * Op family: normalization — BatchNormalization (inference), LayerNormalization,
 * InstanceNormalization, GroupNormalization, LRN, MeanVarianceNormalization,
 * LpNormalization. CPU references compute moments in float64 (two-pass).
 */
import { attr, type AttrValue } from '../attrs.js';
import { FLOATS, expectDType, type DType } from '../dtype.js';
import { ShapeError, UnsupportedOpError } from '../errors.js';
import { defineOp, type ValueType } from '../op.js';
import { formatShape, normalizeAxis, type ConcreteShape, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { checkBroadcastInto, checkPerChannel, expandTo, moments, tailSize } from './norm-util.js';
import { mapBroadcast } from '../reference.js';
import { REDUCE_KINDS, reduceCpu, reducedShape, splitAround } from './reduce-util.js';
import type { Sym } from '../builder.js';
import { declareGradient } from '../gradient.js';
import { ints, scalar, sumTo } from './grad-util.js';

function rankAtLeast(shape: readonly Dim[], n: number, node: string, what: string): void {
  if (shape.length < n) throw new ShapeError(`${node}: ${what} must have rank >= ${n}, got ${formatShape(shape)}`, node);
}

/**
 * BatchNormalization in inference mode: y = (x - mean) / sqrt(var + epsilon) * scale + B
 * per channel (axis 1). Older forms (`spatial`, `is_test`, `consumed_inputs`, up to five
 * outputs) are accepted; extra outputs return the running statistics unchanged.
 */
export const BatchNormalization = defineOp({
  name: 'BatchNormalization',
  inputs: ['X', 'scale', 'B', 'input_mean', 'input_var'],
  outputs: ['Y', 'running_mean?', 'running_var?', 'saved_mean?', 'saved_var?'],
  attrs: {
    epsilon: attr.float(1e-5),
    momentum: attr.float(0.9),
    training_mode: attr.int(0),
    spatial: attr.int(1, (v) => (v === 1 ? undefined : 'must be 1 (per-channel statistics)')),
    is_test: attr.optInt(),
    consumed_inputs: attr.optInts(),
  },
  category: 'opaque',
  doc: 'Per-channel normalization with given statistics (inference mode).',
  infer([x, scale, b, mean, v], ctx): ValueType[] {
    if (ctx.attrs.training_mode !== 0) {
      throw new UnsupportedOpError(
        [{ op: 'BatchNormalization', nodes: [ctx.node] }],
        `${ctx.node}: training_mode=${ctx.attrs.training_mode} is not supported (inference only)`,
      );
    }
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    rankAtLeast(x!.shape, 2, ctx.node, 'X');
    const c = x!.shape[1]!;
    const params = [[scale, 'scale'], [b, 'B'], [mean, 'input_mean'], [v, 'input_var']] as const;
    for (const [p, what] of params) checkPerChannel(p, c, ctx.node, what);
    const stat = { dtype: mean!.dtype, shape: [c] };
    return [{ dtype: x!.dtype, shape: x!.shape }, stat, stat, stat, stat];
  },
  cpu([x, scale, b, mean, v], ctx) {
    const shape = x!.shape;
    const n = shape[0]!;
    const c = shape[1]!;
    const inner = tailSize(shape, 2);
    const out = new Tensor(x!.dtype, shape);
    const src = x!.data;
    const eps = ctx.attrs.epsilon;
    for (let ch = 0; ch < c; ch++) {
      const a = scale!.data[ch]! / Math.sqrt(v!.data[ch]! + eps);
      const off = b!.data[ch]! - mean!.data[ch]! * a;
      for (let i = 0; i < n; i++) {
        const base = (i * c + ch) * inner;
        for (let k = 0; k < inner; k++) out.data[base + k] = src[base + k]! * a + off;
      }
    }
    const extra = [mean!, v!, mean!, v!];
    return [out, ...extra.slice(0, Math.max(0, ctx.numOutputs - 1))];
  },
});
// Inference mode (the only one the op runs): y = (x − mean)·a + B with a = scale / √(var + ε) per channel.
declareGradient(BatchNormalization, ({ b, inputs: [x, scale, bias, mean, v], grads: [g], attrs, wants }) => {
  if (!g) return [];
  const ch = (t: Sym): Sym => b.Reshape([t, ints(b, [-1, ...new Array<number>(x!.rank - 2).fill(1)])]);
  const axes = ints(b, [0, ...Array.from({ length: x!.rank - 2 }, (_, i) => i + 2)]);
  const sum = (t: Sym): Sym => b.ReduceSum([t, axes], { keepdims: 0 });
  const inv = b.Reciprocal([b.Sqrt([b.Add([v!, scalar(b, attrs.epsilon, v!)])])]);
  const centered = b.Sub([x!, ch(mean!)]);
  const gs = b.Mul([g, ch(scale!)]);
  return [
    wants(0) ? b.Mul([gs, ch(inv)]) : undefined,
    wants(1) ? b.Mul([sum(b.Mul([g, centered])), inv]) : undefined,
    wants(2) ? sum(g) : undefined,
    wants(3) ? b.Neg([b.Mul([sum(gs), inv])]) : undefined,
    wants(4) ? b.Mul([sum(b.Mul([gs, centered])), b.Mul([scalar(b, -0.5, inv), b.Mul([inv, b.Mul([inv, inv])])])]) : undefined,
  ];
});

/**
 * Where {@link batchNormTrainingNodes} writes its nodes: the ONNX importer's emitter and
 * the training rewrite's builder both fit this shape.
 */
export interface NodeSink {
  /** Adds a node of a registry op; returns its output names (`outputs` when given, else fresh ones). */
  node(op: string, inputs: readonly string[], attrs?: Readonly<Record<string, AttrValue>>, outputs?: readonly string[]): string[];
  /** Adds a constant and returns its value name. */
  constant(t: Tensor, hint?: string): string;
  /** The dtype of a value when the sink knows it; without it, float constants are cast with CastLike. */
  dtypeOf?(value: string): DType | undefined;
}

/**
 * BatchNormalization in training mode (training_mode = 1), written with registry ops:
 * with X viewed as [N, C, rest], mean = ReduceMean(X, [0, 2]), var = ReduceMean((X −
 * mean)², [0, 2]) (the population variance), Y = (X − mean) / √(var + epsilon) · scale + B,
 * running_mean = input_mean·momentum + mean·(1 − momentum), running_var likewise. The one
 * decomposition behind the importer (opset 14+ nodes with training_mode = 1) and the
 * training step (BatchNormalization layers whose statistics are training state). Plain
 * ops, so gradients come from their own rules and the passes fuse it like any graph.
 * `outputs` names Y, running_mean, running_var when given (an empty name there: that
 * statistic is not written); the names used are returned.
 */
export function batchNormTrainingNodes(
  sink: NodeSink,
  name: string,
  [x, scale, b, inMean, inVar]: readonly [string, string, string, string, string],
  attrs: { readonly epsilon?: number; readonly momentum?: number },
  outputs: readonly (string | undefined)[] = [],
): { y: string; runningMean?: string; runningVar?: string } {
  const eps = attrs.epsilon ?? 1e-5;
  const momentum = attrs.momentum ?? 0.9;
  const ints = (v: number[], hint: string): string => sink.constant(Tensor.from('int64', [v.length], v), `${name}_${hint}`);
  const out = (i: number): string[] | undefined => (outputs[i] ? [outputs[i]!] : undefined);
  /** `v` in the dtype of `of`: a constant of that dtype when known, else CastLike. */
  const like = (v: number, of: string, hint: string): string => {
    const dt = sink.dtypeOf?.(of);
    if (dt) return sink.constant(Tensor.from(dt, [], [v]), `${name}_${hint}`);
    return sink.node('CastLike', [sink.constant(Tensor.from('float32', [], [v]), `${name}_${hint}`), of])[0]!;
  };
  const [x3] = sink.node('Reshape', [x, ints([0, 0, -1], 'ncs')]);
  const axes = ints([0, 2], 'axes');
  const [mean] = sink.node('ReduceMean', [x3!, axes], { keepdims: 1 });
  const [d] = sink.node('Sub', [x3!, mean!]);
  const [sq] = sink.node('Mul', [d!, d!]);
  const [variance] = sink.node('ReduceMean', [sq!, axes], { keepdims: 1 });
  const [std] = sink.node('Sqrt', [sink.node('Add', [variance!, like(eps, x, 'eps')])[0]!]);
  const perChannel = ints([1, -1, 1], 'c11');
  const [scaled] = sink.node('Mul', [sink.node('Div', [d!, std!])[0]!, sink.node('Reshape', [scale, perChannel])[0]!]);
  const [y3] = sink.node('Add', [scaled!, sink.node('Reshape', [b, perChannel])[0]!]);
  const [y] = sink.node('Reshape', [y3!, sink.node('Shape', [x])[0]!], {}, out(0));
  const flat = ints([-1], 'flat');
  const running = (stat: string, batch: string, i: number): string | undefined => {
    if (outputs.length > 0 && !outputs[i]) return undefined;
    let [cur] = sink.node('Reshape', [batch, flat]);
    const known = sink.dtypeOf?.(stat);
    if (!known || known !== sink.dtypeOf?.(x)) [cur] = sink.node('CastLike', [cur!, stat]);
    const [keep] = sink.node('Mul', [stat, like(momentum, stat, 'momentum')]);
    const [add] = sink.node('Mul', [cur!, like(1 - momentum, stat, 'one_minus_momentum')]);
    return sink.node('Add', [keep!, add!], {}, out(i))[0]!;
  };
  return { y: y!, runningMean: running(inMean, mean!, 1), runningVar: running(inVar, variance!, 2) };
}

/**
 * LayerNormalization (opset 17): normalizes over the axes from `axis` to the end, then
 * applies Scale and optional B (broadcast to the normalized shape). Optional outputs Mean
 * and InvStdDev have X's shape with the normalized axes set to 1, in float32 when
 * stash_type = 1.
 */
export const LayerNormalization = defineOp({
  name: 'LayerNormalization',
  inputs: ['X', 'Scale', 'B?'],
  outputs: ['Y', 'Mean?', 'InvStdDev?'],
  attrs: { axis: attr.int(-1), epsilon: attr.float(1e-5), stash_type: attr.int(1) },
  category: 'opaque',
  doc: 'Normalization over the trailing axes, with scale and bias.',
  infer([x, scale, b], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    const axis = normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    const norm = x!.shape.slice(axis);
    expectDType(scale!.dtype, FLOATS, ctx.node, 'Scale');
    checkBroadcastInto(scale!.shape, norm, ctx.node, 'Scale');
    if (b) {
      expectDType(b.dtype, FLOATS, ctx.node, 'B');
      checkBroadcastInto(b.shape, norm, ctx.node, 'B');
    }
    const statType: DType = ctx.attrs.stash_type === 1 ? 'float32' : x!.dtype;
    const statShape = x!.shape.map((d, i) => (i < axis ? d : 1));
    return [{ dtype: x!.dtype, shape: x!.shape }, { dtype: statType, shape: statShape }, { dtype: statType, shape: statShape }];
  },
  cpu([x, scale, b], ctx) {
    const shape = x!.shape;
    const axis = normalizeAxis(ctx.attrs.axis, shape.length, ctx.node);
    const m = tailSize(shape, axis);
    const rows = m === 0 ? 0 : x!.size / m;
    const normShape = shape.slice(axis);
    const sc = expandTo(scale!, normShape, ctx.node, 'Scale');
    const bias = b ? expandTo(b, normShape, ctx.node, 'B') : new Float64Array(m);
    const out = new Tensor(x!.dtype, shape);
    const statT = ctx.outputs[1]?.dtype ?? 'float32';
    const statShape = shape.map((d, i) => (i < axis ? d : 1));
    const meanT = new Tensor(statT, statShape);
    const invT = new Tensor(statT, statShape);
    const src = x!.data;
    for (let r = 0; r < rows; r++) {
      const base = r * m;
      const { mean, variance } = moments(src, base, m);
      const inv = 1 / Math.sqrt(variance + ctx.attrs.epsilon);
      meanT.data[r] = mean;
      invT.data[r] = inv;
      for (let k = 0; k < m; k++) out.data[base + k] = (src[base + k]! - mean) * inv * sc[k]! + bias[k]!;
    }
    return [out, meanT, invT].slice(0, Math.max(1, ctx.numOutputs));
  },
});
/**
 * With x̂ = (x − μ)·r over the normalized axes, r = 1/√(σ² + ε) and h = g·Scale:
 * dX = r·(h − mean(h) − x̂·mean(h·x̂)); dScale = Σ g·x̂ and dB = Σ g over the broadcast axes.
 * Only Y's gradient is taken (Mean and InvStdDev are statistics).
 */
declareGradient(LayerNormalization, ({ b, inputs: [x, scale, bias], grads: [g], attrs, wants }) => {
  if (!g) return [];
  const axis = attrs.axis < 0 ? attrs.axis + x!.rank : attrs.axis;
  const axes = ints(b, Array.from({ length: x!.rank - axis }, (_, i) => axis + i));
  const mean = (t: Sym): Sym => b.ReduceMean([t, axes], { keepdims: 1 });
  const centered = b.Sub([x!, mean(x!)]);
  const r = b.Reciprocal([b.Sqrt([b.Add([mean(b.Mul([centered, centered])), scalar(b, attrs.epsilon, x!)])])]);
  const xhat = b.Mul([centered, r]);
  const h = b.Mul([g, scale!]);
  return [
    wants(0) ? b.Mul([r, b.Sub([b.Sub([h, mean(h)]), b.Mul([xhat, mean(b.Mul([h, xhat]))])])]) : undefined,
    wants(1) ? sumTo(b, b.Mul([g, xhat]), scale!) : undefined,
    bias && wants(2) ? sumTo(b, g, bias) : undefined,
  ];
});

/** Normalizes each (n, group) block of `x` in place into `out`, then applies per-channel affine params. */
function groupNormCpu(x: Tensor, groups: number, scaleOf: (c: number) => number, biasOf: (c: number) => number, eps: number): Tensor {
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const inner = tailSize(x.shape, 2);
  const per = c / groups;
  const block = per * inner;
  const out = new Tensor(x.dtype, x.shape);
  const src = x.data;
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < groups; g++) {
      const base = (i * groups + g) * block;
      const { mean, variance } = moments(src, base, block);
      const inv = 1 / Math.sqrt(variance + eps);
      for (let cc = 0; cc < per; cc++) {
        const ch = g * per + cc;
        const s = scaleOf(ch) * inv;
        const bb = biasOf(ch);
        const cb = base + cc * inner;
        for (let k = 0; k < inner; k++) out.data[cb + k] = (src[cb + k]! - mean) * s + bb;
      }
    }
  }
  return out;
}

/** InstanceNormalization: per (n, c) normalization over the spatial axes, then scale and B per channel. */
export const InstanceNormalization = defineOp({
  name: 'InstanceNormalization',
  inputs: ['input', 'scale', 'B'],
  outputs: ['output'],
  attrs: { epsilon: attr.float(1e-5) },
  category: 'opaque',
  doc: 'Per-instance, per-channel normalization over spatial axes.',
  infer([x, scale, b], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'input');
    rankAtLeast(x!.shape, 3, ctx.node, 'input');
    checkPerChannel(scale, x!.shape[1]!, ctx.node, 'scale');
    checkPerChannel(b, x!.shape[1]!, ctx.node, 'B');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x, scale, b], ctx) {
    const s = scale!.data;
    const bb = b!.data;
    return [groupNormCpu(x!, x!.shape[1]!, (c) => s[c]!, (c) => bb[c]!, ctx.attrs.epsilon)];
  },
});

/**
 * GroupNormalization (opset 18): channels split into `num_groups` groups, each (n, group)
 * block normalized, then scale and bias applied per group (shape [num_groups], opset 18)
 * or per channel (shape [C], as opset 21).
 */
export const GroupNormalization = defineOp({
  name: 'GroupNormalization',
  inputs: ['X', 'scale', 'bias'],
  outputs: ['Y'],
  attrs: { epsilon: attr.float(1e-5), num_groups: attr.int(undefined, (v) => (v > 0 ? undefined : 'must be positive')) },
  category: 'opaque',
  doc: 'Normalization over groups of channels.',
  infer([x, scale, b], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    rankAtLeast(x!.shape, 2, ctx.node, 'X');
    const g = ctx.attrs.num_groups;
    const c = x!.shape[1]!;
    if (typeof c === 'number' && c % g !== 0) {
      throw new ShapeError(`${ctx.node}: GroupNormalization channels ${c} of X ${formatShape(x!.shape)} are not divisible by num_groups=${g}`, ctx.node);
    }
    for (const [p, what] of [[scale, 'scale'], [b, 'bias']] as const) {
      checkPerChannel(p, p!.shape[0] === g ? g : c, ctx.node, what);
    }
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x, scale, b], ctx) {
    const g = ctx.attrs.num_groups;
    const per = x!.shape[1]! / g;
    const pick = (t: Tensor) => (t.size === g && per !== 1 ? (c: number) => t.data[Math.floor(c / per)]! : (c: number) => t.data[c]!);
    return [groupNormCpu(x!, g, pick(scale!), pick(b!), ctx.attrs.epsilon)];
  },
});

/** LRN: local response normalization across channels: x / (bias + alpha/size * sum of squares)^beta. */
export const LRN = defineOp({
  name: 'LRN',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {
    alpha: attr.float(1e-4),
    beta: attr.float(0.75),
    bias: attr.float(1),
    size: attr.int(undefined, (v) => (v > 0 ? undefined : 'must be positive')),
  },
  category: 'opaque',
  doc: 'Local response normalization across channels.',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    rankAtLeast(x!.shape, 3, ctx.node, 'X');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x], ctx) {
    const { alpha, beta, bias, size } = ctx.attrs;
    const { outer: n, n: c, inner } = splitAround(x!.shape, 1);
    const lo = Math.floor((size - 1) / 2);
    const hi = Math.ceil((size - 1) / 2);
    const out = new Tensor(x!.dtype, x!.shape);
    const src = x!.data;
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const c0 = Math.max(0, ch - lo);
        const c1 = Math.min(c - 1, ch + hi);
        const base = (i * c + ch) * inner;
        for (let k = 0; k < inner; k++) {
          let sq = 0;
          for (let cc = c0; cc <= c1; cc++) {
            const v = src[(i * c + cc) * inner + k]!;
            sq += v * v;
          }
          out.data[base + k] = src[base + k]! / Math.pow(bias + (alpha / size) * sq, beta);
        }
      }
    }
    return [out];
  },
});

/** MeanVarianceNormalization: (x - mean) / (sqrt(variance) + 1e-9) over `axes` (default [0, 2, 3]). */
export const MeanVarianceNormalization = defineOp({
  name: 'MeanVarianceNormalization',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: { axes: attr.ints([0, 2, 3]) },
  category: 'opaque',
  doc: 'Zero-mean, unit-variance normalization over axes.',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    for (const a of ctx.attrs.axes) normalizeAxis(a, x!.shape.length, ctx.node);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x], ctx) {
    const axes = [...new Set(ctx.attrs.axes.map((a) => normalizeAxis(a, x!.rank, ctx.node)))].sort((p, q) => p - q);
    const kept = reducedShape(x!.shape, axes, true) as ConcreteShape;
    const mean = reduceCpu(x!, axes, REDUCE_KINDS.ReduceMean, kept, 'float64');
    const sq = reduceCpu(x!, axes, { ...REDUCE_KINDS.ReduceSumSquare, finish: (a, n) => a / n }, kept, 'float64');
    const f = (v: ArrayLike<number>) => (v[0]! - v[1]!) / (Math.sqrt(Math.max(0, v[2]! - v[1]! * v[1]!)) + 1e-9);
    return [mapBroadcast([x!, mean, sq], x!.dtype, f, ctx.node)];
  },
});

/** LpNormalization: x divided by its L1 or L2 norm along `axis` (a zero norm gives 0). */
export const LpNormalization = defineOp({
  name: 'LpNormalization',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { axis: attr.int(-1), p: attr.int(2, (v) => (v === 1 || v === 2 ? undefined : 'must be 1 or 2')) },
  category: 'opaque',
  doc: 'Lp-normalization along an axis.',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'input');
    normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x], ctx) {
    const { outer, n, inner } = splitAround(x!.shape, normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node));
    const out = new Tensor(x!.dtype, x!.shape);
    const src = x!.data;
    const l2 = ctx.attrs.p === 2;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * n * inner + i;
        let s = 0;
        for (let k = 0; k < n; k++) {
          const v = src[base + k * inner]!;
          s += l2 ? v * v : Math.abs(v);
        }
        const norm = l2 ? Math.sqrt(s) : s;
        for (let k = 0; k < n; k++) out.data[base + k * inner] = norm === 0 ? 0 : src[base + k * inner]! / norm;
      }
    }
    return [out];
  },
});

/** Normalization ops. */
export const normalizationOps = {
  BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization,
  LRN, MeanVarianceNormalization, LpNormalization,
} as const;
