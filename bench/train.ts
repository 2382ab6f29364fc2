/// <reference types="@webgpu/types" />
/**
 * Training benchmark: Kiln's `Model.fit` against TensorFlow.js (`@tensorflow/tfjs-layers`
 * `fit` on `@tensorflow/tfjs-backend-webgpu`), same model, same data, same adapter, in
 * one process, the two frameworks alternated epoch by epoch (the order flips every
 * round) so that machine load hits them alike.
 *
 * - models: the Fashion-MNIST MLP (784-128-10, ReLU) and a small CNN (two 3×3 stride-2
 *   convolutions 16 and 32 filters with ReLU, then dense 10), logits + softmax
 *   cross-entropy, Adam (lr 0.002, β 0.9/0.999, ε 1e-7), batch 128. TF.js starts from
 *   Kiln's initial weights (converted to its NHWC/HWIO layout), so both runs start from
 *   the same point.
 * - data: the first N training images of Fashion-MNIST (Debian package
 *   dataset-fashion-mnist) and the 10 000 test images for the accuracy check.
 * - epoch time: wall time of one `fit({ epochs: 1 })` call, after one untimed epoch
 *   per framework (shader compilation); median over the timed epochs.
 * - dispatches per step and peak GPU bytes: ./counters.ts wrappers on Dawn's
 *   prototypes, the same for both. A framework's peak is its own live bytes (everything
 *   it created and did not destroy, its model and data included) at their highest,
 *   measured phase by phase so that the other framework's buffers are not counted.
 *
 *   npx tsx bench/train.ts [--models mlp,cnn] [--train N] [--epochs E] [--json FILE] [--md FILE]
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GraphBuilder, Sym } from '../src/graph/builder.js';
import { conv2d, dense, sequential, type Layer } from '../src/graph/layers.js';
import { Tensor } from '../src/graph/tensor.js';
import { readIdx } from '../examples/fashion-mnist/idx.js';
import { Model } from '../src/train/model.js';
import { adam } from '../src/train/optimizers.js';
import { median } from './alternate.js';
import { installGpuCounters, type GpuCounters } from './counters.js';
import { installNavigatorGpu } from './runtimes.js';

/** The benchmarked models. */
export const TRAIN_MODELS = ['mlp', 'cnn'] as const;
/** A benchmarked model's name. */
export type TrainModelName = (typeof TRAIN_MODELS)[number];

const CLASSES = 10;
const BATCH = 128;
const LR = 0.002;

/** [batch, c, h, w] → [batch, c·h·w]. */
const flattenNchw: Layer = (b: GraphBuilder, x: Sym) => {
  const rest = x.shape.slice(1).reduce<number>((a, d) => a * (d as number), 1);
  return b.Reshape([x, b.constant([-1, rest], { dtype: 'int64' })]);
};

/** Kiln's version of a model and the input shape it takes (NCHW for the CNN). */
function kilnLayer(name: TrainModelName): { layer: Layer; inputShape: number[] } {
  if (name === 'mlp') return { layer: sequential(dense(128, { activation: 'relu', seed: 1 }), dense(CLASSES, { seed: 2 })), inputShape: [784] };
  return {
    layer: sequential(
      conv2d(16, { kernel: 3, stride: 2, activation: 'relu', seed: 3 }),
      conv2d(32, { kernel: 3, stride: 2, activation: 'relu', seed: 4 }),
      flattenNchw,
      dense(CLASSES, { seed: 5 }),
    ),
    inputShape: [1, 28, 28],
  };
}

// --- TensorFlow.js (typed loosely: a dev dependency, imported at run time) ---

