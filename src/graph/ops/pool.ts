/**
 * Op family: pooling — MaxPool (with Indices), AveragePool, LpPool and their
 * global forms. Window geometry comes from conv-util.ts; the CPU reference walks
 * each output position's window (folded to three spatial axes) and skips padding.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType, type DType } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp, type InferInput, type OpContext, type ValueType } from '../op.js';
import { formatShape, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { fold3, resolveWindow, windowAttrs, type Window, type Window3, type WindowAttrs } from './conv-util.js';
import type { Sym } from '../builder.js';
import { declareGradient, GradientError } from '../gradient.js';
import { gradWhere, ints, outputPadding, scalar, scatterAdd, staticSpatial } from './grad-util.js';

const MAXPOOL_TYPES: readonly DType[] = [...FLOATS, 'int8', 'uint8'];

function checkRank(x: InferInput, node: string, op: string): void {
  if (x.shape.length < 3) throw new ShapeError(`${node}: ${op} input X ${formatShape(x.shape)} needs rank >= 3 (N, C, spatial...)`, node);
}

function poolWindow(x: InferInput, a: WindowAttrs & { ceil_mode: number }, ctx: OpContext<unknown>, op: string): Window {
  checkRank(x, ctx.node, op);
  if (!a.kernel_shape || a.kernel_shape.length === 0) throw new AttributeError(`${ctx.node}: ${op} requires attribute 'kernel_shape'`, ctx.node);
  return resolveWindow(a, x.shape.slice(2), a.kernel_shape, ctx.node, ctx.fresh, a.ceil_mode !== 0);
}

/** Folds one window: `start()`, then `tap()` per tap inside the padded input, then `emit(outIndex)`. */
interface Reducer {
  start(): void;
  /** `off` is the in-channel offset of an in-bounds tap, -1 for a tap in the padding. */
  tap(off: number): void;
  emit(o: number): void;
}

/**
 * Walks every window of `w` over `channels` channels, driving the reducer made for
 * each channel. Taps beyond the declared padding (the partial last window of
 * ceil_mode) are skipped; taps inside the padding reach the reducer as -1.
 */
function walk(w: Window3, channels: number, padEnd: readonly number[], r: (chanBase: number, outBase: number) => Reducer): void {
  const [ID, IH, IW] = w.inDims;
  const [OD, OH, OW] = w.outDims;
  const [KD, KH, KW] = w.kernel;
  const [sd, sh, sw] = w.strides;
  const [dd, dh, dw] = w.dilations;
  const [pd, ph, pw] = w.padBegin;
  const [ed, eh, ew] = padEnd as [number, number, number];
  const inSize = ID * IH * IW;
  const outSize = OD * OH * OW;
  for (let c = 0; c < channels; c++) {
    const red = r(c * inSize, c * outSize);
    let o = c * outSize;
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, o++) {
      red.start();
      for (let kd = 0; kd < KD; kd++) {
        const id = od * sd - pd + kd * dd;
        if (id < -pd || id >= ID + ed) continue;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh * dh;
          if (ih < -ph || ih >= IH + eh) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw * dw;
            if (iw < -pw || iw >= IW + ew) continue;
            const inside = id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW;
            red.tap(inside ? (id * IH + ih) * IW + iw : -1);
          }
        }
      }
      red.emit(o);
    }
  }
}

function endPads3(w: Window): number[] {
  const n = w.padEnd.length;
  return [0, 0, 0].map((_, i) => (i < 3 - n ? 0 : w.padEnd[i - (3 - n)]!));
}

