/**
 * Kiln's wasm backend (session backend 'wasm', SIMD128) against onnxruntime-web's
 * wasm backend, both with 1 and both with 2 threads, on every shared model and the
 * synthetic MatMul 1024³ case (GFLOP/s). Reuses the runtimes of ./runtimes.ts
 * ('kiln-wasm', 'ort-wasm' with `wasmThreads`) and the cases of ./cases.ts.
 *
 * - Warm: ORT's thread count is fixed per process, so for each thread count a fresh
 *   process opens kiln-wasm and ort-wasm side by side and alternates their runs
 *   (`--warmup` untimed rounds, then `--runs` timed rounds, each round one run of
 *   each), so that load on the machine hits both alike; prints the medians. The
 *   1-thread process gives kiln-wasm(1) and ort-wasm(1) and their ratio; the 2-thread
 *   process gives kiln-wasm(2) and ort-wasm(2) (both runtimes' numThreads = 2) and
 *   theirs. Outputs are checked: max |kiln − ort| and, where the
 *   case has test data, max |kiln − expected|.
 * - Cold: session creation + first inference, timed after the runtime's modules are
 *   imported, in `--cold` fresh processes per runtime (median).
 *
 * Every process runs plain `node --import tsx` (no `--liftoff-only`: that flag keeps
 * both runtimes' wasm on V8's baseline compiler, which is not what a browser runs warm).
 *
 *   npx tsx bench/wasm.ts [case ...] [--runs N] [--warmup N] [--cold N] [--quick] [--no-matmul] [--md FILE]
 *
 * `--quick`: runs 5, warm-up 1, cold 3, and only squeezenet1_1, mobilenet_v2,
 * bert_tiny and matmul1024 unless cases are named.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, resolveCase, sharedModelNames } from './cases.js';
import { maxAbsDiff, median } from './harness.js';
import { prepareRuntime, type OpenRuntime, type Outputs, type RuntimeName } from './runtimes.js';

/** What a warm child reports. */
interface WarmResult {
  kilnMs: number[];
  ortMs: number[];
  /** Process CPU time ÷ wall time over the ORT runs (about the threads ORT kept busy). */
  ortCpuPerWall: number;
  /** The same over the Kiln runs. */
  kilnCpuPerWall: number;
  kilnVsOrt: number;
  kilnVsExpected?: number;
  error?: string;
}

/** What a cold child reports. */
interface ColdResult { coldMs?: number; createMs?: number; error?: string }

const self = fileURLToPath(import.meta.url);

function expectedOf(spec: string): Outputs | undefined {
  const c = resolveCase(spec);
  return c.expected?.().map((t, i) => ({ name: `#${i}`, shape: [...t.shape], data: Float64Array.from(t.data as ArrayLike<number>) }));
}

/** Child: kiln-wasm and ort-wasm (both `threads`) in this process, runs alternating. */
async function warmChild(spec: string, threads: number, runs: number, warmup: number): Promise<WarmResult> {
  const c = resolveCase(spec);
  const kiln = await (await prepareRuntime('kiln-wasm', { wasmThreads: threads })).open(c);
  const ort = await (await prepareRuntime('ort-wasm', { wasmThreads: threads })).open(c);
  const ko = await kiln.run();
  const oo = await ort.run();
  const expected = expectedOf(spec);
  const kilnMs: number[] = [];
  const ortMs: number[] = [];
  let ortCpu = 0;
  let ortWall = 0;
  let kilnCpu = 0;
  let kilnWall = 0;
  const timed = async (s: OpenRuntime): Promise<{ ms: number; cpu: number }> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await s.run();
    const ms = performance.now() - t0;
    const dc = process.cpuUsage(c0);
    return { ms, cpu: (dc.user + dc.system) / 1000 };
  };
  for (let i = 0; i < warmup + runs; i++) {
    const k = await timed(kiln);
    const o = await timed(ort);
    if (i < warmup) continue;
    kilnMs.push(k.ms);
    ortMs.push(o.ms);
    ortCpu += o.cpu;
    ortWall += o.ms;
    kilnCpu += k.cpu;
    kilnWall += k.ms;
  }
  await kiln.release();
  await ort.release();
  const r: WarmResult = { kilnMs, ortMs, ortCpuPerWall: ortCpu / ortWall, kilnCpuPerWall: kilnCpu / kilnWall, kilnVsOrt: maxAbsDiff(ko, oo) };
  if (expected) r.kilnVsExpected = maxAbsDiff(ko, expected);
  return r;
}

/** Child: one cold start (session creation + first run) of one runtime. */
async function coldChild(spec: string, runtime: RuntimeName, threads: number): Promise<ColdResult> {
  const c = resolveCase(spec);
  c.onnx();
  c.feeds();
  const rt = await prepareRuntime(runtime, { wasmThreads: threads });
  const t0 = performance.now();
  const s = await rt.open(c);
  const t1 = performance.now();
  await s.run();
  const coldMs = performance.now() - t0;
  await s.release();
  return { coldMs, createMs: t1 - t0 };
}

