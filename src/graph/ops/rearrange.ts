/**
 * Op family: rearrangements within a tensor, each output element read from one
 * computed input position — DepthToSpace and SpaceToDepth (channel ↔ spatial
 * blocks), ReverseSequence (per-batch reversal of the first steps) and Trilu (the
 * upper or lower triangle kept, the rest zero).
 */
import { attr } from '../attrs.js';
import { expectDType } from '../dtype.js';
import { AttributeError, ExecutionError, ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import { formatShape, normalizeAxis, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expectIndexDType, permute, prod } from './index-util.js';
import { declareGradient } from '../gradient.js';
import { selectAdjoint } from './grad-util.js';

/** Checks a rank-4 input and a block size that divides what it must. */
function check4(shape: readonly Dim[], node: string, op: string): void {
  if (shape.length !== 4) throw new ShapeError(`${node}: ${op} input must be 4-D [N,C,H,W], got ${formatShape(shape)}`, node);
}
const divDim = (d: Dim, k: number, node: string, what: string, fresh: () => string): Dim => {
  if (typeof d !== 'number') return fresh();
  if (d % k !== 0) throw new ShapeError(`${node}: ${what} ${d} is not divisible by ${k}`, node);
  return d / k;
};
const mulDim = (d: Dim, k: number, fresh: () => string): Dim => (typeof d === 'number' ? d * k : k === 1 ? d : fresh());

/** DepthToSpace: moves channel blocks into spatial blocks (DCR or CRD order). */
export const DepthToSpace = defineOp({
  name: 'DepthToSpace',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { blocksize: attr.int(undefined, (v) => (v >= 1 ? undefined : 'must be >= 1')), mode: attr.string<'DCR' | 'CRD'>('DCR', ['DCR', 'CRD']) },
  category: 'injective',
  doc: 'Rearranges depth into spatial blocks.',
  infer([x], ctx) {
    check4(x!.shape, ctx.node, 'DepthToSpace');
    const b = ctx.attrs.blocksize;
    const [n, c, h, w] = x!.shape as [Dim, Dim, Dim, Dim];
    return [{ dtype: x!.dtype, shape: [n, divDim(c, b * b, ctx.node, 'DepthToSpace channels', () => ctx.fresh(1)), mulDim(h, b, () => ctx.fresh(2)), mulDim(w, b, () => ctx.fresh(3))] }];
  },
  cpu([x], ctx) {
    const b = ctx.attrs.blocksize;
    const [n, c, h, w] = x!.shape as [number, number, number, number];
    const c2 = c / (b * b);
    const dcr = ctx.attrs.mode === 'DCR';
    const view = x!.reshape(dcr ? [n, b, b, c2, h, w] : [n, c2, b, b, h, w]);
    const t = permute(view, dcr ? [0, 3, 4, 1, 5, 2] : [0, 1, 4, 2, 5, 3]);
    return [t.reshape([n, c2, h * b, w * b])];
  },
});
declareGradient(DepthToSpace, ({ b, inputs: [x], grads: [g], attrs }) => [selectAdjoint(b, x!, g!, (i) => b.DepthToSpace([i], attrs))]);

/** SpaceToDepth: moves spatial blocks into channels. */
export const SpaceToDepth = defineOp({
  name: 'SpaceToDepth',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { blocksize: attr.int(undefined, (v) => (v >= 1 ? undefined : 'must be >= 1')) },
  category: 'injective',
  doc: 'Rearranges spatial blocks into depth.',
  infer([x], ctx) {
    check4(x!.shape, ctx.node, 'SpaceToDepth');
    const b = ctx.attrs.blocksize;
    const [n, c, h, w] = x!.shape as [Dim, Dim, Dim, Dim];
    return [{ dtype: x!.dtype, shape: [n, mulDim(c, b * b, () => ctx.fresh(1)), divDim(h, b, ctx.node, 'SpaceToDepth height', () => ctx.fresh(2)), divDim(w, b, ctx.node, 'SpaceToDepth width', () => ctx.fresh(3))] }];
  },
  cpu([x], ctx) {
    const b = ctx.attrs.blocksize;
    const [n, c, h, w] = x!.shape as [number, number, number, number];
    const t = permute(x!.reshape([n, c, h / b, b, w / b, b]), [0, 3, 5, 1, 2, 4]);
    return [t.reshape([n, c * b * b, h / b, w / b])];
  },
});
declareGradient(SpaceToDepth, ({ b, inputs: [x], grads: [g], attrs }) => [selectAdjoint(b, x!, g!, (i) => b.SpaceToDepth([i], attrs))]);

/** Trilu: keeps the upper (or lower) triangle of the last two axes relative to diagonal k. */
export const Trilu = defineOp({
  name: 'Trilu',
  inputs: ['input', 'k?'],
  outputs: ['output'],
  attrs: { upper: attr.int(1) },
  category: 'injective',
  doc: 'Upper/lower triangle of matrices.',
  infer([x, k], ctx) {
    if (x!.shape.length < 2) throw new ShapeError(`${ctx.node}: Trilu input must have rank >= 2, got ${formatShape(x!.shape)}`, ctx.node);
    if (k) expectDType(k.dtype, ['int64'], ctx.node, 'Trilu k');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x, kt], ctx) {
    const k = kt && kt.size > 0 ? kt.data[0]! : 0;
    const r = x!.rank;
    const rows = x!.shape[r - 2]!;
    const cols = x!.shape[r - 1]!;
    const out = new Tensor(x!.dtype, x!.shape, x!.data.slice());
    const upper = ctx.attrs.upper !== 0;
    const mats = prod(x!.shape, 0, r - 2);
    for (let m = 0; m < mats; m++) {
      for (let i = 0; i < rows; i++) {
        const base = (m * rows + i) * cols;
        // upper keeps j - i >= k (zero j < i + k); lower keeps j - i <= k (zero j > i + k).
        const [from, to] = upper ? [0, Math.min(cols, Math.max(0, i + k))] : [Math.max(0, i + k + 1), cols];
        if (to > from) out.data.fill(0, base + from, base + to);
      }
    }
    return [out];
  },
});

