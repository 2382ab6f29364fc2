/**
 * ONNX Runtime's `InferenceSession` on Kiln (the `InferenceSession` of `kiln/ort`): the
 * `create` overloads, session options, `run(feeds, fetches?, options?)`, names, metadata
 * and `release()` of onnxruntime-common, checked against its declarations by
 * test/types/ort-parity.ts and against onnxruntime-node's behaviour by test/ort-parity.test.ts.
 *
 * It wraps a Kiln {@link KilnSession} (`session.kiln`) and converts at the boundary:
 * feeds (ORT tensors: int64 as BigInt64Array, float16 as bits, GPU buffers) become Kiln
 * values, outputs become ORT tensors ({@link fromKilnValue}). As in onnxruntime-node,
 * feeds whose names are not model inputs are ignored; a missing feed, a wrong dtype or
 * shape, and an unknown fetch name throw an {@link InputError} naming it.
 *
 * Options, ORT's names: `executionProviders` (the first of 'webgpu' | 'cpu' | 'wasm',
 * as strings or `{ name, device? }`; 'webgpu' followed by 'cpu'/'wasm' is Kiln's 'auto';
 * unknown names are skipped), `graphOptimizationLevel` ('disabled' → level 0, 'basic' → 1,
 * else 2), `freeDimensionOverrides`, `externalData`, `preferredOutputLocation`
 * ('cpu' | 'gpu-buffer', or per output), `logSeverityLevel` (3 or 4 silences Kiln's
 * notices), and ORT's `env.wasm.numThreads` (read at each create: the wasm backend's
 * threads, 0 the machine's cores); the other ORT options are accepted and ignored. Kiln's own options
 * (`backend`, `optimizationLevel`, ...) are accepted too and win. Without a backend
 * or a known execution provider the environment variable `KILN_BACKEND`
 * ('webgpu' | 'cpu' | 'auto', read at each create) decides, else 'auto'.
 */
import { ExecutionError, InputError } from '../graph/errors.js';
import { GpuTensor } from '../backends/webgpu/gpu-tensor.js';
import { decodeModel } from '../../onnx/import.js';
import { onnx, type pb } from '../../onnx/proto.js';
import { BackendUnavailableError, isBackendName, type BackendChoice } from './backends.js';
import { InferenceSession as KilnSession, type SessionOptions, type ValueMetadata } from './inference-session.js';
import { loadModelBytes } from './load.js';
import { env } from './ort-env.js';
import {
  fromKilnValue, NotSupportedError, OrtTensor, ortTypeOf, toKilnValue,
  type KilnValue, type OrtDataLocation, type OrtTensorData, type OrtTensorLike, type OrtTensorType,
} from './ort-tensor.js';

/** An execution provider, as ORT's `ExecutionProviderConfig`: a name, or an object with a name (and, for 'webgpu', a device). */
export type OrtExecutionProvider = string | { readonly name: string; readonly device?: GPUDevice };
/** A file ORT may load: a path or URL, a Blob, or bytes. */
export type OrtFileType = string | Blob | Uint8Array | ArrayBufferLike;
/** An external-data file, as ORT's `ExternalDataFileType`: a path next to the model, or `{ data, path }`. */
export type OrtExternalData = string | { readonly data: OrtFileType; readonly path: string };

