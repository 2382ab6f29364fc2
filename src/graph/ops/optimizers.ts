/**
 * Op family: the optimizer updates of ONNX's preview training domain
 * (ai.onnx.preview.training, opset 1) — Adagrad, Momentum (standard and Nesterov)
 * and Adam. Each takes a learning rate R and a step count T (scalars), then its
 * tensors grouped by kind (X1..Xn, G1..Gn, then the states), and returns the
 * updated tensors grouped the same way. Every update is elementwise, per group:
 *
 * - Adagrad: r = R / (1 + T·decay_factor), g = norm_coefficient·X + G,
 *   H' = H + g², X' = X − r·g / (√H' + epsilon).
 * - Momentum: g = norm_coefficient·X + G, b = (T > 0 ? beta : 1),
 *   V' = alpha·V + b·g; standard X' = X − R·V', nesterov X' = X − R·(g + alpha·V').
 * - Adam: g = norm_coefficient·X + G, V' = alpha·V + (1 − alpha)·g,
 *   H' = beta·H + (1 − beta)·g², r = (T > 0 ? R·√(1 − beta^T) / (1 − alpha^T) : R),
 *   X' = (1 − norm_coefficient_post)·(X − r·V' / (√H' + epsilon)).
 *
 * Kiln adds two of its own (domain {@link KILN_TRAINING_DOMAIN}, same input layout):
 *
 * - SGD: g = weight_decay·X + G, X' = X − R·g (no state; SGD with momentum or
 *   Nesterov is the Momentum op with beta = 1, which is PyTorch's SGD without dampening).
 * - AdamW (decoupled weight decay, Loshchilov & Hutter): V' and H' as Adam (with
 *   norm_coefficient 0), r as Adam, X' = X − r·V' / (√H' + epsilon) − R·weight_decay·X.
 *   Like ONNX Adam, epsilon is added to √H' (not to the bias-corrected √Ĥ as PyTorch does).
 *
 * The scalar part (r, b) is {@link OPTIMIZER_SCALARS} and the per-element part
 * {@link OPTIMIZER_UPDATES}, both written once over {@link UpdateMath}: the CPU
 * reference runs them on numbers and the WebGPU kernel renders them as WGSL.
 */
import { attr } from '../attrs.js';
import { expectDType, FLOATS } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp, type InferInput, type OpDef, type ValueType } from '../op.js';
import { Tensor } from '../tensor.js';

/** The domain of ONNX's training ops. */
export const TRAINING_DOMAIN = 'ai.onnx.preview.training';

/** The domain of Kiln's own optimizer ops (SGD, AdamW), laid out like ONNX's. */
export const KILN_TRAINING_DOMAIN = 'ai.kiln.training';

/** How many tensors of one group each op reads (X, G and states) and writes (X and states). */
const GROUP_INPUTS = { Adagrad: 3, Momentum: 3, Adam: 4, SGD: 2, AdamW: 4 } as const;
/** An optimizer op's name. */
export type OptimizerName = keyof typeof GROUP_INPUTS;

/** Resolved attributes of the three ops (absent ones unused by an op). */
export interface OptimizerAttrs {
  readonly decay_factor?: number;
  readonly epsilon?: number;
  readonly norm_coefficient?: number;
  readonly norm_coefficient_post?: number;
  readonly alpha?: number;
  readonly beta?: number;
  readonly mode?: string;
  readonly weight_decay?: number;
}

/** Scalar arithmetic of a backend's language, or JS: what the update formulas use. */
export interface UpdateMath<V> {
  readonly num: (x: number) => V;
  readonly add: (a: V, b: V) => V;
  readonly sub: (a: V, b: V) => V;
  readonly mul: (a: V, b: V) => V;
  readonly div: (a: V, b: V) => V;
  readonly sqrt: (a: V) => V;
  readonly pow: (a: V, b: V) => V;
  /** `yes` where t > 0, else `no`. */
  readonly ifPositive: (t: V, yes: V, no: V) => V;
}

/**
 * The step's scalars from R and T (as floats): r, the learning rate the update uses,
 * and b, Momentum's gradient coefficient.
 */
