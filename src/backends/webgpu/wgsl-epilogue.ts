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
import type { ConcreteShape } from '../../graph/shape.js';
import { UnsupportedOpError } from '../../graph/errors.js';
import type { GpuStorage, KernelContext } from './kernel.js';
import { broadcastOffsets, exprPrelude, renderExpr, type ArrayElement, type ShaderBuilder, storeValue, valueType } from './wgsl.js';

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
 * from its shape to `outShape` (read at the output element's offset `o`).
 */
export function exprEpilogue(ctx: KernelContext, expr: Expr, anchorDtype: Expr['dtype'], extra: readonly number[], outShape: ConcreteShape, outStorage: GpuStorage): Epilogue {
  return {
    label: '+epilogue',
    declare(sb, _acc, input, value) {
      const names = extra.map((k) => input(k));
      const shapes = extra.map((k) => ctx.inputs[k]!.shape);
      const { code, offsets } = broadcastOffsets(sb, 'o', shapes, outShape);
      const lets = names.map((n, j) => `  let v${j + 1} = ${n}[${offsets[j]}];`);
      const vt = valueType(anchorDtype, ctx.f16);
      const body = renderExpr(expr, (i) => (i === 0 ? 'v0' : `v${i}`), ctx.f16);
      sb.fn(exprPrelude([expr]));
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

/** A Fused 'epilogue' node split into its anchor and the chain's scalar expression. */
export interface EpilogueSplit {
  /** The anchor node (MatMul, Gemm, Conv, ...). */
  readonly anchor: Graph['topo'][number];
  /** Node input index of each anchor input ('' → -1). */
  readonly anchorInputs: number[];
  /** The chain as one expression: `E.input(0)` the anchor's value, `E.input(k+1)` node input `extra[k]`. */
  readonly expr: Expr;
  /** Node inputs the chain reads besides the anchor value. */
  readonly extra: number[];
}

/**
 * Splits a Fused epilogue sub-graph; throws UnsupportedOpError naming the node for
 * shapes it cannot handle. `part` restricts it to a part of the sub-graph: the
 * anchor given, the chain members given, and the value `last` they end in (used by
 * the attention kernel, which resolves the anchor's operands itself: those that are
 * not sub-graph inputs get index -1 instead of an error).
 */
export function splitEpilogue(node: string, g: Graph, part?: { readonly anchor: Graph['topo'][number]; readonly chain: readonly Graph['topo'][number][]; readonly last: string }): EpilogueSplit {
  const anchor = part ? part.anchor : g.topo[0];
  const chain = part ? part.chain : g.topo.slice(1);
  if (!anchor) throw new UnsupportedOpError([{ op: 'Fused(epilogue)', nodes: [node] }], 'empty sub-graph');
  const inputIndex = new Map(g.inputs.map((v, i) => [v.name, i]));
  const anchorInputs = anchor.inputs.map((v) => {
    if (v === '') return -1;
    const i = inputIndex.get(v);
    if (i === undefined && part) return -1;
    if (i === undefined) throw new UnsupportedOpError([{ op: `Fused(epilogue:${anchor.op})`, nodes: [node] }], `anchor input '${v}' is not a sub-graph input`);
    return i;
  });
  const extra: number[] = [];
  const env = new Map<string, Expr>();
  env.set(anchor.outputs[0]!, E.input(0, g.typeOf(anchor.outputs[0]!).dtype));
  for (const [n, t] of g.initializers) {
    if (t.size === 1) env.set(n, E.const(t.data[0]!, t.dtype));
  }
  const leaf = (v: string): Expr => {
    const e = env.get(v);
    if (e) return e;
    const i = inputIndex.get(v);
    if (i === undefined) throw new UnsupportedOpError([{ op: 'Fused(epilogue)', nodes: [node] }], `operand '${v}' is neither a sub-graph input nor a scalar constant`);
    extra.push(i);
    const x = E.input(extra.length, g.typeOf(v).dtype);
    env.set(v, x);
    return x;
  };
  for (const m of chain) {
    const def = opOf(m);
    if (!def.expr) throw new UnsupportedOpError([{ op: `Fused(epilogue:${m.op})`, nodes: [node] }], 'chain member has no scalar expression');
    const args = m.inputs.filter((v) => v !== '').map(leaf);
    const raw = def.expr(args.map((a, i) => E.input(i, a.dtype)), opContext(def, m).attrs as never, g.typeOf(m.outputs[0]!).dtype);
    env.set(m.outputs[0]!, substitute(raw, args));
  }
  const last = part ? part.last : g.outputs[0]!.name;
  return { anchor, anchorInputs, expr: env.get(last)!, extra };
}
