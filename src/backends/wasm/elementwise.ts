/**
 * Elementwise and broadcast kernels: one SIMD128 function per (expression, input
 * layout), rendered from the op's (or fused group's) scalar expression. The output
 * is split into `outer × inner` at the axis where every input is either the whole
 * output shape, a suffix of it (repeated over `outer`), a prefix (one value per
 * outer row, splat over `inner`), or a scalar; inner runs four lanes at a time with
 * a one-lane tail. Other broadcasts (and non-float32 values) stay on the reference.
 * Threads: a large output is cut into chunks of outer rows, or (one outer row) of
 * 4-element groups of inner; each element is computed as in the whole call.
 */
import { exprKey, type Expr } from '../../graph/expr.js';
import { sizeOf, type ConcreteShape } from '../../graph/shape.js';
import { FnBuilder } from './encoder.js';
import type { WasmPrepareContext, WasmRun } from './kernel.js';
import { emitSimdExpr, simdExprSupported } from './simd-expr.js';

/** One-thread cost per output element (ns), for the thread split. */
const NS_PER_ELEMENT = 0.5;

/** How one input is read at output element (o, j). */
type Mode = 'full' | 'suffix' | 'prefix' | 'scalar';

const MODE_CODE: Readonly<Record<Mode, string>> = { full: 'f', suffix: 's', prefix: 'p', scalar: 'c' };

/** The outer/inner split and each input's mode, or undefined when some input broadcasts otherwise. */
export function broadcastLayout(out: ConcreteShape, ins: readonly ConcreteShape[]): { outer: number; inner: number; modes: Mode[] } | undefined {
  const r = out.length;
  const padded = ins.map((s) => [...new Array<number>(Math.max(0, r - s.length)).fill(1), ...s]);
  if (padded.some((s) => s.length > r)) return undefined;
  for (let split = 0; split <= r; split++) {
    const modes: Mode[] = [];
    for (const s of padded) {
      const head = s.slice(0, split);
      const tail = s.slice(split);
      const headOnes = head.every((d) => d === 1);
      const tailOnes = tail.every((d) => d === 1);
      const headEq = head.every((d, a) => d === out[a]);
      const tailEq = tail.every((d, a) => d === out[split + a]);
      if (headEq && tailEq) modes.push('full');
      else if (headOnes && tailOnes) modes.push('scalar');
      else if (headOnes && tailEq) modes.push('suffix');
      else if (headEq && tailOnes) modes.push('prefix');
      else break;
    }
    if (modes.length === padded.length) return { outer: sizeOf(out.slice(0, split)), inner: sizeOf(out.slice(split)), modes };
  }
  return undefined;
}

/** Builds the function: (outer, inner, out, in0, in1, ...) → void, all byte addresses. */
function buildElementwise(expr: Expr, modes: readonly Mode[]): FnBuilder {
  const n = modes.length;
  const f = new FnBuilder(['i32', 'i32', 'i32', ...modes.map(() => 'i32' as const)], []);
  const OUTER = 0, INNER = 1, OUT = 2;
  const base = (k: number) => 3 + k;
  const o = f.local('i32');
  const j = f.local('i32');
  const rowBytes = f.local('i32');
  const outRow = f.local('i32');
  const innerV = f.local('i32'); // inner rounded down to a multiple of 4
  const row = modes.map(() => f.local('i32'));
  const vals = modes.map(() => f.local('v128'));
  const splat = modes.map(() => f.local('v128'));
  f.get(INNER).i32(2).op('i32.shl').set(rowBytes);
  f.get(INNER).i32(3).op('i32.sub').set(innerV);
  for (let k = 0; k < n; k++) {
    if (modes[k] === 'scalar') f.get(base(k)).loadSplat().set(splat[k]!);
  }
  f.forRange(o, 0, OUTER, 1, () => {
    f.get(OUT).get(o).get(rowBytes).op('i32.mul').op('i32.add').set(outRow);
    for (let k = 0; k < n; k++) {
      const m = modes[k]!;
      if (m === 'full') f.get(base(k)).get(o).get(rowBytes).op('i32.mul').op('i32.add').set(row[k]!);
      else if (m === 'suffix') f.get(base(k)).set(row[k]!);
      else if (m === 'prefix') f.get(base(k)).get(o).i32(2).op('i32.shl').op('i32.add').loadSplat().set(splat[k]!);
    }
    const body = (vector: boolean): void => {
      for (let k = 0; k < n; k++) {
        const m = modes[k]!;
        if (m === 'full' || m === 'suffix') {
          f.get(row[k]!).get(j).i32(2).op('i32.shl').op('i32.add');
          if (vector) f.loadV(); else f.loadSplat();
          f.set(vals[k]!);
        } else f.get(splat[k]!).set(vals[k]!);
      }
      f.get(outRow).get(j).i32(2).op('i32.shl').op('i32.add');
      emitSimdExpr(f, expr, vals);
      if (vector) f.storeV(); else f.lane(0).storeF32();
    };
    f.forRange(j, 0, innerV, 4, () => body(true));
    // tail: j continues from where the vector loop stopped
    f.block((exit) => f.loop((top) => {
      f.get(j).get(INNER).op('i32.ge_s').brIf(exit);
      body(false);
      f.get(j).i32(1).op('i32.add').set(j);
      f.br(top);
    }));
  });
  return f;
}

/**
 * Prepares an elementwise runner for `expr` over the node's inputs (E.input(i) is
 * node input i) writing output 0; undefined when the expression or a broadcast is
 * outside what the kernel covers.
 */
export function prepareExpr(ctx: WasmPrepareContext, expr: Expr, inputTypes = ctx.inputs, outShape = ctx.outputs[0]?.shape): WasmRun | undefined {
  if (!outShape || ctx.outputs[0]?.dtype !== 'float32' || !simdExprSupported(expr)) return undefined;
  const shapes: ConcreteShape[] = [];
  for (const t of inputTypes) {
    if (!t || t.dtype !== 'float32' || !t.shape.every((d) => typeof d === 'number')) return undefined;
    shapes.push(t.shape as ConcreteShape);
  }
  const layout = broadcastLayout(outShape as ConcreteShape, shapes);
  if (!layout) return undefined;
  const { outer, inner, modes } = layout;
  const name = ctx.fn(`ew:${modes.map((m) => MODE_CODE[m]).join('')}:${exprKey(expr)}`, () => buildElementwise(expr, modes));
  const byInner = outer === 1;
  const split = ctx.split(byInner ? Math.ceil(inner / 4) : outer, outer * inner * NS_PER_ELEMENT);
  return (rt, ins, out) => {
    const addrs = ins.map((t) => (t ? rt.addrOf(t) : 0));
    rt.parallel(split, byInner
      // One outer row: elements [4·v0, 4·v1) of inner; a prefix or scalar input reads its one value.
      ? (v0, v1) => {
          const j0 = v0 * 4, j1 = Math.min(inner, v1 * 4);
          return [[name, 1, j1 - j0, out + j0 * 4, ...addrs.map((a, k) => (modes[k] === 'full' || modes[k] === 'suffix' ? a + j0 * 4 : a))]];
        }
      // Outer rows [o0, o1): full inputs and the output advance by rows, prefix inputs by one value a row.
      : (o0, o1) => [[name, o1 - o0, inner, out + o0 * inner * 4, ...addrs.map((a, k) => (modes[k] === 'full' ? a + o0 * inner * 4 : modes[k] === 'prefix' ? a + o0 * 4 : a))]]);
  };
}
