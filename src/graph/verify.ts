/**
 * verify(graph): the IR's invariants. Rejects duplicate names, dangling references,
 * cycles, unknown ops, bad attributes, and stored value types that disagree with
 * inference — each with a GraphError (or the op's own typed error) naming the node.
 */
import { GraphError, KilnError } from './errors.js';
import type { Graph } from './graph.js';
import { bodiesOf } from './ops/control.js';
import { formatShape, shapeEq } from './shape.js';
import { TypeEnv } from './type-env.js';
import { formatType, sameKinds } from './value.js';

/**
 * Checks a graph and, recursively, the subgraphs its nodes hold; throws a typed error
 * naming the first problem found. `outer` (used for subgraphs) is the enclosing
 * graph's environment: captured values keep the constant or shape values known there.
 */
export function verify(g: Graph, outer?: TypeEnv): void {
  const nodeNames = new Set<string>();
  for (const n of g.nodes) {
    if (nodeNames.has(n.name)) throw new GraphError(`duplicate node name '${n.name}'`, n.name);
    nodeNames.add(n.name);
  }
  const producers = g.producers;
  for (const n of g.nodes) {
    for (const i of n.inputs) {
      if (i !== '' && !producers.has(i)) {
        throw new GraphError(`node '${n.name}' (${n.op}) reads '${i}', which no input, initializer or node defines`, n.name);
      }
    }
  }
  const order = g.topo;
  const env = new TypeEnv();
  for (const i of g.inputs) env.define(i.name, i);
  for (const c of g.captures) {
    env.define(c.name, c, outer?.values.get(c.name));
    const sv = outer?.shapeValues.get(c.name);
    if (sv) env.shapeValues.set(c.name, sv);
  }
  for (const [name, t] of g.initializers) {
    if (!env.types.has(name)) env.define(name, { dtype: t.dtype, shape: t.shape }, t);
  }
  for (const n of order) {
    for (const { attr, graph } of bodiesOf(n)) {
      try {
        verify(graph, env);
      } catch (e) {
        if (e instanceof KilnError) {
          e.message = `node '${n.name}' (${n.op}) attribute '${attr}': ${e.message}`;
        }
        throw e;
      }
    }
    let outs;
    try {
      outs = env.addNode(n);
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw new GraphError(`node '${n.name}' (${n.op}): inference failed: ${(e as Error).message}`, n.name);
    }
    n.outputs.forEach((o, k) => {
      if (o === '') return;
      const stored = g.valueTypes.get(o);
      const inferred = outs[k];
      if (!stored || !inferred) throw new GraphError(`node '${n.name}' (${n.op}): output '${o}' has no type`, n.name);
      if (!sameKinds(stored, inferred)) {
        throw new GraphError(`node '${n.name}' (${n.op}): output '${o}' is stored as ${formatType(stored)} but inference gives ${formatType(inferred)}`, n.name);
      }
      if (stored.dtype !== inferred.dtype) {
        throw new GraphError(`node '${n.name}' (${n.op}): output '${o}' is stored as ${stored.dtype} but inference gives ${inferred.dtype}`, n.name);
      }
      if (!shapeEq(stored.shape, inferred.shape) && stored.shape.length !== inferred.shape.length) {
        throw new GraphError(
          `node '${n.name}' (${n.op}): output '${o}' is stored with shape ${formatShape(stored.shape)} but inference gives ${formatShape(inferred.shape)}`,
          n.name,
        );
      }
      stored.shape.forEach((d, a) => {
        const e = inferred.shape[a];
        if (typeof d === 'number' && typeof e === 'number' && d !== e) {
          throw new GraphError(
            `node '${n.name}' (${n.op}): output '${o}' is stored with shape ${formatShape(stored.shape)} but inference gives ${formatShape(inferred.shape)}`,
            n.name,
          );
        }
      });
    });
  }
  for (const o of g.outputs) {
    if (!producers.has(o.name)) throw new GraphError(`graph output '${o.name}' is not defined`, o.name);
  }
}
