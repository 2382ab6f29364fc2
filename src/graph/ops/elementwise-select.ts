/** Op family: selection and conversion — Where, Clip, Cast, CastLike. */
import { gradWhere, sumTo } from './grad-util.js';
import { attr } from '../attrs.js';
import { ALL, NUMERIC, ONNX_CODE_DTYPES, dtypeBits, dtypeRange, expectDType, floatFormatOf, isFloat, isInteger, isUnsigned, type DType } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { compileExprJs, E, type Expr } from '../expr.js';
import { defineOp, setTrait, type InferInput } from '../op.js';
import { mapBroadcast } from '../reference.js';
import { broadcastShapes, formatShape, shapeSize } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { expectSameDType } from './elementwise-util.js';
import { declareGradient } from '../gradient.js';
import { F, TO_FORMAT } from './scalar-fns.js';
import { SHAPE_VALUE } from '../shape-values.js';
import { castStrings } from './string-cast.js';

/** ONNX TensorProto.DataType codes → Kiln dtypes. */
export const ONNX_DTYPE_CODES: Readonly<Record<number, DType>> = ONNX_CODE_DTYPES;

/** Where: X where condition is true, else Y (all three broadcast). */
export const Where = defineOp({
  name: 'Where',
  inputs: ['condition', 'X', 'Y'],
  outputs: ['output'],
  attrs: {},
  category: 'broadcast',
  doc: 'Selects from X where condition holds, else from Y.',
  infer([c, x, y], ctx) {
    expectDType(c!.dtype, ['bool'], ctx.node, 'condition');
    expectDType(x!.dtype, ALL, ctx.node, 'X');
    expectSameDType(x!, y!, ctx.node, 'Where', 'X and Y');
    return [{ dtype: x!.dtype, shape: broadcastShapes([c!.shape, x!.shape, y!.shape], ctx.node) }];
  },
  expr: ([c, x, y], _a, out) => E.call(F.where, [c!, x!, y!], out),
});
declareGradient(Where, ({ b, inputs: [c, x, y], grads: [g], wants }) => [
  undefined,
  wants(1) ? sumTo(b, gradWhere(b, c!, g!), x!) : undefined,
  wants(2) ? sumTo(b, gradWhere(b, b.Not([c!]), g!), y!) : undefined,
]);

/**
 * Evaluates an expression over positional optional inputs: `expr` receives
 * `undefined` for omitted ones, and input indices count only the present tensors.
 */
function runPositional(
  inputs: readonly (Tensor | undefined)[],
  out: DType,
  node: string,
  expr: (xs: readonly (Expr | undefined)[]) => Expr,
): Tensor {
  let k = 0;
  const xs = inputs.map((t) => (t ? E.input(k++, t.dtype) : undefined));
  const present = inputs.filter((t): t is Tensor => t !== undefined);
  return mapBroadcast(present, out, compileExprJs(expr(xs)), node);
}

function checkBound(b: InferInput | undefined, x: InferInput, node: string, what: string): void {
  if (!b) return;
  expectSameDType(x, b, node, 'Clip', `input and ${what}`);
  const n = shapeSize(b.shape);
  if (n !== undefined && n !== 1) throw new ShapeError(`${node}: Clip ${what} must be a scalar, got shape ${formatShape(b.shape)}`, node);
}

const clipAttrs = { min: attr.optFloat(), max: attr.optFloat() };
type ClipAttrs = { readonly min: number | undefined; readonly max: number | undefined };

/**
 * Clip's expression. `xs` is positional: [input, min?, max?], `undefined` where an
 * input is omitted; the opset-6 `min`/`max` attributes are used when the inputs are absent.
 */
function clipExpr(xs: readonly (Expr | undefined)[], a: ClipAttrs, out: DType): Expr {
  const lo = xs[1] ?? (a.min !== undefined ? E.const(a.min, out) : undefined);
  const hi = xs[2] ?? (a.max !== undefined ? E.const(a.max, out) : undefined);
  const withLo = lo ? E.call(F.max, [xs[0]!, lo], out) : xs[0]!;
  return hi ? E.call(F.min, [withLo, hi], out) : withLo;
}

