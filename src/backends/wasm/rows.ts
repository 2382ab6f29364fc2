/**
 * Row kernels in SIMD128 over the last axis of a float32 tensor viewed as rows × n:
 * Softmax, LayerNormalization (axis = last), GlobalAveragePool (NCHW: one row per
 * (n, c) plane) and ReduceSum / ReduceMean over the last axis alone. Each row runs
 * four lanes at a time with a one-lane tail; horizontal sums add the four lanes.
 * Softmax subtracts the row maximum and uses the expression renderer's exp
 * (Cephes expf, ~2 ulp: results within ~1e-6 relative of the reference).
 * Sums run in float32 in a different order from the reference's float64 loop, so
 * agreement is to float32 rounding (~1e-6 relative for these row lengths).
 * Threads: large inputs are cut into chunks of whole rows (each row computed as alone).
 */
import { opContext, opOf } from '../../graph/infer.js';
import { sizeOf, type ConcreteShape } from '../../graph/shape.js';
import { resolveAxes } from '../../graph/ops/reduce-util.js';
import { FnBuilder } from './encoder.js';
import type { Tensor } from '../../graph/tensor.js';
import type { WasmPrepareContext, WasmRun, WasmRuntime } from './kernel.js';
import { emitExp } from './simd-expr.js';
import { f32Shape } from './window.js';

/** One-thread cost per element of a row kernel (ns), for the thread split. */
const NS_PER_ELEMENT = 1;

/** A row kernel's runner: `call(x, out, rows, ...rest)` over every row, cut for threads by whole rows (`outStride` floats of output per row). */
function rowsRun(ctx: WasmPrepareContext, name: string, rows: number, n: number, outStride: number, rest: (rt: WasmRuntime, ins: readonly (Tensor | undefined)[]) => number[]): WasmRun {
  const split = ctx.split(rows, rows * n * NS_PER_ELEMENT);
  return (rt, ins, out) => {
    const x = rt.addrOf(ins[0]!);
    const more = rest(rt, ins);
    rt.parallel(split, (r0, r1) => [[name, x + r0 * n * 4, out + r0 * outStride * 4, r1 - r0, n, ...more]]);
  };
}

const ROW_PARAMS = 4;
const [X, OUT, ROWS, N] = [0, 1, 2, 3];

/** Locals and loops shared by the row functions. */
class Rows {
  readonly r: number;
  readonly j: number;
  readonly nV: number;
  readonly xr: number;
  readonly or: number;
  constructor(readonly f: FnBuilder) {
    this.r = f.local('i32');
    this.j = f.local('i32');
    this.nV = f.local('i32');
    this.xr = f.local('i32');
    this.or = f.local('i32');
    f.get(N).i32(3).op('i32.sub').set(this.nV);
  }
  /** For each row: xr, or are the row's byte addresses (out row `outStride` floats apart). */
  each(outStride: 'n' | 1, body: () => void): void {
    const f = this.f;
    f.forRange(this.r, 0, ROWS, 1, () => {
      f.get(X).get(this.r).get(N).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(this.xr);
      f.get(OUT).get(this.r);
      if (outStride === 'n') f.get(N).op('i32.mul');
      f.i32(2).op('i32.shl').op('i32.add').set(this.or);
      body();
    });
  }
  /** Over j in the row: `body(vector)` with the element byte offset j·4 in `off` (a local). */
  sweep(body: (vector: boolean, off: number) => void): void {
    const f = this.f;
    const off = f.local('i32');
    f.i32(0).set(this.j);
    const run = (vector: boolean, limit: number, step: number): void => {
      f.block((exit) => f.loop((top) => {
        f.get(this.j).get(limit).op('i32.ge_s').brIf(exit);
        f.get(this.j).i32(2).op('i32.shl').set(off);
        body(vector, off);
        f.get(this.j).i32(step).op('i32.add').set(this.j);
        f.br(top);
      }));
    };
    run(true, this.nV, 4);
    run(false, N, 1);
  }
  /** Loads x[row][j] (a v128; the tail splats one value). */
  loadX(vector: boolean, off: number): void {
    this.f.get(this.xr).get(off).op('i32.add');
    if (vector) this.f.loadV(); else this.f.loadSplat();
  }
  /** Stores the v128 on the stack at `base` + off (the tail stores lane 0). */
  store(base: number, vector: boolean, off: number, value: () => void): void {
    this.f.get(base).get(off).op('i32.add');
    value();
    if (vector) this.f.storeV(); else this.f.lane(0).storeF32();
  }
  /**
   * Sums `value` over the row into `dst` (a v128 local, the sum in every lane):
   * vector lanes in `vs`, tail in lane 0 of `ts`.
   */
  sum(dst: number, value: (vector: boolean, off: number) => void): void {
    const f = this.f;
    const vs = f.local('v128');
    const ts = f.local('v128');
    f.f32x4(0).set(vs);
    f.f32x4(0).set(ts);
    this.sweep((vector, off) => {
      value(vector, off);
      const acc = vector ? vs : ts;
      f.get(acc).simd('f32x4.add').set(acc);
    });
    f.get(vs).lane(0).get(vs).lane(1).op('f32.add').get(vs).lane(2).get(vs).lane(3).op('f32.add').op('f32.add')
      .get(ts).lane(0).op('f32.add').simd('f32x4.splat').set(dst);
  }
}

