/**
 * `kiln check DIR [--backend cpu|webgpu] [--atol 1e-4] [--rtol 1e-3] [--json]`:
 * runs `DIR/model.onnx` on every `DIR/test_data_set_*` (the ONNX backend-test
 * layout) and compares each output with `output_*.pb`. Prints per output the max
 * absolute and relative error and PASS/FAIL; exits 1 if any output fails. Typed
 * errors (unknown ops, bad files, shape mismatches) reach main.ts, which prints the
 * message and the documented exit code.
 */
import { Command, Option } from 'commander';
import { BACKEND_NAMES, loadBackend } from '../../session/backends.js';
import { checkModelDir, type ModelCheck } from '../../harness/model-test.js';
import { InputError } from '../../graph/errors.js';
import { EXIT } from '../exit-codes.js';

/** The `--json` output. */
export interface CheckJson {
  readonly pass: boolean;
  readonly outputs: { name: string; maxAbsErr: number | null; maxRelErr: number | null; pass: boolean }[];
}

/** JSON form of a check (infinite errors, from shape or dtype mismatches, become null). */
export function checkJson(r: ModelCheck): CheckJson {
  const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
  return { pass: r.pass, outputs: r.outputs.map((o) => ({ name: o.name, maxAbsErr: num(o.maxAbsErr), maxRelErr: num(o.maxRelErr), pass: o.pass })) };
}

/** Text form of a check: one line per output, then the verdict. */
export function checkText(r: ModelCheck): string {
  const w = Math.max(6, ...r.outputs.map((o) => o.name.length));
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toExponential(3) : String(x));
  const lines = [`${'output'.padEnd(w)}  ${'max abs err'.padStart(11)}  ${'max rel err'.padStart(11)}  result`];
  for (const o of r.outputs) {
    lines.push(`${o.name.padEnd(w)}  ${fmt(o.maxAbsErr).padStart(11)}  ${fmt(o.maxRelErr).padStart(11)}  ${o.pass ? 'PASS' : 'FAIL'}${o.detail ? `  (${o.detail})` : ''}`);
  }
  lines.push(r.pass ? 'PASS' : 'FAIL');
  return lines.join('\n');
}

function tolerance(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new InputError(`--${name} must be a non-negative number, got '${v}'`);
    return x;
  };
}

/** Registers `kiln check`. */
export function register(program: Command): void {
  program
    .command('check')
    .description('run DIR/model.onnx on DIR/test_data_set_*/input_*.pb and compare with output_*.pb')
    .argument('<dir>', 'model directory in the ONNX backend-test layout')
    .addOption(new Option('--backend <name>', 'backend').choices(BACKEND_NAMES).default('cpu'))
    .option('--atol <x>', 'absolute tolerance', tolerance('atol'), 1e-4)
    .option('--rtol <x>', 'relative tolerance', tolerance('rtol'), 1e-3)
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: { backend: string; atol: number; rtol: number; json?: boolean }) => {
      const backend = await loadBackend(o.backend);
      const r = await checkModelDir(dir, { backend, tolerance: { atol: o.atol, rtol: o.rtol } });
      process.stdout.write(`${o.json ? JSON.stringify(checkJson(r)) : checkText(r)}\n`);
      if (!r.pass) process.exitCode = EXIT.failed;
    });
}
