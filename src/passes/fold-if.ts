/**
 * Folding of `If` nodes whose condition is known at compile time.
 *
 * Algorithm: after constant folding, a condition that is a constant (given, or
 * computed from constants and static shapes) is an initializer. Each If node reading
 * such a condition is replaced by the nodes of the branch it selects: the branch's
 * values and node names get the prefix `<If node>/` (made unique), its initializers
 * move to the graph, its captures are bound to the If node's capture inputs, and its
 * outputs are renamed to the If node's outputs (an output that the branch does not
 * compute itself — a capture or an initializer — is passed on by an Identity).
 * Invariants: the If node's output names are kept, so readers are untouched.
 */
import { bareType } from '../graph/value.js';
import type { Graph, Node } from '../graph/graph.js';
import type { ValueType } from '../graph/op.js';
import { If } from '../graph/ops/control.js';
import type { Tensor } from '../graph/tensor.js';
import type { Pass } from './pass-manager.js';

/** Inlines the chosen branch of every If whose condition is a constant; returns `g` itself if there is none. */
export function foldIf(g: Graph): Graph {
  const ifs = g.nodes.filter((n) => n.op === If.name && n.domain === If.domain && g.initializers.get(n.inputs[0] ?? '')?.size === 1);
  if (!ifs.length) return g;
  const taken = new Set<string>([...g.producers.keys(), ...g.nodes.map((n) => n.name)]);
  const unique = (base: string): string => {
    let n = base;
    for (let k = 1; taken.has(n); k++) n = `${base}_${k}`;
    taken.add(n);
    return n;
  };
  const initializers = new Map<string, Tensor>(g.initializers);
  const valueTypes = new Map<string, ValueType>(g.valueTypes);
  const replaced = new Map<Node, Node[]>();
  for (const node of ifs) {
    const thenB = node.attrs.then_branch as Graph;
    const elseB = node.attrs.else_branch as Graph;
    const take = g.initializers.get(node.inputs[0]!)!.data[0] !== 0;
    const branch = take ? thenB : elseB;
    const offset = 1 + (take ? 0 : thenB.captures.length);
    const rename = new Map<string, string>();
    branch.captures.forEach((c, i) => rename.set(c.name, node.inputs[offset + i]!));
    // Outputs the branch's own nodes compute take the If's names directly (once each).
    const producedHere = new Set(branch.nodes.flatMap((n) => n.outputs));
    branch.outputs.forEach((o, i) => {
      if (producedHere.has(o.name) && !rename.has(o.name)) rename.set(o.name, node.outputs[i]!);
    });
    const local = (v: string): string => {
      if (v === '') return v;
      let r = rename.get(v);
      if (r === undefined) {
        r = unique(`${node.name}/${v}`);
        rename.set(v, r);
      }
      return r;
    };
    for (const [k, t] of branch.initializers) initializers.set(local(k), t);
    const nodes: Node[] = branch.topo.map((n) => ({ ...n, name: unique(`${node.name}/${n.name}`), inputs: n.inputs.map(local), outputs: n.outputs.map(local) }));
    for (const [k, t] of branch.valueTypes) valueTypes.set(local(k), t);
    branch.outputs.forEach((o, i) => {
      const out = node.outputs[i]!;
      if (out === '') return;
      valueTypes.set(out, bareType(o));
      if (local(o.name) !== out) nodes.push({ name: unique(`${node.name}/output${i}`), op: 'Identity', domain: '', inputs: [local(o.name)], outputs: [out], attrs: {} });
    });
    replaced.set(node, nodes);
  }
  const nodes = g.nodes.flatMap((n) => replaced.get(n) ?? [n]);
  return g.with({ nodes, initializers, valueTypes });
}

/** The pass: {@link foldIf}. */
export const foldIfPass: Pass = { name: 'fold-if', run: (g) => foldIf(g) };
