/**
 * Direct windowed kernels in SIMD128 over 2-D NCHW planes: depthwise Conv
 * (group = C_in = C_out, one KH×KW filter per channel), MaxPool and AveragePool.
 * One function per (kind, kernel, strides, dilations) walks `planes` planes; per
 * output row the columns whose every tap lies inside the input (computed at plan
 * time) run four outputs per f32x4 when the column stride is 1 or 2 (stride 2: two
 * loads and a shuffle keeping the even lanes), and every other output (borders,
 * other strides) runs one lane at a time with per-tap bounds
 * checks, so padding needs no copy. Taps are unrolled (KH·KW is a plan fact; windows
 * of more than {@link MAX_TAPS} taps are left to the other kernels).
 * Conv accumulates bias + Σ w·x; MaxPool takes the lane maximum over in-bounds taps
 * (f32x4.max: a NaN input propagates, where the reference skips it); AveragePool sums
 * and multiplies by a per-output reciprocal count built at plan time from the
 * window geometry (count_include_pad, ceil_mode), so borders need no division logic.
 * Other ranks, dtypes and groupings stay on the GEMM kernel or the reference.
 * Threads: a large window step is cut into chunks of whole planes.
 */
import { opContext, opOf } from '../../graph/infer.js';
import { resolveWindow, type Window } from '../../graph/ops/conv-util.js';
import { sizeOf, type ConcreteShape } from '../../graph/shape.js';
import type { ValueType } from '../../graph/op.js';
import { FnBuilder } from './encoder.js';
import type { WasmPrepareContext, WasmRun } from './kernel.js';

/** What one window reduces to. */
type Kind = 'conv' | 'max' | 'avg';

/** The plan-time geometry of a 2-D window (per axis: kernel, stride, dilation). */
interface Geom {
  readonly kh: number; readonly kw: number;
  readonly sh: number; readonly sw: number;
  readonly dh: number; readonly dw: number;
}

/**
 * Builds win: (x, w, out, planes, IH, IW, OH, OW, ph, pw, lo, hi, aux) → void, byte
 * addresses. For conv `w` holds planes·KH·KW weights and `aux` planes biases; for avg
 * `aux` holds OH·OW reciprocal counts (shared by every plane); for max both are unused.
 * Columns [lo, hi) have all taps inside the input.
 */
