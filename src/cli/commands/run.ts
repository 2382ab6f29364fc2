/**
 * `kiln run MODEL [--input name=FILE ...] [--random] [--dim name=N ...] [--backend webgpu|cpu]
 *  [-O level] [--profile] [--runs N] [--output-dir DIR] [--find-nonfinite]`: loads a model (.onnx or Kiln
 * .json), optimizes it, compiles it for a backend and runs it; prints each output
 * summarized (dtype, shape, first values, min/max/mean) and the timings, and with
 * `--output-dir` writes `output_N.pb`; `--find-nonfinite` names the first node that
 * turns finite inputs into ±Infinity or NaN (CPU reference, float16 rounded). WebGPU falls back to the CPU with a one-line
 * notice when there is no adapter, except under CI where that is an error.
 */
import { Command, Option } from 'commander';
import { GpuUnavailableError } from '../../backends/webgpu/device.js';
import { InputError, KilnError, UnsupportedOpError } from '../../graph/errors.js';
import type { Graph } from '../../graph/graph.js';
import { formatShape } from '../../graph/shape.js';
import type { Tensor } from '../../graph/tensor.js';
import { BACKEND_NAMES, compileOn, type BackendName } from '../../session/backends.js';
import type { ProfileRow } from '../../viz/viewer/types.js';
import { EXIT } from '../exit-codes.js';
import { firstNonFinite, type NonFinite } from '../../passes/mixed-precision.js';
import { loadModel, optimizeModel, parseDims, parseLevel, randomFeeds, readInputSpec, summarize, writeOutputs } from '../io.js';
import { startTask, step } from '../progress.js';

/** No WebGPU adapter where one is required (CI). Exit code 4. */
export class NoAdapterError extends KilnError {
  constructor(message: string) { super('NO_ADAPTER', message); }
}

/** A graph compiled for a backend, as `run` uses it. */
export interface Runner {
  readonly backend: BackendName;
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Per-kernel times of the last run (when compiled with profiling). */
  profile(): ProfileRow[];
  release(): void;
}

/** True when CI is set (a missing adapter is then an error, not a fallback). */
function inCi(): boolean {
  const ci = process.env.CI;
  return Boolean(ci) && ci !== 'false' && ci !== '0';
}

/**
 * Compiles `g` for `backend`. For webgpu without an adapter: a notice and the CPU
 * ('auto' with no fallback for missing kernels), or a NoAdapterError under CI.
 */
export async function compileFor(g: Graph, backend: BackendName, profile: boolean): Promise<Runner> {
  const strict = backend === 'webgpu' && inCi();
  try {
    const { backend: used, model } = await compileOn(g, backend === 'webgpu' && !strict ? 'auto' : backend, {
      profile,
      fallbackOnUnsupported: false,
      onNotice: (m) => process.stderr.write(`${m}\n`),
    });
    return {
      backend: used,
      run: (feeds) => model.run(feeds),
      profile: () => (model.profile?.() ?? []).map((e) => ({ kernel: e.node, op: e.op, ms: e.ms })),
      release: () => model.release(),
    };
  } catch (e) {
    if (strict && e instanceof GpuUnavailableError) throw new NoAdapterError(`--backend webgpu: ${e.message} (CI is set, so Kiln does not fall back to the CPU)`);
    if (backend === 'webgpu' && e instanceof UnsupportedOpError) throw new UnsupportedOpError(e.ops, 'no WebGPU kernel; --backend cpu runs every op');
    throw e;
  }
}

/** Builds the feeds from `--input` specs, filling the rest randomly with `--random`. */
export async function buildFeeds(g: Graph, specs: readonly string[], random: boolean, dimSpecs: readonly string[], seed = 1): Promise<Record<string, Tensor>> {
  const feeds: Record<string, Tensor> = {};
  for (const s of specs) {
    const [name, t] = await readInputSpec(s, g);
    feeds[name] = t;
  }
  const missing = g.inputs.filter((i) => !(i.name in feeds) && !g.initializers.has(i.name));
  if (missing.length && !random) {
    const list = missing.map((i) => `'${i.name}' (${i.dtype}${formatShape(i.shape)})`).join(', ');
    throw new InputError(`no value for input${missing.length > 1 ? 's' : ''} ${list}: pass --input NAME=FILE or --random`, missing[0]!.name);
  }
  if (missing.length) {
    const dims = parseDims(dimSpecs);
    for (const [k, v] of Object.entries(feeds)) {
      const info = g.inputs.find((i) => i.name === k)!;
      info.shape.forEach((d, a) => { if (typeof d === 'string' && !dims.has(d) && v.shape[a] !== undefined) dims.set(d, v.shape[a]!); });
    }
    const sub = g.with({ inputs: missing });
    Object.assign(feeds, randomFeeds(sub, dims, seed));
  }
  return feeds;
}

