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
 * tensors as strided views with offsets (src/graph/ops/attention-views.ts).
 * Registered on import through registerFusedKind (kernels/fused.ts).
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { Graph } from '../../../graph/graph.js';
import { attentionParts, transposePerm, type AttentionView } from '../../../graph/ops/attention-views.js';
import { broadcastShapes, sizeOf, stridesOf } from '../../../graph/shape.js';
import type { Dispatch, GpuTensorInfo, KernelContext, KernelPlan } from '../kernel.js';
import { exprEpilogue, splitEpilogue } from '../wgsl-epilogue.js';
import { registerFusedKind } from './fused.js';
import { planMatmul, type MatmulProblem, type MatrixLayout } from './matmul.js';
import { planSoftmax } from './softmax.js';

/** The matrix layout of a view inside a problem with batch shape `batch` (broadcast batch axes get stride 0). */
function layoutOf(v: AttentionView, batch: readonly number[]): MatrixLayout {
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

/** Plans a Fused 'attention' node. */
export function planAttention(ctx: KernelContext): KernelPlan {
  const unsupported = (why: string): never => {
    throw new UnsupportedOpError([{ op: 'Fused(attention)', nodes: [ctx.node] }], why);
  };
  const g = ctx.attrs['graph'];
  if (!(g instanceof Graph)) return unsupported('no sub-graph');
  const parts = attentionParts(g, ctx.inputs);
  if (typeof parts === 'string') return unsupported(parts);
  const { qk, softmax: sm, pv, post, chain, q, k, v } = parts;
  const split = splitEpilogue(ctx.node, g, { anchor: qk, chain, last: sm.inputs[0]! });
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
      const perm = transposePerm(post, logical.length);
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
