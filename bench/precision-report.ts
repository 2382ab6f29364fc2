/// <reference types="@webgpu/types" />
/**
 * Precision report (issue #15): per shared model and precision (fp32, fp16, int8,
 * int4) — ONNX file size, peak GPU memory (every buffer the WebGPU execution plan
 * allocates: weights, inputs, intermediates), warm latency on WebGPU (median of
 * `--runs` runs after two warm-up runs), and accuracy against fp32 on `--inputs`
 * seeded inputs: max abs error, top-1 agreement (classifiers), cosine similarity of
 * the float outputs (transformers; the smallest over the inputs).
 *
 *   npx tsx bench/precision-report.ts [model ...] [--runs N] [--inputs N] [--precisions fp32,int4,...] [--cpu-accuracy]
 *     [--images noise|fashion-mnist]
 *
 * How each precision is made (the same code paths as `kiln optimize`):
 * - fp32: the O2 pipeline;
 * - fp16: the mixed-precision pass (4 seeded calibration batches) inside O2;
 * - int8: O2, then per-channel int8 weights behind DequantizeLinear (--quantize int8);
 * - int4: MatMul/Gemm weights as MatMulNBits blocks of 32 before O2 (--quantize int4;
 *   Conv weights stay float32, so the CNNs change only in their classifier);
 * - qdq / dynamic: scripts/quantize-models.ts's forms (quantize-activations.ts: static
 *   QDQ calibrated on the 4 seeded batches, or DynamicQuantizeLinear + MatMulInteger), then O2.
 * Accuracy runs on WebGPU unless --cpu-accuracy (then the CPU reference runs both
 * graphs). Inputs: images uniform in [-2, 2); token ids uniform below the largest id
 * of the model's test input (at least 100), masks and other inputs as in the test data;
 * with `--images fashion-mnist` the classifiers get Fashion-MNIST test photos instead.
 * The figures come from the machine the script runs on; on this project's CI machine
 * that is Mesa lavapipe (a CPU Vulkan driver), so latencies are not GPU figures.
 */
import path from 'node:path';
import { SHARED_MODELS } from './cases.js';
import { median } from './harness.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu, type WebGpuProgram } from '../src/backends/webgpu/index.js';
import { requestDevice } from '../src/backends/webgpu/device.js';
import { Rng } from '../src/graph/random.js';
import { Tensor, type Graph } from '../src/graph/index.js';
import { mixedPrecisionPass } from '../src/passes/mixed-precision.js';
import { optimize } from '../src/passes/pipelines.js';
import { quantizeWeights } from '../src/passes/quantize-weights.js';
import { quantizeDynamic, quantizeStatic } from '../src/passes/quantize-activations.js';
import { exportModel } from '../onnx/export.js';
import { importModelFile } from '../onnx/import.js';
import { seededInputs, testInputs } from '../scripts/quantize-models.js';
import { readIdx } from '../examples/fashion-mnist/idx.js';
import { MEAN, STD } from '../examples/classify/preprocess.js';
import { runReference } from '../src/graph/reference.js';

const PRECISIONS = ['fp32', 'fp16', 'int8', 'int4', 'qdq', 'dynamic'] as const;
type Precision = (typeof PRECISIONS)[number];
const CLASSIFIERS = new Set(['mobilenet_v2', 'resnet18', 'squeezenet1_1']);
const DEFAULT_MODELS = ['squeezenet1_1', 'mobilenet_v2', 'resnet18', 'bert_tiny', 'bert_tiny_opset13', 'gpt2_tiny', 'gpt2_tiny_opset13'];

type Feeds = Record<string, Tensor>;

/** The graph a precision runs. */
function prepare(g: Graph, p: Precision, template: Feeds): Graph {
  if (p === 'fp32') return optimize(g).graph;
  const batches = [1, 2, 3, 4].map((k) => new Map(Object.entries(seededInputs(template, 1000 + k))));
  if (p === 'fp16') return optimize(g, {}, { precision: mixedPrecisionPass(batches) }).graph;
  if (p === 'qdq') return optimize(quantizeStatic(g, batches).graph).graph;
  if (p === 'dynamic') return optimize(quantizeDynamic(g).graph).graph;
  if (p === 'int8') return quantizeWeights(optimize(g).graph, { bits: 8 }).graph;
  return optimize(quantizeWeights(g, { bits: 4, blockSize: 32 }).graph).graph;
}

