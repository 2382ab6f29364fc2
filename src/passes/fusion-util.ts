/**
 * Shared helpers of the fusion passes: which nodes are elementwise (from the op
 * registry: category elementwise/broadcast and a scalar `expr`), and how a set of
 * member nodes becomes the sub-graph of one `Fused` node.
 *
 * A group's sub-graph keeps the members' node and value names (for display). Its
 * inputs are the values the members read from outside, in order of first use —
 * except single-element constants, which are copied into the sub-graph as
 * initializers so a kernel can inline them (not those an epilogue's anchor or an
 * attention's MatMul/Softmax reads: heavy kernels read their operands from buffers). Its outputs are the given values.
 */
import { Graph, type Node, type ValueInfo } from '../graph/graph.js';
import { findOp, type ValueType } from '../graph/op.js';
import type { FusedKind } from '../graph/ops/fused.js';
import type { Tensor } from '../graph/tensor.js';
import type { GraphEditor } from './editor.js';

/** True if a node is a single-output elementwise/broadcast op with a scalar expression. */
export function isElementwise(n: Node): boolean {
  const def = findOp(n.op, n.domain);
  return !!def && !!def.expr && (def.category === 'elementwise' || def.category === 'broadcast') && n.outputs.length === 1;
}

/** The fusion category of a node's op ('opaque' when unknown). */
export function categoryOf(n: Node): string {
  return findOp(n.op, n.domain)?.category ?? 'opaque';
}

/** A group ready to become one Fused node. */
export interface Group {
  /** Outer values the Fused node reads (its inputs). */
  readonly inputs: string[];
  /** The sub-graph. */
  readonly graph: Graph;
  /** Types of the outputs. */
  readonly types: ValueType[];
}

/**
 * Builds the sub-graph of `members` (any order) producing `outputs`. Values read by
 * a member named in `keepInputs` are never inlined (an epilogue's anchor reads all
 * its operands from buffers).
 */
export function buildGroup(ed: GraphEditor, members: readonly Node[], outputs: readonly string[], name: string, keepInputs: ReadonlySet<string> = new Set()): Group {
  const inside = new Set<string>();
  for (const m of members) for (const o of m.outputs) if (o !== '') inside.add(o);
  const inputs: string[] = [];
  const seen = new Set<string>();
  const inits = new Map<string, Tensor>();
  const kept = new Set(members.filter((m) => keepInputs.has(m.name)).flatMap((m) => m.inputs));
  for (const m of members) {
    for (const v of m.inputs) {
      if (v === '' || inside.has(v) || seen.has(v)) continue;
      seen.add(v);
      const c = ed.constantOf(v);
      if (c && c.size === 1 && !kept.has(v)) inits.set(v, c);
      else inputs.push(v);
    }
  }
  const info = (v: string): ValueInfo => ({ name: v, ...ed.typeOf(v) });
  const valueTypes = new Map<string, ValueType>();
  for (const m of members) for (const o of m.outputs) if (o !== '') valueTypes.set(o, ed.typeOf(o));
  const graph = Graph.create({
    name,
    inputs: inputs.map(info),
    outputs: outputs.map(info),
    nodes: members,
    initializers: inits,
    valueTypes,
  });
  return { inputs, graph: graph.with({ nodes: graph.topo }), types: outputs.map((o) => ed.typeOf(o)) };
}

/**
 * Replaces `members` by one Fused node named `name` that produces the same output
 * value names (so readers are untouched).
 */
export function fuseInPlace(ed: GraphEditor, members: readonly Node[], outputs: readonly string[], kind: FusedKind, name: string, keepInputs?: ReadonlySet<string>): Node {
  const g = buildGroup(ed, members, outputs, name, keepInputs);
  for (const m of members) ed.removeNode(m);
  const node: Node = { name, op: 'Fused', domain: '', inputs: g.inputs, outputs: [...outputs], attrs: { kind, graph: g.graph } };
  ed.insertNode(node, g.types);
  return node;
}
