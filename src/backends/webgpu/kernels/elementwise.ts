/**
 * The one generic elementwise kernel: any op with an `expr` (unary, binary,
 * variadic, Where, Clip, Cast, ...) renders its scalar expression to WGSL over
 * broadcast inputs. Also used by the Fused elementwise kind (fused.ts).
 */
import { E, type Expr } from '../../../graph/expr.js';
import type { OpDef } from '../../../graph/op.js';
import { sizeOf } from '../../../graph/shape.js';
import type { Dispatch, GpuKernel, KernelContext } from '../kernel.js';
import { broadcastSplit } from '../chunk.js';
import { broadcastOffsets, exprPrelude, loadValue, renderExpr, ShaderBuilder, storeValue, valueType, LIGHT_PER_INVOCATION } from '../wgsl.js';

/**
 * A dispatch computing output `output` as `exprs` of the present inputs (`E.input(k)`
 * is the k-th present input, broadcast to the output shape).
 */
export function elementwiseDispatch(ctx: KernelContext, expr: Expr, label: string, output = 0): Dispatch {
  const present = ctx.inputs.map((t, k) => (t ? k : -1)).filter((k) => k >= 0);
  const sb = new ShaderBuilder(ctx);
  const names = present.map((k) => sb.input(k));
  const out = ctx.outputs[output]!;
  const y = sb.output(output);
  sb.fn(exprPrelude([expr]));
  const used = new Set<number>();
  const walk = (e: Expr): void => {
    if (e.kind === 'input') used.add(e.index);
    else if (e.kind === 'call') e.args.forEach(walk);
  };
  walk(expr);
  const shapes = present.map((k) => ctx.inputs[k]!.shape);
  return sb.linear(
    sizeOf(out.shape),
    (i) => {
      const { code, offsets } = broadcastOffsets(sb, i, shapes, out.shape);
      const lets = present
        .map((k, j) => (used.has(j) ? `  let v${j} = ${loadValue(ctx.inputs[k]!.dtype, `${names[j]}[${offsets[j]}]`)};` : ''))
        .filter((l) => l !== '');
      const value = renderExpr(expr, (j) => `v${j}`, ctx.f16);
      return [code, ...lets, `  ${y}[${i}] = ${storeValue(valueType(expr.dtype, ctx.f16), out.storage, value)};`].join('\n');
    },
    label,
    LIGHT_PER_INVOCATION,
  );
}

/** The kernel of an op that gives `expr`: inputs are positional (omitted optional ones are `undefined`). */
export function exprKernel(def: OpDef): GpuKernel {
  return {
    plan(ctx) {
      let k = 0;
      const xs = ctx.inputs.map((t) => (t ? E.input(k++, t.dtype) : undefined));
      const e = def.expr!(xs as Expr[], ctx.attrs as never, ctx.outputs[0]!.dtype);
      return { dispatches: [elementwiseDispatch(ctx, e, `${def.name}.elementwise`)] };
    },
    split: broadcastSplit,
  };
}
