/**
 * Load test of `kiln serve` (not part of `npm test`: it runs for minutes).
 *
 *   npx tsx bench/serve-load.ts [--seconds 60] [--window 10] [--backend webgpu] [--max-batch 32]
 *       [--concurrency 4,8,16,32,64] [--sweep-seconds 3] [--batch-timeout-ms 2]
 *
 * Generates an MLP with a dynamic batch dim (x: [batch, 64] → MatMul 64×256 → Relu →
 * MatMul 256×10) and starts `kiln serve` twice as child processes, both kept up for the
 * whole test: `--max-batch 1` (no batching) and `--max-batch N` (dynamic batching).
 * The load generator is closed-loop and bounded: C clients on keep-alive connections
 * (node:http, an Agent with C sockets), each posting one-row Open Inference Protocol
 * JSON requests and sending the next when the answer came. Every response is checked
 * against a float64 reference of the MLP for its input (|d| ≤ 1e-3·max(1, |ref|)); a
 * wrong status, a wrong value or a socket error counts as a failure.
 *
 * 1. Sweep: each server for `--sweep-seconds` at each concurrency of `--concurrency`;
 *    the concurrency of the best throughput is kept per server.
 * 2. Run: `--seconds` of load per server at its best concurrency, in windows of
 *    `--window` seconds alternating between the two servers (so drift in the machine's
 *    load hits both alike). Prints, per server: requests/s of each window and their
 *    median, p50/p99 latency over the run, failures, the server's RSS at the start and
 *    end of the run (and its peak), and runs made (kiln_model_runs_total); then the ratio
 *    of the medians (batching / no batching). Exit code 1 on any failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
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
interface Flags {
  readonly seconds: number;
  readonly window: number;
  readonly backend: string;
  readonly maxBatch: number;
  readonly concurrency: number[];
  readonly sweepSeconds: number;
  readonly batchTimeoutMs: number;
}

/** Parses the command line. */
function flags(): Flags {
  const a = process.argv.slice(2);
  const get = (name: string, def: string): string => { const i = a.indexOf(`--${name}`); return i >= 0 && a[i + 1] ? a[i + 1]! : def; };
  return {
    seconds: Number(get('seconds', '60')), window: Number(get('window', '10')), backend: get('backend', 'webgpu'),
    maxBatch: Number(get('max-batch', '32')), concurrency: get('concurrency', '4,8,16,32,64').split(',').map(Number),
    sweepSeconds: Number(get('sweep-seconds', '3')), batchTimeoutMs: Number(get('batch-timeout-ms', '2')),
  };
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

/** A process's resident set size in MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** A running `kiln serve` child. */
interface Served {
  readonly label: string;
  readonly child: ChildProcess;
  readonly host: string;
  readonly port: number;
}

/** Starts `kiln serve` and resolves once it listens. */
function startServer(label: string, dir: string, o: Flags, maxBatch: number): Promise<Served> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/kiln.js'), 'serve', dir, '--port', '0', '--backend', o.backend,
    '--max-batch', String(maxBatch), '--batch-timeout-ms', String(o.batchTimeoutMs), '--no-watch'], {
    env: { ...process.env, KILN_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/([^:\s]+):(\d+)/.exec(out);
      if (m) resolve({ label, child, host: m[1]!, port: Number(m[2]) });
    });
    child.on('exit', (code) => reject(new Error(`kiln serve (${label}) exited ${code}`)));
  });
}

/** The request pool: bodies pre-encoded, expected outputs in float64. */
const POOL = (() => {
  const r = rng(11);
  const xs = Array.from({ length: 64 }, () => Array.from({ length: IN }, () => r()));
  return xs.map((x) => ({ body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, IN], datatype: 'FP32', data: x }] })), want: reference(x) }));
})();

/** Figures of one load window. */
interface Window {
  readonly requests: number;
  readonly failures: number;
  readonly firstFailure: string;
  readonly seconds: number;
  readonly latencies: number[];
}

/** One POST on a keep-alive agent; resolves with the status and body. */
function post(s: Served, agent: http.Agent, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: s.host, port: s.port, path: '/v2/models/mlp/infer', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `concurrency` closed-loop clients for `seconds` against one server; every answer checked. */
async function load(s: Served, concurrency: number, seconds: number): Promise<Window> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure = '';
  const end = performance.now() + seconds * 1000;
  const client = async (c: number): Promise<void> => {
    for (let i = c; performance.now() < end; i += concurrency) {
      const k = i % POOL.length;
      const t = performance.now();
      try {
        const res = await post(s, agent, POOL[k]!.body);
        latencies.push(performance.now() - t);
        const j = JSON.parse(res.body) as { outputs?: { data: number[] }[]; error?: string };
        const y = j.outputs?.[0]?.data;
        const want = POOL[k]!.want;
        const ok = res.status === 200 && y?.length === OUT && y.every((v, n) => Math.abs(v - want[n]!) <= 1e-3 * Math.max(1, Math.abs(want[n]!)));
        if (!ok) { failures++; firstFailure ||= `${res.status} ${j.error ?? JSON.stringify(y)}`; }
      } catch (e) {
        failures++;
        firstFailure ||= (e as Error).message;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, c) => client(c)));
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  return { requests: latencies.length, failures, firstFailure, seconds: elapsed, latencies };
}

