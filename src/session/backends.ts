/**
 * The backends, behind one interface, and the one way to pick one. InferenceSession,
 * the CLI (`kiln run`, `kiln check`, `kiln viz --profile`), the conformance runner
 * and the model checker all compile through here.
 *
 * - {@link BACKEND_NAMES}: 'cpu' (the reference interpreter), 'webgpu' and 'wasm'
 *   (compiled WebAssembly SIMD kernels, src/backends/wasm); a {@link BackendChoice} adds 'auto'.
 * - {@link Backend}: compiles a graph into a {@link CompiledModel} (async run, release).
 * - The WebGPU backend is loaded lazily (a dynamic import), so code that never runs
 *   on the GPU never loads it, and a build without it fails with a clear
 *   {@link BackendUnavailableError}.
 * - {@link compileOn}: 'auto' uses WebGPU when an adapter exists and the model
 *   compiles for it, and otherwise the CPU with a one-line notice.
 */
import { compileCpu } from '../backends/cpu/index.js';
import { compileWasm } from '../backends/wasm/index.js';
import { GpuUnavailableError } from '../backends/webgpu/device.js';
import { KilnError, UnsupportedOpError } from '../graph/errors.js';
import type { Graph } from '../graph/graph.js';
import type { Tensor } from '../graph/tensor.js';
import type { Value } from '../graph/value.js';
import { optimize } from '../passes/pipelines.js';

/** Names of the backends (what `--backend` accepts). */
export const BACKEND_NAMES = ['cpu', 'webgpu', 'wasm'] as const;
/** A backend name. */
export type BackendName = (typeof BACKEND_NAMES)[number];
/** A backend, or 'auto': WebGPU where it can run the model, else the CPU with a notice. */
export type BackendChoice = BackendName | 'auto';

/** True when `name` is one of {@link BACKEND_NAMES}. */
export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/** The requested backend cannot be loaded here (unknown name, or not in this build). */
export class BackendUnavailableError extends KilnError {
  constructor(message: string) { super('BACKEND_UNAVAILABLE', message); }
}

/** Options of {@link Backend.compile}. */
export interface CompileOptions {
  /** The GPU device (WebGPU; default: one device shared by every program). */
  readonly device?: GPUDevice;
  /** Collect per-kernel times of each run (read them with {@link CompiledModel.profile}). */
  readonly profile?: boolean;
  /** Skip verify() of the graph (the caller verified it). */
  readonly skipVerify?: boolean;
  /** The wasm backend's threads, the calling one included (0 or undefined: the machine's cores; 1: no workers). */
  readonly numThreads?: number;
  /** Receives one-line notices (the wasm backend's one-thread notice; 'auto''s fallback). Default: console.warn. */
  readonly onNotice?: (message: string) => void;
}

/** Options of {@link CompiledModel.run}. */
export interface ModelRunOptions {
  /** WebGPU only: return outputs as GPU-resident tensors (GpuTensor) instead of reading them back. */
  readonly outputsOnGpu?: boolean;
}

/** Time of one kernel in the last run. */
export interface KernelTime {
  /** Node (or dispatch) name. */
  readonly node: string;
  readonly op: string;
  readonly ms: number;
}

/** A graph compiled for some backend. */
export interface CompiledModel {
  run(feeds: Readonly<Record<string, Tensor>>, opts?: ModelRunOptions): Promise<Record<string, Tensor>>;
  /** Runs on feeds of any kind (sequences, optionals) and returns outputs of any kind; backends that hold only tensors leave it out. */
  runValues?(feeds: Readonly<Record<string, Value>>): Promise<Record<string, Value>>;
  /** Frees what the model holds (GPU buffers); it cannot run afterwards. */
  release(): void;
  /** Per-kernel times of the last run, when compiled with `profile`. */
  profile?(): KernelTime[];
  /** Dispatches per inference (WebGPU), for the last planned shape set. */
  readonly dispatchCount?: number;
  /** Generated WGSL of each dispatch (WebGPU). */
  readonly shaders?: readonly string[];
  /** Bytes of GPU memory the model holds now (WebGPU: its cached plans' buffers). */
  readonly gpuBytes?: number;
  /** False when float16 values are stored and computed as f32 (a WebGPU device without shader-f16). */
  readonly halfStorage?: boolean;
}

