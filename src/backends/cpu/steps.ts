/**
 * The step loop the host backends share (the CPU reference interpreter and the wasm
 * backend): the value environment (initializers, feeds, node outputs), each node's
 * inputs looked up by name, dead values dropped after their last use, optional
 * per-node timing, reference outputs stored at their planned bytes, and the graph
 * outputs handed out as copies when they view the arena the next run reuses.
 */
import { storageClass } from '../../graph/dtype.js';
import { ExecutionError } from '../../graph/errors.js';
import type { Graph, Node } from '../../graph/graph.js';
import type { ValueType } from '../../graph/op.js';
import { sizeOf } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';
import { NoneValue, TensorSequence, typeOfValue, type Value } from '../../graph/value.js';
import type { ExecutionPlan } from '../../passes/exec-plan.js';

/** Runs one node: `ins` are its inputs (undefined for an omitted one); it stores its outputs into `env`. */
export type StepFn = (node: Node, idx: number, ins: readonly (Value | undefined)[], env: Map<string, Value>) => void;

/**
 * Runs `nodes` in order over an environment seeded with the graph's initializers and
 * `feeds`, calling `step` for each node with its inputs (an input that is not
 * available is an ExecutionError naming the node) and dropping every non-initializer
 * value after its last reader (graph outputs are kept). `onTime` receives each
 * node's milliseconds when given. Returns the environment after the last node.
 */
export function runSteps(graph: Graph, nodes: readonly Node[], feeds: Readonly<Record<string, Value>>, step: StepFn, onTime?: (node: Node, idx: number, ms: number) => void): Map<string, Value> {
  const env = new Map<string, Value>();
  for (const [k, t] of graph.initializers) env.set(k, t);
  for (const i of graph.inputs) env.set(i.name, feeds[i.name]!);
  const lastUse = new Map<string, number>();
  nodes.forEach((n, i) => n.inputs.forEach((v) => v !== '' && lastUse.set(v, i)));
  for (const o of graph.outputs) lastUse.set(o.name, Infinity);
  nodes.forEach((node, idx) => {
    const ins = node.inputs.map((v) => {
      if (v === '') return undefined;
      const t = env.get(v);
      if (!t) throw new ExecutionError(`${node.name}: input '${v}' is not available`, node.name);
      return t;
    });
    const t0 = onTime ? performance.now() : 0;
    step(node, idx, ins, env);
    if (onTime) onTime(node, idx, performance.now() - t0);
    for (const v of node.inputs) {
      if (v !== '' && lastUse.get(v) === idx && !graph.initializers.has(v)) env.delete(v);
    }
  });
  return env;
}

/**
 * Stores the outputs a reference op returned for `node` into `env`: tensors at their
 * planned bytes (see {@link placeInArena}), sequences and optionals as they are. A
 * missing output is an ExecutionError naming the node.
 */
export function storeOutputs(node: Node, outs: readonly (Value | undefined)[], env: Map<string, Value>, place: (name: string, t: Tensor) => Tensor): void {
  node.outputs.forEach((o, k) => {
    if (o === '') return;
    const t = outs[k];
    if (!t) throw new ExecutionError(`${node.name}: ${node.op} produced no output #${k}`, node.name);
    env.set(o, t instanceof Tensor ? place(o, t) : t);
  });
}

/**
 * Stores a node's output tensor at its planned bytes, `base + offset` in `arena`
 * (when the plan gives it some), and returns the tensor viewing them. An unplanned
 * output that views the arena (a reshape of a planned value) is copied out, so that
 * reusing those bytes cannot change it. A tensor whose type differs from the planned
 * one is an ExecutionError naming the node.
 */
export function placeInArena(plan: ExecutionPlan | undefined, arena: ArrayBufferLike | undefined, base: number, node: string, name: string, t: Tensor): Tensor {
  const a = plan?.assignments.get(name);
  if (!a || !arena) return arena && t.data.buffer === arena ? new Tensor(t.dtype, t.shape, t.data.slice()) : t;
  const want = plan!.types.get(name)!;
  if (want.dtype !== t.dtype || sizeOf(want.shape as number[]) !== t.size) {
    throw new ExecutionError(`${node}: output '${name}' is ${t.toString()}, but its planned type is ${want.dtype}[${want.shape.join(',')}] (shape inference and the CPU reference disagree)`, node);
  }
  const Cls = storageClass(t.dtype) as unknown as new (b: ArrayBufferLike, offset: number, n: number) => Tensor['data'];
  const view = new Cls(arena, base + a.offset, t.size);
  view.set(t.data as ArrayLike<number>);
  return new Tensor(t.dtype, t.shape, view);
}

/**
 * The graph's outputs from the environment after a run. Tensors viewing `arena`
 * (which the next run reuses) and planned ones (`plan` assigns them bytes; a view of
 * a feed is one) are copied. A missing output is an ExecutionError.
 */
export function collectOutputs(graph: Graph, env: ReadonlyMap<string, Value>, plan: ExecutionPlan | undefined, arena: ArrayBufferLike | undefined): Record<string, Value> {
  const result: Record<string, Value> = {};
  for (const o of graph.outputs) {
    const t = env.get(o.name);
    if (!t) throw new ExecutionError(`graph output '${o.name}' was not computed`, o.name);
    const copy = t instanceof Tensor && ((arena !== undefined && t.data.buffer === arena) || plan?.assignments.has(o.name) === true);
    result[o.name] = copy ? new Tensor(t.dtype, t.shape, t.data.slice()) : t;
  }
  return result;
}

/** Checks that every output is a tensor (what `run()` hands out; `runValues()` hands out any value). */
export function tensorsOnly(out: Record<string, Value>): Record<string, Tensor> {
  for (const [k, v] of Object.entries(out)) {
    if (!(v instanceof Tensor)) throw new ExecutionError(`graph output '${k}' is ${v.toString()}, not a tensor; use runValues() for sequence and optional outputs`, k);
  }
  return out as Record<string, Tensor>;
}

/** The plan-cache key of a feed: dtype and shape (a sequence: each element's). */
export function feedKey(v: Value): string {
  if (v instanceof Tensor) return `${v.dtype}[${v.shape.join(',')}]`;
  if (v instanceof TensorSequence) return `seq(${v.items.map(feedKey).join(' ')})`;
  return 'none';
}

/** The type a feed gives its input: a tensor's own; for a sequence or optional input, the value's type, or the declared one for an empty optional. */
export function feedType(inp: ValueType, v: Value): ValueType {
  if (v instanceof NoneValue) return inp;
  return typeOfValue(v);
}