function buildWindow(kind: Kind, g: Geom): FnBuilder {
  const f = new FnBuilder(new Array(13).fill('i32'), []);
  const [X, W, OUT, PLANES, IH, IW, OH, OW, PH, PW, LO, HI, AUX] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const p = f.local('i32');
  const oh = f.local('i32');
  const ow = f.local('i32');
  const xc = f.local('i32');
  const wc = f.local('i32');
  const oc = f.local('i32');
  const ihb = f.local('i32');
  const ih = f.local('i32');
  const iw = f.local('i32');
  const row = f.local('i32');
  const hiV = f.local('i32');
  const acc = f.local('v128');
  const init = f.local('v128');
  const taps = g.kh * g.kw;
  const initAcc = (): void => {
    if (kind === 'conv') f.get(init).set(acc);
    else if (kind === 'max') f.f32x4(-Infinity).set(acc);
    else f.f32x4(0).set(acc);
  };
  /** acc ⊕= tap `t` at the v128 on the stack. */
  const combine = (t: number): void => {
    if (kind === 'conv') f.get(wc).loadSplat(t * 4).simd('f32x4.mul').get(acc).simd('f32x4.add').set(acc);
    else if (kind === 'max') f.get(acc).simd('f32x4.max').set(acc);
    else f.get(acc).simd('f32x4.add').set(acc);
  };
  /** Output address of (oh, ow) on the stack. */
  const outAddr = (): void => { f.get(oc).get(oh).get(OW).op('i32.mul').get(ow).op('i32.add').i32(2).op('i32.shl').op('i32.add'); };
  /** The finished accumulator on the stack (avg: times the reciprocal count of (oh, ow)). */
  const result = (vector: boolean): void => {
    f.get(acc);
    if (kind === 'avg') {
      f.get(AUX).get(oh).get(OW).op('i32.mul').get(ow).op('i32.add').i32(2).op('i32.shl').op('i32.add');
      if (vector) f.loadV(); else f.loadSplat();
      f.simd('f32x4.mul');
    }
  };
  /** One output with bounds checks on every tap. */
  const scalarOut = (): void => {
    initAcc();
    for (let a = 0; a < g.kh; a++) {
      f.get(ihb).i32(a * g.dh).op('i32.add').tee(ih).get(IH).op('i32.lt_u').if(() => {
        f.get(xc).get(ih).get(IW).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(row);
        for (let b = 0; b < g.kw; b++) {
          f.get(ow).i32(g.sw).op('i32.mul').get(PW).op('i32.sub').i32(b * g.dw).op('i32.add').tee(iw).get(IW).op('i32.lt_u').if(() => {
            f.get(row).get(iw).i32(2).op('i32.shl').op('i32.add').loadSplat();
            combine(a * g.kw + b);
          });
        }
      });
    }
    outAddr();
    result(false);
    f.lane(0).storeF32();
  };
  /**
   * Four outputs (column stride 1 or 2, every column tap inside the input). Stride 2
   * loads the eight floats from the tap's first column and keeps the even lanes; the
   * last one read lies past the last column used (and inside the memory: every value
   * is followed by at least 64 bytes of it).
   */
  const vectorOut = (): void => {
    initAcc();
    for (let a = 0; a < g.kh; a++) {
      f.get(ihb).i32(a * g.dh).op('i32.add').tee(ih).get(IH).op('i32.lt_u').if(() => {
        f.get(xc).get(ih).get(IW).op('i32.mul').get(ow);
        if (g.sw === 2) f.i32(1).op('i32.shl');
        f.op('i32.add').get(PW).op('i32.sub').i32(2).op('i32.shl').op('i32.add').set(row);
        for (let b = 0; b < g.kw; b++) {
          if (g.sw === 2) f.get(row).loadV(b * g.dw * 4).get(row).loadV(b * g.dw * 4 + 16).shuffleF32([0, 2, 4, 6]);
          else f.get(row).loadV(b * g.dw * 4);
          combine(a * g.kw + b);
        }
      });
    }
    outAddr();
    result(true);
    f.storeV();
  };
  const whileLt = (limit: number, step: number, body: () => void): void => {
    f.block((exit) => f.loop((top) => {
      f.get(ow).get(limit).op('i32.ge_s').brIf(exit);
      body();
      f.get(ow).i32(step).op('i32.add').set(ow);
      f.br(top);
    }));
  };
  f.get(HI).i32(3).op('i32.sub').set(hiV);
  f.forRange(p, 0, PLANES, 1, () => {
    f.get(X).get(p).get(IH).op('i32.mul').get(IW).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(xc);
    f.get(OUT).get(p).get(OH).op('i32.mul').get(OW).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(oc);
    if (kind === 'conv') {
      f.get(W).get(p).i32(taps * 4).op('i32.mul').op('i32.add').set(wc);
      f.get(AUX).get(p).i32(2).op('i32.shl').op('i32.add').loadSplat().set(init);
    }
    f.forRange(oh, 0, OH, 1, () => {
      f.get(oh).i32(g.sh).op('i32.mul').get(PH).op('i32.sub').set(ihb);
      f.i32(0).set(ow);
      if (g.sw <= 2) {
        whileLt(LO, 1, scalarOut);
        whileLt(hiV, 4, vectorOut);
      }
      whileLt(OW, 1, scalarOut);
    });
  });
  return f;
}

/** One-thread cost per output and tap (ns), for the thread split (MaxPool 3×3/2 on 64×111×111: ~0.5). */
const NS_PER_TAP = 0.5;