/** Session options: ORT's (`InferenceSession.SessionOptions`) and Kiln's own. */
export interface OrtSessionOptions extends Omit<SessionOptions, 'executionProviders'> {
  /** Execution providers in order of preference (see the module docs). */
  readonly executionProviders?: readonly OrtExecutionProvider[];
  /** 'disabled' → Kiln level 0, 'basic' → 1, 'extended' | 'layout' | 'all' → 2 (Kiln's `optimizationLevel` wins). */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  /** Sizes of symbolic dims (Kiln's `freeDimensions`). */
  readonly freeDimensionOverrides?: { readonly [dimensionName: string]: number };
  /** External-data files: `{ data, path }` entries are inlined into the model; path strings are read from the model's folder. */
  readonly externalData?: readonly OrtExternalData[];
  /** 'gpu-buffer' (all outputs, or per output): WebGPU sessions return outputs on the GPU. */
  readonly preferredOutputLocation?: OrtDataLocation | { readonly [outputName: string]: OrtDataLocation };
  /** 3 (error) or 4 (fatal) silences Kiln's notices (the CPU fallback); 0–2 print them. */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Accepted and ignored by Kiln (as the options below). */
  readonly intraOpNumThreads?: number;
  readonly interOpNumThreads?: number;
  readonly enableCpuMemArena?: boolean;
  readonly enableMemPattern?: boolean;
  readonly executionMode?: 'sequential' | 'parallel';
  readonly optimizedModelFilePath?: string;
  readonly enableProfiling?: boolean;
  readonly profileFilePrefix?: string;
  readonly logId?: string;
  readonly logVerbosityLevel?: number;
  readonly enableGraphCapture?: boolean;
  readonly extra?: Record<string, unknown>;
}

/** Run options, as ORT's `InferenceSession.RunOptions` (accepted and ignored by Kiln). */
export interface OrtRunOptions {
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  readonly logVerbosityLevel?: number;
  readonly terminate?: boolean;
  readonly tag?: string;
  readonly extra?: Record<string, unknown>;
}

/** Feeds: input names to tensors (ORT's `FeedsType`). */
export type OrtFeeds = { readonly [name: string]: OrtTensorLike };
/** Fetches: output names, or output names to null or to a CPU tensor to write the output into (ORT's `FetchesType`). */
export type OrtFetches = readonly string[] | { readonly [name: string]: OrtTensorLike | null };
/** Outputs: names to tensors (ORT's `ReturnType`). */
export type OrtResults = { readonly [name: string]: OrtTensor };

/** Metadata of a tensor input or output, as ORT's `InferenceSession.TensorValueMetadata`. */
export interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: true;
  readonly type: OrtTensorType;
  /** Dims: numbers, or names of symbolic dims. */
  readonly shape: readonly (number | string)[];
}

/** The backend `KILN_BACKEND` names (undefined when unset). Throws BackendUnavailableError for an unknown name. */
function envBackend(): BackendChoice | undefined {
  const v = typeof process !== 'undefined' ? process.env?.KILN_BACKEND : undefined;
  if (v === undefined || v === '') return undefined;
  if (v === 'auto' || isBackendName(v)) return v;
  throw new BackendUnavailableError(`KILN_BACKEND='${v}' names no backend (known: cpu, webgpu, auto)`);
}

/** The backend and device the execution providers ask for (see the module docs). */
function fromProviders(eps: readonly OrtExecutionProvider[]): { backend?: BackendChoice; device?: GPUDevice } {
  const known = eps.filter((ep) => ['webgpu', 'cpu', 'wasm'].includes(typeof ep === 'string' ? ep : ep.name));
  const first = known[0];
  if (first === undefined) return {};
  const name = typeof first === 'string' ? first : first.name;
  if (name !== 'webgpu') return { backend: name === 'wasm' ? 'wasm' : 'cpu' };
  const device = typeof first === 'string' ? undefined : first.device;
  const cpuAfter = known.slice(1).some((ep) => (typeof ep === 'string' ? ep : ep.name) !== 'webgpu');
  return { backend: cpuAfter ? 'auto' : 'webgpu', ...(device ? { device } : {}) };
}

const ORT_LEVELS = { disabled: 0, basic: 1, extended: 2, layout: 2, all: 2 } as const;

