/**
 * A mutable working copy of an immutable Graph, used inside one pass. Passes read
 * producers, consumers, types and constant values from it, add and remove nodes,
 * and redirect uses of one value to another; `finish()` turns it back into a new
 * Graph: dead nodes and initializers removed, nodes in topological order, value
 * types re-inferred (so folded shape chains give static shapes downstream).
 *
 * Invariants kept by the editor:
 * - every value has at most one producer; graph output names never change (when a
 *   graph output is redirected to another value, the producer of that value is
 *   renamed to the output name if it is private, else an Identity keeps the name);
 * - node names are kept; new nodes get fresh names derived from a base.
 */
import { bareType, isTensorType } from '../graph/value.js';
import { GraphError, KilnError } from '../graph/errors.js';
import { Graph, type Node } from '../graph/graph.js';
import { inferNode } from '../graph/infer.js';
import type { AttrValue } from '../graph/attrs.js';
import type { InferInput, ValueType } from '../graph/op.js';
import type { Tensor } from '../graph/tensor.js';
import { TypeEnv } from '../graph/type-env.js';
import { shapeEq } from '../graph/shape.js';

/** A mutable view of a graph for one pass. */
export class GraphEditor {
  /** Live nodes by name (insertion order). */
  readonly nodes = new Map<string, Node>();
  private readonly producer = new Map<string, Node>();
  private readonly uses = new Map<string, Set<string>>();
  /** Initializers (constants). */
  readonly initializers: Map<string, Tensor>;
  /** Types of node outputs. */
  readonly types: Map<string, ValueType>;
  private readonly used = new Set<string>();
  private readonly outputNames: Set<string>;
  private readonly inputNames: Set<string>;
  private counter = 0;
  /** Number of edits made (a pass reports whether it changed anything). */
  edits = 0;

  constructor(readonly graph: Graph) {
    this.initializers = new Map(graph.initializers);
    this.types = new Map(graph.valueTypes);
    this.outputNames = new Set(graph.outputs.map((o) => o.name));
    this.inputNames = new Set([...graph.inputs, ...graph.captures].map((i) => i.name));
    for (const i of graph.inputs) this.used.add(i.name);
    for (const k of graph.initializers.keys()) this.used.add(k);
    for (const n of graph.topo) this.insert(n);
    for (const n of graph.nodes) if (!this.nodes.has(n.name)) this.insert(n);
  }

  private insert(n: Node): void {
    this.nodes.set(n.name, n);
    this.used.add(n.name);
    for (const o of n.outputs) if (o !== '') { this.producer.set(o, n); this.used.add(o); }
    for (const i of n.inputs) if (i !== '') this.usesOf(i).add(n.name);
  }

  private usesOf(v: string): Set<string> {
    let s = this.uses.get(v);
    if (!s) { s = new Set(); this.uses.set(v, s); }
    return s;
  }

