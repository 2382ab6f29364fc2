/**
 * Op family: ONNX's `Gradient` (domain ai.onnx.preview.training): the gradients of the
 * value named by `y` with respect to the values named by `xs`, in the graph holding
 * the node. Its inputs are the values of `xs` then `zs`; output i has the type of `xs[i]`.
 * It has no kernel of its own: ONNX import replaces it by the backward nodes
 * (expandGradientNodes in src/graph/autodiff.ts).
 */
import { attr } from '../attrs.js';
import { GraphError } from '../errors.js';
import { defineOp } from '../op.js';
import { bareType } from '../value.js';
import { TRAINING_DOMAIN } from './optimizers.js';

/** Gradient: dy/dxs, expanded at import. */
export const Gradient = defineOp({
  name: 'Gradient',
  domain: TRAINING_DOMAIN,
  inputs: ['...Inputs'],
  outputs: ['...Outputs'],
  attrs: { xs: attr.strings(), y: attr.string(), zs: attr.optStrings() },
  category: 'opaque',
  doc: 'Gradients of y with respect to xs (replaced by backward nodes at import).',
  infer(ins, ctx) {
    if (ctx.numOutputs > ctx.attrs.xs.length || ins.length < ctx.attrs.xs.length) {
      throw new GraphError(`${ctx.node}: Gradient needs one input and one output per name in xs (${ctx.attrs.xs.length})`, ctx.node);
    }
    return ins.slice(0, ctx.numOutputs).map((t) => bareType(t!));
  },
});

/** The Gradient op. */
export const gradientOps = { Gradient } as const;
