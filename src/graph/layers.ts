/**
 * Keras-like layers on top of the builder: each layer owns seeded, deterministic
 * weights (created as constants when the layer is first applied) and emits standard
 * ops. `sequential(...)` composes layers into one.
 *
 * ```ts
 * const b = new GraphBuilder();
 * const x = b.input('x', 'float32', ['batch', 784]);
 * const mlp = sequential(dense(128, { activation: 'relu' }), dense(10), softmax());
 * b.output(mlp(b, x), 'probs');
 * ```
 */
import type { GraphBuilder, Sym } from './builder.js';
import { ShapeError } from './errors.js';
import { Rng } from './random.js';
import { Tensor } from './tensor.js';
import './ops/index.js';

/** A layer: maps a symbol to a symbol inside a builder. */
export type Layer = (b: GraphBuilder, x: Sym) => Sym;

/** Names of the activations layers accept. */
export type Activation = 'relu' | 'gelu' | 'tanh' | 'sigmoid' | 'linear' | 'softmax';

const ACTIVATIONS: Record<Activation, (b: GraphBuilder, x: Sym) => Sym> = {
  relu: (b, x) => b.Relu(x),
  gelu: (b, x) => b.Gelu(x),
  tanh: (b, x) => b.Tanh(x),
  sigmoid: (b, x) => b.Sigmoid(x),
  softmax: (b, x) => b.Softmax(x, { axis: -1 }),
  linear: (_b, x) => x,
};

/** An activation as a layer. */
export function activation(kind: Activation): Layer {
  return (b, x) => ACTIVATIONS[kind](b, x);
}

/** Softmax over the last axis, as a layer. */
export function softmax(): Layer {
  return activation('softmax');
}

let seedCounter = 0;
function nextSeed(seed: number | undefined): number {
  return seed ?? 0x5eed + 7919 * ++seedCounter;
}

/** Resets the default seed sequence (for reproducible graphs in one process). */
export function resetLayerSeeds(): void {
  seedCounter = 0;
}

function lastDim(x: Sym, layer: string): number {
  const d = x.shape[x.shape.length - 1];
  if (typeof d !== 'number') throw new ShapeError(`${layer}: the last dim of '${x.name}' must be known, got ${String(d)}`, layer);
  return d;
}

function glorot(rng: Rng, fanIn: number, fanOut: number, n: number): Float32Array {
  const lim = Math.sqrt(6 / (fanIn + fanOut));
  return rng.floats(n, -lim, lim);
}

/** Options of {@link dense}. */
export interface DenseOptions {
  readonly activation?: Activation;
  readonly useBias?: boolean;
  readonly seed?: number;
}

/** A fully connected layer: x·W + b, then an optional activation. W is Glorot-uniform. */
export function dense(units: number, opts: DenseOptions = {}): Layer {
  const seed = nextSeed(opts.seed);
  return (b, x) => {
    const inDim = lastDim(x, 'dense');
    const rng = new Rng(seed);
    const w = b.constant(new Tensor('float32', [inDim, units], glorot(rng, inDim, units, inDim * units)), { name: 'dense_W' });
    let y = b.MatMul([x, w]);
    if (opts.useBias ?? true) y = b.Add([y, b.constant(new Tensor('float32', [units], rng.floats(units, -0.1, 0.1)), { name: 'dense_b' })]);
    return ACTIVATIONS[opts.activation ?? 'linear'](b, y);
  };
}

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  readonly kernel?: number;
  readonly stride?: number;
  readonly padding?: 'same' | 'valid';
  readonly groups?: number;
  readonly activation?: Activation;
  readonly seed?: number;
}

/** A 2-D convolution over NCHW input with bias and optional activation (He-uniform weights). */
export function conv2d(filters: number, opts: Conv2dOptions = {}): Layer {
  const seed = nextSeed(opts.seed);
  return (b, x) => {
    const c = x.shape[1];
    if (typeof c !== 'number') throw new ShapeError(`conv2d: channels of '${x.name}' must be known`, 'conv2d');
    const k = opts.kernel ?? 3;
    const groups = opts.groups ?? 1;
    const rng = new Rng(seed);
    const fanIn = (c / groups) * k * k;
    const lim = Math.sqrt(6 / fanIn);
    const w = b.constant(new Tensor('float32', [filters, c / groups, k, k], rng.floats(filters * (c / groups) * k * k, -lim, lim)), { name: 'conv_W' });
    const bias = b.constant(new Tensor('float32', [filters], rng.floats(filters, -0.1, 0.1)), { name: 'conv_b' });
    const s = opts.stride ?? 1;
    const y = b.Conv([x, w, bias], {
      strides: [s, s],
      group: groups,
      ...((opts.padding ?? 'same') === 'same' ? { auto_pad: 'SAME_UPPER' } : {}),
    });
    return ACTIVATIONS[opts.activation ?? 'linear'](b, y);
  };
}

/** Options of {@link maxPool2d} and {@link averagePool2d}. */
export interface Pool2dOptions {
  /** Stride (default: the pool size). */
  readonly stride?: number;
  readonly padding?: 'same' | 'valid';
}

