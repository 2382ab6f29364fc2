/// <reference types="@webgpu/types" />
/**
 * The runtimes a benchmark compares, each behind one small interface: `open(case)`
 * creates the session (the part of cold start after imports) and returns `run()`,
 * which feeds the case's inputs, runs one inference and returns the outputs on the
 * CPU (read back), so every runtime pays for its uploads and downloads.
 *
 * WebGPU runtimes all get Dawn's GPU object from `acquireGpu()` (the same `GPU`,
 * hence the same adapter and Dawn flags) and are counted by ./counters.ts, whose
 * wrappers are installed before the runtime is imported.
 */
import { acquireGpu } from '../src/backends/webgpu/device.js';
import type { Tensor } from '../src/graph/tensor.js';
import type { BenchCase, TfLike, TfTensor } from './cases.js';
import { installGpuCounters } from './counters.js';

/** Names of the runtimes. */
export const RUNTIMES = ['kiln-webgpu', 'kiln-cpu', 'kiln-wasm', 'ort-webgpu', 'ort-wasm', 'ort-node', 'tfjs-webgpu'] as const;
/** A runtime name. */
export type RuntimeName = (typeof RUNTIMES)[number];
/** Runtimes that use the GPU (counted by ./counters.ts). */
export const GPU_RUNTIMES: readonly RuntimeName[] = ['kiln-webgpu', 'ort-webgpu', 'tfjs-webgpu'];
/** Runtimes that need `node --liftoff-only` (ORT's wasm). */
export const WASM_RUNTIMES: readonly RuntimeName[] = ['ort-webgpu', 'ort-wasm'];

/** Outputs of one inference, in graph output order, as float64 copies. */
export type Outputs = { name: string; shape: number[]; data: Float64Array }[];

/** A ready session. */
export interface OpenRuntime {
  /** One inference, outputs read back to the CPU. */
  run(): Promise<Outputs>;
  /** Per-kernel GPU times of the last run (Kiln with profile only). */
  profile?(): { node: string; op: string; label: string; ms: number }[];
  /** Frees the session. */
  release(): Promise<void> | void;
}

/** Options of {@link prepareRuntime}. */
export interface RuntimeOptions {
  /** Kiln: compile with per-dispatch timestamps (`lastProfile`). */
  readonly profile?: boolean;
  /** wasm threads of ORT's wasm backend and of Kiln's (default 1). */
  readonly wasmThreads?: number;
}

/** A runtime whose imports are done: `open` is what cold start times. */
export interface PreparedRuntime {
  /** Session creation (device request included for WebGPU runtimes). */
  open(c: BenchCase): Promise<OpenRuntime>;
}

function toF64(data: ArrayLike<number | bigint>): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

/** Feeds keyed by the session's input names (test data may carry no names). */
function namedFeeds(c: BenchCase, inputNames: readonly string[]): Record<string, Tensor> {
  const feeds = c.feeds();
  const out: Record<string, Tensor> = {};
  Object.entries(feeds).forEach(([k, t], i) => { out[k.startsWith('#') || !inputNames.includes(k) ? inputNames[i]! : k] = t; });
  return out;
}

/** Makes Dawn's GPU object `navigator.gpu` (Node 20 has no navigator) and installs the counters; returns it. */
export async function installNavigatorGpu(): Promise<GPU> {
  const gpu = await acquireGpu();
  if (!gpu) throw new Error('WebGPU is unavailable (no webgpu package or no adapter)');
  installGpuCounters();
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  return gpu;
}

async function kiln(backend: 'webgpu' | 'cpu' | 'wasm', opts: RuntimeOptions): Promise<PreparedRuntime> {
  if (backend === 'webgpu') await installNavigatorGpu();
  const { InferenceSession } = await import('../src/session/index.js');
  const { requestDevice } = await import('../src/backends/webgpu/device.js');
  const { importModel } = await import('../onnx/import.js');
  const { optimize } = await import('../src/passes/index.js');
  const webgpu = backend === 'webgpu' ? await import('../src/backends/webgpu/index.js') : undefined;
  return {
    open: async (c) => {
      const model = c.path ?? c.onnx();
      if (opts.profile && webgpu) {
        // Same steps as InferenceSession.create (import, optimize at level 2, compile),
        // with the program kept so that its lastProfile can be read.
        const device = (await requestDevice({ label: 'kiln bench' })).device;
        const graph = optimize(importModel(c.onnx(), c.path ? { baseDir: (await import('node:path')).dirname(c.path) } : {}, c.name), { level: 2 }).graph;
        const program = await webgpu.compileWebGpu(graph, { device, profile: true });
        const feeds = namedFeeds(c, graph.inputs.map((i) => i.name));
        return {
          run: async () => {
            const out = await program.run(feeds) as Record<string, Tensor>;
            return graph.outputs.map((o) => ({ name: o.name, shape: [...out[o.name]!.shape], data: toF64(out[o.name]!.data as ArrayLike<number>) }));
          },
          profile: () => program.lastProfile.map((e) => ({ node: e.node, op: e.op, label: e.label, ms: e.ns / 1e6 })),
          release: () => { program.release(); device.destroy(); },
        };
      }
      const device = backend === 'webgpu' ? (await requestDevice({ label: 'kiln bench' })).device : undefined;
      const session = await InferenceSession.create(model, { backend, optimizationLevel: 2, ...(device ? { device } : {}), ...(backend === 'wasm' ? { numThreads: opts.wasmThreads ?? 1 } : {}), onNotice: () => undefined });
      const feeds = namedFeeds(c, session.inputNames);
      return {
        run: async () => {
          const out = await session.run(feeds);
          return session.outputNames.map((n) => ({ name: n, shape: [...out[n]!.shape], data: toF64(out[n]!.data as ArrayLike<number>) }));
        },
        release: () => { session.release(); device?.destroy(); },
      };
    },
  };
}

