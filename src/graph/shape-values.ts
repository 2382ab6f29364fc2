/**
 * Symbolic shape values: what inference knows about the *contents* of a small int64
 * (or int32) vector or scalar that holds dims — `Shape(x)` of an `x` whose shape is
 * partly symbolic is `[batch, 1, 'len']`, and `Gather(Shape(x), 1)` is then the
 * constant 1 although `x`'s shape is not static. TypeEnv (type-env.ts) tracks these
 * per value and turns a result whose elements are all numbers into a constant, so a
 * condition such as `Shape(x)[1] == 1` — what exporters emit for `if x.dim(1) == 1`
 * — is known when the model is imported, and an `If` on it gets the chosen branch's
 * types (ONNX calls this data propagation).
 *
 * Each op that can carry a shape value through says how with the {@link SHAPE_VALUE}
 * trait, set in its op family file.
 */
import type { Node } from './graph.js';
import { traitKey, type InferInput, type TraitKey } from './op.js';
import type { Tensor } from './tensor.js';
import type { Dim } from './shape.js';

/** The elements of a small int vector (or scalar) as dims; strings are symbolic. */
export interface ShapeValue {
  readonly dims: readonly Dim[];
  /** True for a scalar (then `dims` has one element). */
  readonly scalar: boolean;
}

/** How an op maps its inputs' shape values (and types, and resolved attrs) to its output's; undefined when it cannot. */
export type ShapeValueFn = (values: readonly (ShapeValue | undefined)[], types: readonly (InferInput | undefined)[], attrs: Readonly<Record<string, unknown>>) => ShapeValue | undefined;

/** Trait: the op carries shape values through (Shape, Gather, Concat, Squeeze, Unsqueeze, Slice, Cast, Identity). */
export const SHAPE_VALUE: TraitKey<ShapeValueFn> = traitKey<ShapeValueFn>('graph.shapeValue');

/**
 * How an op gives the values of some outputs when not every input's value is known
 * (an If whose condition is known: the chosen branch's outputs that its known
 * captures decide). Entries are undefined where unknown.
 */
export type PartialValuesFn = (node: Node, inputs: readonly (InferInput | undefined)[]) => readonly (Tensor | undefined)[] | undefined;

/** Trait: the op passes known values through although some inputs are unknown (If). */
export const PARTIAL_VALUES: TraitKey<PartialValuesFn> = traitKey<PartialValuesFn>('graph.partialValues');

/** Largest vector tracked. */
export const MAX_SHAPE_VALUE = 64;

/** The numbers of a shape value whose elements are all known, else undefined. */
export function knownDims(v: ShapeValue | undefined): number[] | undefined {
  if (!v || v.dims.some((d) => typeof d !== 'number')) return undefined;
  return v.dims as number[];
}

/** A vector shape value (or undefined past the size limit). */
export function vectorValue(dims: readonly Dim[]): ShapeValue | undefined {
  return dims.length <= MAX_SHAPE_VALUE ? { dims, scalar: false } : undefined;
}
