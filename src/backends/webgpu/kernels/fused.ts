/**
 * Kernels of the `Fused` op, by kind. The 'elementwise' kind renders the composed
 * expression of its members (fusedExprs) with the generic elementwise kernel — one
 * dispatch per output. Other kinds ('epilogue', 'attention') are planned by the
 * kernels/epilogue.ts and kernels/attention.ts through {@link registerFusedKind}.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { fusedExprs, fusedKind, type FusedKind } from '../../../graph/ops/fused.js';
import type { GpuKernel, KernelContext, KernelPlan } from '../kernel.js';
import { elementwiseDispatch } from './elementwise.js';

/** Planner of one Fused kind. */
export type FusedPlanner = (ctx: KernelContext) => KernelPlan;

const kinds = new Map<FusedKind, FusedPlanner>();

/** Registers the planner of a Fused kind (e.g. 'epilogue' from the matmul/conv kernels). */
export function registerFusedKind(kind: FusedKind, planner: FusedPlanner): void {
  kinds.set(kind, planner);
}

registerFusedKind('elementwise', (ctx) => {
  const exprs = fusedExprs({ name: ctx.node, attrs: ctx.attrs as Record<string, never> });
  return { dispatches: exprs.map((e, k) => elementwiseDispatch(ctx, e, 'Fused.elementwise', k)) };
});

/** The kernel of the Fused op: dispatches on `kind`. */
export const fusedKernel: GpuKernel = {
  plan(ctx) {
    const kind = fusedKind(ctx);
    const planner = kinds.get(kind);
    if (!planner) throw new UnsupportedOpError([{ op: `Fused(${kind})`, nodes: [ctx.node] }], 'no WebGPU kernel for this fused kind');
    return planner(ctx);
  },
};
