/**
 * Common-subexpression elimination and dead-code elimination.
 *
 * CSE algorithm: walk the nodes in topological order and key each node by its op,
 * domain, attributes and (already canonical) inputs; a node whose key was seen
 * before is removed and its outputs are redirected to the first node's outputs.
 * Small equal initializers (≤ 256 elements, same dtype, shape and data) are merged
 * first, so nodes that read equal constants become equal too. Because the walk is
 * topological, one sweep reaches the fixed point.
 * Invariants: only deterministic ops are merged (every registered op is); nodes
 * with no outputs are never merged; graph output names are kept (see editor.ts).
 *
 * DCE: removes nodes and initializers no graph output depends on.
 */
import type { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { editGraph, GraphEditor } from './editor.js';
import type { Pass } from './pass-manager.js';

const SMALL_CONST = 256;

let nextId = 0;
const ids = new WeakMap<object, number>();
function identity(o: object): number {
  let id = ids.get(o);
  if (id === undefined) { id = ++nextId; ids.set(o, id); }
  return id;
}

function tensorKey(t: Tensor): string {
  return t.size <= SMALL_CONST ? `T${t.dtype}[${t.shape.join(',')}]{${Array.from(t.data as ArrayLike<number>).join(',')}}` : `T#${identity(t)}`;
}

/** A stable text key of an attribute value (tensors by content when small, graphs by identity). */
export function attrKey(v: unknown): string {
  if (v instanceof Tensor) return tensorKey(v);
  if (Array.isArray(v)) return `[${v.map(attrKey).join(',')}]`;
  if (typeof v === 'object' && v !== null) return `O#${identity(v)}`;
  return JSON.stringify(v);
}

function mergeConstants(ed: GraphEditor): void {
  const seen = new Map<string, string>();
  for (const [name, t] of [...ed.initializers]) {
    if (t.size > SMALL_CONST || ed.isOutput(name) || ed.producerOf(name)) continue;
    const k = tensorKey(t);
    const first = seen.get(k);
    if (first === undefined) { seen.set(k, name); continue; }
    if (ed.consumersOf(name).length) ed.replaceUses(name, first);
  }
}

/** Eliminates common subexpressions (see file comment). */
export function cse(g: Graph): Graph {
  return editGraph(g, (ed) => {
    mergeConstants(ed);
    const seen = new Map<string, readonly string[]>();
    for (const n of g.topo) {
      const cur = ed.nodes.get(n.name);
      if (!cur || cur.outputs.length === 0) continue;
      const attrs = Object.keys(cur.attrs).sort().map((k) => `${k}=${attrKey(cur.attrs[k])}`).join(';');
      const key = `${cur.domain}::${cur.op}(${cur.inputs.join(',')}){${attrs}}#${cur.outputs.length}`;
      const first = seen.get(key);
      if (!first) { seen.set(key, cur.outputs); continue; }
      if (cur.outputs.some((o) => ed.isOutput(o))) continue;
      cur.outputs.forEach((o, i) => { if (o !== '' && first[i]) ed.replaceUses(o, first[i]!); });
      ed.removeNode(cur);
    }
  });
}

/** Removes dead nodes and unused initializers. */
export function dce(g: Graph): Graph {
  const ed = new GraphEditor(g);
  ed.removeDead();
  const unusedInit = [...g.initializers.keys()].some((k) => !g.consumers.has(k) && !g.outputs.some((o) => o.name === k));
  return ed.nodes.size === g.nodes.length && !unusedInit ? g : ed.finish();
}

/** The CSE pass. */
export const csePass: Pass = { name: 'cse', level: 1, run: (g) => cse(g) };
/** The DCE pass. */
export const dcePass: Pass = { name: 'dce', level: 1, run: (g) => dce(g) };
