/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend: `compileWebGpu(graph)` → a {@link WebGpuProgram}.
 *
 * - Every op runs as WGSL (kernels/); an op without a kernel is an
 *   UnsupportedOpError at compile time listing every such op — there is no CPU
 *   fallback at run time.
 * - Shape-only work (Shape, Size, shape arithmetic, small ConstantOfShape) is folded
 *   at compile time and never dispatches.
 * - int64 is narrowed to i32 on the GPU with a range check at upload (LimitError
 *   naming the input); bool is u32; float16 is f16 with `shader-f16`, else f32.
 * - Control flow (If, Loop, Scan): the graph runs as a schedule of plans, host steps
 *   and control steps, values staying on the GPU between them (control.ts).
 * - Symbolic dims: each new set of input shapes is planned once and cached.
 * - Shapes that depend on the values of small feeds (a Range or Reshape fed from an
 *   input) are planned per value set (program.ts).
 * - Device loss: after `device.lost` resolves, run() rejects with DeviceLostError;
 *   compile again (the default device is re-requested after loss).
 *
 * - Data-dependent output shapes (NonZero, Unique, NonMaxSuppression, Compress on a
 *   computed condition): the schedule splits there, the op's inputs are read back
 *   and it runs on the host (control.ts).
 * - A MatMul/Gemm weight larger than one storage binding is split into column
 *   blocks that fit, a Gather table into row blocks (legalize.ts); a value larger
 *   than one binding (up to maxBufferSize) lives in one buffer that its nodes bind
 *   in chunks of rows (chunk.ts), or a LimitError names the node that cannot.
 * - Out-of-range gather/scatter indices are clamped on the GPU (the CPU raises).
 * - Sequence and optional values (ONNX sequence(tensor), optional(T)) live on the
 *   host: their ops (and Identity, If and Loop carrying them) run there as control
 *   steps (control.ts); another op given one (Scan) is reported by name.
 */
import { UnsupportedOpError } from '../../graph/errors.js';
import type { Graph } from '../../graph/graph.js';
import { opOf } from '../../graph/infer.js';
import { verify } from '../../graph/verify.js';
import '../../graph/ops/index.js';
import { requestDevice } from './device.js';
import { kernelOf, type KernelOptions } from './kernel.js';
import { registerAllKernels } from './kernels/index.js';
import { DataDependentShapeError, foldGraph } from './plan.js';
import { WebGpuProgram } from './program.js';
import { splitWideWeights } from './legalize.js';
import { ControlProgram, constantsOf, flattenBody, hasControlFlow, touchesStrings, WEBGPU_HOST_KERNEL, WEBGPU_HOST_VALUES, type ControlRuntime } from './control.js';
import { getTrait } from '../../graph/op.js';
import { bodiesOf, HOLDS_BODIES } from '../../graph/ops/control.js';
import { isTensorType } from '../../graph/value.js';

export { WebGpuProgram, type RunOptions, type WebGpuProfileEntry, type Feed } from './program.js';
export { GpuTensor } from './gpu-tensor.js';
export type { KernelOptions } from './kernel.js';
export type { ControlStats } from './control.js';

/** Options of {@link compileWebGpu}. */
export interface CompileWebGpuOptions {
  /** The device to use (default: {@link defaultDevice}, one device shared by all programs). */
  readonly device?: GPUDevice;
  /** Collect per-dispatch GPU times (needs timestamp-query) into `lastProfile`. */
  readonly profile?: boolean;
  /** Label of the command buffers. */
  readonly label?: string;
  /** Skip verify() (the caller just verified the graph). */
  readonly skipVerify?: boolean;
  /** Kernel variant choices (e.g. `{ implicitGemm: false }` to A/B Conv kernels); default: all defaults. */
  readonly kernelOptions?: KernelOptions;
  /**
   * Plan as if one storage binding held at most this many bytes (when below the
   * device's maxStorageBufferBindingSize, which a device cannot be asked to lower
   * under WebGPU's default of 128 MiB): the paths for weights and values larger than
   * one binding then run on tensors of a few KiB. For tests; default the device's limit.
   */
  readonly maxBindingBytes?: number;
}

let shared: Promise<GPUDevice> | undefined;

/**
 * The device used when compileWebGpu() is given none: requested once and shared by
 * every program (so pipelines are shared too); requested again after it is lost.
 */
export function defaultDevice(): Promise<GPUDevice> {
  if (!shared) {
    const p = requestDevice({ label: 'kiln' }).then((a) => {
      void a.device.lost.then(() => {
        if (shared === p) shared = undefined;
      });
      return a.device;
    });
    p.catch(() => {
      if (shared === p) shared = undefined;
    });
    shared = p;
  }
  return shared;
}

