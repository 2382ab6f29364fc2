/**
 * Kiln WebGPU cold start: `npx tsx bench/cold-start.ts [--shaders] [model...]`.
 *
 * Each model runs in a fresh child process with MESA_SHADER_CACHE_DISABLE=true
 * (lavapipe compiles a pipeline's shader at its first dispatch, so the first run
 * pays for every distinct shader). Per model it prints: distinct pipelines,
 * dispatches, import+optimize time, compile (plan + createComputePipelineAsync)
 * time, first-run time and the warm median of 5 runs.
 *
 * `--shaders`: instead of one first run, submits every dispatch of the first run on
 * its own (in order, waited on) and lists the most expensive ones, marking each
 * pipeline's first dispatch (which carries its shader compile).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelsDir = path.resolve(here, '..', '../shared/models');
const DEFAULT_MODELS = ['mobilenet_v2', 'squeezenet1_1', 'resnet18', 'bert_tiny'];

/** Internal state of a prepared program that the per-shader mode reads. */
interface RealizedView {
  readonly pipelines: GPUComputePipeline[];
  readonly bindGroups: GPUBindGroup[];
}

async function child(model: string, shaders: boolean): Promise<void> {
  const t0 = performance.now();
  const { importModelFile } = await import('../onnx/import.js');
  const { readTensorFile } = await import('../onnx/tensor-proto.js');
  const { optimize } = await import('../src/passes/index.js');
  const { compileWebGpu } = await import('../src/backends/webgpu/index.js');
  const { requestDevice } = await import('../src/backends/webgpu/device.js');
  const dir = path.join(modelsDir, model);
  const graph = optimize(importModelFile(path.join(dir, 'model.onnx')), { level: 2 }).graph;
  const tImport = performance.now();
  const device = (await requestDevice({ label: 'cold-start' })).device;
  const tDevice = performance.now();
  const program = await compileWebGpu(graph, { device });
  const tCompile = performance.now();
  const data = path.join(dir, 'test_data_set_0');
  const files = readdirSync(data).filter((f) => f.startsWith('input_')).sort();
  const feeds = Object.fromEntries(graph.inputs.map((inp, k) => [inp.name, readTensorFile(path.join(data, files[k]!)).tensor]));
  const plan = program.plan!;
  const r = (program as unknown as { current: RealizedView }).current;
  const out: Record<string, unknown> = {
    model,
    pipelines: program.pipelineCount,
    dispatches: program.dispatchCount,
    importMs: Math.round(tImport - t0),
    deviceMs: Math.round(tDevice - tImport),
    compileMs: Math.round(tCompile - tDevice),
  };
  if (shaders) {
    // Every dispatch of the first run in order, each submitted alone and waited on:
    // a pipeline's first dispatch carries its shader compile.
    const seen = new Set<GPUComputePipeline>();
    const costs: { ms: number; label: string; op: string; node: string; chars: number; first: boolean }[] = [];
    for (let k = 0; k < plan.dispatches.length; k++) {
      const p = r.pipelines[k]!;
      const first = !seen.has(p);
      seen.add(p);
      const d = plan.dispatches[k]!;
      const s = performance.now();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(p);
      pass.setBindGroup(0, r.bindGroups[k]!);
      pass.dispatchWorkgroups(...d.workgroups);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      costs.push({ ms: Math.round(performance.now() - s), label: d.label, op: d.op, node: d.node, chars: d.shader.length, first });
    }
    costs.sort((a, b) => b.ms - a.ms);
    out.shaderTotalMs = costs.reduce((a, c) => a + c.ms, 0);
    out.top = costs.slice(0, 15);
  } else {
    const s = performance.now();
    await program.run(feeds);
    out.firstRunMs = Math.round(performance.now() - s);
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      const w = performance.now();
      await program.run(feeds);
      warm.push(performance.now() - w);
    }
    warm.sort((a, b) => a - b);
    out.warmMedianMs = Math.round(warm[2]!);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  program.release();
  device.destroy();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1]!, args[2] === 'shaders');
  const shaders = args.includes('--shaders');
  const models = args.filter((a) => !a.startsWith('--'));
  for (const m of models.length ? models : DEFAULT_MODELS) {
    const res = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', m, shaders ? 'shaders' : 'run'], {
      env: { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    process.stdout.write(res.stdout || `${JSON.stringify({ model: m, failed: res.status })}\n`);
  }
}

void main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
