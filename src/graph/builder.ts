/**
 * The typed builder API. Declare inputs (with symbolic dims), constants and ops;
 * every op call infers its output types at once, so shape and dtype errors are
 * raised while the graph is being defined, naming the op and the shapes.
 *
 * Each registered op is a method named after it (`b.Conv([x, w], { strides: [2, 2] })`);
 * the method types come from the op definitions in `ops/index.ts`.
 */
import { resolveAttrs, type AttrValue, type AttrsIn, type AttrSchema } from './attrs.js';
import type { DType } from './dtype.js';
import { GraphError, KilnError } from './errors.js';
import { Graph, type Node, type ValueInfo } from './graph.js';
import { allOps, findOp, type OpDef, type ValueType } from './op.js';
import type { OPS } from './ops/index.js';
import { checkDims, type Shape } from './shape.js';
import { Tensor } from './tensor.js';
import { TypeEnv } from './type-env.js';

/** A symbolic tensor: a value of the graph under construction. */
export class Sym implements ValueType {
  /** @internal */
  constructor(
    readonly builder: GraphBuilder,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}
  /** Rank (number of axes). */
  get rank(): number { return this.shape.length; }
  /** The constant value behind this symbol, when it is known at build time. */
  get value(): Tensor | undefined { return this.builder.valueOf(this); }
}

/** Options of one op call. */
export interface ApplyOptions {
  /** Node name (default: op name + counter). */
  readonly name?: string;
  /** Number of outputs for ops with a variable count (Split). */
  readonly outputs?: number;
}

type Inputs = Sym | readonly (Sym | undefined)[];
type MethodFor<D> = D extends OpDef<infer S extends AttrSchema, infer M>
  ? (inputs: Inputs, attrs?: AttrsIn<S>, opts?: ApplyOptions) => M extends true ? Sym[] : Sym
  : never;
/** One method per registered op. */
export type OpMethods = { readonly [K in keyof typeof OPS]: MethodFor<(typeof OPS)[K]> };

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface GraphBuilder extends OpMethods {}

