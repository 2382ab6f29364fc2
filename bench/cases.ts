/**
 * Benchmark cases: every model in `../shared/models` (with its `test_data_set_0`
 * input), any `.onnx` path, and three synthetic cases built with Kiln's builder,
 * exported to ONNX for the ONNX runtimes and written again with tfjs ops for
 * tfjs-webgpu:
 *
 * - `matmul1024`: Y = A·B, A and B float32[1024,1024] fed every run;
 * - `mlp`: 3-layer perceptron 784→512→512→10 (MatMul+Add+Relu), batch 64;
 * - `convstack`: 3×(Conv 3×3 + Relu [+ MaxPool 2]) 3→16→32→64 on a 1×3×64×64 image,
 *   GlobalAveragePool, Flatten, a 64→10 MatMul.
 *
 * Weights and inputs come from a deterministic hash, so every process builds the
 * same case.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, type Sym } from '../src/graph/builder.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { permute } from '../src/graph/ops/index-util.js';
import '../src/graph/ops/index.js';
import { exportModel } from '../onnx/export.js';
import { readTensorFile } from '../onnx/tensor-proto.js';

/** This folder: bench/ in the sources, dist/bench/ in the compiled build. */
export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (also from the compiled build, whose files sit under dist/). */
export const REPO_ROOT = ((up: string) => (path.basename(up) === 'dist' ? path.dirname(up) : up))(path.resolve(BENCH_DIR, '..'));
/** Where the shared models live. */
export const SHARED_MODELS = path.resolve(REPO_ROOT, '../shared/models');

/** Minimal tfjs surface the synthetic cases use (typed loosely: tfjs is a dev dependency). */
export interface TfLike {
  tensor(values: Float32Array, shape: number[]): TfTensor;
  matMul(a: TfTensor, b: TfTensor): TfTensor;
  add(a: TfTensor, b: TfTensor): TfTensor;
  relu(a: TfTensor): TfTensor;
  conv2d(x: TfTensor, f: TfTensor, strides: number, pad: 'same' | 'valid'): TfTensor;
  maxPool(x: TfTensor, size: number, strides: number, pad: 'same' | 'valid'): TfTensor;
  mean(x: TfTensor, axes: number[]): TfTensor;
}
/** A tfjs tensor, as far as the harness uses it. */
export interface TfTensor {
  readonly shape: number[];
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
}

/** A tfjs version of a synthetic case: weights made once, `run` called per inference. */
export interface TfModel {
  /** Builds the outputs from the inputs (NHWC images where the ONNX case is NCHW). */
  run(inputs: TfTensor[]): TfTensor;
  /** Inputs for tfjs, in its layout, as raw data + shape (uploaded every run). */
  inputs: { data: Float32Array; shape: number[] }[];
}

/** One benchmark case. */
export interface BenchCase {
  /** Short name (folder name for shared models). */
  readonly name: string;
  /** 'shared' for ../shared/models, 'file' for a path, 'synthetic' for built cases. */
  readonly kind: 'shared' | 'file' | 'synthetic';
  /** ONNX model bytes. */
  onnx(): Uint8Array;
  /** Path of the .onnx file (shared models and files), for external data. */
  readonly path?: string;
  /** Input tensors, in graph input order, by name. */
  feeds(): Record<string, Tensor>;
  /** Expected outputs (test_data_set_0/output_N.pb), when the case has them. */
  expected?(): Tensor[];
  /** Floating-point operations per inference, when simple to state (for GFLOP/s). */
  readonly flops?: number;
  /** The tfjs version, for synthetic cases. */
  tfjs?(tf: TfLike): TfModel;
}

/** Deterministic values in [-scale, scale) from an index and a seed. */
export function hashValues(n: number, seed: number, scale = 0.5): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
    out[i] = (x - Math.floor(x) - 0.5) * 2 * scale;
  }
  return out;
}

function tensor(shape: number[], seed: number, scale = 0.5): Tensor {
  return new Tensor('float32', shape, hashValues(shape.reduce((a, b) => a * b, 1), seed, scale));
}

