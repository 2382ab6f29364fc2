/** Op family: broadcasting binary arithmetic. */
import { NUMERIC, expectDType } from '../dtype.js';
import { DTypeError } from '../errors.js';
import { E } from '../expr.js';
import { defineOp } from '../op.js';
import { broadcastShapes } from '../shape.js';
import { F } from './scalar-fns.js';

/** Add: A + B with numpy broadcasting. */
export const Add = defineOp({
  name: 'Add',
  inputs: ['A', 'B'],
  outputs: ['C'],
  attrs: {},
  category: 'broadcast',
  doc: 'Elementwise sum with broadcasting.',
  infer([a, b], ctx) {
    expectDType(a!.dtype, NUMERIC, ctx.node, 'A');
    if (a!.dtype !== b!.dtype) throw new DTypeError(`${ctx.node}: Add inputs have dtypes ${a!.dtype} and ${b!.dtype}`, ctx.node);
    return [{ dtype: a!.dtype, shape: broadcastShapes([a!.shape, b!.shape], ctx.node) }];
  },
  expr: ([a, b], _attrs, out) => E.call(F.add, [a!, b!], out),
});

/** Binary ops. */
export const binaryOps = { Add } as const;
