/**
 * The ONNX backend-test conformance runner (library part; the CLI is
 * scripts/conformance.ts). Each case directory is imported, run on a backend and
 * compared with its expected outputs through {@link checkModelDir}, so the runner,
 * `kiln check` and the tests share one implementation.
 *
 * Cases run in-process, one after another. Pathological sizes are refused before
 * running (a value over {@link RunnerOptions.maxElements} elements), and a case
 * that takes longer than {@link RunnerOptions.caseTimeMs} counts as failed.
 * Cases listed in conformance/out-of-scope.json count as unsupported without being run.
 * Cases listed in conformance/random-outputs.json (random ops, whose expected values
 * come from numpy's generator) are run and checked by what a generator cannot
 * change: each output's dtype and shape equal the expected ones, every value lies in
 * the rule's set or range, and a second run gives the same values (Kiln's random
 * ops are deterministic).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError, UnsupportedOpError } from '../graph/errors.js';
import type { Backend } from '../session/backends.js';
import type { Tolerance } from './compare.js';
import { Tensor } from '../graph/tensor.js';
import { checkModelDir, importForDataSet, loadModelDir } from './model-test.js';
import { decodeModel } from '../../onnx/import.js';

/** The test suites of the ONNX backend test data. */
export const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'] as const;
/** A suite name. */
export type Suite = (typeof SUITES)[number];

/** Where the test data lives (`$KILN_ONNX_TESTDATA` or Debian's libonnx-testdata). */
export function testDataRoot(): string {
  return process.env.KILN_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';
}

/**
 * Where the ONNX 1.17 test data lives (opsets up to 22): `$KILN_ONNX_TESTDATA_117`,
 * or where .ci/setup-system.sh extracts Debian trixie's libonnx-testdata 1.17.0.
 */
export function testDataRoot117(): string {
  return process.env.KILN_ONNX_TESTDATA_117 ?? path.join(REPO_ROOT, '.cache/onnx-testdata-1.17/usr/share/libonnx-testdata/data');
}

/** Repository root (two directories above src/harness/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Outcome of one case. */
export type CaseStatus = 'pass' | 'fail' | 'unsupported';

/** One case's result. */
export interface CaseResult {
  /** `<suite>/<test name>`. */
  readonly name: string;
  readonly status: CaseStatus;
  /** Failure message, unsupported ops, or the max error for passes. */
  readonly detail: string;
  /** The op the case is filed under in the per-op table. */
  readonly op: string;
  /** Largest absolute error over the outputs (Infinity on shape/dtype mismatch; absent if it did not run). */
  readonly maxAbsErr?: number;
  /** True when out of scope (counted as unsupported, not run). */
  readonly outOfScope?: boolean;
  readonly ms: number;
}

/** Totals and cases, as written by `--json`. */
export interface ConformanceReport {
  readonly backend: string;
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly unsupported: number;
  readonly outOfScope: number;
  readonly cases: readonly CaseResult[];
}

/** Options of {@link runConformance}. */
export interface RunnerOptions {
  readonly backend: Backend;
  readonly suites: readonly Suite[];
  /** Folder holding the suites (default {@link testDataRoot}: ONNX 1.12). */
  readonly root?: string;
  /** Only cases whose `<suite>/<name>` matches. */
  readonly filter?: RegExp;
  readonly tolerance?: Tolerance;
  /** Refuse graphs with a value larger than this many elements (default 2^24). */
  readonly maxElements?: number;
  /** A case slower than this fails (default 20 s). */
  readonly caseTimeMs?: number;
  /** Called after each case. */
  readonly onCase?: (r: CaseResult, index: number, total: number) => void;
}

/** An out-of-scope rule. */
export interface OutOfScopeRule {
  readonly pattern: string;
  readonly reason: string;
}

/** Reads conformance/out-of-scope.json. */
export function readOutOfScope(file = path.join(REPO_ROOT, 'conformance/out-of-scope.json')): OutOfScopeRule[] {
  return (JSON.parse(readFileSync(file, 'utf8')) as { cases: OutOfScopeRule[] }).cases;
}

/** A rule for cases whose outputs are random: the values every output element may take. */
export interface RandomOutputRule {
  readonly pattern: string;
  readonly reason: string;
  /** The values an element may take (Bernoulli: 0 and 1). */
  readonly values?: readonly number[];
  /** Or the range it lies in, inclusive. */
  readonly range?: readonly [number, number];
  /**
   * Or Dropout's rule: output 0 is input 0 scaled by 1 / (1 − ratio) where kept and 0
   * elsewhere, output 1 (if any) the mask of the kept elements; ratio is input 1
   * (default 0.5).
   */
  readonly dropout?: boolean;
}

