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
import { DynamicRankError, ExecutionError, InputError, KilnError } from '../graph/errors.js';
import { checkFeeds, randomFeeds, scalarFeedsAsScalars } from '../graph/feeds.js';
import { Graph } from '../graph/graph.js';
import type { Shape } from '../graph/shape.js';
import { isFloat, type DType } from '../graph/dtype.js';
import type { Tensor } from '../graph/tensor.js';
import { verify } from '../graph/verify.js';
import { optimize, type ExtraPasses } from '../passes/pipelines.js';
import { mixedPrecisionPass } from '../passes/mixed-precision.js';
import type { OptLevel } from '../passes/pass-manager.js';
import { importModel, modelSignature, type ImportOptions } from '../../onnx/import.js';
import { compileOn, type BackendChoice, type BackendName, type CompiledModel } from './backends.js';
import { loadModelBytes, type ModelSource } from './load.js';

export type { BackendChoice, BackendName } from './backends.js';

/** Options of {@link InferenceSession.create}. */
export interface SessionOptions {
  /** 'webgpu', 'wasm', 'cpu', or 'auto' (default: WebGPU when an adapter exists, else the wasm backend on the CPU). */
  readonly backend?: BackendChoice;
  /** ONNX Runtime's spelling: the first of 'webgpu' | 'cpu' | 'wasm' is used ('wasm' is the wasm backend, 'cpu' the reference). */
  readonly executionProviders?: readonly (string | { name: string })[];
  /** 0: as imported, 1: cleanup, 2: everything (default 2). */
  readonly optimizationLevel?: OptLevel;
  /** Sizes for symbolic dims, bound before optimization (e.g. `{ batch: 1 }`). */
  readonly freeDimensions?: Readonly<Record<string, number>>;
  /** Folder that the model's external-data paths are relative to (default: the model file's folder; none for bytes). */
  readonly baseDir?: string;
  /** A GPU device to use (WebGPU backend). */
  readonly device?: GPUDevice;
  /**
   * wasm backend: threads, the calling one included, as ONNX Runtime's
   * `env.wasm.numThreads` (0 or undefined: the machine's cores; 1: the calling thread
   * alone). A browser page needs cross-origin isolation for more than one; without
   * it the backend runs one thread and says so once (`onNotice`).
   */
  readonly numThreads?: number;
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
    if (n === 'cpu') return 'cpu';
    if (n === 'wasm') return 'wasm';
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

/** Optimizes and compiles an imported graph as the session options say. */
async function compileGraph(graph: Graph, opts: SessionOptions): Promise<{ graph: Graph; backend: BackendName; compiled: CompiledModel }> {
  if (opts.freeDimensions) graph = bindDims(graph, opts.freeDimensions);
  graph = optimize(graph, { level: opts.optimizationLevel ?? 2 }, precisionPasses(graph, opts)).graph;
  const { backend, model: compiled } = await compileOn(graph, pickBackend(opts), {
    skipVerify: true,
    ...(opts.device ? { device: opts.device } : {}),
    ...(opts.profile ? { profile: true } : {}),
    ...(opts.onNotice ? { onNotice: opts.onNotice } : {}),
    ...(opts.numThreads !== undefined ? { numThreads: opts.numThreads } : {}),
  });
  if (opts.precision === 'fp16' && compiled.halfStorage === false) {
    (opts.onNotice ?? ((m: string) => console.warn(m)))('kiln: notice: this WebGPU device has no shader-f16; the float16 parts of the model are stored and computed as f32');
  }
  return { graph, backend, compiled };
}

/** How many input-size sets a {@link Specializing} model keeps compiled. */
const MAX_SPECIALIZATIONS = 8;

/**
 * A model whose value ranks depend on its input sizes (see DynamicRankError): imported,
 * optimized and compiled once per set of symbolic-dim sizes and values of its scalar
 * integer and bool inputs, at the first run that has them, and kept for later runs (the
 * last {@link MAX_SPECIALIZATIONS} sets). Scalar inputs are bound as constants because
 * such models choose branches by them too (Silero VAD's `If` on the sample rate `sr`),
 * and a branch that cannot run may not type-check for the sizes given.
 */
class Specializing implements CompiledModel {
  private readonly cache = new Map<string, { graph: Graph; backend: BackendName; compiled: CompiledModel }>();
  /** The specialization the last run used. */
  last: { graph: Graph; backend: BackendName; compiled: CompiledModel } | undefined;

