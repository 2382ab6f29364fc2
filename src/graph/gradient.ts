/**
 * The gradient an op declares in its family file, next to its definition, with
 * {@link declareGradient} (stored as the op's GRADIENT trait): given
 * the forward node's inputs and outputs and the gradients reaching its outputs, it
 * emits, through a {@link GraphBuilder} seeded with the forward graph, the nodes
 * that compute the gradients of its inputs. The transformation that walks a graph
 * backwards and calls these is src/passes/autodiff.ts; shared helpers (reducing a
 * broadcast gradient, zeros, scalars) are in src/graph/ops/grad-util.ts.
 */
import type { GraphBuilder, Sym } from './builder.js';
import { KilnError } from './errors.js';
import type { AttrSchema, AttrsOf } from './attrs.js';
import { getTrait, setTrait, traitKey, RegistryError, type OpDef } from './op.js';

/** What an op's gradient function receives. */
export interface GradientContext<A> {
  /** Forward node name (for error messages and node names). */
  readonly node: string;
  /** The forward node's resolved attributes (defaults filled in). */
  readonly attrs: A;
  /** Emits the backward nodes (every op is a method: `b.Mul([g, y])`). */
  readonly b: GraphBuilder;
  /** The forward inputs (undefined for an omitted optional input). */
  readonly inputs: readonly (Sym | undefined)[];
  /** The forward outputs (undefined for an omitted optional output). */
  readonly outputs: readonly (Sym | undefined)[];
  /** Gradient of the loss with respect to each output; undefined where none flows back. */
  readonly grads: readonly (Sym | undefined)[];
  /** True if input `i` needs a gradient (it lies on a path from a differentiated value). */
  wants(i: number): boolean;
}

/**
 * An op's gradient: one entry per forward input, the gradient of the loss with
 * respect to it (same dtype and shape as the input), or undefined where the input
 * is not differentiable (indices, shapes) or not wanted. At least one of `grads` is
 * defined when it is called.
 */
export type GradientFn<A> = (ctx: GradientContext<A>) => readonly (Sym | undefined)[];

/** Raised when a gradient is asked through ops that declare none; lists every such op and its nodes. */
export class NoGradientError extends KilnError {
  /** Every op without a gradient on the differentiated path, with its nodes. */
  readonly ops: readonly { op: string; nodes: string[] }[];
  constructor(ops: { op: string; nodes: string[] }[]) {
    const list = ops.map((o) => `${o.op} (${o.nodes.slice(0, 5).join(', ')}${o.nodes.length > 5 ? ', ...' : ''})`).join('; ');
    super('NO_GRADIENT', `no gradient is defined for op${ops.length === 1 ? '' : 's'}: ${list}`);
    this.ops = ops;
  }
}

/** Raised when an op's gradient cannot handle a node's attributes or shapes (names the node and why). */
export class GradientError extends KilnError {
  constructor(message: string, where?: string) { super('GRADIENT_UNSUPPORTED', message, where); }
}

/** The op trait holding its gradient (read by src/passes/autodiff.ts). */
export const GRADIENT = traitKey<GradientFn<Record<string, unknown>>>('gradient');

/**
 * Declares an op's gradient (once per op; a second declaration is a RegistryError).
 * Called in the op's family file right after its definition. Declared apart from the
 * defineOp spec because the gradient emits ops through the typed builder, whose method
 * types come from the op definitions themselves.
 */
export function declareGradient<S extends AttrSchema, M extends boolean>(op: OpDef<S, M>, fn: GradientFn<AttrsOf<S>>): void {
  const def = op as unknown as OpDef;
  if (getTrait(def, GRADIENT)) throw new RegistryError(`op ${op.name} declares its gradient twice`);
  setTrait(def, GRADIENT, fn as unknown as GradientFn<Record<string, unknown>>);
}

/** The gradient an op declared, if any. */
export function gradientOf(op: OpDef): GradientFn<Record<string, unknown>> | undefined {
  return getTrait(op, GRADIENT);
}
