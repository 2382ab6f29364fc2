/**
 * `kiln inspect MODEL [-O 0|1|2] [--json] [--dim name=size ...]`: what the compiler
 * makes of a model — inputs and outputs, node count before and after optimization,
 * op histogram, parameter count, estimated FLOPs, dispatches per inference (and the
 * WebGPU kernel variants they run), and the total and peak intermediate bytes under
 * the memory plan.
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
}

const port = (v: ValueInfo) => ({ name: v.name, dtype: v.dtype, shape: [...v.shape] });

/** Builds the inspect report of a graph. */
export function inspectGraph(g: Graph, model: string, level: OptLevel, given: Record<string, number> = {}): InspectReport {
  const { graph, report } = optimize(g, { level });
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

function printText(r: InspectReport): void {
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
    .action((model: string, opts: { optLevel: string; json?: boolean; dim: string[] }) => {
      const level = Number(opts.optLevel);
      if (level !== 0 && level !== 1 && level !== 2) throw new InputError(`-O ${opts.optLevel}: the level must be 0, 1 or 2`);
      const dims = parseDims(opts.dim);
      const r = inspectGraph(importModelFile(model), model, level, dims);
      if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else printText(r);
    });
}
