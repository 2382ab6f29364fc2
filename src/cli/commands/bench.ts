/**
 * `kiln bench MODEL [--backend webgpu|cpu] [--runs N] [--warmup N]
 *  [--vs ort-webgpu,ort-wasm,ort-node,tfjs-webgpu] [--profile] [--json]`: runs Kiln and
 * its peers on one model (an .onnx file, a shared model's name, or a synthetic case:
 * matmul1024, mlp, convstack), each in a fresh process, and prints warm and cold
 * times, GPU bytes at peak, dispatches and pipelines per inference, output
 * differences and the ratios Kiln ÷ peer. The driver lives in bench/ (harness.ts).
 */
import { Command, Option } from 'commander';
import { InputError } from '../../graph/errors.js';
import { BACKEND_NAMES, type BackendName } from '../../session/backends.js';
import { EXIT } from '../exit-codes.js';
import { benchCase } from '../../../bench/harness.js';
import { markdownTable, profileTable } from '../../../bench/report.js';
import { RUNTIMES, type RuntimeName } from '../../../bench/runtimes.js';

/** Peers `--vs` accepts. */
export const PEERS: readonly RuntimeName[] = RUNTIMES.filter((r) => !r.startsWith('kiln-'));

interface BenchOpts { backend: Exclude<BackendName, 'wasm'>; runs: string; warmup: string; vs?: string; json?: boolean; profile?: boolean }

function count(v: string, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InputError(`bad ${flag} '${v}': expected an integer ≥ ${min}`, flag);
  return n;
}

/** Parses `--vs a,b,c` into peer names, rejecting unknown ones. */
export function parsePeers(v: string): RuntimeName[] {
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!PEERS.includes(n as RuntimeName)) throw new InputError(`unknown peer '${n}' in --vs: expected some of ${PEERS.join(', ')}`, '--vs');
  }
  return names as RuntimeName[];
}

/** Registers `kiln bench`. */
export function register(program: Command): void {
  program
    .command('bench')
    .description('benchmark a model against ONNX Runtime Web / Node and tfjs (each runtime in a fresh process)')
    .argument('<model>', '.onnx file, shared model name, or synthetic case (matmul1024, mlp, convstack)')
    .addOption(new Option('--backend <name>', 'Kiln backend (the wasm backend is benchmarked by bench/wasm.ts)').choices(BACKEND_NAMES.filter((b) => b !== 'wasm')).default('webgpu'))
    .option('--runs <n>', 'timed runs after warm-up', '20')
    .option('--warmup <n>', 'untimed runs after the first', '3')
    .option('--vs <peers>', `comma-separated peers (${PEERS.join(', ')}); default ort-webgpu,ort-node (+ tfjs-webgpu for synthetic cases)`)
    .option('--profile', 'also print Kiln\'s per-kernel GPU times (timestamp queries)')
    .option('--json', 'print the result as JSON ({ model, kiln, peers, ratios })')
    .addHelpText('after', '\nExamples:\n  kiln bench resnet18 --vs ort-webgpu\n  kiln bench matmul1024 --runs 20 --json\n')
    .action(async (model: string, o: BenchOpts) => {
      const runs = count(o.runs, '--runs', 1);
      const warmup = count(o.warmup, '--warmup', 0);
      const vs = o.vs !== undefined ? parsePeers(o.vs) : undefined;
      const r = await benchCase(model, {
        backend: o.backend, runs, warmup, profile: Boolean(o.profile),
        ...(vs ? { vs } : {}),
        log: (line) => process.stderr.write(`${line}\n`),
      }).catch((e: Error) => {
        if (/^unknown model/.test(e.message)) throw new InputError(e.message, model);
        throw e;
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        process.stdout.write(`${markdownTable([r])}\n`);
        if (r.kiln.profile) process.stdout.write(`\nKiln kernel profile (${r.model}):\n\n${profileTable(r.kiln.profile)}\n`);
      }
      if (r.kiln.error) process.exitCode = EXIT.failed;
    });
}