/**
 * Real photos for the image classifiers: Fashion-MNIST test images (28×28 grey product
 * photos, Debian's dataset-fashion-mnist), resized bilinearly (the Resize op's reference) to the model's input size,
 * repeated over the 3 channels and normalized with ImageNet's mean and std. Noise inputs
 * give logits with tiny margins; these give the classifiers something to recognize.
 */
function fashionInputs(template: Feeds, n: number): Feeds[] {
  const [name, t] = Object.entries(template).find(([, v]) => v.dtype === 'float32' && v.shape.length === 4)
    ?? (() => { throw new Error('--images fashion-mnist: the model has no float NCHW input'); })();
  const [, c, h, w] = t.shape as [number, number, number, number];
  const imgs = readIdx('t10k-images-idx3-ubyte.gz', n);
  const resize = { name: 'fashion_resize', op: 'Resize', domain: '', inputs: ['x', '', '', 'sizes'], outputs: ['y'], attrs: { mode: 'linear' } };
  const grey = runReference(resize, [
    Tensor.from('float32', [n, 1, 28, 28], imgs.data as Float32Array), undefined, undefined, Tensor.from('int64', [4], [n, 1, h, w]),
  ])[0]!.data as Float32Array;
  const plane = h * w;
  return Array.from({ length: n }, (_, k) => {
    const out = new Float32Array(c * plane);
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < plane; p++) out[ch * plane + p] = (grey[k * plane + p]! - MEAN[ch % 3]!) / STD[ch % 3]!;
    }
    return { ...template, [name]: Tensor.from('float32', [...t.shape], out) };
  });
}

/** Float outputs flattened into one array (the order of the graph outputs). */
function flatOutputs(g: Graph, out: Record<string, Tensor>): Float64Array {
  const parts = g.outputs.filter((o) => o.dtype === 'float32' || o.dtype === 'float16').map((o) => out[o.name]!);
  const total = parts.reduce((s, t) => s + t.size, 0);
  const flat = new Float64Array(total);
  let at = 0;
  for (const t of parts) { for (let i = 0; i < t.size; i++) flat[at + i] = Number(t.data[i]); at += t.size; }
  return flat;
}

