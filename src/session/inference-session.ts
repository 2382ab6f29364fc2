/**
 * InferenceSession: the public way to run a model, shaped like ONNX Runtime Web's
 * (`InferenceSession.create(model, options)`, `session.run(feeds)`), so switching
 * costs an import. A session imports the model (ONNX bytes, a path/URL, or a Kiln
 * Graph), optimizes it, and compiles it for WebGPU or the CPU.
 *
 * Backend choice (backends.ts): `'webgpu'` needs an adapter; `'auto'` (default) uses
 * WebGPU when an adapter exists and the model compiles for it, and otherwise the CPU
 * with a one-line notice (`onNotice`).
 */
import { bindDims } from '../graph/bind-dims.js';
import { ExecutionError, InputError, KilnError } from '../graph/errors.js';
import { checkFeeds, randomFeeds } from '../graph/feeds.js';
import { Graph } from '../graph/graph.js';
import type { Shape } from '../graph/shape.js';
import type { DType } from '../graph/dtype.js';
import type { Tensor } from '../graph/tensor.js';
import { verify } from '../graph/verify.js';
import { optimize, type ExtraPasses } from '../passes/pipelines.js';
import { mixedPrecisionPass } from '../passes/mixed-precision.js';
import type { OptLevel } from '../passes/pass-manager.js';
import { importModel } from '../../onnx/import.js';
import { compileOn, type BackendChoice, type BackendName, type CompiledModel } from './backends.js';
import { loadModelBytes, type ModelSource } from './load.js';

export type { BackendChoice, BackendName } from './backends.js';

/** Options of {@link InferenceSession.create}. */
export interface SessionOptions {
  /** 'webgpu', 'cpu', or 'auto' (default: WebGPU when an adapter exists, else CPU). */
  readonly backend?: BackendChoice;
  /** ONNX Runtime's spelling: the first of 'webgpu' | 'cpu' | 'wasm' is used ('wasm' means cpu). */
  readonly executionProviders?: readonly (string | { name: string })[];
  /** 0: as imported, 1: cleanup, 2: everything (default 2). */
  readonly optimizationLevel?: OptLevel;
  /** Sizes for symbolic dims, bound before optimization (e.g. `{ batch: 1 }`). */
  readonly freeDimensions?: Readonly<Record<string, number>>;
  /** A GPU device to use (WebGPU backend). */
  readonly device?: GPUDevice;
  /** Collect per-kernel timings. */
  readonly profile?: boolean;
  /** Receives one-line notices (e.g. the CPU fallback). Default: console.warn. */
  readonly onNotice?: (message: string) => void;
  /**
   * 'fp16': convert float32 to float16 where calibration shows it safe (the
   * mixed-precision pass, src/passes/mixed-precision.ts), at load time. Default 'fp32'
   * (the model as it is).
   */
  readonly precision?: 'fp32' | 'fp16';
  /** With precision 'fp16': feeds to calibrate on (default: 4 seeded random batches, symbolic dims from freeDimensions or 1). */
  readonly calibration?: readonly Readonly<Record<string, Tensor>>[];
}

/** Name, dtype and shape of a model input or output. */
export interface ValueMetadata {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

/** Options of {@link InferenceSession.run}. */
export interface SessionRunOptions {
  /** WebGPU only: return outputs as GPU-resident tensors (GpuTensor) instead of reading them back. */
  readonly outputsOnGpu?: boolean;
}

/** The backend the options ask for: `backend`, else the first known execution provider, else 'auto'. */
function pickBackend(opts: SessionOptions): BackendChoice {
  if (opts.backend) return opts.backend;
  for (const ep of opts.executionProviders ?? []) {
    const n = typeof ep === 'string' ? ep : ep.name;
    if (n === 'webgpu') return 'webgpu';
    if (n === 'cpu' || n === 'wasm') return 'cpu';
  }
  return 'auto';
}

/** The precision pass the options ask for (none for 'fp32'). */
function precisionPasses(graph: Graph, opts: SessionOptions): ExtraPasses {
  const p = opts.precision ?? 'fp32';
  if (p === 'fp32') return {};
  if (p !== 'fp16') throw new InputError(`precision must be 'fp32' or 'fp16', got '${String(p)}'`);
  const dims = new Map<string, number>(Object.entries(opts.freeDimensions ?? {}));
  for (const i of graph.inputs) for (const d of i.shape) if (typeof d === 'string' && !dims.has(d)) dims.set(d, 1);
  const batches = opts.calibration?.map((b) => new Map(Object.entries(b))) ?? [1, 2, 3, 4].map((seed) => new Map(Object.entries(randomFeeds(graph, dims, seed))));
  return { precision: mixedPrecisionPass(batches) };
}

/** A compiled model, ready to run. */
export class InferenceSession {
  /** The (optimized) graph this session runs. */
  readonly graph: Graph;
  /** The backend in use. */
  readonly backend: BackendName;
  private runner: CompiledModel | undefined;

