/**
 * A running environment of value types and known constant values, used while
 * building or checking a graph. When every input of a node is a known constant and
 * the tensors are small, the node's outputs are computed with the CPU reference so
 * that shape computations (Shape → Gather → Concat → Reshape) give static shapes.
 */
import type { Node } from './graph.js';
import { inferNode, opContext, opOf } from './infer.js';
import { getTrait, type InferInput, type ValueType } from './op.js';
import { runReference } from './reference.js';
import { sizeOf, isStatic } from './shape.js';
import { Tensor } from './tensor.js';
import { KilnError } from './errors.js';
import { isTensorType } from './value.js';
import { MAX_SHAPE_VALUE, PARTIAL_VALUES, SHAPE_VALUE, type ShapeValue } from './shape-values.js';

/** Largest tensor (elements) whose value is propagated for inference. */
export const VALUE_PROPAGATION_LIMIT = 4096;

/** Types and small constant values of the values defined so far. */
export class TypeEnv {
  readonly types = new Map<string, ValueType>();
  readonly values = new Map<string, Tensor>();
  /** Symbolic contents of small int vectors holding dims whose value is not fully known (shape-values.ts). */
  readonly shapeValues = new Map<string, ShapeValue>();

  /** What is known of a value's contents as dims: its constant value when a small int vector, else its shape value. */
  shapeValue(name: string): ShapeValue | undefined {
    if (name === '') return undefined;
    const v = this.values.get(name);
    if (v && (v.dtype === 'int64' || v.dtype === 'int32') && v.rank <= 1 && v.size <= MAX_SHAPE_VALUE) {
      return { dims: Array.from(v.data as ArrayLike<number | bigint>, Number), scalar: v.rank === 0 };
    }
    return this.shapeValues.get(name);
  }

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
    if (outs.every((o) => isTensorType(o) && isStatic(o.shape) && sizeOf(o.shape) <= VALUE_PROPAGATION_LIMIT)) {
      try {
        if (opOf(node).shapeOnly) values = foldShapeOnly(node, ins);
        else if (node.inputs.every((n) => n === '' || this.values.has(n))) values = runReference(node, node.inputs.map((n) => (n === '' ? undefined : this.values.get(n))));
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        values = undefined;
      }
    }
    const known: readonly (Tensor | undefined)[] | undefined = values ?? this.partialValues(node, ins);
    node.outputs.forEach((o, i) => {
      if (o !== '' && outs[i]) this.define(o, outs[i]!, known?.[i]);
    });
    if (!values && node.outputs.length === 1 && node.outputs[0] !== '' && outs[0]) this.propagateShapeValue(node, ins, outs[0]);
    return outs;
  }

  /** Output values an op with the PARTIAL_VALUES trait knows although some inputs are unknown. */
  private partialValues(node: Node, ins: readonly (InferInput | undefined)[]): (Tensor | undefined)[] | undefined {
    const fn = getTrait(opOf(node), PARTIAL_VALUES);
    if (!fn) return undefined;
    try {
      return fn(node, ins)?.map((v) => (v && v.size <= VALUE_PROPAGATION_LIMIT ? v : undefined));
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      return undefined;
    }
  }

  /** Records the output's shape value (a constant when every element is known) for ops with the SHAPE_VALUE trait. */
  private propagateShapeValue(node: Node, ins: readonly (InferInput | undefined)[], out: ValueType): void {
    const def = opOf(node);
    const fn = getTrait(def, SHAPE_VALUE);
    if (!fn || (out.dtype !== 'int64' && out.dtype !== 'int32')) return;
    let sv: ShapeValue | undefined;
    try {
      sv = fn(node.inputs.map((n) => this.shapeValue(n)), ins, opContext(def, node).attrs);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      return;
    }
    if (!sv || sv.dims.length > MAX_SHAPE_VALUE) return;
    const o = node.outputs[0]!;
    const shape = sv.scalar ? [] : [sv.dims.length];
    if (!isStatic(out.shape) || out.shape.join() !== shape.join()) return;
    if (sv.dims.every((d) => typeof d === 'number')) this.define(o, out, Tensor.from(out.dtype, shape, sv.dims as number[]));
    else this.shapeValues.set(o, sv);
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
