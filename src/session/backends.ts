/**
 * The backends a model test can run on, behind one async interface. The WebGPU
 * backend is loaded with a dynamic import so that everything here works (and
 * fails with a clear message) where it is absent.
 */
import { compileCpu } from '../src/backends/cpu/index.js';
import { KilnError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import type { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';

/** A compiled graph on some backend. */
export interface CompiledModel {
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  release(): void;
}

/** A backend: compiles graphs. */
export interface Backend {
  readonly name: BackendName;
  compile(graph: Graph): Promise<CompiledModel>;
}

/** Names accepted by `--backend`. */
export const BACKEND_NAMES = ['cpu', 'webgpu'] as const;
/** A backend name. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** The requested backend cannot be loaded here. */
export class BackendUnavailableError extends KilnError {
  constructor(message: string) { super('BACKEND_UNAVAILABLE', message); }
}

const cpu: Backend = {
  name: 'cpu',
  compile(graph) {
    const p = compileCpu(graph);
    return Promise.resolve({ run: (feeds) => Promise.resolve(p.run(feeds)), release: () => undefined });
  },
};

interface WebGpuModule {
  compileWebGpu(graph: Graph, opts?: unknown): Promise<CompiledModel>;
}

const WEBGPU_MODULE = '../src/backends/webgpu/index.js';

async function webgpu(): Promise<Backend> {
  let mod: Partial<WebGpuModule>;
  try {
    mod = (await import(WEBGPU_MODULE)) as Partial<WebGpuModule>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ERR_MODULE_NOT_FOUND' ? 'src/backends/webgpu/index.ts is not present in this build' : err.message;
    throw new BackendUnavailableError(`the WebGPU backend is not available: ${why}`);
  }
  const compile = mod.compileWebGpu;
  if (typeof compile !== 'function') {
    throw new BackendUnavailableError('the WebGPU backend is not available: src/backends/webgpu/index.ts does not export compileWebGpu');
  }
  return { name: 'webgpu', compile: (graph) => compile(graph) };
}

/** Loads a backend by name. Throws BackendUnavailableError when it cannot be loaded. */
export async function loadBackend(name: string): Promise<Backend> {
  if (name === 'cpu') return cpu;
  if (name === 'webgpu') return webgpu();
  throw new BackendUnavailableError(`unknown backend '${name}' (known: ${BACKEND_NAMES.join(', ')})`);
}

/**
 * The backend compiling each graph after optimizing it at `level` (0: as imported,
 * 1: cleanup, 2: every pass — what InferenceSession does by default).
 */
export function atLevel(backend: Backend, level: 0 | 1 | 2): Backend {
  if (level === 0) return backend;
  return { name: backend.name, compile: (graph) => backend.compile(optimize(graph, { level }).graph) };
}
