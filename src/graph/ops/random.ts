/**
 * Op family: random generators — RandomUniform, RandomNormal (shape from an
 * attribute), RandomUniformLike, RandomNormalLike (shape of their input) and
 * Bernoulli (1 with probability input[i]).
 *
 * Kiln's random ops are deterministic: element i is a pure function of the seed
 * and i (a counter-based generator, {@link randomBits}), so the CPU reference and
 * the WebGPU kernel draw the same numbers, and constant folding and CSE stay sound.
 * ONNX leaves the seed of an unseeded op to the implementation: the ONNX importer
 * gives each unseeded node a seed from its name (onnx/ops-table.ts); a node built
 * without one uses 0.
 * A uniform draw is u = (top 24 bits + 0.5)·2⁻²⁴ ∈ (0, 1), exact in f32; a normal
 * one is Box–Muller of draws 2i and 2i + 1. Numbers differ from numpy's and
 * onnxruntime's generators (which no test can match), not their distribution.
 */
import { attr } from '../attrs.js';
import { ALL, expectDType, FLOATS, NUMERIC, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp, type OpContext } from '../op.js';
import { Tensor } from '../tensor.js';
import { ONNX_DTYPE_CODES } from './elementwise-select.js';

/** The 32-bit key of a seed attribute: the bits of the seed as a float32 (0 when absent). */
export function seedKey(seed: number | undefined): number {
  const f = new Float32Array([seed ?? 0]);
  return new Uint32Array(f.buffer)[0]!;
}

/** A 32-bit integer mixer (Wellons' lowbias32). */
export function mix32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** Draw i of the stream of `key`: mix32(mix32(i ^ mix32(key)) + key), as the WGSL ks_rand. */
export function randomBits(key: number, i: number): number {
  return mix32((mix32((i ^ mix32(key)) >>> 0) + key) >>> 0);
}

/** Draw i as a uniform number in (0, 1). */
export function uniform01(key: number, i: number): number {
  return ((randomBits(key, i) >>> 8) + 0.5) / 16777216;
}