/** softmax: (x, out, rows, n). */
function buildSoftmax(): FnBuilder {
  const f = new FnBuilder(new Array(ROW_PARAMS).fill('i32'), []);
  const R = new Rows(f);
  const m = f.local('v128');
  const e = f.local('v128');
  const s = f.local('v128');
  R.each('n', () => {
    f.f32x4(-Infinity).set(m);
    R.sweep((vector, off) => { R.loadX(vector, off); f.get(m).simd('f32x4.max').set(m); });
    f.get(m).lane(0).simd('f32x4.splat').get(m).lane(1).simd('f32x4.splat').simd('f32x4.max')
      .get(m).lane(2).simd('f32x4.splat').simd('f32x4.max').get(m).lane(3).simd('f32x4.splat').simd('f32x4.max').set(m);
    // e = exp(x − max) stored to out, summed
    R.sum(s, (vector, off) => {
      R.loadX(vector, off);
      f.get(m).simd('f32x4.sub').set(e);
      emitExp(f, e);
      f.set(e);
      R.store(R.or, vector, off, () => f.get(e));
      f.get(e);
    });
    f.f32x4(1).get(s).simd('f32x4.div').set(s);
    R.sweep((vector, off) => {
      R.store(R.or, vector, off, () => {
        f.get(R.or).get(off).op('i32.add');
        if (vector) f.loadV(); else f.loadSplat();
        f.get(s).simd('f32x4.mul');
      });
    });
  });
  return f;
}

/** layernorm: (x, out, rows, n, scale, bias, eps: f32). */
function buildLayerNorm(): FnBuilder {
  const f = new FnBuilder([...new Array(ROW_PARAMS + 2).fill('i32'), 'f32'], []);
  const [SCALE, BIAS, EPS] = [4, 5, 6];
  const R = new Rows(f);
  const mean = f.local('v128');
  const inv = f.local('v128');
  const invN = f.local('v128');
  const d = f.local('v128');
  f.f32(1).get(N).simd('i32x4.splat').simd('f32x4.convert_i32x4_s').lane(0).op('f32.div').simd('f32x4.splat').set(invN);
  R.each('n', () => {
    R.sum(mean, (vector, off) => R.loadX(vector, off));
    f.get(mean).get(invN).simd('f32x4.mul').set(mean);
    R.sum(inv, (vector, off) => { R.loadX(vector, off); f.get(mean).simd('f32x4.sub').tee(d).get(d).simd('f32x4.mul'); });
    f.f32x4(1).get(inv).get(invN).simd('f32x4.mul').get(EPS).simd('f32x4.splat').simd('f32x4.add').simd('f32x4.sqrt').simd('f32x4.div').set(inv);
    R.sweep((vector, off) => {
      R.store(R.or, vector, off, () => {
        R.loadX(vector, off);
        f.get(mean).simd('f32x4.sub').get(inv).simd('f32x4.mul');
        f.get(SCALE).get(off).op('i32.add');
        if (vector) f.loadV(); else f.loadSplat();
        f.simd('f32x4.mul');
        f.get(BIAS).get(off).op('i32.add');
        if (vector) f.loadV(); else f.loadSplat();
        f.simd('f32x4.add');
      });
    });
  });
  return f;
}

