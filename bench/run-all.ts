/**
 * `npm run bench`: every shared model in ../shared/models plus the synthetic cases
 * (matmul1024, mlp, convstack), Kiln against ONNX Runtime Web (WebGPU), ONNX
 * Runtime Node (CPU) and, on synthetic cases, tfjs-webgpu. Writes to results/:
 * bench.json (every number), bench.md (tables, targets, per-kernel profile of the
 * slowest model) and bench.svg (ratios Kiln ÷ ORT Web per model), and prints the
 * tables. Then the training benchmark (bench/train.ts: Kiln fit vs tfjs-layers fit, its
 * table in bench.md, numbers in train-bench.json; `--only train` runs just it), and the
 * wasm benchmark (bench/wasm.ts --quick: Kiln's wasm backend vs ORT Web's wasm, its table
 * in bench.md and wasm-bench.md; `--only wasm` runs just it).
 * Stops starting new cases once the time budget is spent.
 *
 *   npx tsx bench/run-all.ts [--runs N] [--warmup N] [--budget-min M] [--timeout-s S] [--only a,b] [--merge] [--out DIR]
 *
 * `--merge` keeps the other cases of an earlier results/bench.json (to re-run a few).
 * When every shared model was measured (and --out is the default), the README's
 * benchmark section (between `<!-- bench:start -->` and `<!-- bench:end -->`) is
 * rewritten from the same tables, so it never mixes runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SHARED_MODELS, SYNTHETIC, sharedModelNames } from './cases.js';
import { benchCase, spawnWorker, type CaseResult } from './harness.js';
import { markdownTable, profileTable, svgChart, syncReadme } from './report.js';
import { acquireGpu, requestDevice } from '../src/backends/webgpu/device.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

/** Checks each target; returns lines "met/missed by how much". */
export function targetLines(results: readonly CaseResult[], shared: ReadonlySet<string>): string[] {
  const lines: string[] = [];
  const limits = { warm: 1.0, cold: 0.5, peakBytes: 1.0, dispatches: 0.7 } as const;
  for (const [k, lim] of Object.entries(limits) as [keyof typeof limits, number][]) {
    const rows = results.filter((r) => shared.has(r.model) && r.ratiosAgainst === 'ort-webgpu' && r.ratios[k] !== undefined);
    const missed = rows.filter((r) => r.ratios[k]! > lim);
    lines.push(`- ${k} ≤ ${lim} on every shared model: ${missed.length === 0 && rows.length ? 'met' : `missed on ${missed.length}/${rows.length}`}` +
      (missed.length ? ` (${missed.map((r) => `${r.model} ${r.ratios[k]!.toFixed(2)}`).join(', ')})` : ''));
  }
  const mm = results.find((r) => r.model === 'matmul1024');
  const kg = mm?.kiln.gflops;
  const og = mm?.peers['ort-webgpu']?.gflops;
  if (kg !== undefined && og !== undefined) {
    lines.push(`- matmul 1024³ ≥ 2× ORT Web's GFLOP/s: ${kg >= 2 * og ? 'met' : 'missed'} (Kiln ${kg.toFixed(2)} vs ORT Web ${og.toFixed(2)} GFLOP/s: ×${(kg / og).toFixed(2)})`);
  }
  return lines;
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '20'));
  const warmup = Number(arg('warmup', '2'));
  const budgetMs = Number(arg('budget-min', '14')) * 60_000;
  const outDir = path.resolve(REPO_ROOT, arg('out', 'results'));
  const only = arg('only', '');
  const timeoutMs = Number(arg('timeout-s', '300')) * 1000;
  const shared = sharedModelNames();
  // Shared models first (smallest file first), then the synthetic cases: when the budget
  // runs out on a slow machine, the models the targets are about have been measured.
  const size = (m: string): number => statSync(path.join(SHARED_MODELS, m, 'model.onnx')).size;
  let cases = [...[...shared].sort((a, b) => size(a) - size(b)), ...['mlp', 'convstack', ...SYNTHETIC.filter((c) => c !== 'mlp' && c !== 'convstack')]];
  if (only) cases = cases.filter((c) => only.split(',').includes(c));
  const t0 = performance.now();
  const gpu = await acquireGpu();
  const info = gpu ? (await requestDevice({ label: 'bench-info' }).catch(() => undefined))?.info : undefined;
  const machine = `${info ? `${info.description || info.device} (${info.vendor}/${info.architecture})` : 'no WebGPU adapter'}, ${os.cpus().length} vCPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}`;
  console.error(`bench: ${cases.length} cases, ${runs} runs after ${warmup} warm-up; ${machine}; load average ${os.loadavg()[0]!.toFixed(1)}`);
  let when = '';
  function write(done: readonly CaseResult[], notRun: readonly string[], profile: string): { table: string; targets: string[] } {
    const table = markdownTable(done);
    const targets = targetLines(done, new Set(shared));
    when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const md = [
      `# Kiln benchmarks`, '',
      `Measured ${when} on ${machine}; load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}.`,
      `${runs} timed runs after ${warmup + 1} untimed ones; each runtime in a fresh \`node --liftoff-only\` process with MESA_SHADER_CACHE_DISABLE=true;`,
      `cold = session creation (device request included) + first inference. Times include uploading the inputs and reading the outputs back.`,
      `CPU ms/run is the process's CPU time (all threads, lavapipe's included) per warm run: on a loaded machine it varies less than wall time.`,
      `Peak GPU MiB, dispatches and pipelines are counted by the same wrappers on Dawn's prototypes for every runtime.`, '',
      table, '', '## Targets (Kiln ÷ ORT Web WebGPU)', '', ...targets, '',
      notRun.length ? `Not run (time budget spent or still to come): ${notRun.join(', ')}\n` : '',
      profile,
    ].join('\n');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'bench.json'), `${JSON.stringify({ machine, when, runs, warmup, results: done }, null, 2)}\n`);
    writeFileSync(path.join(outDir, 'bench.md'), md);
    writeFileSync(path.join(outDir, 'bench.svg'), svgChart(done, `Kiln ÷ ONNX Runtime Web (WebGPU), ${when.slice(0, 10)}, ${info?.device ?? ''}`));
    return { table, targets };
  }
  const results: CaseResult[] = [];
  const earlier: CaseResult[] = process.argv.includes('--merge') && existsSync(path.join(outDir, 'bench.json'))
    ? (JSON.parse(readFileSync(path.join(outDir, 'bench.json'), 'utf8')) as { results: CaseResult[] }).results.filter((r) => !cases.includes(r.model))
    : [];
  results.push(...earlier);
  const skipped: string[] = [];
  for (const c of cases) {
    if (performance.now() - t0 > budgetMs) { skipped.push(c); continue; }
    const started = performance.now();
    results.push(await benchCase(c, { runs, warmup, timeoutMs, log: (l) => console.error(l) }));
    console.error(`bench: ${c} done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    write(results, [...cases.slice(cases.indexOf(c) + 1)], '');
  }
  // Per-kernel profile of the model where Kiln is slowest relative to ORT Web.
  const worst = results.filter((r) => r.ratios.warm !== undefined && shared.includes(r.model)).sort((a, b) => b.ratios.warm! - a.ratios.warm!)[0];
  let profileMd = '';
  if (worst && performance.now() - t0 < budgetMs + 60_000) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-profile-'));
    const { result: p } = await spawnWorker({ case: worst.model, runtime: 'kiln-webgpu', runs: 1, warmup: 1, profile: true }, dir, timeoutMs);
    rmSync(dir, { recursive: true, force: true });
    if (p.error) console.error(`bench: profile of ${worst.model} failed: ${p.error}`);
    if (p.profile) profileMd = `## Kiln kernel profile: ${worst.model} (warm ratio ${worst.ratios.warm!.toFixed(2)})\n\n${profileTable(p.profile)}\n`;
  }
  // Training: Kiln's fit against tfjs-layers fit on WebGPU (bench/train.ts), in its own process.
  if ((!only || only.split(',').includes('train')) && performance.now() - t0 < budgetMs + 60_000) {
    const trainJson = path.join(outDir, 'train-bench.json');
    const trainMd = path.join(outDir, 'train-bench.md');
    mkdirSync(outDir, { recursive: true });
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/train.ts'), '--json', trainJson, '--md', trainMd],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 4 * timeoutMs, env: { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' } });
    if (r.status === 0 && existsSync(trainMd)) profileMd = `## Training: Kiln fit ÷ TensorFlow.js fit (bench/train.ts)\n\n${readFileSync(trainMd, 'utf8')}\n${profileMd}`;
    else console.error(`bench: training benchmark failed (status ${r.status ?? r.signal})`);
  }
  // Kiln's wasm backend against ORT Web's wasm, 1 and 2 threads (bench/wasm.ts --quick), in its own processes.
  if ((!only || only.split(',').includes('wasm')) && performance.now() - t0 < budgetMs + 60_000) {
    const wasmMd = path.join(outDir, 'wasm-bench.md');
    mkdirSync(outDir, { recursive: true });
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/wasm.ts'), '--quick', '--md', wasmMd],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 4 * timeoutMs });
    if (r.status === 0 && existsSync(wasmMd)) profileMd = `## Kiln wasm ÷ ONNX Runtime Web wasm (bench/wasm.ts --quick)\n\n${readFileSync(wasmMd, 'utf8')}\n${profileMd}`;
    else console.error(`bench: wasm benchmark failed (status ${r.status ?? r.signal})`);
  }
  const { table, targets } = write(results, skipped, profileMd);
  if (arg('out', 'results') === 'results' && shared.every((m) => results.some((r) => r.model === m))) {
    const block = [
      `Latest run (${when}, ${machine}; full report with the kernel profile in \`results/bench.md\`):`, '',
      table, '', 'Targets, Kiln ÷ ORT Web WebGPU:', '', ...targets, '', '![Kiln ÷ ORT Web](results/bench.svg)',
    ].join('\n');
    if (syncReadme(path.join(REPO_ROOT, 'README.md'), block)) console.error('bench: README.md benchmark section updated');
  }
  console.log(table);
  console.log(['', ...targets].join('\n'));
  console.error(`bench: wrote ${path.relative(REPO_ROOT, outDir)}/bench.{md,svg,json} in ${((performance.now() - t0) / 60_000).toFixed(1)} min`);
  process.exit(0);
}

await main();