/** Kiln's session options for ORT's. */
function kilnOptions(o: OrtSessionOptions, baseDir: string | undefined): SessionOptions {
  const { executionProviders, graphOptimizationLevel, freeDimensionOverrides, logSeverityLevel, ...rest } = o;
  const eps = fromProviders(executionProviders ?? []);
  const backend = o.backend ?? eps.backend ?? envBackend();
  const device = o.device ?? eps.device;
  if (graphOptimizationLevel !== undefined && !Object.hasOwn(ORT_LEVELS, graphOptimizationLevel)) throw new InputError(`graphOptimizationLevel must be one of ${Object.keys(ORT_LEVELS).join(', ')}, got '${String(graphOptimizationLevel)}'`);
  const level = o.optimizationLevel ?? (graphOptimizationLevel !== undefined ? ORT_LEVELS[graphOptimizationLevel] : undefined);
  const free = freeDimensionOverrides || o.freeDimensions ? { ...freeDimensionOverrides, ...o.freeDimensions } : undefined;
  const quiet = logSeverityLevel !== undefined && logSeverityLevel >= 3;
  const threads = o.numThreads ?? env.wasm.numThreads;
  return {
    ...rest,
    ...(threads !== undefined ? { numThreads: threads } : {}),
    ...(backend ? { backend } : {}),
    ...(device ? { device } : {}),
    ...(level !== undefined ? { optimizationLevel: level } : {}),
    ...(free ? { freeDimensions: free } : {}),
    ...(quiet && !o.onNotice ? { onNotice: () => undefined } : {}),
    ...(baseDir && !o.baseDir ? { baseDir } : {}),
  };
}

/** The bytes of an external-data file given as ORT's FileType. */
async function fileBytes(f: OrtFileType): Promise<Uint8Array> {
  if (typeof f === 'string') return (await loadModelBytes(f)).bytes;
  if (f instanceof Uint8Array) return f;
  if (typeof Blob !== 'undefined' && f instanceof Blob) return new Uint8Array(await f.arrayBuffer());
  if (f instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && f instanceof SharedArrayBuffer)) return new Uint8Array(f);
  throw new InputError('externalData: data must be a path or URL, a Blob, a Uint8Array or an ArrayBuffer');
}

/** A relative external-data path in one spelling ('./w.bin' and 'w.bin' are the same file). */
function normPath(p: string): string {
  return p.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
}

/** Every TensorProto of a graph, its subgraphs included. */
function* tensorsOf(g: pb.IGraphProto): Generator<pb.ITensorProto> {
  yield* g.initializer ?? [];
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.t) yield a.t;
      yield* a.tensors ?? [];
      if (a.g) yield* tensorsOf(a.g);
      for (const sg of a.graphs ?? []) yield* tensorsOf(sg);
    }
  }
}

/**
 * The model with the tensors stored in the given external-data files (`{ data, path }`
 * entries of ORT's `externalData`) inlined, so that no file has to be read for them.
 *
 * @param bytes the model.
 * @param files ORT's externalData list (path strings are left to the importer, which reads them from the model's folder).
 * @param where the model's name, for errors.
 * @returns the model bytes (unchanged when no tensor refers to a given file).
 */
async function inlineExternalData(bytes: Uint8Array, files: readonly OrtExternalData[], where: string): Promise<Uint8Array> {
  const given = new Map<string, Uint8Array>();
  for (const f of files) {
    if (typeof f === 'string') continue;
    if (typeof f !== 'object' || f === null || typeof f.path !== 'string') throw new InputError('externalData entries must be paths or { data, path } objects');
    given.set(normPath(f.path), await fileBytes(f.data));
  }
  if (given.size === 0) return bytes;
  const model = decodeModel(bytes, where);
  let changed = false;
  for (const t of model.graph ? tensorsOf(model.graph) : []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const blob = given.get(normPath(kv.get('location') ?? ''));
    if (!blob) continue;
    const offset = Number(kv.get('offset') ?? '0');
    const length = kv.has('length') ? Number(kv.get('length')) : blob.length - offset;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > blob.length) {
      throw new InputError(`externalData '${kv.get('location')}': tensor '${t.name ?? ''}' wants bytes ${offset}..${offset + length}, the data has ${blob.length}`, t.name ?? undefined);
    }
    t.rawData = blob.subarray(offset, offset + length);
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    changed = true;
  }
  return changed ? onnx.ModelProto.encode(model).finish() : bytes;
}

