/** Op family: unary math and activations. */
import { NUMERIC, expectDType } from '../dtype.js';
import { E } from '../expr.js';
import { defineOp } from '../op.js';
import { F } from './scalar-fns.js';

/** Relu: max(x, 0). */
export const Relu = defineOp({
  name: 'Relu',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {},
  category: 'elementwise',
  infer([x], ctx) {
    expectDType(x!.dtype, NUMERIC, ctx.node, 'X');
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  expr: ([x], _attrs, out) => E.call(F.max, [x!, E.const(0, out)], out),
});

/** Unary ops. */
export const unaryOps = { Relu } as const;
