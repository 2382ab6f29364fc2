/**
 * The kernel of `Fused` nodes of kind 'attention' (src/passes/recognize.ts):
 * MatMul(Q, Kᵀ) → elementwise chain (scale, mask) → Softmax(last axis) → MatMul(·, V),
 * planned as three dispatches over two scratch buffers:
 * 1. scores = chain(Q·Kᵀ) — the register-blocked matmul with the chain as its epilogue;
 * 2. probabilities = Softmax(scores) — the softmax row kernel;
 * 3. output = probabilities · V — the matmul again.
 * Transposes that the pass folded into the group — of Q, K or V before the
 * products, and of the result after the last one (keeping its last axis) — cost no
 * dispatch: the matmuls read and write those tensors as strided views.
 * Registered on import through registerFusedKind (kernels/fused.ts).
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { Graph, type Node } from '../../../graph/graph.js';
import { broadcastShapes, sizeOf, stridesOf } from '../../../graph/shape.js';
import type { BindingRef, Dispatch, GpuTensorInfo, KernelContext, KernelPlan } from '../kernel.js';
import { exprEpilogue, splitEpilogue } from '../wgsl-heavy.js';
import { registerFusedKind } from './fused.js';
import { planMatmul, type MatmulProblem, type MatrixLayout } from './matmul.js';
import { softmaxKernels } from './softmax.js';

/** Rebinds a planned dispatch's buffers (inputs moved to scratch become read_write in the WGSL). */
function rebind(d: Dispatch, map: (b: BindingRef) => BindingRef): Dispatch {
  let shader = d.shader;
  const bindings = d.bindings.map((b, i) => {
    const nb = map(b);
    if (b.kind === 'input' && nb.kind !== 'input') shader = shader.replace(`@binding(${i}) var<storage, read> `, `@binding(${i}) var<storage, read_write> `);
    return nb;
  });
  return { ...d, shader, bindings };
}

/** A group operand as a strided view of a node input: its logical shape and element strides. */
interface View {
  readonly index: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
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
  };
}

/** The permutation of a Transpose node (default: reversed axes). */
function permOf(n: Node, rank: number): number[] {
  const p = n.attrs['perm'] as readonly (number | bigint)[] | undefined;
  return p ? p.map(Number) : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

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
  const pre = topo.filter((n) => n.op === 'Transpose' && n !== post);
  const chain = topo.filter((n) => n !== qk && n !== sm && n !== pv && n !== post && !pre.includes(n));
  const split = splitEpilogue(ctx.node, g, { anchor: qk, chain, last: sm.inputs[0]! });
  const inputIndex = new Map(g.inputs.map((v, i) => [v.name, i]));
  const view = (v: string): View => {
    const direct = inputIndex.get(v);
    if (direct !== undefined) {
      const shape = ctx.inputs[direct]!.shape;
      return { index: direct, shape, strides: stridesOf(shape) };
    }
    const t = pre.find((n) => n.outputs[0] === v);
    const index = t ? inputIndex.get(t.inputs[0]!) : undefined;
    if (!t || index === undefined) return unsupported(`operand '${v}' is neither a group input nor a Transpose of one`);
    const shape = ctx.inputs[index]!.shape;
    const st = stridesOf(shape);
    const perm = permOf(t, shape.length);
    return { index, shape: perm.map((p) => shape[p]!), strides: perm.map((p) => st[p]!) };
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
  const toScratch = (i: number) => (b: BindingRef): BindingRef => (b.kind === 'output' ? { kind: 'scratch', index: i } : b);
  const d1 = rebind(planMatmul({ ...ctx, outputs: [scores] }, { ...qkP, epilogue: epi }), toScratch(0));
  const smPlan = softmaxKernels['Softmax']!.plan({ ...ctx, attrs: { axis: -1 }, inputs: [scores], outputs: [scores] });
  const d2 = rebind(smPlan.dispatches[0]!, (b) => (b.kind === 'input' ? { kind: 'scratch', index: 0 } : { kind: 'scratch', index: 1 }));
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
    const outLayout = layoutOf({ index: 0, shape: logical, strides: outStrides }, pvBatch);
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