/** OIHW → HWIO (tfjs filter layout). */
const toHwio = (w: Tensor): Float32Array => permute(w, [2, 3, 1, 0]).data as Float32Array;

/** NCHW → NHWC. */
const toNhwc = (t: Tensor): Float32Array => permute(t, [0, 2, 3, 1]).data as Float32Array;

function synthetic(name: string, build: () => { graph: Graph; feeds: Record<string, Tensor> }, flops: number,
  tfjs: (tf: TfLike, feeds: Record<string, Tensor>, graph: Graph) => TfModel): BenchCase {
  let cache: { graph: Graph; feeds: Record<string, Tensor> } | undefined;
  const get = (): { graph: Graph; feeds: Record<string, Tensor> } => (cache ??= build());
  return {
    name, kind: 'synthetic', flops,
    onnx: () => exportModel(get().graph),
    feeds: () => get().feeds,
    tfjs: (tf) => tfjs(tf, get().feeds, get().graph),
  };
}

const MLP = [784, 512, 512, 10];

function mlpCase(): BenchCase {
  const weights = MLP.slice(1).map((n, l) => ({ w: tensor([MLP[l]!, n], 10 + l, 1 / Math.sqrt(MLP[l]!)), b: tensor([n], 20 + l, 0.1) }));
  return synthetic('mlp', () => {
    const b = new GraphBuilder('mlp');
    let h: Sym = b.input('x', 'float32', [64, MLP[0]!]);
    weights.forEach(({ w, b: bias }, l) => {
      h = b.Add([b.MatMul([h, b.constant(w, { name: `w${l}` })]), b.constant(bias, { name: `b${l}` })]);
      if (l < weights.length - 1) h = b.Relu([h]);
    });
    b.output(h, 'y');
    return { graph: b.build(), feeds: { x: tensor([64, MLP[0]!], 1) } };
  }, 2 * 64 * MLP.slice(1).reduce((s, n, l) => s + MLP[l]! * n, 0), (tf, feeds) => {
    const ws = weights.map(({ w, b }) => ({ w: tf.tensor(w.data as Float32Array, [...w.shape]), b: tf.tensor(b.data as Float32Array, [...b.shape]) }));
    return {
      inputs: [{ data: feeds['x']!.data as Float32Array, shape: [...feeds['x']!.shape] }],
      run: ([x]) => ws.reduce((h, { w, b }, l) => {
        const y = tf.add(tf.matMul(h, w), b);
        return l < ws.length - 1 ? tf.relu(y) : y;
      }, x!),
    };
  });
}

const CONV = [3, 16, 32, 64];
const IMG = 64;

function convCase(): BenchCase {
  const convs = CONV.slice(1).map((o, l) => ({ w: tensor([o, CONV[l]!, 3, 3], 30 + l, 1 / Math.sqrt(9 * CONV[l]!)), b: tensor([o], 40 + l, 0.1) }));
  const fc = tensor([64, 10], 50, 0.125);
  let flops = 0;
  let hw = IMG;
  CONV.slice(1).forEach((o, l) => { flops += 2 * hw * hw * o * CONV[l]! * 9; if (l < 2) hw /= 2; });
  flops += 2 * 64 * 10;
  return synthetic('convstack', () => {
    const b = new GraphBuilder('convstack');
    let h: Sym = b.input('x', 'float32', [1, 3, IMG, IMG]);
    convs.forEach(({ w, b: bias }, l) => {
      h = b.Relu([b.Conv([h, b.constant(w, { name: `conv${l}.w` }), b.constant(bias, { name: `conv${l}.b` })], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] })]);
      if (l < 2) h = b.MaxPool([h], { kernel_shape: [2, 2], strides: [2, 2] });
    });
    h = b.Flatten([b.GlobalAveragePool([h])], { axis: 1 });
    b.output(b.MatMul([h, b.constant(fc, { name: 'fc.w' })]), 'y');
    return { graph: b.build(), feeds: { x: tensor([1, 3, IMG, IMG], 2) } };
  }, flops, (tf, feeds) => {
    const ws = convs.map(({ w, b }) => ({ w: tf.tensor(toHwio(w), [3, 3, w.shape[1]!, w.shape[0]!]), b: tf.tensor(b.data as Float32Array, [...b.shape]) }));
    const f = tf.tensor(fc.data as Float32Array, [64, 10]);
    return {
      inputs: [{ data: toNhwc(feeds['x']!), shape: [1, IMG, IMG, 3] }],
      run: ([x]) => {
        let h = x!;
        ws.forEach(({ w, b }, l) => {
          h = tf.relu(tf.add(tf.conv2d(h, w, 1, 'same'), b));
          if (l < 2) h = tf.maxPool(h, 2, 2, 'valid');
        });
        return tf.matMul(tf.mean(h, [1, 2]), f);
      },
    };
  });
}

