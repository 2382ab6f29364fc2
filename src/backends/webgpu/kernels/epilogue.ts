/**
 * The kernel of `Fused` nodes of kind 'epilogue' (src/passes/fuse-epilogue.ts): the
 * anchor (MatMul, Gemm, MatMulInteger, Conv, ConvTranspose, ConvInteger) is planned by its own planner with the chain of
 * elementwise members rendered as its epilogue, so the whole group is one dispatch.
 * Registered on import through registerFusedKind (kernels/fused.ts).
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { Graph } from '../../../graph/graph.js';
import { opContext, opOf } from '../../../graph/infer.js';
import { kernelOf, storageOf, type GpuTensorInfo, type KernelContext, type KernelPlan, type KernelSplit, type KernelTile, type SplitRows } from '../kernel.js';
import type { DType } from '../../../graph/dtype.js';
import { sizeOf } from '../../../graph/shape.js';
import { rowsOf } from '../chunk.js';
import { exprEpilogue, exprLoad, splitEpilogue, type EpilogueSplit, type OperandLoad } from '../wgsl-epilogue.js';
import { planConv, planConvTranspose } from './conv.js';
import { registerFusedKind } from './fused.js';
import { gemmProblem, gemmTiles, matmulIntegerProblem, matmulProblem, planMatmul, planPackedMatmul } from './matmul.js';
import type { PackedWeight } from '../packed-weights.js';
import { planConvInteger, rangeLoads } from './quantize.js';
import type { Epilogue } from '../wgsl-epilogue.js';

/** Operands given as packed 8-bit weights (the 'dequantize' prologue), by anchor-context index. */
type Packed = ReadonlyMap<number, PackedWeight>;

type AnchorPlanner = (ctx: KernelContext, io: readonly number[], epi: Epilogue, loads: ReadonlyMap<number, OperandLoad>, packed: Packed) => KernelPlan;

/** The X, W and optional bias slots of a conv-family anchor. */
function convIo(io: readonly number[]): { x: number; w: number; bias?: number } {
  return { x: io[0]!, w: io[1]!, bias: io[2] !== undefined && io[2] >= 0 ? io[2] : undefined };
}

/**
 * A planner for anchors that read every operand from buffers, except (where `weight`
 * plans it) a weight slot given as packed 8-bit weights.
 */
function buffersOnly(plan: (ctx: KernelContext, io: readonly number[], epi: Epilogue) => KernelPlan, weight?: (ctx: KernelContext, io: readonly number[], epi: Epilogue, w: PackedWeight) => KernelPlan): AnchorPlanner {
  return (ctx, io, epi, loads, packed) => {
    if (loads.size > 0) throw new UnsupportedOpError([{ op: 'Fused(epilogue)', nodes: [ctx.node] }], 'this anchor computes no operand on load');
    const w = packed.get(io[1] ?? -1);
    if (packed.size > (w ? 1 : 0) || (w && !weight)) throw new UnsupportedOpError([{ op: 'Fused(epilogue)', nodes: [ctx.node] }], 'this anchor dequantizes only its weight on load');
    return w && weight ? weight(ctx, io, epi, w) : plan(ctx, io, epi);
  };
}

/** Anchor planners by op name; `io` maps the anchor's input slots to node inputs (-1 = omitted). */
const ANCHORS: Readonly<Record<string, AnchorPlanner>> = {
  MatMul: buffersOnly(
    (ctx, io, epi) => ({ dispatches: [planMatmul(ctx, { ...matmulProblem(ctx, io[0], io[1], 'Fused.MatMul'), epilogue: epi })] }),
    (ctx, io, epi, w) => planPackedMatmul(ctx, io, w, false, epi),
  ),
  Gemm: buffersOnly(
    (ctx, io, epi) => ({ dispatches: [planMatmul(ctx, { ...gemmProblem(ctx, [io[0]!, io[1]!, io[2] ?? -1]), label: 'Fused.Gemm', epilogue: epi })] }),
    (ctx, io, epi, w) => planPackedMatmul(ctx, io, w, true, epi),
  ),
  Conv: buffersOnly((ctx, io, epi) => planConv(ctx, convIo(io), epi), (ctx, io, epi, w) => planConv(ctx, convIo(io), epi, w)),
  ConvTranspose: buffersOnly((ctx, io, epi) => planConvTranspose(ctx, convIo(io), epi)),
  MatMulInteger: (ctx, io, epi, loads) => ({ dispatches: [planMatmul(ctx, { ...matmulIntegerProblem(ctx, io[0]!, io[1]!, io[2], io[3], loads.size ? 'Fused.QMatMulInteger' : 'Fused.MatMulInteger'), epilogue: epi, loads })] }),
  ConvInteger: (ctx, io, epi, loads) => planConvInteger(ctx, { x: io[0]!, w: io[1]!, xZero: io[2], wZero: io[3] }, epi, loads),
};