/** True for a value shaped like a tensor (ORT's or Kiln's). */
function isTensorLike(v: unknown): v is OrtTensorLike {
  return v instanceof OrtTensor || (typeof v === 'object' && v !== null && 'dims' in v && 'type' in v);
}

/** True for a plain (JS) array. */
function isList(x: unknown): x is readonly unknown[] {
  return Array.isArray(x);
}

/** The model source and options of ORT's `create` overloads (ORT's argument checks, as InputErrors). */
function createArgs(arg0: unknown, arg1: unknown, arg2: unknown, arg3: unknown): { source: string | URL | Uint8Array; options: OrtSessionOptions } {
  const opts = (v: unknown): OrtSessionOptions => {
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null) throw new InputError("'options' must be an object");
    return v;
  };
  if (typeof arg0 === 'string' || arg0 instanceof URL || arg0 instanceof Uint8Array) return { source: arg0, options: opts(arg1) };
  if (!(arg0 instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && arg0 instanceof SharedArrayBuffer))) {
    throw new InputError("InferenceSession.create: the model must be a path, a URL, a Uint8Array or an ArrayBuffer");
  }
  if (typeof arg1 !== 'number') return { source: new Uint8Array(arg0), options: opts(arg1) };
  if (!Number.isSafeInteger(arg1) || arg1 < 0 || arg1 >= arg0.byteLength) throw new InputError(`'byteOffset' must be an integer in [0, ${arg0.byteLength}), got ${arg1}`);
  let length = arg0.byteLength - arg1;
  let options = arg2;
  if (typeof arg2 === 'number') {
    if (!Number.isSafeInteger(arg2) || arg2 <= 0 || arg1 + arg2 > arg0.byteLength) throw new InputError(`'byteLength' must be an integer in (0, ${arg0.byteLength - arg1}], got ${arg2}`);
    length = arg2;
    options = arg3;
  } else if (arg2 !== undefined) {
    throw new InputError("'byteLength' must be a number");
  }
  return { source: new Uint8Array(arg0, arg1, length), options: opts(options) };
}

/** Loads the session's GPU device lazily (the device option, else Kiln's default device). */
async function sessionDevice(device: GPUDevice | undefined): Promise<GPUDevice> {
  if (device) return device;
  const { defaultDevice } = await import('../backends/webgpu/index.js');
  return defaultDevice();
}

/**
 * A session, ORT-style. Create it with {@link OrtInferenceSession.create}; the Kiln session
 * behind it is `session.kiln` (backend, graph, dispatch count).
 */
export class OrtInferenceSession {
  /** The Kiln session that runs the model. */
  readonly kiln: KilnSession;
  readonly #outputLocation: OrtSessionOptions['preferredOutputLocation'];
  readonly #device: GPUDevice | undefined;
  #gpu: Promise<GPUDevice> | undefined;

  private constructor(kiln: KilnSession, outputLocation: OrtSessionOptions['preferredOutputLocation'], device: GPUDevice | undefined) {
    this.kiln = kiln;
    this.#outputLocation = outputLocation;
    this.#device = device;
  }

