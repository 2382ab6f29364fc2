/// <reference types="@webgpu/types" />
/**
 * MatMul throughput on the WebGPU backend: compiles a one-node graph Y = A·B
 * (default 1024×1024×1024, float32), keeps A and B GPU-resident and the output on
 * the GPU, and prints the median GFLOP/s over the timed runs after warm-up
 * (end to end: encode, submit, wait for the queue).
 *
 *   npx tsx bench/matmul.ts [M] [N] [K] [runs]
 */
import { compileWebGpu, GpuTensor } from '../src/backends/webgpu/index.js';
import { requestDevice } from '../src/backends/webgpu/device.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';

async function main(): Promise<void> {
  const [M, N, K, runs] = [1024, 1024, 1024, 10].map((d, i) => Number(process.argv[2 + i] ?? d)) as [number, number, number, number];
  const { device, info } = await requestDevice({ label: 'bench' });
  const b = new GraphBuilder('matmul');
  b.output(b.MatMul([b.input('a', 'float32', [M, K]), b.input('b', 'float32', [K, N])]), 'y');
  const prog = await compileWebGpu(b.build(), { device });
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const a = GpuTensor.upload(device, Tensor.from('float32', [M, K], rand(M * K)), 'a');
  const bb = GpuTensor.upload(device, Tensor.from('float32', [K, N], rand(K * N)), 'b');
  const cpus: number[] = [];
  const once = async (): Promise<number> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await prog.run({ a, b: bb }, { outputsOnGpu: true });
    await device.queue.onSubmittedWorkDone();
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
    (out['y'] as GpuTensor).destroy();
    return t;
  };
  for (let i = 0; i < 2; i++) await once();
  cpus.length = 0;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  times.sort((x, y) => x - y);
  cpus.sort((x, y) => x - y);
  const med = times[Math.floor(times.length / 2)]!;
  const gflops = (2 * M * N * K) / (med * 1e6);
  const cpuMed = cpus[Math.floor(cpus.length / 2)]!;
  const cores = (await import('node:os')).cpus().length;
  console.log(`adapter: ${JSON.stringify(info)}`);
  console.log(`kernel: ${prog.plan?.dispatches.map((d) => d.label).join(', ')}`);
  console.log(`MatMul ${M}x${N}x${K}: median ${med.toFixed(1)} ms over ${runs} runs → ${gflops.toFixed(2)} GFLOP/s (min ${times[0]!.toFixed(1)} ms)`);
  // Lavapipe computes on this process's CPU threads: on a shared machine, the CPU time
  // spent per run (all threads) gives the throughput the kernel would have alone.
  console.log(`CPU time per run (all threads): median ${cpuMed.toFixed(1)} ms → ${((2 * M * N * K) / (cpuMed * 1e6)).toFixed(2)} GFLOP per CPU-second, ×${cores} cores = ${((cores * 2 * M * N * K) / (cpuMed * 1e6)).toFixed(2)} GFLOP/s if unloaded; load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
  a.destroy();
  bb.destroy();
  prog.release();
}

await main();
