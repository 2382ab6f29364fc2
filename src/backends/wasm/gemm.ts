/**
 * GEMM in SIMD128 and the ops lowered to it: MatMul, Gemm and Conv (im2col.ts + GEMM,
 * any group count, depthwise included; 1×1 stride-1 unpadded convolutions read the
 * input directly).
 *
 * The micro-kernel computes an MR × 8 block of C = A·B (+ bias) in 2·MR f32x4
 * accumulators: per k it loads one 8-wide row of the B panel (two v128) and splats
 * MR scalars of A. A is addressed by byte strides (sai per row, sak per k), so
 * row-major, transposed and weight matrices need no copy. B is addressed as panels
 * of 8 columns (sbp bytes apart) whose rows are sbk bytes apart: a constant B is
 * packed at compile time into contiguous K×8 panels (zero-padded, alpha folded in);
 * a run-time B (attention, im2col output, a 1×1 convolution's input) is packed the
 * same way into scratch at run time (packb) when at least 8 rows of A reuse it, else
 * read in place with sbp = 32 and sbk = its row bytes (a row stride of 4 KiB, as in
 * a 1024-wide matrix, made every k step of the in-place read a cache-set conflict).
 * The last M mod MR rows go through 2- and 1-row kernels. A last partial panel goes
 * through 32 bytes of scratch.
 * Bias is per row (Conv) or per column (Gemm's C), or none.
 *
 * Threads: a GEMM big enough is cut (at plan time, {@link gemmSplit}) into chunks of
 * MR-row blocks or of 8-column panels, whichever count is larger; a run-time B is
 * packed by the chunks of a column split, each its own panels right before it uses
 * them (one job), and for a row split in chunks of panels first; every chunk computes its outputs exactly as the
 * whole call would (same k order), so results do not depend on the thread count.
 */
import { opContext, opOf } from '../../graph/infer.js';
import { fold3, resolveWindow, type Window3 } from '../../graph/ops/conv-util.js';
import { sizeOf, type ConcreteShape } from '../../graph/shape.js';
import type { Tensor } from '../../graph/tensor.js';
import type { ValueType } from '../../graph/op.js';
import { FnBuilder } from './encoder.js';
import { prepareIm2col } from './im2col.js';
import type { WasmCall, WasmPrepareContext, WasmRun, WasmRuntime, WasmSplit } from './kernel.js';

/** Columns per panel (two f32x4). */
export const NR = 8;
/**
 * Rows of the main micro-kernel. 4 rows (8 accumulators) measured fastest under V8's
 * TurboFan on x64: 5 and 6 rows, and the k loop unrolled 2 or 4 times, ran at about
 * half the speed (register spills).
 */
export const MR = 4;
/** Row counts of the tail kernels (the last M mod MR rows, largest first). */
const TAIL_MR = [2, 1] as const;
/** Pack a run-time B (im2col output, a fed matrix) when at least this many rows of A reuse it. */
const PACK_MIN_M = 8;

/** One-thread cost of a multiply-add in the micro-kernel (ns; about 25 GFLOP/s), for {@link gemmSplit}. */
const NS_PER_MAC = 0.08;
/** One-thread cost of packing one element of B (ns). */
const NS_PER_PACKED = 0.5;

/** Bias modes of the GEMM function. */
const BIAS_NONE = 0, BIAS_ROW = 1, BIAS_COL = 2;

