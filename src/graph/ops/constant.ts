/** Core ops: Constant (value held in an attribute) and Identity. */
import { bareType } from '../value.js';
import { attr } from '../attrs.js';
import { ShapeError } from '../errors.js';
import { defineOp, setTrait } from '../op.js';
import type { Tensor } from '../tensor.js';
import { SHAPE_VALUE } from '../shape-values.js';
import { declareGradient } from '../gradient.js';

/**
 * Constant: outputs the tensor held in its `value` attribute. The ONNX importer maps
 * every `value_*` variant (value_float, value_ints, ...) onto `value`.
 */
export const Constant = defineOp({
  name: 'Constant',
  inputs: [],
  outputs: ['output'],
  attrs: { value: attr.tensor() },
  category: 'opaque',
  doc: 'A constant tensor.',
  infer(_inputs, ctx) {
    const v = ctx.attrs.value as Tensor;
    if (!v || !v.shape) throw new ShapeError(`${ctx.node}: Constant needs a tensor value`, ctx.node);
    return [{ dtype: v.dtype, shape: v.shape }];
  },
  cpu(_inputs, ctx) {
    return [ctx.attrs.value as Tensor];
  },
});

/** Identity: output equals input (any dtype). */
export const Identity = defineOp({
  name: 'Identity',
  inputs: ['input'],
  outputs: ['output'],
  attrs: {},
  category: 'injective',
  doc: 'Returns its input (a tensor, sequence or optional).',
  infer([x]) {
    return [bareType(x!)];
  },
  cpu([x]) {
    return [x!];
  },
  run([x]) {
    return [x!];
  },
});
declareGradient(Identity, ({ grads: [g] }) => [g]);

/** Core ops every graph may use. */
export const constantOps = { Constant, Identity } as const;

// Shape values (shape-values.ts) pass through.
setTrait(Identity, SHAPE_VALUE, ([v]) => v);
