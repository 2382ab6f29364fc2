/** Op family: broadcasting binary arithmetic, comparisons and logic (plus the variadic and selection ops). */
import { attr } from '../attrs.js';
import { declareGradient } from '../gradient.js';
import { FLOATS, INTS, NUMERIC, expectDType, isInteger, type DType } from '../dtype.js';
import { E } from '../expr.js';
import { defineOp } from '../op.js';
import { broadcastShapes } from '../shape.js';
import { binaryFn, binaryOp } from './elementwise-util.js';
import { selectOps } from './elementwise-select.js';
import { variadicOps } from './elementwise-variadic.js';
import { F } from './scalar-fns.js';
import { mapStrings } from './string-util.js';
import { gradWhere, scalar as k, sumTo } from './grad-util.js';

const UNSIGNED: readonly DType[] = ['uint8', 'uint16', 'uint32', 'uint64'];
const BOOL: readonly DType[] = ['bool'];

/** Add: A + B. */
export const Add = binaryFn('Add', F.add, NUMERIC, 'Elementwise sum with broadcasting.');
declareGradient(Add, ({ b, inputs: [x, y], grads: [g], wants }) => [wants(0) ? sumTo(b, g!, x!) : undefined, wants(1) ? sumTo(b, g!, y!) : undefined]);
/** Sub: A − B. */
export const Sub = binaryFn('Sub', F.sub, NUMERIC, 'Elementwise difference with broadcasting.');
declareGradient(Sub, ({ b, inputs: [x, y], grads: [g], wants }) => [wants(0) ? sumTo(b, g!, x!) : undefined, wants(1) ? sumTo(b, b.Neg([g!]), y!) : undefined]);
/** Mul: A · B (32-bit integers wrap exactly). */
export const Mul = binaryOp({
  name: 'Mul', doc: 'Elementwise product with broadcasting.', types: NUMERIC, attrs: {},
  expr: (a, b, _s, out) => E.call(out === 'int32' || out === 'uint32' ? F.imul : F.mul, [a, b], out),
});
declareGradient(Mul, ({ b, inputs: [x, y], grads: [g], wants }) => [
  wants(0) ? sumTo(b, b.Mul([g!, y!]), x!) : undefined,
  wants(1) ? sumTo(b, b.Mul([g!, x!]), y!) : undefined,
]);
/** Div: A / B; integer division truncates toward zero (as ONNX Runtime). */
export const Div = binaryOp({
  name: 'Div', doc: 'Elementwise quotient with broadcasting; integers truncate.', types: NUMERIC, attrs: {},
  expr: (a, b, _s, out) => E.call(isInteger(out) ? F.idiv : F.div, [a, b], out),
});
declareGradient(Div, ({ b, inputs: [x, y], outputs: [z], grads: [g], wants }) => [
  wants(0) ? sumTo(b, b.Div([g!, y!]), x!) : undefined,
  wants(1) ? sumTo(b, b.Neg([b.Div([b.Mul([g!, z!]), y!])]), y!) : undefined,
]);
/** Mod: fmod=0 gives the sign of the divisor (Python/numpy), fmod=1 the sign of the dividend (C fmod). */
export const Mod = binaryOp({
  name: 'Mod', doc: 'Elementwise remainder.', types: NUMERIC,
  attrs: { fmod: attr.int(0, (v) => (v === 0 || v === 1 ? undefined : 'must be 0 or 1')) },
  expr: (a, b, s, out) => E.call(s.fmod ? (isInteger(out) ? F.ifmod : F.fmod) : F.pymod, [a, b], out),
});
/** BitShift: LEFT or RIGHT shift of unsigned integers. */
export const BitShift = binaryOp({
  name: 'BitShift', doc: 'Bit shift of unsigned integers.', types: UNSIGNED,
  attrs: { direction: attr.string<'LEFT' | 'RIGHT'>(undefined, ['LEFT', 'RIGHT']) },
  expr: (a, b, s, out) => E.call(s.direction === 'LEFT' ? F.shl : F.shr, [a, b], out),
});
/** BitwiseAnd. */
export const BitwiseAnd = binaryFn('BitwiseAnd', F.bitand, INTS, 'Bitwise and.');
/** BitwiseOr. */
export const BitwiseOr = binaryFn('BitwiseOr', F.bitor, INTS, 'Bitwise or.');
/** BitwiseXor. */
export const BitwiseXor = binaryFn('BitwiseXor', F.bitxor, INTS, 'Bitwise exclusive or.');
/** Equal → bool. */
export const Equal = binaryOp({
  name: 'Equal', doc: 'A == B (numbers, bools or strings).', types: [...NUMERIC, 'bool', 'string'], attrs: {}, out: 'bool',
  expr: (a, b, _s, o) => E.call(F.eq, [a, b], o),
  cpuOther: (a, b, node) => (a.strings ? mapStrings([a, b], 'bool', ([x, y]) => (x === y ? 1 : 0), node) : undefined),
});
/** Less → bool. */
export const Less = binaryFn('Less', F.lt, NUMERIC, 'A < B.', 'bool');
/** LessOrEqual → bool. */
export const LessOrEqual = binaryFn('LessOrEqual', F.le, NUMERIC, 'A <= B.', 'bool');
/** Greater → bool. */
export const Greater = binaryFn('Greater', F.gt, NUMERIC, 'A > B.', 'bool');
/** GreaterOrEqual → bool. */
export const GreaterOrEqual = binaryFn('GreaterOrEqual', F.ge, NUMERIC, 'A >= B.', 'bool');
/** And: logical and of bools. */
export const And = binaryFn('And', F.and, BOOL, 'Logical and.');
/** Or: logical or of bools. */
export const Or = binaryFn('Or', F.or, BOOL, 'Logical or.');
/** Xor: logical exclusive or of bools. */
export const Xor = binaryFn('Xor', F.xor, BOOL, 'Logical exclusive or.');

