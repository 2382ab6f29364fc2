/**
 * The reference plan target and the device-free entry points of the execution plan
 * (exec-plan.ts): the facts the ops themselves give (ALIAS-trait ops are views of
 * their input, elementwise ops may overwrite a dying input, one dispatch per other
 * node), `planMemory` for a graph with symbolic dims, and the limit check.
 */
import type { DType } from '../graph/dtype.js';
import { LimitError, ShapeError } from '../graph/errors.js';
import type { Graph, Node } from '../graph/graph.js';
import { findOp, getTrait, setTrait, traitKey, type TraitKey, type ValueType } from '../graph/op.js';
import { formatShape, type Shape } from '../graph/shape.js';
import { planExecution, type ExecutionPlan, type PlanTarget } from './exec-plan.js';
import '../graph/ops/index.js'; // every op registered before the traits below are attached
import { isFused } from '../graph/ops/fused.js';
import { isElementwise } from './fusion-util.js';

/** Trait: the op's output is its first input's data, reinterpreted (no data moves). */
export const ALIAS: TraitKey<boolean> = traitKey<boolean>('kiln.alias');

for (const name of ['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']) {
  const def = findOp(name);
  if (def) setTrait(def, ALIAS, true);
}

/** True if the node's output shares its first input's storage (ALIAS trait, same dtype and element count). */
export function isAliasNode(n: Node, inType: ValueType | undefined, outType: ValueType | undefined): boolean {
  const def = findOp(n.op, n.domain);
  if (!def || !getTrait(def, ALIAS) || n.outputs.length !== 1 || !inType || !outType) return false;
  if (inType.dtype !== outType.dtype) return false;
  const count = (s: Shape) => s.reduce<number | string>((p, d) => (typeof p === 'number' && typeof d === 'number' ? p * d : `${p}*${d}`), 1);
  return count(inType.shape) === count(outType.shape);
}

/** True for nodes whose output element i reads only element i of each same-shaped input. */
function isOverwriteKind(n: Node): boolean {
  return isElementwise(n) || isFused(n, 'elementwise');
}

/** Options of {@link referenceTarget}. */
export interface ReferenceTargetOptions {
  readonly name?: string;
  /** Bytes per element (default 4, float16 too). */
  readonly elementBytes?: (d: DType) => number;
  /** Allow elementwise overwrite (default true). */
  readonly inPlace?: boolean;
  readonly strategy?: 'arena' | 'pool';
  readonly alignment?: number;
  readonly dynamicShapes?: 'error' | 'host';
  readonly maxValueBytes?: number;
}

/**
 * The facts the ops themselves give, without a device: one dispatch per node,
 * ALIAS-trait ops are views of their input, elementwise ops may overwrite a dying
 * input. The CPU backend runs on this target; `planMemory` uses it too.
 */
export function referenceTarget(opts: ReferenceTargetOptions = {}): PlanTarget {
  const eb = opts.elementBytes ?? (() => 4);
  const align = opts.alignment ?? 256;
  return {
    name: opts.name ?? 'reference',
    bufferBytes: (n, d) => n * eb(d),
    strategy: opts.strategy ?? 'arena',
    alignment: align,
    viewAlignment: align,
    ownsInputs: false,
    ownsConstants: false,
    fold: false,
    dynamicShapes: opts.dynamicShapes ?? 'error',
    ...(opts.maxValueBytes !== undefined ? { maxValueBytes: opts.maxValueBytes } : {}),
    facts({ node, inputs, outputs }) {
      const alias = isAliasNode(node, inputs[0], outputs[0]);
      return alias ? { dispatches: 0, aliasOf: 0 } : { dispatches: 1, overwrite: opts.inPlace !== false && isOverwriteKind(node) };
    },
  };
}

/** Options of {@link planMemory}. */
export interface PlanMemoryOptions extends ReferenceTargetOptions {
  /** Sizes of symbolic dims of the graph inputs. */
  readonly dims?: Readonly<Record<string, number>>;
}

/** The concrete input types of a graph, symbolic dims taken from `dims` (a ShapeError names an unknown one). */
export function concreteInputTypes(g: Graph, dims: Readonly<Record<string, number>> = {}): Map<string, ValueType> {
  return new Map(g.inputs.map((i) => [i.name, {
    dtype: i.dtype,
    shape: i.shape.map((d) => {
      const v = typeof d === 'number' ? d : dims[d];
      if (v === undefined) throw new ShapeError(`${i.name}: shape ${formatShape(i.shape)} has unknown dim '${d}'; give its size to the planner`, i.name);
      return v;
    }),
  }]));
}

/** The execution plan of a graph on the {@link referenceTarget} (no device needed). */
export function planMemory(g: Graph, opts: PlanMemoryOptions = {}): ExecutionPlan {
  return planExecution(g, concreteInputTypes(g, opts.dims), referenceTarget(opts));
}

/** GPU storage sizes: 4 bytes per element (int64 and bool too), float16 2 when `f16` is enabled. */
export function gpuElementBytes(opts: { f16?: boolean } = {}): (d: DType) => number {
  return (d) => (d === 'float16' && opts.f16 ? 2 : 4);
}

/** Device limits a plan must respect. */
export interface PlanLimits {
  readonly maxBufferSize?: number;
  readonly maxStorageBufferBindingSize?: number;
  /** Budget for all buffers together. */
  readonly maxTotalBytes?: number;
}

/** Throws a LimitError naming the value and the limit when the plan does not fit the device. */
export function checkPlanLimits(plan: ExecutionPlan, limits: PlanLimits): void {
  const cap = Math.min(limits.maxBufferSize ?? Infinity, limits.maxStorageBufferBindingSize ?? Infinity);
  for (const b of plan.buffers) {
    if (b.bytes <= cap) continue;
    const values = [...plan.assignments].filter(([, a]) => a.buffer === b.id).map(([v]) => v);
    const which = limits.maxStorageBufferBindingSize !== undefined && b.bytes > limits.maxStorageBufferBindingSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    throw new LimitError(
      `buffer #${b.id} needs ${b.bytes} bytes for value '${values[0] ?? '?'}'${values.length > 1 ? ` (and ${values.length - 1} more)` : ''}, more than the device's ${which} of ${cap} bytes`,
      values[0],
    );
  }
  if (limits.maxTotalBytes !== undefined && plan.peakBytes > limits.maxTotalBytes) {
    throw new LimitError(`the memory plan needs ${plan.peakBytes} bytes of buffers, more than the budget of ${limits.maxTotalBytes} bytes`);
  }
}
