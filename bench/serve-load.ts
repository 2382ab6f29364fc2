/**
 * Load test of `kiln serve` (not part of `npm test`: it runs for a minute).
 *
 *   npx tsx bench/serve-load.ts [--seconds 60] [--concurrency 32] [--backend cpu] [--max-batch 16]
 *
 * Generates an MLP with a dynamic batch dim (x: [batch, 64] → MatMul 64×256 → Relu →
 * MatMul 256×10), starts `kiln serve` as a child process twice (half the time each):
 * `--max-batch 1` (no batching) and `--max-batch N` (dynamic batching), and drives each
 * with `--concurrency` clients posting Open Inference Protocol JSON requests of one row.
 * Every response is checked against a float64 reference of the MLP (relative 1e-3).
 * Prints requests/s, p50/p99 latency, failures, the server's RSS sampled every 5 s, and
 * the runs the server made (kiln_model_runs_total).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onnx } from '../onnx/proto.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IN = 64;
const HIDDEN = 256;
const OUT = 10;

/** Command-line flags with defaults. */
function flags(): { seconds: number; concurrency: number; backend: string; maxBatch: number } {
  const a = process.argv.slice(2);
  const get = (name: string, def: string): string => { const i = a.indexOf(`--${name}`); return i >= 0 && a[i + 1] ? a[i + 1]! : def; };
  return { seconds: Number(get('seconds', '60')), concurrency: Number(get('concurrency', '32')), backend: get('backend', 'cpu'), maxBatch: Number(get('max-batch', '16')) };
}

/** A seeded uniform generator in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 31 - 1; };
}

/** The MLP's weights. */
function weights(): { w1: Float32Array; w2: Float32Array } {
  const r = rng(7);
  return { w1: Float32Array.from({ length: IN * HIDDEN }, () => r() * 0.2), w2: Float32Array.from({ length: HIDDEN * OUT }, () => r() * 0.2) };
}

/** The MLP as ONNX bytes. */
function mlpModel(): Uint8Array {
  const { w1, w2 } = weights();
  const vi = (name: string, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'mlp', input: [vi('x', ['batch', IN])], output: [vi('y', ['batch', OUT])],
      initializer: [{ name: 'W1', dataType: 1, dims: [IN, HIDDEN], floatData: Array.from(w1) }, { name: 'W2', dataType: 1, dims: [HIDDEN, OUT], floatData: Array.from(w2) }],
      node: [
        { opType: 'MatMul', input: ['x', 'W1'], output: ['h'] },
        { opType: 'Relu', input: ['h'], output: ['r'] },
        { opType: 'MatMul', input: ['r', 'W2'], output: ['y'] },
      ],
    },
  }).finish();
}

/** The MLP in float64 for one row. */
function reference(x: readonly number[]): number[] {
  const { w1, w2 } = weights();
  const h = Array.from({ length: HIDDEN }, (_, j) => Math.max(0, x.reduce((a, v, i) => a + v * w1[i * HIDDEN + j]!, 0)));
  return Array.from({ length: OUT }, (_, k) => h.reduce((a, v, j) => a + v * w2[j * OUT + k]!, 0));
}

/** The server's resident set size in MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Starts `kiln serve` and resolves with its URL. */
function startServer(dir: string, backend: string, maxBatch: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/kiln.js'), 'serve', dir, '--port', '0', '--backend', backend, '--max-batch', String(maxBatch), '--batch-timeout-ms', '2', '--no-watch'], {
    env: { ...process.env, KILN_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`kiln serve exited ${code}`)));
  });
}

/** One phase: `seconds` of load on a fresh server; returns its figures. */
async function phase(label: string, dir: string, o: ReturnType<typeof flags>, maxBatch: number, seconds: number): Promise<Record<string, unknown>> {
  const { child, url } = await startServer(dir, o.backend, maxBatch);
  const r = rng(11);
  const pool = Array.from({ length: 64 }, () => Array.from({ length: IN }, () => r()));
  const expected = pool.map(reference);
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure = '';
  const rss: number[] = [rssMiB(child.pid!)];
  const sampler = setInterval(() => rss.push(rssMiB(child.pid!)), 5000);
  const end = Date.now() + seconds * 1000;
  const client = async (c: number): Promise<void> => {
    for (let i = c; Date.now() < end; i += o.concurrency) {
      const k = i % pool.length;
      const t = performance.now();
      try {
        const res = await fetch(`${url}/v2/models/mlp/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, IN], datatype: 'FP32', data: pool[k] }] }) });
        const j = await res.json() as { outputs?: { data: number[] }[]; error?: string };
        latencies.push(performance.now() - t);
        const y = j.outputs?.[0]?.data;
        const ok = res.status === 200 && y?.length === OUT && y.every((v, n) => Math.abs(v - expected[k]![n]!) <= 1e-3 * Math.max(1, Math.abs(expected[k]![n]!)));
        if (!ok) { failures++; firstFailure ||= `${res.status} ${j.error ?? JSON.stringify(y)}`; }
      } catch (e) {
        failures++;
        firstFailure ||= (e as Error).message;
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: o.concurrency }, (_, c) => client(c)));
  const elapsed = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  rss.push(rssMiB(child.pid!));
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const runs = Number(/kiln_model_runs_total\{model="mlp",version="1"\} (\d+)/.exec(metrics)?.[1] ?? NaN);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  const code = await exited;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    phase: label, requests: latencies.length, failures, ...(firstFailure ? { firstFailure } : {}), seconds: Number(elapsed.toFixed(1)),
    reqPerS: Number((latencies.length / elapsed).toFixed(1)), p50Ms: Number(pct(0.5).toFixed(2)), p99Ms: Number(pct(0.99).toFixed(2)),
    runs, requestsPerRun: Number((latencies.length / runs).toFixed(2)), rssMiB: rss.map((v) => Math.round(v)), exitCode: code,
  };
}

const o = flags();
const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-serve-load-'));
try {
  mkdirSync(path.join(dir, 'mlp'));
  writeFileSync(path.join(dir, 'mlp', 'model.onnx'), mlpModel());
  const half = o.seconds / 2;
  const results = [await phase('no batching (--max-batch 1)', dir, o, 1, half), await phase(`batching (--max-batch ${o.maxBatch})`, dir, o, o.maxBatch, half)];
  console.log(`kiln serve load test: ${o.concurrency} concurrent clients, one-row MLP requests (${IN}→${HIDDEN}→${OUT}), backend ${o.backend}, ${os.cpus().length} CPUs`);
  for (const r of results) console.log(JSON.stringify(r));
  if (results.some((r) => (r.failures as number) > 0)) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