/** ReverseSequence: reverses the first `sequence_lens[b]` steps of each batch entry. */
export const ReverseSequence = defineOp({
  name: 'ReverseSequence',
  inputs: ['input', 'sequence_lens'],
  outputs: ['Y'],
  attrs: { time_axis: attr.int(0), batch_axis: attr.int(1) },
  category: 'injective',
  doc: 'Reverses variable-length sequences per batch entry.',
  infer([x, lens], ctx) {
    const r = x!.shape.length;
    if (r < 2) throw new ShapeError(`${ctx.node}: ReverseSequence input must have rank >= 2, got ${formatShape(x!.shape)}`, ctx.node);
    const t = normalizeAxis(ctx.attrs.time_axis, r, ctx.node);
    const b = normalizeAxis(ctx.attrs.batch_axis, r, ctx.node);
    if (t === b || t > 1 || b > 1) throw new AttributeError(`${ctx.node}: ReverseSequence time_axis and batch_axis must be 0 and 1 in some order`, ctx.node);
    expectIndexDType(lens!, ctx.node, 'sequence_lens');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x, lens], ctx) {
    const t = normalizeAxis(ctx.attrs.time_axis, x!.rank, ctx.node);
    const b = 1 - t;
    const st = x!.strides;
    const inner = prod(x!.shape, 2);
    const out = new Tensor(x!.dtype, x!.shape, x!.data.slice());
    const T = x!.shape[t]!;
    for (let bi = 0; bi < x!.shape[b]!; bi++) {
      const len = lens!.data[bi]!;
      if (len < 0 || len > T) throw new ExecutionError(`${ctx.node}: ReverseSequence sequence_lens[${bi}]=${len} is outside [0, ${T}]`, ctx.node);
      for (let ti = 0; ti < len; ti++) {
        const dst = bi * st[b]! + ti * st[t]!;
        const src = bi * st[b]! + (len - 1 - ti) * st[t]!;
        out.data.set(x!.data.subarray(src, src + inner), dst);
      }
    }
    return [out];
  },
});

/** The movement ops defined here. */
export const rearrangeOps = { DepthToSpace, SpaceToDepth, Trilu, ReverseSequence } as const;
