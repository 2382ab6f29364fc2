/**
 * Load fusion: facts that let epilogue fusion (src/passes/fuse-epilogue.ts) put the
 * producer of an anchor's operand into the anchor's group, so the anchor's kernel
 * computes that operand while it loads it and the producer needs no kernel of its own.
 *
 * - {@link LOAD_FUSION} on an output-fusable op (ConvInteger, MatMulInteger) names the
 *   input slots its kernels can compute on load: from an elementwise expression of
 *   tensors with the operand's shape (or single elements), e.g. a QuantizeLinear
 *   lowered to Div/Round/Add/Clip/Cast; and, where given, from a per-tensor range
 *   quantization (an op with {@link RANGE_QUANTIZE}), whose zero point then feeds
 *   slot `zeroPoint` and whose scale the epilogue chain may read;
 *   and, where given, from a dequantization of constant 8-bit weights (an op with
 *   {@link DEQUANTIZE}, checked by {@link dequantizeLoad}): the kernel then keeps
 *   the weights packed as 8-bit integers and applies the scale per output channel,
 *   so no float copy of them exists (constant folding leaves such a node alone).
 * - {@link RANGE_QUANTIZE} on an op (DynamicQuantizeLinear) says its outputs are a
 *   uint8 quantization of input 0 with a scale and zero point computed from the
 *   input's range (with 0), as the op's CPU reference defines them.
 *
 * In a Fused 'epilogue' group the absorbed producers come before the anchor (see
 * `epilogueParts` in ops/fused.ts).
 */
import type { Node } from './graph.js';
import { findOp, getTrait, traitKey, type TraitKey } from './op.js';
import type { Tensor } from './tensor.js';

/** What an anchor's kernels can compute while loading an operand. */
export interface LoadFusion {
  /** Input slots computable on load from an elementwise expression (leaves of the operand's shape or single elements). */
  readonly elementwise: readonly number[];
  /** Input slot computable on load by a per-tensor range quantization, whose zero point is input slot `zeroPoint`. */
  readonly rangeQuantize?: { readonly input: number; readonly zeroPoint: number } | undefined;
  /** Input slots computable on load by dequantizing constant 8-bit weights (zero point 0), scale per tensor or per output channel. */
  readonly dequantize?: readonly DequantizeSlot[] | undefined;
}

/** The trait of an op whose kernels compute some operands on load. */
export const LOAD_FUSION: TraitKey<LoadFusion> = traitKey<LoadFusion>('fusion.load');

/** Output positions of a per-tensor range quantization of input 0. */
export interface RangeQuantize {
  readonly quantized: number;
  readonly scale: number;
  readonly zeroPoint: number;
}

/** The trait of a per-tensor range quantization op (DynamicQuantizeLinear). */
export const RANGE_QUANTIZE: TraitKey<RangeQuantize> = traitKey<RangeQuantize>('fusion.rangeQuantize');

/**
 * Where a dequantization's operands are: input slots of the quantized values, the
 * scale and the zero point, and the axis its scale runs along for a node (undefined
 * when the node's form is not a plain per-tensor / per-axis one, e.g. blocked).
 */
export interface Dequantize {
  readonly quantized: number;
  readonly scale: number;
  readonly zeroPoint: number;
  axisOf(node: Node, rank: number): number | undefined;
}

/** The trait of a linear dequantization op (DequantizeLinear): output 0 = (x - zero point) · scale. */
export const DEQUANTIZE: TraitKey<Dequantize> = traitKey<Dequantize>('fusion.dequantize');

/** A load-fusable weight slot: the input and the output-channel axis of the weight (rank given). */
export interface DequantizeSlot {
  readonly input: number;
  axisOf(node: Node, rank: number): number | undefined;
}

/** What {@link dequantizeLoad} needs to know about the graph around a node. */
export interface DequantizeEnv {
  producerOf(v: string): Node | undefined;
  consumersOf(v: string): readonly Node[];
  isOutput(v: string): boolean;
  constantOf(v: string): Tensor | undefined;
  typeOf(v: string): { readonly dtype: string; readonly shape: readonly unknown[] };
}

/**
 * True when `anchor` may dequantize its input `slot` while loading it (see
 * {@link LoadFusion.dequantize}): the producer has {@link DEQUANTIZE}, reads a
 * constant int8/uint8 tensor, a constant float32 scale (one value, or one per index
 * of the anchor's output-channel axis), no zero point or an all-zero one, yields
 * float32, and only the anchor reads its output (not a graph output).
 */
export function dequantizeLoad(env: DequantizeEnv, anchor: Node, slot: number): Node | undefined {
  const at = findOp(anchor.op, anchor.domain);
  const opt = at && getTrait(at, LOAD_FUSION)?.dequantize?.find((d) => d.input === slot);
  const v = anchor.inputs[slot];
  const p = v ? env.producerOf(v) : undefined;
  const def = p && findOp(p.op, p.domain);
  const dq = def && getTrait(def, DEQUANTIZE);
  if (!opt || !p || !dq || !v || p.outputs[0] !== v || env.isOutput(v)) return undefined;
  if (!env.consumersOf(v).every((c) => c.name === anchor.name) || anchor.inputs.some((w, k) => w === v && k !== slot)) return undefined;
  const q = env.constantOf(p.inputs[dq.quantized] ?? '');
  const s = env.constantOf(p.inputs[dq.scale] ?? '');
  const zName = p.inputs[dq.zeroPoint] ?? '';
  const z = zName ? env.constantOf(zName) : undefined;
  if (!q || (q.dtype !== 'int8' && q.dtype !== 'uint8') || !s || s.dtype !== 'float32' || env.typeOf(v).dtype !== 'float32') return undefined;
  if (zName && (!z || Array.from(z.data as ArrayLike<number>).some((x) => Number(x) !== 0))) return undefined;
  const axis = dq.axisOf(p, q.rank);
  if (axis === undefined) return undefined;
  if (s.size === 1) return p;
  const ch = opt.axisOf(anchor, q.rank);
  return ch !== undefined && ch === axis && s.size === q.shape[axis] ? p : undefined;
}
