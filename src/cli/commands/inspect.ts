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
import { gpuElementBytes, planMemory } from '../../passes/memory-plan.js';
import { countDispatches, graphFlops, opHistogram, parameterCount } from '../../passes/stats.js';
import type { OptLevel } from '../../passes/pass-manager.js';
import { KilnError } from '../../graph/errors.js';
import type { ValueType } from '../../graph/op.js';
import { registerAllKernels } from '../../backends/webgpu/kernels/index.js';
import { planGraph } from '../../backends/webgpu/plan.js';
import { DEFAULT_KERNEL_LIMITS } from '../../backends/webgpu/kernel.js';


/**
 * Dispatches per inference as the WebGPU backend plans them (its planner is data only,
 * so no device is needed), under WebGPU's default limits. Falls back to one per
 * non-folded node when the graph cannot be planned for WebGPU (`webgpuPlanned` false).
 */
function webgpuDispatches(graph: Graph, dims: Readonly<Record<string, number>>): { count: number; planned: boolean; kernels: Record<string, number> } {
  registerAllKernels();
  const types = new Map<string, ValueType>(
    graph.inputs.map((i) => [i.name, { dtype: i.dtype, shape: i.shape.map((d) => (typeof d === 'number' ? d : dims[d] ?? 1)) }]),
  );
  try {
    const plan = planGraph(graph, types, { limits: DEFAULT_KERNEL_LIMITS, f16: false, subgroups: false, maxBufferSize: 2 ** 31 });
    const kernels: Record<string, number> = {};
    for (const d of plan.dispatches) kernels[d.label] = (kernels[d.label] ?? 0) + 1;
    return { count: plan.dispatches.length, planned: true, kernels };
  } catch (e) {
    if (!(e instanceof KilnError)) throw e;
    return { count: countDispatches(graph), planned: false, kernels: {} };
  }
}

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
  /** WebGPU dispatches per kernel variant (label: op, form, tile, epilogue), when planned. */
  readonly kernels: Record<string, number>;
  /** Nodes that run a kernel after optimization (not folded, aliased or shape-only). */
  readonly kernelNodes: number;
  readonly ops: Record<string, number>;
  readonly parameters: number;
  readonly flops: number;
  readonly totalIntermediateBytes: number;
  readonly peakIntermediateBytes: number;
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
  const plan = planMemory(graph, { elementBytes: gpuElementBytes(), dims });
  const gpu = webgpuDispatches(graph, dims);
  return {
    model,
    level,
    inputs: graph.inputs.map(port),
    outputs: graph.outputs.map(port),
    nodesBefore: g.nodes.length,
    nodes: graph.nodes.length,
    dispatches: gpu.count,
    webgpuPlanned: gpu.planned,
    kernels: gpu.kernels,
    kernelNodes: countDispatches(graph),
    ops: Object.fromEntries(opHistogram(graph)),
    parameters: parameterCount(graph),
    flops: graphFlops(graph, dims),
    totalIntermediateBytes: plan.totalBytes,
    peakIntermediateBytes: plan.peakBytes,
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
  w(`nodes: ${r.nodesBefore} → ${r.nodes}   kernel nodes: ${r.kernelNodes}   WebGPU dispatches per inference: ${r.dispatches}${r.webgpuPlanned ? '' : ' (not plannable for WebGPU: counted per node)'}`);
  w(`parameters: ${r.parameters.toLocaleString('en-US')}   estimated FLOPs: ${r.flops.toLocaleString('en-US')}`);
  w(`intermediate memory: total ${mb(r.totalIntermediateBytes)}, peak ${mb(r.peakIntermediateBytes)} in ${r.buffers} buffers` +
    ` (${r.totalIntermediateBytes ? ((100 * r.peakIntermediateBytes) / r.totalIntermediateBytes).toFixed(1) : '0'} %)`);
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
