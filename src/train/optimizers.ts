/**
 * Optimizer choices of the training API and learning-rate schedules. Each optimizer
 * names one update op of src/graph/ops/optimizers.ts (SGD, Momentum for SGD with
 * momentum or Nesterov, Adam, AdamW, Adagrad), its attributes and how many state
 * tensors (moments) it keeps per parameter; the training step applies that op to
 * every parameter in one node. The learning rate is fed each step from a schedule.
 */
import { InputError } from '../graph/errors.js';
import type { OpDef } from '../graph/op.js';
import { optimizerOps, type OptimizerName } from '../graph/ops/optimizers.js';

/** A learning-rate schedule: the rate for a (0-based) step. */
export type Schedule = (step: number) => number;

/** What the training step needs of an optimizer. */
export interface Optimizer {
  /** The update op's name. */
  readonly name: OptimizerName;
  /** The update op. */
  readonly op: OpDef;
  /** The op's attributes. */
  readonly attrs: Readonly<Record<string, number | string>>;
  /** State tensors per parameter (zeros at the start). */
  readonly states: number;
  /** The learning rate at each step. */
  readonly lr: Schedule;
  /** Clip the gradients to this global L2 norm before the update (none when absent). */
  readonly clipNorm?: number;
}

/** Options common to every optimizer. */
export interface OptimizerOptions {
  /** A constant rate or a schedule (see {@link schedules}). */
  readonly lr?: number | Schedule;
  /** Clip the gradients to this global L2 norm. */
  readonly clipNorm?: number;
}

function make(name: OptimizerName, states: number, attrs: Record<string, number | string>, o: OptimizerOptions, lr: number): Optimizer {
  const rate = o.lr ?? lr;
  if (typeof rate === 'number' && !(rate > 0)) throw new InputError(`${name}: the learning rate must be > 0, got ${rate}`);
  if (o.clipNorm !== undefined && !(o.clipNorm > 0)) throw new InputError(`${name}: clipNorm must be > 0, got ${o.clipNorm}`);
  return { name, op: optimizerOps[name], attrs, states, lr: typeof rate === 'number' ? () => rate : rate, ...(o.clipNorm ? { clipNorm: o.clipNorm } : {}) };
}

/**
 * SGD; with `momentum` > 0 it is the Momentum op (standard or `nesterov`) with beta = 1,
 * i.e. PyTorch's SGD without dampening: V' = μ·V + g, X' = X − lr·V' (Nesterov: X − lr·(g + μ·V')).
 */
export function sgd(o: OptimizerOptions & { momentum?: number; nesterov?: boolean; weightDecay?: number } = {}): Optimizer {
  const wd = o.weightDecay ?? 0;
  if (o.momentum) return make('Momentum', 1, { alpha: o.momentum, beta: 1, norm_coefficient: wd, mode: o.nesterov ? 'nesterov' : 'standard' }, o, 0.01);
  if (o.nesterov) throw new InputError('sgd: nesterov needs momentum > 0');
  return make('SGD', 0, { weight_decay: wd }, o, 0.01);
}

/** Adam (the ONNX Adam op; epsilon added to √H). */
export function adam(o: OptimizerOptions & { beta1?: number; beta2?: number; epsilon?: number } = {}): Optimizer {
  return make('Adam', 2, { alpha: o.beta1 ?? 0.9, beta: o.beta2 ?? 0.999, epsilon: o.epsilon ?? 1e-7 }, o, 0.001);
}

/** AdamW: Adam with decoupled weight decay. */
export function adamw(o: OptimizerOptions & { beta1?: number; beta2?: number; epsilon?: number; weightDecay?: number } = {}): Optimizer {
  return make('AdamW', 2, { alpha: o.beta1 ?? 0.9, beta: o.beta2 ?? 0.999, epsilon: o.epsilon ?? 1e-7, weight_decay: o.weightDecay ?? 0.01 }, o, 0.001);
}

/** Adagrad (the ONNX Adagrad op). */
export function adagrad(o: OptimizerOptions & { epsilon?: number; decay?: number } = {}): Optimizer {
  return make('Adagrad', 1, { epsilon: o.epsilon ?? 1e-7, decay_factor: o.decay ?? 0 }, o, 0.01);
}

/** Learning-rate schedules (functions of the 0-based step). */
export const schedules = {
  /** The same rate at every step. */
  constant: (lr: number): Schedule => () => lr,
  /** lr · factor^⌊step / every⌋. */
  step: (lr: number, every: number, factor: number): Schedule => (s) => lr * factor ** Math.floor(s / every),
  /** lr · rate^(step / decaySteps). */
  exponential: (lr: number, decaySteps: number, rate: number): Schedule => (s) => lr * rate ** (s / decaySteps),
  /** Cosine from lr to minLr over `steps`, then minLr. */
  cosine: (lr: number, steps: number, minLr = 0): Schedule => (s) => minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * Math.min(s, steps) / steps)),
  /** Linear warm-up from 0 over `steps`, then `after`. */
  warmup: (steps: number, after: Schedule): Schedule => (s) => (s < steps ? after(s) * (s + 1) / steps : after(s)),
};
