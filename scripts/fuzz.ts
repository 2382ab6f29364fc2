/**
 * `npm run fuzz -- --cases N --seed S [--time-limit-ms T] [--json FILE] [--case I]`
 *
 * Mutates the shared models (../shared/models/<name>/model.onnx) and small models
 * synthesized with onnx-proto, and synthesizes hostile files (see fuzz-cases.ts,
 * fuzz-mutate.ts, fuzz-bytes.ts). Each case runs in a worker thread (fuzz-host.ts,
 * fuzz-worker.ts) and must end within the time bound, under the memory cap, in a
 * correct result or a typed KilnError. Prints `cases, ok, typed errors, crashes,
 * hangs`, and exits 1 on any crash, hang, untyped exception or wrong result.
 * `--start I` begins at case I (to split one seed's cases across processes).
 * `--json FILE` writes every failing case (mutations, seeds, error, bytes when
 * small) with the command that rebuilds it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSharedModels, makeCase, type FuzzCase } from './fuzz-cases.js';
import { memoryCap, sizeClass, WorkerHost, type HostOutcome } from './fuzz-host.js';

interface Options {
  cases: number;
  seed: number;
  timeLimitMs: number;
  json?: string;
  only?: number;
  start: number;
  models: string;
  sharedShare: number;
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { cases: 1000, seed: 1, timeLimitMs: 5000, models: path.resolve(REPO, '../shared/models'), sharedShare: 0.03, start: 0 };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--cases') o.cases = num(a, v);
    else if (a === '--seed') o.seed = num(a, v);
    else if (a === '--time-limit-ms') o.timeLimitMs = num(a, v);
    else if (a === '--case') o.only = num(a, v);
    else if (a === '--start') o.start = num(a, v);
    else if (a === '--shared-share') o.sharedShare = num(a, v);
    else if (a === '--json') o.json = v;
    else if (a === '--models') o.models = path.resolve(v ?? '');
    else if (a === '--help') {
      console.log('usage: npm run fuzz -- --cases N --seed S [--time-limit-ms T] [--json FILE] [--case I] [--start I] [--models DIR] [--shared-share F]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
    i++;
  }
  return o;
}

/** A failing (or suspicious) case as written to --json. */
interface Record_ {
  index: number;
  caseSeed: number;
  base: string;
  mutations: readonly string[];
  kind: string;
  code?: string;
  error: string;
  stack?: string;
  ms: number;
  size: number;
  bytesBase64?: string;
  repro: string;
}

function signature(e: string): string {
  return e.replace(/'[^']*'/g, "'…'").replace(/\b-?\d+(\.\d+)?(e[+-]?\d+)?\b/g, 'N').slice(0, 160);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const shared = loadSharedModels(o.models);
  if (!shared.size) console.log(`(no shared models at ${o.models}: fuzzing synthesized models only)`);
  const baseDir = mkdtempSync(path.join(tmpdir(), 'kiln-fuzz-'));
  writeFileSync(path.join(baseDir, 'weights.bin'), new Uint8Array(new Float32Array(16).fill(0.5).buffer));
  mkdirSync(path.join(baseDir, 'sub'));
  const hosts = new Map<number, WorkerHost>();
  const counts = { cases: 0, ok: 0, ran: 0, importOnly: 0, typed: 0, wrapped: 0, crashes: 0, hangs: 0, untyped: 0, mismatches: 0 };
  const failures: Record_[] = [];
  const wrapped: Record_[] = [];
  const codes = new Map<string, number>();
  const t0 = performance.now();
  const indices = o.only !== undefined ? [o.only] : Array.from({ length: o.cases }, (_, i) => o.start + i);
  try {
    for (const index of indices) {
      const c: FuzzCase = makeCase(o.seed, index, shared, o.sharedShare);
      const cls = sizeClass(c.bytes.length);
      let host = hosts.get(cls);
      if (!host) hosts.set(cls, (host = new WorkerHost(cls, baseDir)));
      const timeout = o.timeLimitMs + Math.ceil((200 * c.bytes.length) / (1 << 20));
      const r: HostOutcome = await host.run({ id: index, caseSeed: c.caseSeed, bytes: c.bytes }, timeout, memoryCap(c.bytes.length));
      counts.cases++;
      const rec = (): Record_ => ({
        index, caseSeed: c.caseSeed, base: c.base, mutations: c.mutations, kind: r.kind,
        ...('code' in r && r.code ? { code: r.code } : {}),
        error: ('error' in r && r.error) || '', ...('stack' in r && r.stack ? { stack: r.stack } : {}),
        ms: Math.round(r.ms), size: c.bytes.length,
        ...(c.bytes.length <= 65536 ? { bytesBase64: Buffer.from(c.bytes).toString('base64') } : {}),
        repro: `npm run fuzz -- --seed ${o.seed} --case ${index}`,
      });
      if (r.kind === 'ok') {
        counts.ok++;
        if ('ran' in r && r.ran) counts.ran++;
        else counts.importOnly++;
      } else if (r.kind === 'typed') {
        counts.typed++;
        codes.set(r.code ?? '?', (codes.get(r.code ?? '?') ?? 0) + 1);
        if (r.wrapped) {
          counts.wrapped++;
          wrapped.push(rec());
        }
      } else {
        if (r.kind === 'crash') counts.crashes++;
        else if (r.kind === 'hang') counts.hangs++;
        else if (r.kind === 'untyped') counts.untyped++;
        else counts.mismatches++;
        failures.push(rec());
      }
      if (o.only !== undefined) console.log(JSON.stringify({ ...rec(), bytesBase64: undefined }, null, 2));
      if (counts.cases % 500 === 0) {
        process.stderr.write(`  ${counts.cases}/${indices.length} cases, ${failures.length} failing, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
      }
    }
  } finally {
    for (const h of hosts.values()) h.close();
    rmSync(baseDir, { recursive: true, force: true });
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`cases ${counts.cases}, ok ${counts.ok}, typed errors ${counts.typed}, crashes ${counts.crashes}, hangs ${counts.hangs}`);
  console.log(`  (ok: ${counts.ran} ran and matched, ${counts.importOnly} imported only; untyped exceptions ${counts.untyped}, wrong results ${counts.mismatches}; ` +
    `typed errors wrapping a raw exception ${counts.wrapped}; seed ${o.seed}; ${secs.toFixed(1)} s; worker starts ${[...hosts.values()].reduce((a, h) => a + h.starts, 0)})`);
  console.log(`  typed error codes: ${[...codes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const sigs = new Map<string, { n: number; first: Record_ }>();
  for (const f of [...failures, ...wrapped]) {
    const k = `${f.kind}: ${signature(f.error)}`;
    const e = sigs.get(k);
    if (e) e.n++;
    else sigs.set(k, { n: 1, first: f });
  }
  for (const [k, { n, first }] of [...sigs].sort((a, b) => b[1].n - a[1].n).slice(0, 25)) {
    console.log(`  ${n}× ${k}\n      e.g. case ${first.index} (${first.base}; ${first.mutations.join(' | ').slice(0, 160)})`);
  }
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ seed: o.seed, counts, seconds: secs, failures, wrapped }, null, 1));
    console.log(`  details: ${o.json}`);
  }
  const bad = counts.crashes + counts.hangs + counts.untyped + counts.mismatches;
  process.exitCode = bad > 0 ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 2;
});
