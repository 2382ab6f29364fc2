/// <reference types="@webgpu/types" />
/**
 * What the passes buy on the WebGPU backend, per shared model: nodes before/after
 * O2, WebGPU dispatches at O0 and O2, peak/total intermediate bytes under the O2
 * memory plan (kiln inspect), and the warm latency of the O0 and O2 programs run
 * alternately in one process (median of `runs`, inputs from test_data_set_0, outputs
 * kept on the GPU). Prints a markdown table.
 *
 *   npx tsx bench/levels.ts [runs] [model...]
 */
import path from 'node:path';
import { importModelFile } from '../onnx/import.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { compileWebGpu, GpuTensor } from '../src/backends/webgpu/index.js';
import { requestDevice } from '../src/backends/webgpu/device.js';
import { inspectGraph } from '../src/cli/commands/inspect.js';
import { optimize } from '../src/passes/index.js';
import { alternate } from './alternate.js';
import { SHARED_MODELS, sharedModelNames } from './cases.js';

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 9);
  const models = process.argv.length > 3 ? process.argv.slice(3) : sharedModelNames();
  const { device } = await requestDevice({ label: 'bench-levels' });
  console.log('| model | nodes before → after | WebGPU dispatches O0 → O2 | peak / total intermediate (O2) | warm ms O0 → O2 (ratio) |');
  console.log('|---|---|---|---|---|');
  for (const name of models) {
    const dir = path.join(SHARED_MODELS, name);
    const g = importModelFile(path.join(dir, 'model.onnx'));
    const r0 = inspectGraph(g, name, 0);
    const r2 = inspectGraph(g, name, 2);
    const set = readTestDataSets(dir)[0]!;
    const feeds = Object.fromEntries(g.inputs.map((inp, i) => [inp.name, GpuTensor.upload(device, set.inputs[i]!.tensor, inp.name)]));
    const progs = [await compileWebGpu(g, { device }), await compileWebGpu(optimize(g, { level: 2 }).graph, { device })];
    const [w0, w2] = (await alternate(device, progs, feeds, runs)) as [number, number];
    for (const p of progs) p.release();
    for (const t of Object.values(feeds)) t.destroy();
    const pct = (100 * r2.peakIntermediateBytes / r2.totalIntermediateBytes).toFixed(1);
    console.log(`| ${name} | ${r0.nodes} → ${r2.nodes} | ${r0.dispatches} → ${r2.dispatches} | ${pct} % | ${w0.toFixed(1)} → ${w2.toFixed(1)} (${(w2 / w0).toFixed(2)}) |`);
  }
  console.log(`(${runs} alternating runs per level; load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)})`);
}

await main();
