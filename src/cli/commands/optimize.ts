/**
 * `kiln optimize IN OUT [-O level] [--fp16 [--calibration DIR] [--dim n=N]]`: optimizes a model and writes it as standard
 * ONNX (through onnx/export.ts, which expands Fused groups back into standard ops),
 * or in Kiln's .json format when OUT ends in .json (fused groups kept). Prints what
 * changed: node counts before and after, and the per-op histogram difference.
 * With `--fp16`, the mixed-precision pass (src/passes/mixed-precision.ts) converts
 * float32 to float16 where the calibration (the test_data_set_* inputs of DIR, or
 * seeded random batches) shows it safe, and prints which nodes stayed float32 and why.
 * With `--quantize int8`, the float32 weights of MatMul/Gemm/Conv are stored as int8
 * with per-channel scales behind a standard DequantizeLinear; with `--quantize int4
 * [--block 32]`, MatMul/Gemm weights as 4-bit blocks of com.microsoft MatMulNBits,
 * which ONNX Runtime runs too (quantize-weights.ts). With `--quantize qdq`, activations
 * too: static QDQ (QuantizeLinear/DequantizeLinear pairs, ranges calibrated on the
 * `--calibration` inputs or seeded random batches with the CPU reference); with
 * `--quantize dynamic`, DynamicQuantizeLinear + MatMulInteger (quantize-activations.ts,
 * the same code scripts/quantize-models.ts uses). Both write the standard quantized
 * form ONNX Runtime runs (the float graph is optimized at -O1 at most first, since the
 * -O2 integer kernels are Kiln's own rewrite of that form, done again at load time).
 */
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../../graph/errors.js';
import type { Graph } from '../../graph/graph.js';
import { fusedKind, isFused } from '../../graph/ops/fused.js';
import { exportOnnx, loadModel, optimizeModel, parseDims, parseLevel, randomFeeds, writeGraphFile } from '../io.js';
import type { Tensor } from '../../graph/tensor.js';
import { readTestDataSets } from '../../harness/model-test.js';
import { F16_MAX, mixedPrecisionPass, type MixedPrecisionReport } from '../../passes/mixed-precision.js';
import { optimize } from '../../passes/pipelines.js';
import { quantizeDynamic, quantizeStatic, type QuantizeActivationsReport } from '../../passes/quantize-activations.js';
import { quantizeWeights, type QuantizeWeightsReport } from '../../passes/quantize-weights.js';
import { step } from '../progress.js';

/** Count of nodes per op type (Fused groups counted as `Fused:<kind>`). */
export function opHistogram(g: Graph): Map<string, number> {
  const h = new Map<string, number>();
  for (const n of g.nodes) {
    const key = isFused(n) ? `Fused:${fusedKind(n)}` : n.domain ? `${n.domain}::${n.op}` : n.op;
    h.set(key, (h.get(key) ?? 0) + 1);
  }
  return h;
}

/** Text report of what changed between two graphs: counts and the op histogram diff. */
export function changeReport(before: Graph, after: Graph): string {
  const a = opHistogram(before);
  const b = opHistogram(after);
  const ops = [...new Set([...a.keys(), ...b.keys()])].sort();
  const w = Math.max(4, ...ops.map((o) => o.length));
  const lines = [`nodes: ${before.nodes.length} → ${after.nodes.length} (${after.nodes.length - before.nodes.length >= 0 ? '+' : ''}${after.nodes.length - before.nodes.length})`,
    `initializers: ${before.initializers.size} → ${after.initializers.size}`, `${'op'.padEnd(w)}  before  after  change`];
  for (const op of ops) {
    const x = a.get(op) ?? 0;
    const y = b.get(op) ?? 0;
    if (x === y) continue;
    lines.push(`${op.padEnd(w)}  ${String(x).padStart(6)}  ${String(y).padStart(5)}  ${y - x > 0 ? '+' : ''}${y - x}`);
  }
  const same = ops.filter((op) => (a.get(op) ?? 0) === (b.get(op) ?? 0));
  if (same.length) lines.push(`unchanged: ${same.map((op) => `${op} ${a.get(op)}`).join(', ')}`);
  return lines.join('\n');
}