interface TfTensorT { readonly shape: number[]; dispose(): void; data(): Promise<Float32Array | Int32Array> }
interface TfCoreT {
  setBackend(n: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  tensor(v: Float32Array, shape: number[]): TfTensorT;
  oneHot(indices: TfTensorT, depth: number): TfTensorT;
  tensor1d(v: Int32Array, dtype: 'int32'): TfTensorT;
  losses: { softmaxCrossEntropy(labels: TfTensorT, logits: TfTensorT): TfTensorT };
  train: { adam(lr: number, b1: number, b2: number, eps: number): unknown };
  memory(): { numBytesInGPU?: number; numTensors: number };
}
interface TfLayerModel {
  add(l: unknown): void;
  compile(o: { optimizer: unknown; loss: (y: TfTensorT, p: TfTensorT) => TfTensorT; metrics: string[] }): void;
  fit(x: TfTensorT, y: TfTensorT, o: { epochs: number; batchSize: number; shuffle: boolean; verbose: number }): Promise<{ history: Record<string, number[]> }>;
  evaluate(x: TfTensorT, y: TfTensorT, o: { batchSize: number }): TfTensorT | TfTensorT[];
  getWeights(): TfTensorT[];
  setWeights(w: TfTensorT[]): void;
  dispose(): void;
}
interface TfLayersT {
  sequential(): TfLayerModel;
  layers: Record<'dense' | 'conv2d' | 'flatten' | 'reshape', (o: Record<string, unknown>) => unknown>;
}

/** Permutes a row-major array of `shape` by `perm` (out dim i = in dim perm[i]). */
function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < perm.length; i++) src += idx[i]! * inStrides[perm[i]!]!;
    out[o] = data[src]!;
    for (let i = perm.length - 1; i >= 0; i--) { if (++idx[i]! < outShape[i]!) break; idx[i] = 0; }
  }
  return out;
}

/** TF.js's version of a model (NHWC), with Kiln's initial weights converted to its layouts. */
function tfModel(tf: TfCoreT, tfl: TfLayersT, name: TrainModelName, kilnWeights: readonly Tensor[]): TfLayerModel {
  const m = tfl.sequential();
  const converted: TfTensorT[] = [];
  if (name === 'mlp') {
    m.add(tfl.layers.dense({ units: 128, activation: 'relu', inputShape: [784] }));
    m.add(tfl.layers.dense({ units: CLASSES }));
    for (const w of kilnWeights) converted.push(tf.tensor(w.data as Float32Array, [...w.shape]));
  } else {
    m.add(tfl.layers.reshape({ targetShape: [28, 28, 1], inputShape: [784] }));
    m.add(tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }));
    m.add(tfl.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }));
    m.add(tfl.layers.flatten({}));
    m.add(tfl.layers.dense({ units: CLASSES }));
    const [w1, b1, w2, b2, wd, bd] = kilnWeights as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
    const hwio = (w: Tensor): TfTensorT => tf.tensor(permute(w.data as Float32Array, w.shape, [2, 3, 1, 0]), [w.shape[2]!, w.shape[3]!, w.shape[1]!, w.shape[0]!]);
    // Kiln flattens [32, 7, 7] (CHW), TF.js [7, 7, 32] (HWC): reorder the dense rows.
    const rows = permute(wd.data as Float32Array, [32, 7, 7, CLASSES], [1, 2, 0, 3]);
    converted.push(hwio(w1), tf.tensor(b1.data as Float32Array, [...b1.shape]), hwio(w2), tf.tensor(b2.data as Float32Array, [...b2.shape]),
      tf.tensor(rows, [...wd.shape]), tf.tensor(bd.data as Float32Array, [...bd.shape]));
  }
  m.setWeights(converted);
  converted.forEach((t) => t.dispose());
  m.compile({ optimizer: tf.train.adam(LR, 0.9, 0.999, 1e-7), loss: (y, p) => tf.losses.softmaxCrossEntropy(y, p), metrics: ['accuracy'] });
  return m;
}

// --- measurement ---

/** Per-framework results of one model. */
export interface FrameworkResult {
  /** Timed epochs, ms each, in order. */
  epochMs: number[];
  /** Median of epochMs. */
  medianMs: number;
  /** Process CPU ms per timed epoch (all threads, lavapipe's included), median. */
  cpuMedianMs: number;
  /** Compute dispatches per training step (median over the timed epochs). */
  dispatchesPerStep: number;
  /** Bytes written with queue.writeBuffer per step (median). */
  uploadBytesPerStep: number;
  /** GPU bytes the framework had live at its peak (model, optimizer state, data, scratch). */
  peakBytes: number;
  /** Mean training loss of each epoch (untimed first epoch included). */
  epochLoss: number[];
  /** Accuracy on the 10 000 test images after the last epoch. */
  testAccuracy: number;
}