/** Builds gemm for `mr` rows per block: (M, N, K, a, sai, sak, b, sbp, sbk, c, ldc, bias, biasMode, tmp). */
export function buildGemm(mr: number): FnBuilder {
  const f = new FnBuilder(new Array(14).fill('i32'), []);
  const [M, N, K, A, SAI, SAK, B, SBP, SBK, C, LDC, BIAS, MODE, TMP] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const i = f.local('i32');
  const j0 = f.local('i32');
  const k = f.local('i32');
  const pb = f.local('i32');
  const rem = f.local('i32');
  const crow = f.local('i32');
  const t = f.local('i32');
  const bp = f.local('i32');
  const pa = Array.from({ length: mr }, () => f.local('i32'));
  const acc = Array.from({ length: mr }, () => [f.local('v128'), f.local('v128')] as const);
  const b0 = f.local('v128');
  const b1 = f.local('v128');
  const av = f.local('v128');
  const fma = (a: number, x: number, y: number) => f.get(a).get(x).get(y).simd('f32x4.mul').simd('f32x4.add').set(a);
  f.forRange(i, 0, M, mr, () => {
    f.get(B).set(bp);
    f.forRange(j0, 0, N, NR, () => {
      for (const [x, y] of acc) { f.f32x4(0).set(x); f.f32x4(0).set(y); }
      pa.forEach((p, r) => f.get(A).get(i).i32(r).op('i32.add').get(SAI).op('i32.mul').op('i32.add').set(p));
      f.get(bp).set(pb);
      f.get(K).set(k);
      f.block((exit) => f.loop((top) => {
        f.get(k).i32(0).op('i32.le_s').brIf(exit);
        f.get(pb).loadV(0).set(b0);
        f.get(pb).loadV(16).set(b1);
        pa.forEach((p, r) => {
          f.get(p).loadSplat().set(av);
          fma(acc[r]![0], av, b0);
          fma(acc[r]![1], av, b1);
          f.get(p).get(SAK).op('i32.add').set(p);
        });
        f.get(pb).get(SBK).op('i32.add').set(pb);
        f.get(k).i32(1).op('i32.sub').set(k);
        f.br(top);
      }));
      f.get(MODE).i32(BIAS_ROW).op('i32.eq').if(() => {
        acc.forEach(([x, y], r) => {
          f.get(BIAS).get(i).i32(r).op('i32.add').i32(2).op('i32.shl').op('i32.add').loadSplat().set(av);
          f.get(x).get(av).simd('f32x4.add').set(x);
          f.get(y).get(av).simd('f32x4.add').set(y);
        });
      });
      f.get(MODE).i32(BIAS_COL).op('i32.eq').if(() => {
        f.get(BIAS).get(j0).i32(2).op('i32.shl').op('i32.add').tee(t).loadV(0).set(b0);
        f.get(t).loadV(16).set(b1);
        for (const [x, y] of acc) {
          f.get(x).get(b0).simd('f32x4.add').set(x);
          f.get(y).get(b1).simd('f32x4.add').set(y);
        }
      });
      f.get(N).get(j0).op('i32.sub').set(rem);
      acc.forEach(([x, y], r) => {
        f.get(C).get(i).i32(r).op('i32.add').get(LDC).op('i32.mul').op('i32.add').get(j0).i32(2).op('i32.shl').op('i32.add').set(crow);
        f.get(rem).i32(NR).op('i32.ge_s').if(() => {
          f.get(crow).get(x).storeV(0);
          f.get(crow).get(y).storeV(16);
        });
        f.get(rem).i32(NR).op('i32.lt_s').if(() => {
          f.get(TMP).get(x).storeV(0);
          f.get(TMP).get(y).storeV(16);
          f.forRange(t, 0, rem, 1, () => {
            f.get(crow).get(t).i32(2).op('i32.shl').op('i32.add');
            f.get(TMP).get(t).i32(2).op('i32.shl').op('i32.add').loadF32();
            f.storeF32();
          });
        });
      });
      f.get(bp).get(SBP).op('i32.add').set(bp);
    });
  });
  return f;
}

/**
 * Builds packb: (src, ldb, K, panels, dst) copies the first `panels`·8 columns of a
 * row-major K×N matrix (rows `ldb` bytes apart) into contiguous K×8 panels at dst.
 */
export function buildPackB(): FnBuilder {
  const f = new FnBuilder(new Array(5).fill('i32'), []);
  const [SRC, LDB, K, PANELS, DST] = [0, 1, 2, 3, 4];
  const p = f.local('i32');
  const k = f.local('i32');
  const s = f.local('i32');
  f.forRange(p, 0, PANELS, 1, () => {
    f.get(SRC).get(p).i32(5).op('i32.shl').op('i32.add').set(s);
    f.forRange(k, 0, K, 1, () => {
      f.get(DST).get(s).loadV(0).storeV(0);
      f.get(DST).get(s).loadV(16).storeV(16);
      f.get(DST).i32(NR * 4).op('i32.add').set(DST);
      f.get(s).get(LDB).op('i32.add').set(s);
    });
  });
  return f;
}

/** The export names of the GEMM functions (MR rows, the tails, B packing). */
interface GemmFns { readonly main: string; readonly tails: readonly (readonly [number, string])[]; readonly pack: string }

