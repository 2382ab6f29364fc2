/**
 * Concat in wasm, as strided block copies. The output viewed as outer × D × inner
 * (D the concat axis) takes input k, viewed as outer × d_k × inner, as `outer`
 * blocks of d_k·inner floats: block b of input k goes to output float
 * b·D·inner + at_k·inner (at_k the sum of the earlier d's). One emitted function
 * copies `count` blocks of `n` floats between two byte strides, four floats per
 * v128 load/store and a one-lane tail; one call per input.
 *
 * With nothing outside the axis (outer = 1) input k is one contiguous block of the
 * output, and the wasm plan target ({@link concatWriteInto}, plan.ts) lets the
 * producers write their values into those blocks (exec-plan.ts, write-into). The
 * runner then finds each such input already at its place and copies nothing; an
 * input the plan could not place there (a graph input, a value read elsewhere too)
 * is copied as above. float32 only (the memory's other values stay on the reference).
 */
import { opContext, opOf } from '../../graph/infer.js';
import { sizeOf } from '../../graph/shape.js';
import type { FactContext } from '../../passes/exec-plan.js';
import { FnBuilder } from './encoder.js';
import type { WasmPrepareContext, WasmRun } from './kernel.js';
import { emitFloatCopy } from './gather.js';
import { f32Shape } from './window.js';

const [SRC, DST, COUNT, N, SS, DS] = [0, 1, 2, 3, 4, 5];

/** `copy_blocks(src, dst, count, n, ss, ds)`: block r (n floats) from src + r·ss to dst + r·ds (byte addresses and strides). */
export function buildCopyBlocks(): FnBuilder {
  const f = new FnBuilder(new Array(6).fill('i32'), []);
  const r = f.local('i32'), j = f.local('i32'), nV = f.local('i32'), s = f.local('i32'), d = f.local('i32');
  f.get(N).i32(3).op('i32.sub').set(nV);
  f.forRange(r, 0, COUNT, 1, () => {
    f.get(SRC).get(r).get(SS).op('i32.mul').op('i32.add').set(s);
    f.get(DST).get(r).get(DS).op('i32.mul').op('i32.add').set(d);
    emitFloatCopy(f, s, d, j, nV, N);
  });
  return f;
}

/** The normalized axis of a Concat of rank `rank`, or undefined when out of range. */
function concatAxis(attrs: Readonly<Record<string, unknown>>, rank: number): number | undefined {
  const a = Number(attrs['axis']);
  const axis = a < 0 ? a + rank : a;
  return Number.isInteger(axis) && axis >= 0 && axis < rank ? axis : undefined;
}

/**
 * The write-into offsets of a Concat (plan target facts): with nothing outside the
 * axis, input k's byte offset in the output; undefined otherwise (or for a dtype
 * other than float32, an omitted input, or a shape the planner did not make concrete).
 */
export function concatWriteInto(ctx: FactContext): number[] | undefined {
  const out = ctx.outputs[0];
  if (!out || out.dtype !== 'float32' || ctx.node.outputs.length !== 1 || ctx.inputs.length === 0) return undefined;
  const axis = concatAxis(ctx.attrs, out.shape.length);
  if (axis === undefined || sizeOf(out.shape.slice(0, axis)) !== 1) return undefined;
  const inner = sizeOf(out.shape.slice(axis + 1));
  const offsets: number[] = [];
  let at = 0;
  for (const t of ctx.inputs) {
    if (!t || t.dtype !== 'float32' || t.shape.length !== out.shape.length) return undefined;
    offsets.push(at * inner * 4);
    at += t.shape[axis]!;
  }
  return at === out.shape[axis] ? offsets : undefined;
}

/** Concat of float32 tensors along any axis (any number of inputs, empty ones skipped) as wasm block copies. */
export function prepareConcat(ctx: WasmPrepareContext): WasmRun | undefined {
  const os = f32Shape(ctx.outputs[0]);
  if (!os || ctx.inputs.length === 0) return undefined;
  const shapes = ctx.inputs.map(f32Shape);
  if (shapes.some((s) => !s || s.length !== os.length)) return undefined;
  const axis = concatAxis(opContext(opOf(ctx.node), ctx.node).attrs, os.length);
  if (axis === undefined) return undefined;
  const outer = sizeOf(os.slice(0, axis));
  const inner = sizeOf(os.slice(axis + 1));
  const D = os[axis]!;
  const parts: { k: number; n: number; at: number }[] = [];
  let at = 0;
  shapes.forEach((s, k) => {
    const d = s![axis]!;
    if (d > 0) parts.push({ k, n: d * inner, at });
    at += d;
  });
  if (at !== D || shapes.some((s) => s!.some((v, i) => i !== axis && v !== os[i]))) return undefined;
  if (outer === 0 || inner === 0) return () => undefined;
  const copy = ctx.fn('concat.copy_blocks', buildCopyBlocks);
  return (rt, ins, out) => {
    for (const { k, n, at: a } of parts) {
      const dst = out + a * inner * 4;
      const src = rt.addrOf(ins[k]!);
      // Written into place by its producer (outer = 1 and the plan's write-into view).
      if (src === dst && outer === 1) continue;
      rt.call(copy, src, dst, outer, n, n * 4, D * inner * 4);
    }
  };
}