/** Element i of a standard normal stream: Box–Muller of draws 2i and 2i + 1. */
export function normal01(key: number, i: number): number {
  const u1 = uniform01(key, 2 * i);
  const u2 = uniform01(key, 2 * i + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** The float dtype an ONNX `dtype` attribute names, or `dflt` when absent; a ShapeError naming the node otherwise. */
function floatDType(code: number | undefined, dflt: DType, node: string, allowed: readonly DType[] = FLOATS): DType {
  if (code === undefined) return dflt;
  const d = ONNX_DTYPE_CODES[code];
  if (!d || !allowed.includes(d)) throw new ShapeError(`${node}: dtype ${code} is not one of ${allowed.join(', ')}`, node);
  return d;
}

function checkShape(shape: readonly number[], ctx: OpContext<unknown>): void {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new ShapeError(`${ctx.node}: shape [${shape}] must hold non-negative integers`, ctx.node);
}

function fill(dtype: DType, shape: readonly number[], f: (i: number) => number): Tensor {
  const t = new Tensor(dtype, shape);
  for (let i = 0; i < t.size; i++) t.data[i] = f(i);
  return t;
}

const uniformAttrs = { high: attr.float(1), low: attr.float(0), seed: attr.optFloat() };
const normalAttrs = { mean: attr.float(0), scale: attr.float(1), seed: attr.optFloat() };

/** RandomUniform: a tensor of `shape` drawn uniformly from [low, high). */
export const RandomUniform = defineOp({
  name: 'RandomUniform',
  inputs: [],
  outputs: ['output'],
  attrs: { ...uniformAttrs, dtype: attr.int(1), shape: attr.ints() },
  category: 'opaque',
  doc: 'Uniform random numbers of a given shape (deterministic per seed).',
  infer(_, ctx) {
    checkShape(ctx.attrs.shape, ctx);
    return [{ dtype: floatDType(ctx.attrs.dtype, 'float32', ctx.node), shape: [...ctx.attrs.shape] }];
  },
  cpu(_, ctx) {
    const { low, high } = ctx.attrs;
    const key = seedKey(ctx.attrs.seed);
    return [fill(ctx.outputs[0]!.dtype, ctx.attrs.shape, (i) => low + (high - low) * uniform01(key, i))];
  },
});

/** RandomNormal: a tensor of `shape` drawn from N(mean, scale²). */
export const RandomNormal = defineOp({
  name: 'RandomNormal',
  inputs: [],
  outputs: ['output'],
  attrs: { ...normalAttrs, dtype: attr.int(1), shape: attr.ints() },
  category: 'opaque',
  doc: 'Normal random numbers of a given shape (deterministic per seed).',
  infer(_, ctx) {
    checkShape(ctx.attrs.shape, ctx);
    return [{ dtype: floatDType(ctx.attrs.dtype, 'float32', ctx.node), shape: [...ctx.attrs.shape] }];
  },
  cpu(_, ctx) {
    const key = seedKey(ctx.attrs.seed);
    return [fill(ctx.outputs[0]!.dtype, ctx.attrs.shape, (i) => ctx.attrs.mean + ctx.attrs.scale * normal01(key, i))];
  },
});

/** RandomUniformLike: uniform numbers in [low, high) of the input's shape (its dtype unless `dtype` says). */
export const RandomUniformLike = defineOp({
  name: 'RandomUniformLike',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { ...uniformAttrs, dtype: attr.optInt() },
  category: 'opaque',
  doc: 'Uniform random numbers of the shape of the input (deterministic per seed).',
  infer([x], ctx) {
    expectDType(x!.dtype, ALL, ctx.node, 'input');
    const dflt = FLOATS.includes(x!.dtype) ? x!.dtype : undefined;
    if (!dflt && ctx.attrs.dtype === undefined) throw new ShapeError(`${ctx.node}: RandomUniformLike of a ${x!.dtype} input needs a float dtype attribute`, ctx.node);
    return [{ dtype: floatDType(ctx.attrs.dtype, dflt ?? 'float32', ctx.node), shape: x!.shape }];
  },
  cpu([x], ctx) {
    const { low, high } = ctx.attrs;
    const key = seedKey(ctx.attrs.seed);
    return [fill(ctx.outputs[0]!.dtype, x!.shape, (i) => low + (high - low) * uniform01(key, i))];
  },
});

/** RandomNormalLike: N(mean, scale²) numbers of the input's shape (its dtype unless `dtype` says). */
export const RandomNormalLike = defineOp({
  name: 'RandomNormalLike',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { ...normalAttrs, dtype: attr.optInt() },
  category: 'opaque',
  doc: 'Normal random numbers of the shape of the input (deterministic per seed).',
  infer([x], ctx) {
    expectDType(x!.dtype, ALL, ctx.node, 'input');
    const dflt = FLOATS.includes(x!.dtype) ? x!.dtype : undefined;
    if (!dflt && ctx.attrs.dtype === undefined) throw new ShapeError(`${ctx.node}: RandomNormalLike of a ${x!.dtype} input needs a float dtype attribute`, ctx.node);
    return [{ dtype: floatDType(ctx.attrs.dtype, dflt ?? 'float32', ctx.node), shape: x!.shape }];
  },
  cpu([x], ctx) {
    const key = seedKey(ctx.attrs.seed);
    return [fill(ctx.outputs[0]!.dtype, x!.shape, (i) => ctx.attrs.mean + ctx.attrs.scale * normal01(key, i))];
  },
});

/** Bernoulli (opset 15): 1 where a uniform draw u < input[i] (the probability), else 0, as dtype (default the input's). */
export const Bernoulli = defineOp({
  name: 'Bernoulli',
  inputs: ['input'],
  outputs: ['output'],
  attrs: { dtype: attr.optInt(), seed: attr.optFloat() },
  category: 'opaque',
  doc: 'Bernoulli draws with the input as probabilities (deterministic per seed).',
  infer([x], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'input');
    return [{ dtype: floatDType(ctx.attrs.dtype, x!.dtype, ctx.node, [...NUMERIC, 'bool']), shape: x!.shape }];
  },
  cpu([x], ctx) {
    const key = seedKey(ctx.attrs.seed);
    return [fill(ctx.outputs[0]!.dtype, x!.shape, (i) => (uniform01(key, i) < x!.data[i]! ? 1 : 0))];
  },
});

/** Random generators. */
export const randomOps = { RandomUniform, RandomNormal, RandomUniformLike, RandomNormalLike, Bernoulli } as const;