/** MaxPool: windowed maximum, optionally with the flat Indices of the maxima. */
export const MaxPool = defineOp({
  name: 'MaxPool',
  inputs: ['X'],
  outputs: ['Y', 'Indices?'],
  attrs: { ...windowAttrs, ceil_mode: attr.int(0), storage_order: attr.int(0) },
  category: 'opaque',
  doc: 'Max pooling with dilations, ceil_mode and optional int64 Indices.',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, MAXPOOL_TYPES, ctx.node, 'X');
    const w = poolWindow(x!, ctx.attrs, ctx, 'MaxPool');
    const shape: Dim[] = [x!.shape[0]!, x!.shape[1]!, ...w.out];
    const out: ValueType[] = [{ dtype: x!.dtype, shape }];
    if (ctx.numOutputs > 1) out.push({ dtype: 'int64', shape });
    return out;
  },
  cpu([x], ctx) {
    const w = poolWindow(x!, ctx.attrs, ctx, 'MaxPool');
    const shape = [x!.shape[0]!, x!.shape[1]!, ...w.out] as number[];
    const y = new Tensor(x!.dtype, shape);
    const idx = new Tensor('int64', shape);
    const w3 = fold3(w, x!.shape.slice(2), ctx.node);
    const [ID, IH, IW] = w3.inDims;
    const colMajor = ctx.attrs.storage_order === 1;
    const xd = x!.data;
    let best = 0;
    let at = -1;
    walk(w3, shape[0]! * shape[1]!, endPads3(w), (base) => ({
      start() { best = -Infinity; at = -1; },
      tap(off) {
        if (off < 0) return;
        const v = xd[base + off]!;
        if (v > best || at < 0) { best = v; at = off; }
      },
      emit(o) {
        y.data[o] = best;
        if (colMajor && at >= 0) {
          const iw = at % IW;
          const ih = Math.floor(at / IW) % IH;
          const id = Math.floor(at / (IW * IH));
          idx.data[o] = base + id + ID * (ih + IH * iw);
        } else idx.data[o] = base + at;
      },
    }));
    return ctx.numOutputs > 1 ? [y, idx] : [y];
  },
});
// Each window's gradient goes to its maximum: the node is run again for its flat (row-major) Indices.
declareGradient(MaxPool, ({ b, inputs: [x], grads: [g], attrs }) => {
  const [, idx] = b.apply('MaxPool', [x!], { ...attrs, storage_order: 0 }, { outputs: 2 });
  return [scatterAdd(b, x!, idx!, g!)];
});

/** AveragePool: windowed mean; `count_include_pad` decides whether padding counts in the divisor. */
export const AveragePool = defineOp({
  name: 'AveragePool',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: { ...windowAttrs, ceil_mode: attr.int(0), count_include_pad: attr.int(0) },
  category: 'opaque',
  doc: 'Average pooling with ceil_mode and count_include_pad.',
  infer([x], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    const w = poolWindow(x!, ctx.attrs, ctx, 'AveragePool');
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, x!.shape[1]!, ...w.out] }];
  },
  cpu([x], ctx) {
    const w = poolWindow(x!, ctx.attrs, ctx, 'AveragePool');
    const shape = [x!.shape[0]!, x!.shape[1]!, ...w.out] as number[];
    const y = new Tensor(x!.dtype, shape);
    const include = ctx.attrs.count_include_pad !== 0;
    const xd = x!.data;
    let sum = 0;
    let count = 0;
    walk(fold3(w, x!.shape.slice(2), ctx.node), shape[0]! * shape[1]!, endPads3(w), (base) => ({
      start() { sum = 0; count = 0; },
      tap(off) {
        if (off >= 0) { sum += xd[base + off]!; count++; } else if (include) count++;
      },
      emit(o) { y.data[o] = count ? sum / count : 0; },
    }));
    return [y];
  },
});
/**
 * AveragePool is linear: dX = ConvTranspose(g / count, ones) per channel (group = C),
 * with `count` each window's divisor (taps inside X, or inside the padded X with
 * count_include_pad). ceil_mode's extra windows are made ordinary ones by padding the
 * end further (those taps count for neither divisor).
 */
declareGradient(AveragePool, ({ b, inputs: [x], grads: [g], attrs, node }) => {
  const spatial = staticSpatial(x!, node, 'AveragePool');
  const c = x!.shape[1];
  if (typeof c !== 'number') throw new GradientError(`${node}: the gradient of AveragePool needs a static channel count`, node);
  const k = attrs.kernel_shape ?? [];
  const win = resolveWindow(attrs, spatial, k, node, (t) => `${node}#${t}`, attrs.ceil_mode !== 0);
  const out = win.out as number[];
  const n = spatial.length;
  const extra = spatial.map((d, i) => Math.max(0, (out[i]! - 1) * win.strides[i]! + (k[i]! - 1) * win.dilations[i]! + 1 - d - win.padBegin[i]! - win.padEnd[i]!));
  const ones = (shape: number[]): Sym => b.constant(Tensor.full(x!.dtype, shape, 1), { name: 'grad_ones' });
  const window = { strides: win.strides, dilations: win.dilations };
  const count = attrs.count_include_pad
    ? b.Conv([b.Pad([ones([1, 1, ...spatial]), ints(b, [0, 0, ...win.padBegin, 0, 0, ...win.padEnd]), scalar(b, 1, x!)]), ones([1, 1, ...k])],
      { ...window, pads: [...new Array<number>(n).fill(0), ...extra] })
    : b.Conv([ones([1, 1, ...spatial]), ones([1, 1, ...k])], { ...window, pads: [...win.padBegin, ...win.padEnd.map((e, i) => e + extra[i]!)] });
  const padEnd = win.padEnd.map((e, i) => e + extra[i]!);
  return [b.ConvTranspose([b.Div([g!, count]), ones([c, 1, ...k])], { ...window, group: c, pads: [...win.padBegin, ...padEnd], output_padding: outputPadding(spatial, out, k, win.strides, win.dilations, win.padBegin, padEnd) })];
});

