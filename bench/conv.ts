/// <reference types="@webgpu/types" />
/**
 * Conv strategies on the WebGPU backend, in one process: each ResNet-18-like conv
 * shape is compiled twice — as one implicit-GEMM dispatch and as im2col + GEMM (two
 * dispatches) — and the two programs are run alternately with GPU-resident inputs.
 * Prints the median ms of each and their ratio (implicit ÷ im2col; < 1 is faster).
 *
 * With `--model DIR` the same comparison runs on a whole ONNX model at O2
 * (its test_data_set_0 inputs), and the dispatch count of each program is printed.
 *
 *   npx tsx bench/conv.ts [runs]
 *   npx tsx bench/conv.ts --model ../shared/models/resnet18 [runs]
 */
import { compileWebGpu, GpuTensor } from '../src/backends/webgpu/index.js';
import { requestDevice } from '../src/backends/webgpu/device.js';
import { GraphBuilder, Tensor, type Graph } from '../src/graph/index.js';
import { alternate, median } from './alternate.js';
import { importModelFile } from '../onnx/import.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { optimize } from '../src/passes/index.js';

/** [name, C, M, H (= W), kernel, stride, pad]. */
const SHAPES: readonly [string, number, number, number, number, number, number][] = [
  ['stem 7x7/2 3→64 @224', 3, 64, 224, 7, 2, 3],
  ['3x3 64→64 @56', 64, 64, 56, 3, 1, 1],
  ['3x3/2 64→128 @56', 64, 128, 56, 3, 2, 1],
  ['3x3 128→128 @28', 128, 128, 28, 3, 1, 1],
  ['3x3 256→256 @14', 256, 256, 14, 3, 1, 1],
  ['3x3 512→512 @7', 512, 512, 7, 3, 1, 1],
  ['1x1/2 256→512 @14', 256, 512, 14, 1, 2, 0],
];

/** Runs `graph` compiled both ways alternately; returns [implicit ms, im2col ms] medians and dispatch counts. */
async function pair(device: GPUDevice, graph: Graph, feeds: Record<string, GpuTensor>, runs: number): Promise<{ ms: [number, number]; dispatches: [number, number] }> {
  const progs = [];
  for (const implicitGemm of [true, false]) progs.push(await compileWebGpu(graph, { device, kernelOptions: { implicitGemm } }));
  const ms = (await alternate(device, progs, feeds, runs)) as [number, number];
  const dispatches = progs.map((p) => p.plan?.dispatches.length ?? 0) as [number, number];
  for (const prog of progs) prog.release();
  return { ms, dispatches };
}

async function model(device: GPUDevice, dir: string, runs: number): Promise<void> {
  const { graph } = optimize(importModelFile(`${dir}/model.onnx`), { level: 2 });
  const set = readTestDataSets(dir)[0]!;
  const feeds = Object.fromEntries(graph.inputs.map((inp, i) => [inp.name, GpuTensor.upload(device, set.inputs[i]!.tensor, inp.name)]));
  const { ms, dispatches } = await pair(device, graph, feeds, runs);
  console.log(`${dir}: implicit GEMM ${ms[0].toFixed(1)} ms (${dispatches[0]} dispatches), im2col + GEMM ${ms[1].toFixed(1)} ms (${dispatches[1]} dispatches), ratio ${(ms[0] / ms[1]).toFixed(2)} over ${runs} alternating runs`);
}

async function main(): Promise<void> {
  const { device } = await requestDevice({ label: 'bench-conv' });
  const m = process.argv.indexOf('--model');
  if (m >= 0) return model(device, process.argv[m + 1]!, Number(process.argv[m + 2] ?? 9));
  const runs = Number(process.argv[2] ?? 7);
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  console.log('| conv | implicit GEMM ms (1 dispatch) | im2col + GEMM ms (2 dispatches) | ratio |');
  console.log('|---|---|---|---|');
  const ratios: number[] = [];
  for (const [name, C, M, H, k, s, p] of SHAPES) {
    const b = new GraphBuilder('conv');
    b.output(b.Conv([b.input('x', 'float32', [1, C, H, H]), b.constant(Tensor.from('float32', [M, C, k, k], rand(M * C * k * k)), { name: 'w' })], { strides: [s, s], pads: [p, p, p, p] }), 'y');
    const g = b.build();
    const x = GpuTensor.upload(device, Tensor.from('float32', [1, C, H, H], rand(C * H * H)), 'x');
    const { ms } = await pair(device, g, { x }, runs);
    const [a, c] = ms;
    ratios.push(a / c);
    console.log(`| ${name} | ${a.toFixed(1)} | ${c.toFixed(1)} | ${(a / c).toFixed(2)} |`);
    x.destroy();
  }
  console.log(`median ratio ${median(ratios).toFixed(2)} (load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)})`);
}

await main();