/** One model's comparison. */
export interface TrainBenchResult {
  model: TrainModelName;
  trainImages: number;
  batchSize: number;
  stepsPerEpoch: number;
  kiln: FrameworkResult;
  tfjs: FrameworkResult;
  /** Kiln ÷ TF.js: median epoch time, dispatches per step, peak GPU bytes. */
  ratios: { epoch: number; dispatches: number; peakBytes: number };
}

/** Tracks one framework's own live GPU bytes across the phases it runs in. */
class Phases {
  own = 0;
  peak = 0;
  private startLive = 0;
  constructor(private readonly c: GpuCounters) {}
  begin(): void { this.startLive = this.c.liveBytes; this.c.peakBytes = this.c.liveBytes; }
  end(): void {
    this.peak = Math.max(this.peak, this.own + this.c.peakBytes - this.startLive);
    this.own += this.c.liveBytes - this.startLive;
  }
}

interface Runner {
  epoch(seed: number): Promise<number>;
  testAccuracy(): Promise<number>;
  release(): void;
}

async function kilnRunner(name: TrainModelName, x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, device: GPUDevice): Promise<{ runner: Runner; weights: Tensor[] }> {
  const { layer, inputShape } = kilnLayer(name);
  const model = new Model(layer, { inputShape, name: `bench_${name}` });
  const weights = [...model.forward.initializers.values()].filter((t) => t.dtype === 'float32' && t.shape.length >= 1);
  model.compile({ optimizer: adam({ lr: LR }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend: 'webgpu', device });
  const shape = (t: Tensor): Tensor => new Tensor('float32', [t.shape[0]!, ...inputShape], t.data as Float32Array);
  const xs = shape(x);
  const xts = shape(xt);
  return {
    weights,
    runner: {
      epoch: async (seed) => (await model.fit(xs, y, { epochs: 1, batchSize: BATCH, shuffle: true, seed })).epochs[0]!.loss,
      testAccuracy: async () => (await model.evaluate(xts, yt, { batchSize: 1000 })).accuracy!,
      release: () => model.release(),
    },
  };
}

async function tfRunner(tf: TfCoreT, tfl: TfLayersT, name: TrainModelName, x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, weights: readonly Tensor[]): Promise<Runner> {
  const model = tfModel(tf, tfl, name, weights);
  const labels = (t: Tensor): TfTensorT => { const i = tf.tensor1d(Int32Array.from(t.data as Int32Array), 'int32'); const o = tf.oneHot(i, CLASSES); i.dispose(); return o; };
  const xs = tf.tensor(x.data as Float32Array, [...x.shape]);
  const ys = labels(y);
  const xts = tf.tensor(xt.data as Float32Array, [...xt.shape]);
  const yts = labels(yt);
  return {
    epoch: async () => {
      const h = await model.fit(xs, ys, { epochs: 1, batchSize: BATCH, shuffle: true, verbose: 0 });
      return h.history.loss![0]!;
    },
    testAccuracy: async () => {
      const r = model.evaluate(xts, yts, { batchSize: 1000 }) as TfTensorT[];
      const acc = Number((await r[1]!.data())[0]);
      r.forEach((t) => t.dispose());
      return acc;
    },
    release: () => { model.dispose(); [xs, ys, xts, yts].forEach((t) => t.dispose()); },
  };
}

/** Options of {@link benchTraining}. */
export interface TrainBenchOptions {
  readonly models?: readonly TrainModelName[];
  /** Training images (the first N of the training set; default 10 000). */
  readonly trainImages?: number;
  /** Timed epochs per framework (default 3); one untimed epoch each comes first. */
  readonly epochs?: number;
  readonly log?: (line: string) => void;
}

/** Runs the comparison for each model; both frameworks in this process, on the same adapter. */
export async function benchTraining(o: TrainBenchOptions = {}): Promise<{ machine: string; results: TrainBenchResult[] }> {
  const log = o.log ?? ((l: string) => console.error(l));
  const gpu = await installNavigatorGpu();
  const c = installGpuCounters();
  const tf = (await import('@tensorflow/tfjs-core')) as unknown as TfCoreT;
  await import('@tensorflow/tfjs-backend-webgpu');
  const tfl = (await import('@tensorflow/tfjs-layers')) as unknown as TfLayersT;
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialize its webgpu backend');
  await tf.ready();
  const adapter = await gpu.requestAdapter();
  const info = adapter?.info;
  const machine = `${info ? `${info.description || info.device} (${info.vendor}/${info.architecture})` : '?'}, ${os.cpus().length} vCPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}`;
  const { requestDevice } = await import('../src/backends/webgpu/device.js');
  const device = (await requestDevice({ label: 'kiln train bench' })).device;

  const n = o.trainImages ?? 10_000;
  const epochs = o.epochs ?? 3;
  const x = readIdx('train-images-idx3-ubyte.gz', n);
  const y = readIdx('train-labels-idx1-ubyte.gz', n);
  const xt = readIdx('t10k-images-idx3-ubyte.gz', 10_000);
  const yt = readIdx('t10k-labels-idx1-ubyte.gz', 10_000);
  const steps = Math.floor(n / BATCH);
  const results: TrainBenchResult[] = [];
  for (const name of o.models ?? TRAIN_MODELS) {
    const ph = { kiln: new Phases(c), tfjs: new Phases(c) };
    ph.kiln.begin();
    const k = await kilnRunner(name, x, y, xt, yt, device);
    ph.kiln.end();
    ph.tfjs.begin();
    const t = await tfRunner(tf, tfl, name, x, y, xt, yt, k.weights);
    ph.tfjs.end();
    const runners = { kiln: k.runner, tfjs: t };
    const per = {
      kiln: { ms: [] as number[], cpu: [] as number[], disp: [] as number[], up: [] as number[], loss: [] as number[] },
      tfjs: { ms: [] as number[], cpu: [] as number[], disp: [] as number[], up: [] as number[], loss: [] as number[] },
    };
    for (let round = 0; round <= epochs; round++) {
      const order: ('kiln' | 'tfjs')[] = round % 2 === 0 ? ['kiln', 'tfjs'] : ['tfjs', 'kiln'];
      for (const f of order) {
        ph[f].begin();
        const d0 = c.dispatches; const u0 = c.bytesWritten; const c0 = process.cpuUsage();
        const t0 = performance.now();
        const loss = await runners[f].epoch(round + 1);
        await device.queue.onSubmittedWorkDone();
        const ms = performance.now() - t0;
        const cu = process.cpuUsage(c0);
        ph[f].end();
        per[f].loss.push(loss);
        if (round === 0) { log(`train bench: ${name} ${f} untimed epoch ${ms.toFixed(0)} ms, loss ${loss.toFixed(4)}`); continue; }
        per[f].ms.push(ms);
        per[f].cpu.push((cu.user + cu.system) / 1000);
        per[f].disp.push((c.dispatches - d0) / steps);
        per[f].up.push((c.bytesWritten - u0) / steps);
        log(`train bench: ${name} ${f} epoch ${round}/${epochs} ${ms.toFixed(0)} ms, loss ${loss.toFixed(4)}, ${((c.dispatches - d0) / steps).toFixed(1)} dispatches/step`);
      }
    }
    const summary = async (f: 'kiln' | 'tfjs'): Promise<FrameworkResult> => {
      ph[f].begin();
      const acc = await runners[f].testAccuracy();
      ph[f].end();
      return {
        epochMs: per[f].ms, medianMs: median(per[f].ms), cpuMedianMs: median(per[f].cpu), dispatchesPerStep: median(per[f].disp),
        uploadBytesPerStep: median(per[f].up), peakBytes: ph[f].peak, epochLoss: per[f].loss, testAccuracy: acc,
      };
    };
    const kr = await summary('kiln');
    const tr = await summary('tfjs');
    runners.kiln.release();
    runners.tfjs.release();
    const r: TrainBenchResult = {
      model: name, trainImages: n, batchSize: BATCH, stepsPerEpoch: steps, kiln: kr, tfjs: tr,
      ratios: { epoch: kr.medianMs / tr.medianMs, dispatches: kr.dispatchesPerStep / tr.dispatchesPerStep, peakBytes: kr.peakBytes / tr.peakBytes },
    };
    log(`train bench: ${name}: epoch Kiln ${kr.medianMs.toFixed(0)} ms / TF.js ${tr.medianMs.toFixed(0)} ms = ${r.ratios.epoch.toFixed(2)}; test accuracy ${(100 * kr.testAccuracy).toFixed(1)} % / ${(100 * tr.testAccuracy).toFixed(1)} %`);
    results.push(r);
  }
  device.destroy();
  return { machine, results };
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

/** The results as a markdown table plus the target line (epoch time ratio ≤ 0.5). */
export function trainMarkdown(results: readonly TrainBenchResult[]): string {
  const first = results[0];
  const lines = [
    first ? `Fashion-MNIST, first ${first.trainImages} training images, batch ${first.batchSize} (${first.stepsPerEpoch} steps/epoch), Adam; ${first.kiln.epochMs.length} timed epochs per framework after one untimed, alternated in one process on the same adapter. Peak GPU MiB: the framework's own live buffers at their highest (TF.js keeps the whole training set on the GPU; Kiln uploads each batch).` : 'No results.',
    '',
    '| model | framework | epoch median ms | epochs ms | CPU ms/epoch | dispatches/step | upload KiB/step | peak GPU MiB | loss first → last epoch | test accuracy |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const [f, s] of [['**kiln**', r.kiln], ['tfjs-layers (webgpu)', r.tfjs]] as const) {
      lines.push(`| ${r.model} | ${f} | ${s.medianMs.toFixed(0)} | ${s.epochMs.map((v) => v.toFixed(0)).join(', ')} | ${s.cpuMedianMs.toFixed(0)} | ${s.dispatchesPerStep.toFixed(1)} | ${(s.uploadBytesPerStep / 1024).toFixed(1)} | ${mib(s.peakBytes)} | ${s.epochLoss[0]!.toFixed(3)} → ${s.epochLoss.at(-1)!.toFixed(3)} | ${(100 * s.testAccuracy).toFixed(1)} % |`);
    }
  }
  lines.push('', '| model | Kiln ÷ TF.js epoch time | dispatches/step | peak GPU bytes |', '|---|---:|---:|---:|');
  for (const r of results) lines.push(`| ${r.model} | ${r.ratios.epoch.toFixed(2)} | ${r.ratios.dispatches.toFixed(2)} | ${r.ratios.peakBytes.toFixed(2)} |`);
  const missed = results.filter((r) => r.ratios.epoch > 0.5);
  lines.push('', `- epoch time Kiln ÷ TF.js ≤ 0.5 on the MLP and the CNN: ${results.length && !missed.length ? 'met' : `missed on ${missed.length}/${results.length}`}${missed.length ? ` (${missed.map((r) => `${r.model} ${r.ratios.epoch.toFixed(2)}`).join(', ')})` : ''}`);
  return lines.join('\n');
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const models = arg('models', TRAIN_MODELS.join(',')).split(',').filter((m): m is TrainModelName => (TRAIN_MODELS as readonly string[]).includes(m));
  const { machine, results } = await benchTraining({ models, trainImages: Number(arg('train', '10000')), epochs: Number(arg('epochs', '3')) });
  const md = `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${machine}.\n\n${trainMarkdown(results)}\n`;
  if (process.argv.includes('--json')) writeFileSync(arg('json', 'train-bench.json'), `${JSON.stringify({ machine, results }, null, 2)}\n`);
  if (process.argv.includes('--md')) writeFileSync(arg('md', 'train-bench.md'), md);
  console.log(md);
  process.exit(0);
}