  constructor(
    private readonly signature: Graph,
    private readonly bytes: Uint8Array,
    private readonly importOpts: ImportOptions,
    private readonly where: string,
    private readonly opts: SessionOptions,
  ) {}

  /** The compiled specialization for the sizes the feeds bind (compiled now if new). */
  async forFeeds(feeds: Readonly<Record<string, Tensor>>): Promise<{ graph: Graph; backend: BackendName; compiled: CompiledModel }> {
    const dims = Object.fromEntries([...checkFeeds(this.signature, feeds)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const constantInputs = Object.fromEntries(this.scalarInputs().map((n) => [n, feeds[n]!]));
    const key = JSON.stringify([dims, Object.entries(constantInputs).map(([n, t]) => [n, Array.from(t.data as ArrayLike<number>)])]);
    let s = this.cache.get(key);
    if (s) {
      this.cache.delete(key);
    } else {
      let graph: Graph;
      try {
        graph = importModel(this.bytes, { ...this.importOpts, dims, constantInputs }, this.where);
      } catch (e) {
        // Ranks depend on the values of small integer vectors too (AffineGrid's `size`): bind those from now on.
        if (!(e instanceof DynamicRankError) || this.byValue || this.scalarInputs(true).length === this.scalarInputs().length) throw e;
        this.byValue = true;
        return this.forFeeds(feeds);
      }
      s = await compileGraph(graph, this.opts);
      if (this.cache.size >= MAX_SPECIALIZATIONS) {
        const [oldKey, old] = this.cache.entries().next().value as [string, { compiled: CompiledModel }];
        old.compiled.release();
        this.cache.delete(oldKey);
      }
    }
    this.cache.set(key, s);
    this.last = s;
    return s;
  }

  /** Whether small integer and bool vectors are bound as well (the scalars did not decide the ranks). */
  private byValue = false;

  /**
   * The model's integer and bool inputs bound as constants in each specialization: the
   * scalars, and once they were not enough (`byValue`) those of at most 64 elements.
   */
  private scalarInputs(byValue = this.byValue): string[] {
    const bound = (i: Graph['inputs'][number]): boolean => {
      if (isFloat(i.dtype) || i.dtype === 'string') return false;
      if (i.shape.length === 0) return true;
      return byValue && i.shape.every((d) => typeof d === 'number') && (i.shape as number[]).reduce((a, b) => a * b, 1) <= 64;
    };
    return this.signature.inputs.filter(bound).map((i) => i.name);
  }

  async run(feeds: Readonly<Record<string, Tensor>>, opts?: Parameters<CompiledModel['run']>[1]): Promise<Record<string, Tensor>> {
    const { compiled } = await this.forFeeds(feeds);
    const bound = new Set(this.scalarInputs());
    return compiled.run(Object.fromEntries(Object.entries(feeds).filter(([n]) => !bound.has(n))), opts);
  }

  release(): void {
    for (const s of this.cache.values()) s.compiled.release();
    this.cache.clear();
    this.last = undefined;
  }

  profile(): ReturnType<NonNullable<CompiledModel['profile']>> {
    return this.last?.compiled.profile?.() ?? [];
  }

  get dispatchCount(): number | undefined { return this.last?.compiled.dispatchCount; }
  get shaders(): readonly string[] | undefined { return this.last?.compiled.shaders; }
  /** GPU bytes held by every cached specialization. */
  get gpuBytes(): number {
    let n = 0;
    for (const s of this.cache.values()) n += s.compiled.gpuBytes ?? 0;
    return n;
  }
}

/** A compiled model, ready to run. */
export class InferenceSession {
  private readonly signature: Graph;
  private readonly firstBackend: BackendName;
  private runner: CompiledModel | undefined;

  private constructor(graph: Graph, backend: BackendName, runner: CompiledModel) {
    this.signature = graph;
    this.firstBackend = backend;
    this.runner = runner;
  }

  /**
   * The (optimized) graph this session runs. For a model typed per set of input sizes
   * (DynamicRankError at import), the graph of the last run's sizes; before the first
   * run, the declared inputs and outputs only.
   */
  get graph(): Graph {
    return (this.runner instanceof Specializing ? this.runner.last?.graph : undefined) ?? this.signature;
  }

  /** The backend in use (for a model typed per set of input sizes, the one its last run used). */
  get backend(): BackendName {
    return (this.runner instanceof Specializing ? this.runner.last?.backend : undefined) ?? this.firstBackend;
  }

  /**
   * Creates a session from ONNX bytes, a path or URL to an .onnx file, or a Kiln Graph.
   * Throws typed errors: ModelFormatError (bad file), UnsupportedOpError (listing every
   * unsupported op), GpuUnavailableError when 'webgpu' was asked for and no adapter exists.
   */
  static async create(model: ModelSource | Graph, opts: SessionOptions = {}): Promise<InferenceSession> {
    let imported: Graph;
    if (model instanceof Graph) {
      verify(model);
      imported = model;
    } else {
      const loaded = await loadModelBytes(model);
      const bytes = loaded.bytes;
      const baseDir = opts.baseDir ?? loaded.baseDir;
      const where = typeof model === 'string' ? model : 'model';
      const importOpts: ImportOptions = {
        ...(baseDir ? { baseDir } : {}),
        ...(opts.freeDimensions ? { dims: opts.freeDimensions } : {}),
      };
      try {
        imported = importModel(bytes, importOpts, where);
      } catch (e) {
        if (!(e instanceof DynamicRankError)) throw e;
        // Ranks depend on the input sizes: type, optimize and compile at each new set of sizes.
        const { inputs, outputs } = modelSignature(bytes, importOpts, where);
        const signature = Graph.create({ name: where, inputs, outputs, nodes: [], initializers: new Map(), valueTypes: new Map() });
        const backend = pickBackend(opts);
        return new InferenceSession(signature, backend === 'auto' ? 'cpu' : backend, new Specializing(signature, bytes, importOpts, where, opts));
      }
    }
    const { graph, backend, compiled } = await compileGraph(imported, opts);
    return new InferenceSession(graph, backend, compiled);
  }

  // Names and metadata come from the model's signature: a model typed per set of input
  // sizes binds its scalar inputs as constants in each specialization, but still takes them.
  /** Names of the model inputs, in order. */
  get inputNames(): string[] { return this.signature.inputs.map((i) => i.name); }
  /** Names of the model outputs, in order. */
  get outputNames(): string[] { return this.signature.outputs.map((o) => o.name); }
  /** Dtype and shape of each input. */
  get inputMetadata(): ValueMetadata[] { return this.signature.inputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })); }
  /** Dtype and shape of each output. */
  get outputMetadata(): ValueMetadata[] { return this.signature.outputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })); }
  /** Dispatches per inference (WebGPU), for the last planned shape set. */
  get dispatchCount(): number | undefined { return this.runner?.dispatchCount; }
  /**
   * Bytes of GPU memory this session holds now: the buffers of its cached execution
   * plans (weights, intermediates, staging). 0 on the CPU and wasm backends and after
   * release(). Outputs returned on the GPU are the caller's and not counted.
   */
  get gpuMemoryBytes(): number { return this.runner?.gpuBytes ?? 0; }
  /** Generated WGSL of each dispatch (WebGPU). */
  get shaders(): readonly string[] { return this.runner?.shaders ?? []; }

  /**
   * Runs the model. Feeds are checked first (missing/extra names, dtype, rank, shape,
   * symbolic dims bound consistently) with an InputError naming the input.
   */
  async run(feeds: Readonly<Record<string, Tensor | { dtype: DType; shape: readonly number[] }>>, opts: SessionRunOptions = {}): Promise<Record<string, Tensor>> {
    const r = this.runner;
    if (!r) throw new ExecutionError('this session was released');
    checkFeeds(this.signature, feeds, { requireData: true });
    const fed = scalarFeedsAsScalars(this.signature, feeds as Record<string, Tensor>);
    try {
      return await r.run(fed, opts);
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