function pool2dAttrs(size: number, opts: Pool2dOptions): { kernel_shape: number[]; strides: number[]; auto_pad?: 'SAME_UPPER' } {
  const s = opts.stride ?? size;
  return { kernel_shape: [size, size], strides: [s, s], ...((opts.padding ?? 'valid') === 'same' ? { auto_pad: 'SAME_UPPER' as const } : {}) };
}

/** 2-D max pooling over NCHW input (window `size`, stride `size` unless given, valid padding by default). */
export function maxPool2d(size = 2, opts: Pool2dOptions = {}): Layer {
  return (b, x) => b.MaxPool([x], pool2dAttrs(size, opts));
}

/** 2-D average pooling over NCHW input (padding, when 'same', is left out of the divisor). */
export function averagePool2d(size = 2, opts: Pool2dOptions = {}): Layer {
  return (b, x) => b.AveragePool([x], pool2dAttrs(size, opts));
}

/** Flattens every axis after the batch axis: [N, ...] → [N, prod(...)]. */
export function flatten(): Layer {
  return (b, x) => b.Flatten([x], { axis: 1 });
}

/** Reshapes the non-batch axes to `shape` (e.g. [784] → [1, 28, 28] for a CNN on flat images). */
export function reshape(shape: readonly number[]): Layer {
  return (b, x) => b.Reshape([x, b.constant([0, ...shape], { dtype: 'int64' })]);
}

/** Batch normalization (inference) over channel axis 1 with seeded statistics. */
export function batchNorm(opts: { epsilon?: number; seed?: number } = {}): Layer {
  const seed = nextSeed(opts.seed);
  return (b, x) => {
    const c = x.shape[1];
    if (typeof c !== 'number') throw new ShapeError(`batchNorm: channels of '${x.name}' must be known`, 'batchNorm');
    const rng = new Rng(seed);
    const t = (lo: number, hi: number) => b.constant(new Tensor('float32', [c], rng.floats(c, lo, hi)));
    return b.BatchNormalization([x, t(0.8, 1.2), t(-0.1, 0.1), t(-0.1, 0.1), t(0.5, 1.5)], { epsilon: opts.epsilon ?? 1e-5 });
  };
}

/** Layer normalization over the last axis with learned (seeded) scale and bias. */
export function layerNorm(opts: { epsilon?: number; seed?: number } = {}): Layer {
  const seed = nextSeed(opts.seed);
  return (b, x) => {
    const d = lastDim(x, 'layerNorm');
    const rng = new Rng(seed);
    const scale = b.constant(new Tensor('float32', [d], rng.floats(d, 0.9, 1.1)));
    const bias = b.constant(new Tensor('float32', [d], rng.floats(d, -0.1, 0.1)));
    return b.LayerNormalization([x, scale, bias], { axis: -1, epsilon: opts.epsilon ?? 1e-5 });
  };
}

/** Token embedding: int32/int64 ids → vectors of size `dim` (table of `vocab` rows). */
export function embedding(vocab: number, dim: number, opts: { seed?: number } = {}): Layer {
  const seed = nextSeed(opts.seed);
  return (b, ids) => {
    const rng = new Rng(seed);
    const table = b.constant(new Tensor('float32', [vocab, dim], rng.floats(vocab * dim, -0.5, 0.5)), { name: 'embedding' });
    return b.Gather([table, ids], { axis: 0 });
  };
}

/**
 * Multi-head self-attention over [batch, seq, dim] input: projections, scaled dot
 * product with softmax, output projection. `causal` adds a -inf mask above the diagonal.
 */
export function multiHeadAttention(heads: number, opts: { causal?: boolean; seed?: number } = {}): Layer {
  const seed = nextSeed(opts.seed);
  return (b, x) => {
    const d = lastDim(x, 'multiHeadAttention');
    if (d % heads !== 0) throw new ShapeError(`multiHeadAttention: dim ${d} is not divisible by ${heads} heads`, 'multiHeadAttention');
    const hd = d / heads;
    const seq = x.shape[1];
    const proj = (i: number) => dense(d, { seed: seed + i })(b, x);
    const split = (t: Sym) =>
      b.Transpose(b.Reshape([t, b.constant([0, 0, heads, hd], { dtype: 'int64' })]), { perm: [0, 2, 1, 3] });
    const q = split(proj(1));
    const k = split(proj(2));
    const v = split(proj(3));
    let scores = b.Mul([b.MatMul([q, b.Transpose(k, { perm: [0, 1, 3, 2] })]), b.constant(1 / Math.sqrt(hd))]);
    if (opts.causal) {
      if (typeof seq !== 'number') throw new ShapeError('multiHeadAttention: causal masking needs a known sequence length', 'multiHeadAttention');
      const mask = new Float32Array(seq * seq);
      for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) mask[i * seq + j] = -Infinity;
      scores = b.Add([scores, b.constant(new Tensor('float32', [seq, seq], mask), { name: 'causal_mask' })]);
    }
    const attn = b.MatMul([b.Softmax(scores, { axis: -1 }), v]);
    const merged = b.Reshape([b.Transpose(attn, { perm: [0, 2, 1, 3] }), b.constant([0, 0, d], { dtype: 'int64' })]);
    return dense(d, { seed: seed + 4 })(b, merged);
  };
}

/** Composes layers left to right. */
export function sequential(...layers: readonly Layer[]): Layer {
  return (b, x) => layers.reduce((h, l) => l(b, h), x);
}
