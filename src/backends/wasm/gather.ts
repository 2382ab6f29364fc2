/**
 * Gather in wasm, as row copies: the data tensor (float32, any axis) viewed as
 * outer × dim × inner, every (outer block, index) pair copies one row of `inner`
 * floats. At run time the indices (int32 or int64, read from the tensor whatever
 * its storage) are normalized in JS with the reference's own check (negative
 * indices wrap, an out-of-range one raises the reference's ExecutionError naming
 * the node), turned into the source row's byte address, and staged as i32; one
 * call of the emitted function then copies every row with v128 loads and stores
 * and a one-lane tail. The embedding lookup of the transformers (Gather axis 0 of a
 * constant table) is this with outer = 1; the table is the plan's constant copy in
 * the module's memory.
 */
import { opContext, opOf } from '../../graph/infer.js';
import { normIndex } from '../../graph/ops/index-util.js';
import { sizeOf } from '../../graph/shape.js';
import { FnBuilder } from './encoder.js';
import type { WasmPrepareContext, WasmRun } from './kernel.js';
import { f32Shape } from './window.js';

const [SRCS, OUT, COUNT, N] = [0, 1, 2, 3];

/**
 * Emits a copy of `n` floats (local or parameter `n`) from the byte address in local
 * `src` to the one in local `dst`, both advanced past them: four floats a step while
 * four remain (`nV` holds n − 3), then one at a time; local `j` is scratch. The inner
 * loop of Gather's row copies and Concat's block copies.
 */
export function emitFloatCopy(f: FnBuilder, src: number, dst: number, j: number, nV: number, n: number): void {
  f.i32(0).set(j);
  for (const [limit, step] of [[nV, 4], [n, 1]] as const) {
    f.block((exit) => f.loop((top) => {
      f.get(j).get(limit).op('i32.ge_s').brIf(exit);
      f.get(dst).get(src);
      if (step === 4) f.loadV().storeV(); else f.loadF32().storeF32();
      for (const p of [src, dst]) f.get(p).i32(step * 4).op('i32.add').set(p);
      f.get(j).i32(step).op('i32.add').set(j);
      f.br(top);
    }));
  }
}

/** `copy_rows(srcs, out, count, n)`: row r (n floats) from the address at srcs[r] to out + r·n·4. */
function buildCopyRows(): FnBuilder {
  const f = new FnBuilder(['i32', 'i32', 'i32', 'i32'], []);
  const r = f.local('i32'), j = f.local('i32'), nV = f.local('i32'), src = f.local('i32'), dst = f.local('i32');
  f.get(N).i32(3).op('i32.sub').set(nV);
  f.get(OUT).set(dst);
  f.forRange(r, 0, COUNT, 1, () => {
    f.get(SRCS).get(r).i32(2).op('i32.shl').op('i32.add').loadI32().set(src);
    emitFloatCopy(f, src, dst, j, nV, N);
  });
  return f;
}

/** Gather of a float32 tensor by int32/int64 indices (any axis) as wasm row copies; undefined for other dtypes. */
export function prepareGather(ctx: WasmPrepareContext): WasmRun | undefined {
  const x = f32Shape(ctx.inputs[0]);
  const it = ctx.inputs[1];
  if (!x || !it || (it.dtype !== 'int64' && it.dtype !== 'int32') || !it.shape.every((d) => typeof d === 'number')) return undefined;
  if (!f32Shape(ctx.outputs[0])) return undefined;
  const def = opOf(ctx.node);
  const rank = x.length;
  const a = opContext(def, ctx.node).attrs['axis'] as number;
  const axis = a < 0 ? a + rank : a;
  if (!(axis >= 0 && axis < rank)) return undefined;
  const dim = x[axis]!;
  const outer = sizeOf(x.slice(0, axis));
  const inner = sizeOf(x.slice(axis + 1));
  const nIdx = sizeOf(it.shape as number[]);
  const count = outer * nIdx;
  if (count === 0 || inner === 0) return undefined;
  const copy = ctx.fn('gather.copy_rows', buildCopyRows);
  ctx.scratch(count * 4 + 64);
  const node = ctx.node.name;
  return (rt, ins, out) => {
    const base = rt.addrOf(ins[0]!);
    const idx = ins[1]!.data;
    const norm = new Int32Array(nIdx);
    for (let j = 0; j < nIdx; j++) norm[j] = normIndex(Number(idx[j]), dim, node, 'Gather index');
    const at = rt.stage(count * 4);
    const srcs = new Int32Array(rt.f32.buffer, at, count);
    for (let b = 0, k = 0; b < outer; b++) {
      const row0 = base + b * dim * inner * 4;
      for (let j = 0; j < nIdx; j++, k++) srcs[k] = row0 + norm[j]! * inner * 4;
    }
    rt.call(copy, at, out, count, inner);
  };
}