/** Pow: X^Y; the exponent may have any numeric dtype, the result has X's dtype. */
export const Pow = defineOp({
  name: 'Pow',
  inputs: ['X', 'Y'],
  outputs: ['Z'],
  attrs: {},
  category: 'broadcast',
  doc: 'Elementwise power with broadcasting.',
  infer([x, y], ctx) {
    expectDType(x!.dtype, [...FLOATS, 'int32', 'int64'], ctx.node, 'X');
    expectDType(y!.dtype, NUMERIC, ctx.node, 'Y');
    return [{ dtype: x!.dtype, shape: broadcastShapes([x!.shape, y!.shape], ctx.node) }];
  },
  expr: ([x, y], _a, out) => E.call(isInteger(out) ? F.ipow : F.pow, [x!, y!], out),
});
// dZ/dX = Y·X^(Y−1); dZ/dY = Z·ln X, taken as 0 where X ≤ 0.
declareGradient(Pow, ({ b, inputs: [x, y], outputs: [z], grads: [g], wants }) => {
  const yx = y!.dtype === x!.dtype ? y! : b.CastLike([y!, x!]);
  return [
    wants(0) ? sumTo(b, b.Mul([g!, b.Mul([yx, b.Pow([x!, b.Sub([yx, k(b, 1, yx)])])])]), x!) : undefined,
    wants(1) ? sumTo(b, gradWhere(b, b.Greater([x!, k(b, 0, x!)]), b.Mul([g!, b.Mul([z!, b.Log([b.Max([x!, k(b, Number.MIN_VALUE, x!)])])])])), y!) : undefined,
  ];
});

/** Binary, variadic and selection ops. */
export const binaryOps = {
  Add, Sub, Mul, Div, Pow, Mod, BitShift, BitwiseAnd, BitwiseOr, BitwiseXor,
  Equal, Less, LessOrEqual, Greater, GreaterOrEqual, And, Or, Xor,
  ...variadicOps,
  ...selectOps,
} as const;
