/**
 * Elementwise fusion: every connected group of elementwise/broadcast ops (ops with a
 * scalar `expr`, by registry category) becomes one `Fused` node of kind
 * 'elementwise', whose composed expression `fusedExpr(node)` drives one kernel.
 *
 * Algorithm: walk the nodes in reverse topological order; an unassigned elementwise
 * node starts a group (its root). The group then absorbs, until nothing changes,
 * every elementwise producer of a value it reads whose readers are all inside the
 * group (and which is not a graph output). Groups of two or more become Fused nodes
 * named after their root and producing the root's value.
 * Invariants: a group is convex (a producer joins only when all its readers are
 * members, so no path leaves the group and comes back): fusing never makes a cycle;
 * each group has exactly one output, so no intermediate is written to memory;
 * broadcasting is kept because each member's expression reads its inputs at the
 * output element (elementwise ops commute with broadcasting); a group reads at most
 * MAX_FUSED_INPUTS distinct values, so its kernel fits WebGPU's default limit of 8
 * storage buffers per shader stage (inputs plus the output).
 */
import type { Graph, Node } from '../graph/graph.js';
import { editGraph } from './editor.js';
import { fuseInPlace, isElementwise } from './fusion-util.js';
import type { Pass } from './pass-manager.js';

/** Most distinct values one fused elementwise group may read (8 storage buffers minus the output). */
export const MAX_FUSED_INPUTS = 7;

function externalInputs(members: readonly Node[]): number {
  const produced = new Set(members.flatMap((m) => m.outputs));
  return new Set(members.flatMap((m) => m.inputs).filter((v) => v !== '' && !produced.has(v))).size;
}

/** Fuses elementwise groups (see file comment). */
export function fuseElementwise(g: Graph): Graph {
  return editGraph(g, (ed) => {
    const assigned = new Set<string>();
    const order = [...g.topo].reverse();
    for (const root of order) {
      if (assigned.has(root.name) || !isElementwise(root)) continue;
      const members = new Map<string, Node>([[root.name, root]]);
      assigned.add(root.name);
      let grew = true;
      while (grew) {
        grew = false;
        for (const m of [...members.values()]) {
          for (const v of m.inputs) {
            const p = v === '' ? undefined : ed.producerOf(v);
            if (!p || members.has(p.name) || assigned.has(p.name) || !isElementwise(p) || ed.isOutput(v)) continue;
            if (!ed.consumersOf(v).every((c) => members.has(c.name))) continue;
            if (externalInputs([...members.values(), p]) > MAX_FUSED_INPUTS) continue;
            members.set(p.name, p);
            assigned.add(p.name);
            grew = true;
          }
        }
      }
      if (members.size < 2) continue;
      fuseInPlace(ed, [...members.values()], [root.outputs[0]!], 'elementwise', root.name);
    }
  });
}

/** The elementwise-fusion pass (O2). */
export const fuseElementwisePass: Pass = { name: 'fuse-elementwise', level: 2, run: (g) => fuseElementwise(g) };