  /** A fresh name (for a node or value) starting with `base`. */
  fresh(base: string): string {
    let n = base;
    while (this.used.has(n)) n = `${base}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  /** The node producing `v`, if any. */
  producerOf(v: string): Node | undefined { return this.producer.get(v); }

  /** The nodes reading `v`. */
  consumersOf(v: string): Node[] {
    return [...(this.uses.get(v) ?? [])].map((n) => this.nodes.get(n)!).filter((n) => n !== undefined);
  }

  /** True if `v` is a graph output. */
  isOutput(v: string): boolean { return this.outputNames.has(v); }
  /** True if `v` is a graph input. */
  isInput(v: string): boolean { return this.inputNames.has(v); }

  /** Number of readers of `v`, counting a graph output as one. */
  useCount(v: string): number { return (this.uses.get(v)?.size ?? 0) + (this.outputNames.has(v) ? 1 : 0); }

  /** The type of any value. */
  typeOf(v: string): ValueType {
    const t = this.types.get(v) ?? this.initializers.get(v) ?? this.graph.inputs.find((i) => i.name === v) ?? this.graph.captures.find((c) => c.name === v);
    if (!t) throw new GraphError(`unknown value '${v}'`, v);
    return bareType(t);
  }

  /** The constant value of `v` (an initializer or a Constant node's output), if any. */
  constantOf(v: string): Tensor | undefined {
    const t = this.initializers.get(v);
    if (t) return t;
    const p = this.producer.get(v);
    const val = p && p.op === 'Constant' && p.inputs.length === 0 ? p.attrs['value'] : undefined;
    return val && typeof val === 'object' && 'data' in val ? (val as Tensor) : undefined;
  }

  /** Adds a constant; returns its value name. */
  addConstant(t: Tensor, base = 'const'): string {
    const name = this.fresh(base);
    this.initializers.set(name, t);
    this.edits++;
    return name;
  }

  /**
   * Adds a node; infers its output types (or takes `types` when given). Returns the
   * output names.
   */
  addNode(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, opts: { name?: string; outputs?: number; types?: readonly ValueType[]; domain?: string } = {}): string[] {
    const name = this.fresh(opts.name ?? op);
    const outs = Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.fresh(`${name}_out${i}`));
    const node: Node = { name, op, domain: opts.domain ?? '', inputs: [...inputs], outputs: outs, attrs: { ...attrs } };
    const types = opts.types ?? inferNode(node, inputs.map((v) => this.inferInput(v)));
    outs.forEach((o, i) => this.types.set(o, types[i]!));
    this.insert(node);
    this.edits++;
    return outs;
  }

  /** The InferInput (type and constant value) of a value; undefined for ''. */
  inferInput(v: string): InferInput | undefined {
    if (v === '') return undefined;
    const t = this.typeOf(v);
    const c = this.constantOf(v);
    return c ? { ...t, value: c } : t;
  }

  /** Removes a node (by name; its outputs must be unused or redirected first). */
  removeNode(n: Node): void {
    const cur = this.nodes.get(n.name);
    if (!cur) return;
    this.nodes.delete(n.name);
    for (const o of cur.outputs) if (this.producer.get(o) === cur) this.producer.delete(o);
    for (const i of cur.inputs) this.uses.get(i)?.delete(cur.name);
    this.edits++;
  }

  /** Inserts a fully formed node whose output names are free (types given). */
  insertNode(n: Node, types: readonly ValueType[]): void {
    if (this.nodes.has(n.name)) throw new GraphError(`node name '${n.name}' is already used`, n.name);
    n.outputs.forEach((o, i) => { if (o !== '' && types[i]) this.types.set(o, types[i]!); });
    this.insert(n);
    this.edits++;
  }

  /** Renames a live node (the new name must be free or the name of a removed node). */
  renameNode(from: string, to: string): void {
    const n = this.nodes.get(from);
    if (!n || this.nodes.has(to)) return;
    this.removeNode(n);
    this.insert({ ...n, name: to });
  }

  /** Replaces a node by one with the same name and outputs (e.g. new attrs or inputs). */
  replaceNode(old: Node, next: Node): void {
    this.removeNode(old);
    this.insert(next);
  }

  /**
   * Makes every reader of `from` read `to` instead. When `from` is a graph output,
   * the output keeps its name (see the file comment).
   */
  replaceUses(from: string, to: string): void {
    if (from === to) return;
    for (const n of this.consumersOf(from)) {
      this.replaceNode(n, { ...n, inputs: n.inputs.map((v) => (v === from ? to : v)) });
    }
    this.uses.delete(from);
    if (this.outputNames.has(from)) this.keepOutputName(from, to);
    const tFrom = this.types.get(from);
    const tTo = this.types.get(to);
    if (tFrom && tTo && tFrom.shape.length === tTo.shape.length && !shapeEq(tFrom.shape, tTo.shape)) {
      this.types.set(to, { dtype: tTo.dtype, shape: tFrom.shape.map((d, i) => (typeof tTo.shape[i] === 'number' ? tTo.shape[i]! : d)) });
    }
    this.edits++;
  }

  private keepOutputName(out: string, to: string): void {
    const p = this.producer.get(to);
    const old = this.producer.get(out);
    if (old) {
      const dead = this.fresh(`${out}_unused`);
      const t = this.types.get(out);
      if (t) this.types.set(dead, t);
      this.replaceNode(old, { ...old, outputs: old.outputs.map((o) => (o === out ? dead : o)) });
    }
    if (p && !this.outputNames.has(to) && !this.inputNames.has(to)) {
      const idx = p.outputs.indexOf(to);
      const renamed: Node = { ...p, outputs: p.outputs.map((o, i) => (i === idx ? out : o)) };
      const readers = this.consumersOf(to);
      this.replaceNode(p, renamed);
      for (const r of readers) this.replaceNode(r, { ...r, inputs: r.inputs.map((v) => (v === to ? out : v)) });
      this.uses.delete(to);
      const t = this.types.get(to);
      if (t && !this.types.has(out)) this.types.set(out, t);
      return;
    }
    const t = this.typeOf(to);
    const node: Node = { name: this.fresh(`Identity_${out}`), op: 'Identity', domain: '', inputs: [to], outputs: [out], attrs: {} };
    this.types.set(out, t);
    this.insert(node);
  }

  /** Removes nodes and initializers that no graph output depends on. */
  removeDead(): void {
    const live = new Set<string>();
    const stack = [...this.outputNames];
    while (stack.length) {
      const v = stack.pop()!;
      const p = this.producer.get(v);
      if (!p || live.has(p.name)) continue;
      live.add(p.name);
      for (const i of p.inputs) if (i !== '') stack.push(i);
    }
    for (const n of [...this.nodes.values()]) if (!live.has(n.name)) this.removeNode(n);
  }

  /** Builds the resulting Graph (dead code removed, topological order, types re-inferred). */
  finish(): Graph {
    this.removeDead();
    const readers = new Set<string>();
    for (const n of this.nodes.values()) for (const i of n.inputs) readers.add(i);
    for (const o of this.outputNames) readers.add(o);
    const inits = new Map<string, Tensor>();
    for (const [k, t] of this.initializers) if (readers.has(k)) inits.set(k, t);
    const draft = Graph.create({ ...this.graph.fields(), nodes: [...this.nodes.values()], initializers: inits, valueTypes: this.types });
    const order = draft.topo;
    const env = new TypeEnv();
    for (const i of [...draft.inputs, ...draft.captures]) env.define(i.name, i);
    for (const [k, t] of inits) env.define(k, { dtype: t.dtype, shape: t.shape }, t);
    const types = new Map<string, ValueType>();
    for (const n of order) {
      let outs: ValueType[];
      try {
        outs = env.addNode(n);
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        outs = n.outputs.map((o) => this.types.get(o)!);
        n.outputs.forEach((o, i) => o !== '' && outs[i] && env.define(o, outs[i]!));
      }
      n.outputs.forEach((o, i) => {
        if (o === '') return;
        const inferred = outs[i];
        const stored = this.types.get(o);
        types.set(o, inferred && (!stored || inferred.shape.length === stored.shape.length) ? pickType(stored, inferred) : stored!);
      });
    }
    const outputs = this.graph.outputs.map((o) => {
      const t = types.get(o.name);
      return t ? { name: o.name, ...pickType(o, t) } : o;
    });
    return draft.with({ nodes: order, valueTypes: types, outputs });
  }
}

/** Prefers concrete dims from `inferred`, and keeps `stored`'s names where inference invented fresh ones. */
function pickType(stored: ValueType | undefined, inferred: ValueType): ValueType {
  if (!stored || stored.shape.length !== inferred.shape.length || !isTensorType(inferred)) return inferred;
  return { dtype: inferred.dtype, shape: inferred.shape.map((d, i) => (typeof d === 'number' ? d : stored.shape[i]!)) };
}

/** Runs `edit` on a fresh editor of `g`; returns `g` itself when nothing changed. */
export function editGraph(g: Graph, edit: (e: GraphEditor) => void): Graph {
  const e = new GraphEditor(g);
  edit(e);
  if (e.edits === 0) {
    const before = g.nodes.length;
    e.removeDead();
    if (e.nodes.size === before) return g;
  }
  return e.finish();
}
