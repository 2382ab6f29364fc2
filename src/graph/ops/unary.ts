/** Op family: unary math and activations (elementwise). */
import { declareGradient } from '../gradient.js';
import { FLOATS, NUMERIC, INTS, type DType } from '../dtype.js';
import { E } from '../expr.js';
import { attr } from '../attrs.js';
import { activationOps } from './unary-activation.js';
import { unaryFn, unaryOp } from './elementwise-util.js';
import { F } from './scalar-fns.js';
import { scalar as k, unaryGrad, zerosLike } from './grad-util.js';

/** Signed integers and floats (Neg, Sign of signed values). */
export const SIGNED: readonly DType[] = [...FLOATS, 'int8', 'int16', 'int32', 'int64'];

/** Abs: |x|. */
export const Abs = unaryFn('Abs', F.abs, NUMERIC, 'Absolute value.');
declareGradient(Abs, unaryGrad((b, x, _y, g) => b.Mul([g, b.Sign([x])])));
/** Neg: −x. */
export const Neg = unaryFn('Neg', F.neg, SIGNED, 'Negation.');
declareGradient(Neg, unaryGrad((b, _x, _y, g) => b.Neg([g])));
/** Sign: −1, 0 or 1 (NaN stays NaN). */
export const Sign = unaryFn('Sign', F.sign, NUMERIC, 'Sign of each element.');
declareGradient(Sign, unaryGrad((b, x) => zerosLike(b, x)));
/** Reciprocal: 1/x. */
export const Reciprocal = unaryFn('Reciprocal', F.reciprocal, FLOATS, 'Reciprocal 1/x.');
declareGradient(Reciprocal, unaryGrad((b, _x, y, g) => b.Neg([b.Mul([g, b.Mul([y, y])])])));
/** Floor. */
export const Floor = unaryFn('Floor', F.floor, FLOATS, 'Largest integer ≤ x.');
declareGradient(Floor, unaryGrad((b, x) => zerosLike(b, x)));
/** Ceil. */
export const Ceil = unaryFn('Ceil', F.ceil, FLOATS, 'Smallest integer ≥ x.');
declareGradient(Ceil, unaryGrad((b, x) => zerosLike(b, x)));
/** Round: to nearest integer, ties to even. */
export const Round = unaryFn('Round', F.round, FLOATS, 'Rounds half to even.');
declareGradient(Round, unaryGrad((b, x) => zerosLike(b, x)));
/** Sqrt. */
export const Sqrt = unaryFn('Sqrt', F.sqrt, FLOATS, 'Square root (NaN below 0).');
declareGradient(Sqrt, unaryGrad((b, _x, y, g) => b.Div([g, b.Mul([y, k(b, 2, y)])])));
/** Exp. */
export const Exp = unaryFn('Exp', F.exp, FLOATS, 'e^x.');
declareGradient(Exp, unaryGrad((b, _x, y, g) => b.Mul([g, y])));
/** Log: natural logarithm. */
export const Log = unaryFn('Log', F.log, FLOATS, 'Natural logarithm.');
declareGradient(Log, unaryGrad((b, x, _y, g) => b.Div([g, x])));
/** Sin. */
export const Sin = unaryFn('Sin', F.sin, FLOATS, 'Sine.');
declareGradient(Sin, unaryGrad((b, x, _y, g) => b.Mul([g, b.Cos([x])])));
/** Cos. */
export const Cos = unaryFn('Cos', F.cos, FLOATS, 'Cosine.');
declareGradient(Cos, unaryGrad((b, x, _y, g) => b.Neg([b.Mul([g, b.Sin([x])])])));
/** Tan. */
export const Tan = unaryFn('Tan', F.tan, FLOATS, 'Tangent.');
declareGradient(Tan, unaryGrad((b, _x, y, g) => b.Mul([g, b.Add([k(b, 1, y), b.Mul([y, y])])])));
/** Asin. */
export const Asin = unaryFn('Asin', F.asin, FLOATS, 'Arcsine.');
declareGradient(Asin, unaryGrad((b, x, _y, g) => b.Div([g, b.Sqrt([b.Sub([k(b, 1, x), b.Mul([x, x])])])])));
/** Acos. */
export const Acos = unaryFn('Acos', F.acos, FLOATS, 'Arccosine.');
declareGradient(Acos, unaryGrad((b, x, _y, g) => b.Neg([b.Div([g, b.Sqrt([b.Sub([k(b, 1, x), b.Mul([x, x])])])])])));
/** Atan. */
export const Atan = unaryFn('Atan', F.atan, FLOATS, 'Arctangent.');
declareGradient(Atan, unaryGrad((b, x, _y, g) => b.Div([g, b.Add([k(b, 1, x), b.Mul([x, x])])])));
/** Sinh. */
export const Sinh = unaryFn('Sinh', F.sinh, FLOATS, 'Hyperbolic sine.');
declareGradient(Sinh, unaryGrad((b, x, _y, g) => b.Mul([g, b.Cosh([x])])));
/** Cosh. */
export const Cosh = unaryFn('Cosh', F.cosh, FLOATS, 'Hyperbolic cosine.');
declareGradient(Cosh, unaryGrad((b, x, _y, g) => b.Mul([g, b.Sinh([x])])));
/** Asinh. */
export const Asinh = unaryFn('Asinh', F.asinh, FLOATS, 'Inverse hyperbolic sine.');
declareGradient(Asinh, unaryGrad((b, x, _y, g) => b.Div([g, b.Sqrt([b.Add([b.Mul([x, x]), k(b, 1, x)])])])));
/** Acosh. */
export const Acosh = unaryFn('Acosh', F.acosh, FLOATS, 'Inverse hyperbolic cosine.');
declareGradient(Acosh, unaryGrad((b, x, _y, g) => b.Div([g, b.Sqrt([b.Sub([b.Mul([x, x]), k(b, 1, x)])])])));
/** Atanh. */
export const Atanh = unaryFn('Atanh', F.atanh, FLOATS, 'Inverse hyperbolic tangent.');
declareGradient(Atanh, unaryGrad((b, x, _y, g) => b.Div([g, b.Sub([k(b, 1, x), b.Mul([x, x])])])));
/** Erf: the error function. */
export const Erf = unaryFn('Erf', F.erf, NUMERIC, 'Error function.');
declareGradient(Erf, unaryGrad((b, x, _y, g) => b.Mul([g, b.Mul([k(b, 2 / Math.sqrt(Math.PI), x), b.Exp([b.Neg([b.Mul([x, x])])])])])));
/** IsNaN → bool. */
export const IsNaN = unaryFn('IsNaN', F.isnan, FLOATS, 'True where x is NaN.', 'bool');
/** Not: logical negation of a bool tensor. */
export const Not = unaryFn('Not', F.not, ['bool'], 'Logical not.');
/** BitwiseNot: two's complement bit flip of an integer tensor. */
export const BitwiseNot = unaryOp({
  name: 'BitwiseNot',
  doc: 'Bitwise complement.',
  types: INTS,
  attrs: {},
  expr: (x, _a, out) => E.call(out === 'uint64' ? F.bitnotU64 : F.bitnot, [x], out),
});

const flag = (v: number): string | undefined => (v === 0 || v === 1 ? undefined : 'must be 0 or 1');
/** IsInf → bool; `detect_negative` / `detect_positive` choose which infinities count. */
export const IsInf = unaryOp({
  name: 'IsInf',
  doc: 'True where x is infinite (of the selected signs).',
  types: FLOATS,
  out: 'bool',
  attrs: { detect_negative: attr.int(1, flag), detect_positive: attr.int(1, flag) },
  expr: (x, a, out) => {
    const fns = [[undefined, F.isposinf], [F.isneginf, F.isinf]] as const;
    const f = fns[a.detect_negative]?.[a.detect_positive];
    return f ? E.call(f, [x], out) : E.const(0, out);
  },
});

/** Unary ops. */
export const unaryOps = {
  Abs, Neg, Sign, Reciprocal, Floor, Ceil, Round, Sqrt, Exp, Log,
  Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh,
  Erf, IsNaN, IsInf, Not, BitwiseNot,
  ...activationOps,
} as const;
