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
 *   slot `zeroPoint` and whose scale the epilogue chain may read.
 * - {@link RANGE_QUANTIZE} on an op (DynamicQuantizeLinear) says its outputs are a
 *   uint8 quantization of input 0 with a scale and zero point computed from the
 *   input's range (with 0), as the op's CPU reference defines them.
 *
 * In a Fused 'epilogue' group the absorbed producers come before the anchor (see
 * `epilogueParts` in ops/fused.ts).
 */
import { traitKey, type TraitKey } from './op.js';

/** What an anchor's kernels can compute while loading an operand. */
export interface LoadFusion {
  /** Input slots computable on load from an elementwise expression (leaves of the operand's shape or single elements). */
  readonly elementwise: readonly number[];
  /** Input slot computable on load by a per-tensor range quantization, whose zero point is input slot `zeroPoint`. */
  readonly rangeQuantize?: { readonly input: number; readonly zeroPoint: number } | undefined;
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