/** Asks the module for the GEMM functions. */
export function gemmFns(ctx: WasmPrepareContext): GemmFns {
  return {
    main: ctx.fn(`gemm${MR}`, () => buildGemm(MR)),
    tails: TAIL_MR.map((r) => [r, ctx.fn(`gemm${r}`, () => buildGemm(r))] as const),
    pack: ctx.fn('packb', buildPackB),
  };
}

/** One GEMM call: C[M,N] = A·B (+ bias); strides in bytes (see the file comment). */
export interface GemmArgs {
  readonly M: number; readonly N: number; readonly K: number;
  readonly a: number; readonly sai: number; readonly sak: number;
  readonly b: number; readonly sbp: number; readonly sbk: number;
  readonly c: number; readonly ldc: number;
  readonly bias?: number; readonly biasMode?: number;
}

/** How one GEMM shape is cut for threads: chunks of MR-row blocks, or (byCols) of 8-column panels. */
export interface GemmSplit {
  readonly byCols: boolean;
  readonly split: WasmSplit;
}

/** The thread split of an M×N×K GEMM (one chunk when single-threaded or small). */
export function gemmSplit(ctx: WasmPrepareContext, M: number, N: number, K: number): GemmSplit {
  const blocks = Math.ceil(M / MR);
  const panels = Math.ceil(N / NR);
  const byCols = panels >= blocks;
  return { byCols, split: ctx.split(byCols ? panels : blocks, M * N * K * NS_PER_MAC) };
}

/** The thread split of packing a run-time K×N B (chunks of whole panels). */
export function packSplit(ctx: WasmPrepareContext, K: number, N: number): WasmSplit {
  return ctx.split(Math.floor(N / NR), K * N * NS_PER_PACKED);
}

/** Bytes of scratch {@link packRuntimeB} needs for a K×N B. */
export function packedBytes(K: number, N: number): number {
  return Math.ceil(N / NR) * K * NR * 4;
}

/**
 * Packs a run-time row-major K×N B (at byte address `b`, rows `ldb` bytes apart) into
 * K×8 panels at `dst` (zero-padded last panel); returns the B strides of the packed copy.
 */
export function packRuntimeB(rt: WasmRuntime, fns: GemmFns, K: number, N: number, b: number, ldb: number, dst: number, split?: WasmSplit): { b: number; sbp: number; sbk: number } {
  const full = Math.floor(N / NR);
  if (full > 0) rt.parallel(split ?? { chunks: [[0, full]] }, (p0, p1) => [[fns.pack, b + p0 * NR * 4, ldb, K, p1 - p0, dst + p0 * K * NR * 4]]);
  const rem = N - full * NR;
  if (rem > 0) {
    const f32 = rt.f32;
    const o = (dst >> 2) + full * K * NR;
    const src = (b >> 2) + full * NR;
    const ld = ldb >> 2;
    for (let k = 0; k < K; k++) {
      for (let t = 0; t < NR; t++) f32[o + k * NR + t] = t < rem ? f32[src + k * ld + t]! : 0;
    }
  }
  return { b: dst, sbp: K * NR * 4, sbk: NR * 4 };
}

/** A run-time B's strides for {@link runGemm}: packed at `dst` when M ≥ {@link PACK_MIN_M} rows reuse it, else read in place. */
function runtimeB(rt: WasmRuntime, fns: GemmFns, M: number, K: number, N: number, b: number, ldb: number, dst: number, split?: WasmSplit): { b: number; sbp: number; sbk: number } {
  return M >= PACK_MIN_M ? packRuntimeB(rt, fns, K, N, b, ldb, dst, split) : { b, sbp: NR * 4, sbk: ldb };
}

/**
 * Runs a GEMM whose B is a run-time row-major K×N matrix at byte address `b` (rows
 * `ldb` bytes apart), packed at `dst` when M ≥ {@link PACK_MIN_M} rows reuse it, else
 * read in place. A column split packs and multiplies in one job: each chunk packs its
 * own panels and then computes their columns (the last partial panel is packed here
 * first), so there is no barrier between packing and the product and each chunk's
 * panels are still in its core's cache; a row split needs all of B, so it packs in
 * one job (`ps`) and multiplies in the next. Every path computes with the same packed
 * values and calls, so the bits do not depend on the split.
 */
