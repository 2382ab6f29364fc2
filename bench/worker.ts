/**
 * One runtime on one case, in a fresh process (spawned by ./harness.ts as
 * `node --liftoff-only --import tsx bench/worker.ts JOB.json`), so that its cold
 * start is a real cold start: the timer starts after the runtime's modules are
 * imported and covers session creation (device request included) and the first
 * inference. Then `warmup` more inferences, then `runs` timed ones; the GPU
 * counters are read around the last timed run. Writes a {@link WorkerResult} as
 * JSON to the job's `out` file and the outputs of the first run beside it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolveCase } from './cases.js';
import { currentCounters, since, snapshot, type PerRun } from './counters.js';
import { prepareRuntime, type Outputs, type RuntimeName } from './runtimes.js';

/** What the parent asks a worker to do. */
export interface WorkerJob {
  /** Case spec (see resolveCase). */
  readonly case: string;
  readonly runtime: RuntimeName;
  readonly runs: number;
  readonly warmup: number;
  /** Result file (JSON); outputs go to `${out}.outputs.json`. */
  readonly out: string;
  /** Kiln: collect a per-kernel profile over the timed runs. */
  readonly profile?: boolean;
}

/** Kernel time summed over a profile, by dispatch. */
export interface ProfileEntry { node: string; op: string; label: string; ms: number }

/** What a worker reports. */
export interface WorkerResult {
  readonly case: string;
  readonly runtime: RuntimeName;
  /** Error message when the runtime failed (then the numbers are absent). */
  error?: string;
  /** ms from before session creation to the first outputs on the CPU. */
  coldMs?: number;
  /** ms of session creation alone. */
  createMs?: number;
  /** Timed runs, ms each, in order. */
  timesMs?: number[];
  /** CPU time of this process (all threads: lavapipe runs on them) during each timed run, ms. */
  cpuMs?: number[];
  /** GPU runtimes: counters (bytes at peak over the whole process, per-run counts). */
  gpu?: { peakBytes: number; bytesCreated: number; pipelinesCreated: number; pipelineMs: number; slowestPipelines: { label: string; ms: number }[]; perRun: PerRun };
  /** Kiln with profile: per-dispatch GPU times of the last run. */
  profile?: ProfileEntry[];
  /**
   * Kiln with profile: per-dispatch GPU times of the first run. On lavapipe a shader is
   * compiled to machine code (LLVM) at its first dispatch, so this shows where cold start goes.
   */
  firstProfile?: ProfileEntry[];
}

/** Runs one job; exported for in-process use by tests. */
export async function runJob(job: WorkerJob): Promise<{ result: WorkerResult; outputs?: Outputs }> {
  const result: WorkerResult = { case: job.case, runtime: job.runtime };
  try {
    const c = resolveCase(job.case);
    c.onnx();
    c.feeds();
    const rt = await prepareRuntime(job.runtime, job.profile ? { profile: true } : {});
    const t0 = performance.now();
    const session = await rt.open(c);
    const t1 = performance.now();
    const outputs = await session.run();
    result.coldMs = performance.now() - t0;
    result.createMs = t1 - t0;
    if (session.profile) result.firstProfile = session.profile();
    for (let i = 0; i < job.warmup; i++) await session.run();
    const times: number[] = [];
    const cpu: number[] = [];
    const counters = currentCounters();
    let perRun: PerRun | undefined;
    for (let i = 0; i < job.runs; i++) {
      const last = i === job.runs - 1;
      const before = last && counters ? snapshot(counters) : undefined;
      const c0 = process.cpuUsage();
      const s = performance.now();
      await session.run();
      times.push(performance.now() - s);
      const dc = process.cpuUsage(c0);
      cpu.push((dc.user + dc.system) / 1000);
      if (before && counters) perRun = since(counters, before);
    }
    result.timesMs = times;
    result.cpuMs = cpu;
    if (counters && perRun) {
      result.gpu = { peakBytes: counters.peakBytes, bytesCreated: counters.bytesCreated, pipelinesCreated: counters.pipelinesCreated, pipelineMs: counters.pipelineMs, slowestPipelines: [...counters.pipelineTimes].sort((a, b) => b.ms - a.ms).slice(0, 5), perRun };
    }
    if (session.profile) result.profile = session.profile();
    await session.release();
    return { result, outputs };
  } catch (e) {
    result.error = (e as Error)?.message ?? String(e);
    return { result };
  }
}

/** Outputs as JSON (plain arrays; NaN/Infinity as strings). */
export function outputsToJson(outputs: Outputs): string {
  return JSON.stringify(outputs.map((o) => ({ name: o.name, shape: o.shape, data: Array.from(o.data, (v) => (Number.isFinite(v) ? v : String(v))) })));
}

/** Reads {@link outputsToJson}. */
export function outputsFromJson(text: string): Outputs {
  return (JSON.parse(text) as { name: string; shape: number[]; data: (number | string)[] }[])
    .map((o) => ({ name: o.name, shape: o.shape, data: Float64Array.from(o.data, Number) }));
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('worker.ts') || entry.endsWith('worker.js')) {
  const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as WorkerJob;
  const { result, outputs } = await runJob(job);
  if (outputs) writeFileSync(`${job.out}.outputs.json`, outputsToJson(outputs));
  writeFileSync(job.out, JSON.stringify(result));
  // Dawn and ORT may keep handles open; the result is written, so leave now.
  process.exit(0);
}