/**
 * The operands a group computes on load (src/graph/load-fusion.ts), as loads keyed by
 * their index in the anchor's context (after the node's inputs), the tensor infos of
 * those indices, and the WGSL of the kernel values the chain reads.
 */
function prologueLoads(ctx: KernelContext, g: Graph, split: EpilogueSplit): { loads: Map<number, OperandLoad>; packed: Map<number, PackedWeight>; infos: GpuTensorInfo[]; kernelLeaves: string[] } {
  const bad = (why: string): never => { throw new UnsupportedOpError([{ op: `Fused(epilogue:${split.anchor.op})`, nodes: [ctx.node] }], why); };
  const range = split.range !== undefined ? rangeLoads(ctx, split.range) : undefined;
  const loads = new Map<number, OperandLoad>();
  const packed = new Map<number, PackedWeight>();
  const infos: GpuTensorInfo[] = [];
  split.prologues.forEach((p, j) => {
    const slot = split.anchorInputs.indexOf(ctx.inputs.length + j);
    const dtype = g.typeOf(split.anchor.inputs[slot]!).dtype;
    let shape: readonly number[];
    if (p.kind === 'range') {
      if (!range) return bad('range operand without a range quantization');
      shape = p.output === 'quantized' ? ctx.inputs[split.range!]!.shape : [];
      loads.set(ctx.inputs.length + j, p.output === 'quantized' ? range.quantized : range.zeroPoint);
    } else if (p.kind === 'dequantize') {
      // Constant 8-bit weights, zero point 0 (what dequantizeLoad accepted): kept packed.
      const q = ctx.inputs[p.quantized]?.value;
      const scale = ctx.inputs[p.scale]?.value;
      const z = p.zeroPoint >= 0 ? ctx.inputs[p.zeroPoint]?.value : undefined;
      if (!q || (q.dtype !== 'int8' && q.dtype !== 'uint8') || !scale || (p.zeroPoint >= 0 && !z)) return bad('weights dequantized on load must be constant 8-bit values with a constant scale');
      if (z && Array.from(z.data as ArrayLike<number>).some((v) => Number(v) !== 0)) return bad('weights dequantized on load need a zero point of 0');
      shape = q.shape;
      packed.set(ctx.inputs.length + j, { q, scale, axis: p.axis });
    } else {
      // The leaves are read at the operand's element (or at 0): all of one size, or single elements.
      const sized = p.leaves.map((k) => ctx.inputs[k]!.shape).filter((s) => sizeOf(s) !== 1);
      shape = sized[0] ?? [];
      if (sized.some((s) => sizeOf(s) !== sizeOf(shape))) bad('operand computed on load from inputs of different sizes');
      loads.set(ctx.inputs.length + j, exprLoad(ctx, p.expr, p.leaves));
    }
    infos.push({ dtype, shape, storage: storageOf(dtype, ctx.f16) });
  });
  if (range && ![...split.prologues].some((p) => p.kind === 'range' && p.output === 'quantized')) bad('range quantization without its quantized operand');
  const kernelLeaves = split.kernelLeaves.map((l) => (l === 'scale' ? range!.scale : range!.zeroPointValue));
  return { loads, packed, infos, kernelLeaves };
}

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
  const { loads, packed, infos, kernelLeaves } = prologueLoads(ctx, g, split);
  const anchorCtx: KernelContext = {
    ...ctx,
    attrs: opContext(opOf(split.anchor), split.anchor).attrs as Record<string, unknown>,
    inputs: [...ctx.inputs, ...infos],
    outputs: [{ ...out, dtype: anchorDtype }],
  };
  const epi = exprEpilogue(ctx, split.expr, anchorDtype, split.extra, out.shape, out.storage, kernelLeaves);
  return planner(anchorCtx, split.anchorInputs, epi, loads, packed);
}

