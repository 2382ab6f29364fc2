/**
 * The one op for fused groups: `Fused` holds the sub-graph it replaces in its
 * `graph` attribute and says what kind of group it is in `kind` ('elementwise',
 * 'epilogue', 'attention', ...). The node's inputs are the sub-graph's inputs in
 * order, its outputs the sub-graph's outputs in order. Types are inferred and the
 * CPU reference is computed by running the sub-graph, so a fused graph means exactly
 * what the unfused one did. No fused op is ever invented as a new op name.
 */
import type { AttrSpec } from '../attrs.js';
import { GraphError } from '../errors.js';
import { E, substitute, type Expr } from '../expr.js';
import { Graph, type Node } from '../graph.js';
import { opContext, opOf } from '../infer.js';
import { defineOp, type ValueType } from '../op.js';
import { runReference } from '../reference.js';
import type { Tensor } from '../tensor.js';
import { TypeEnv } from '../type-env.js';

/**
 * The kinds of fused group: 'elementwise' (a chain of elementwise ops, one
 * expression per output), 'epilogue' (a MatMul/Gemm/Conv anchor followed by an
 * elementwise chain over its result) and 'attention' (Q·Kᵀ → chain → Softmax → ·V).
 */
export const FUSED_KINDS = ['elementwise', 'epilogue', 'attention'] as const;

/** The kind of a Fused node (its `kind` attribute). */
export type FusedKind = (typeof FUSED_KINDS)[number];

const kindAttr: AttrSpec<FusedKind, false> = {
  kind: 'string',
  default: 'elementwise',
  required: false,
  check: (v) => (FUSED_KINDS.includes(v) ? undefined : `must be one of ${FUSED_KINDS.join(', ')}`),
};

/** The kind of a Fused node (attribute `kind`, default 'elementwise'). */
export function fusedKind(node: { readonly attrs: Readonly<Record<string, unknown>> }): FusedKind {
  return (node.attrs['kind'] as FusedKind | undefined) ?? 'elementwise';
}

/** True if `node` is a Fused node, of kind `kind` when given. */
export function isFused(node: Pick<Node, 'op' | 'attrs'>, kind?: FusedKind): boolean {
  return node.op === 'Fused' && (kind === undefined || fusedKind(node) === kind);
}

const graphAttr: AttrSpec<object, false> = {
  kind: 'graph',
  default: undefined,
  required: true,
  check: (v) => (v instanceof Graph ? undefined : 'must be a Graph'),
};

function subgraph(attrs: { graph: object }, node: string): Graph {
  const g = attrs.graph;
  if (!(g instanceof Graph)) throw new GraphError(`${node}: Fused needs a Graph in attribute 'graph'`, node);
  return g;
}

/** Fused: a group of nodes kept as a sub-graph and run as one kernel. */
export const Fused = defineOp({
  name: 'Fused',
  inputs: ['...inputs'],
  outputs: ['...outputs'],
  attrs: { kind: kindAttr, graph: graphAttr },
  category: 'opaque',
  doc: 'A fused group of nodes (sub-graph in attribute `graph`, kind in `kind`).',
  infer(inputs, ctx) {
    const g = subgraph(ctx.attrs, ctx.node);
    if (inputs.length !== g.inputs.length) {
      throw new GraphError(`${ctx.node}: Fused has ${inputs.length} inputs but its sub-graph takes ${g.inputs.length}`, ctx.node);
    }
    const env = new TypeEnv();
    g.inputs.forEach((gi, i) => {
      const t = inputs[i];
      if (!t) throw new GraphError(`${ctx.node}: Fused input #${i} ('${gi.name}') is missing`, ctx.node);
      env.define(gi.name, { dtype: t.dtype, shape: t.shape }, t.value);
    });
    for (const [n, t] of g.initializers) if (!env.types.has(n)) env.define(n, { dtype: t.dtype, shape: t.shape }, t);
    for (const n of g.topo) env.addNode(n);
    return g.outputs.map((o): ValueType => {
      const t = env.types.get(o.name);
      if (!t) throw new GraphError(`${ctx.node}: sub-graph output '${o.name}' is not computed`, ctx.node);
      return t;
    });
  },
  cpu(inputs, ctx) {
    const g = subgraph(ctx.attrs, ctx.node);
    return runSubgraph(g, inputs, ctx.node);
  },
});