/** The concrete shape of a float32 value, or undefined. */
export function f32Shape(t: ValueType | undefined): ConcreteShape | undefined {
  if (!t || t.dtype !== 'float32' || !t.shape.every((d) => typeof d === 'number')) return undefined;
  return t.shape as ConcreteShape;
}

/** The columns [lo, hi) of an output row whose every tap is inside [0, IW). */
function interior(win: Window, IW: number, OW: number): [number, number] {
  const pw = win.padBegin[1]!, sw = win.strides[1]!, ek = (win.kernel[1]! - 1) * win.dilations[1]!;
  const lo = Math.min(OW, Math.max(0, Math.ceil(pw / sw)));
  const hi = Math.max(lo, Math.min(OW, Math.floor((IW - 1 + pw - ek) / sw) + 1));
  return [lo, hi];
}

/** Most taps per window the unrolled kernel takes (larger windows stay on the GEMM kernel or the reference). */
export const MAX_TAPS = 64;

/** True when a window's taps fit the unrolled kernel. */
function unrollable(win: Window): boolean {
  return win.kernel[0]! * win.kernel[1]! <= MAX_TAPS;
}

/** The function of one window kind and geometry, and the runner over `planes` planes. */
function windowRun(ctx: WasmPrepareContext, kind: Kind, win: Window, xs: ConcreteShape, planes: number, w: number, aux: number): WasmRun {
  const [IH, IW] = [xs[2]!, xs[3]!];
  const [OH, OW] = win.out as [number, number];
  const g: Geom = { kh: win.kernel[0]!, kw: win.kernel[1]!, sh: win.strides[0]!, sw: win.strides[1]!, dh: win.dilations[0]!, dw: win.dilations[1]! };
  const name = ctx.fn(`win:${kind}:${g.kh}x${g.kw}:s${g.sh},${g.sw}:d${g.dh},${g.dw}`, () => buildWindow(kind, g));
  const [lo, hi] = interior(win, IW, OW);
  const [ph, pw] = [win.padBegin[0]!, win.padBegin[1]!];
  const taps = g.kh * g.kw;
  // Threads: chunks of whole planes (each plane computed as alone, so any split gives the same bits).
  const split = ctx.split(planes, planes * OH * OW * taps * NS_PER_TAP);
  return (rt, [x], out) => {
    const xa = rt.addrOf(x!);
    rt.parallel(split, (p0, p1) => [[name, xa + p0 * IH * IW * 4, kind === 'conv' ? w + p0 * taps * 4 : w, out + p0 * OH * OW * 4, p1 - p0, IH, IW, OH, OW, ph, pw, lo, hi,
      kind === 'conv' ? aux + p0 * 4 : aux]]);
  };
}

/**
 * Depthwise Conv (rank-4 NCHW, group = C = M, constant weights [C, 1, KH, KW] and
 * optional constant bias): the direct kernel; undefined for any other Conv, which
 * then goes to the GEMM kernel.
 */
export function prepareDepthwiseConv(ctx: WasmPrepareContext): WasmRun | undefined {
  const xs = f32Shape(ctx.inputs[0]);
  const ws = f32Shape(ctx.inputs[1]);
  const os = f32Shape(ctx.outputs[0]);
  const w = ctx.constant(1);
  if (!xs || !ws || !os || !w || xs.length !== 4 || ws.length !== 4) return undefined;
  const oc = opContext(opOf(ctx.node), ctx.node);
  const attrs = oc.attrs as unknown as Parameters<typeof resolveWindow>[0] & { group: number };
  const [n, c] = xs as [number, number];
  if (attrs.group !== c || ws[0] !== c || ws[1] !== 1 || c === 1) return undefined;
  const b = ctx.inputs[2] ? ctx.constant(2) : undefined;
  if (ctx.inputs[2] && !b) return undefined;
  const win = resolveWindow(attrs, xs.slice(2), ws.slice(2), ctx.node.name, oc.fresh);
  if (!unrollable(win) || sizeOf(os) !== n * c * (win.out[0] as number) * (win.out[1] as number)) return undefined;
  // Weights and biases repeated per batch, so one call walks every (n, c) plane.
  const wd = w.data as Float32Array;
  const wAll = new Float32Array(n * wd.length);
  const bAll = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    wAll.set(wd, i * wd.length);
    if (b) bAll.set(b.data as Float32Array, i * c);
  }
  return windowRun(ctx, 'conv', win, xs, n * c, ctx.allocConst(wAll), ctx.allocConst(bAll));
}