function runGemmRuntimeB(rt: WasmRuntime, fns: GemmFns, g: Omit<GemmArgs, 'b' | 'sbp' | 'sbk'>, b: number, ldb: number, dst: number, gs: GemmSplit, ps: WasmSplit): void {
  if (g.M < PACK_MIN_M || !gs.byCols) {
    runGemm(rt, fns, { ...g, ...runtimeB(rt, fns, g.M, g.K, g.N, b, ldb, dst, ps) }, gs);
    return;
  }
  const { K, N } = g;
  const full = Math.floor(N / NR);
  if (full < Math.ceil(N / NR)) packRuntimeB(rt, fns, K, N - full * NR, b + full * NR * 4, ldb, dst + full * K * NR * 4);
  const packed: GemmArgs = { ...g, b: dst, sbp: K * NR * 4, sbk: NR * 4 };
  rt.parallel(gs.split, (u0, u1, tmp) => {
    const p1 = Math.min(u1, full);
    const calls = gemmCalls(fns, packed, 0, g.M, u0 * NR, Math.min(N, u1 * NR), tmp);
    return p1 > u0 ? [[fns.pack, b + u0 * NR * 4, ldb, K, p1 - u0, dst + u0 * K * NR * 4], ...calls] : calls;
  });
}

/** Scratch bytes for {@link runtimeB} (zero when it reads in place). */
function runtimeBBytes(M: number, K: number, N: number): number {
  return M >= PACK_MIN_M ? packedBytes(K, N) : 0;
}

/** The calls computing rows [r0, r1) × columns [c0, c1) of a GEMM (r0 a multiple of MR, c0 of 8): MR-row blocks, then the tail kernels. */
function gemmCalls(fns: GemmFns, g: GemmArgs, r0: number, r1: number, c0: number, c1: number, tmp: number): WasmCall[] {
  const mode = g.biasMode ?? BIAS_NONE;
  const bias = g.bias ?? 0;
  const out: WasmCall[] = [];
  let row = r0;
  const rows = (fn: string, count: number): void => {
    if (count <= 0) return;
    const bi = mode === BIAS_ROW ? bias + row * 4 : mode === BIAS_COL ? bias + c0 * 4 : bias;
    out.push([fn, count, c1 - c0, g.K, g.a + row * g.sai, g.sai, g.sak, g.b + (c0 / NR) * g.sbp, g.sbp, g.sbk, g.c + row * g.ldc + c0 * 4, g.ldc, bi, mode, tmp]);
    row += count;
  };
  rows(fns.main, (r1 - r0) - ((r1 - r0) % MR));
  for (const [r, fn] of fns.tails) rows(fn, Math.floor((r1 - row) / r) * r);
  return out;
}

/** Runs a GEMM: MR-row blocks, then the remaining rows by the tail kernels; cut for threads as `split` says (from {@link gemmSplit} of this shape). */
export function runGemm(rt: WasmRuntime, fns: GemmFns, g: GemmArgs, split?: GemmSplit): void {
  const s = split ?? { byCols: false, split: { chunks: [[0, Math.ceil(g.M / MR)]] } };
  rt.parallel(s.split, s.byCols
    ? (u0, u1, tmp) => gemmCalls(fns, g, 0, g.M, u0 * NR, Math.min(g.N, u1 * NR), tmp)
    : (u0, u1, tmp) => gemmCalls(fns, g, u0 * MR, Math.min(g.M, u1 * MR), 0, g.N, tmp));
}

/** Packs B (element (k, n) at `at(k, n)`) into K×8 panels, zero-padded, times `scale`. */
export function packB(K: number, N: number, at: (k: number, n: number) => number, scale = 1): Float32Array {
  const panels = Math.ceil(N / NR);
  const out = new Float32Array(panels * K * NR);
  for (let p = 0; p < panels; p++) {
    for (let k = 0; k < K; k++) {
      const o = (p * K + k) * NR;
      for (let t = 0; t < NR; t++) {
        const n = p * NR + t;
        if (n < N) out[o + t] = at(k, n) * scale;
      }
    }
  }
  return out;
}

/** A padded per-column bias (length a multiple of 8). */
function padCols(N: number, at: (n: number) => number): Float32Array {
  const out = new Float32Array(Math.ceil(N / NR) * NR);
  for (let n = 0; n < N; n++) out[n] = at(n);
  return out;
}

/** The concrete shape of a float32 value, or undefined. */
function f32Shape(t: ValueType | undefined): ConcreteShape | undefined {
  if (!t || t.dtype !== 'float32' || !t.shape.every((d) => typeof d === 'number')) return undefined;
  return t.shape as ConcreteShape;
}