export const OPTIMIZER_SCALARS: { readonly [K in OptimizerName]: <V>(m: UpdateMath<V>, a: OptimizerAttrs, R: V, T: V) => { r: V; b: V } } = {
  Adagrad: (m, a, R, T) => ({ r: m.div(R, m.add(m.num(1), m.mul(T, m.num(a.decay_factor ?? 0)))), b: m.num(1) }),
  Momentum: (m, a, R, T) => ({ r: R, b: m.ifPositive(T, m.num(a.beta ?? 0), m.num(1)) }),
  Adam(m, a, R, T) {
    const corr = m.div(m.sqrt(m.sub(m.num(1), m.pow(m.num(a.beta ?? 0.999), T))), m.sub(m.num(1), m.pow(m.num(a.alpha ?? 0.9), T)));
    return { r: m.ifPositive(T, m.mul(R, corr), R), b: m.num(1) };
  },
  SGD: (m, _a, R) => ({ r: R, b: m.num(1) }),
  AdamW(m, a, R, T) {
    const { r } = OPTIMIZER_SCALARS.Adam(m, a, R, T);
    // b carries the decoupled decay step R·weight_decay (not bias-corrected).
    return { r, b: m.mul(R, m.num(a.weight_decay ?? 0.01)) };
  },
};

/**
 * The per-element update of each op over values of any kind (JS numbers on the CPU,
 * WGSL expressions on WebGPU): given X, G, the states, r and b, the new X and states.
 */
export const OPTIMIZER_UPDATES: { readonly [K in OptimizerName]: <V>(m: UpdateMath<V>, a: OptimizerAttrs, x: V, g: V, states: readonly V[], r: V, b: V) => V[] } = {
  Adagrad(m, a, x, g0, [h], r) {
    const g = m.add(m.mul(m.num(a.norm_coefficient ?? 0), x), g0);
    const h2 = m.add(h!, m.mul(g, g));
    return [m.sub(x, m.div(m.mul(r, g), m.add(m.sqrt(h2), m.num(a.epsilon ?? 0)))), h2];
  },
  Momentum(m, a, x, g0, [v], r, b) {
    const alpha = m.num(a.alpha ?? 0);
    const g = m.add(m.mul(m.num(a.norm_coefficient ?? 0), x), g0);
    const v2 = m.add(m.mul(alpha, v!), m.mul(b, g));
    const step = a.mode === 'nesterov' ? m.add(g, m.mul(alpha, v2)) : v2;
    return [m.sub(x, m.mul(r, step)), v2];
  },
  Adam(m, a, x, g0, [v, h], r) {
    const alpha = a.alpha ?? 0.9;
    const beta = a.beta ?? 0.999;
    const g = m.add(m.mul(m.num(a.norm_coefficient ?? 0), x), g0);
    const v2 = m.add(m.mul(m.num(alpha), v!), m.mul(m.num(1 - alpha), g));
    const h2 = m.add(m.mul(m.num(beta), h!), m.mul(m.num(1 - beta), m.mul(g, g)));
    const x2 = m.sub(x, m.mul(r, m.div(v2, m.add(m.sqrt(h2), m.num(a.epsilon ?? 1e-6)))));
    return [m.mul(m.num(1 - (a.norm_coefficient_post ?? 0)), x2), v2, h2];
  },
  SGD(m, a, x, g0, _states, r) {
    const g = m.add(m.mul(m.num(a.weight_decay ?? 0), x), g0);
    return [m.sub(x, m.mul(r, g))];
  },
  AdamW(m, a, x, g, [v, h], r, b) {
    const alpha = a.alpha ?? 0.9;
    const beta = a.beta ?? 0.999;
    const v2 = m.add(m.mul(m.num(alpha), v!), m.mul(m.num(1 - alpha), g));
    const h2 = m.add(m.mul(m.num(beta), h!), m.mul(m.num(1 - beta), m.mul(g, g)));
    return [m.sub(m.sub(x, m.mul(r, m.div(v2, m.add(m.sqrt(h2), m.num(a.epsilon ?? 1e-8))))), m.mul(b, x)), v2, h2];
  },
};

/** How many tensors of one group an op reads (X, G and its states). */
export function groupInputs(op: OptimizerName): number {
  return GROUP_INPUTS[op];
}

