/**
 * The wasm backend's plan target: the CPU backend's ({@link cpuTarget}: one arena,
 * 64-byte alignment, reference facts), plus write-into for the ops whose wasm kernel
 * can leave its inputs where their producers wrote them. Such an op carries a
 * {@link WASM_WRITE_INTO} trait (kernels.ts attaches it: Concat with nothing outside
 * the axis, concat.ts) giving each input's byte offset in output 0; the planner
 * (exec-plan.ts, write-into) then places every eligible producer's output in that
 * slice, and the kernel finds the bytes already there. Producers on the reference
 * store their outputs at the same planned bytes, so the view holds whoever produced it.
 */
import { opOf } from '../../graph/infer.js';
import { getTrait, traitKey } from '../../graph/op.js';
import type { FactContext, PlanTarget } from '../../passes/exec-plan.js';
import { cpuTarget } from '../cpu/index.js';

/** Trait: the byte offset in output 0 at which each input may be written by its producer, or undefined for this node. */
export const WASM_WRITE_INTO = traitKey<(ctx: FactContext) => readonly number[] | undefined>('wasm.writeInto');

/** The plan target of the wasm backend (see the file comment). */
export function wasmTarget(): PlanTarget {
  const base = cpuTarget();
  return {
    ...base,
    facts(ctx) {
      const f = base.facts(ctx);
      const into = f && f.aliasOf === undefined ? getTrait(opOf(ctx.node), WASM_WRITE_INTO)?.(ctx) : undefined;
      return into ? { ...f!, writeInto: into } : f;
    },
  };
}
