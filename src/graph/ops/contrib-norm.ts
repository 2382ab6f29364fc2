/**
 * Op family: ONNX Runtime's normalization contrib ops — SkipLayerNormalization and
 * SkipSimplifiedLayerNormalization (domain `com.microsoft`), and
 * SimplifiedLayerNormalization (RMS normalization, which ORT registers in the
 * default domain). Semantics follow ONNX Runtime's docs/ContribOperators.md; the
 * CPU references compute the statistics in float64.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp, type InferInput, type ValueType } from '../op.js';
import { formatShape, normalizeAxis, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { MS_DOMAIN, expectLastDimVector } from './contrib-util.js';
import { checkBroadcastInto, expandTo, tailSize } from './norm-util.js';

/**
 * The skip operand must be the input's shape with leading axes dropped or set to 1
 * (ORT: [B, S, H], [1, S, H] or [S, H]), so that element i of the input meets
 * element i mod size(skip) of skip.
 */
function checkSkip(x: InferInput, skip: InferInput, node: string): void {
  let s = [...skip.shape];
  while (s[0] === 1) s = s.slice(1);
  const off = x.shape.length - s.length;
  const ok = off >= 0 && s.every((d, i) => typeof d !== 'number' || typeof x.shape[off + i] !== 'number' || d === x.shape[off + i]);
  if (!ok || skip.dtype !== x.dtype) {
    throw new ShapeError(`${node}: skip must be ${x.dtype} with the input's shape ${formatShape(x.shape)} or its trailing dims, got ${skip.dtype} ${formatShape(skip.shape)}`, node);
  }
}

/** Shape of the per-row statistics: the input's shape with the last axis set to 1. */
const rowStatShape = (shape: readonly Dim[]): Dim[] => [...shape.slice(0, -1), 1];

interface SkipInputs {
  readonly x: Tensor;
  readonly skip: Tensor;
  readonly gamma: Tensor;
  readonly beta?: Tensor | undefined;
  readonly bias?: Tensor | undefined;
}

/**
 * Reference of the Skip*Normalization ops: s = x + skip (+ bias) per row of the
 * last axis, normalized (mean-centred unless `rms`), times gamma (+ beta). Returns
 * [output, mean, inv_std_var, input_skip_bias_sum] truncated to `count`.
 */
function skipNormCpu(t: SkipInputs, eps: number, rms: boolean, count: number, outputs: readonly ValueType[]): Tensor[] {
  const shape = t.x.shape;
  const h = shape[shape.length - 1]!;
  const rows = h === 0 ? 0 : t.x.size / h;
  const y = new Tensor(t.x.dtype, shape);
  const sum = new Tensor(t.x.dtype, shape);
  const statShape = rowStatShape(shape) as number[];
  const meanT = new Tensor(outputs[1]?.dtype ?? 'float32', statShape);
  const invT = new Tensor(outputs[2]?.dtype ?? 'float32', statShape);
  const ns = t.skip.size;
  const row = new Float64Array(h);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let k = 0; k < h; k++) {
      const i = r * h + k;
      const v = t.x.data[i]! + t.skip.data[i % ns]! + (t.bias ? t.bias.data[k]! : 0);
      row[k] = v;
      sum.data[i] = v;
      m += v;
    }
    m = rms ? 0 : m / h;
    let sq = 0;
    for (let k = 0; k < h; k++) sq += (row[k]! - m) ** 2;
    const inv = 1 / Math.sqrt(sq / h + eps);
    meanT.data[r] = m;
    invT.data[r] = inv;
    for (let k = 0; k < h; k++) y.data[r * h + k] = (row[k]! - m) * inv * t.gamma.data[k]! + (t.beta ? t.beta.data[k]! : 0);
  }
  return [y, meanT, invT, sum].slice(0, Math.max(1, count));
}

function inferSkip(x: InferInput, skip: InferInput, params: readonly [InferInput | undefined, string][], node: string): ValueType[] {
  expectDType(x.dtype, FLOATS, node, 'input');
  if (x.shape.length < 2) throw new ShapeError(`${node}: input must have rank >= 2 ([B, S, H] or [T, H]), got ${formatShape(x.shape)}`, node);
  checkSkip(x, skip, node);
  for (const [p, what] of params) {
    if (!p) continue;
    expectDType(p.dtype, FLOATS, node, what);
    expectLastDimVector(x, p, node, what);
  }
  const stat = { dtype: 'float32' as DType, shape: rowStatShape(x.shape) };
  return [{ dtype: x.dtype, shape: x.shape }, stat, stat, { dtype: x.dtype, shape: x.shape }];
}

