/**
 * The kernel of `Fused` nodes of kind 'attention' (src/passes/recognize.ts):
 * MatMul(Q, Kᵀ) → elementwise chain (scale, mask) → Softmax(last axis) → MatMul(·, V),
 * planned as three dispatches over two scratch buffers:
 * 1. scores = chain(Q·Kᵀ) — the register-blocked matmul with the chain as its epilogue;
 * 2. probabilities = Softmax(scores) — the softmax row kernel;
 * 3. output = probabilities · V — the matmul again.
 * Registered on import through registerFusedKind (kernels/fused.ts).
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { Graph } from '../../../graph/graph.js';
import { sizeOf } from '../../../graph/shape.js';
import type { BindingRef, Dispatch, GpuTensorInfo, KernelContext, KernelPlan } from '../kernel.js';
import { exprEpilogue, splitEpilogue } from '../wgsl-heavy.js';
import { registerFusedKind } from './fused.js';
import { matmulProblem, planMatmul } from './matmul.js';
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

/** Plans a Fused 'attention' node. */
export function planAttention(ctx: KernelContext): KernelPlan {
  const unsupported = (why: string): never => {
    throw new UnsupportedOpError([{ op: 'Fused(attention)', nodes: [ctx.node] }], why);
  };
  const g = ctx.attrs['graph'];
  if (!(g instanceof Graph)) return unsupported('no sub-graph');
  const topo = g.topo;
  const s = topo.findIndex((n) => n.op === 'Softmax');
  const qk = topo[0];
  const sm = topo[s];
  const pv = topo[topo.length - 1];
  if (!qk || !sm || !pv || qk.op !== 'MatMul' || pv.op !== 'MatMul' || s !== topo.length - 2 || pv.inputs[0] !== sm.outputs[0]) {
    return unsupported('expected MatMul → elementwise chain → Softmax → MatMul');
  }
  const split = splitEpilogue(ctx.node, g, { chain: topo.slice(1, s), last: sm.inputs[0]! });
  const [qi, ki] = split.anchorInputs as [number, number];
  if (ctx.inputs[qi]!.shape.length < 2 || ctx.inputs[ki]!.shape.length < 2) return unsupported('Q and K must have rank >= 2');
  const qkP = matmulProblem(ctx, qi, ki, 'Fused.attention.QK');
  const scores: GpuTensorInfo = { dtype: 'float32', shape: [...qkP.batch, qkP.M, qkP.N], storage: 'f32' };
  const anchorDtype = g.typeOf(qk.outputs[0]!).dtype;
  const epi = exprEpilogue(ctx, split.expr, anchorDtype, split.extra, scores.shape, 'f32');
  const toScratch = (k: number) => (b: BindingRef): BindingRef => (b.kind === 'output' ? { kind: 'scratch', index: k } : b);
  const d1 = rebind(planMatmul({ ...ctx, outputs: [scores] }, { ...qkP, dtype: anchorDtype, epilogue: epi }), toScratch(0));
  const smPlan = softmaxKernels['Softmax']!.plan({ ...ctx, attrs: { axis: -1 }, inputs: [scores], outputs: [scores] });
  const d2 = rebind(smPlan.dispatches[0]!, (b) => (b.kind === 'input' ? { kind: 'scratch', index: 0 } : { kind: 'scratch', index: 1 }));
  const vi = g.inputs.findIndex((v) => v.name === pv.inputs[1]);
  if (vi < 0) return unsupported('V must be an input of the group');
  const v = ctx.inputs[vi]!.shape;
  const v2 = v.length === 1 ? [v[0]!, 1] : v;
  const out = ctx.outputs[0]!;
  const d3 = planMatmul(ctx, {
    a: -1, aScratch: 1, b: vi, M: qkP.M, K: qkP.N, N: v2[v2.length - 1]!, transA: false, transB: false,
    batch: out.shape.slice(0, v.length === 1 ? -1 : -2), aBatch: qkP.batch, bBatch: v2.slice(0, -2),
    dtype: out.dtype, output: 0, label: 'Fused.attention.PV',
  });
  const bytes = Math.max(4, sizeOf(scores.shape) * 4);
  return { scratch: [bytes, bytes], dispatches: [d1, d2, d3] };
}

registerFusedKind('attention', planAttention);
