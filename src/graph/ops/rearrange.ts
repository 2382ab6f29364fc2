/**
 * Movement ops (continued): Pad, DepthToSpace, SpaceToDepth, Trilu, ReverseSequence.
 * Spread into `movementOps` by movement.ts.
 */
import { attr } from '../attrs.js';
import { expectDType } from '../dtype.js';
import { AttributeError, ExecutionError, ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import { formatShape, normalizeAxis, requireStatic, stridesOf, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expectIndexDType, ints, knownInts, normAxes, permute, prod } from './index-util.js';

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

/** Source index along one axis for output index `i` (already shifted by the begin pad); -1 means "constant". */
const PAD_SOURCE: Record<PadMode, (i: number, d: number) => number> = {
  constant: (i, d) => (i >= 0 && i < d ? i : -1),
  edge: (i, d) => Math.min(Math.max(i, 0), d - 1),
  reflect: (i, d) => {
    if (d === 1) return 0;
    const period = 2 * (d - 1);
    let j = ((i % period) + period) % period;
    if (j >= d) j = period - j;
    return j;
  },
  wrap: (i, d) => ((i % d) + d) % d,
};

/** Full per-axis pads [begins..., ends...] from the pads (and optional axes) given. */
function fullPads(pads: readonly number[], axes: readonly number[] | undefined, rank: number, node: string): number[] {
  const ax = axes ? normAxes(axes, rank, node) : Array.from({ length: rank }, (_, i) => i);
  if (pads.length !== 2 * ax.length) throw new ShapeError(`${node}: Pad pads has ${pads.length} values, expected ${2 * ax.length} (2 per axis)`, node);
  const out = new Array<number>(2 * rank).fill(0);
  ax.forEach((a, i) => {
    out[a] = pads[i]!;
    out[a + rank] = pads[i + ax.length]!;
  });
  return out;
}

/** Pad: constant, reflect or edge padding (negative pads crop). */
export const Pad = defineOp({
  name: 'Pad',
  inputs: ['data', 'pads?', 'constant_value?', 'axes?'],
  outputs: ['output'],
  attrs: { mode: attr.string<PadMode>('constant', ['constant', 'reflect', 'edge', 'wrap']), pads: attr.optInts(), value: attr.optFloat() },
  category: 'injective',
  shapeInputs: [1, 3],
  doc: 'Pads a tensor (constant, reflect, edge).',
  infer([x, p, , ax], ctx) {
    const rank = x!.shape.length;
    if (p) expectDType(p.dtype, ['int64'], ctx.node, 'Pad pads');
    if (ax) expectIndexDType(ax, ctx.node, 'Pad axes');
    const raw = p ? knownInts(p) : ctx.attrs.pads;
    if (!p && !raw) throw new AttributeError(`${ctx.node}: Pad needs pads (input, or attribute before opset 11)`, ctx.node);
    const axes = ax ? knownInts(ax) : undefined;
    if (!raw || (ax && !axes)) return [{ dtype: x!.dtype, shape: x!.shape.map((_, i) => ctx.fresh(i)) }];
    const pads = fullPads(raw, axes, rank, ctx.node);
    const out: Dim[] = x!.shape.map((d, i) => {
      const extra = pads[i]! + pads[i + rank]!;
      if (extra === 0) return d;
      if (typeof d !== 'number') return ctx.fresh(i);
      const n = d + extra;
      if (n < 0) throw new ShapeError(`${ctx.node}: Pad pads ${JSON.stringify(raw)} make axis ${i} of ${formatShape(x!.shape)} negative`, ctx.node);
      if (ctx.attrs.mode !== 'constant' && d === 0 && n > 0) throw new ShapeError(`${ctx.node}: Pad mode ${ctx.attrs.mode} cannot pad an empty axis ${i}`, ctx.node);
      return n;
    });
    return [{ dtype: x!.dtype, shape: out }];
  },
  cpu([x, p, cv, ax], ctx) {
    const rank = x!.rank;
    const pads = fullPads(p ? ints(p) : ctx.attrs.pads!, ax ? ints(ax) : undefined, rank, ctx.node);
    const shape = requireStatic(ctx.outputs[0]!.shape, ctx.node, 'output');
    const fill = cv && cv.size > 0 ? cv.data[0]! : ctx.attrs.value ?? 0;
    const src = PAD_SOURCE[ctx.attrs.mode];
    const st = stridesOf(x!.shape);
    // Per axis: source offset (index * stride) for each output index, or -1.
    const maps = shape.map((n, a) => {
      const m = new Float64Array(n);
      for (let o = 0; o < n; o++) {
        const i = src(o - pads[a]!, x!.shape[a]!);
        m[o] = i < 0 ? -1 : i * st[a]!;
      }
      return m;
    });
    const out = new Tensor(x!.dtype, shape);
    const n = out.size;
    if (n === 0) return [out];
    if (rank === 0) return [new Tensor(x!.dtype, [], x!.data.slice())];
    const inner = shape[rank - 1]!;
    const last = maps[rank - 1]!;
    const idx = new Int32Array(rank);
    const xd = x!.data;
    const od = out.data;
    for (let o = 0; o < n; o += inner) {
      let base = 0;
      for (let a = 0; a < rank - 1; a++) {
        const m = maps[a]![idx[a]!]!;
        if (m < 0) { base = -1; break; }
        base += m;
      }
      if (base < 0) od.fill(fill, o, o + inner);
      else for (let i = 0; i < inner; i++) { const m = last[i]!; od[o + i] = m < 0 ? fill : xd[base + m]!; }
      for (let a = rank - 2; a >= 0; a--) {
        if (++idx[a]! < shape[a]!) break;
        idx[a] = 0;
      }
    }
    return [out];
  },
});

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
export const movementExtraOps = { Pad, DepthToSpace, SpaceToDepth, Trilu, ReverseSequence } as const;
