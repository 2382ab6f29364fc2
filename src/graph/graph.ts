/**
 * The graph IR: immutable nodes and graphs, in the ONNX style (values are named,
 * each produced once). Producer and consumer maps and the topological order are
 * derived on first use and cached beside the graph, never stored by hand.
 */
import type { AttrValue } from './attrs.js';
import { GraphError } from './errors.js';
import type { ValueType } from './op.js';
import { formatShape } from './shape.js';
import type { Tensor } from './tensor.js';
import { topoSort } from './topo.js';

/** A named, typed value (graph input, output or intermediate). */
export interface ValueInfo extends ValueType {
  readonly name: string;
}

/** One operation. Inputs name values ('' marks an omitted optional input). */
export interface Node {
  /** Unique node name (kept from the model for display; never pasted into code). */
  readonly name: string;
  /** Op name, e.g. `Conv`. */
  readonly op: string;
  /** Op domain ('' is ONNX's default domain). */
  readonly domain: string;
  /** Input value names; '' for an omitted optional input. */
  readonly inputs: readonly string[];
  /** Output value names. */
  readonly outputs: readonly string[];
  /** Attributes as given (defaults are filled in on resolution). */
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

/** Fields of a graph, for {@link Graph.create} and {@link Graph.with}. */
export interface GraphFields {
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly nodes: readonly Node[];
  readonly initializers: ReadonlyMap<string, Tensor>;
  /** Types of every node output (inputs and initializers carry their own). */
  readonly valueTypes: ReadonlyMap<string, ValueType>;
  /** Free-form metadata (producer, opset, doc). */
  readonly meta?: Readonly<Record<string, string | number>>;
  /**
   * Outer-scope values a subgraph reads (empty for a top-level graph). Each is bound,
   * by position, to one of the extra inputs its owning node lists after the op's own
   * inputs (see src/graph/ops/control.ts), so the enclosing graph's edges, DCE and
   * topological order see the dependency.
   */
  readonly captures?: readonly ValueInfo[];
}

/** Where a value comes from. */
export type Producer =
  | { readonly kind: 'input'; readonly info: ValueInfo }
  | { readonly kind: 'initializer'; readonly tensor: Tensor }
  | { readonly kind: 'node'; readonly node: Node; readonly index: number };

/** An immutable computation graph. */
export class Graph implements GraphFields {
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly nodes: readonly Node[];
  readonly initializers: ReadonlyMap<string, Tensor>;
  readonly valueTypes: ReadonlyMap<string, ValueType>;
  readonly meta: Readonly<Record<string, string | number>>;
  readonly captures: readonly ValueInfo[];

  private _producers?: Map<string, Producer>;
  private _consumers?: Map<string, Node[]>;
  private _topo?: Node[];

  private constructor(f: GraphFields) {
    this.name = f.name;
    this.inputs = Object.freeze([...f.inputs]);
    this.outputs = Object.freeze([...f.outputs]);
    this.nodes = Object.freeze(f.nodes.map((n) => Object.freeze({ ...n, inputs: Object.freeze([...n.inputs]), outputs: Object.freeze([...n.outputs]) })));
    this.initializers = f.initializers;
    this.valueTypes = f.valueTypes;
    this.meta = Object.freeze({ ...(f.meta ?? {}) });
    this.captures = Object.freeze([...(f.captures ?? [])]);
  }

  /** Creates a graph. Does not verify it; call {@link verify} for that. */
  static create(f: GraphFields): Graph {
    return new Graph(f);
  }

  /** A copy with some fields replaced. */
  with(changes: Partial<GraphFields>): Graph {
    return new Graph({ ...this.fields(), ...changes });
  }

  /** The graph's fields as a plain object. */
  fields(): GraphFields {
    return {
      name: this.name,
      inputs: this.inputs,
      outputs: this.outputs,
      nodes: this.nodes,
      initializers: this.initializers,
      valueTypes: this.valueTypes,
      meta: this.meta,
      captures: this.captures,
    };
  }

  /** Map from value name to its producer. Throws GraphError on duplicate producers. */
  get producers(): ReadonlyMap<string, Producer> {
    if (!this._producers) {
      const m = new Map<string, Producer>();
      const add = (name: string, p: Producer, what: string): void => {
        if (m.has(name)) throw new GraphError(`duplicate value name '${name}' (${what})`, name);
        m.set(name, p);
      };
      for (const i of this.inputs) add(i.name, { kind: 'input', info: i }, 'graph input');
      for (const c of this.captures) add(c.name, { kind: 'input', info: c }, 'captured outer value');
      for (const [n, t] of this.initializers) {
        if (!m.has(n)) m.set(n, { kind: 'initializer', tensor: t });
      }
      for (const node of this.nodes) {
        node.outputs.forEach((o, index) => {
          if (o !== '') add(o, { kind: 'node', node, index }, `output of node '${node.name}'`);
        });
      }
      this._producers = m;
    }
    return this._producers;
  }

  /** Map from value name to the nodes that read it (in node order). */
  get consumers(): ReadonlyMap<string, readonly Node[]> {
    if (!this._consumers) {
      const m = new Map<string, Node[]>();
      for (const node of this.nodes) {
        for (const i of new Set(node.inputs)) {
          if (i === '') continue;
          const list = m.get(i);
          if (list) list.push(node);
          else m.set(i, [node]);
        }
      }
      this._consumers = m;
    }
    return this._consumers;
  }

  /** Nodes in a topological order (stable: ties keep the stored order). Throws GraphError on a cycle. */
  get topo(): readonly Node[] {
    if (!this._topo) {
      const producers = this.producers;
      this._topo = topoSort(this.nodes, (v) => {
        const p = producers.get(v);
        return p?.kind === 'node' ? p.node : undefined;
      });
    }
    return this._topo;
  }

  /** The type of a value (input, capture, initializer or node output); a GraphError when there is none. */
  typeOf(name: string): ValueType {
    const t = this.findType(name);
    if (!t) throw new GraphError(`unknown value '${name}'`, name);
    return t;
  }

  /** The type of a value (input, capture, initializer or node output), or undefined when the graph has none for it. */
  findType(name: string): ValueType | undefined {
    const t = this.valueTypes.get(name);
    if (t) return t;
    const p = this.producers.get(name);
    if (p?.kind === 'input') return p.info;
    if (p?.kind === 'initializer') return { dtype: p.tensor.dtype, shape: p.tensor.shape };
    return undefined;
  }

  /** The node that produces `name`, if any. */
  producerNode(name: string): Node | undefined {
    const p = this.producers.get(name);
    return p?.kind === 'node' ? p.node : undefined;
  }

  /** A short text listing of the graph, one node per line. */
  toString(): string {
    const lines = [`graph ${this.name}(${this.inputs.map((i) => `${i.name}: ${i.dtype}${formatShape(i.shape)}`).join(', ')})`];
    for (const n of this.topo) {
      const outs = n.outputs.map((o) => {
        const t = this.valueTypes.get(o);
        return t ? `${o}: ${t.dtype}${formatShape(t.shape)}` : o;
      });
      lines.push(`  ${outs.join(', ')} = ${n.op}(${n.inputs.join(', ')})`);
    }
    lines.push(`  return ${this.outputs.map((o) => o.name).join(', ')}`);
    return lines.join('\n');
  }
}