/** Runs this script as a child with `args`; parses its last stdout line as JSON. */
function spawnChild<T extends { error?: string }>(args: string[], timeoutMs: number): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    const tail = (r.stderr ?? '').split('\n').filter((l) => l.trim()).slice(-3).join(' | ');
    return { error: `child ${args.join(' ')} ${r.error ? r.error.message : `exited ${r.status ?? r.signal}`}${tail ? `: ${tail}` : ''}` } as T;
  }
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const f = (v: number | undefined, d = 1): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));
const ratio = (a: number | undefined, b: number | undefined): string => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}` : '—');

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--warm-child') {
    const out = await warmChild(argv[1]!, Number(argv[2]), Number(argv[3]), Number(argv[4])).catch((e: unknown) => ({ error: (e as Error)?.message ?? String(e) }));
    process.stdout.write(`\n${JSON.stringify(out)}\n`);
    process.exit(0);
  }
  if (argv[0] === '--cold-child') {
    const out = await coldChild(argv[1]!, argv[2] as RuntimeName, Number(argv[3])).catch((e: unknown) => ({ error: (e as Error)?.message ?? String(e) }));
    process.stdout.write(`\n${JSON.stringify(out)}\n`);
    process.exit(0);
  }
  const quick = argv.includes('--quick');
  const runs = Number(arg('runs', quick ? '5' : '7'));
  const warmup = Number(arg('warmup', quick ? '1' : '2'));
  const coldN = Number(arg('cold', '3'));
  const md = arg('md', '');
  const valued = new Set(['--runs', '--warmup', '--cold', '--md']);
  const named = argv.filter((a, i) => !a.startsWith('--') && !valued.has(argv[i - 1] ?? ''));
  const matmul = !argv.includes('--no-matmul');
  const cases = named.length ? named : [...(quick ? ['squeezenet1_1', 'mobilenet_v2', 'bert_tiny'] : sharedModelNames()), ...(matmul ? ['matmul1024'] : [])];
  const timeout = 600_000;
  const when = new Date().toISOString();
  console.error(`wasm bench: ${cases.length} cases; warm: ${runs} alternating rounds after ${warmup}; cold: median of ${coldN} fresh processes; ${os.cpus().length} vCPUs, load ${os.loadavg()[0]!.toFixed(1)}`);
  const rows: string[] = [];
  for (const c of cases) {
    const t0 = performance.now();
    const w1 = spawnChild<WarmResult>(['--warm-child', c, '1', String(runs), String(warmup)], timeout);
    const w2 = spawnChild<WarmResult>(['--warm-child', c, '2', String(runs), String(warmup)], timeout);
    const cold = (rt: RuntimeName, threads: number): { ms?: number; error?: string } => {
      const xs: number[] = [];
      for (let i = 0; i < coldN; i++) {
        const r = spawnChild<ColdResult>(['--cold-child', c, rt, String(threads)], timeout);
        if (r.error !== undefined || r.coldMs === undefined) return { error: r.error ?? 'no result' };
        xs.push(r.coldMs);
      }
      return { ms: median(xs) };
    };
    const ck = cold('kiln-wasm', 1);
    const co = cold('ort-wasm', 1);
    const flops = resolveCase(c).flops;
    const k1 = w1.kilnMs ? median(w1.kilnMs) : undefined;
    const o1 = w1.ortMs ? median(w1.ortMs) : undefined;
    const k2 = w2.kilnMs ? median(w2.kilnMs) : undefined;
    const o2 = w2.ortMs ? median(w2.ortMs) : undefined;
    const gf = (ms: number | undefined): string => (flops && ms ? ` (${(flops / (ms * 1e6)).toFixed(1)} GFLOP/s)` : '');
    const errs = [w1.error && `1 thread: ${w1.error}`, w2.error && `2 threads: ${w2.error}`, ck.error && `kiln cold: ${ck.error}`, co.error && `ort cold: ${co.error}`].filter(Boolean);
    const diff = (w: WarmResult): string => `${w.kilnVsOrt === undefined ? '—' : w.kilnVsOrt.toExponential(1)} / ${w.kilnVsExpected === undefined ? '—' : w.kilnVsExpected.toExponential(1)}`;
    rows.push(`| ${c} | ${f(k1)}${gf(k1)} | ${f(o1)}${gf(o1)} | ${ratio(k1, o1)} | ${f(k2)}${gf(k2)} (CPU÷wall ${f(w2.kilnCpuPerWall, 2)}) | ${f(o2)}${gf(o2)} (CPU÷wall ${f(w2.ortCpuPerWall, 2)}) | ${ratio(k2, o2)} | ${f(ck.ms, 0)} | ${f(co.ms, 0)} | ${ratio(ck.ms, co.ms)} | ${diff(w1)} ; 2t ${diff(w2)} |`);
    console.error(`  ${c}: done in ${((performance.now() - t0) / 1000).toFixed(0)} s${errs.length ? `; ${errs.join('; ')}` : ''}`);
  }
  const table = [
    `Measured ${when}, ${os.cpus().length} vCPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load average at the end ${os.loadavg()[0]!.toFixed(1)}.`,
    `Warm: median of ${runs} alternating rounds (kiln-wasm, ort-wasm) after ${warmup} untimed, ms per inference (inputs in, outputs read); `
      + `1t: both runtimes with 1 thread in one process; 2t: both with numThreads = 2 in another (CPU÷wall: process CPU time ÷ wall time over that runtime's runs, about the threads it kept busy). `
      + `Cold: session creation + first inference, median of ${coldN} fresh processes each (1 thread).`,
    '',
    '| case | kiln 1t ms | ort 1t ms | kiln ÷ ort 1t | kiln 2t ms | ort 2t ms | kiln 2t ÷ ort 2t | kiln cold ms | ort cold ms | cold ratio | max \\|kiln−ort\\| / \\|kiln−expected\\| |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  if (md) writeFileSync(md, `${table}\n`);
  console.log(table);
  process.exit(0);
}

await main();