/**
 * Calibration batches: the inputs of each `test_data_set_*` in `dir` (matched by the
 * name stored in the file, else by position among the graph's non-constant inputs),
 * or `count` seeded random batches (symbolic dims from `dims`).
 */
export function calibrationBatches(g: Graph, dir: string | undefined, count: number, dims: ReadonlyMap<string, number>): Map<string, Tensor>[] {
  const feedable = g.inputs.filter((i) => !g.initializers.has(i.name));
  if (dir === undefined) return Array.from({ length: count }, (_, k) => new Map(Object.entries(randomFeeds(g, dims, k + 1))));
  const sets = readTestDataSets(dir);
  if (sets.length === 0) throw new InputError(`--calibration ${dir}: no test_data_set_* folders in it`, dir);
  return sets.map((s) => new Map(s.inputs.map((t, k) => {
    const name = t.name && feedable.some((i) => i.name === t.name) ? t.name : feedable[k]?.name;
    if (!name) throw new InputError(`--calibration ${dir}/${s.name}: input_${k}.pb matches no graph input`, dir);
    return [name, t.tensor] as const;
  })));
}

/** Text report of a mixed-precision conversion. */
export function precisionText(r: MixedPrecisionReport): string {
  const lines = [`fp16: ${r.f16Nodes} nodes in float16, ${r.kept.length} kept in float32, ${r.casts} casts, ${r.halfWeights} weights converted`];
  for (const k of r.kept) lines.push(`  float32: ${k.name} (${k.op}): ${k.why}`);
  return lines.join('\n');
}

