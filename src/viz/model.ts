/**
 * The drawable view of a graph, shared by the DOT writer and the HTML viewer.
 *
 * - Constant nodes and initializers are not drawn: each is listed under the node
 *   that reads it (`weights`), which keeps models with hundreds of Constant nodes
 *   readable. Graph inputs and outputs are drawn as their own (io) boxes.
 * - A `Fused` node (attributes `{ kind, graph }`, made by the optimizer) is drawn
 *   as the nodes of its body inside a cluster named after the fused kernel; every
 *   inner node records the kernel (`group`) it belongs to.
 * - Ids are generated (`n0`, `n1`, ...); model strings never become ids.
 */
import type { AttrValue } from '../graph/attrs.js';
import type { Graph, Node } from '../graph/graph.js';
import { isGraph, isTensor } from '../graph/serialize.js';
import type { ValueType } from '../graph/op.js';
import { formatShape } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';

/** A value at a node's port: name, dtype and formatted shape. */
export interface VizPort {
  readonly name: string;
  readonly dtype: string;
  readonly shape: string;
}

/** One drawn box. */
export interface VizNode {
  readonly id: string;
  /** 'op' for an operation, 'input'/'output' for graph inputs/outputs. */
  readonly kind: 'op' | 'input' | 'output';
  /** Node (or value) name from the model. */
  readonly name: string;
  /** Op type, or 'Input'/'Output'. */
  readonly op: string;
  readonly domain: string;
  /** Shapes of the outputs, formatted, for the label. */
  readonly shape: string;
  readonly inputs: readonly VizPort[];
  readonly outputs: readonly VizPort[];
  /** Constants and initializers collapsed into this node. */
  readonly weights: readonly VizPort[];
  /** Attributes as display strings (tensors and graphs summarized). */
  readonly attrs: readonly (readonly [string, string])[];
  /** Name of the fused kernel this node belongs to, if any. */
  readonly group?: string;
  /** Fusion kind of that kernel (e.g. 'elementwise'). */
  readonly groupKind?: string;
}

/** One edge: a value flowing from one drawn node to another. */
export interface VizEdge {
  readonly from: string;
  readonly to: string;
  /** The value's name. */
  readonly value: string;
  /** Formatted dtype and shape of the value. */
  readonly label: string;
}

/** A fused kernel drawn as a cluster. */
export interface VizCluster {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly nodes: readonly string[];
}

/** A graph ready to be drawn. */
export interface VizGraph {
  readonly name: string;
  readonly nodes: readonly VizNode[];
  readonly edges: readonly VizEdge[];
  readonly clusters: readonly VizCluster[];
  /** Number of graph nodes that were collapsed (Constant nodes). */
  readonly collapsed: number;
}

/** Op name of the optimizer's fused node. */
export const FUSED_OP = 'Fused';

const MAX_ATTR_CHARS = 160;

