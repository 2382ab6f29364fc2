/**
 * The CPU backend: a reference interpreter that runs in the execution plan's memory.
 * Each set of input shapes is planned once (src/passes/exec-plan.ts, the same
 * planner the WebGPU backend uses, on {@link cpuTarget}) and cached; the plan's one
 * arena is an ArrayBuffer, and every planned value lives at its offset: each node
 * runs its op's CPU reference, and its outputs are stored into their planned bytes
 * (aliases are views of their input; elementwise outputs may take over a dying
 * input's bytes). Values whose shape is unknown before the run (NonZero-like ops)
 * and initializers stay ordinary tensors. It is the oracle for the other backends
 * and the fallback without WebGPU.
 */
import { storageClass } from '../../graph/dtype.js';
import { checkFeeds } from '../../graph/feeds.js';
import type { Graph } from '../../graph/graph.js';
import { runValueReference } from '../../graph/reference.js';
import { NoneValue, TensorSequence, typeOfValue, type Value } from '../../graph/value.js';
import { ExecutionError, KilnError, LimitError } from '../../graph/errors.js';
import type { ValueType } from '../../graph/op.js';
import { sizeOf } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';
import { verify } from '../../graph/verify.js';
import { planExecution, type ExecutionPlan, type PlanTarget } from '../../passes/exec-plan.js';
import { referenceTarget } from '../../passes/plan-reference.js';
import '../../graph/ops/index.js';

/** Per-node timing collected when profiling. */
export interface CpuProfileEntry {
  readonly node: string;
  readonly op: string;
  readonly ms: number;
}

/** Default bound on one tensor's bytes (see {@link compileCpu}). */
const DEFAULT_MAX_TENSOR_BYTES = 2 ** 31;
/** Plans kept per program (least recently used evicted). */
const MAX_PLANS = 16;

/**
 * The CPU plan target: elements take their typed-array storage bytes (float16 4,
 * int64 8, bool 1), one arena with 64-byte aligned offsets, elementwise outputs
 * may overwrite a dying input; values over `maxValueBytes` or of unknown shape are
 * left to the reference ops.
 */
export function cpuTarget(maxValueBytes = DEFAULT_MAX_TENSOR_BYTES): PlanTarget {
  return referenceTarget({ name: 'cpu', elementBytes: (d) => storageClass(d).BYTES_PER_ELEMENT, alignment: 64, dynamicShapes: 'host', maxValueBytes });
}

/** A plan and its arena. */
interface Realized {
  readonly plan: ExecutionPlan | undefined;
  readonly arena: ArrayBuffer | undefined;
  /** Why the graph runs unplanned (planning failed), for inspection. */
  readonly unplannedReason?: string;
}

/** A graph prepared for the CPU. */
export class CpuProgram {
  private readonly plans = new Map<string, Realized>();
  private current: Realized | undefined;
  /** Timings of the last run when `profile` was set. */
  lastProfile: CpuProfileEntry[] = [];
  /** Reference-op calls of the last run (the plan's dispatches; views are not calls). */
  lastDispatches = 0;

  /** @internal use {@link compileCpu}. */
  constructor(readonly graph: Graph, private readonly profile = false, private readonly maxTensorBytes?: number) {}

  /** The execution plan of the most recent run (undefined when it ran unplanned). */
  get plan(): ExecutionPlan | undefined { return this.current?.plan; }
  /** Bytes of the arena the most recent run used. */
  get arenaBytes(): number { return this.current?.arena?.byteLength ?? 0; }
  /** Why the most recent run had no plan (planning failed), if it did not. */
  get unplannedReason(): string | undefined { return this.current?.unplannedReason; }

  private realize(feeds: Readonly<Record<string, Value>>): Realized {
    const key = this.graph.inputs.map((i) => feedKey(feeds[i.name]!)).join(';');
    let r = this.plans.get(key);
    if (r) {
      this.plans.delete(key);
    } else {
      const types = new Map<string, ValueType>(this.graph.inputs.map((i) => [i.name, feedType(i, feeds[i.name]!)]));
      try {
        const plan = planExecution(this.graph, types, cpuTarget(this.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES));
        let arena: ArrayBuffer | undefined;
        try {
          arena = plan.buffers.length ? new ArrayBuffer(plan.peakBytes) : undefined;
        } catch {
          throw new LimitError(`the CPU plan needs an arena of ${plan.peakBytes} bytes, which could not be allocated`);
        }
        r = { plan, arena };
      } catch (e) {
        // Planning needs type inference; a graph it cannot infer still runs, op by op,
        // and the reference ops report the problem with the node's name.
        if (!(e instanceof KilnError) || e instanceof LimitError) throw e;
        r = { plan: undefined, arena: undefined, unplannedReason: e.message };
      }
    }
    this.plans.set(key, r);
    while (this.plans.size > MAX_PLANS) this.plans.delete(this.plans.keys().next().value as string);
    return r;
  }

  /** Runs the graph on named feeds and returns the named outputs (all tensors: see {@link runValues} for sequences and optionals). */
  run(feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    const out = this.runValues(feeds);
    for (const [k, v] of Object.entries(out)) {
      if (!(v instanceof Tensor)) throw new ExecutionError(`graph output '${k}' is ${v.toString()}, not a tensor; use runValues() for sequence and optional outputs`, k);
    }
    return out as Record<string, Tensor>;
  }

