/**
 * ONNX ops that are defined as functions of other ops, expanded at import time into
 * registry ops (as ONNX's own function bodies do) when the registry has no kernel of
 * its own for them. Expansions only wire ops together; no shapes are computed here.
 */
import { AttributeError } from '../src/graph/errors.js';
import { Tensor } from '../src/graph/tensor.js';
import type { Emitter, OnnxNode } from './ops-table.js';

/** A scalar constant cast to the dtype of `like`. */
function scalarLike(e: Emitter, n: OnnxNode, v: number, like: string): string {
  const c = e.constant(Tensor.from('float32', [], [v]), `${n.name}_const`);
  return e.node('CastLike', [c, like])[0]!;
}

/**
 * NegativeLogLikelihoodLoss(input [N,C,d...], target [N,d...], weight? [C]):
 * loss = -input[n, target, d...] * weight[target], 0 where target == ignore_index;
 * reduced by `reduction` ('mean' divides by the sum of the applied weights).
 */
function nllLossOf(n: OnnxNode, e: Emitter, input: string, target: string, weight: string, output: string): void {
  const ignore = n.attrs.ignore_index as number | undefined;
  const reduction = (n.attrs.reduction as string | undefined) ?? 'mean';
  let safeTarget = target;
  let mask: string | undefined;
  if (ignore !== undefined) {
    [mask] = e.node('Equal', [target, scalarLike(e, n, ignore, target)]);
    safeTarget = e.node('Where', [mask!, scalarLike(e, n, 0, target), target])[0]!;
  }
  const axis1 = e.constant(Tensor.from('int64', [1], [1]), `${n.name}_axis1`);
  const [picked] = e.node('GatherElements', [input, e.node('Unsqueeze', [safeTarget, axis1])[0]!], { axis: 1 });
  const [value] = e.node('Squeeze', [picked!, axis1]);
  let [w] = weight
    ? e.node('Gather', [weight, safeTarget], { axis: 0 })
    : e.node('CastLike', [e.node('ConstantOfShape', [e.node('Shape', [target])[0]!], { value: Tensor.from('float32', [1], [1]) })[0]!, input]);
  if (mask) [w] = e.node('Where', [mask, scalarLike(e, n, 0, input), w!]);
  const [weighted] = e.node('Mul', [value!, w!]);
  const reduce: Record<string, () => void> = {
    none: () => void e.node('Neg', [weighted!], {}, [output]),
    sum: () => void e.node('Neg', [e.node('ReduceSum', [weighted!], { keepdims: 0 })[0]!], {}, [output]),
    mean: () => {
      const [total] = e.node('ReduceSum', [weighted!], { keepdims: 0 });
      const [count] = e.node('ReduceSum', [w!], { keepdims: 0 });
      e.node('Neg', [e.node('Div', [total!, count!])[0]!], {}, [output]);
    },
  };
  const f = reduce[reduction];
  if (!f) throw new AttributeError(`${n.name}: ${n.op} reduction must be none, sum or mean, got '${reduction}'`, n.name);
  f();
}

/** NegativeLogLikelihoodLoss, expanded. */
export function nllLoss(n: OnnxNode, e: Emitter): void {
  nllLossOf(n, e, n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? '', n.outputs[0]!);
}

/** SoftmaxCrossEntropyLoss: LogSoftmax over axis 1, then the NLL loss; the optional second output is the log-probabilities. */
export function softmaxCrossEntropyLoss(n: OnnxNode, e: Emitter): void {
  const logProb = n.outputs[1] ? [n.outputs[1]] : undefined;
  const [lp] = e.node('LogSoftmax', [n.inputs[0]!], { axis: 1 }, logProb);
  nllLossOf(n, e, lp!, n.inputs[1]!, n.inputs[2] ?? '', n.outputs[0]!);
}

/**
 * `b` reshaped so that its first axis lines up with axis `axis` of `a`:
 * `shape(b) ++ ones(rank(a) - axis - rank(b))` (for a negative axis, `-axis - rank(b)` ones).
 */
export function alignAxis(e: Emitter, n: OnnxNode, a: string, b: string, axis: number): string {
  const rankOf = (v: string): string => e.node('Size', e.node('Shape', [v]))[0]!;
  const int64 = (vals: number[], shape: number[]): string => e.constant(Tensor.from('int64', shape, vals), `${n.name}_const`);
  const [count] = axis >= 0
    ? e.node('Sub', [rankOf(a), e.node('Add', [rankOf(b), int64([axis], [])])[0]!])
    : e.node('Sub', [int64([-axis], []), rankOf(b)]);
  const [ones] = e.node('ConstantOfShape', [e.node('Reshape', [count!, int64([1], [1])])[0]!], { value: Tensor.from('int64', [1], [1]) });
  const [target] = e.node('Concat', [e.node('Shape', [b])[0]!, ones!], { axis: 0 });
  return e.node('Reshape', [b, target!])[0]!;
}
