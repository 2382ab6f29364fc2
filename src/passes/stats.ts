/**
 * Graph statistics for `kiln inspect` and the pass tests: op histogram, parameter
 * count, estimated FLOPs, and dispatches per inference.
 *
 * FLOPs are an estimate: 2·M·N·K for MatMul/Gemm, 2·outputs·(Cin/group·kernel) for
 * Conv (and the transposed form per input element), the input size for reductions,
 * and one per output element for every other op; a Fused node counts its
 * sub-graph. The per-op rules are a table keyed by op name (data, not branches).
 * Dispatches per inference are not counted here: they are a figure of the execution
 * plan (exec-plan.ts, `dispatchCount`), the same object the executors run.
 */
import type { Graph, Node } from '../graph/graph.js';
import { findOp, type ValueType } from '../graph/op.js';
import type { Shape } from '../graph/shape.js';
import { fusedKind } from '../graph/ops/fused.js';

type TypeOf = (v: string) => ValueType;
const elems = (s: Shape, dims: Readonly<Record<string, number>>): number =>
  s.reduce<number>((p, d) => p * (typeof d === 'number' ? d : dims[d] ?? 1), 1);

type FlopRule = (n: Node, t: TypeOf, dims: Readonly<Record<string, number>>) => number;

const matmulFlops: FlopRule = (n, t, dims) => {
  const a = t(n.inputs[0]!).shape;
  return 2 * elems(t(n.outputs[0]!).shape, dims) * elems([a[a.length - 1] ?? 1], dims);
};
const gemmFlops: FlopRule = (n, t, dims) => {
  const a = t(n.inputs[0]!).shape;
  const k = n.attrs['transA'] === 1 ? a[0] : a[1];
  return 2 * elems(t(n.outputs[0]!).shape, dims) * elems([k ?? 1], dims);
};
const convFlops: FlopRule = (n, t, dims) => {
  const w = t(n.inputs[1]!).shape;
  return 2 * elems(t(n.outputs[0]!).shape, dims) * (elems(w, dims) / elems([w[0] ?? 1], dims));
};
const convTransposeFlops: FlopRule = (n, t, dims) => {
  const w = t(n.inputs[1]!).shape;
  return 2 * elems(t(n.inputs[0]!).shape, dims) * (elems(w, dims) / elems([w[0] ?? 1], dims));
};

/** Per-op FLOP rules; other ops fall back to their category's rule. */
export const FLOP_RULES: Readonly<Record<string, FlopRule>> = {
  MatMul: matmulFlops,
  MatMulInteger: matmulFlops,
  Gemm: gemmFlops,
  Conv: convFlops,
  ConvInteger: convFlops,
  ConvTranspose: convTransposeFlops,
};

/** Estimated FLOPs of one node. */
export function nodeFlops(n: Node, typeOf: TypeOf, dims: Readonly<Record<string, number>> = {}): number {
  const sub = n.attrs['graph'];
  if (n.op === 'Fused' && sub && typeof sub === 'object' && 'nodes' in sub) return graphFlops(sub as Graph, dims);
  const rule = FLOP_RULES[n.op];
  if (rule) return rule(n, typeOf, dims);
  const def = findOp(n.op, n.domain);
  if (def?.shapeOnly) return 0;
  if (def?.category === 'reduction' && n.inputs[0]) return elems(typeOf(n.inputs[0]).shape, dims);
  return n.outputs.reduce((s, o) => s + (o === '' ? 0 : elems(typeOf(o).shape, dims)), 0);
}

/** Estimated FLOPs of a graph. */
export function graphFlops(g: Graph, dims: Readonly<Record<string, number>> = {}): number {
  return g.nodes.reduce((s, n) => s + nodeFlops(n, (v) => g.typeOf(v), dims), 0);
}

/** Node count per op (Fused nodes as `Fused:<kind>`), most frequent first. */
export function opHistogram(g: Graph): [string, number][] {
  const h = new Map<string, number>();
  for (const n of g.nodes) {
    const k = n.op === 'Fused' ? `Fused:${fusedKind(n)}` : n.op;
    h.set(k, (h.get(k) ?? 0) + 1);
  }
  return [...h].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Number of parameters: elements of all initializers. */
export function parameterCount(g: Graph): number {
  let n = 0;
  for (const t of g.initializers.values()) n += t.size;
  return n;
}
