/**
 * Binding symbolic dims to sizes: replaces named dims of the graph inputs by numbers
 * and re-infers every value type, so that shape computations become static.
 */
import { GraphError, KilnError } from './errors.js';
import type { Graph, ValueInfo } from './graph.js';
import type { ValueType } from './op.js';
import type { Dim } from './shape.js';
import { TypeEnv } from './type-env.js';

/** Returns a copy of `g` whose inputs have `dims` substituted, with all value types re-inferred. */
export function bindDims(g: Graph, dims: Readonly<Record<string, number>>): Graph {
  if (Object.keys(dims).length === 0) return g;
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0) throw new GraphError(`dim '${k}' must be bound to a non-negative integer, got ${v}`, k);
  }
  const sub = (d: Dim): Dim => (typeof d === 'string' && dims[d] !== undefined ? dims[d]! : d);
  const inputs: ValueInfo[] = g.inputs.map((i) => ({ ...i, shape: i.shape.map(sub) }));
  const env = new TypeEnv();
  for (const i of inputs) env.define(i.name, i);
  for (const [n, t] of g.initializers) if (!env.types.has(n)) env.define(n, { dtype: t.dtype, shape: t.shape }, t);
  const valueTypes = new Map<string, ValueType>();
  for (const node of g.topo) {
    try {
      env.addNode(node);
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw new GraphError(`${node.name}: re-inference after binding dims failed: ${(e as Error).message}`, node.name);
    }
    for (const o of node.outputs) {
      const t = env.types.get(o);
      if (o !== '' && t) valueTypes.set(o, t);
    }
  }
  const outputs = g.outputs.map((o) => ({ ...o, ...(valueTypes.get(o.name) ?? env.types.get(o.name) ?? o), name: o.name }));
  return g.with({ inputs, outputs, valueTypes });
}