/** What is wrong with a training-mode Dropout's outputs `got` for `feeds` (see RandomOutputRule.dropout), or undefined. */
function checkDropout(inputs: readonly Tensor[], got: readonly Tensor[]): string | undefined {
  const x = inputs[0]!;
  const r = inputs[1] ? Number(inputs[1].data[0]) : 0.5;
  const scale = 1 / (1 - r);
  const [y, mask] = got;
  for (let i = 0; i < x.size; i++) {
    const v = Number(y!.data[i]);
    const kept = mask ? mask.data[i] !== 0 : v !== 0;
    const want = kept ? Number(x.data[i]) * scale : 0;
    if (Math.abs(v - want) > 1e-6 * Math.max(1, Math.abs(want))) return `output[${i}] = ${v}, expected ${want} (${kept ? 'kept' : 'dropped'}, ratio ${r})`;
  }
  return undefined;
}

/** Reads conformance/random-outputs.json. */
export function readRandomOutputs(file = path.join(REPO_ROOT, 'conformance/random-outputs.json')): RandomOutputRule[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { cases: RandomOutputRule[] }).cases : [];
}

/**
 * Runs a random-output case (see the file comment): twice on the backend, checking
 * dtype, shape and the rule's values against the first data set. Returns what is
 * wrong, or undefined.
 */
async function checkRandomCase(dir: string, rule: RandomOutputRule, opts: RunnerOptions): Promise<string | undefined> {
  const m = loadModelDir(dir);
  const set = m.sets[0];
  if (!set) return 'no test_data_set_*';
  const { graph } = importForDataSet(m, set);
  const model = await opts.backend.compile(graph);
  try {
    const feeds: Record<string, Tensor> = {};
    m.inputNames.forEach((name, i) => {
      if (graph.inputs.some((g) => g.name === name)) feeds[name] = set.inputs[i]!.tensor;
    });
    const [a, b] = [await model.run(feeds), await model.run(feeds)];
    if (rule.dropout) {
      const bad = checkDropout(set.inputs.map((t) => t.tensor), graph.outputs.map((o) => a[o.name]!));
      if (bad) return bad;
    }
    for (const [k, o] of graph.outputs.entries()) {
      const want = set.outputs[k]!.tensor;
      const got = a[o.name]!;
      if (got.dtype !== want.dtype || got.shape.join(',') !== want.shape.join(',')) return `${o.name}: got ${got}, expected ${want}`;
      for (let i = 0; i < got.size; i++) {
        const v = Number(got.data[i]);
        const ok = rule.values ? rule.values.includes(v) : rule.range ? v >= rule.range[0] && v <= rule.range[1] : true;
        if (!ok) return `${o.name}[${i}] = ${v} is outside ${rule.values ? `{${rule.values.join(', ')}}` : `[${rule.range}]`}`;
        if (Number(b[o.name]!.data[i]) !== v) return `${o.name}[${i}] differs between two runs (${v}, ${Number(b[o.name]!.data[i])})`;
      }
    }
    return undefined;
  } finally {
    model.release();
  }
}

/** Every case directory of the selected suites, as `{ name, dir }`. */
export function listCases(suites: readonly Suite[], filter?: RegExp, root = testDataRoot()): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const s of suites) {
    const d = path.join(root, s);
    if (!existsSync(d)) continue;
    for (const t of readdirSync(d).sort()) {
      const name = `${s}/${t}`;
      if (filter && !filter.test(name)) continue;
      if (existsSync(path.join(d, t, 'model.onnx'))) out.push({ name, dir: path.join(d, t) });
    }
  }
  return out;
}

/** The op types a model uses (in node order, distinct), for filing the case. */
function modelOps(dir: string): string[] {
  try {
    const m = decodeModel(readFileSync(path.join(dir, 'model.onnx')));
    return [...new Set((m.graph?.node ?? []).map((n) => n.opType ?? ''))];
  } catch {
    return [];
  }
}

/** The op a case is filed under: its only op, else the longest op named in the test name, else its first op. */
export function primaryOp(testName: string, ops: readonly string[]): string {
  if (ops.length === 1) return ops[0]!;
  const key = testName.toLowerCase().replace(/_/g, '');
  const named = ops.filter((o) => key.includes(o.toLowerCase())).sort((a, b) => b.length - a.length);
  return named[0] ?? ops[0] ?? '(none)';
}

function fmtErr(x: number | undefined): string {
  return x === undefined ? '-' : Number.isFinite(x) ? x.toExponential(2) : String(x);
}

