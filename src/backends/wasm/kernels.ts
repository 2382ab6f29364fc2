/**
 * Registers the wasm kernels on their op handles: MatMul, Gemm and Conv (GEMM; depthwise
 * Conv direct), the pools, Softmax, LayerNormalization and last-axis ReduceSum/Mean,
 * Gather (float32 row copies), Concat (block copies, or none where the plan let the
 * producers write into the output: concat.ts, plan.ts),
 * every op with a scalar expression (elementwise/broadcast), and Fused groups of
 * kind 'elementwise' (the composed expression) and 'epilogue' (the anchor's kernel,
 * then the chain's expression over its result) and 'attention' (attention.ts: the
 * packed-QKV layout). Registration is idempotent.
 */
import { E, substitute, type Expr } from '../../graph/expr.js';
import { GraphError } from '../../graph/errors.js';
import { Graph } from '../../graph/graph.js';
import { opContext, opOf } from '../../graph/infer.js';
import { allOps, getTrait, setTrait, type ValueType } from '../../graph/op.js';
import { DEQUANTIZE } from '../../graph/load-fusion.js';
import { runReference } from '../../graph/reference.js';
import { epilogueParts, fusedExprs, fusedKind, type EpilogueParts } from '../../graph/ops/fused.js';
import { OPS } from '../../graph/ops/index.js';
import { sizeOf } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';
import { prepareAttention } from './attention.js';
import { concatWriteInto, prepareConcat } from './concat.js';
import { prepareExpr } from './elementwise.js';
import { prepareGather } from './gather.js';
import { prepareConv, prepareGemm, prepareMatMul } from './gemm.js';
import { registerWasmKernel, wasmKernelOf, type WasmKernel, type WasmPrepareContext, type WasmRun } from './kernel.js';
import { WASM_WRITE_INTO } from './plan.js';
import { prepareGlobalAveragePool, prepareLayerNorm, prepareReduceLast, prepareSoftmax } from './rows.js';
import { prepareAveragePool, prepareDepthwiseConv, prepareMaxPool } from './window.js';

/** An op's own expression over its inputs. */
function opExpr(ctx: WasmPrepareContext): Expr | undefined {
  const def = opOf(ctx.node);
  if (!def.expr || ctx.node.outputs.length !== 1) return undefined;
  const ins = ctx.inputs.map((t, i) => E.input(i, t?.dtype ?? 'float32'));
  if (ctx.inputs.some((t) => !t)) return undefined;
  return def.expr(ins, opContext(def, ctx.node).attrs as never, ctx.outputs[0]!.dtype);
}

/** The generic elementwise kernel. */
const exprKernel: WasmKernel = {
  prepare(ctx) {
    const e = opExpr(ctx);
    return e ? prepareExpr(ctx, e) : undefined;
  },
};

/** The chain of an epilogue group as one expression: E.input(0) the anchor's value, E.input(k+1) node input extra[k]. */
function chainExpr(g: Graph, parts: EpilogueParts): { expr: Expr; extra: number[] } | undefined {
  const anchor = parts.anchor;
  const inputIndex = new Map(g.inputs.map((v, i) => [v.name, i]));
  const env = new Map<string, Expr>([[anchor.outputs[0]!, E.input(0, g.typeOf(anchor.outputs[0]!).dtype)]]);
  for (const [n, t] of g.initializers) if (t.size === 1) env.set(n, E.const(t.data[0] as number, t.dtype));
  const extra: number[] = [];
  const leaf = (v: string): Expr | undefined => {
    const known = env.get(v);
    if (known) return known;
    const i = inputIndex.get(v);
    if (i === undefined) return undefined;
    extra.push(i);
    const x = E.input(extra.length, g.typeOf(v).dtype);
    env.set(v, x);
    return x;
  };
  for (const m of parts.chain) {
    const def = opOf(m);
    if (!def.expr || m.outputs.length !== 1) return undefined;
    const args = m.inputs.filter((v) => v !== '').map(leaf);
    if (args.some((a) => !a)) return undefined;
    const own = def.expr(args.map((a, i) => E.input(i, a!.dtype)), opContext(def, m).attrs as never, g.typeOf(m.outputs[0]!).dtype);
    env.set(m.outputs[0]!, substitute(own, args as Expr[]));
  }
  const last = env.get(g.outputs[0]!.name);
  return last ? { expr: last, extra } : undefined;
}

/**
 * Prologue members that dequantize constant weights (DEQUANTIZE trait, the GPU's
 * packed-weight load fusion) run once here with their CPU reference: the wasm GEMM
 * packs float weights at plan time anyway. Their float results by value name, or
 * undefined when the prologue holds anything else.
 */
function dequantizedWeights(ctx: WasmPrepareContext, parts: EpilogueParts, inputIndex: ReadonlyMap<string, number>): Map<string, Tensor> | undefined {
  const out = new Map<string, Tensor>();
  for (const m of parts.prologue) {
    if (!getTrait(opOf(m), DEQUANTIZE) || m.outputs.length !== 1) return undefined;
    const ins = m.inputs.map((v) => (v === '' ? undefined : inputIndex.has(v) ? ctx.constant(inputIndex.get(v)!) : undefined));
    if (m.inputs.some((v, i) => v !== '' && !ins[i])) return undefined;
    out.set(m.outputs[0]!, runReference(m, ins)[0]!);
  }
  return out;
}

