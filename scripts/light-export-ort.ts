/**
 * `npx tsx scripts/light-export-ort.ts [--atol X] [--rtol Y] [--filter REGEX]`
 *
 * The nine networks of the ONNX 1.17 `light` suite (AlexNet ... ZFNet-512), each
 * imported, optimized at -O2 and exported by Kiln (what `kiln optimize -O2` writes),
 * then loaded in onnxruntime-node. Per model it prints the exported size, the max
 * abs/rel difference between onnxruntime-node on the exported model and Kiln's CPU
 * backend on the same O2 graph, on a seeded input in [-1, 1], and whether that is
 * within the tolerance (default atol 1e-5, rtol 1e-4); it also compares onnxruntime
 * on the exported model with onnxruntime on the original. Exits 1 if any model fails
 * to load or differs. Slow (minutes, the models are up to 575 MB once exported), so a
 * script rather than a test; test/onnx-light-117.test.ts checks Kiln itself.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { importModel } from '../onnx/import.js';
import { exportModel } from '../onnx/export.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { Tensor } from '../src/graph/tensor.js';
import { testDataRoot117 } from '../src/harness/conformance.js';
import { compareTensors, seededInput } from '../src/harness/compare.js';
import { optimize } from '../src/passes/index.js';

const o = new Command()
  .option('--atol <x>', 'absolute tolerance', parseFloat, 1e-5)
  .option('--rtol <x>', 'relative tolerance', parseFloat, 1e-4)
  .option('--filter <regex>', 'only models whose name matches')
  .parse(process.argv)
  .opts<{ atol: number; rtol: number; filter?: string }>();


/** Runs a float32 model on onnxruntime-node (CPU, its graph optimizations off); returns its first output. */
async function ortRun(bytes: Uint8Array, input: string, x: Tensor): Promise<Tensor> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  try {
    const out = await s.run({ [input]: new ort.Tensor('float32', x.data as Float32Array, [...x.shape]) });
    const t = out[s.outputNames[0]!]!;
    return Tensor.from('float32', t.dims.map(Number), t.data as Float32Array);
  } finally {
    await s.release();
  }
}

const dir = path.join(testDataRoot117(), 'light');
if (!existsSync(dir)) {
  process.stderr.write(`no ONNX 1.17 light models at ${dir} (.ci/setup-system.sh fetches them)\n`);
  process.exit(2);
}
const re = o.filter ? new RegExp(o.filter) : undefined;
const names = readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).filter((n) => !re || re.test(n)).sort();
let bad = 0;
process.stdout.write(`tolerance atol ${o.atol} rtol ${o.rtol}\n`);
process.stdout.write(`${'model'.padEnd(20)} ${'exported MB'.padStart(11)} ${'ort(exp) vs kiln'.padStart(26)} ${'ort(exp) vs ort(orig)'.padStart(22)}  result\n`);
for (const [k, name] of names.entries()) {
  const bytes = new Uint8Array(readFileSync(path.join(dir, `${name}.onnx`)));
  let line: string;
  try {
    const g = optimize(importModel(bytes), { level: 2 }).graph;
    const inp = g.inputs[0]!;
    const x = seededInput(inp.shape as number[], 1234 + k);
    const exported = exportModel(g);
    const kiln = compileCpu(g).run({ [inp.name]: x })[g.outputs[0]!.name]!;
    const viaOrt = await ortRun(exported, inp.name, x);
    const orig = await ortRun(bytes, inp.name, x);
    const c = compareTensors(viaOrt, kiln, { atol: o.atol, rtol: o.rtol });
    const c0 = compareTensors(orig, viaOrt, { atol: o.atol, rtol: o.rtol });
    const ok = c.pass && c0.pass;
    if (!ok) bad++;
    line = `${(exported.byteLength / 2 ** 20).toFixed(1).padStart(11)} ${`abs ${c.maxAbsErr.toExponential(1)} rel ${c.maxRelErr.toExponential(1)}`.padStart(26)} ${`abs ${c0.maxAbsErr.toExponential(1)}`.padStart(22)}  ${ok ? 'ok' : 'DIFFERS'}`;
  } catch (e) {
    bad++;
    line = `  FAILED: ${(e as Error).message.slice(0, 200)}`;
  }
  process.stdout.write(`${name.padEnd(20)} ${line}\n`);
}
process.stdout.write(`${names.length - bad} of ${names.length} exported -O2 models load in onnxruntime-node and agree with Kiln\n`);
process.exitCode = bad > 0 ? 1 : 0;