/** The resolved 2-D window of a pool node, or undefined. */
function poolWindow(ctx: WasmPrepareContext): { xs: ConcreteShape; win: Window; attrs: Record<string, unknown> } | undefined {
  const xs = f32Shape(ctx.inputs[0]);
  const os = f32Shape(ctx.outputs[0]);
  if (!xs || !os || xs.length !== 4 || ctx.node.outputs.length !== 1) return undefined;
  const oc = opContext(opOf(ctx.node), ctx.node);
  const attrs = oc.attrs as unknown as Parameters<typeof resolveWindow>[0] & { ceil_mode: number };
  if (!attrs.kernel_shape || attrs.kernel_shape.length !== 2) return undefined;
  const win = resolveWindow(attrs, xs.slice(2), attrs.kernel_shape, ctx.node.name, oc.fresh, attrs.ceil_mode !== 0);
  if (!unrollable(win) || sizeOf(os) !== xs[0]! * xs[1]! * (win.out[0] as number) * (win.out[1] as number)) return undefined;
  return { xs, win, attrs: attrs as unknown as Record<string, unknown> };
}

/** MaxPool (rank 4, no Indices output). */
export function prepareMaxPool(ctx: WasmPrepareContext): WasmRun | undefined {
  const pw = poolWindow(ctx);
  if (!pw) return undefined;
  return windowRun(ctx, 'max', pw.win, pw.xs, pw.xs[0]! * pw.xs[1]!, 0, 0);
}

/**
 * The reciprocal divisor of each output of an AveragePool window: taps inside the
 * input, or (count_include_pad) inside the declared padding too — taps past the end
 * padding (ceil_mode's partial last window) count for neither, as in the reference.
 */
export function avgPoolReciprocals(win: Window, inDims: readonly [number, number], includePad: boolean): Float32Array {
  const [OH, OW] = win.out as [number, number];
  const out = new Float32Array(OH * OW);
  const count = (o: number, ax: number): number => {
    const d = inDims[ax]!, k = win.kernel[ax]!, s = win.strides[ax]!, dl = win.dilations[ax]!;
    const pb = win.padBegin[ax]!, pe = win.padEnd[ax]!;
    let c = 0;
    for (let t = 0; t < k; t++) {
      const i = o * s - pb + t * dl;
      if (includePad ? i >= -pb && i < d + pe : i >= 0 && i < d) c++;
    }
    return c;
  };
  for (let oh = 0; oh < OH; oh++) {
    const ch = count(oh, 0);
    for (let ow = 0; ow < OW; ow++) {
      const c = ch * count(ow, 1);
      out[oh * OW + ow] = c ? 1 / c : 0;
    }
  }
  return out;
}

/** AveragePool (rank 4; count_include_pad and ceil_mode through the reciprocal counts). */
export function prepareAveragePool(ctx: WasmPrepareContext): WasmRun | undefined {
  const pw = poolWindow(ctx);
  if (!pw) return undefined;
  const recip = avgPoolReciprocals(pw.win, [pw.xs[2]!, pw.xs[3]!], pw.attrs['count_include_pad'] !== 0);
  return windowRun(ctx, 'avg', pw.win, pw.xs, pw.xs[0]! * pw.xs[1]!, 0, ctx.allocConst(recip));
}