function argmax(a: Float64Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

function cosine(a: Float64Array, b: Float64Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
  return ab / Math.sqrt(aa * bb);
}

interface Row {
  model: string;
  precision: Precision;
  fileBytes: number;
  peakGpuBytes: number;
  warmMs: number;
  dispatches: number;
  maxAbs: number;
  top1?: number;
  cosine?: number;
  nonFinite: number;
  inputs: number;
}

type Runner = (f: Feeds) => Promise<Record<string, Tensor>>;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const num = (flag: string, dflt: number): number => { const i = args.indexOf(flag); return i >= 0 ? Number(args[i + 1]) : dflt; };
  const runs = num('--runs', 10);
  const nInputs = num('--inputs', 100);
  const cpuAccuracy = args.includes('--cpu-accuracy');
  const ii = args.indexOf('--images');
  const images = ii >= 0 ? args[ii + 1]! : 'noise';
  if (!['noise', 'fashion-mnist'].includes(images)) throw new Error(`--images: noise or fashion-mnist (got ${images})`);
  const pi = args.indexOf('--precisions');
  const precisions = pi >= 0 ? args[pi + 1]!.split(',') as Precision[] : [...PRECISIONS];
  const bad = precisions.filter((p) => !PRECISIONS.includes(p));
  if (bad.length || !precisions.includes('fp32')) throw new Error(`--precisions: a comma list of ${PRECISIONS.join(', ')} including fp32 (got ${args[pi + 1]})`);
  const names = args.filter((a, i) => !a.startsWith('--') && !['--runs', '--inputs', '--precisions', '--images'].includes(args[i - 1] ?? ''));
  const { device, info } = await requestDevice({ label: 'precision-report' });
  const gpuName = `${info.description || info.device || info.vendor || 'unknown adapter'}${info.isFallbackAdapter ? ' (software adapter)' : ''}`;
  process.stderr.write(`WebGPU adapter: ${gpuName}; f16 storage: ${device.features.has('shader-f16')}\n`);
  const rows: Row[] = [];
  for (const model of names.length ? names : DEFAULT_MODELS) {
    const dir = path.join(SHARED_MODELS, model);
    const g = importModelFile(path.join(dir, 'model.onnx'));
    const template = testInputs(dir, g);
    const inputs = images === 'fashion-mnist' && CLASSIFIERS.has(model)
      ? fashionInputs(template, nInputs)
      : Array.from({ length: nInputs }, (_, k) => seededInputs(template, k + 1));
    let reference: Float64Array[] | undefined;
    for (const p of PRECISIONS.filter((x) => precisions.includes(x))) {
      const t0 = performance.now();
      const graph = prepare(g, p, template);
      const fileBytes = exportModel(graph).length;
      const prog: WebGpuProgram = await compileWebGpu(graph, { device });
      const gpuRun: Runner = async (f) => (await prog.run(f)) as Record<string, Tensor>;
      await gpuRun(inputs[0]!);
      await gpuRun(inputs[0]!);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const s = performance.now();
        await gpuRun(inputs[i % inputs.length]!);
        times.push(performance.now() - s);
      }
      const plan = prog.plan!;
      const cpu = cpuAccuracy ? compileCpu(graph) : undefined;
      const run: Runner = cpu ? async (f) => cpu.run(f) : gpuRun;
      const outs: Float64Array[] = [];
      for (const f of inputs) outs.push(flatOutputs(graph, await run(f)));
      if (p === 'fp32') reference = outs;
      const ref = reference!;
      let maxAbs = 0, agree = 0, minCos = 1, nonFinite = 0;
      outs.forEach((o, k) => {
        const r = ref[k]!;
        for (let i = 0; i < o.length; i++) {
          if (!Number.isFinite(o[i]!)) nonFinite++;
          else maxAbs = Math.max(maxAbs, Math.abs(o[i]! - r[i]!));
        }
        if (argmax(o) === argmax(r)) agree++;
        minCos = Math.min(minCos, cosine(o, r));
      });
      const row: Row = {
        model, precision: p, fileBytes, peakGpuBytes: plan.plan.peakBytes, warmMs: median(times), dispatches: plan.dispatches.length,
        maxAbs, nonFinite, inputs: outs.length,
        ...(CLASSIFIERS.has(model) ? { top1: agree / outs.length } : { cosine: minCos }),
      };
      rows.push(row);
      prog.release();
      process.stderr.write(`${model} ${p}: ${JSON.stringify(row)} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
  }
  const mib = (b: number): string => (b / 2 ** 20).toFixed(2);
  const lines = [
    `WebGPU adapter: ${gpuName}${device.features.has('shader-f16') ? ' (shader-f16)' : ''}; warm latency: median of ${runs} runs; accuracy vs fp32 on ${nInputs} ${images === 'fashion-mnist' ? 'Fashion-MNIST photos (classifiers; seeded inputs for the others)' : 'seeded inputs'} on ${cpuAccuracy ? 'the CPU reference' : 'WebGPU'}.`,
    '',
    '| model | precision | file MiB (× fp32) | peak GPU MiB | warm ms (× fp32) | dispatches | max abs err | top-1 / min cosine | non-finite |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const base = rows.find((x) => x.model === r.model && x.precision === 'fp32')!;
    const acc = r.top1 !== undefined ? `top-1 ${(100 * r.top1).toFixed(0)} %` : `cos ${r.cosine!.toFixed(6)}`;
    lines.push(`| ${r.model} | ${r.precision} | ${mib(r.fileBytes)} (${(r.fileBytes / base.fileBytes).toFixed(2)}) | ${mib(r.peakGpuBytes)} | ${r.warmMs.toFixed(1)} (${(r.warmMs / base.warmMs).toFixed(2)}) | ${r.dispatches} | ${r.maxAbs.toExponential(2)} | ${acc} | ${r.nonFinite} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  device.destroy();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