/** Number of tensor groups of a node with `inputCount` inputs; a typed error when they do not divide evenly. */
export function optimizerGroups(op: OptimizerName, inputCount: number, node: string): number {
  const per = GROUP_INPUTS[op];
  const n = (inputCount - 2) / per;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${node}: ${op} takes R, T and ${per} tensors per updated tensor, got ${inputCount} inputs`, node);
  return n;
}

const JS_MATH: UpdateMath<number> = {
  num: (x) => x, add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b, sqrt: Math.sqrt,
  pow: (a, b) => a ** b, ifPositive: (t, yes, no) => (t > 0 ? yes : no),
};

function defineOptimizer(op: OptimizerName, attrs: Parameters<typeof defineOp>[0]['attrs'], doc: string, domain = TRAINING_DOMAIN): OpDef {
  const per = GROUP_INPUTS[op];
  return defineOp({
    name: op,
    domain,
    inputs: ['R', 'T', '...inputs'],
    outputs: ['...outputs'],
    attrs,
    category: 'opaque',
    multi: true,
    doc,
    outputCount: (ins) => optimizerGroups(op, ins.length, op) * (per - 1),
    infer(ins, ctx): ValueType[] {
      const n = optimizerGroups(op, ins.length, ctx.node);
      const [R, T] = ins;
      expectDType(R!.dtype, FLOATS, ctx.node, 'R');
      if (T!.dtype !== 'int64') throw new ShapeError(`${ctx.node}: ${op} step count T must be int64, got ${T!.dtype}`, ctx.node);
      if (R!.shape.length > 1 || T!.shape.length > 1) throw new ShapeError(`${ctx.node}: R and T must be scalars`, ctx.node);
      const group = (k: number): (InferInput | undefined)[] => Array.from({ length: per }, (_, j) => ins[2 + j * n + k]);
      const outs: ValueType[][] = Array.from({ length: per - 1 }, () => []);
      for (let k = 0; k < n; k++) {
        const g = group(k);
        const x = g[0]!;
        expectDType(x.dtype, FLOATS, ctx.node, `X${k + 1}`);
        for (const t of g) {
          if (!t || t.dtype !== x.dtype || t.shape.length !== x.shape.length || t.shape.some((d, i) => typeof d === 'number' && typeof x.shape[i] === 'number' && d !== x.shape[i])) {
            throw new ShapeError(`${ctx.node}: ${op}'s tensors of group ${k + 1} must share X${k + 1}'s dtype and shape ${x.dtype}[${x.shape.join(',')}]`, ctx.node);
          }
        }
        // Outputs: X', then each state' (the G slot has no output).
        outs[0]!.push({ dtype: x.dtype, shape: x.shape });
        for (let s = 2; s < per; s++) outs[s - 1]!.push({ dtype: x.dtype, shape: x.shape });
      }
      return outs.flat();
    },
    cpu(ins, ctx) {
      const n = optimizerGroups(op, ins.length, ctx.node);
      const a = ctx.attrs as OptimizerAttrs;
      const { r, b } = OPTIMIZER_SCALARS[op](JS_MATH, a, Number(ins[0]!.data[0]), Number(ins[1]!.data[0]));
      const outs: Tensor[][] = Array.from({ length: per - 1 }, () => []);
      for (let k = 0; k < n; k++) {
        const [x, g, ...states] = Array.from({ length: per }, (_, j) => ins[2 + j * n + k]!);
        const res = Array.from({ length: per - 1 }, () => new Tensor(x!.dtype, x!.shape));
        for (let i = 0; i < x!.size; i++) {
          const v = OPTIMIZER_UPDATES[op](JS_MATH, a, x!.data[i]!, g!.data[i]!, states.map((s) => s.data[i]!), r, b);
          v.forEach((y, j) => (res[j]!.data[i] = y));
        }
        res.forEach((t, j) => outs[j]!.push(t));
      }
      return outs.flat();
    },
  });
}

/** Adagrad (ai.onnx.preview.training). */
export const Adagrad = defineOptimizer('Adagrad', { decay_factor: attr.float(0), epsilon: attr.float(1e-6), norm_coefficient: attr.float(0) }, 'Adagrad update of tensors X with gradients G and accumulated squares H.');
/** Momentum, standard or Nesterov (ai.onnx.preview.training). */
export const Momentum = defineOptimizer('Momentum', { alpha: attr.float(), beta: attr.float(), norm_coefficient: attr.float(), mode: attr.string('standard', ['standard', 'nesterov']) }, 'Momentum (or Nesterov) update of tensors X with gradients G and momenta V.');
/** Adam (ai.onnx.preview.training). */
export const Adam = defineOptimizer('Adam', { alpha: attr.float(0.9), beta: attr.float(0.999), epsilon: attr.float(1e-6), norm_coefficient: attr.float(0), norm_coefficient_post: attr.float(0) }, 'Adam update of tensors X with gradients G, momenta V and second moments H.');

/** Plain SGD with optional L2 weight decay (Kiln's training domain). */
export const SGD = defineOptimizer('SGD', { weight_decay: attr.float(0) }, 'SGD update of tensors X with gradients G: X − R·(G + weight_decay·X).', KILN_TRAINING_DOMAIN);
/** AdamW, Adam with decoupled weight decay (Kiln's training domain). */
export const AdamW = defineOptimizer('AdamW', { alpha: attr.float(0.9), beta: attr.float(0.999), epsilon: attr.float(1e-8), weight_decay: attr.float(0.01) }, 'AdamW update of tensors X with gradients G, momenta V and second moments H (decoupled weight decay).', KILN_TRAINING_DOMAIN);

/** The optimizer ops (by name). */
export const optimizerOps = { Adagrad, Momentum, Adam, SGD, AdamW } as const;