/** Runs one case (a random-output case by its rule, looked up by name unless given). Never throws: every error becomes a failed or unsupported result. */
export async function runCase(name: string, dir: string, opts: RunnerOptions, random: RandomOutputRule | undefined = readRandomOutputs().find((r) => new RegExp(r.pattern).test(name))): Promise<CaseResult> {
  const ops = modelOps(dir);
  const op = primaryOp(name.split('/').pop() ?? name, ops);
  const t0 = performance.now();
  try {
    if (random) {
      const bad = await checkRandomCase(dir, random, opts);
      const ms = performance.now() - t0;
      return bad ? { name, status: 'fail', detail: `random output: ${bad}`, op, ms } : { name, status: 'pass', detail: `random output: dtype, shape, values and determinism checked (${random.reason})`, op, ms };
    }
    const r = await checkModelDir(dir, { backend: opts.backend, maxElements: opts.maxElements ?? 2 ** 24, ...(opts.tolerance ? { tolerance: opts.tolerance } : {}) });
    const ms = performance.now() - t0;
    const maxAbsErr = Math.max(0, ...r.outputs.map((o) => o.maxAbsErr));
    const limit = opts.caseTimeMs ?? 20000;
    if (ms > limit) return { name, status: 'fail', detail: `took ${(ms / 1000).toFixed(1)} s, over the ${limit / 1000} s limit`, op, maxAbsErr, ms };
    const bad = r.outputs.filter((o) => !o.pass);
    if (bad.length === 0) return { name, status: 'pass', detail: `max abs err ${fmtErr(maxAbsErr)}`, op, maxAbsErr, ms };
    const detail = bad.map((o) => `${o.name}: max abs err ${fmtErr(o.maxAbsErr)}${o.detail ? ` (${o.detail})` : ''}`).join('; ');
    return { name, status: 'fail', detail, op, maxAbsErr, ms };
  } catch (e) {
    const ms = performance.now() - t0;
    if (e instanceof UnsupportedOpError) {
      const first = e.ops[0]?.op.replace(/ \(needs .*\)$/, '') ?? op;
      return { name, status: 'unsupported', detail: e.message, op: ops.includes(first) ? first : op, ms };
    }
    const msg = e instanceof KilnError ? `${e.name}: ${e.message}` : `internal error: ${(e as Error)?.message ?? String(e)}`;
    return { name, status: 'fail', detail: msg, op, ms };
  }
}

/** Runs every selected case and returns the report. */
export async function runConformance(opts: RunnerOptions): Promise<ConformanceReport> {
  const cases = listCases(opts.suites, opts.filter, opts.root);
  const rules = readOutOfScope().map((r) => ({ re: new RegExp(r.pattern), reason: r.reason }));
  const random = readRandomOutputs().map((r) => ({ re: new RegExp(r.pattern), rule: r }));
  const results: CaseResult[] = [];
  for (const [i, c] of cases.entries()) {
    const rule = rules.find((r) => r.re.test(c.name));
    const r: CaseResult = rule
      ? { name: c.name, status: 'unsupported', detail: `out of scope: ${rule.reason}`, op: primaryOp(c.name.split('/').pop()!, modelOps(c.dir)), outOfScope: true, ms: 0 }
      : await runCase(c.name, c.dir, opts, random.find((r) => r.re.test(c.name))?.rule);
    results.push(r);
    opts.onCase?.(r, i, cases.length);
  }
  const count = (s: CaseStatus): number => results.filter((r) => r.status === s).length;
  return {
    backend: opts.backend.name,
    total: results.length,
    passed: count('pass'),
    failed: count('fail'),
    unsupported: count('unsupported'),
    outOfScope: results.filter((r) => r.outOfScope).length,
    cases: results,
  };
}

/** Per-op rows of a report: counts and the worst failure. */
export interface OpRow {
  readonly op: string;
  readonly pass: number;
  readonly fail: number;
  readonly unsupported: number;
  /** Largest max-abs-error among failing cases. */
  readonly maxErr?: number;
  /** First failure or unsupported detail. */
  readonly example?: string;
}

/** Groups a report's cases by op. */
export function perOpTable(report: ConformanceReport): OpRow[] {
  const rows = new Map<string, { op: string; pass: number; fail: number; unsupported: number; maxErr?: number; example?: string }>();
  for (const c of report.cases) {
    const r = rows.get(c.op) ?? { op: c.op, pass: 0, fail: 0, unsupported: 0 };
    rows.set(c.op, r);
    if (c.status === 'pass') r.pass++;
    else if (c.status === 'fail') r.fail++;
    else r.unsupported++;
    if (c.status === 'fail' && c.maxAbsErr !== undefined) r.maxErr = Math.max(r.maxErr ?? 0, c.maxAbsErr);
    if (c.status !== 'pass' && r.example === undefined) r.example = `${c.name.split('/').pop()}: ${c.detail}`;
  }
  return [...rows.values()].sort((a, b) => a.op.localeCompare(b.op));
}

/** The per-op table and totals as text. */
export function formatReport(report: ConformanceReport, width = 110): string {
  const rows = perOpTable(report);
  const opW = Math.max(4, ...rows.map((r) => r.op.length));
  const lines = [`${'op'.padEnd(opW)}  pass  fail  unsup  max err   first problem`];
  for (const r of rows) {
    const head = `${r.op.padEnd(opW)}  ${String(r.pass).padStart(4)}  ${String(r.fail).padStart(4)}  ${String(r.unsupported).padStart(5)}  ${fmtErr(r.maxErr).padEnd(8)}  `;
    lines.push((head + (r.example ?? '')).slice(0, Math.max(width, head.length + 20)));
  }
  lines.push('');
  lines.push(`backend ${report.backend}: total ${report.total}, passed ${report.passed}, failed ${report.failed}, unsupported ${report.unsupported} (of which out of scope ${report.outOfScope})`);
  return lines.join('\n');
}
