/**
 * `kiln inspect MODEL [-O 0|1|2] [--json] [--dim name=size ...]`: what the compiler
 * makes of a model — inputs and outputs, node count before and after optimization,
 * op histogram, parameter count, estimated FLOPs, dispatches per inference (and the
 * WebGPU kernel variants they run), and the total and peak intermediate bytes under
 * the memory plan. `--fp16 [--calibration DIR]` applies the mixed-precision pass as
 * `kiln optimize --fp16` does, and `--precision` lists every float value with the
 * precision it runs in and why (the pass's calibrated range against its limit, or
 * the rule that keeps it float32); without --fp16 each value keeps the model's dtype.
 */
import type { Command } from 'commander';
import { importModelFile } from '../../../onnx/import.js';
import { InputError } from '../../graph/errors.js';
import type { Graph, ValueInfo } from '../../graph/graph.js';
import { formatShape } from '../../graph/shape.js';
import { optimize } from '../../passes/pipelines.js';
import { planForGraph } from '../io.js';
import { hasControlFlow } from '../../backends/webgpu/control.js';
import { graphFlops, opHistogram, parameterCount } from '../../passes/stats.js';
import type { OptLevel } from '../../passes/pass-manager.js';
import { KilnError } from '../../graph/errors.js';
import type { Tensor } from '../../graph/tensor.js';
import { F16_MAX, mixedPrecisionPass, type MixedPrecisionReport, type ValuePrecision } from '../../passes/mixed-precision.js';
import { calibrationBatches } from './optimize.js';


/** The inspect report (also the `--json` output). */
export interface InspectReport {
  readonly model: string;
  readonly level: OptLevel;
  readonly inputs: { name: string; dtype: string; shape: (number | string)[] }[];
  readonly outputs: { name: string; dtype: string; shape: (number | string)[] }[];
  readonly nodesBefore: number;
  readonly nodes: number;
  /** Dispatches per inference of the WebGPU plan (or per node, when it cannot be planned). */
  readonly dispatches: number;
  /** True when `dispatches` comes from the WebGPU planner. */
  readonly webgpuPlanned: boolean;
  /** Why the graph has no single WebGPU plan (control flow, data-dependent shapes, ...), when it has none. */
  readonly webgpuWhy?: string | undefined;
  /** WebGPU dispatches per kernel variant (label: op, form, tile, epilogue), when planned. */
  readonly kernels: Record<string, number>;
  /** Scheduled nodes that dispatch (not folded, aliased, written into or shape-only). */
  readonly kernelNodes: number;
  /** The backend whose execution plan the figures come from ('WebGPU', else 'cpu'). */
  readonly planTarget: string;
  readonly ops: Record<string, number>;
  readonly parameters: number;
  readonly flops: number;
  /** Bytes of all node outputs, one buffer per value. */
  readonly totalIntermediateBytes: number;
  /** Bytes of the reused buffers the plan allocates (intermediates and inputs). */
  readonly peakIntermediateBytes: number;
  /** Bytes of every buffer the plan allocates (weights and other constants too). */
  readonly peakBytes: number;
  readonly buffers: number;
  readonly optimizeMs: number;
  /** Symbolic dims not given with --dim, taken as 1 for sizes and FLOPs. */
  readonly assumedDims: string[];
  /** Per float value: the precision it runs in and why (with --fp16 or --precision). */
  readonly precision?: PrecisionSummary | undefined;
}

/** Precision of the float values (inspect --precision / --fp16). */
export interface PrecisionSummary {
  /** True when the mixed-precision pass ran (--fp16). */
  readonly converted: boolean;
  /** Values per precision. */
  readonly counts: Readonly<Record<string, number>>;
  /** Every float graph input and node output of the model, in topological order. */
  readonly values: readonly ValuePrecision[];
}

/** Options of {@link inspectGraph} beyond the level and dims. */
export interface InspectOptions {
  /** Run the mixed-precision pass calibrated on these batches (feeds by input name). */
  readonly fp16?: { readonly batches: readonly ReadonlyMap<string, Tensor>[]; readonly limit?: number | undefined } | undefined;
  /** Report the precision of every float value even without fp16. */
  readonly precision?: boolean;
}