/** The median of a list. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs made by a server (its /metrics). */
async function runsOf(s: Served): Promise<number> {
  const agent = new http.Agent();
  const text = await new Promise<string>((resolve, reject) => {
    http.get({ host: s.host, port: s.port, path: '/metrics', agent }, (res) => {
      let t = '';
      res.on('data', (c: Buffer) => { t += c.toString(); });
      res.on('end', () => resolve(t));
    }).on('error', reject);
  });
  return Number(/kiln_model_runs_total\{model="mlp",version="1"\} (\d+)/.exec(text)?.[1] ?? NaN);
}

const o = flags();
const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-serve-load-'));
const servers: Served[] = [];
try {
  mkdirSync(path.join(dir, 'mlp'));
  writeFileSync(path.join(dir, 'mlp', 'model.onnx'), mlpModel());
  servers.push(await startServer('no batching (--max-batch 1)', dir, o, 1), await startServer(`batching (--max-batch ${o.maxBatch})`, dir, o, o.maxBatch));
  console.log(`kiln serve load test: one-row MLP requests (${IN}→${HIDDEN}→${OUT}), backend ${o.backend}, ${os.cpus().length} CPUs, node ${process.version}`);
  const rssLoaded = servers.map((s) => rssMiB(s.child.pid!));
  let failures = 0;
  let firstFailure = '';
  const note = (w: Window): void => { failures += w.failures; firstFailure ||= w.firstFailure; };

  // 1. Concurrency sweep (also warms every batch size's plan up).
  const best: number[] = [];
  for (const s of servers) {
    const sweep: Record<number, number> = {};
    for (const c of o.concurrency) {
      const w = await load(s, c, o.sweepSeconds);
      note(w);
      sweep[c] = Math.round(w.requests / w.seconds);
    }
    best.push(Number(Object.entries(sweep).sort((a, b) => b[1] - a[1])[0]![0]));
    console.log(JSON.stringify({ sweep: s.label, reqPerSByConcurrency: sweep, best: best[best.length - 1] }));
  }

  // 2. The run: alternating windows at each server's best concurrency.
  const rssStart = servers.map((s) => rssMiB(s.child.pid!));
  const rssPeak = [...rssStart];
  const runsStart = await Promise.all(servers.map(runsOf));
  const windows: Window[][] = servers.map(() => []);
  const sampler = setInterval(() => servers.forEach((s, i) => { rssPeak[i] = Math.max(rssPeak[i]!, rssMiB(s.child.pid!)); }), 1000);
  const n = Math.max(1, Math.round(o.seconds / o.window));
  for (let k = 0; k < n; k++) {
    for (const [i, s] of servers.entries()) {
      const w = await load(s, best[i]!, o.window);
      note(w);
      windows[i]!.push(w);
    }
  }
  clearInterval(sampler);
  const rssEnd = servers.map((s) => rssMiB(s.child.pid!));
  const runsEnd = await Promise.all(servers.map(runsOf));
  const medians: number[] = [];
  for (const [i, s] of servers.entries()) {
    const ws = windows[i]!;
    const rates = ws.map((w) => w.requests / w.seconds);
    const lat = ws.flatMap((w) => w.latencies).sort((a, b) => a - b);
    const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
    const requests = ws.reduce((a, w) => a + w.requests, 0);
    medians.push(median(rates));
    console.log(JSON.stringify({
      server: s.label, concurrency: best[i], seconds: Number(ws.reduce((a, w) => a + w.seconds, 0).toFixed(1)), requests,
      failures: ws.reduce((a, w) => a + w.failures, 0), reqPerSWindows: rates.map((r) => Math.round(r)), reqPerSMedian: Math.round(median(rates)),
      p50Ms: Number(pct(0.5).toFixed(2)), p99Ms: Number(pct(0.99).toFixed(2)), runs: runsEnd[i]! - runsStart[i]!,
      requestsPerRun: Number((requests / (runsEnd[i]! - runsStart[i]!)).toFixed(2)),
      rssMiB: { loaded: rssLoaded[i], start: rssStart[i], end: rssEnd[i], peak: rssPeak[i] },
    }));
  }
  const codes = await Promise.all(servers.map((s) => { const exited = new Promise<number | null>((resolve) => s.child.on('exit', resolve)); s.child.kill('SIGTERM'); return exited; }));
  console.log(JSON.stringify({ ratioOfMedians: Number((medians[1]! / medians[0]!).toFixed(2)), failures, ...(firstFailure ? { firstFailure } : {}), exitCodes: codes }));
  if (failures > 0 || codes.some((c) => c !== 0)) process.exitCode = 1;
} finally {
  for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
