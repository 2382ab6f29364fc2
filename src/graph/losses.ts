/**
 * Training losses, built from standard ops (so they differentiate through the ops'
 * declared gradients and export to ONNX as ordinary nodes). Each takes the model's
 * prediction and the target, both [batch, ...], and returns the scalar mean loss over
 * the batch:
 *
 * - softmaxCrossEntropy(logits, onehot) = −mean_b Σ_c onehot·logsoftmax(logits)
 *   (ONNX SoftmaxCrossEntropyLoss with reduction 'mean' and one-hot targets)
 * - nll(logProbs, onehot)               = −mean_b Σ_c onehot·logProbs
 * - mse(pred, target)                   = mean (pred − target)²
 * - binaryCrossEntropy(probs, target)   = −mean (t·log(p + ε) + (1 − t)·log(1 − p + ε)), ε = 1e-7
 *
 * Class targets are one-hot float rows; the training API (src/train/model.ts) turns
 * integer labels into them on the host.
 */
import type { GraphBuilder, Sym } from './builder.js';
import { ShapeError } from './errors.js';
import { ints } from './ops/grad-util.js';
import { Tensor } from './tensor.js';
import './ops/index.js';

/** A loss: (builder, prediction, target) → scalar loss. */
export type LossFn = (b: GraphBuilder, pred: Sym, target: Sym) => Sym;

/** Names of the built-in losses. */
export type LossName = 'softmaxCrossEntropy' | 'nll' | 'mse' | 'binaryCrossEntropy';

function sameRank(pred: Sym, target: Sym, loss: string): void {
  if (pred.rank !== target.rank) throw new ShapeError(`${loss}: prediction '${pred.name}' has rank ${pred.rank}, target '${target.name}' has rank ${target.rank}`, loss);
}

const k = (b: GraphBuilder, v: number): Sym => b.constant(Tensor.from('float32', [], [v]));
/** Mean over every element as a scalar. */
const meanAll = (b: GraphBuilder, x: Sym): Sym => b.ReduceMean([x], { keepdims: 0 });
/** Sum over the last axis (class axis). */
const sumLast = (b: GraphBuilder, x: Sym): Sym => b.ReduceSum([x, ints(b, [-1])], { keepdims: 0 });

/** Softmax cross-entropy of logits against one-hot targets (mean over the batch). */
export function softmaxCrossEntropy(b: GraphBuilder, logits: Sym, onehot: Sym): Sym {
  sameRank(logits, onehot, 'softmaxCrossEntropy');
  return b.Neg([meanAll(b, sumLast(b, b.Mul([onehot, b.LogSoftmax([logits], { axis: -1 })])))]);
}

/** Negative log-likelihood of log-probabilities against one-hot targets (mean over the batch). */
export function nll(b: GraphBuilder, logProbs: Sym, onehot: Sym): Sym {
  sameRank(logProbs, onehot, 'nll');
  return b.Neg([meanAll(b, sumLast(b, b.Mul([onehot, logProbs])))]);
}

/** Mean squared error. */
export function mse(b: GraphBuilder, pred: Sym, target: Sym): Sym {
  sameRank(pred, target, 'mse');
  const d = b.Sub([pred, target]);
  return meanAll(b, b.Mul([d, d]));
}

/** Binary cross-entropy of probabilities in [0, 1] against 0/1 targets. */
export function binaryCrossEntropy(b: GraphBuilder, probs: Sym, target: Sym): Sym {
  sameRank(probs, target, 'binaryCrossEntropy');
  const eps = k(b, 1e-7);
  const one = k(b, 1);
  const pos = b.Mul([target, b.Log([b.Add([probs, eps])])]);
  const neg = b.Mul([b.Sub([one, target]), b.Log([b.Add([b.Sub([one, probs]), eps])])]);
  return b.Neg([meanAll(b, b.Add([pos, neg]))]);
}

/** The built-in losses by name. */
export const LOSSES: Readonly<Record<LossName, LossFn>> = { softmaxCrossEntropy, nll, mse, binaryCrossEntropy };