  /**
   * Runs the graph on named feeds of any kind (tensors; a TensorSequence for a
   * sequence input; for an optional input its value or a NoneValue) and returns the
   * named outputs, sequences and optionals included.
   */
  runValues(feeds: Readonly<Record<string, Value>>): Record<string, Value> {
    checkFeeds(this.graph, feeds as Readonly<Record<string, Tensor>>, { requireData: true });
    const r = this.realize(feeds);
    this.current = r;
    const { plan, arena } = r;
    const env = new Map<string, Value>();
    for (const [k, t] of this.graph.initializers) env.set(k, t);
    for (const i of this.graph.inputs) env.set(i.name, feeds[i.name]!);
    const order = plan ? plan.steps.map((s) => s.node) : this.graph.topo;
    const lastUse = new Map<string, number>();
    order.forEach((n, i) => n.inputs.forEach((v) => v !== '' && lastUse.set(v, i)));
    for (const o of this.graph.outputs) lastUse.set(o.name, Infinity);
    const prof: CpuProfileEntry[] = [];
    const opts = this.maxTensorBytes !== undefined ? { maxTensorBytes: this.maxTensorBytes } : {};
    let calls = 0;
    order.forEach((node, idx) => {
      const ins = node.inputs.map((v) => {
        if (v === '') return undefined;
        const t = env.get(v);
        if (!t) throw new ExecutionError(`${node.name}: input '${v}' is not available`, node.name);
        return t;
      });
      const t0 = this.profile ? performance.now() : 0;
      const alias = plan?.steps[idx]!.aliasOf;
      const out0 = node.outputs[0];
      const aliased = alias !== undefined ? ins[alias] : undefined;
      if (alias !== undefined && out0 && aliased instanceof Tensor) {
        // A view: the same bytes as its input, reshaped.
        env.set(out0, aliased.reshape(plan!.types.get(out0)!.shape as number[]));
      } else {
        const outs = runValueReference(node, ins, opts);
        calls++;
        node.outputs.forEach((o, k) => {
          if (o === '') return;
          const t = outs[k];
          if (!t) throw new ExecutionError(`${node.name}: ${node.op} produced no output #${k}`, node.name);
          env.set(o, t instanceof Tensor ? place(plan, arena, node.name, o, t) : t);
        });
      }
      if (this.profile) prof.push({ node: node.name, op: node.op, ms: performance.now() - t0 });
      for (const v of node.inputs) {
        if (v !== '' && lastUse.get(v) === idx && !this.graph.initializers.has(v)) env.delete(v);
      }
    });
    this.lastProfile = prof;
    this.lastDispatches = calls;
    const result: Record<string, Value> = {};
    for (const o of this.graph.outputs) {
      const t = env.get(o.name);
      if (!t) throw new ExecutionError(`graph output '${o.name}' was not computed`, o.name);
      // Planned outputs live in the arena, which the next run reuses: hand out a copy.
      result[o.name] = t instanceof Tensor && plan?.assignments.has(o.name) ? new Tensor(t.dtype, t.shape, t.data.slice()) : t;
    }
    return result;
  }
}

/** The plan-cache key of a feed: dtype and shape (a sequence: each element's). */
function feedKey(v: Value): string {
  if (v instanceof Tensor) return `${v.dtype}[${v.shape.join(',')}]`;
  if (v instanceof TensorSequence) return `seq(${v.items.map(feedKey).join(' ')})`;
  return 'none';
}

/** The type a feed gives its input: a tensor's own; for a sequence or optional input, the value's type, or the declared one for an empty optional. */
function feedType(inp: ValueType, v: Value): ValueType {
  if (v instanceof NoneValue) return inp;
  return typeOfValue(v);
}

/** Stores a node's output at its planned bytes (when it has some) and returns the tensor viewing them. */
function place(plan: ExecutionPlan | undefined, arena: ArrayBuffer | undefined, node: string, name: string, t: Tensor): Tensor {
  const a = plan?.assignments.get(name);
  // An unplanned output that views the arena (a reshape of a planned input) must not see those bytes reused.
  if (!a || !arena) return arena && t.data.buffer === arena ? new Tensor(t.dtype, t.shape, t.data.slice()) : t;
  const want = plan!.types.get(name)!;
  if (want.dtype !== t.dtype || sizeOf(want.shape as number[]) !== t.size) {
    throw new ExecutionError(`${node}: output '${name}' is ${t.toString()}, but its planned type is ${want.dtype}[${want.shape.join(',')}] (shape inference and the CPU reference disagree)`, node);
  }
  const Cls = storageClass(t.dtype) as unknown as new (b: ArrayBuffer, offset: number, n: number) => Tensor['data'];
  const view = new Cls(arena, a.offset, t.size);
  view.set(t.data as ArrayLike<number>);
  return new Tensor(t.dtype, t.shape, view);
}

/**
 * Verifies a graph and prepares it for the CPU backend. `maxTensorBytes` bounds each
 * tensor a node allocates (default 2 GiB): beyond it the run fails with a LimitError
 * naming the node instead of exhausting memory.
 */
export function compileCpu(graph: Graph, opts: { profile?: boolean; skipVerify?: boolean; maxTensorBytes?: number } = {}): CpuProgram {
  if (!opts.skipVerify) verify(graph);
  return new CpuProgram(graph, opts.profile ?? false, opts.maxTensorBytes);
}