/**
 * An epilogue group: the anchor's kernel writes the anchor's value, the chain's
 * expression turns it into the output. A group that computes anchor operands on load
 * (a prologue: src/graph/load-fusion.ts) is left to the CPU reference, except
 * dequantized constant weights (dequantized once at plan time).
 */
function prepareEpilogue(ctx: WasmPrepareContext, g: Graph): WasmRun | undefined {
  const parts = g.outputs.length === 1 ? epilogueParts(g) : undefined;
  if (!parts) return undefined;
  const anchor = parts.anchor;
  const kernel = wasmKernelOf(opOf(anchor));
  const chain = chainExpr(g, parts);
  if (!kernel || !chain) return undefined;
  const inputIndex = new Map(g.inputs.map((v, i) => [v.name, i]));
  const pre = dequantizedWeights(ctx, parts, inputIndex);
  if (!pre) return undefined;
  // Slot -3 - j: the dequantized weight preTensors[j].
  const preTensors: Tensor[] = [];
  const slots = anchor.inputs.map((v) => {
    if (v === '') return -1;
    const t = pre.get(v);
    if (t) { preTensors.push(t); return -3 - (preTensors.length - 1); }
    return inputIndex.get(v) ?? -2;
  });
  if (slots.includes(-2)) return undefined;
  const valueAt = <T>(s: number, fromNode: (k: number) => T, fromPre: (t: Tensor) => T): T | undefined => (s <= -3 ? fromPre(preTensors[-3 - s]!) : s < 0 ? undefined : fromNode(s));
  const out = ctx.outputs[0]!;
  const anchorType: ValueType = { dtype: g.typeOf(anchor.outputs[0]!).dtype, shape: out.shape };
  const anchorRun = kernel.prepare({
    ...ctx,
    node: anchor,
    inputs: slots.map((s) => valueAt(s, (k) => ctx.inputs[k], (t) => ({ dtype: t.dtype, shape: t.shape }))),
    outputs: [anchorType],
    constant: (i) => valueAt(slots[i]!, (k) => ctx.constant(k), (t) => t),
  });
  if (!anchorRun) return undefined;
  const ew = prepareExpr(ctx, chain.expr, [anchorType, ...chain.extra.map((i) => ctx.inputs[i])], out.shape);
  if (!ew) return undefined;
  const n = sizeOf(out.shape as number[]);
  ctx.scratch(n * 4 + 64);
  return (rt, ins, addr) => {
    const extras = chain.extra.map((i) => ins[i]!);
    // The anchor must not overwrite a chain operand that shares the output's bytes.
    const overlaps = extras.some((t) => t.data.buffer === rt.f32.buffer && t.data.byteOffset < addr + n * 4 && addr < t.data.byteOffset + t.data.byteLength);
    const at = overlaps ? rt.stage(n * 4) : addr;
    anchorRun(rt, slots.map((s) => valueAt(s, (k) => ins[k], (t) => t)), at);
    ew(rt, [new Tensor('float32', out.shape as number[], new Float32Array(rt.f32.buffer, at, n)), ...extras], addr);
  };
}

/** Fused groups: elementwise, epilogue and (packed-QKV) attention kinds. */
const fusedKernel: WasmKernel = {
  prepare(ctx) {
    const kind = fusedKind(ctx.node);
    const g = ctx.node.attrs['graph'];
    if (!(g instanceof Graph)) return undefined;
    if (kind === 'epilogue') return prepareEpilogue(ctx, g);
    if (kind === 'attention') return prepareAttention(ctx, g);
    if (kind !== 'elementwise' || ctx.node.outputs.length !== 1) return undefined;
    let exprs: Expr[];
    try {
      exprs = fusedExprs(ctx.node);
    } catch (e) {
      if (e instanceof GraphError) return undefined;
      throw e;
    }
    return prepareExpr(ctx, exprs[0]!);
  },
};

let done = false;

/** Registers every wasm kernel (once). */
export function registerWasmKernels(): void {
  if (done) return;
  done = true;
  registerWasmKernel(OPS.MatMul, { prepare: prepareMatMul });
  registerWasmKernel(OPS.Gemm, { prepare: prepareGemm });
  // Depthwise Conv runs the direct kernel; any other Conv (undefined) goes to im2col + GEMM.
  registerWasmKernel(OPS.Conv, { prepare: (ctx) => prepareDepthwiseConv(ctx) ?? prepareConv(ctx) });
  registerWasmKernel(OPS.MaxPool, { prepare: prepareMaxPool });
  registerWasmKernel(OPS.AveragePool, { prepare: prepareAveragePool });
  registerWasmKernel(OPS.GlobalAveragePool, { prepare: prepareGlobalAveragePool });
  registerWasmKernel(OPS.Softmax, { prepare: prepareSoftmax });
  registerWasmKernel(OPS.LayerNormalization, { prepare: prepareLayerNorm });
  registerWasmKernel(OPS.ReduceSum, { prepare: prepareReduceLast(false) });
  registerWasmKernel(OPS.ReduceMean, { prepare: prepareReduceLast(true) });
  registerWasmKernel(OPS.Gather, { prepare: prepareGather });
  registerWasmKernel(OPS.Concat, { prepare: prepareConcat });
  setTrait(OPS.Concat, WASM_WRITE_INTO, concatWriteInto);
  registerWasmKernel(OPS.Fused, fusedKernel);
  for (const op of allOps()) if (op.expr && !wasmKernelOf(op)) registerWasmKernel(op, exprKernel);
}
