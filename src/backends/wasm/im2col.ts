/**
 * im2col in wasm for the GEMM Conv (gemm.ts): the [cg·KH·KW] × [OH·OW] column matrix
 * of `cg` channels of a 1-D or 2-D NCHW input, zero where a tap falls in the padding,
 * in the row order of the reference's im2col (conv-util.ts: channel, then kernel row,
 * then kernel column). One function per geometry (channels, input and output dims,
 * kernel, strides, dilations, pads: all plan facts) with the taps unrolled: per tap
 * the output columns whose input column is inside the input ([lo, hi), computed at
 * plan time) are copied four per v128 (column stride 1: one load; stride 2: two loads
 * and a shuffle keeping the even lanes; other strides one lane at a time), and the
 * columns outside, and the rows whose input row is outside, are stored as zeros.
 * 3-D convolutions and windows of more than {@link MAX_TAPS} taps keep the
 * reference's im2col (JS, on the same memory). Threads: a large column matrix is
 * filled in chunks of whole channels.
 */
import { im2col, type Window3 } from '../../graph/ops/conv-util.js';
import { FnBuilder } from './encoder.js';
import type { WasmPrepareContext, WasmRuntime } from './kernel.js';
import { MAX_TAPS } from './window.js';

/** Fills the column matrix of the channels at byte address `x` into byte address `col`. */
export type Im2col = (rt: WasmRuntime, x: number, col: number) => void;

/** One-thread cost per column value written (ns), for the thread split. */
const NS_PER_FLOAT = 0.3;

/** The 2-D geometry one im2col function is built for. */
interface Geom {
  readonly cg: number;
  readonly ih: number; readonly iw: number;
  readonly oh: number; readonly ow: number;
  readonly kh: number; readonly kw: number;
  readonly sh: number; readonly sw: number;
  readonly dh: number; readonly dw: number;
  readonly ph: number; readonly pw: number;
}

/** Output columns [lo, hi) of kernel column `b` whose input column lies inside [0, iw). */
function columns(g: Geom, b: number): [number, number] {
  const lo = Math.min(g.ow, Math.max(0, Math.ceil((g.pw - b * g.dw) / g.sw)));
  const hi = Math.max(lo, Math.min(g.ow, Math.floor((g.iw - 1 + g.pw - b * g.dw) / g.sw) + 1));
  return [lo, hi];
}