  /**
   * Creates a session from a model file (path or URL), as ORT's `InferenceSession.create(uri, options)`.
   *
   * @param uri the path or URL of the .onnx file.
   * @param options ORT's session options (and Kiln's).
   * @returns the session.
   */
  static create(uri: string | URL, options?: OrtSessionOptions): Promise<OrtInferenceSession>;
  /**
   * Creates a session from the model bytes in an ArrayBuffer.
   *
   * @param buffer the model.
   * @param options ORT's session options (and Kiln's).
   * @returns the session.
   */
  static create(buffer: ArrayBufferLike, options?: OrtSessionOptions): Promise<OrtInferenceSession>;
  /**
   * Creates a session from a part of an ArrayBuffer.
   *
   * @param buffer holds the model.
   * @param byteOffset where the model starts.
   * @param byteLength its length (default: to the end).
   * @param options ORT's session options (and Kiln's).
   * @returns the session.
   */
  static create(buffer: ArrayBufferLike, byteOffset: number, byteLength?: number, options?: OrtSessionOptions): Promise<OrtInferenceSession>;
  /**
   * Creates a session from the model bytes.
   *
   * @param buffer the model.
   * @param options ORT's session options (and Kiln's).
   * @returns the session.
   */
  static create(buffer: Uint8Array, options?: OrtSessionOptions): Promise<OrtInferenceSession>;
  static async create(arg0: string | URL | ArrayBufferLike | Uint8Array, arg1?: OrtSessionOptions | number, arg2?: number, arg3?: OrtSessionOptions): Promise<OrtInferenceSession> {
    const { source, options } = createArgs(arg0, arg1, arg2, arg3);
    const loc = options.preferredOutputLocation;
    const locs = typeof loc === 'object' && loc !== null ? Object.values(loc) : loc === undefined ? [] : [loc];
    const bad = locs.find((l) => l !== 'cpu' && l !== 'cpu-pinned' && l !== 'gpu-buffer');
    if (bad !== undefined) throw new NotSupportedError(`preferredOutputLocation '${String(bad)}' is not supported by Kiln (use 'cpu' or 'gpu-buffer')`);
    let model: string | URL | Uint8Array = source;
    let baseDir: string | undefined;
    if (options.externalData?.some((f) => typeof f !== 'string')) {
      const where = typeof source === 'string' ? source : source instanceof URL ? source.href : 'model';
      const loaded = await loadModelBytes(source);
      baseDir = loaded.baseDir;
      model = await inlineExternalData(loaded.bytes, options.externalData, where);
    }
    const kopts = kilnOptions(options, baseDir);
    return new OrtInferenceSession(await KilnSession.create(model, kopts), loc, kopts.device);
  }

  /** Names of the model inputs, in order. */
  get inputNames(): readonly string[] { return this.kiln.inputNames; }
  /** Names of the model outputs, in order. */
  get outputNames(): readonly string[] { return this.kiln.outputNames; }
  /** Type and shape of each input (ORT's TensorValueMetadata; a dim the model leaves unnamed is '', as in ORT). */
  get inputMetadata(): readonly OrtValueMetadata[] {
    return this.#metadata(this.kiln.inputMetadata);
  }
  /** Type and shape of each output (ORT's TensorValueMetadata; a dim the model leaves unnamed is '', as in ORT). */
  get outputMetadata(): readonly OrtValueMetadata[] {
    return this.#metadata(this.kiln.outputMetadata);
  }