  private constructor(graph: Graph, backend: BackendName, runner: CompiledModel) {
    this.graph = graph;
    this.backend = backend;
    this.runner = runner;
  }

  /**
   * Creates a session from ONNX bytes, a path or URL to an .onnx file, or a Kiln Graph.
   * Throws typed errors: ModelFormatError (bad file), UnsupportedOpError (listing every
   * unsupported op), GpuUnavailableError when 'webgpu' was asked for and no adapter exists.
   */
  static async create(model: ModelSource | Graph, opts: SessionOptions = {}): Promise<InferenceSession> {
    let graph: Graph;
    if (model instanceof Graph) {
      verify(model);
      graph = model;
    } else {
      const { bytes, baseDir } = await loadModelBytes(model);
      graph = importModel(bytes, baseDir ? { baseDir } : {}, typeof model === 'string' ? model : 'model');
    }
    if (opts.freeDimensions) graph = bindDims(graph, opts.freeDimensions);
    graph = optimize(graph, { level: opts.optimizationLevel ?? 2 }, precisionPasses(graph, opts)).graph;
    const { backend, model: compiled } = await compileOn(graph, pickBackend(opts), {
      skipVerify: true,
      ...(opts.device ? { device: opts.device } : {}),
      ...(opts.profile ? { profile: true } : {}),
      ...(opts.onNotice ? { onNotice: opts.onNotice } : {}),
    });
    if (opts.precision === 'fp16' && compiled.halfStorage === false) {
      (opts.onNotice ?? ((m: string) => console.warn(m)))('kiln: notice: this WebGPU device has no shader-f16; the float16 parts of the model are stored and computed as f32');
    }
    return new InferenceSession(graph, backend, compiled);
  }

  /** Names of the model inputs, in order. */
  get inputNames(): string[] { return this.graph.inputs.map((i) => i.name); }
  /** Names of the model outputs, in order. */
  get outputNames(): string[] { return this.graph.outputs.map((o) => o.name); }
  /** Dtype and shape of each input. */
  get inputMetadata(): ValueMetadata[] { return this.graph.inputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })); }
  /** Dtype and shape of each output. */
  get outputMetadata(): ValueMetadata[] { return this.graph.outputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })); }
  /** Dispatches per inference (WebGPU), for the last planned shape set. */
  get dispatchCount(): number | undefined { return this.runner?.dispatchCount; }
  /** Generated WGSL of each dispatch (WebGPU). */
  get shaders(): readonly string[] { return this.runner?.shaders ?? []; }

  /**
   * Runs the model. Feeds are checked first (missing/extra names, dtype, rank, shape,
   * symbolic dims bound consistently) with an InputError naming the input.
   */
  async run(feeds: Readonly<Record<string, Tensor | { dtype: DType; shape: readonly number[] }>>, opts: SessionRunOptions = {}): Promise<Record<string, Tensor>> {
    const r = this.runner;
    if (!r) throw new ExecutionError('this session was released');
    checkFeeds(this.graph, feeds, { requireData: true });
    try {
      return await r.run(feeds as Record<string, Tensor>, opts);
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw new ExecutionError(`run failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  /** Frees every GPU resource of the session. The session cannot run afterwards. */
  release(): void {
    this.runner?.release();
    this.runner = undefined;
  }
}
