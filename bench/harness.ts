/**
 * The benchmark driver: runs Kiln and each peer on one case, every runtime in its
 * own fresh process (`node --liftoff-only --import tsx bench/worker.ts`, with
 * `MESA_SHADER_CACHE_DISABLE=true`, one after the other so they do not compete for
 * the CPU), then summarizes: warm median/min/max, cold start, GPU bytes at peak,
 * dispatches and pipelines per inference, the max abs difference of every peer's
 * outputs from Kiln's (and of each runtime from the test data's expected outputs),
 * and the ratios Kiln ÷ peer.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, REPO_ROOT, resolveCase } from './cases.js';
import type { Outputs, RuntimeName } from './runtimes.js';
import { outputsFromJson, type ProfileEntry, type WorkerJob, type WorkerResult } from './worker.js';

/** Summary of one runtime on one case. */
export interface RuntimeSummary {
  /** Error message when the runtime failed on this case. */
  error?: string;
  /** Warm latency, ms: median, min, max over the timed runs. */
  warm?: { median: number; min: number; max: number; runs: number };
  /** Median CPU time of the process per warm run, ms (all threads; less sensitive to a loaded machine than wall time). */
  cpuMedianMs?: number;
  /** Session creation + first inference in a fresh process, ms. */
  coldMs?: number;
  /** Session creation alone, ms. */
  createMs?: number;
  /** GPU bytes live at peak (whole process). */
  peakBytes?: number;
  /** Dispatches per inference. */
  dispatches?: number;
  /** Distinct pipelines bound per inference. */
  pipelines?: number;
  /** Pipelines created in the process. */
  pipelinesCreated?: number;
  /** ms spent creating pipelines (see counters.ts: async compiles summed). */
  pipelineMs?: number;
  /** The five slowest pipeline creations (label, ms). */
  slowestPipelines?: { label: string; ms: number }[];
  /** GPU buffers created by one warm inference. */
  buffersPerRun?: number;
  /** GFLOP/s at the warm median (cases with a FLOP count). */
  gflops?: number;
  /** Max abs difference of the outputs from Kiln's (peers only). */
  maxAbsDiffVsKiln?: number;
  /** Max abs difference from the test data's expected outputs. */
  maxAbsDiffVsExpected?: number;
  /** Per-dispatch GPU times of one run (Kiln with profile). */
  profile?: ProfileEntry[];
}

/** Ratios Kiln ÷ peer (below 1: Kiln is faster / smaller / fewer). */
export interface Ratios { warm?: number; cold?: number; peakBytes?: number; dispatches?: number; warmCpu?: number }

/** The result of one case (the `--json` output of `kiln bench`). */
export interface CaseResult {
  model: string;
  kiln: RuntimeSummary & { runtime: RuntimeName };
  peers: Record<string, RuntimeSummary>;
  /** Kiln ÷ the first WebGPU peer (ort-webgpu by default), or the first peer. */
  ratios: Ratios;
  /** Which peer `ratios` is against. */
  ratiosAgainst?: string;
  /** Kiln ÷ each peer. */
  ratiosByPeer: Record<string, Ratios>;
}

/** Options of {@link benchCase}. */
export interface BenchOptions {
  /** Kiln's backend (default webgpu). */
  readonly backend?: 'webgpu' | 'cpu';
  /** Peers to compare with (default: ort-webgpu, ort-node, and tfjs-webgpu on synthetic cases). */
  readonly vs?: readonly RuntimeName[];
  /** Timed runs (default 20). */
  readonly runs?: number;
  /** Untimed runs after the first (default 3). */
  readonly warmup?: number;
  /** Kernel profile of Kiln (an extra process, timestamp queries on). */
  readonly profile?: boolean;
  /** Per-process time limit, ms (default 300 000). */
  readonly timeoutMs?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** Median of a list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Max abs difference over all outputs (by position); Infinity when shapes differ, 0 for equal non-finite values. */
export function maxAbsDiff(a: Outputs, b: Outputs): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]!.data;
    const y = b[k]!.data;
    if (x.length !== y.length) return Infinity;
    for (let i = 0; i < x.length; i++) {
      if (x[i] === y[i]) continue;
      const d = Math.abs(x[i]! - y[i]!);
      m = Number.isNaN(d) ? Infinity : Math.max(m, d);
    }
  }
  return m;
}