/** Builds im2col: (x, col, channels) → void, byte addresses, for geometry `g` (`channels` of its cg, from x's first). */
function buildIm2col(g: Geom): FnBuilder {
  const f = new FnBuilder(['i32', 'i32', 'i32'], []);
  const [X, COL, CHANNELS] = [0, 1, 2];
  const c = f.local('i32'), xc = f.local('i32'), oh = f.local('i32'), ih = f.local('i32');
  const o = f.local('i32'), p = f.local('i32'), q = f.local('i32'), end = f.local('i32'), cN = f.local('i32'), ohN = f.local('i32');
  const rowBytes = g.ow * 4;
  /** `while (q < end) { body; q += qStep; p += pStep }` (p only when pStep is non-zero). */
  const walk = (qStep: number, pStep: number, body: () => void): void => {
    f.block((exit) => f.loop((top) => {
      f.get(q).get(end).op('i32.ge_s').brIf(exit);
      body();
      f.get(q).i32(qStep).op('i32.add').set(q);
      if (pStep) f.get(p).i32(pStep).op('i32.add').set(p);
      f.br(top);
    }));
  };
  /** Zeros columns [from, to) of the row at `o`. */
  const zeros = (from: number, to: number): void => {
    if (to <= from) return;
    if (to - from <= 8) {
      for (let k = from; k < to; k++) f.get(o).f32(0).storeF32(k * 4);
      return;
    }
    const vec = from + Math.floor((to - from) / 4) * 4;
    f.get(o).i32(from * 4).op('i32.add').set(q);
    f.get(o).i32(vec * 4).op('i32.add').set(end);
    walk(16, 0, () => { f.get(q).f32x4(0).storeV(); });
    for (let k = vec; k < to; k++) f.get(o).f32(0).storeF32(k * 4);
  };
  /** Copies columns [lo, hi) of the row at `o` from input columns lo·sw + (row start at `p`). */
  const copy = (lo: number, hi: number): void => {
    if (hi <= lo) return;
    f.get(p).i32(lo * g.sw * 4).op('i32.add').set(p);
    f.get(o).i32(lo * 4).op('i32.add').set(q);
    if (g.sw <= 2) {
      const vec = lo + Math.floor((hi - lo) / 4) * 4;
      f.get(o).i32(vec * 4).op('i32.add').set(end);
      walk(16, 16 * g.sw, () => {
        f.get(q).get(p).loadV();
        // Stride 2: the eight floats from the first column, even lanes (the last one read
        // lies past the last column used, inside the memory: every value is followed by
        // at least 64 bytes of it).
        if (g.sw === 2) f.get(p).loadV(16).shuffleF32([0, 2, 4, 6]);
        f.storeV();
      });
    }
    f.get(o).i32(hi * 4).op('i32.add').set(end);
    walk(4, 4 * g.sw, () => { f.get(q).get(p).loadF32().storeF32(); });
  };
  f.get(CHANNELS).set(cN);
  f.i32(g.oh).set(ohN);
  f.get(COL).set(o);
  f.get(X).set(xc);
  f.forRange(c, 0, cN, 1, () => {
    for (let a = 0; a < g.kh; a++) {
      for (let b = 0; b < g.kw; b++) {
        const [lo, hi] = columns(g, b);
        f.forRange(oh, 0, ohN, 1, () => {
          f.get(oh).i32(g.sh).op('i32.mul').i32(a * g.dh - g.ph).op('i32.add').tee(ih).i32(g.ih).op('i32.lt_u').if(() => {
            f.get(xc).get(ih).i32(g.iw).op('i32.mul').i32(b * g.dw - g.pw).op('i32.add').i32(2).op('i32.shl').op('i32.add').set(p);
            zeros(0, lo);
            copy(lo, hi);
            zeros(hi, g.ow);
          });
          f.get(ih).i32(g.ih).op('i32.lt_u').op('i32.eqz').if(() => zeros(0, g.ow));
          f.get(o).i32(rowBytes).op('i32.add').set(o);
        });
      }
    }
    f.get(xc).i32(g.ih * g.iw * 4).op('i32.add').set(xc);
  });
  return f;
}

/**
 * The im2col of one Conv's window over `cg` channels: the emitted function for 1-D
 * and 2-D windows of at most {@link MAX_TAPS} taps, else the reference's im2col on
 * the memory.
 */
export function prepareIm2col(ctx: WasmPrepareContext, cg: number, win: Window3): Im2col {
  const [ID, IH, IW] = win.inDims;
  const [OD, OH, OW] = win.outDims;
  const [KD, KH, KW] = win.kernel;
  if (ID !== 1 || OD !== 1 || KD !== 1 || KH * KW > MAX_TAPS) {
    return (rt, x, col) => im2col(rt.f32, x / 4, cg, win, rt.f32, col / 4);
  }
  const g: Geom = {
    cg, ih: IH, iw: IW, oh: OH, ow: OW, kh: KH, kw: KW,
    sh: win.strides[1], sw: win.strides[2], dh: win.dilations[1], dw: win.dilations[2], ph: win.padBegin[1], pw: win.padBegin[2],
  };
  const name = ctx.fn(`im2col:${Object.values(g).join(',')}`, () => buildIm2col(g));
  // Threads: chunks of whole channels (each channel's KH·KW rows of columns written as alone).
  const split = ctx.split(cg, cg * KH * KW * OH * OW * NS_PER_FLOAT);
  const [xPlane, colRows] = [IH * IW * 4, KH * KW * OH * OW * 4];
  return (rt, x, col) => rt.parallel(split, (c0, c1) => [[name, x + c0 * xPlane, col + c0 * colRows, c1 - c0]]);
}
