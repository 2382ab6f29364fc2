/**
 * A running environment of value types and known constant values, used while
 * building or checking a graph. When every input of a node is a known constant and
 * the tensors are small, the node's outputs are computed with the CPU reference so
 * that shape computations (Shape → Gather → Concat → Reshape) give static shapes.
 */
import type { Node } from './graph.js';
import { inferNode, opOf } from './infer.js';
import type { InferInput, ValueType } from './op.js';
import { runReference } from './reference.js';
import { sizeOf, isStatic } from './shape.js';
import { Tensor } from './tensor.js';
import { KilnError } from './errors.js';

/** Largest tensor (elements) whose value is propagated for inference. */
export const VALUE_PROPAGATION_LIMIT = 4096;

/** Types and small constant values of the values defined so far. */
export class TypeEnv {
  readonly types = new Map<string, ValueType>();
  readonly values = new Map<string, Tensor>();

  /** Records a value's type, and its constant value when small enough. */
  define(name: string, type: ValueType, value?: Tensor): void {
    this.types.set(name, type);
    if (value && value.size <= VALUE_PROPAGATION_LIMIT) this.values.set(name, value);
  }

  /** The InferInput for a value name ('' gives undefined). */
  input(name: string): InferInput | undefined {
    if (name === '') return undefined;
    const t = this.types.get(name);
    if (!t) return undefined;
    const v = this.values.get(name);
    return v ? { ...t, value: v } : t;
  }

  /**
   * Infers a node's outputs from the environment, records them, and returns them.
   * Inputs missing from the environment must be checked by the caller.
   */
  addNode(node: Node): ValueType[] {
    const ins = node.inputs.map((n) => this.input(n));
    const outs = inferNode(node, ins);
    let values: Tensor[] | undefined;
    if (outs.every((o) => isStatic(o.shape) && sizeOf(o.shape) <= VALUE_PROPAGATION_LIMIT)) {
      try {
        if (opOf(node).shapeOnly) values = foldShapeOnly(node, ins);
        else if (node.inputs.every((n) => n === '' || this.values.has(n))) values = runReference(node, node.inputs.map((n) => (n === '' ? undefined : this.values.get(n))));
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        values = undefined;
      }
    }
    node.outputs.forEach((o, i) => {
      if (o !== '' && outs[i]) this.define(o, outs[i]!, values?.[i]);
    });
    return outs;
  }
}

/**
 * Evaluates a shape-only op (op flag `shapeOnly`: Shape, Size) from the static
 * shapes of its inputs alone, without their data. `inputTypes[i]` is the type of
 * input `i` (`undefined` for an omitted input). Returns the output tensors, or
 * `undefined` when the op is not shape-only or a given input's shape is not static.
 * Errors of the op's CPU reference (a KilnError for bad attributes) propagate.
 */
export function foldShapeOnly(node: Node, inputTypes: readonly (ValueType | undefined)[]): Tensor[] | undefined {
  if (!opOf(node).shapeOnly || inputTypes.some((t) => t !== undefined && !isStatic(t.shape))) return undefined;
  return runReference(node, inputTypes.map((t) => (t ? shapeOnlyTensor(t) : undefined)));
}

/**
 * A tensor that carries only dtype and shape, for ops that read shapes alone
 * (Shape, Size): their inputs' data is never allocated during inference.
 */
export function shapeOnlyTensor(t: ValueType): Tensor {
  const fake = Object.create(Tensor.prototype) as { dtype: unknown; shape: unknown; data: unknown };
  fake.dtype = t.dtype;
  fake.shape = Object.freeze([...t.shape]);
  fake.data = new Float32Array(0);
  Object.defineProperty(fake, 'size', { value: sizeOf(t.shape as readonly number[]) });
  return fake as unknown as Tensor;
}