function matmulCase(n = 1024): BenchCase {
  return synthetic(`matmul${n}`, () => {
    const b = new GraphBuilder('matmul');
    b.output(b.MatMul([b.input('a', 'float32', [n, n]), b.input('b', 'float32', [n, n])]), 'y');
    return { graph: b.build(), feeds: { a: tensor([n, n], 3), b: tensor([n, n], 4) } };
  }, 2 * n * n * n, (tf, feeds) => ({
    inputs: ['a', 'b'].map((k) => ({ data: feeds[k]!.data as Float32Array, shape: [...feeds[k]!.shape] })),
    run: ([a, b]) => tf.matMul(a!, b!),
  }));
}

/** Names of the synthetic cases. */
export const SYNTHETIC = ['matmul1024', 'mlp', 'convstack'] as const;

/** A model file with `test_data_set_0/input_N.pb` beside it (names from the files, else graph order). */
function fileCase(name: string, file: string, kind: 'shared' | 'file'): BenchCase {
  const dataDir = path.join(path.dirname(file), 'test_data_set_0');
  const pbs = (prefix: string): string[] => existsSync(dataDir)
    ? readdirSync(dataDir).filter((f) => f.startsWith(prefix) && f.endsWith('.pb')).sort((a, b) => parseInt(a.slice(prefix.length), 10) - parseInt(b.slice(prefix.length), 10)).map((f) => path.join(dataDir, f))
    : [];
  const c: BenchCase = {
    name, kind, path: file,
    onnx: () => readFileSync(file),
    feeds: () => {
      const files = pbs('input_');
      if (files.length === 0) throw new Error(`${file}: no test_data_set_0/input_N.pb to feed the model with`);
      return Object.fromEntries(files.map((f, i) => {
        const { name: n, tensor: t } = readTensorFile(f);
        return [n || `#${i}`, t];
      }));
    },
  };
  if (pbs('output_').length) c.expected = () => pbs('output_').map((f) => readTensorFile(f).tensor);
  return c;
}

/** Names of the shared models present (sorted). */
export function sharedModelNames(): string[] {
  if (!existsSync(SHARED_MODELS)) return [];
  return readdirSync(SHARED_MODELS).filter((d) => existsSync(path.join(SHARED_MODELS, d, 'model.onnx'))).sort();
}

/**
 * Resolves a case: a synthetic name, a shared model's folder name, or a path to an
 * .onnx file (or a folder holding model.onnx).
 */
export function resolveCase(spec: string): BenchCase {
  if (spec === 'matmul1024') return matmulCase(1024);
  const m = /^matmul(\d+)$/.exec(spec);
  if (m) return matmulCase(Number(m[1]));
  if (spec === 'mlp') return mlpCase();
  if (spec === 'convstack') return convCase();
  if (sharedModelNames().includes(spec)) return fileCase(spec, path.join(SHARED_MODELS, spec, 'model.onnx'), 'shared');
  const file = existsSync(spec) && !spec.endsWith('.onnx') && existsSync(path.join(spec, 'model.onnx')) ? path.join(spec, 'model.onnx') : spec;
  if (!existsSync(file)) {
    throw new Error(`unknown model '${spec}': not a file, not one of ${[...SYNTHETIC, ...sharedModelNames()].join(', ')}`);
  }
  return fileCase(path.basename(file) === 'model.onnx' ? path.basename(path.dirname(file)) : path.basename(file, '.onnx'), path.resolve(file), 'file');
}
