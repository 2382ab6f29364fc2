/**
 * Kernels of the `Fused` op, by kind. The 'elementwise' kind renders the composed
 * expression of its members (fusedExprs) with the generic elementwise kernel — one
 * dispatch per output. Other kinds ('epilogue', 'attention') are planned by the
 * kernels/epilogue.ts and kernels/attention.ts through {@link registerFusedKind}.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { fusedExprs, fusedKind, type FusedKind } from '../../../graph/ops/fused.js';
import type { GpuKernel, KernelContext, KernelPlan, KernelSplit, KernelTile } from '../kernel.js';
import { broadcastSplit } from '../chunk.js';
import { elementwiseDispatch } from './elementwise.js';

/** Planner of one Fused kind. */
export type FusedPlanner = (ctx: KernelContext) => KernelPlan;

/** The split of one Fused kind over rows, for values larger than one binding (GpuKernel.split). */
export type FusedSplit = (ctx: KernelContext, a: number) => KernelSplit | undefined;

/** The tiles of one Fused kind, for values larger than one binding that no split covers (GpuKernel.tiles). */
export type FusedTiles = (ctx: KernelContext) => readonly KernelTile[] | undefined;

const kinds = new Map<FusedKind, FusedPlanner>();
const splits = new Map<FusedKind, FusedSplit>();
const tiles = new Map<FusedKind, FusedTiles>();

/** Registers the planner of a Fused kind (e.g. 'epilogue' from the matmul/conv kernels), and its split when it has one. */
export function registerFusedKind(kind: FusedKind, planner: FusedPlanner, split?: FusedSplit, tile?: FusedTiles): void {
  kinds.set(kind, planner);
  if (split) splits.set(kind, split);
  if (tile) tiles.set(kind, tile);
}

registerFusedKind('elementwise', (ctx) => {
  const exprs = fusedExprs({ name: ctx.node, attrs: ctx.attrs as Record<string, never> });
  return { dispatches: exprs.map((e, k) => elementwiseDispatch(ctx, e, 'Fused.elementwise', k)) };
}, broadcastSplit);

/** The kernel of the Fused op: dispatches on `kind`. */
export const fusedKernel: GpuKernel = {
  plan(ctx) {
    const kind = fusedKind(ctx);
    const planner = kinds.get(kind);
    if (!planner) throw new UnsupportedOpError([{ op: `Fused(${kind})`, nodes: [ctx.node] }], 'no WebGPU kernel for this fused kind');
    return planner(ctx);
  },
  split: (ctx, a) => splits.get(fusedKind(ctx))?.(ctx, a),
  tiles: (ctx) => tiles.get(fusedKind(ctx))?.(ctx),
};
