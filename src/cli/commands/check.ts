/**
 * `kiln check DIR [--backend cpu|webgpu[,...]] [-O 0|1|2] [--all-levels] [--atol 1e-4]
 * [--rtol 1e-3] [--json]`: runs `DIR/model.onnx` on every `DIR/test_data_set_*`
 * (the ONNX backend-test layout) and compares each output with `output_*.pb`.
 *
 * - One level (`-O`, default 0: as imported): prints per output the max absolute
 *   and relative error and PASS/FAIL; exits 1 if any output fails. Typed errors
 *   (unknown ops, bad files, shape mismatches) reach main.ts, which prints the
 *   message and the documented exit code.
 * - `--all-levels`: runs levels 0, 1 and 2 on every backend named, prints one row
 *   per level and backend (the worst output's errors, or the typed error that
 *   stopped that run) and exits 1 if any row fails.
 */
import { Command, Option } from 'commander';
import { BACKEND_NAMES, atLevel, isBackendName, loadBackend, type BackendName } from '../../session/backends.js';
import { checkModelDir, type ModelCheck } from '../../harness/model-test.js';
import { InputError, KilnError } from '../../graph/errors.js';
import type { Tolerance } from '../../harness/compare.js';
import { EXIT } from '../exit-codes.js';

/** An optimization level `kiln check` runs at. */
export type CheckLevel = 0 | 1 | 2;
/** Every level, in the order `--all-levels` runs them. */
export const CHECK_LEVELS: readonly CheckLevel[] = [0, 1, 2];

/** The `--json` output of one level. */
export interface CheckJson {
  readonly pass: boolean;
  readonly outputs: { name: string; maxAbsErr: number | null; maxRelErr: number | null; pass: boolean }[];
}

/** One row of `--all-levels`: a level on a backend. */
export interface LevelRun {
  readonly level: CheckLevel;
  readonly backend: BackendName;
  readonly pass: boolean;
  /** The check, when the run got as far as comparing outputs. */
  readonly check?: ModelCheck;
  /** The typed error that stopped the run (`Name: message`). */
  readonly error?: string;
}

/** The `--json` output of `--all-levels`. */
export interface AllLevelsJson {
  readonly pass: boolean;
  readonly runs: (Partial<CheckJson> & { level: CheckLevel; backend: BackendName; pass: boolean; error?: string })[];
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
const fmt = (x: number): string => (Number.isFinite(x) ? x.toExponential(3) : String(x));

/** JSON form of a check (infinite errors, from shape or dtype mismatches, become null). */
export function checkJson(r: ModelCheck): CheckJson {
  return { pass: r.pass, outputs: r.outputs.map((o) => ({ name: o.name, maxAbsErr: num(o.maxAbsErr), maxRelErr: num(o.maxRelErr), pass: o.pass })) };
}

/** Text form of a check: one line per output, then the verdict. */
export function checkText(r: ModelCheck): string {
  const w = Math.max(6, ...r.outputs.map((o) => o.name.length));
  const lines = [`${'output'.padEnd(w)}  ${'max abs err'.padStart(11)}  ${'max rel err'.padStart(11)}  result`];
  for (const o of r.outputs) {
    lines.push(`${o.name.padEnd(w)}  ${fmt(o.maxAbsErr).padStart(11)}  ${fmt(o.maxRelErr).padStart(11)}  ${o.pass ? 'PASS' : 'FAIL'}${o.detail ? `  (${o.detail})` : ''}`);
  }
  lines.push(r.pass ? 'PASS' : 'FAIL');
  return lines.join('\n');
}

/** The largest error over a check's outputs. */
function worst(r: ModelCheck, key: 'maxAbsErr' | 'maxRelErr'): number {
  return Math.max(0, ...r.outputs.map((o) => o[key]));
}

/** Text form of `--all-levels`: one row per level and backend, then the verdict. */
export function allLevelsText(runs: readonly LevelRun[]): string {
  const w = Math.max(7, ...runs.map((r) => r.backend.length));
  const lines = [`level  ${'backend'.padEnd(w)}  ${'max abs err'.padStart(11)}  ${'max rel err'.padStart(11)}  result`];
  for (const r of runs) {
    const abs = r.check ? fmt(worst(r.check, 'maxAbsErr')) : '-';
    const rel = r.check ? fmt(worst(r.check, 'maxRelErr')) : '-';
    const failed = r.check?.outputs.filter((o) => !o.pass).map((o) => o.name) ?? [];
    const why = r.error ?? (failed.length ? `failing: ${failed.join(', ')}` : '');
    lines.push(`${`O${r.level}`.padEnd(5)}  ${r.backend.padEnd(w)}  ${abs.padStart(11)}  ${rel.padStart(11)}  ${r.pass ? 'PASS' : 'FAIL'}${why ? `  (${why})` : ''}`);
  }
  lines.push(runs.every((r) => r.pass) ? 'PASS' : 'FAIL');
  return lines.join('\n');
}

/** JSON form of `--all-levels`. */
export function allLevelsJson(runs: readonly LevelRun[]): AllLevelsJson {
  return {
    pass: runs.every((r) => r.pass),
    runs: runs.map((r) => ({ level: r.level, backend: r.backend, ...(r.check ? checkJson(r.check) : {}), pass: r.pass, ...(r.error ? { error: r.error } : {}) })),
  };
}

/**
 * Checks a model directory at each level on each backend. A typed error at one
 * level (no kernel for an op, a shape the backend cannot plan) fails that row and
 * the others still run; other errors propagate.
 */
export async function checkAllLevels(dir: string, backends: readonly BackendName[], tolerance: Tolerance, levels: readonly CheckLevel[] = CHECK_LEVELS): Promise<LevelRun[]> {
  const loaded = await Promise.all(backends.map((b) => loadBackend(b)));
  const runs: LevelRun[] = [];
  for (const level of levels) {
    for (const backend of loaded) {
      try {
        const check = await checkModelDir(dir, { backend: atLevel(backend, level), tolerance });
        runs.push({ level, backend: backend.name, pass: check.pass, check });
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        runs.push({ level, backend: backend.name, pass: false, error: `${e.name}: ${e.message}` });
      }
    }
  }
  return runs;
}

function tolerance(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new InputError(`--${name} must be a non-negative number, got '${v}'`);
    return x;
  };
}

