/**
 * The epilogue hook of the matmul and conv shaders, on top of the WGSL helper
 * layer (wgsl.ts):
 *
 * - {@link Epilogue} is what the shaders call on every output element before the
 *   store: `epi(acc, row, col, o)` returns the stored value. {@link plainEpilogue}
 *   stores the accumulator; {@link exprEpilogue} renders a scalar expression
 *   (expr.ts, through the elementwise renderer `renderExpr`) whose leaf 0 is the
 *   accumulator and whose other leaves are node inputs read at the output
 *   element's broadcast offset (bias, residual, ...).
 * - {@link onceInputs} binds each node input once, as the epilogue's `input(k)`
 *   (with a vector element type where the kernel chose a vector form).
 * - {@link splitEpilogue} reads a Fused 'epilogue' sub-graph as its anchor and the
 *   chain's scalar expression.
 */
import { E, substitute, type Expr } from '../../graph/expr.js';
import type { Graph } from '../../graph/graph.js';
import { opContext, opOf } from '../../graph/infer.js';
import { DEQUANTIZE, RANGE_QUANTIZE } from '../../graph/load-fusion.js';
import { getTrait } from '../../graph/op.js';
import { epilogueParts } from '../../graph/ops/fused.js';
import { sizeOf, type ConcreteShape } from '../../graph/shape.js';
import { UnsupportedOpError } from '../../graph/errors.js';
import type { GpuStorage, KernelContext } from './kernel.js';
import { broadcastOffsets, exprPreludeParts, loadValue, renderExpr, type ArrayElement, type ShaderBuilder, storeValue, valueType } from './wgsl.js';

/** An epilogue: adds `fn epi(v: <acc>, row: u32, col: u32, o: u32) -> <out storage>` to a module. */
export interface Epilogue {
  /**
   * Declares `epi` (and anything it needs) in `sb`. `acc` is the accumulator type,
   * `input(k)` binds node input k once, and `value` is the WGSL expression (over
   * `v`, `row`, `col`) of the anchor's result in its dtype's value type.
   */
  declare(sb: ShaderBuilder, acc: string, input: (k: number) => string, value: string): void;
  /** Short label suffix for profiles. */
  readonly label: string;
}

/** The epilogue storing the accumulator converted to `out`'s storage. */
export function plainEpilogue(out: GpuStorage): Epilogue {
  return {
    label: '',
    declare(sb, acc, _input, value) {
      sb.fn(`fn epi(v: ${acc}, row: u32, col: u32, o: u32) -> ${out} { return ${out}(${value}); }`);
    },
  };
}

/**
 * An epilogue computing `expr` where `E.input(0)` is the accumulator (converted to
 * the anchor's value type) and `E.input(k + 1)` is node input `extra[k]`, broadcast
 * from its shape to `outShape` (read at the output element's offset `o`); inputs
 * after those are the WGSL values `kernelLeaves` (module-scope values the kernel
 * computed, e.g. a range quantization's scale).
 */
export function exprEpilogue(ctx: KernelContext, expr: Expr, anchorDtype: Expr['dtype'], extra: readonly number[], outShape: ConcreteShape, outStorage: GpuStorage, kernelLeaves: readonly string[] = []): Epilogue {
  return {
    label: '+epilogue',
    declare(sb, _acc, input, value) {
      const names = extra.map((k) => input(k));
      const shapes = extra.map((k) => ctx.inputs[k]!.shape);
      const { code, offsets } = broadcastOffsets(sb, 'o', shapes, outShape);
      const lets = names.map((n, j) => `  let v${j + 1} = ${n}[${offsets[j]}];`);
      const vt = valueType(anchorDtype, ctx.f16);
      const body = renderExpr(expr, (i) => (i === 0 ? 'v0' : i <= extra.length ? `v${i}` : kernelLeaves[i - extra.length - 1]!), ctx.f16);
      for (const part of exprPreludeParts([expr])) sb.fn(part);
      sb.fn(
        [
          `fn epi(v: ${_acc}, row: u32, col: u32, o: u32) -> ${outStorage} {`,
          code,
          `  let v0 = ${vt}(${value});`,
          ...lets,
          `  return ${storeValue(valueType(expr.dtype, ctx.f16), outStorage, body)};`,
          '}',
        ].join('\n'),
      );
    },
  };
}

/**
 * How a kernel loads an anchor operand that it computes instead of reading a buffer
 * (a Fused 'epilogue' group's {@link LoadPrologue}).
 */
export interface OperandLoad {
  /** WGSL of the operand's element at u32 index `i`, in its dtype's value type (binding inputs through `input`). */
  value(sb: ShaderBuilder, input: (k: number) => string, i: string): string;
  /**
   * WGSL run by every invocation of a workgroup of `wg` (a power of two) before the
   * first load, in uniform control flow (it may use barriers and `lid`); none for a
   * plain expression.
   */
  readonly prelude?: ((sb: ShaderBuilder, input: (k: number) => string, wg: number) => string) | undefined;
}

/**
 * The load of an operand that is an elementwise expression of node inputs (`E.input(j)`
 * = node input `leaves[j]`, read at the operand's index or at 0 when it has one element).
 */
