/**
 * The kernel of `Fused` nodes of kind 'epilogue' (src/passes/fuse-epilogue.ts): the
 * anchor (MatMul, Gemm, MatMulInteger, Conv, ConvTranspose, ConvInteger) is planned by its own planner with the chain of
 * elementwise members rendered as its epilogue, so the whole group is one dispatch.
 * Registered on import through registerFusedKind (kernels/fused.ts).
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { Graph } from '../../../graph/graph.js';
import { opContext, opOf } from '../../../graph/infer.js';
import type { KernelContext, KernelPlan } from '../kernel.js';
import { exprEpilogue, splitEpilogue, type EpilogueSplit } from '../wgsl-epilogue.js';
import { planConv, planConvTranspose } from './conv.js';
import { registerFusedKind } from './fused.js';
import { gemmProblem, matmulIntegerProblem, matmulProblem, planMatmul } from './matmul.js';
import { planConvInteger } from './quantize.js';
import type { Epilogue } from '../wgsl-epilogue.js';

type AnchorPlanner = (ctx: KernelContext, io: readonly number[], epi: Epilogue) => KernelPlan;

/** The X, W and optional bias slots of a conv-family anchor. */
function convIo(io: readonly number[]): { x: number; w: number; bias?: number } {
  return { x: io[0]!, w: io[1]!, bias: io[2] !== undefined && io[2] >= 0 ? io[2] : undefined };
}

/** Anchor planners by op name; `io` maps the anchor's input slots to node inputs (-1 = omitted). */
const ANCHORS: Readonly<Record<string, AnchorPlanner>> = {
  MatMul: (ctx, io, epi) => ({ dispatches: [planMatmul(ctx, { ...matmulProblem(ctx, io[0], io[1], 'Fused.MatMul'), epilogue: epi })] }),
  Gemm: (ctx, io, epi) => ({ dispatches: [planMatmul(ctx, { ...gemmProblem(ctx, [io[0]!, io[1]!, io[2] ?? -1]), label: 'Fused.Gemm', epilogue: epi })] }),
  Conv: (ctx, io, epi) => planConv(ctx, convIo(io), epi),
  ConvTranspose: (ctx, io, epi) => planConvTranspose(ctx, convIo(io), epi),
  MatMulInteger: (ctx, io, epi) => ({ dispatches: [planMatmul(ctx, { ...matmulIntegerProblem(ctx, io[0]!, io[1]!, io[2], io[3], 'Fused.MatMulInteger'), epilogue: epi })] }),
  ConvInteger: (ctx, io, epi) => planConvInteger(ctx, { x: io[0]!, w: io[1]!, xZero: io[2], wZero: io[3] }, epi),
};

/** Plans a Fused 'epilogue' node. */
export function planEpilogue(ctx: KernelContext): KernelPlan {
  const g = ctx.attrs['graph'];
  if (!(g instanceof Graph)) throw new UnsupportedOpError([{ op: 'Fused(epilogue)', nodes: [ctx.node] }], 'no sub-graph');
  if (ctx.outputs.length !== 1) throw new UnsupportedOpError([{ op: 'Fused(epilogue)', nodes: [ctx.node] }], `${ctx.outputs.length} outputs`);
  const split: EpilogueSplit = splitEpilogue(ctx.node, g);
  const planner = ANCHORS[split.anchor.op];
  if (!planner) throw new UnsupportedOpError([{ op: `Fused(epilogue:${split.anchor.op})`, nodes: [ctx.node] }], 'no WebGPU epilogue anchor for this op');
  const anchorDtype = g.typeOf(split.anchor.outputs[0]!).dtype;
  const out = ctx.outputs[0]!;
  const anchorCtx: KernelContext = {
    ...ctx,
    attrs: opContext(opOf(split.anchor), split.anchor).attrs as Record<string, unknown>,
    outputs: [{ ...out, dtype: anchorDtype }],
  };
  const epi = exprEpilogue(ctx, split.expr, anchorDtype, split.extra, out.shape, out.storage);
  return planner(anchorCtx, split.anchorInputs, epi);
}

registerFusedKind('epilogue', planEpilogue);