/** Spawns one worker process and waits for it (killing it after `timeoutMs`). */
export async function spawnWorker(job: Omit<WorkerJob, 'out'>, dir: string, timeoutMs: number): Promise<{ result: WorkerResult; outputs?: Outputs; stderr: string }> {
  const out = path.join(dir, `${job.runtime}${job.profile ? '.profile' : ''}.json`);
  const jobFile = `${out}.job`;
  writeFileSync(jobFile, JSON.stringify({ ...job, out }));
  // The worker beside this module: worker.ts run through tsx from the sources, worker.js from the build.
  const compiled = existsSync(path.join(BENCH_DIR, 'worker.js'));
  const worker = path.join(BENCH_DIR, compiled ? 'worker.js' : 'worker.ts');
  const child = spawn(process.execPath, ['--liftoff-only', ...(compiled ? [] : ['--import', 'tsx']), worker, jobFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  if (!existsSync(out)) {
    const why = timedOut ? `timed out after ${(timeoutMs / 1000).toFixed(0)} s` : `exited with ${code}`;
    const tail = stderr.split('\n').filter((l) => l.trim() && !l.includes('artificially reduced')).slice(-3).join(' | ');
    return { result: { case: job.case, runtime: job.runtime, error: `worker ${why}${tail ? `: ${tail}` : ''}` }, stderr };
  }
  const result = JSON.parse(readFileSync(out, 'utf8')) as WorkerResult;
  const outFile = `${out}.outputs.json`;
  return existsSync(outFile) ? { result, outputs: outputsFromJson(readFileSync(outFile, 'utf8')), stderr } : { result, stderr };
}

function summarize(r: WorkerResult, flops: number | undefined): RuntimeSummary {
  if (r.error !== undefined) return { error: r.error };
  const t = r.timesMs ?? [];
  const s: RuntimeSummary = {};
  if (t.length) s.warm = { median: median(t), min: Math.min(...t), max: Math.max(...t), runs: t.length };
  if (r.cpuMs?.length) s.cpuMedianMs = median(r.cpuMs);
  if (r.coldMs !== undefined) s.coldMs = r.coldMs;
  if (r.createMs !== undefined) s.createMs = r.createMs;
  if (r.gpu) {
    s.peakBytes = r.gpu.peakBytes;
    s.dispatches = r.gpu.perRun.dispatches;
    s.pipelines = r.gpu.perRun.pipelines;
    s.pipelinesCreated = r.gpu.pipelinesCreated;
    s.pipelineMs = r.gpu.pipelineMs;
    s.slowestPipelines = r.gpu.slowestPipelines;
    s.buffersPerRun = r.gpu.perRun.buffersCreated;
  }
  if (flops && s.warm) s.gflops = flops / (s.warm.median * 1e6);
  return s;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

/** Kiln ÷ peer for the four headline numbers. */
export function ratiosOf(k: RuntimeSummary, p: RuntimeSummary): Ratios {
  const r: Ratios = {};
  const set = (key: keyof Ratios, v: number | undefined): void => { if (v !== undefined) r[key] = v; };
  set('warm', ratio(k.warm?.median, p.warm?.median));
  set('cold', ratio(k.coldMs, p.coldMs));
  set('peakBytes', ratio(k.peakBytes, p.peakBytes));
  set('dispatches', ratio(k.dispatches, p.dispatches));
  set('warmCpu', ratio(k.cpuMedianMs, p.cpuMedianMs));
  return r;
}

/** Default peers for a case. */
export function defaultPeers(synthetic: boolean): RuntimeName[] {
  return synthetic ? ['ort-webgpu', 'tfjs-webgpu', 'ort-node'] : ['ort-webgpu', 'ort-node'];
}

/** Benchmarks one case: Kiln and each peer, one fresh process each. */
export async function benchCase(spec: string, opts: BenchOptions = {}): Promise<CaseResult> {
  const c = resolveCase(spec);
  const log = opts.log ?? ((): void => undefined);
  const kilnRt: RuntimeName = opts.backend === 'cpu' ? 'kiln-cpu' : 'kiln-webgpu';
  const peers = [...(opts.vs ?? defaultPeers(c.kind === 'synthetic'))];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-'));
  const base = { case: spec, runs: opts.runs ?? 20, warmup: opts.warmup ?? 3 };
  const timeout = opts.timeoutMs ?? 300_000;
  const expected = c.expected?.().map((t, i) => ({ name: `#${i}`, shape: [...t.shape], data: Float64Array.from(t.data as ArrayLike<number>) }));
  try {
    const one = async (rt: RuntimeName): Promise<{ summary: RuntimeSummary; outputs?: Outputs }> => {
      const t0 = performance.now();
      const { result, outputs } = await spawnWorker({ ...base, runtime: rt }, dir, timeout);
      const summary = summarize(result, c.flops);
      if (outputs && expected) summary.maxAbsDiffVsExpected = maxAbsDiff(outputs, expected);
      log(`  ${c.name} ${rt}: ${summary.error ? `failed: ${summary.error}` : `warm ${summary.warm?.median.toFixed(2)} ms, cold ${summary.coldMs?.toFixed(0)} ms`} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      return outputs ? { summary, outputs } : { summary };
    };
    const k = await one(kilnRt);
    if (opts.profile && kilnRt === 'kiln-webgpu') {
      const { result } = await spawnWorker({ ...base, runs: 3, warmup: 1, runtime: kilnRt, profile: true }, dir, timeout);
      if (result.profile) k.summary.profile = result.profile;
      else if (result.error) log(`  ${c.name} profile failed: ${result.error}`);
    }
    const result: CaseResult = { model: c.name, kiln: { runtime: kilnRt, ...k.summary }, peers: {}, ratios: {}, ratiosByPeer: {} };
    for (const p of peers) {
      const r = await one(p);
      if (r.outputs && k.outputs) r.summary.maxAbsDiffVsKiln = maxAbsDiff(k.outputs, r.outputs);
      result.peers[p] = r.summary;
      result.ratiosByPeer[p] = ratiosOf(k.summary, r.summary);
    }
    const against = peers.find((p) => p.endsWith('webgpu') && !result.peers[p]?.error) ?? peers[0];
    if (against) {
      result.ratios = result.ratiosByPeer[against] ?? {};
      result.ratiosAgainst = against;
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