export function exprLoad(ctx: KernelContext, expr: Expr, leaves: readonly number[]): OperandLoad {
  return {
    value(sb, input, i) {
      for (const part of exprPreludeParts([expr])) sb.fn(part);
      return renderExpr(expr, (j) => {
        const k = leaves[j]!;
        const t = ctx.inputs[k]!;
        return loadValue(t.dtype, `${input(k)}[${sizeOf(t.shape) === 1 ? '0u' : i}]`);
      }, ctx.f16);
    },
  };
}

/**
 * `input(k)` for a ShaderBuilder that binds each node input once, with element
 * type `elements[k]` where given (e.g. vec4 blocks for a vector matmul form).
 */
export function onceInputs(sb: ShaderBuilder, elements: ReadonlyMap<number, ArrayElement> = new Map()): (k: number) => string {
  const bound = new Map<number, string>();
  return (k) => {
    let n = bound.get(k);
    if (n === undefined) {
      n = sb.input(k, elements.get(k));
      bound.set(k, n);
    }
    return n;
  };
}

/**
 * How an anchor operand that a Fused 'epilogue' group computes on load is made
 * (src/graph/load-fusion.ts): an elementwise expression over node inputs, or an
 * output of the group's per-tensor range quantization, or a dequantization of
 * constant 8-bit weights (kept packed by the kernel).
 */
export type LoadPrologue =
  | {
      readonly kind: 'expr';
      /** `E.input(j)` is node input `leaves[j]`, read at the operand's element (or element 0 when it has one element). */
      readonly expr: Expr;
      readonly leaves: readonly number[];
    }
  | { readonly kind: 'range'; readonly output: 'quantized' | 'zeroPoint' }
  /** A dequantization (DEQUANTIZE trait) of node inputs: quantized values, scale, zero point (-1: none), scale axis. */
  | { readonly kind: 'dequantize'; readonly quantized: number; readonly scale: number; readonly zeroPoint: number; readonly axis: number };

/** A Fused 'epilogue' node split into its anchor and the chain's scalar expression. */
export interface EpilogueSplit {
  /** The anchor node (MatMul, Gemm, Conv, ...). */
  readonly anchor: Graph['topo'][number];
  /**
   * Node input index of each anchor input ('' → -1); an operand computed on load is
   * `inputs + j` for `prologues[j]` (`inputs` = the node's input count).
   */
  readonly anchorInputs: number[];
  /** The chain as one expression: `E.input(0)` the anchor's value, `E.input(k+1)` node input `extra[k]`, then the kernel values `kernelLeaves`. */
  readonly expr: Expr;
  /** Node inputs the chain reads besides the anchor value. */
  readonly extra: number[];
  /** Operands computed on load (see anchorInputs). */
  readonly prologues: readonly LoadPrologue[];
  /** Node input the range quantization reduces, when the group has one. */
  readonly range?: number | undefined;
  /** Values of the range quantization the chain reads (`E.input(extra.length + 1 + j)`). */
  readonly kernelLeaves: readonly ('scale' | 'zeroPoint')[];
}

/** `e` with every input index mapped through `f`. */
function mapInputs(e: Expr, f: (i: number) => number): Expr {
  switch (e.kind) {
    case 'input': return E.input(f(e.index), e.dtype);
    case 'const': return e;
    case 'call': return { ...e, args: e.args.map((a) => mapInputs(a, f)) };
  }
}

/** Kernel leaves are numbered from here while the chain is walked, then renumbered after the node inputs. */
const KERNEL_LEAF = 1 << 20;

/**
 * Splits a Fused epilogue sub-graph; throws UnsupportedOpError naming the node for
 * shapes it cannot handle. `part` restricts it to a part of the sub-graph: the
 * anchor given, the chain members given, and the value `last` they end in (used by
 * the attention kernel, which resolves the anchor's operands itself: those that are
 * not sub-graph inputs get index -1 instead of an error).
 */