/** MatMul: A [..., M, K] · B [K, N] (constant: packed; or run-time), or batched B with A's batch dims. */
export function prepareMatMul(ctx: WasmPrepareContext): WasmRun | undefined {
  const as = f32Shape(ctx.inputs[0]);
  const bs = f32Shape(ctx.inputs[1]);
  const os = f32Shape(ctx.outputs[0]);
  if (!as || !bs || !os || as.length < 2 || bs.length < 2) return undefined;
  const K = as[as.length - 1]!;
  const N = bs[bs.length - 1]!;
  if (bs[bs.length - 2] !== K) return undefined;
  const fns = gemmFns(ctx);
  const bConst = ctx.constant(1);
  if (bs.length === 2) {
    const M = sizeOf(as.slice(0, -1));
    if (sizeOf(os) !== M * N) return undefined;
    if (bConst) {
      const bd = bConst.data as Float32Array;
      const packed = ctx.allocConst(packB(K, N, (k, n) => bd[k * N + n]!));
      const gs = gemmSplit(ctx, M, N, K);
      return (rt, [a], out) => runGemm(rt, fns, { M, N, K, a: rt.addrOf(a!), sai: K * 4, sak: 4, b: packed, sbp: K * NR * 4, sbk: NR * 4, c: out, ldc: N * 4 }, gs);
    }
    const packBytes = runtimeBBytes(M, K, N);
    ctx.scratch(packBytes + 64);
    const gs = gemmSplit(ctx, M, N, K);
    const ps = packSplit(ctx, K, N);
    return (rt, [a, b], out) => {
      const pa = rt.addrOf(a!);
      runGemmRuntimeB(rt, fns, { M, N, K, a: pa, sai: K * 4, sak: 4, c: out, ldc: N * 4 }, rt.addrOf(b!), N * 4, packBytes ? rt.stage(packBytes) : 0, gs, ps);
    };
  }
  // Batched: the same batch dims on both sides.
  if (as.length !== bs.length || as.slice(0, -2).some((d, i) => d !== bs[i])) return undefined;
  const M = as[as.length - 2]!;
  const batches = sizeOf(as.slice(0, -2));
  if (sizeOf(os) !== batches * M * N) return undefined;
  const packBytes = runtimeBBytes(M, K, N);
  ctx.scratch(packBytes + 64);
  const gs = gemmSplit(ctx, M, N, K);
  const ps = packSplit(ctx, K, N);
  return (rt, [a, b], out) => {
    const pa = rt.addrOf(a!);
    const pb = rt.addrOf(b!);
    const dst = packBytes ? rt.stage(packBytes) : 0;
    for (let q = 0; q < batches; q++) {
      runGemmRuntimeB(rt, fns, { M, N, K, a: pa + q * M * K * 4, sai: K * 4, sak: 4, c: out + q * M * N * 4, ldc: N * 4 }, pb + q * K * N * 4, N * 4, dst, gs, ps);
    }
  };
}

/** Gemm: Y = alpha·op(A)·op(B) + beta·C with B constant (packed, alpha folded) and C a constant row, column or scalar. */
export function prepareGemm(ctx: WasmPrepareContext): WasmRun | undefined {
  const attrs = opContext(opOf(ctx.node), ctx.node).attrs as { alpha: number; beta: number; transA: number; transB: number };
  const as = f32Shape(ctx.inputs[0]);
  const bs = f32Shape(ctx.inputs[1]);
  const os = f32Shape(ctx.outputs[0]);
  const bConst = ctx.constant(1);
  if (!as || !bs || !os || as.length !== 2 || bs.length !== 2 || !bConst) return undefined;
  const [M, K] = attrs.transA ? [as[1]!, as[0]!] : [as[0]!, as[1]!];
  const N = attrs.transB ? bs[0]! : bs[1]!;
  if ((attrs.transB ? bs[1] : bs[0]) !== K || sizeOf(os) !== M * N) return undefined;
  const bd = bConst.data as Float32Array;
  const packed = ctx.allocConst(packB(K, N, attrs.transB ? (k, n) => bd[n * K + k]! : (k, n) => bd[k * N + n]!, attrs.alpha));
  let bias: number | undefined;
  let biasMode = BIAS_NONE;
  if (ctx.inputs[2]) {
    const c = ctx.constant(2);
    const cs = f32Shape(ctx.inputs[2]);
    if (!c || !cs) return undefined;
    const cd = c.data as Float32Array;
    const beta = attrs.beta;
    const inner = cs.length ? cs[cs.length - 1]! : 1;
    const outer = cs.length > 1 ? sizeOf(cs.slice(0, -1)) : 1;
    if (c.size === 1) { bias = ctx.allocConst(padCols(N, () => beta * cd[0]!)); biasMode = BIAS_COL; }
    else if (inner === N && outer === 1) { bias = ctx.allocConst(padCols(N, (n) => beta * cd[n]!)); biasMode = BIAS_COL; }
    else if (inner === 1 && outer === M && cs.length === 2) { bias = ctx.allocConst(Float32Array.from(cd, (v) => beta * v)); biasMode = BIAS_ROW; }
    else return undefined;
  }
  const [sai, sak] = attrs.transA ? [4, M * 4] : [K * 4, 4];
  const fns = gemmFns(ctx);
  const gs = gemmSplit(ctx, M, N, K);
  return (rt, [a], out) => runGemm(rt, fns, { M, N, K, a: rt.addrOf(a!), sai, sak, b: packed, sbp: K * NR * 4, sbk: NR * 4, c: out, ldc: N * 4, ...(bias !== undefined ? { bias, biasMode } : {}) }, gs);
}