/**
 * com.microsoft SkipLayerNormalization: LayerNormalization over the last axis of
 * input + skip (+ bias), times gamma (+ beta). Optional outputs: the row mean and
 * inverse standard deviation ([..., 1], float32) and the sum input + skip + bias.
 */
export const SkipLayerNormalization = defineOp({
  name: 'SkipLayerNormalization',
  domain: MS_DOMAIN,
  inputs: ['input', 'skip', 'gamma', 'beta?', 'bias?'],
  outputs: ['output', 'mean?', 'inv_std_var?', 'input_skip_bias_sum?'],
  attrs: { epsilon: attr.float(1e-12) },
  category: 'opaque',
  doc: 'LayerNormalization of input + skip + bias over the last axis.',
  infer([x, skip, gamma, beta, bias], ctx) {
    return inferSkip(x!, skip!, [[gamma, 'gamma'], [beta, 'beta'], [bias, 'bias']], ctx.node);
  },
  cpu([x, skip, gamma, beta, bias], ctx) {
    return skipNormCpu({ x: x!, skip: skip!, gamma: gamma!, beta, bias }, ctx.attrs.epsilon, false, ctx.numOutputs, ctx.outputs);
  },
});

/**
 * com.microsoft SkipSimplifiedLayerNormalization: RMS normalization over the last
 * axis of input + skip (+ bias), times gamma. Outputs as SkipLayerNormalization's
 * (the mean output is 0).
 */
export const SkipSimplifiedLayerNormalization = defineOp({
  name: 'SkipSimplifiedLayerNormalization',
  domain: MS_DOMAIN,
  inputs: ['input', 'skip', 'gamma', 'bias?'],
  outputs: ['output', 'mean?', 'inv_std_var?', 'input_skip_bias_sum?'],
  attrs: { epsilon: attr.float(1e-12) },
  category: 'opaque',
  doc: 'RMS normalization of input + skip + bias over the last axis.',
  infer([x, skip, gamma, bias], ctx) {
    return inferSkip(x!, skip!, [[gamma, 'gamma'], [bias, 'bias']], ctx.node);
  },
  cpu([x, skip, gamma, bias], ctx) {
    return skipNormCpu({ x: x!, skip: skip!, gamma: gamma!, bias }, ctx.attrs.epsilon, true, ctx.numOutputs, ctx.outputs);
  },
});

/**
 * SimplifiedLayerNormalization (ORT, default domain): RMS normalization over the
 * axes from `axis` on, y = x / sqrt(mean(x²) + epsilon) · scale. Optional output
 * inv_std_var has X's shape with the normalized axes set to 1 (float32 when
 * stash_type = 1).
 */
export const SimplifiedLayerNormalization = defineOp({
  name: 'SimplifiedLayerNormalization',
  inputs: ['X', 'scale'],
  outputs: ['Y', 'inv_std_var?'],
  attrs: { axis: attr.int(-1), epsilon: attr.float(1e-5), stash_type: attr.int(1) },
  category: 'opaque',
  doc: 'RMS normalization over the trailing axes, with scale.',
  infer([x, scale], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    expectDType(scale!.dtype, FLOATS, ctx.node, 'scale');
    const axis = normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    checkBroadcastInto(scale!.shape, x!.shape.slice(axis), ctx.node, 'scale');
    const statType: DType = ctx.attrs.stash_type === 1 ? 'float32' : x!.dtype;
    return [{ dtype: x!.dtype, shape: x!.shape }, { dtype: statType, shape: x!.shape.map((d, i) => (i < axis ? d : 1)) }];
  },
  cpu([x, scale], ctx) {
    const shape = x!.shape;
    const axis = normalizeAxis(ctx.attrs.axis, shape.length, ctx.node);
    const m = tailSize(shape, axis);
    const rows = m === 0 ? 0 : x!.size / m;
    const sc = expandTo(scale!, shape.slice(axis), ctx.node, 'scale');
    const y = new Tensor(x!.dtype, shape);
    const inv = new Tensor(ctx.outputs[1]?.dtype ?? 'float32', shape.map((d, i) => (i < axis ? d : 1)));
    for (let r = 0; r < rows; r++) {
      let sq = 0;
      for (let k = 0; k < m; k++) sq += x!.data[r * m + k]! ** 2;
      const v = 1 / Math.sqrt(sq / m + ctx.attrs.epsilon);
      inv.data[r] = v;
      for (let k = 0; k < m; k++) y.data[r * m + k] = x!.data[r * m + k]! * v * sc[k]!;
    }
    return [y, inv].slice(0, Math.max(1, ctx.numOutputs));
  },
});

/** The normalization contrib ops by name. */
export const contribNormOps = { SkipLayerNormalization, SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization } as const;