export function splitEpilogue(node: string, g: Graph, part?: { readonly anchor: Graph['topo'][number]; readonly chain: readonly Graph['topo'][number][]; readonly last: string }): EpilogueSplit {
  const parts = part ? { prologue: [], anchor: part.anchor, chain: part.chain } : epilogueParts(g);
  if (!parts) throw new UnsupportedOpError([{ op: 'Fused(epilogue)', nodes: [node] }], 'no output-fusable anchor in the sub-graph');
  const { anchor, chain, prologue } = parts;
  const fail = (why: string, op = `Fused(epilogue:${anchor.op})`): never => { throw new UnsupportedOpError([{ op, nodes: [node] }], why); };
  const inputIndex = new Map(g.inputs.map((v, i) => [v.name, i]));
  const scalars = new Map<string, Expr>();
  for (const [n, t] of g.initializers) if (t.size === 1) scalars.set(n, E.const(t.data[0]!, t.dtype));
  const producer = new Map<string, Graph['topo'][number]>();
  for (const m of prologue) for (const o of m.outputs) if (o !== '') producer.set(o, m);
  // The range quantization of the prologue, if any, and which of its outputs is which.
  const rangeNode = prologue.find((m) => getTrait(opOf(m), RANGE_QUANTIZE));
  const rq = rangeNode ? getTrait(opOf(rangeNode), RANGE_QUANTIZE)! : undefined;
  const rangeRole = (v: string): 'quantized' | 'scale' | 'zeroPoint' | undefined => {
    if (!rangeNode || !rq || producer.get(v) !== rangeNode) return undefined;
    const k = rangeNode.outputs.indexOf(v);
    return k === rq.quantized ? 'quantized' : k === rq.scale ? 'scale' : k === rq.zeroPoint ? 'zeroPoint' : undefined;
  };
  let range: number | undefined;
  if (rangeNode) {
    range = inputIndex.get(rangeNode.inputs[0] ?? '');
    if (range === undefined) fail('the range quantization does not read a sub-graph input');
  }
  /** The expression of prologue value `v` over node inputs (collected in `leaves`). */
  const prologueExpr = (v: string, leaves: number[], env: Map<string, Expr>): Expr => {
    const known = env.get(v) ?? scalars.get(v);
    if (known) return known;
    const i = inputIndex.get(v);
    if (i !== undefined) {
      leaves.push(i);
      const x = E.input(leaves.length - 1, g.typeOf(v).dtype);
      env.set(v, x);
      return x;
    }
    const m = producer.get(v);
    const def = m && opOf(m);
    if (!m || !def?.expr || m.outputs.length !== 1) return fail(`operand '${v}' is computed by neither an elementwise member nor the range quantization`);
    const args = m.inputs.filter((w) => w !== '').map((w) => prologueExpr(w, leaves, env));
    const e = substitute(def.expr(args.map((a, k) => E.input(k, a.dtype)), opContext(def, m).attrs as never, g.typeOf(v).dtype), args);
    env.set(v, e);
    return e;
  };
  const prologues: LoadPrologue[] = [];
  const anchorInputs = anchor.inputs.map((v) => {
    if (v === '') return -1;
    const i = inputIndex.get(v);
    if (i !== undefined) return i;
    if (part) return -1;
    const role = rangeRole(v);
    if (role === 'scale') return fail(`anchor input '${v}' is the range quantization's scale`);
    const dq = producer.get(v);
    const dqt = dq && getTrait(opOf(dq), DEQUANTIZE);
    if (role) prologues.push({ kind: 'range', output: role });
    else if (dq && dqt) {
      const at = (slot: number): number => (dq.inputs[slot] ? inputIndex.get(dq.inputs[slot]!) ?? fail(`the dequantization '${dq.name}' reads a value that is not a sub-graph input`) : -1);
      const q = at(dqt.quantized);
      const axis = dqt.axisOf(dq, g.typeOf(dq.inputs[dqt.quantized]!).shape.length);
      if (q < 0 || axis === undefined) fail(`the dequantization '${dq.name}' is not per tensor or per axis`);
      prologues.push({ kind: 'dequantize', quantized: q, scale: at(dqt.scale), zeroPoint: at(dqt.zeroPoint), axis: axis! });
    } else if (producer.has(v)) {
      const leaves: number[] = [];
      const expr = prologueExpr(v, leaves, new Map());
      prologues.push({ kind: 'expr', expr, leaves });
    } else fail(`anchor input '${v}' is not a sub-graph input`);
    return g.inputs.length + prologues.length - 1;
  });
  const extra: number[] = [];
  const kernelLeaves: ('scale' | 'zeroPoint')[] = [];
  const env = new Map<string, Expr>(scalars);
  env.set(anchor.outputs[0]!, E.input(0, g.typeOf(anchor.outputs[0]!).dtype));
  const leaf = (v: string): Expr => {
    const e = env.get(v);
    if (e) return e;
    const role = rangeRole(v);
    let x: Expr;
    if (role === 'scale' || role === 'zeroPoint') {
      kernelLeaves.push(role);
      x = E.input(KERNEL_LEAF + kernelLeaves.length - 1, g.typeOf(v).dtype);
    } else {
      const i = inputIndex.get(v);
      if (i === undefined) return fail(`operand '${v}' is neither a sub-graph input nor a scalar constant`, 'Fused(epilogue)');
      extra.push(i);
      x = E.input(extra.length, g.typeOf(v).dtype);
    }
    env.set(v, x);
    return x;
  };
  for (const m of chain) {
    const def = opOf(m);
    if (!def.expr) fail('chain member has no scalar expression', `Fused(epilogue:${m.op})`);
    const args = m.inputs.filter((v) => v !== '').map(leaf);
    const raw = def.expr!(args.map((a, i) => E.input(i, a.dtype)), opContext(def, m).attrs as never, g.typeOf(m.outputs[0]!).dtype);
    env.set(m.outputs[0]!, substitute(raw, args));
  }
  const last = part ? part.last : g.outputs[0]!.name;
  const expr = mapInputs(env.get(last)!, (i) => (i >= KERNEL_LEAF ? i - KERNEL_LEAF + extra.length + 1 : i));
  return { anchor, anchorInputs, expr, extra, prologues, range, kernelLeaves };
}