  /** ORT's metadata of Kiln's: Kiln's names for unnamed input dims (`<input>_dim<i>`) become ''. */
  #metadata(values: readonly ValueMetadata[]): readonly OrtValueMetadata[] {
    const unnamed = new Set(this.kiln.inputMetadata.flatMap(({ name, shape }) => shape.filter((d, i) => d === `${name}_dim${i}`)));
    return values.map(({ name, dtype, shape }) => ({ name, isTensor: true, type: ortTypeOf(dtype, name), shape: shape.map((d) => (typeof d === 'string' && unnamed.has(d) ? '' : d)) }));
  }

  /**
   * Runs the model, as ORT's `session.run(feeds, options?)`.
   *
   * @param feeds input names to tensors (other names are ignored).
   * @param options run options (accepted and ignored).
   * @returns every output, by name.
   */
  run(feeds: OrtFeeds, options?: OrtRunOptions): Promise<OrtResults>;
  /**
   * Runs the model and returns the outputs named by `fetches`, as ORT's `session.run(feeds, fetches, options?)`.
   *
   * @param feeds input names to tensors (other names are ignored).
   * @param fetches output names, or an object whose keys name outputs (values null).
   * @param options run options (accepted and ignored).
   * @returns the fetched outputs, by name.
   */
  run(feeds: OrtFeeds, fetches: OrtFetches, options?: OrtRunOptions): Promise<OrtResults>;
  async run(feeds: OrtFeeds, arg1?: OrtFetches | OrtRunOptions, arg2?: OrtRunOptions): Promise<OrtResults> {
    if (typeof feeds !== 'object' || feeds === null || isList(feeds) || isTensorLike(feeds)) {
      throw new InputError("'feeds' must be an object with input names as keys and tensors as values");
    }
    const { names: fetches, into } = this.#fetches(arg1, arg2);
    const names = new Set(this.inputNames);
    const kilnFeeds: Record<string, KilnValue> = {};
    for (const [name, v] of Object.entries(feeds)) {
      if (!names.has(name)) continue;
      if (!isTensorLike(v)) throw new InputError(`feed '${name}' is not a tensor`, name);
      kilnFeeds[name] = await toKilnValue(name, v, () => this.#gpuDevice(name));
    }
    const loc = this.#outputLocation;
    const wantsGpu = (n: string): boolean => (typeof loc === 'object' && loc !== null ? loc[n] === 'gpu-buffer' : loc === 'gpu-buffer');
    const onGpu = this.kiln.backend === 'webgpu' && fetches.some(wantsGpu);
    const out: Readonly<Record<string, KilnValue>> = await this.kiln.run(kilnFeeds, onGpu ? { outputsOnGpu: true } : {});
    const results: Record<string, OrtTensor> = {};
    const taken = new Set<string>();
    try {
      for (const name of fetches) {
        const v = out[name];
        if (v === undefined) throw new ExecutionError(`the model gave no output '${name}'`, name);
        taken.add(name);
        const t = v instanceof GpuTensor && !wantsGpu(name) ? await fromKilnValue(await downloaded(v)) : await fromKilnValue(v);
        const pre = into.get(name);
        results[name] = pre ? fillPreallocated(name, pre, t) : t;
      }
    } catch (e) {
      // Nothing reaches the caller: free what the outputs hold on the GPU.
      for (const t of Object.values(results)) t.dispose();
      throw e;
    } finally {
      for (const [name, v] of Object.entries(out)) if (v instanceof GpuTensor && !taken.has(name)) v.destroy();
    }
    return results;
  }

  /** Frees the session's resources; it cannot run afterwards. */
  release(): Promise<void> {
    this.kiln.release();
    return Promise.resolve();
  }

  /** ORT's profiling switch: accepted and ignored (Kiln profiles with the `profile` session option). */
  startProfiling(): void {}
  /** ORT's profiling switch: accepted and ignored. */
  endProfiling(): void {}

  /**
   * The output names a run returns, from ORT's `fetches`/`options` arguments (ORT's rules),
   * and the tensors given in a fetches object to write outputs into.
   */
  #fetches(arg1: OrtFetches | OrtRunOptions | undefined, arg2: OrtRunOptions | undefined): { names: readonly string[]; into: ReadonlyMap<string, OrtTensorLike> } {
    const none = new Map<string, OrtTensorLike>();
    const checkOptions = (o: unknown): void => {
      if (o !== undefined && (typeof o !== 'object' || o === null)) throw new InputError("run: 'options' must be an object");
    };
    if (arg1 === undefined) return { names: this.outputNames, into: none };
    if (typeof arg1 !== 'object' || arg1 === null) throw new InputError("run: the second argument must be 'fetches' or 'options'");
    if (isTensorLike(arg1)) throw new InputError("run: 'fetches' cannot be a tensor");
    if (isList(arg1)) {
      if (arg1.length === 0) throw new InputError("run: 'fetches' cannot be an empty array");
      for (const n of arg1) {
        if (typeof n !== 'string') throw new InputError("run: 'fetches' must be an array of output names or an object");
        if (!this.outputNames.includes(n)) throw new InputError(`run: 'fetches' names '${n}', which is not an output of the model (outputs: ${this.outputNames.join(', ')})`, n);
      }
      checkOptions(arg2);
      // ORT returns the fetched outputs in the model's order.
      return { names: this.outputNames.filter((n) => arg1.includes(n)), into: none };
    }
    // An object naming outputs (with null or a tensor) is fetches; anything else is the options.
    const given = new Map<string, unknown>(Object.entries(arg1));
    const named = this.outputNames.filter((n) => given.has(n) && (given.get(n) === null || isTensorLike(given.get(n))));
    if (named.length === 0) return { names: this.outputNames, into: none };
    checkOptions(arg2);
    const into = new Map<string, OrtTensorLike>();
    for (const n of named) {
      const v = given.get(n);
      if (!isTensorLike(v)) continue;
      if (v.location !== 'cpu' && v.location !== 'cpu-pinned') {
        throw new NotSupportedError(`run: the tensor given in fetches for output '${n}' is on '${v.location}'; Kiln writes outputs only into CPU tensors`, n);
      }
      into.set(n, v);
    }
    return { names: named, into };
  }

  /** The session's GPU device, for a GPU-buffer feed named `name` (NotSupportedError on the CPU backend). */
  #gpuDevice(name: string): Promise<GPUDevice> {
    if (this.kiln.backend !== 'webgpu') {
      return Promise.reject(new NotSupportedError(`feed '${name}' is a GPU buffer, but this session runs on the CPU backend`, name));
    }
    this.#gpu ??= sessionDevice(this.#device);
    return this.#gpu;
  }
}