/** Clip: min(max(x, min), max); bounds are optional scalar inputs (opset ≥ 11) or attributes (opset 6). */
export const Clip = defineOp({
  name: 'Clip',
  inputs: ['input', 'min?', 'max?'],
  outputs: ['output'],
  attrs: clipAttrs,
  category: 'broadcast',
  doc: 'Clamps to [min, max]; a missing bound is no bound.',
  infer([x, lo, hi], ctx) {
    expectDType(x!.dtype, NUMERIC, ctx.node, 'input');
    checkBound(lo, x!, ctx.node, 'min');
    checkBound(hi, x!, ctx.node, 'max');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu: (inputs, ctx) => [runPositional(inputs, ctx.outputs[0]!.dtype, ctx.node, (xs) => clipExpr(xs, ctx.attrs, ctx.outputs[0]!.dtype))],
  expr: (xs, a, out) => clipExpr(xs, a, out),
});
// The gradient passes where the input was not clipped (output equals input); none reaches the bounds.
declareGradient(Clip, ({ b, inputs: [x], outputs: [y], grads: [g] }) => [gradWhere(b, b.Equal([x!, y!]), g!)]);

/** min(max(x, lo), hi) in x's dtype. */
function clampExpr(x: Expr, lo: number | undefined, hi: number): Expr {
  const low = lo === undefined ? x : E.call(F.max, [x, E.const(lo, x.dtype)]);
  return E.call(F.min, [low, E.const(hi, x.dtype)]);
}

/** x clamped to [-m, m], NaN kept (spelled with isnan: a backend's min/max may drop NaN). */
function clampKeepNan(x: Expr, m: number): Expr {
  return E.call(F.where, [E.call(F.isnan, [x], 'bool'), x, clampExpr(x, -m, m)], x.dtype);
}

/**
 * Cast's expression (opset 19+ rules): bfloat16/float8 outputs round to nearest
 * even through their rounding function, float8 with `saturate` after clamping to
 * ±the largest finite value; int4/uint4 outputs round floats half to even and clamp
 * to the 4-bit range (integers clamp); other conversions truncate floats toward zero
 * for integer outputs and wrap integers.
 */
function castExpr(x: Expr, out: DType, saturate: boolean): Expr {
  const fmt = floatFormatOf(out);
  const toFmt = TO_FORMAT[out];
  if (fmt && toFmt) {
    let v = isFloat(x.dtype) ? x : E.call(F.cast, [x], 'float32');
    if (saturate && out !== 'bfloat16') v = clampKeepNan(v, fmt.max);
    return E.call(toFmt, [v], out);
  }
  const { min, max } = dtypeRange(out);
  if (dtypeBits(out) === 4) {
    const v = isFloat(x.dtype) ? E.call(F.round, [x]) : x;
    const clamped = clampExpr(v, isUnsigned(x.dtype) || x.dtype === 'bool' ? undefined : min, max);
    return E.call(isFloat(x.dtype) ? F.castint : F.cast, [clamped], out);
  }
  const f = out === 'bool' ? F.tobool : isInteger(out) && isFloat(x.dtype) ? F.castint : F.cast;
  return E.call(f, [x], out);
}

/** Cast: converts to the dtype given by `to` (an ONNX TensorProto.DataType code). */
export const Cast = defineOp({
  name: 'Cast',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { to: attr.int(), saturate: attr.int(1) },
  category: 'elementwise',
  doc: 'Converts the element type (floats truncate toward zero; NaN → 0; nonzero → true).',
  infer([x], ctx) {
    expectDType(x!.dtype, [...ALL, 'string'], ctx.node, 'input');
    const to = ONNX_DTYPE_CODES[ctx.attrs.to];
    if (!to) throw new AttributeError(`${ctx.node}: Cast attribute 'to' = ${ctx.attrs.to} is not a supported ONNX data type`, ctx.node);
    return [{ dtype: to, shape: x!.shape }];
  },
  cpu: ([x], ctx) => [castStrings(x!, ctx.outputs[0]!.dtype, ctx.node) ?? runPositional([x], ctx.outputs[0]!.dtype, ctx.node, ([e]) => castExpr(e!, ctx.outputs[0]!.dtype, ctx.attrs.saturate !== 0))],
  expr: ([x], a, out) => castExpr(x!, out, a.saturate !== 0),
});
declareGradient(Cast, ({ b, inputs: [x], grads: [g] }) => [b.CastLike([g!, x!])]);

/** CastLike: converts `input` to the dtype of `target_type` (whose shape and data are ignored). */
export const CastLike = defineOp({
  name: 'CastLike',
  inputs: ['input', 'target_type'],
  outputs: ['output'],
  attrs: { saturate: attr.int(1) },
  category: 'elementwise',
  doc: 'Converts the element type to that of target_type.',
  infer([x, t], ctx) {
    expectDType(x!.dtype, [...ALL, 'string'], ctx.node, 'input');
    return [{ dtype: t!.dtype, shape: x!.shape }];
  },
  cpu: ([x], ctx) => [castStrings(x!, ctx.outputs[0]!.dtype, ctx.node) ?? runPositional([x], ctx.outputs[0]!.dtype, ctx.node, ([e]) => castExpr(e!, ctx.outputs[0]!.dtype, ctx.attrs.saturate !== 0))],
  expr: ([x], a, out) => castExpr(x!, out, a.saturate !== 0),
});
declareGradient(CastLike, ({ b, inputs: [x], grads: [g] }) => [b.CastLike([g!, x!]), undefined]);

/** Selection and conversion ops. */
export const selectOps = { Where, Clip, Cast, CastLike } as const;

// Shape values (shape-values.ts): a cast between int32 and int64 keeps the dims.
setTrait(Cast, SHAPE_VALUE, ([v], [x]) => (x && (x.dtype === 'int64' || x.dtype === 'int32') ? v : undefined));
