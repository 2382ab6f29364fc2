/**
 * Op family: padding — Pad (constant, reflect, edge or wrap modes, optional axes;
 * negative pads crop).
 */
import { attr } from '../attrs.js';
import { expectDType } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import { formatShape, requireStatic, stridesOf, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expectIndexDType, ints, knownInts, normAxes } from './index-util.js';
import { declareGradient } from '../gradient.js';
import { selectAdjoint } from './grad-util.js';
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
// Padded elements come from the fill value (index 0 of the adjoint: no gradient) or, in
// reflect/edge/wrap mode, from copies of inner elements (their gradients add up).
declareGradient(Pad, ({ b, inputs: [x, pads, , axes], grads: [g], attrs }) => [
  selectAdjoint(b, x!, g!, (i) => b.Pad([i, pads, undefined, axes], { ...attrs, value: undefined })),
]);

/** The padding ops. */
export const padOps = { Pad } as const;