/**
 * The split of a Fused 'epilogue' node over output rows (chunk.ts): the anchor's
 * split, and the chain's extra inputs split with the output like elementwise inputs
 * (or bound whole where broadcast). A group computing operands on load does not split.
 */
function epilogueSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const g = ctx.attrs['graph'];
  if (!(g instanceof Graph) || ctx.outputs.length !== 1) return undefined;
  const s = splitEpilogue(ctx.node, g);
  if (s.prologues.length > 0) return undefined;
  const kernel = kernelOf(opOf(s.anchor));
  if (!kernel?.split) return undefined;
  const out = ctx.outputs[0]!;
  const r = kernel.split({
    ...ctx,
    attrs: opContext(opOf(s.anchor), s.anchor).attrs as Record<string, unknown>,
    inputs: s.anchorInputs.map((k) => (k >= 0 ? ctx.inputs[k] : undefined)),
    outputs: [{ ...out, dtype: g.typeOf(s.anchor.outputs[0]!).dtype }],
  }, a);
  // A Fused node's chunk keeps its attributes; the anchor's live in the sub-graph.
  if (!r || r.attrs) return undefined;
  const ins: (SplitRows | undefined)[] = ctx.inputs.map(() => undefined);
  s.anchorInputs.forEach((k, slot) => { if (k >= 0) ins[k] = r.inputs[slot]; });
  // Output rows per split row (a grouped Conv splits by groups of channels).
  const tail = sizeOf(out.shape.slice(a + 1));
  const per = r.outputs[0] && tail > 0 ? r.outputs[0].unit / tail : 1;
  for (const k of s.extra) {
    if (s.anchorInputs.includes(k)) continue;
    const t = ctx.inputs[k];
    if (!t) continue;
    const rows = rowsOf(t.shape, out.shape.length - t.shape.length, out.shape, a, per);
    if (rows === undefined) return undefined;
    ins[k] = rows === 'whole' ? undefined : rows;
  }
  return { rows: r.rows, inputs: ins, outputs: r.outputs };
}

/** Anchors with their own tiles (chunk.ts) for a Fused 'epilogue' group, by op name, the chain applied as the last tile's epilogue. */
const ANCHOR_TILES: Readonly<Record<string, (ctx: KernelContext, io: readonly number[], epi: Epilogue, readsAtIndex: boolean, outDtype: DType) => readonly KernelTile[] | undefined>> = {
  Gemm: (ctx, io, epi, readsAtIndex, outDtype) => gemmTiles(ctx, io, { epi, readsAtIndex, outDtype }),
};

/**
 * The tiles of a Fused 'epilogue' node whose anchor has its own (a Gemm with transA
 * beyond one binding): the anchor's tiles with the chain as the epilogue of the tile
 * that finishes each output block. A group computing operands on load has none.
 */
function epilogueTiles(ctx: KernelContext): readonly KernelTile[] | undefined {
  const g = ctx.attrs['graph'];
  if (!(g instanceof Graph) || ctx.outputs.length !== 1) return undefined;
  const s = splitEpilogue(ctx.node, g);
  const tiles = ANCHOR_TILES[s.anchor.op];
  if (!tiles || s.prologues.length > 0 || s.kernelLeaves.length > 0) return undefined;
  const out = ctx.outputs[0]!;
  const anchorDtype = g.typeOf(s.anchor.outputs[0]!).dtype;
  const anchorCtx: KernelContext = {
    ...ctx,
    attrs: opContext(opOf(s.anchor), s.anchor).attrs as Record<string, unknown>,
    outputs: [{ ...out, dtype: anchorDtype }],
  };
  const epi = exprEpilogue(ctx, s.expr, anchorDtype, s.extra, out.shape, out.storage);
  return tiles(anchorCtx, s.anchorInputs, epi, s.extra.length > 0, out.dtype);
}

registerFusedKind('epilogue', planEpilogue, epilogueSplit, epilogueTiles);