/** Precision of each float value as the model gives it (no conversion). */
function modelPrecision(g: Graph): ValuePrecision[] {
  const float = (d: string): d is 'float16' | 'float32' => d === 'float16' || d === 'float32';
  const out: ValuePrecision[] = [];
  for (const i of g.inputs) if (float(i.dtype) && !g.initializers.has(i.name)) out.push({ value: i.name, precision: i.dtype, node: '', op: '', why: 'graph input, as the model declares it' });
  for (const n of g.topo) {
    for (const o of n.outputs) {
      const t = o ? g.findType(o) : undefined;
      if (t && float(t.dtype)) out.push({ value: o, precision: t.dtype, node: n.name, op: n.op, why: `the model's dtype (no --fp16 conversion)` });
    }
  }
  return out;
}

function summarize(values: readonly ValuePrecision[], converted: boolean): PrecisionSummary {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v.precision] = (counts[v.precision] ?? 0) + 1;
  return { converted, counts, values };
}

const port = (v: ValueInfo) => ({ name: v.name, dtype: v.dtype, shape: [...v.shape] });

/** Builds the inspect report of a graph. */
export function inspectGraph(g: Graph, model: string, level: OptLevel, given: Record<string, number> = {}, opts: InspectOptions = {}): InspectReport {
  let mp: MixedPrecisionReport | undefined;
  const extra = opts.fp16
    ? { precision: mixedPrecisionPass(opts.fp16.batches, { ...(opts.fp16.limit !== undefined ? { limit: opts.fp16.limit } : {}), onReport: (r) => { mp = r; } }) }
    : {};
  const { graph, report } = optimize(g, { level }, extra);
  const precision = mp ? summarize(mp.values, true) : opts.precision ? summarize(modelPrecision(g), false) : undefined;
  const dims = { ...given };
  const assumed: string[] = [];
  const types = [...graph.inputs, ...graph.outputs, ...graph.valueTypes.values()];
  for (const t of types) for (const d of t.shape) if (typeof d === 'string' && dims[d] === undefined) { dims[d] = 1; assumed.push(d); }
  const gpu = planForGraph(graph, dims);
  const plan = gpu.plan;
  return {
    model,
    level,
    inputs: graph.inputs.map(port),
    outputs: graph.outputs.map(port),
    nodesBefore: g.nodes.length,
    nodes: graph.nodes.length,
    dispatches: plan.dispatchCount,
    webgpuPlanned: gpu.planned,
    ...(gpu.planned ? {} : { webgpuWhy: hasControlFlow(graph) ? 'control flow or data-dependent shapes run as a schedule of plans made per shape at run time' : gpu.why }),
    kernels: gpu.kernels,
    kernelNodes: plan.steps.filter((s) => s.dispatches > 0).length,
    planTarget: plan.target,
    ops: Object.fromEntries(opHistogram(graph)),
    parameters: parameterCount(graph),
    flops: graphFlops(graph, dims),
    totalIntermediateBytes: plan.totalBytes,
    peakIntermediateBytes: plan.intermediateBytes,
    peakBytes: plan.peakBytes,
    buffers: plan.buffers.length,
    optimizeMs: Math.round(report.totalMs),
    assumedDims: assumed,
    ...(precision ? { precision } : {}),
  };
}

