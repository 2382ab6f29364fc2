/**
 * The kernel of `Fused` nodes of kind 'attention' (src/passes/recognize.ts):
 * MatMul(Q, Kᵀ) → elementwise chain (scale, mask) → Softmax(last axis) → MatMul(·, V),
 * planned as three dispatches over two scratch buffers:
 * 1. scores = chain(Q·Kᵀ) — the register-blocked matmul with the chain as its epilogue;
 * 2. probabilities = Softmax(scores) — the softmax row kernel;
 * 3. output = probabilities · V — the matmul again.
 * The views the pass folded into the group — Transposes, Reshapes and a Split of Q,
 * K or V before the products, a Transpose of the result after the last one
 * (keeping its last axis) — cost no dispatch: the matmuls read and write those
 * tensors as strided views with offsets.
 * Registered on import through registerFusedKind (kernels/fused.ts).
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { Graph, type Node } from '../../../graph/graph.js';
import { inferNode } from '../../../graph/infer.js';
import type { InferInput } from '../../../graph/op.js';
import { broadcastShapes, normalizeAxis, sizeOf, stridesOf } from '../../../graph/shape.js';
import type { Dispatch, GpuTensorInfo, KernelContext, KernelPlan } from '../kernel.js';
import { exprEpilogue, splitEpilogue } from '../wgsl-epilogue.js';
import { registerFusedKind } from './fused.js';
import { planMatmul, type MatmulProblem, type MatrixLayout } from './matmul.js';
import { planSoftmax } from './softmax.js';

/** A group operand as a strided view of a node input: its logical shape, element strides and offset. */
interface View {
  readonly index: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** The matrix layout of a view inside a problem with batch shape `batch` (broadcast batch axes get stride 0). */
function layoutOf(v: View, batch: readonly number[]): MatrixLayout {
  const r = v.shape.length;
  const vb = v.shape.slice(0, -2);
  const off = batch.length - vb.length;
  return {
    batch: batch.map((_, i) => (i < off || vb[i - off] === 1 ? 0 : v.strides[i - off]!)),
    rows: v.strides[r - 2]!,
    cols: v.strides[r - 1]!,
    offset: v.offset,
  };
}

/** The permutation of a Transpose node (default: reversed axes). */
function permOf(n: Node, rank: number): number[] {
  const p = n.attrs['perm'] as readonly (number | bigint)[] | undefined;
  return p ? p.map(Number) : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/**
 * The view `v` reshaped to `shape` without copying, or undefined when the dims it
 * merges are not contiguous in memory (NumPy's no-copy reshape rule).
 */
function reshapeView(v: View, shape: readonly number[]): View | undefined {
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
 * their first input into a view of output `k` (a table: Transpose permutes,
 * Reshape splits or merges contiguous dims, Split narrows one axis and moves the
 * offset). `out` is the output's concrete type.
 */
const VIEW_OPS: Readonly<Record<string, (n: Node, v: View, k: number, out: readonly number[], outs: readonly (readonly number[])[]) => View | undefined>> = {
  Transpose: (n, v) => {
    const perm = permOf(n, v.shape.length);
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

/** Plans a Fused 'attention' node. */
export function planAttention(ctx: KernelContext): KernelPlan {
  const unsupported = (why: string): never => {
    throw new UnsupportedOpError([{ op: 'Fused(attention)', nodes: [ctx.node] }], why);
  };
  const g = ctx.attrs['graph'];
  if (!(g instanceof Graph)) return unsupported('no sub-graph');
  const topo = g.topo;
  const sm = topo.find((n) => n.op === 'Softmax');
  const pv = sm && topo.find((n) => n.op === 'MatMul' && n.inputs[0] === sm.outputs[0]);
  const qk = topo.find((n) => n.op === 'MatMul' && n !== pv);
  if (!sm || !pv || !qk) return unsupported('expected MatMul → elementwise chain → Softmax → MatMul');
  const post = topo.find((n) => n.op === 'Transpose' && n.inputs[0] === pv.outputs[0]);
  if (g.outputs[0]!.name !== (post ?? pv).outputs[0]) return unsupported('the group must end in the second MatMul or its Transpose');
  const pre = topo.filter((n) => VIEW_OPS[n.op] !== undefined && n !== post);
  const chain = topo.filter((n) => n !== qk && n !== sm && n !== pv && n !== post && !pre.includes(n));
  const split = splitEpilogue(ctx.node, g, { anchor: qk, chain, last: sm.inputs[0]! });
  const inputIndex = new Map(g.inputs.map((v, i) => [v.name, i]));
  // Concrete types of the group's values, inferred from the node's input types.
  const types = new Map<string, InferInput>();
  g.inputs.forEach((v, i) => { if (ctx.inputs[i]) types.set(v.name, ctx.inputs[i]!); });
  const typeOf = (v: string): InferInput => {
    const known = types.get(v);
    if (known) return known;
    const n = g.producerNode(v);
    if (!n) return unsupported(`value '${v}' has no producer in the group`);
    const outs = inferNode(n, n.inputs.map((x) => (x === '' ? undefined : typeOf(x))));
    n.outputs.forEach((o, k) => { if (o !== '' && outs[k]) types.set(o, outs[k]!); });
    return types.get(v)!;
  };
  const view = (v: string): View => {
    const direct = inputIndex.get(v);
    if (direct !== undefined) {
      const shape = ctx.inputs[direct]!.shape;
      return { index: direct, shape, strides: stridesOf(shape), offset: 0 };
    }
    const n = g.producerNode(v);
    const rule = n && VIEW_OPS[n.op];
    if (!n || !rule || !pre.includes(n)) return unsupported(`operand '${v}' is neither a group input nor a view of one`);
    const shapeOf = (x: string): number[] => typeOf(x).shape as number[];
    const r = rule(n, view(n.inputs[0]!), n.outputs.indexOf(v), shapeOf(v), n.outputs.map(shapeOf));
    return r ?? unsupported(`${n.op} '${n.name}' cannot be read as a strided view`);
  };
  const q = view(qk.inputs[0]!);
  const k = view(qk.inputs[1]!);
  if (q.shape.length < 2 || k.shape.length < 2) return unsupported('Q and K must have rank >= 2');
  const qb = q.shape.slice(0, -2);
  const kb = k.shape.slice(0, -2);
  const batch = broadcastShapes([qb, kb], ctx.node) as number[];
  const [M, K] = q.shape.slice(-2) as [number, number];
  const N = k.shape[k.shape.length - 1]!;
  const anchorDtype = g.typeOf(qk.outputs[0]!).dtype;
  const qkP: MatmulProblem = {
    a: q.index, b: k.index, M, N, K, transA: false, transB: false, batch, aBatch: qb, bBatch: kb,
    aLayout: layoutOf(q, batch), bLayout: layoutOf(k, batch), dtype: anchorDtype, output: 0, label: 'Fused.attention.QK',
  };
  const scores: GpuTensorInfo = { dtype: 'float32', shape: [...batch, M, N], storage: 'f32' };
  const epi = exprEpilogue(ctx, split.expr, anchorDtype, split.extra, scores.shape, 'f32');
  const d1 = planMatmul({ ...ctx, outputs: [scores] }, { ...qkP, epilogue: epi, outScratch: 0 });
  const d2 = planSoftmax({ ...ctx, attrs: { axis: -1 }, inputs: [scores], outputs: [scores] }, { x: 0, y: 1 }).dispatches[0]!;
  const v = view(pv.inputs[1]!);
  const out = ctx.outputs[0]!;
  let d3: Dispatch;
  if (v.shape.length === 1) {
    if (post) return unsupported('a Transpose after a product with a 1-D V');
    d3 = planMatmul(ctx, {
      a: -1, aScratch: 1, b: v.index, M, K: N, N: 1, transA: false, transB: false,
      batch: out.shape.slice(0, -1), aBatch: batch, bBatch: [], dtype: out.dtype, output: 0, label: 'Fused.attention.PV',
    });
  } else {
    const vb = v.shape.slice(0, -2);
    const pvBatch = broadcastShapes([batch, vb], ctx.node) as number[];
    const logical = [...pvBatch, M, v.shape[v.shape.length - 1]!];
    // The result's logical strides: contiguous, or those of the Transpose's output read back through its permutation.
    let outStrides = stridesOf(logical);
    if (post) {
      const perm = permOf(post, logical.length);
      if (perm.map((p) => logical[p]).join() !== out.shape.join()) return unsupported(`Transpose of the result gives ${out.shape.join('x')}, not the permuted ${logical.join('x')}`);
      const phys = stridesOf(out.shape);
      outStrides = logical.map((_, i) => phys[perm.indexOf(i)]!);
    }
    const outLayout = layoutOf({ index: 0, shape: logical, strides: outStrides, offset: 0 }, pvBatch);
    if (outLayout.cols !== 1) return unsupported('the Transpose of the result must keep the last axis');
    d3 = planMatmul(ctx, {
      a: -1, aScratch: 1, b: v.index, M, K: N, N: logical[logical.length - 1]!, transA: false, transB: false,
      batch: pvBatch, aBatch: batch, bBatch: vb, bLayout: layoutOf(v, pvBatch), outLayout,
      dtype: out.dtype, output: 0, label: 'Fused.attention.PV',
    });
  }
  const bytes = Math.max(4, sizeOf(scores.shape) * 4);
  return { scratch: [bytes, bytes], dispatches: [d1, d2, d3] };
}

registerFusedKind('attention', planAttention);
