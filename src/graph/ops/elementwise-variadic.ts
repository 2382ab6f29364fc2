/** Op family: variadic broadcasting ops Sum, Mean, Max, Min (1..N inputs, folded pairwise). */
import { FLOATS, NUMERIC, expectDType, type DType } from '../dtype.js';
import { DTypeError, GraphError } from '../errors.js';
import { E, type Expr, type ScalarFn } from '../expr.js';
import { defineOp, type OpDef } from '../op.js';
import { broadcastShapes } from '../shape.js';
import { F } from './scalar-fns.js';
import { declareGradient, type GradientFn } from '../gradient.js';
import { gradWhere, scalar, sumTo } from './grad-util.js';

/** Inputs up to which the fold runs left to right (ONNX's order). */
const LEFT_FOLD_MAX = 16;

/** Folds `xs` left to right with the binary function `f`. */
export function foldExpr(f: ScalarFn, xs: readonly Expr[], out: DType): Expr {
  if (xs.length <= LEFT_FOLD_MAX) return xs.slice(1).reduce((acc, x) => E.call(f, [acc, x], out), xs[0]!);
  // Many inputs: a balanced tree keeps the expression depth logarithmic (a left fold of
  // 50 000 inputs would overflow the stack when compiled or rendered).
  const mid = xs.length >> 1;
  return E.call(f, [foldExpr(f, xs.slice(0, mid), out), foldExpr(f, xs.slice(mid), out)], out);
}

function variadic(
  name: string,
  outName: string,
  types: readonly DType[],
  doc: string,
  expr: (xs: readonly Expr[], out: DType) => Expr,
): OpDef<Record<string, never>, false> {
  return defineOp({
    name,
    inputs: ['...data_0'],
    outputs: [outName],
    attrs: {},
    category: 'broadcast',
    doc,
    infer(inputs, ctx) {
      if (inputs.length === 0) throw new GraphError(`${ctx.node}: ${name} needs at least one input`, ctx.node);
      const xs = inputs.map((x, i) => {
        if (!x) throw new GraphError(`${ctx.node}: ${name} input #${i} is missing`, ctx.node);
        return x;
      });
      const d = xs[0]!.dtype;
      expectDType(d, types, ctx.node, 'data_0');
      xs.forEach((x, i) => {
        if (x.dtype !== d) throw new DTypeError(`${ctx.node}: ${name} input #${i} has dtype ${x.dtype}, input #0 has ${d}`, ctx.node);
      });
      return [{ dtype: d, shape: broadcastShapes(xs.map((x) => x.shape), ctx.node) }];
    },
    expr: (xs, _a, out) => expr(xs, out),
  });
}

/** Max/Min: the gradient flows to every input equal to the result (each of tied inputs gets all of it). */
const extremumGradient: GradientFn<unknown> = ({ b, inputs, outputs: [y], grads: [g], wants }) =>
  inputs.map((x, i) => (wants(i) ? sumTo(b, gradWhere(b, b.Equal([x!, y!]), g!), x!) : undefined));

/** Sum of all inputs. */
export const Sum = variadic('Sum', 'sum', FLOATS, 'Elementwise sum of N inputs.', (xs, out) => foldExpr(F.add, xs, out));
declareGradient(Sum, ({ b, inputs, grads: [g], wants }) => inputs.map((x, i) => (wants(i) ? sumTo(b, g!, x!) : undefined)));
/** Mean of all inputs. */
export const Mean = variadic('Mean', 'mean', FLOATS, 'Elementwise mean of N inputs.',
  (xs, out) => E.call(F.div, [foldExpr(F.add, xs, out), E.const(xs.length, out)], out));
declareGradient(Mean, ({ b, inputs, grads: [g], wants }) => inputs.map((x, i) => (wants(i) ? sumTo(b, b.Div([g!, scalar(b, inputs.length, g!)]), x!) : undefined)));
/** Max of all inputs (NaN propagates). */
export const Max = variadic('Max', 'max', NUMERIC, 'Elementwise maximum of N inputs.', (xs, out) => foldExpr(F.max, xs, out));
declareGradient(Max, extremumGradient);
/** Min of all inputs (NaN propagates). */
export const Min = variadic('Min', 'min', NUMERIC, 'Elementwise minimum of N inputs.', (xs, out) => foldExpr(F.min, xs, out));
declareGradient(Min, extremumGradient);

/** Variadic ops. */
export const variadicOps = { Sum, Mean, Max, Min } as const;
