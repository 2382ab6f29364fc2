/**
 * `npm run conformance -- --backend cpu|webgpu [-O 0|1|2] [--filter REGEX] [--json FILE]
 *  [--suite node|pytorch-converted|pytorch-operator|simple|all] [--data DIR|1.17] [--atol X] [--rtol Y] [--verbose]`
 *
 * Runs the ONNX backend tests (`--data DIR`, or `--data 1.17` for the ONNX 1.17
 * data that .ci/setup-system.sh extracts; default `$KILN_ONNX_TESTDATA`, else
 * /usr/share/libonnx-testdata/data: ONNX 1.12) and prints a per-op table and totals.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { InputError, KilnError } from '../src/graph/errors.js';
import { atLevel, loadBackend, BACKEND_NAMES } from '../src/session/backends.js';
import { formatReport, runConformance, SUITES, testDataRoot117, type Suite } from '../src/harness/conformance.js';

const program = new Command()
  .name('conformance')
  .description('Run the ONNX backend test suites on a Kiln backend')
  .addOption(new Option('--backend <name>', 'backend').choices(BACKEND_NAMES).default('cpu'))
  .addOption(new Option('--suite <name>', 'suite').choices([...SUITES, 'all']).default('node'))
  .addOption(new Option('-O, --level <n>', 'optimization level applied before compiling each case').choices(['0', '1', '2']).default('0'))
  .option('--filter <regex>', "only cases whose '<suite>/<name>' matches")
  .option('--data <dir>', "folder holding the suites, or '1.17' for the ONNX 1.17 data (default: $KILN_ONNX_TESTDATA, ONNX 1.12)")
  .option('--json <file>', 'write the report as JSON')
  .option('--atol <x>', 'absolute tolerance', parseFloat, 1e-4)
  .option('--rtol <x>', 'relative tolerance', parseFloat, 1e-3)
  .option('--verbose', 'print every case as it finishes');
program.parse(process.argv);
const o = program.opts<{ backend: string; level: string; suite: string; filter?: string; data?: string; json?: string; atol: number; rtol: number; verbose?: boolean }>();

function filterRegex(src: string): RegExp {
  try {
    return new RegExp(src);
  } catch (e) {
    throw new InputError(`--filter is not a valid regular expression: ${(e as Error).message}`);
  }
}

try {
  const backend = atLevel(await loadBackend(o.backend), Number(o.level) as 0 | 1 | 2);
  const suites: Suite[] = o.suite === 'all' ? [...SUITES] : [o.suite as Suite];
  const t0 = performance.now();
  const root = o.data === '1.17' ? testDataRoot117() : o.data;
  if (root !== undefined && !existsSync(root)) throw new InputError(`--data ${o.data}: no such folder (${root}); .ci/setup-system.sh fetches the 1.17 data`);
  const report = await runConformance({
    backend,
    suites,
    ...(root !== undefined ? { root } : {}),
    ...(o.filter ? { filter: filterRegex(o.filter) } : {}),
    tolerance: { atol: o.atol, rtol: o.rtol },
    onCase: (r, i, n) => {
      if (o.verbose) process.stdout.write(`[${i + 1}/${n}] ${r.status.padEnd(11)} ${r.name} (${r.ms.toFixed(0)} ms) ${r.status === 'pass' ? '' : r.detail}\n`);
    },
  });
  process.stdout.write(`${formatReport(report)}\n`);
  process.stdout.write(`time ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  if (o.json) writeFileSync(o.json, `${JSON.stringify(report, null, 1)}\n`);
} catch (e) {
  process.stderr.write(e instanceof KilnError ? `conformance: ${e.message}\n` : `conformance: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = e instanceof KilnError ? 2 : 4;
}