/** rowsum: (x, out, rows, n, scale: f32) — out[r] = scale · Σ x[r][·]. */
function buildRowSum(): FnBuilder {
  const f = new FnBuilder([...new Array(ROW_PARAMS).fill('i32'), 'f32'], []);
  const SCALE = 4;
  const R = new Rows(f);
  const s = f.local('v128');
  R.each(1, () => {
    R.sum(s, (vector, off) => R.loadX(vector, off));
    f.get(R.or).get(s).get(SCALE).simd('f32x4.splat').simd('f32x4.mul').lane(0).storeF32();
  });
  return f;
}

/** rows × n of a shape split before its last axis. */
function lastAxis(s: ConcreteShape): { rows: number; n: number } {
  const n = s.length ? s[s.length - 1]! : 1;
  return { rows: n === 0 ? 0 : sizeOf(s) / n, n };
}

/** Softmax over the last axis. */
export function prepareSoftmax(ctx: WasmPrepareContext): WasmRun | undefined {
  const xs = f32Shape(ctx.inputs[0]);
  if (!xs || !f32Shape(ctx.outputs[0]) || xs.length === 0) return undefined;
  const axis = (opContext(opOf(ctx.node), ctx.node).attrs as { axis: number }).axis;
  if (axis !== -1 && axis !== xs.length - 1) return undefined;
  const { rows, n } = lastAxis(xs);
  const name = ctx.fn('row:softmax', buildSoftmax);
  return rowsRun(ctx, name, rows, n, n, () => []);
}

/** LayerNormalization over the last axis, Scale and B of exactly the last axis' length (Y only). */
export function prepareLayerNorm(ctx: WasmPrepareContext): WasmRun | undefined {
  const xs = f32Shape(ctx.inputs[0]);
  const ss = f32Shape(ctx.inputs[1]);
  const bs = ctx.inputs[2] ? f32Shape(ctx.inputs[2]) : undefined;
  if (!xs || !ss || !f32Shape(ctx.outputs[0]) || xs.length === 0 || (ctx.inputs[2] && !bs)) return undefined;
  const attrs = opContext(opOf(ctx.node), ctx.node).attrs as { axis: number; epsilon: number };
  if (attrs.axis !== -1 && attrs.axis !== xs.length - 1) return undefined;
  const { rows, n } = lastAxis(xs);
  if (sizeOf(ss) !== n || (bs && sizeOf(bs) !== n)) return undefined;
  const name = ctx.fn('row:layernorm', buildLayerNorm);
  const zeros = bs ? 0 : ctx.allocConst(new Float32Array(n));
  return rowsRun(ctx, name, rows, n, n, (rt, [, scale, bias]) => [rt.addrOf(scale!), bias ? rt.addrOf(bias) : zeros, attrs.epsilon]);
}

/** GlobalAveragePool: the mean of each (n, c) plane. */
export function prepareGlobalAveragePool(ctx: WasmPrepareContext): WasmRun | undefined {
  const xs = f32Shape(ctx.inputs[0]);
  if (!xs || !f32Shape(ctx.outputs[0]) || xs.length < 3) return undefined;
  const planes = xs[0]! * xs[1]!;
  const hw = sizeOf(xs.slice(2));
  if (hw === 0) return undefined;
  const name = ctx.fn('row:sum', buildRowSum);
  return rowsRun(ctx, name, planes, hw, 1, () => [1 / hw]);
}

/** ReduceSum / ReduceMean over the last axis alone (constant axes), `mean` scaling by 1/n. */
export function prepareReduceLast(mean: boolean): (ctx: WasmPrepareContext) => WasmRun | undefined {
  return (ctx) => {
    const xs = f32Shape(ctx.inputs[0]);
    if (!xs || !f32Shape(ctx.outputs[0]) || xs.length === 0) return undefined;
    const axesT = ctx.inputs[1] ? ctx.constant(1) : undefined;
    if (ctx.inputs[1] && !axesT) return undefined;
    const attrs = opContext(opOf(ctx.node), ctx.node).attrs as unknown as Parameters<typeof resolveAxes>[1];
    const axes = resolveAxes(axesT, attrs, xs.length, ctx.node.name);
    if (!Array.isArray(axes) || axes.length !== 1 || axes[0] !== xs.length - 1) return undefined;
    const { rows, n } = lastAxis(xs);
    if (n === 0) return undefined;
    const name = ctx.fn('row:sum', buildRowSum);
    return rowsRun(ctx, name, rows, n, 1, () => [mean ? 1 / n : 1]);
  };
}
