/**
 * The CPU backend: a reference interpreter. It walks the graph in topological order,
 * runs each node with its op's CPU reference, and frees every intermediate after its
 * last reader. It is the oracle for the other backends and the fallback without WebGPU.
 */
import { checkFeeds } from '../../graph/feeds.js';
import type { Graph } from '../../graph/graph.js';
import { runReference } from '../../graph/reference.js';
import { ExecutionError } from '../../graph/errors.js';
import type { Tensor } from '../../graph/tensor.js';
import { verify } from '../../graph/verify.js';
import '../../graph/ops/index.js';

/** Per-node timing collected when profiling. */
export interface CpuProfileEntry {
  readonly node: string;
  readonly op: string;
  readonly ms: number;
}

/** A graph prepared for the CPU. */
export class CpuProgram {
  private readonly lastUse = new Map<string, number>();
  /** Timings of the last run when `profile` was set. */
  lastProfile: CpuProfileEntry[] = [];

  /** @internal use {@link compileCpu}. */
  constructor(readonly graph: Graph, private readonly profile = false, private readonly maxTensorBytes?: number) {
    const order = graph.topo;
    order.forEach((n, i) => n.inputs.forEach((v) => v !== '' && this.lastUse.set(v, i)));
    for (const o of graph.outputs) this.lastUse.set(o.name, Infinity);
  }

  /** Runs the graph on named feeds and returns the named outputs. */
  run(feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    checkFeeds(this.graph, feeds, { requireData: true });
    const env = new Map<string, Tensor>();
    for (const [k, t] of this.graph.initializers) env.set(k, t);
    for (const i of this.graph.inputs) env.set(i.name, feeds[i.name]!);
    const order = this.graph.topo;
    const prof: CpuProfileEntry[] = [];
    order.forEach((node, idx) => {
      const ins = node.inputs.map((v) => {
        if (v === '') return undefined;
        const t = env.get(v);
        if (!t) throw new ExecutionError(`${node.name}: input '${v}' is not available`, node.name);
        return t;
      });
      const t0 = this.profile ? performance.now() : 0;
      const outs = runReference(node, ins, this.maxTensorBytes !== undefined ? { maxTensorBytes: this.maxTensorBytes } : {});
      if (this.profile) prof.push({ node: node.name, op: node.op, ms: performance.now() - t0 });
      node.outputs.forEach((o, k) => {
        if (o === '') return;
        const t = outs[k];
        if (!t) throw new ExecutionError(`${node.name}: ${node.op} produced no output #${k}`, node.name);
        env.set(o, t);
      });
      for (const v of node.inputs) {
        if (v !== '' && this.lastUse.get(v) === idx && !this.graph.initializers.has(v)) env.delete(v);
      }
    });
    this.lastProfile = prof;
    const result: Record<string, Tensor> = {};
    for (const o of this.graph.outputs) {
      const t = env.get(o.name);
      if (!t) throw new ExecutionError(`graph output '${o.name}' was not computed`, o.name);
      result[o.name] = t;
    }
    return result;
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