/** Parses `--backend`: one name or a comma-separated list of them. */
export function parseBackends(v: string): BackendName[] {
  const names = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = names.filter((n) => !isBackendName(n));
  if (names.length === 0 || bad.length) throw new InputError(`--backend ${v}: expected ${BACKEND_NAMES.join(', ')} or a comma-separated list of them`);
  return [...new Set(names)] as BackendName[];
}

/** Parses `-O`: 0, 1 or 2. */
export function parseLevel(v: string): CheckLevel {
  const n = Number(v);
  if (n !== 0 && n !== 1 && n !== 2) throw new InputError(`-O ${v}: the level must be 0, 1 or 2`);
  return n;
}

/** Registers `kiln check`. */
export function register(program: Command): void {
  program
    .command('check')
    .description('run DIR/model.onnx on DIR/test_data_set_*/input_*.pb and compare with output_*.pb')
    .argument('<dir>', 'model directory in the ONNX backend-test layout')
    .addOption(new Option('--backend <names>', `backend: ${BACKEND_NAMES.join(', ')}, or a comma-separated list (several need --all-levels)`).argParser(parseBackends).default(['cpu'], 'cpu'))
    .option('-O, --level <n>', 'optimization level applied before compiling: 0 (as imported), 1 or 2', parseLevel, 0 as CheckLevel)
    .option('--all-levels', 'run levels 0, 1 and 2 on every backend given; one row per level and backend')
    .option('--atol <x>', 'absolute tolerance', tolerance('atol'), 1e-4)
    .option('--rtol <x>', 'relative tolerance', tolerance('rtol'), 1e-3)
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: { backend: BackendName[]; level: CheckLevel; allLevels?: boolean; atol: number; rtol: number; json?: boolean }) => {
      const tol = { atol: o.atol, rtol: o.rtol };
      if (o.allLevels) {
        const runs = await checkAllLevels(dir, o.backend, tol);
        process.stdout.write(`${o.json ? JSON.stringify(allLevelsJson(runs)) : allLevelsText(runs)}\n`);
        if (!runs.every((r) => r.pass)) process.exitCode = EXIT.failed;
        return;
      }
      if (o.backend.length !== 1) throw new InputError(`--backend ${o.backend.join(',')}: several backends need --all-levels`);
      const backend = atLevel(await loadBackend(o.backend[0]!), o.level);
      const r = await checkModelDir(dir, { backend, tolerance: tol });
      process.stdout.write(`${o.json ? JSON.stringify(checkJson(r)) : checkText(r)}\n`);
      if (!r.pass) process.exitCode = EXIT.failed;
    });
}