/** LpPool: windowed Lp norm `(sum |x|^p)^(1/p)`; padding contributes zeros. */
export const LpPool = defineOp({
  name: 'LpPool',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: { ...windowAttrs, ceil_mode: attr.int(0), p: attr.int(2) },
  category: 'opaque',
  doc: 'Lp-norm pooling over sliding windows.',
  infer([x], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    const w = poolWindow(x!, ctx.attrs, ctx, 'LpPool');
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, x!.shape[1]!, ...w.out] }];
  },
  cpu([x], ctx) {
    const w = poolWindow(x!, ctx.attrs, ctx, 'LpPool');
    const shape = [x!.shape[0]!, x!.shape[1]!, ...w.out] as number[];
    const y = new Tensor(x!.dtype, shape);
    const p = ctx.attrs.p;
    const xd = x!.data;
    let sum = 0;
    walk(fold3(w, x!.shape.slice(2), ctx.node), shape[0]! * shape[1]!, endPads3(w), (base) => ({
      start() { sum = 0; },
      tap(off) { if (off >= 0) sum += Math.abs(xd[base + off]!) ** p; },
      emit(o) { y.data[o] = sum ** (1 / p); },
    }));
    return [y];
  },
});

/** Defines a global pool: reduces all spatial axes of each (N, C) channel with `reduce`. */
function globalPool(name: string, types: readonly DType[], attrs: { p?: ReturnType<typeof attr.int> }, reduce: (d: ArrayLike<number>, from: number, n: number, p: number) => number, doc: string) {
  return defineOp({
    name,
    inputs: ['X'],
    outputs: ['Y'],
    attrs,
    category: 'reduction',
    doc,
    infer([x], ctx) {
      expectDType(x!.dtype, types, ctx.node, 'X');
      checkRank(x!, ctx.node, name);
      return [{ dtype: x!.dtype, shape: [x!.shape[0]!, x!.shape[1]!, ...x!.shape.slice(2).map(() => 1)] }];
    },
    cpu([x], ctx) {
      const s = x!.shape;
      const y = new Tensor(x!.dtype, [s[0]!, s[1]!, ...s.slice(2).map(() => 1)]);
      const inner = s.slice(2).reduce((a, b) => a * b, 1);
      const p = (ctx.attrs as { p?: number }).p ?? 2;
      for (let c = 0; c < y.size; c++) y.data[c] = reduce(x!.data, c * inner, inner, p);
      return [y];
    },
  });
}

/** GlobalAveragePool: mean over all spatial axes. */
export const GlobalAveragePool = globalPool('GlobalAveragePool', FLOATS, {}, (d, from, n) => {
  let s = 0;
  for (let i = from; i < from + n; i++) s += d[i]!;
  return s / n;
}, 'Mean over all spatial axes, keeping them as size 1.');

/** GlobalMaxPool: maximum over all spatial axes. */
export const GlobalMaxPool = globalPool('GlobalMaxPool', FLOATS, {}, (d, from, n) => {
  let m = -Infinity;
  for (let i = from; i < from + n; i++) if (d[i]! > m || Number.isNaN(d[i]!)) m = d[i]!;
  return m;
}, 'Maximum over all spatial axes, keeping them as size 1.');

/** GlobalLpPool: Lp norm over all spatial axes. */
export const GlobalLpPool = globalPool('GlobalLpPool', FLOATS, { p: attr.int(2) }, (d, from, n, p) => {
  let s = 0;
  for (let i = from; i < from + n; i++) s += Math.abs(d[i]!) ** p;
  return s ** (1 / p);
}, 'Lp norm over all spatial axes, keeping them as size 1.');

declareGradient(GlobalAveragePool, ({ b, inputs: [x], outputs: [y], grads: [g] }) => [
  b.Div([b.Expand([g!, b.Shape([x!])]), b.CastLike([b.Div([b.Size([x!]), b.Size([y!])]), x!])]),
]);
declareGradient(GlobalMaxPool, ({ b, inputs: [x], outputs: [y], grads: [g] }) => [gradWhere(b, b.Equal([x!, y!]), b.Expand([g!, b.Shape([x!])]))]);
/** Pooling ops. */
export const poolOps = { MaxPool, AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool, GlobalLpPool } as const;