/** Conv (1–3 spatial axes, any group) with constant weights and bias: im2col + GEMM per batch and group, bias per row. */
export function prepareConv(ctx: WasmPrepareContext): WasmRun | undefined {
  const xs = f32Shape(ctx.inputs[0]);
  const ws = f32Shape(ctx.inputs[1]);
  const os = f32Shape(ctx.outputs[0]);
  const w = ctx.constant(1);
  if (!xs || !ws || !os || !w || xs.length < 3 || xs.length > 5) return undefined;
  const b = ctx.inputs[2] ? ctx.constant(2) : undefined;
  if (ctx.inputs[2] && !b) return undefined;
  const oc = opContext(opOf(ctx.node), ctx.node);
  const attrs = oc.attrs as unknown as Parameters<typeof resolveWindow>[0] & { group: number };
  const win = fold3(resolveWindow(attrs, xs.slice(2), ws.slice(2), ctx.node.name, oc.fresh), xs.slice(2), ctx.node.name);
  const [n, c] = xs as [number, number];
  const m = ws[0]!;
  const group = attrs.group;
  const cg = c / group;
  const mg = m / group;
  const kc = cg * win.kernel[0] * win.kernel[1] * win.kernel[2];
  const inSize = win.inDims[0] * win.inDims[1] * win.inDims[2];
  const outSize = win.outDims[0] * win.outDims[1] * win.outDims[2];
  if (sizeOf(os) !== n * m * outSize) return undefined;
  const direct = win.kernel.every((k) => k === 1) && win.strides.every((s) => s === 1) && win.padBegin.every((p) => p === 0) && win.outDims.every((d, i) => d === win.inDims[i]);
  const wAddr = ctx.allocConst(w.data as Float32Array);
  const bias = b ? ctx.allocConst(b.data as Float32Array) : undefined;
  const colBytes = direct ? 0 : kc * outSize * 4;
  const packBytes = runtimeBBytes(mg, kc, outSize);
  ctx.scratch(colBytes + 64);
  ctx.scratch(packBytes + 64);
  const fns = gemmFns(ctx);
  const fill = direct ? undefined : prepareIm2col(ctx, cg, win);
  const gs = gemmSplit(ctx, mg, outSize, kc);
  const ps = packSplit(ctx, kc, outSize);
  return (rt, [x], out) => {
    const px = rt.addrOf(x!);
    const col = direct ? 0 : rt.stage(colBytes);
    const dst = packBytes ? rt.stage(packBytes) : 0;
    for (let bi = 0; bi < n; bi++) {
      for (let g = 0; g < group; g++) {
        const xOff = px + (bi * c + g * cg) * inSize * 4;
        if (fill) fill(rt, xOff, col);
        runGemmRuntimeB(rt, fns, {
          M: mg, N: outSize, K: kc,
          a: wAddr + g * mg * kc * 4, sai: kc * 4, sak: 4,
          c: out + (bi * m + g * mg) * outSize * 4, ldc: outSize * 4,
          ...(bias !== undefined ? { bias: bias + g * mg * 4, biasMode: BIAS_ROW } : {}),
        }, direct ? xOff : col, outSize * 4, dst, gs, ps);
      }
    }
  };
}
