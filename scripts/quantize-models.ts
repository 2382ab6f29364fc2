/**
 * Makes QDQ (static, calibrated on seeded inputs with the CPU reference) and
 * dynamically quantized (DynamicQuantizeLinear + MatMulInteger) versions of the shared
 * models with src/passes/quantize-activations.ts, writes them as standard ONNX, checks
 * that onnxruntime-node loads each and that its outputs match Kiln's CPU reference on
 * the same quantized file (tolerance: TOL below), and prints the WebGPU dispatch
 * counts of float and quantized versions at -O2 (with --dispatches).
 *
 *   npx tsx scripts/quantize-models.ts [model ...] [--out DIR] [--dispatches]
 *
 * Default out: /tmp/kiln-quant/<model>/{qdq,dynamic}.onnx.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCpu } from '../src/backends/cpu/index.js';
import { Rng } from '../src/graph/random.js';
import { Tensor, type Graph } from '../src/graph/index.js';
import { quantizeDynamic, quantizeStatic } from '../src/passes/quantize-activations.js';
import { exportModel } from '../onnx/export.js';
import { importModel, importModelFile } from '../onnx/import.js';
import { readTensorFile } from '../onnx/tensor-proto.js';
import { runOrt, SHARED_MODELS, SHARED_MODEL_NAMES } from '../test/onnx-util.js';

/** Feeds by graph input name. */
export type Feeds = Record<string, Tensor>;

/**
 * ORT vs Kiln CPU on the same quantized file, per output: |Δ| ≤ abs + rel·|ref| with
 * abs = max(absMin, absOfMax · max|ref|). Both quantize the same calibrated ranges,
 * but f32 rounding of a sum can put an activation one step away, which moves the
 * outputs of later layers by about a step of their scale: a fraction of the output's
 * magnitude (gpt2_tiny's logits reach ~200), not a fixed number.
 */
export const TOL = { rel: 2e-2, absMin: 5e-2, absOfMax: 5e-3 };

/** The model's test-data inputs, by graph input name (position when the file has no name). */
export function testInputs(dir: string, g: Graph): Feeds {
  const feedable = g.inputs.filter((i) => !g.initializers.has(i.name));
  const out: Feeds = {};
  feedable.forEach((inp, k) => {
    const t = readTensorFile(path.join(dir, 'test_data_set_0', `input_${k}.pb`));
    out[t.name && feedable.some((i) => i.name === t.name) ? t.name : inp.name] = t.tensor;
  });
  return out;
}

/** Seeded inputs shaped like the test inputs: images uniform in [-2, 2), token ids below max(100, largest id), masks as given. */
export function seededInputs(template: Feeds, seed: number): Feeds {
  const r = new Rng(seed);
  const out: Feeds = {};
  for (const [name, t] of Object.entries(template)) {
    const vals = Array.from(t.data as ArrayLike<number>, Number);
    if (t.dtype === 'float32') out[name] = Tensor.from('float32', [...t.shape], vals.map(() => r.next() * 4 - 2));
    else if (vals.every((v) => v === 0 || v === 1) || /mask|position|type/i.test(name)) out[name] = t;
    else {
      const hi = Math.max(100, ...vals);
      out[name] = Tensor.from(t.dtype, [...t.shape], vals.map(() => Math.floor(r.next() * hi)));
    }
  }
  return out;
}

/** A shared model's float graph, test inputs, and its QDQ and dynamic versions (round-tripped through ONNX bytes). */
export interface QuantizedModel {
  readonly name: string;
  readonly float: Graph;
  readonly feeds: Feeds;
  readonly qdq: { readonly graph: Graph; readonly bytes: Uint8Array; readonly nodes: number };
  readonly dynamic: { readonly graph: Graph; readonly bytes: Uint8Array; readonly nodes: number };
}

/** Makes both quantized versions of shared model `name` (4 seeded calibration batches). */
export function quantizeModel(name: string): QuantizedModel {
  const dir = path.join(SHARED_MODELS, name);
  const float = importModelFile(path.join(dir, 'model.onnx'));
  const feeds = testInputs(dir, float);
  const batches = [1, 2, 3, 4].map((k) => new Map(Object.entries(seededInputs(feeds, 500 + k))));
  const s = quantizeStatic(float, batches);
  const d = quantizeDynamic(float);
  const sb = exportModel(s.graph);
  const db = exportModel(d.graph);
  return {
    name, float, feeds,
    qdq: { graph: importModel(sb), bytes: sb, nodes: s.report.nodes.length },
    dynamic: { graph: importModel(db), bytes: db, nodes: d.report.nodes.length },
  };
}

/** Largest |a − b| − (abs + rel·|b|) over all outputs (≤ 0 when within TOL), the largest |a − b| and the smallest cosine. */
export function excess(got: Feeds, want: Feeds): { over: number; max: number; cosine: number } {
  let over = -Infinity;
  let max = 0;
  let cosine = 1;
  for (const [k, w] of Object.entries(want)) {
    const g = got[k];
    if (!g) throw new Error(`output '${k}' missing`);
    const a = g.toArray();
    const b = w.toArray();
    const abs = Math.max(TOL.absMin, TOL.absOfMax * b.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < b.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      max = Math.max(max, d);
      over = Math.max(over, d - (abs + TOL.rel * Math.abs(b[i]!)));
      dot += a[i]! * b[i]!;
      na += a[i]! * a[i]!;
      nb += b[i]! * b[i]!;
    }
    if (na > 0 && nb > 0) cosine = Math.min(cosine, dot / Math.sqrt(na * nb));
  }
  return { over, max, cosine };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const out = outAt >= 0 ? args[outAt + 1]! : '/tmp/kiln-quant';
  const withDispatches = args.includes('--dispatches');
  const names = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--out');
  let failed = 0;
  let countDispatches: ((g: Graph) => Promise<number>) | undefined;
  if (withDispatches) {
    const { compileWebGpu } = await import('../src/backends/webgpu/index.js');
    const { requestDevice } = await import('../src/backends/webgpu/device.js');
    const { optimize } = await import('../src/passes/pipelines.js');
    const { device } = await requestDevice({ label: "quantize-models" });
    countDispatches = async (g) => { const p = await compileWebGpu(optimize(g).graph, { device }); const n = p.plan!.dispatches.length; p.release(); return n; };
  }
  for (const name of names.length ? names : SHARED_MODEL_NAMES) {
    const m = quantizeModel(name);
    mkdirSync(path.join(out, name), { recursive: true });
    const fd = countDispatches ? await countDispatches(m.float) : undefined;
    for (const kind of ['qdq', 'dynamic'] as const) {
      const q = m[kind];
      const file = path.join(out, name, `${kind}.onnx`);
      writeFileSync(file, q.bytes);
      const cpu = compileCpu(q.graph).run(m.feeds);
      const ort = await runOrt(q.bytes, m.feeds);
      const e = excess(ort, cpu);
      const ok = e.over <= 0;
      if (!ok) failed++;
      const qd = countDispatches ? await countDispatches(q.graph) : undefined;
      console.log(`${name} ${kind}: ${q.nodes} nodes quantized, ${(q.bytes.length / 2 ** 20).toFixed(2)} MiB, ORT vs Kiln CPU max |Δ| ${e.max.toExponential(2)}, cosine ${e.cosine.toFixed(6)}, ${ok ? 'within' : 'OUTSIDE'} TOL${qd === undefined ? '' : `; WebGPU dispatches ${qd} (float ${fd})`} → ${file}`);
    }
  }
  if (failed) { console.error(`${failed} quantized models outside tolerance`); process.exitCode = 1; }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
