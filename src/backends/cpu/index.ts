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
import type { Value } from '../../graph/value.js';
import { KilnError, LimitError } from '../../graph/errors.js';
import type { ValueType } from '../../graph/op.js';
import { Tensor } from '../../graph/tensor.js';
import { verify } from '../../graph/verify.js';
import { planExecution, type ExecutionPlan, type PlanTarget } from '../../passes/exec-plan.js';
import { referenceTarget } from '../../passes/plan-reference.js';
import { collectOutputs, feedKey, feedType, placeInArena, runSteps, storeOutputs, tensorsOnly } from './steps.js';
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
    return tensorsOnly(this.runValues(feeds));
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
    const order = plan ? plan.steps.map((s) => s.node) : this.graph.topo;
    const prof: CpuProfileEntry[] = [];
    const opts = this.maxTensorBytes !== undefined ? { maxTensorBytes: this.maxTensorBytes } : {};
    let calls = 0;
    const env = runSteps(this.graph, order, feeds, (node, idx, ins, env) => {
      const alias = plan?.steps[idx]!.aliasOf;
      const out0 = node.outputs[0];
      const aliased = alias !== undefined ? ins[alias] : undefined;
      if (alias !== undefined && out0 && aliased instanceof Tensor) {
        // A view: the same bytes as its input, reshaped.
        env.set(out0, aliased.reshape(plan!.types.get(out0)!.shape as number[]));
      } else {
        calls++;
        storeOutputs(node, runValueReference(node, ins, opts), env, (o, t) => placeInArena(plan, arena, 0, node.name, o, t));
      }
    }, this.profile ? (node, _idx, ms) => prof.push({ node: node.name, op: node.op, ms }) : undefined);
    this.lastProfile = prof;
    this.lastDispatches = calls;
    // Planned outputs live in the arena, which the next run reuses: collectOutputs hands out copies.
    return collectOutputs(this.graph, env, plan, arena);
  }
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