/** Registers `kiln optimize`. */
export function register(program: Command): void {
  program
    .command('optimize')
    .description('optimize a model and write it as standard ONNX (fused groups expanded), printing what changed')
    .argument('<in>', 'input model (.onnx, or .json in Kiln\'s format)')
    .argument('<out>', 'output model: .onnx (standard ONNX) or .json (Kiln\'s format, fused groups kept)')
    .option('-O <level>', 'optimization level 0, 1 or 2', '2')
    .option('--fp16', 'convert float32 to float16 where calibration shows it safe (mixed precision)')
    .option('--calibration <dir>', 'with --fp16 or --quantize qdq: a folder of test_data_set_*/input_*.pb to calibrate on (default: seeded random inputs)')
    .option('--calibration-batches <n>', 'with --fp16 or --quantize qdq and no --calibration: number of seeded random batches', '4')
    .option('--fp16-limit <x>', `with --fp16: largest |value| seen that may be stored in float16 (default ${F16_MAX / 8})`)
    .option('--quantize <type>', 'int8: MatMul/Gemm/Conv weights as int8 with per-channel scales (DequantizeLinear); int4: MatMul/Gemm weights in 4-bit blocks (com.microsoft MatMulNBits); qdq: static QDQ activations and weights (calibrated); dynamic: DynamicQuantizeLinear + MatMulInteger')
    .option('--block <n>', 'with --quantize int4: weights per block along K (power of 2, >= 16)', '32')
    .option('--quantize-min <n>', 'with --quantize: weights with fewer elements stay float32', '1024')
    .option('--dim <name=value>', 'size of a symbolic dim for the seeded calibration batches (repeatable)', (v: string, p: string[]) => [...p, v], [] as string[])
    .addHelpText('after', '\nExamples:\n  kiln optimize model.onnx model.opt.onnx -O2\n  kiln optimize model.onnx model.fp16.onnx --fp16 --calibration samples/\n  kiln optimize model.onnx model.qdq.onnx --quantize qdq --calibration samples/\n')
    .action(async (input: string, out: string, o: { O: string; fp16?: boolean; calibration?: string; calibrationBatches: string; fp16Limit?: string; dim: string[]; quantize?: string; quantizeMin: string; block: string }) => {
      const level = parseLevel(o.O);
      const ext = extname(out).toLowerCase();
      if (ext !== '.onnx' && ext !== '.json') throw new InputError(`output '${out}': use a .onnx or .json file name`, out);
      const activations = o.quantize === 'qdq' || o.quantize === 'dynamic' ? o.quantize : undefined;
      if (!o.fp16 && o.fp16Limit !== undefined) throw new InputError('--fp16-limit needs --fp16');
      if (!o.fp16 && activations !== 'qdq' && o.calibration !== undefined) throw new InputError('--calibration needs --fp16 or --quantize qdq');
      if (activations && o.fp16) throw new InputError(`--quantize ${activations} and --fp16 cannot be combined`);
      const count = Number(o.calibrationBatches);
      if (!Number.isInteger(count) || count < 1) throw new InputError(`--calibration-batches must be a positive integer, got '${o.calibrationBatches}'`);
      const limit = o.fp16Limit === undefined ? undefined : Number(o.fp16Limit);
      if (limit !== undefined && !(limit > 0 && limit <= F16_MAX)) throw new InputError(`--fp16-limit must be in (0, ${F16_MAX}], got '${o.fp16Limit}'`);
      const bits = o.quantize === undefined ? undefined : ({ int8: 8, int4: 4 } as Record<string, number>)[o.quantize];
      if (o.quantize !== undefined && bits === undefined && !activations) throw new InputError(`--quantize must be int8, int4, qdq or dynamic, got '${o.quantize}'`);
      const minElements = Number(o.quantizeMin);
      if (!Number.isInteger(minElements) || minElements < 1) throw new InputError(`--quantize-min must be a positive integer, got '${o.quantizeMin}'`);
      const blockSize = Number(o.block);
      const loaded = await step(`loading ${input}`, () => loadModel(input), (g) => `${g.nodes.length} nodes`);
      let raw = loaded;
      let quantized: QuantizeWeightsReport | undefined;
      if (bits === 4) {
        // MatMulNBits is opaque to fusion: quantize first, then optimize around it.
        const q = await step('quantizing weights to int4', () => quantizeWeights(raw, { bits, minElements, blockSize }), (r) => `${r.report.weights.length} weights`);
        raw = q.graph;
        quantized = q.report;
      }
      let precision: MixedPrecisionReport | undefined;
      let graph: Graph;
      let qa: QuantizeActivationsReport | undefined;
      if (activations) {
        const float = await step(`optimizing -O${Math.min(level, 1)}`, () => optimizeModel(raw, Math.min(level, 1) as 0 | 1).graph, (g) => `${g.nodes.length} nodes`);
        const batches = activations === 'qdq' ? await step('reading calibration inputs', () => calibrationBatches(float, o.calibration, count, parseDims(o.dim)), (b) => `${b.length} batches`) : [];
        const q = await step(`quantizing activations (${activations})`, () => (activations === 'qdq' ? quantizeStatic(float, batches, { minElements }) : quantizeDynamic(float, { minElements })), (r) => `${r.report.nodes.length} nodes`);
        graph = q.graph;
        qa = q.report;
      } else if (o.fp16) {
        const batches = await step('reading calibration inputs', () => calibrationBatches(raw, o.calibration, count, parseDims(o.dim)), (b) => `${b.length} batches`);
        const pass = mixedPrecisionPass(batches, { ...(limit !== undefined ? { limit } : {}), onReport: (r) => { precision = r; } });
        graph = await step(`optimizing -O${level} with float16`, () => optimize(raw, { level }, { precision: pass }).graph, (g) => `${g.nodes.length} nodes`);
      } else {
        graph = await step(`optimizing -O${level}`, () => optimizeModel(raw, level).graph, (g) => `${g.nodes.length} nodes`);
      }
      if (bits === 8) {
        const q = await step(`quantizing weights to ${o.quantize}`, () => quantizeWeights(graph, { bits, minElements }), (r) => `${r.report.weights.length} weights`);
        graph = q.graph;
        quantized = q.report;
      }
      if (ext === '.json') writeGraphFile(out, graph);
      else writeFileSync(out, await exportOnnx(graph));
      const aText = qa ? `quantize ${activations}: ${qa.nodes.length} nodes quantized, ${qa.activations} activations\n` : '';
      const qText = quantized ? `quantize: ${quantized.weights.length} weights to ${o.quantize}, ${quantized.bytesBefore} → ${quantized.bytesAfter} bytes (largest weight error ${Math.max(0, ...quantized.weights.map((w) => w.maxError)).toExponential(2)})\n` : '';
      process.stdout.write(`${changeReport(loaded, graph)}\n${precision ? `${precisionText(precision)}\n` : ''}${aText}${qText}wrote ${out}\n`);
    });
}