/**
 * A backend: compiles graphs. The built-in WebGPU backend throws GpuUnavailableError
 * when there is no adapter (checked before the graph), and UnsupportedOpError listing
 * every op without a kernel.
 */
export interface Backend {
  readonly name: BackendName;
  compile(graph: Graph, opts?: CompileOptions): Promise<CompiledModel>;
}

/** The CPU reference backend (always available). */
export const cpuBackend: Backend = {
  name: 'cpu',
  compile(graph, opts = {}) {
    const p = compileCpu(graph, { profile: opts.profile ?? false, ...(opts.skipVerify ? { skipVerify: true } : {}) });
    return Promise.resolve({
      run: (feeds) => Promise.resolve(p.run(feeds)),
      runValues: (feeds) => Promise.resolve(p.runValues(feeds)),
      release: () => undefined,
      profile: () => p.lastProfile.map((e) => ({ node: e.node, op: e.op, ms: e.ms })),
    });
  },
};

/** Loads the WebGPU backend module, or throws a BackendUnavailableError saying why. */
async function loadWebGpu(): Promise<typeof import('../backends/webgpu/index.js')> {
  try {
    return await import('../backends/webgpu/index.js');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ERR_MODULE_NOT_FOUND' ? 'src/backends/webgpu/index.ts is not present in this build' : err.message;
    throw new BackendUnavailableError(`the WebGPU backend is not available: ${why}`);
  }
}

async function webgpuBackend(): Promise<Backend> {
  const { compileWebGpu, defaultDevice } = await loadWebGpu();
  return {
    name: 'webgpu',
    async compile(graph, opts = {}) {
      // The device first: without an adapter that is the error, whatever the graph holds.
      const device = opts.device ?? (await defaultDevice());
      const p = await compileWebGpu(graph, {
        device,
        ...(opts.profile ? { profile: true } : {}),
        ...(opts.skipVerify ? { skipVerify: true } : {}),
      });
      return {
        run: (feeds, o) => p.run(feeds, o) as Promise<Record<string, Tensor>>,
        runValues: (feeds) => p.runValues(feeds) as Promise<Record<string, Value>>,
        release: () => p.release(),
        profile: () => p.lastProfile.map((e) => ({ node: e.node, op: e.op, ms: e.ns / 1e6 })),
        get dispatchCount() { return p.dispatchCount; },
        get shaders() { return p.shaders; },
        get gpuBytes() { return p.gpuBytes; },
        halfStorage: p.f16,
      };
    },
  };
}

/**
 * The wasm backend (always available where WebAssembly is). Imported statically, as the
 * CPU backend is: it is plain TypeScript, and one copy of the graph modules keeps the
 * Tensor and error classes it returns the caller's.
 */
export const wasmBackend: Backend = {
  name: 'wasm',
  compile(graph, opts = {}) {
    const p = compileWasm(graph, {
      profile: opts.profile ?? false,
      ...(opts.skipVerify ? { skipVerify: true } : {}),
      ...(opts.numThreads !== undefined ? { numThreads: opts.numThreads } : {}),
      ...(opts.onNotice ? { onNotice: opts.onNotice } : {}),
    });
    return Promise.resolve({
      run: (feeds) => Promise.resolve(p.run(feeds)),
      runValues: (feeds) => Promise.resolve(p.runValues(feeds)),
      release: () => p.release(),
      profile: () => p.lastProfile.map((e) => ({ node: e.node, op: e.op, ms: e.ms })),
    });
  },
};