/** Runs a sub-graph with the CPU reference (inputs positional, outputs in order). */
export function runSubgraph(g: Graph, inputs: readonly (Tensor | undefined)[], where = g.name): Tensor[] {
  const env = new Map<string, Tensor>(g.initializers);
  g.inputs.forEach((gi, i) => {
    const t = inputs[i];
    if (t) env.set(gi.name, t);
  });
  for (const n of g.topo) {
    const outs = runReference(n, n.inputs.map((v) => (v === '' ? undefined : env.get(v))));
    n.outputs.forEach((o, k) => {
      const t = outs[k];
      if (o !== '' && t) env.set(o, t);
    });
  }
  return g.outputs.map((o) => {
    const t = env.get(o.name);
    if (!t) throw new GraphError(`${where}: sub-graph output '${o.name}' was not computed`, where);
    return t;
  });
}

/**
 * The scalar expressions of a Fused node whose members all have `expr`: one per
 * output, over the node's inputs (`E.input(i)` is the node's input `i`, broadcast to
 * the output shape). Each member's expression is composed with `substitute`.
 * Throws a GraphError naming the member that has no `expr`.
 */
export function fusedExprs(node: Pick<Node, 'name' | 'attrs'>): Expr[] {
  const g = node.attrs['graph'];
  if (!(g instanceof Graph)) throw new GraphError(`${node.name}: not a Fused node (no sub-graph)`, node.name);
  const env = new Map<string, Expr>();
  g.inputs.forEach((gi, i) => env.set(gi.name, E.input(i, gi.dtype)));
  for (const [n, t] of g.initializers) {
    if (t.size !== 1) throw new GraphError(`${node.name}: constant '${n}' of the fused group is not a scalar`, node.name);
    env.set(n, E.const(t.data[0]!, t.dtype));
  }
  for (const m of g.topo) {
    const def = opOf(m);
    if (!def.expr) throw new GraphError(`${node.name}: member '${m.name}' (${m.op}) has no scalar expression`, node.name);
    const args = m.inputs.filter((v) => v !== '').map((v) => {
      const e = env.get(v);
      if (!e) throw new GraphError(`${node.name}: member '${m.name}' reads '${v}', unknown in the group`, node.name);
      return e;
    });
    const out = g.typeOf(m.outputs[0]!).dtype;
    const own = def.expr(args.map((a, i) => E.input(i, a.dtype)), opContext(def, m).attrs as never, out);
    env.set(m.outputs[0]!, substitute(own, args));
  }
  return g.outputs.map((o) => env.get(o.name)!);
}

/** The scalar expression of output `k` (default 0) of an elementwise Fused node. */
export function fusedExpr(node: Pick<Node, 'name' | 'attrs'>, k = 0): Expr {
  const e = fusedExprs(node)[k];
  if (!e) throw new GraphError(`${node.name}: Fused node has no output #${k}`, node.name);
  return e;
}

/** The parts of a Fused 'epilogue' sub-graph, in topological order. */
export interface EpilogueParts {
  /** Producers of anchor operands computed on load (src/graph/load-fusion.ts); usually none. */
  readonly prologue: readonly Node[];
  /** The output-fusable node (MatMul, Gemm, Conv, ConvInteger, ...). */
  readonly anchor: Node;
  /** The elementwise chain over the anchor's result. */
  readonly chain: readonly Node[];
}

/**
 * Splits an 'epilogue' sub-graph: the anchor is its first member of category
 * 'output-fusable' (load-fused producers are elementwise or range quantizations, and
 * chain members are elementwise); members before it are the prologue, after it the
 * chain. Undefined when no member is output-fusable.
 */
export function epilogueParts(g: Graph): EpilogueParts | undefined {
  const topo = g.topo;
  const at = topo.findIndex((n) => opOf(n).category === 'output-fusable');
  if (at < 0) return undefined;
  return { prologue: topo.slice(0, at), anchor: topo[at]!, chain: topo.slice(at + 1) };
}

/** The Fused op family. */
export const fusedOps = { Fused } as const;
