/**
 * The structure of a `Fused` group of kind 'attention' (src/passes/recognize.ts),
 * read once for every backend: its two products and Softmax, the elementwise chain
 * between them, the Transpose of the result it may end in, and Q, K, V as strided
 * views of the node's inputs. The views the pass folds into the group —
 * Transposes, Reshapes and a Split before the products — move no data: Transpose
 * permutes strides, Reshape splits or merges contiguous dims (NumPy's no-copy rule),
 * Split narrows one axis and moves the offset.
 */
import type { Graph, Node } from '../graph.js';
import { inferNode } from '../infer.js';
import type { InferInput } from '../op.js';
import { normalizeAxis, stridesOf } from '../shape.js';

/** A group operand as a strided view of a node input: its logical shape, element strides and offset. */
export interface AttentionView {
  /** The node input it reads. */
  readonly index: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** The parts of an attention group. */
export interface AttentionParts {
  /** MatMul(Q, K). */
  readonly qk: Node;
  readonly softmax: Node;
  /** MatMul(probabilities, V). */
  readonly pv: Node;
  /** The Transpose of the result the group ends in, if any. */
  readonly post?: Node;
  /** The elementwise nodes between the first product and the Softmax, in order. */
  readonly chain: readonly Node[];
  /** Q, K, V as views of node inputs (K as the product reads it, i.e. already transposed). */
  readonly q: AttentionView;
  readonly k: AttentionView;
  readonly v: AttentionView;
}

/** The permutation of a Transpose node (default: reversed axes). */
export function transposePerm(n: Node, rank: number): number[] {
  const p = n.attrs['perm'] as readonly (number | bigint)[] | undefined;
  return p ? p.map(Number) : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/**
 * The view `v` reshaped to `shape` without copying, or undefined when the dims it
 * merges are not contiguous in memory (NumPy's no-copy reshape rule).
 */
function reshapeView(v: AttentionView, shape: readonly number[]): AttentionView | undefined {
  const od = v.shape.filter((d) => d !== 1);
  const os = v.strides.filter((_, i) => v.shape[i] !== 1);
  const strides = new Array<number>(shape.length).fill(0);
  let i = 0;
  let j = 0;
  while (j < shape.length) {
    if (shape[j] === 1) { j++; continue; }
    if (i >= od.length) return undefined;
    let [i2, j2, po, pn] = [i, j, od[i]!, shape[j]!];
    while (po !== pn) {
      if (po < pn) { i2++; if (i2 >= od.length) return undefined; po *= od[i2]!; } else { j2++; if (j2 >= shape.length) return undefined; pn *= shape[j2]!; }
    }
    for (let k = i; k < i2; k++) if (os[k] !== os[k + 1]! * od[k + 1]!) return undefined;
    let st = os[i2]!;
    for (let k = j2; k >= j; k--) { strides[k] = st; st *= shape[k]!; }
    i = i2 + 1;
    j = j2 + 1;
  }
  return i === od.length ? { index: v.index, shape, strides, offset: v.offset } : undefined;
}

/**
 * How the ops a group may hold between its inputs and the products turn a view of
 * their first input into a view of output `k` (a table keyed by op). `out` is the
 * output's concrete shape, `outs` those of all the node's outputs.
 */
const VIEW_OPS: Readonly<Record<string, (n: Node, v: AttentionView, k: number, out: readonly number[], outs: readonly (readonly number[])[]) => AttentionView | undefined>> = {
  Transpose: (n, v) => {
    const perm = transposePerm(n, v.shape.length);
    return { index: v.index, shape: perm.map((p) => v.shape[p]!), strides: perm.map((p) => v.strides[p]!), offset: v.offset };
  },
  Reshape: (_n, v, _k, out) => reshapeView(v, out),
  Split: (n, v, k, out, outs) => {
    const rank = v.shape.length;
    const axis = normalizeAxis(Number(n.attrs['axis'] ?? 0), rank, n.name);
    const start = outs.slice(0, k).reduce((a, s) => a + s[axis]!, 0);
    return { index: v.index, shape: out, strides: v.strides, offset: v.offset + start * v.strides[axis]! };
  },
};

/**
 * Reads an attention group `g` of a node with concrete input types `inputs`: its
 * parts, or a string saying why the group has not the expected structure.
 */
export function attentionParts(g: Graph, inputs: readonly (InferInput | undefined)[]): AttentionParts | string {
  const topo = g.topo;
  const softmax = topo.find((n) => n.op === 'Softmax');
  const pv = softmax && topo.find((n) => n.op === 'MatMul' && n.inputs[0] === softmax.outputs[0]);
  const qk = topo.find((n) => n.op === 'MatMul' && n !== pv);
  if (!softmax || !pv || !qk) return 'expected MatMul → elementwise chain → Softmax → MatMul';
  const post = topo.find((n) => n.op === 'Transpose' && n.inputs[0] === pv.outputs[0]);
  if (g.outputs[0]!.name !== (post ?? pv).outputs[0]) return 'the group must end in the second MatMul or its Transpose';
  const pre = topo.filter((n) => VIEW_OPS[n.op] !== undefined && n !== post);
  const chain = topo.filter((n) => n !== qk && n !== softmax && n !== pv && n !== post && !pre.includes(n));
  const inputIndex = new Map(g.inputs.map((v, i) => [v.name, i]));
  // Concrete types of the group's values, inferred from the node's input types.
  const types = new Map<string, InferInput>();
  g.inputs.forEach((v, i) => { if (inputs[i]) types.set(v.name, inputs[i]!); });
  class Mismatch { constructor(readonly why: string) {} }
  const typeOf = (v: string): InferInput => {
    const known = types.get(v);
    if (known) return known;
    const n = g.producerNode(v);
    if (!n) throw new Mismatch(`value '${v}' has no producer in the group`);
    const outs = inferNode(n, n.inputs.map((x) => (x === '' ? undefined : typeOf(x))));
    n.outputs.forEach((o, k) => { if (o !== '' && outs[k]) types.set(o, outs[k]!); });
    return types.get(v)!;
  };
  const view = (v: string): AttentionView => {
    const direct = inputIndex.get(v);
    if (direct !== undefined) {
      const shape = inputs[direct]!.shape as number[];
      return { index: direct, shape, strides: stridesOf(shape), offset: 0 };
    }
    const n = g.producerNode(v);
    const rule = n && VIEW_OPS[n.op];
    if (!n || !rule || !pre.includes(n)) throw new Mismatch(`operand '${v}' is neither a group input nor a view of one`);
    const shapeOf = (x: string): number[] => typeOf(x).shape as number[];
    const r = rule(n, view(n.inputs[0]!), n.outputs.indexOf(v), shapeOf(v), n.outputs.map(shapeOf));
    if (!r) throw new Mismatch(`${n.op} '${n.name}' cannot be read as a strided view`);
    return r;
  };
  try {
    return { qk, softmax, pv, post, chain, q: view(qk.inputs[0]!), k: view(qk.inputs[1]!), v: view(pv.inputs[1]!) };
  } catch (e) {
    if (e instanceof Mismatch) return e.why;
    throw e;
  }
}

