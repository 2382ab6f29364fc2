/**
 * Elementwise fusion: every connected group of elementwise/broadcast ops (ops with a
 * scalar `expr`, by registry category) becomes one `Fused` node of kind
 * 'elementwise', whose composed expression `fusedExpr(node)` drives one kernel.
 *
 * Algorithm: walk the nodes in reverse topological order; an unassigned elementwise
 * node starts a group (its root). The group then absorbs, through a worklist, every
 * elementwise producer of a value it reads whose readers are all inside the group
 * (and which is not a graph output); a producer with outside readers waits until
 * they join or the worklist empties. Growing a group costs time linear in its size. Groups of two or more become Fused nodes
 * named after their root and producing the root's value.
 * Invariants: a group is convex (a producer joins only when all its readers are
 * members, so no path leaves the group and comes back): fusing never makes a cycle;
 * each group has exactly one output, so no intermediate is written to memory;
 * broadcasting is kept because each member's expression reads its inputs at the
 * output element (elementwise ops commute with broadcasting); a group reads at most
 * MAX_FUSED_INPUTS distinct values, so its kernel fits WebGPU's default limit of 8
 * storage buffers per shader stage (inputs plus the output), and holds at most
 * MAX_FUSED_MEMBERS ops.
 */
import type { Graph, Node } from '../graph/graph.js';
import { editGraph } from './editor.js';
import { fuseInPlace, isElementwise } from './fusion-util.js';
import type { Pass } from './pass-manager.js';

/** Most distinct values one fused elementwise group may read (8 storage buffers minus the output). */
export const MAX_FUSED_INPUTS = 7;
/** Most ops in one fused group: keeps composed expressions (and the WGSL they render to) shallow. */
export const MAX_FUSED_MEMBERS = 64;

/**
 * One group under construction: its members, the values they produce, and the
 * distinct values it reads from outside (kept incrementally, so growing a group is
 * linear in its size).
 */
class Group {
  readonly members = new Map<string, Node>();
  private readonly produced = new Set<string>();
  private readonly external = new Set<string>();

  add(n: Node): void {
    this.members.set(n.name, n);
    for (const o of n.outputs) {
      this.produced.add(o);
      this.external.delete(o);
    }
    for (const v of n.inputs) if (v !== '' && !this.produced.has(v)) this.external.add(v);
  }

  /** Distinct external inputs the group would read after adding `n` (a producer of one of them). */
  externalWith(n: Node): number {
    const fresh = new Set(n.inputs.filter((v) => v !== '' && !this.produced.has(v) && !this.external.has(v)));
    const removed = n.outputs.filter((o) => this.external.has(o)).length;
    return this.external.size - removed + fresh.size;
  }
}

/** Fuses elementwise groups (see file comment). */
export function fuseElementwise(g: Graph): Graph {
  return editGraph(g, (ed) => {
    const assigned = new Set<string>();
    const order = [...g.topo].reverse();
    for (const root of order) {
      if (assigned.has(root.name) || !isElementwise(root)) continue;
      const group = new Group();
      group.add(root);
      assigned.add(root.name);
      // Worklist: a member's producers are examined when it joins; a producer whose
      // value is also read by non-members waits until those readers join.
      const queue: Node[] = [root];
      const waiting = new Map<string, Node>();
      const consider = (p: Node, v: string): void => {
        if (!ed.consumersOf(v).every((c) => group.members.has(c.name))) {
          waiting.set(v, p);
          return;
        }
        waiting.delete(v);
        if (group.members.size >= MAX_FUSED_MEMBERS || group.externalWith(p) > MAX_FUSED_INPUTS) return;
        group.add(p);
        assigned.add(p.name);
        queue.push(p);
      };
      while (queue.length > 0) {
        const m = queue.pop()!;
        for (const v of m.inputs) {
          const p = v === '' ? undefined : ed.producerOf(v);
          if (!p || group.members.has(p.name) || assigned.has(p.name) || !isElementwise(p) || ed.isOutput(v)) continue;
          consider(p, v);
        }
        if (queue.length === 0) {
          for (const [v, p] of [...waiting]) {
            if (!assigned.has(p.name) && ed.consumersOf(v).every((c) => group.members.has(c.name))) consider(p, v);
          }
        }
      }
      if (group.members.size < 2) continue;
      fuseInPlace(ed, [...group.members.values()], [root.outputs[0]!], 'elementwise', root.name);
    }
  });
}

/** The elementwise-fusion pass (O2). */
export const fuseElementwisePass: Pass = { name: 'fuse-elementwise', level: 2, run: (g) => fuseElementwise(g) };