/** How each backend is loaded (a table: a backend without a loader fails the type check). */
const LOADERS: Readonly<Record<BackendName, () => Promise<Backend>>> = {
  cpu: () => Promise.resolve(cpuBackend),
  webgpu: webgpuBackend,
  wasm: () => Promise.resolve(wasmBackend),
};

/** Loads a backend by name. Throws BackendUnavailableError when it is unknown or cannot be loaded. */
export async function loadBackend(name: string): Promise<Backend> {
  const load = (BACKEND_NAMES as readonly string[]).includes(name) ? LOADERS[name as BackendName] : undefined;
  if (!load) throw new BackendUnavailableError(`unknown backend '${name}' (known: ${BACKEND_NAMES.join(', ')})`);
  return load();
}

/**
 * The backend compiling each graph after optimizing it at `level` (0: as imported,
 * 1: cleanup, 2: every pass — what InferenceSession does by default).
 */
export function atLevel(backend: Backend, level: 0 | 1 | 2): Backend {
  if (level === 0) return backend;
  return { name: backend.name, compile: (graph, opts) => backend.compile(optimize(graph, { level }).graph, opts) };
}

/** Options of {@link compileOn}. */
export interface ChoiceOptions extends CompileOptions {
  /** Receives the one-line notice when 'auto' runs on the CPU (default: console.warn). */
  readonly onNotice?: (message: string) => void;
  /** With 'auto': also fall back when WebGPU has no kernel for some op (default true; else the UnsupportedOpError propagates). */
  readonly fallbackOnUnsupported?: boolean;
}

/** A model compiled by {@link compileOn}, with the backend that runs it. */
export interface ChosenModel {
  readonly backend: BackendName;
  readonly model: CompiledModel;
}

/** Why 'auto' leaves WebGPU after compiling failed with `e`, or undefined when it does not. */
function fallbackReason(e: unknown, onUnsupported: boolean): string | undefined {
  if (e instanceof GpuUnavailableError) return `no WebGPU adapter (${e.message})`;
  if (onUnsupported && e instanceof UnsupportedOpError) return `WebGPU cannot run this model (${e.message})`;
  return undefined;
}

/**
 * Compiles `graph` on the chosen backend. 'cpu' and 'webgpu' compile there (or
 * throw: GpuUnavailableError without an adapter, UnsupportedOpError listing the ops
 * without a kernel). 'auto' tries WebGPU and, without an adapter (or a kernel),
 * compiles for the wasm backend after the notice `kiln: notice: <why>; running on
 * the wasm backend` (for the CPU reference interpreter when wasm cannot compile it).
 */
export async function compileOn(graph: Graph, choice: BackendChoice, opts: ChoiceOptions = {}): Promise<ChosenModel> {
  if (choice === 'cpu') return { backend: 'cpu', model: await cpuBackend.compile(graph, opts) };
  if (choice === 'wasm') return { backend: 'wasm', model: await (await loadBackend('wasm')).compile(graph, opts) };
  const webgpu = await loadBackend('webgpu');
  try {
    return { backend: 'webgpu', model: await webgpu.compile(graph, opts) };
  } catch (e) {
    const why = choice === 'auto' ? fallbackReason(e, opts.fallbackOnUnsupported ?? true) : undefined;
    if (why === undefined) throw e;
    const notice = opts.onNotice ?? ((m: string) => console.warn(m));
    // WebGPU's compile verified the graph already (or was told to skip).
    let wasmFailed: string;
    try {
      const model = await (await loadBackend('wasm')).compile(graph, { ...opts, skipVerify: true });
      notice(`kiln: notice: ${why}; running on the wasm backend`);
      return { backend: 'wasm', model };
    } catch (w) {
      wasmFailed = w instanceof Error ? w.message : String(w);
    }
    notice(`kiln: notice: ${why}; the wasm backend cannot run it either (${wasmFailed}); running on the CPU reference`);
    return { backend: 'cpu', model: await cpuBackend.compile(graph, { ...opts, skipVerify: true }) };
  }
}