/** The part of ONNX Runtime's API (web and node) used here. */
interface OrtLike {
  env: { wasm: { numThreads?: number }; logLevel?: string };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => { data: ArrayLike<number | bigint>; dims: readonly number[] };
  InferenceSession: {
    create(model: Uint8Array, o: { executionProviders: string[]; graphOptimizationLevel?: string }): Promise<OrtSession>;
  };
}
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: ArrayLike<number | bigint>; dims: readonly number[]; dispose?(): void }>>;
  release(): Promise<void>;
}

function ortFeed(ort: OrtLike, t: Tensor): unknown {
  if (t.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(t.data as ArrayLike<number>, (v) => BigInt(v)), t.shape);
  if (t.dtype === 'int32') return new ort.Tensor('int32', Int32Array.from(t.data as ArrayLike<number>), t.shape);
  if (t.dtype === 'float32') return new ort.Tensor('float32', t.data, t.shape);
  throw new Error(`bench: no ONNX Runtime feed for dtype ${t.dtype}`);
}

async function ort(ep: 'webgpu' | 'wasm' | 'cpu', opts: RuntimeOptions): Promise<PreparedRuntime> {
  if (ep === 'webgpu') await installNavigatorGpu();
  const mod = (ep === 'cpu' ? await import('onnxruntime-node') : ep === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web')) as unknown as OrtLike & { default?: OrtLike };
  const o: OrtLike = mod.InferenceSession ? mod : mod.default!;
  if (ep !== 'cpu') o.env.wasm.numThreads = opts.wasmThreads ?? 1;
  o.env.logLevel = 'error';
  return {
    open: async (c) => {
      const session = await o.InferenceSession.create(c.onnx(), { executionProviders: [ep], graphOptimizationLevel: 'all' });
      const kf = namedFeeds(c, session.inputNames);
      const feeds = Object.fromEntries(Object.entries(kf).map(([k, t]) => [k, ortFeed(o, t)]));
      return {
        run: async () => {
          const r = await session.run(feeds);
          return session.outputNames.map((n) => {
            const t = r[n]!;
            const out = { name: n, shape: [...t.dims].map(Number), data: toF64(t.data) };
            t.dispose?.();
            return out;
          });
        },
        release: () => session.release(),
      };
    },
  };
}

interface TfCore extends TfLike {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tidy<T>(f: () => T): T;
  engine(): { startScope(): void; endScope(): void };
  env(): { set(flag: string, v: unknown): void };
}

async function tfjs(): Promise<PreparedRuntime> {
  await installNavigatorGpu();
  const tf = (await import('@tensorflow/tfjs-core')) as unknown as TfCore;
  await import('@tensorflow/tfjs-backend-webgpu');
  return {
    open: async (c) => {
      if (!c.tfjs) throw new Error(`tfjs-webgpu runs the synthetic cases only (not '${c.name}')`);
      if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialize its webgpu backend');
      await tf.ready();
      const m = c.tfjs(tf);
      return {
        run: async () => {
          const inputs: TfTensor[] = m.inputs.map((i) => tf.tensor(i.data, i.shape));
          const y = tf.tidy(() => m.run(inputs));
          const data = await y.data();
          const out = [{ name: 'y', shape: [...y.shape], data: toF64(data) }];
          y.dispose();
          inputs.forEach((t) => t.dispose());
          return out;
        },
        release: () => undefined,
      };
    },
  };
}

/** Imports a runtime (installing navigator.gpu and the counters first for GPU runtimes). */
export async function prepareRuntime(name: RuntimeName, opts: RuntimeOptions = {}): Promise<PreparedRuntime> {
  const table: Record<RuntimeName, () => Promise<PreparedRuntime>> = {
    'kiln-webgpu': () => kiln('webgpu', opts),
    'kiln-cpu': () => kiln('cpu', opts),
    'kiln-wasm': () => kiln('wasm', opts),
    'ort-webgpu': () => ort('webgpu', opts),
    'ort-wasm': () => ort('wasm', opts),
    'ort-node': () => ort('cpu', opts),
    'tfjs-webgpu': () => tfjs(),
  };
  return table[name]();
}