/** Formats a profile as the top `n` kernels by time. */
export function profileTable(rows: readonly ProfileRow[], n = 15): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const sorted = [...rows].sort((a, b) => b.ms - a.ms).slice(0, n);
  const w = Math.min(48, Math.max(6, ...sorted.map((r) => r.kernel.length)));
  const lines = [`profile: ${rows.length} kernels, ${total.toFixed(3)} ms`, `  ${'kernel'.padEnd(w)}  ${'op'.padEnd(10)}  ${'ms'.padStart(9)}  %`];
  for (const r of sorted) {
    lines.push(`  ${r.kernel.slice(0, w).padEnd(w)}  ${r.op.slice(0, 10).padEnd(10)}  ${r.ms.toFixed(3).padStart(9)}  ${total ? ((100 * r.ms) / total).toFixed(1) : '0'}`);
  }
  return lines.join('\n');
}

/** The `--find-nonfinite` line. */
export function nonFiniteText(f: NonFinite | undefined): string {
  if (!f) return 'non-finite: none (every value is finite, or non-finite values only come from the inputs)';
  return `non-finite: first at node '${f.node}' (${f.op}): output '${f.output}' has ${f.count} of ${f.size} values ±Infinity or NaN from finite inputs (largest |input| ${f.inputMaxAbs.toPrecision(4)})`;
}

interface RunOpts {
  input: string[]; random?: boolean; dim: string[]; backend: BackendName; O: string;
  profile?: boolean; outputDir?: string; runs: string; seed: string; findNonfinite?: boolean;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`bad ${flag} '${v}': expected a positive integer`, flag);
  return n;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Registers `kiln run`. */
export function register(program: Command): void {
  program
    .command('run')
    .description('run a model (.onnx or Kiln .json) and print its outputs and timings')
    .argument('<model>', 'model file (.onnx, or .json in Kiln\'s format)')
    .option('--input <name=file>', 'an input from a .pb (TensorProto), .npy or .json file (repeatable)', collect, [])
    .option('--random', 'random values for inputs not given with --input (from the declared shapes)')
    .option('--dim <name=value>', 'size of a symbolic dim for --random (repeatable)', collect, [])
    .addOption(new Option('--backend <name>', 'backend').choices(BACKEND_NAMES).default('webgpu'))
    .option('-O <level>', 'optimization level 0, 1 or 2', '2')
    .option('--profile', 'print per-kernel times')
    .option('--runs <n>', 'timed runs after the first (for benchmarking)', '0')
    .option('--seed <n>', 'seed for --random', '1')
    .option('--output-dir <dir>', 'write output_N.pb files here')
    .option('--find-nonfinite', 'also run the CPU reference node by node and name the first node that turns finite inputs into Infinity or NaN')
    .addHelpText('after', '\nExamples:\n  kiln run model.onnx --random --dim batch=1\n  kiln run model.onnx --input input=test_data_set_0/input_0.pb --output-dir out\n')
    .action(async (model: string, o: RunOpts) => {
      const level = parseLevel(o.O);
      const runs = o.runs === '0' ? 0 : positiveInt(o.runs, '--runs');
      const raw = await step(`loading ${model}`, () => loadModel(model), (g) => `${g.nodes.length} nodes`);
      const feeds = await buildFeeds(raw, o.input, Boolean(o.random), o.dim, positiveInt(o.seed, '--seed'));
      const opt = await step(`optimizing -O${level}`, () => optimizeModel(raw, level), (r) => `${raw.nodes.length} → ${r.graph.nodes.length} nodes`);
      const t0 = performance.now();
      let runner: Runner;
      try {
        runner = await step(`compiling for ${o.backend}`, () => compileFor(opt.graph, o.backend, Boolean(o.profile)), (r) => r.backend);
      } catch (e) {
        if (!(e instanceof NoAdapterError)) throw e;
        process.stderr.write(`kiln: ${e.name}: ${e.message}\n`);
        process.exitCode = EXIT.internal;
        return;
      }
      const compileMs = performance.now() - t0;
      try {
        const t1 = performance.now();
        const outs = await runner.run(feeds);
        const firstMs = performance.now() - t1;
        const times: number[] = [];
        if (runs > 0) {
          const bar = startTask('benchmarking', runs);
          for (let i = 0; i < runs; i++) {
            const t = performance.now();
            await runner.run(feeds);
            times.push(performance.now() - t);
            bar.tick();
          }
          times.sort((a, b) => a - b);
          bar.done(`median ${times[times.length >> 1]!.toFixed(3)} ms`);
        }
        const list = opt.graph.outputs.map((out) => [out.name, outs[out.name]!] as [string, Tensor]);
        const lines = [`model: ${model} (${raw.nodes.length} nodes, ${opt.graph.nodes.length} after -O${level}) on ${runner.backend}`];
        for (const [name, t] of list) lines.push(`output ${name}: ${summarize(t)}`);
        lines.push(`time: compile ${compileMs.toFixed(1)} ms, first run ${firstMs.toFixed(3)} ms` +
          (times.length ? `, ${times.length} runs: min ${times[0]!.toFixed(3)} ms median ${times[times.length >> 1]!.toFixed(3)} ms` : ''));
        if (o.profile) lines.push(profileTable(runner.profile()));
        if (o.findNonfinite) lines.push(nonFiniteText(firstNonFinite(opt.graph, new Map(Object.entries(feeds)))));
        process.stdout.write(`${lines.join('\n')}\n`);
        if (o.outputDir) {
          const files = await writeOutputs(o.outputDir, list);
          process.stdout.write(`wrote ${files.join(', ')}\n`);
        }
      } finally {
        runner.release();
      }
    });
}