/** Copies the data of one array into another of the same class and length (an output into a pre-allocated tensor). */
function copyInto(name: string, dst: OrtTensorData, src: OrtTensorData): void {
  if (isList(dst) || isList(src)) throw new NotSupportedError(`run: output '${name}': Kiln has no string tensors to write into`, name);
  if (dst instanceof BigInt64Array && src instanceof BigInt64Array) return dst.set(src);
  if (dst instanceof BigUint64Array && src instanceof BigUint64Array) return dst.set(src);
  if (dst instanceof BigInt64Array || dst instanceof BigUint64Array || src instanceof BigInt64Array || src instanceof BigUint64Array) {
    throw new InputError(`run: the tensor given in fetches for output '${name}' holds its data in a ${dst.constructor.name}, the output in a ${src.constructor.name}`, name);
  }
  dst.set(src);
}

/**
 * Writes an output into the tensor the caller gave for it in a fetches object, as ORT does
 * (same type and dims, else an InputError naming the output), and returns a tensor on that data.
 */
function fillPreallocated(name: string, pre: OrtTensorLike, got: OrtTensor): OrtTensor {
  if (pre.type !== got.type) throw new InputError(`run: the tensor given in fetches for output '${name}' is ${pre.type}; the output is ${got.type}`, name);
  if (pre.dims.length !== got.dims.length || pre.dims.some((d, i) => d !== got.dims[i])) {
    throw new InputError(`run: the tensor given in fetches for output '${name}' has dims [${pre.dims.join(', ')}]; the output has [${got.dims.join(', ')}]`, name);
  }
  copyInto(name, pre.data, got.data);
  got.dispose();
  return new OrtTensor(pre.type, pre.data, pre.dims);
}

/** A GPU output read back to the CPU (its buffer freed). */
async function downloaded(t: GpuTensor): Promise<KilnValue> {
  try {
    return await t.download();
  } finally {
    t.destroy();
  }
}