/** Builds a {@link Graph} op by op. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers = new Map<string, Tensor>();
  private readonly env = new TypeEnv();
  private readonly used = new Set<string>();
  private counter = 0;

  /** @param name graph name */
  constructor(readonly name = 'graph') {}

  private unique(base: string): string {
    let n = base;
    while (this.used.has(n)) n = `${base}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  /** Declares a graph input. Dims may be numbers or names (`'batch'`). */
  input(name: string, dtype: DType, shape: Shape): Sym {
    if (this.used.has(name)) throw new GraphError(`duplicate name '${name}'`, name);
    checkDims(shape, name);
    this.used.add(name);
    const info = { name, dtype, shape: [...shape] };
    this.inputs.push(info);
    this.env.define(name, info);
    return new Sym(this, name, dtype, info.shape);
  }

  /** Adds a constant (an initializer). Numbers and arrays are stored as `dtype` (default float32). */
  constant(value: Tensor | number | readonly number[], opts: { dtype?: DType; shape?: readonly number[]; name?: string } = {}): Sym {
    let t: Tensor;
    if (value instanceof Tensor) t = value;
    else if (typeof value === 'number') t = Tensor.from(opts.dtype ?? 'float32', opts.shape ?? [], [value]);
    else t = Tensor.from(opts.dtype ?? 'float32', opts.shape ?? [value.length], value);
    const name = this.unique(opts.name ?? 'const');
    this.initializers.set(name, t);
    this.env.define(name, { dtype: t.dtype, shape: t.shape }, t);
    return new Sym(this, name, t.dtype, t.shape);
  }

  /**
   * A builder that continues an existing graph: its inputs, initializers, nodes and
   * outputs are taken over (types re-inferred where they can be), so new ops can read
   * any of its values through {@link sym}. Used by transformations that add nodes
   * with the builder's checks (autodiff). Subgraph captures are not supported.
   */
  static extend(g: Graph, name = g.name): GraphBuilder {
    if (g.captures.length) throw new GraphError(`graph '${g.name}' captures outer values; only a top-level graph can be extended`);
    const b = new GraphBuilder(name);
    for (const i of g.inputs) { b.used.add(i.name); b.inputs.push(i); b.env.define(i.name, i); }
    for (const [k, t] of g.initializers) { b.used.add(k); b.initializers.set(k, t); b.env.define(k, { dtype: t.dtype, shape: t.shape }, t); }
    for (const n of g.topo) {
      b.used.add(n.name);
      for (const o of n.outputs) if (o !== '') b.used.add(o);
      try {
        b.env.addNode(n);
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        n.outputs.forEach((o) => { const t = g.valueTypes.get(o); if (o !== '' && t) b.env.define(o, t); });
      }
      b.nodes.push(n);
    }
    for (const o of g.outputs) b.outputs.push(o);
    return b;
  }

  /** True if `name` is already a value or node name of this builder. */
  isUsed(name: string): boolean { return this.used.has(name); }

  /** The symbol of an existing value (an input, initializer or node output) by name. */
  sym(name: string): Sym {
    const t = this.env.types.get(name);
    if (!t) throw new GraphError(`unknown value '${name}'`, name);
    return new Sym(this, name, t.dtype, t.shape);
  }

  /** The known constant value of a symbol, if any. */
  valueOf(s: Sym): Tensor | undefined {
    return this.env.values.get(s.name);
  }

  /**
   * Applies an op by name or handle. Infers output types immediately; throws a typed
   * error naming the node if shapes, dtypes or attributes are wrong.
   */
  apply(op: string | OpDef, inputs: Inputs, attrs: Readonly<Record<string, AttrValue | undefined>> = {}, opts: ApplyOptions = {}): Sym[] {
    const def = typeof op === 'string' ? findOp(op) : op;
    if (!def) throw new GraphError(`unknown op '${String(op)}'`);
    const list = inputs instanceof Sym ? [inputs] : inputs;
    for (const s of list) {
      if (s && s.builder !== this) throw new GraphError(`${def.name}: input '${s.name}' belongs to another builder`);
    }
    const name = this.unique(opts.name ?? def.name);
    const nOut = opts.outputs ?? this.outputCount(def, list, attrs) ?? def.outputSig.filter((p) => !p.optional).length;
    const outNames = Array.from({ length: Math.max(nOut, 1) }, (_, i) => this.unique(`${name}_${i}`));
    const cleanAttrs: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) cleanAttrs[k] = v;
    const node: Node = {
      name,
      op: def.name,
      domain: def.domain,
      inputs: list.map((s) => s?.name ?? ''),
      outputs: outNames,
      attrs: cleanAttrs,
    };
    let types: ValueType[];
    try {
      types = this.env.addNode(node);
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw new GraphError(`${name}: ${def.name} failed: ${(e as Error).message}`, name);
    }
    this.nodes.push(node);
    return outNames.map((o, i) => new Sym(this, o, types[i]!.dtype, types[i]!.shape));
  }

  private outputCount(def: OpDef, list: readonly (Sym | undefined)[], attrs: Readonly<Record<string, unknown>>): number | undefined {
    if (!def.outputCount) return undefined;
    const ins = list.map((s) => (s ? this.env.input(s.name) : undefined));
    const resolved = resolveAttrs(def.attrs, Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined)), def.name, def.name);
    return def.outputCount(ins, resolved);
  }

  /** Marks a symbol as a graph output, optionally renaming it (through an Identity). */
  output(s: Sym, name?: string): this {
    let sym = s;
    if (name && name !== s.name) {
      if (this.used.has(name)) throw new GraphError(`duplicate name '${name}'`, name);
      this.used.add(name);
      const node: Node = { name: this.unique(`Identity_${name}`), op: 'Identity', domain: '', inputs: [s.name], outputs: [name], attrs: {} };
      this.env.addNode(node);
      this.nodes.push(node);
      sym = new Sym(this, name, s.dtype, s.shape);
    }
    this.outputs.push({ name: sym.name, dtype: sym.dtype, shape: sym.shape });
    return this;
  }

  /** Finishes the graph. */
  build(): Graph {
    const valueTypes = new Map<string, ValueType>();
    for (const n of this.nodes) {
      for (const o of n.outputs) {
        const t = this.env.types.get(o);
        if (t) valueTypes.set(o, t);
      }
    }
    return Graph.create({
      name: this.name,
      inputs: this.inputs,
      outputs: this.outputs,
      nodes: this.nodes,
      initializers: new Map(this.initializers),
      valueTypes,
    });
  }
}

let installed = false;
/** Installs one builder method per registered op (idempotent; called on import of the ops). */
export function installOpMethods(): void {
  if (installed) return;
  installed = true;
  const proto = GraphBuilder.prototype as unknown as Record<string, unknown>;
  for (const def of allOps()) {
    if (def.domain !== '' || proto[def.name]) continue;
    proto[def.name] = function (this: GraphBuilder, inputs: Inputs, attrs?: Record<string, AttrValue>, opts?: ApplyOptions) {
      const outs = this.apply(def, inputs, attrs ?? {}, opts ?? {});
      return def.multi ? outs : outs[0];
    };
  }
}
