/// <reference types="@webgpu/types" />
/**
 * Same-process A/B timing: runs several compiled programs on the same GPU-resident
 * feeds in turn (one untimed round first), so that machine load hits them alike.
 */
import type { GpuTensor, WebGpuProgram } from '../src/backends/webgpu/index.js';

/** Median of a list. */
export const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** Median wall ms per program over `runs` alternating rounds (each run waits for the queue; outputs stay on the GPU and are freed). */
export async function alternate(device: GPUDevice, progs: readonly WebGpuProgram[], feeds: Record<string, GpuTensor>, runs: number): Promise<number[]> {
  const times: number[][] = progs.map(() => []);
  for (let i = 0; i < runs + 1; i++) {
    for (const [j, prog] of progs.entries()) {
      const t0 = performance.now();
      const out = await prog.run(feeds, { outputsOnGpu: true });
      await device.queue.onSubmittedWorkDone();
      if (i > 0) times[j]!.push(performance.now() - t0);
      for (const t of Object.values(out)) (t as GpuTensor).destroy();
    }
  }
  return times.map(median);
}