/** A display string for an attribute value. */
export function formatAttr(v: AttrValue): string {
  if (isTensor(v)) {
    const head = v.toArray().slice(0, 8).map((x) => String(x)).join(', ');
    return `${v.toString()} {${head}${v.size > 8 ? ', ...' : ''}}`;
  }
  if (isGraph(v)) return `graph '${v.name}' (${v.nodes.length} nodes)`;
  const s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x))).join(', ')}]` : String(v);
  return s.length > MAX_ATTR_CHARS ? `${s.slice(0, MAX_ATTR_CHARS)}...` : s;
}

function typeText(t: ValueType | undefined): { dtype: string; shape: string } {
  return t ? { dtype: t.dtype, shape: formatShape(t.shape) } : { dtype: '?', shape: '?' };
}

interface Builder {
  nodes: VizNode[];
  edges: VizEdge[];
  clusters: VizCluster[];
  /** value name (in the outer namespace) → drawn node id producing it. */
  producer: Map<string, string>;
  collapsed: number;
  next: number;
}

function safeType(g: Graph, name: string): ValueType | undefined {
  try {
    return g.typeOf(name);
  } catch {
    return undefined;
  }
}

/**
 * Adds the nodes of `g` to the builder. `rename` maps value names of `g` to names
 * in the outer namespace (used for fused bodies); `group` tags every node added.
 */
function addGraph(b: Builder, g: Graph, rename: (v: string) => string, group?: { name: string; kind: string; cluster: string[] }): void {
  const constants = new Map<string, Node>();
  for (const n of g.nodes) if (n.op === 'Constant' && n.inputs.length === 0) n.outputs.forEach((o) => constants.set(o, n));
  b.collapsed += new Set(constants.values()).size;
  const port = (v: string): VizPort => ({ name: v, ...typeText(safeType(g, v)) });
  for (const n of g.topo) {
    if (n.op === 'Constant' && n.inputs.length === 0) continue;
    const body = n.op === FUSED_OP && isGraph(n.attrs.graph) ? n.attrs.graph : undefined;
    if (body && !group) {
      addFused(b, g, n, body, rename);
      continue;
    }
    const id = `n${b.next++}`;
    const weights: VizPort[] = [];
    const inputs: VizPort[] = [];
    for (const v of n.inputs) {
      if (v === '') continue;
      if (g.initializers.has(v) || constants.has(v)) {
        weights.push(port(v));
        continue;
      }
      inputs.push(port(v));
      const from = b.producer.get(rename(v));
      const t = typeText(safeType(g, v));
      if (from) b.edges.push({ from, to: id, value: rename(v), label: `${t.dtype}${t.shape}` });
    }
    const outputs = n.outputs.filter((o) => o !== '').map(port);
    for (const o of n.outputs) if (o !== '') b.producer.set(rename(o), id);
    b.nodes.push({
      id, kind: 'op', name: n.name, op: n.op, domain: n.domain,
      shape: outputs.map((o) => o.shape).join(' '),
      inputs, outputs, weights,
      attrs: Object.entries(n.attrs).map(([k, v]) => [k, formatAttr(v)] as const),
      ...(group ? { group: group.name, groupKind: group.kind } : {}),
    });
    group?.cluster.push(id);
  }
}

function addFused(b: Builder, outer: Graph, n: Node, body: Graph, rename: (v: string) => string): void {
  const map = new Map<string, string>();
  body.inputs.forEach((i, k) => { const v = n.inputs[k]; if (v) map.set(i.name, rename(v)); });
  body.outputs.forEach((o, k) => { const v = n.outputs[k]; if (v) map.set(o.name, rename(v)); });
  // inputs of the fused node that are outer constants stay weights: present them to the body as initializers
  const inner = (v: string): string => map.get(v) ?? `${n.name}/${v}`;
  const outerConst = new Map<string, Tensor>(body.initializers);
  body.inputs.forEach((i, k) => {
    const v = n.inputs[k];
    const p = v ? outer.producers.get(v) : undefined;
    const t = p?.kind === 'initializer' ? p.tensor
      : p?.kind === 'node' && p.node.op === 'Constant' && isTensor(p.node.attrs.value) ? p.node.attrs.value : undefined;
    if (t) outerConst.set(i.name, t);
  });
  const cluster: string[] = [];
  const kind = typeof n.attrs.kind === 'string' ? n.attrs.kind : 'fused';
  addGraph(b, body.with({ initializers: outerConst }), inner, { name: n.name, kind, cluster });
  b.clusters.push({ id: `c${b.clusters.length}`, name: n.name, kind, nodes: cluster });
}

/** Builds the drawable view of a graph (see the module docs for what is collapsed). */
export function vizGraph(g: Graph): VizGraph {
  const b: Builder = { nodes: [], edges: [], clusters: [], producer: new Map(), collapsed: 0, next: 0 };
  for (const i of g.inputs) {
    if (g.initializers.has(i.name)) continue;
    const id = `n${b.next++}`;
    const t = typeText(i);
    b.nodes.push({ id, kind: 'input', name: i.name, op: 'Input', domain: '', shape: t.shape, inputs: [], outputs: [{ name: i.name, ...t }], weights: [], attrs: [] });
    b.producer.set(i.name, id);
  }
  addGraph(b, g, (v) => v);
  for (const o of g.outputs) {
    const id = `n${b.next++}`;
    const t = typeText(o);
    b.nodes.push({ id, kind: 'output', name: o.name, op: 'Output', domain: '', shape: t.shape, inputs: [{ name: o.name, ...t }], outputs: [], weights: [], attrs: [] });
    const from = b.producer.get(o.name);
    if (from) b.edges.push({ from, to: id, value: o.name, label: `${t.dtype}${t.shape}` });
  }
  return { name: g.name, nodes: b.nodes, edges: b.edges, clusters: b.clusters, collapsed: b.collapsed };
}