/**
 * Throws UnsupportedOpError listing every op (outside folded/shape-only work) that has
 * no WebGPU kernel, in the graph and in the bodies of its control-flow nodes.
 */
export function checkKernels(graph: Graph): void {
  registerAllKernels();
  const missing = new Map<string, string[]>();
  collectMissing(graph, missing);
  if (missing.size > 0) {
    throw new UnsupportedOpError([...missing].map(([op, nodes]) => ({ op, nodes })), 'no WebGPU kernel (there is no CPU fallback at run time)');
  }
}

function collectMissing(graph: Graph, missing: Map<string, string[]>): void {
  const { env, folded } = foldGraph(graph, new Map());
  const outer = constantsOf(graph, env.values);
  // Values computed from shapes and constants alone fold once dims are concrete.
  const shapeDerived = new Set<string>([...graph.initializers.keys(), ...env.values.keys()]);
  const add = (node: Graph['nodes'][number]): void => {
    const key = node.domain ? `${node.domain}::${node.op}` : node.op;
    missing.set(key, [...(missing.get(key) ?? []), node.name]);
  };
  const nonTensor = (v: string): boolean => {
    const t = v === '' ? undefined : env.types.get(v);
    return t !== undefined && !isTensorType(t);
  };
  for (const node of graph.topo) {
    const def = opOf(node);
    // Sequences and optionals live on the host: a node that reads or makes one runs there (control.ts), if its op can.
    if ([...node.inputs, ...node.outputs].some(nonTensor) && !getTrait(def, WEBGPU_HOST_VALUES)) {
      const key = `${node.domain ? `${node.domain}::${node.op}` : node.op} on sequence/optional values`;
      missing.set(key, [...(missing.get(key) ?? []), node.name]);
      continue;
    }
    // String tensors live on the host: a node that reads or makes one runs its CPU reference there (control.ts).
    if (touchesStrings(node, (v) => env.types.get(v))) continue;
    if (getTrait(def, HOLDS_BODIES)) {
      if (!getTrait(def, WEBGPU_HOST_KERNEL)) add(node);
      for (const b of bodiesOf(node)) collectMissing(flattenBody(b.graph, outer), missing);
      continue;
    }
    if (folded.has(node) || def.shapeOnly || node.inputs.every((v) => v === '' || shapeDerived.has(v))) {
      for (const o of node.outputs) shapeDerived.add(o);
      continue;
    }
    // Data-dependent ops without a GPU kernel run on the host (control.ts).
    if (kernelOf(def) || getTrait(def, WEBGPU_HOST_KERNEL)) continue;
    add(node);
  }
}

/**
 * Compiles a graph for WebGPU. When every graph input has a static shape the plan
 * (pipelines, buffers, dispatch list) is prepared here; otherwise on the first run
 * of each shape set.
 */
export async function compileWebGpu(input: Graph, opts: CompileWebGpuOptions = {}): Promise<WebGpuProgram> {
  if (!opts.skipVerify) verify(input);
  checkKernels(input);
  const device = opts.device ?? (await defaultDevice());
  // Weights larger than one storage binding are split into blocks that fit (legalize.ts).
  const bindingBytes = Math.min(device.limits.maxStorageBufferBindingSize, opts.maxBindingBytes ?? Infinity);
  const graph = splitWideWeights(input, bindingBytes);
  if (hasControlFlow(graph)) {
    // Control flow runs as a schedule of flat programs (control.ts); each is compiled with these options.
    const runtime: ControlRuntime = {
      device,
      compile: (g) => compileWebGpu(g, { ...opts, device, skipVerify: false }),
      stats: { dispatches: 0, submits: 0, readbacks: 0, hostNodes: 0, iterations: 0 },
    };
    return new WebGpuProgram(graph, device, { ...(opts.label ? { label: opts.label } : {}), control: { program: new ControlProgram(graph, runtime), runtime } });
  }
  const program = new WebGpuProgram(graph, device, {
    ...(opts.profile ? { profile: true } : {}),
    ...(opts.label ? { label: opts.label } : {}),
    ...(opts.kernelOptions ? { kernelOptions: opts.kernelOptions } : {}),
    ...(opts.maxBindingBytes !== undefined ? { maxBindingBytes: opts.maxBindingBytes } : {}),
  });
  if (graph.inputs.every((i) => i.shape.every((d) => typeof d === 'number'))) {
    try {
      await program.prepare(Object.fromEntries(graph.inputs.map((i) => [i.name, { dtype: i.dtype, shape: i.shape as number[] }])));
    } catch (e) {
      // Shapes that depend on feed values are planned at the first run (see program.ts).
      if (!(e instanceof DataDependentShapeError)) throw e;
    }
  }
  return program;
}