function parseDims(list: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) {
    const m = /^([^=]+)=(\d+)$/.exec(s);
    if (!m) throw new InputError(`--dim '${s}': expected name=size, e.g. batch=1`, s);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;

function printText(r: InspectReport, list: boolean): void {
  const w = (s: string) => process.stdout.write(`${s}\n`);
  w(`model: ${r.model}  (O${r.level})`);
  for (const i of r.inputs) w(`  input  ${i.name}: ${i.dtype}${formatShape(i.shape)}`);
  for (const o of r.outputs) w(`  output ${o.name}: ${o.dtype}${formatShape(o.shape)}`);
  w(`nodes: ${r.nodesBefore} → ${r.nodes}   kernel nodes: ${r.kernelNodes}   ${r.planTarget} dispatches per inference: ${r.dispatches}${r.webgpuPlanned ? '' : ` (no single WebGPU plan: ${r.webgpuWhy ?? 'unknown'}; figures of the CPU plan)`}`);
  w(`parameters: ${r.parameters.toLocaleString('en-US')}   estimated FLOPs: ${r.flops.toLocaleString('en-US')}`);
  w(`intermediate memory: total ${mb(r.totalIntermediateBytes)}, reused buffers ${mb(r.peakIntermediateBytes)}` +
    `${r.totalIntermediateBytes > 0 && r.peakIntermediateBytes <= r.totalIntermediateBytes ? ` (${((100 * r.peakIntermediateBytes) / r.totalIntermediateBytes).toFixed(1)} %)` : ''}; all buffers ${mb(r.peakBytes)} in ${r.buffers}`);
  if (r.assumedDims.length) w(`note: symbolic dims taken as 1 (give --dim name=size): ${r.assumedDims.join(', ')}`);
  w('ops:');
  for (const [op, n] of Object.entries(r.ops)) w(`  ${String(n).padStart(5)}  ${op}`);
  if (Object.keys(r.kernels).length) {
    w('WebGPU kernels (dispatches per inference):');
    for (const [k, n] of Object.entries(r.kernels).sort((a, b) => b[1] - a[1])) w(`  ${String(n).padStart(5)}  ${k}`);
  }
  const p = r.precision;
  if (p) {
    w(`precision${p.converted ? ' (mixed-precision pass)' : ' (as in the model)'}: ${Object.entries(p.counts).map(([k, n]) => `${n} values ${k}`).join(', ')}`);
    if (list) {
      const width = Math.min(48, Math.max(5, ...p.values.map((v) => v.value.length)));
      for (const v of p.values) w(`  ${v.precision === 'float16' ? 'f16' : 'f32'}  ${v.value.padEnd(width)}  ${v.op ? `${v.op}: ` : ''}${v.why}`);
    } else {
      w('  (--precision lists each value and why)');
    }
  }
}

/** Registers `kiln inspect`. */
export function register(program: Command): void {
  program
    .command('inspect')
    .description('show what the optimizer makes of a model: nodes, dispatches, FLOPs, memory plan')
    .argument('<model>', 'ONNX model file')
    .option('-O, --opt-level <level>', 'optimization level 0, 1 or 2', '2')
    .option('--json', 'print the report as JSON')
    .option('--dim <name=size...>', 'size of a symbolic dim (repeatable)', [])
    .option('--fp16', 'apply the mixed-precision pass (as kiln optimize --fp16) before inspecting')
    .option('--calibration <dir>', 'with --fp16: test_data_set_*/input_*.pb to calibrate on (default: seeded random inputs)')
    .option('--calibration-batches <n>', 'with --fp16 and no --calibration: number of seeded random batches', '4')
    .option('--fp16-limit <x>', `with --fp16: largest |value| seen that may be stored in float16 (default ${F16_MAX / 8})`)
    .option('--precision', 'list every float value with the precision it runs in and why')
    .action((model: string, opts: { optLevel: string; json?: boolean; dim: string[]; fp16?: boolean; calibration?: string; calibrationBatches: string; fp16Limit?: string; precision?: boolean }) => {
      const level = Number(opts.optLevel);
      if (level !== 0 && level !== 1 && level !== 2) throw new InputError(`-O ${opts.optLevel}: the level must be 0, 1 or 2`);
      const dims = parseDims(opts.dim);
      if (!opts.fp16 && (opts.calibration !== undefined || opts.fp16Limit !== undefined)) throw new InputError('--calibration and --fp16-limit need --fp16');
      const count = Number(opts.calibrationBatches);
      if (!Number.isInteger(count) || count < 1) throw new InputError(`--calibration-batches must be a positive integer, got '${opts.calibrationBatches}'`);
      const limit = opts.fp16Limit === undefined ? undefined : Number(opts.fp16Limit);
      if (limit !== undefined && !(limit > 0 && limit <= F16_MAX)) throw new InputError(`--fp16-limit must be in (0, ${F16_MAX}], got '${opts.fp16Limit}'`);
      const g = importModelFile(model);
      const fp16 = opts.fp16 ? { batches: calibrationBatches(g, opts.calibration, count, new Map(Object.entries(dims))), limit } : undefined;
      const r = inspectGraph(g, model, level, dims, { fp16, precision: !!opts.precision });
      if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else printText(r, !!opts.precision);
    });
}
