/// <reference types="@webgpu/types" />
/**
 * Warm latency of the shared models on the WebGPU backend: imports a model,
 * optimizes it (default passes: constant folding, BN folding, epilogue fusion ...),
 * compiles it with compileWebGpu, checks the output against the model's test data,
 * and prints the median of the timed runs after warm-up.
 *
 *   npx tsx bench/models.ts [model ...] [--runs N] [--profile]
 */
import path from 'node:path';
import { SHARED_MODELS } from './cases.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { requestDevice } from '../src/backends/webgpu/device.js';
import type { Tensor } from '../src/graph/index.js';
import { optimize } from '../src/passes/pipelines.js';
import { importModelFile } from '../onnx/import.js';
import { readTensorFile } from '../onnx/tensor-proto.js';

const models = SHARED_MODELS;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const ri = args.indexOf('--runs');
  const runs = ri >= 0 ? Number(args[ri + 1]) : 10;
  const profile = args.includes('--profile');
  const names = args.filter((a, i) => !a.startsWith('--') && (ri < 0 || i !== ri + 1));
  const { device } = await requestDevice({ label: 'bench-models' });
  for (const name of names.length ? names : ['resnet18', 'mobilenet_v2']) {
    const dir = path.join(models, name);
    const { graph } = optimize(importModelFile(path.join(dir, 'model.onnx')));
    const input = readTensorFile(path.join(dir, 'test_data_set_0/input_0.pb')).tensor;
    const want = readTensorFile(path.join(dir, 'test_data_set_0/output_0.pb')).tensor;
    const t0 = performance.now();
    const prog = await compileWebGpu(graph, { device, profile });
    const feeds = { [graph.inputs[0]!.name]: input };
    const first = (await prog.run(feeds)) as Record<string, Tensor>;
    const compileMs = performance.now() - t0;
    const got = first[graph.outputs[0]!.name]!;
    let maxErr = 0;
    for (let i = 0; i < want.size; i++) maxErr = Math.max(maxErr, Math.abs(got.data[i]! - want.data[i]!));
    for (let i = 0; i < 2; i++) await prog.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      await prog.run(feeds);
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const kernels = new Map<string, number>();
    for (const d of prog.plan?.dispatches ?? []) kernels.set(d.label.split('.')[0]!, (kernels.get(d.label.split('.')[0]!) ?? 0) + 1);
    console.log(`${name}: compile+first run ${compileMs.toFixed(0)} ms, warm median ${times[Math.floor(runs / 2)]!.toFixed(1)} ms over ${runs} runs (min ${times[0]!.toFixed(1)}), max |err| vs test data ${maxErr.toExponential(2)}, ${prog.dispatchCount} dispatches`);
    console.log(`  dispatches by op: ${[...kernels].map(([k, v]) => `${k}×${v}`).join(' ')}`);
    if (profile) {
      const by = new Map<string, number>();
      for (const e of prog.lastProfile) by.set(e.label, (by.get(e.label) ?? 0) + e.ns / 1e6);
      const rows = [...by].sort((a, b) => b[1] - a[1]).slice(0, 12);
      console.log(`  GPU time by kernel (last run, ms): ${rows.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
    }
    prog.release();
  }
}

await main();
