/**
 * ONNX Runtime's `Tensor` on Kiln (the `Tensor` of `kiln/ort`): the same constructor
 * forms, members and data types as onnxruntime-common's, checked against its
 * declarations by test/types/ort-parity.ts.
 *
 * - Data as ORT holds it: int64 in a BigInt64Array, uint64 in a BigUint64Array,
 *   float16 as its bits in a Uint16Array, bool in a Uint8Array, string in a string[].
 *   (Kiln's own tensors, src/session/tensor.ts, hold int64 as exact doubles; the
 *   session of `kiln/ort` converts at the boundary: {@link toKilnValue}, {@link fromKilnValue}.)
 * - `location` is 'cpu', 'cpu-pinned', 'gpu-buffer' ({@link OrtTensor.fromGpuBuffer},
 *   or outputs with `preferredOutputLocation: 'gpu-buffer'`) or 'none' after `dispose()`.
 * - WebGL textures, WebNN tensors and image conversion (`fromImage`, `toDataURL`,
 *   `toImageData`) are not supported: they throw {@link NotSupportedError}.
 *
 * Misuse throws {@link InputError} (ORT throws TypeError/RangeError/Error there).
 */
import { fromHalfBits, isDType, packNibbles, storageClass, toHalfBits, unpackNibbles, type DType, type TypedArray } from '../graph/dtype.js';
import { InputError, KilnError } from '../graph/errors.js';
import { Tensor as CoreTensor } from '../graph/tensor.js';
import { GpuTensor } from '../backends/webgpu/gpu-tensor.js';

/** A part of ONNX Runtime's API that Kiln does not provide (WebGL textures, WebNN tensors, images). */
export class NotSupportedError extends KilnError {
  constructor(message: string, where?: string) { super('NOT_SUPPORTED', message, where); }
}

/** A global type when declared (GPUBuffer with @webgpu/types), else `Fallback` — as onnxruntime-common's helper. */
export type TryGetGlobalType<Name extends string, Fallback = unknown> = typeof globalThis extends { [k in Name]: { prototype: infer T } } ? T : Fallback;

/** The data array of each tensor type, as onnxruntime-common's `Tensor.DataTypeMap`. */
export interface OrtDataTypeMap {
  float32: Float32Array;
  uint8: Uint8Array;
  int8: Int8Array;
  uint16: Uint16Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  string: string[];
  bool: Uint8Array;
  float16: Uint16Array;
  float64: Float64Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  uint4: Uint8Array;
  int4: Int8Array;
}
/** A tensor element type, as ORT's `Tensor.Type`. */
export type OrtTensorType = keyof OrtDataTypeMap;
/** Any tensor data array, as ORT's `Tensor.DataType`. */
export type OrtTensorData = OrtDataTypeMap[OrtTensorType];
/** Where a tensor's data is, as ORT's `Tensor.DataLocation`. */
export type OrtDataLocation = 'none' | 'cpu' | 'cpu-pinned' | 'texture' | 'gpu-buffer' | 'ml-tensor';
/** Types a GPU-buffer tensor may have, as ORT's `Tensor.GpuBufferDataTypes`. */
export type OrtGpuBufferDataType = 'float32' | 'float16' | 'int32' | 'int64' | 'uint32' | 'uint8' | 'bool';
/** The WebGPU buffer type (GPUBuffer where @webgpu/types is present). */
export type OrtGpuBuffer = TryGetGlobalType<'GPUBuffer', { size: number; mapState: 'unmapped' | 'pending' | 'mapped' }>;

/** Options of {@link OrtTensor.fromGpuBuffer}, as ORT's `TensorFromGpuBufferOptions`. */
export interface OrtGpuBufferOptions<T extends OrtGpuBufferDataType> {
  readonly dims: readonly number[];
  /** Element type (default 'float32'). */
  dataType?: T;
  /** Reads the buffer back (what `getData()` calls). */
  download?(): Promise<OrtDataTypeMap[T]>;
  /** Frees the buffer (what `dispose()` calls). */
  dispose?(): void;
}

/** Image-conversion options (ORT's tensorLayout/format/norm); Kiln accepts the argument only to throw {@link NotSupportedError}. */
export type OrtImageOptions = object;

/** A tensor as the session reads it: any object with ORT's Tensor members (Kiln's, or one built by onnxruntime-common). */
export interface OrtTensorLike {
  readonly type: OrtTensorType;
  readonly dims: readonly number[];
  readonly location: OrtDataLocation;
  /** The data, when `location` is 'cpu' or 'cpu-pinned'. */
  readonly data: OrtTensorData;
  /** The buffer, when `location` is 'gpu-buffer'. */
  readonly gpuBuffer: OrtGpuBuffer;
}

/** What the constructor takes besides a type name: data of any type, or plain arrays. */
type CtorData = OrtTensorData | Uint8ClampedArray | readonly number[] | readonly bigint[] | readonly boolean[] | readonly string[];

/** The internal form the static factories use. */
interface LocatedInit {
  readonly location: 'cpu-pinned' | 'gpu-buffer';
  readonly type: OrtTensorType;
  readonly dims: readonly number[];
  readonly data?: OrtTensorData;
  readonly gpuBuffer?: OrtGpuBuffer;
  readonly download?: () => Promise<OrtTensorData>;
  readonly dispose?: () => void;
}

/** A typed-array class. */
interface ArrayClass<A> { new (n: number): A; readonly name: string }

/** Typed-array class of each 32-bit-or-narrower numeric type (ORT's NUMERIC_TENSOR_TYPE_TO_TYPEDARRAY_MAP; float16 as Uint16Array bits). */
const NUMERIC: { readonly [K in Exclude<OrtTensorType, 'string' | 'int64' | 'uint64'>]: ArrayClass<OrtDataTypeMap[K]> & { from(a: ArrayLike<number>): OrtDataTypeMap[K] } } = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array, int32: Int32Array,
  bool: Uint8Array, float64: Float64Array, uint32: Uint32Array, int4: Int8Array, uint4: Uint8Array, float16: Uint16Array,
};

/** The typed-array class holding `type`. */
function arrayClassOf(type: Exclude<OrtTensorType, 'string'>): ArrayClass<OrtTensorData> {
  return type === 'int64' ? BigInt64Array : type === 'uint64' ? BigUint64Array : NUMERIC[type];
}

/** The tensor type a typed array implies (ORT's NUMERIC_TENSOR_TYPEDARRAY_TO_TYPE_MAP). */
function typeOfArray(a: object): OrtTensorType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint16Array) return 'uint16';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Uint32Array) return 'uint32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof BigUint64Array) return 'uint64';
  return undefined;
}

function isOrtType(t: unknown): t is OrtTensorType {
  return typeof t === 'string' && (t === 'string' || t === 'int64' || t === 'uint64' || Object.prototype.hasOwnProperty.call(NUMERIC, t));
}

/** Number of elements of `dims`; throws InputError on a negative or fractional dim. */
function sizeOfDims(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new InputError(`tensor dims must be non-negative integers, got [${dims.join(', ')}]`);
    n *= d;
  }
  return n;
}

/** True for a plain (JS) array. */
function isList(x: unknown): x is readonly unknown[] {
  return Array.isArray(x);
}

/** The data as a typed array of ORT's data types (not a Uint8ClampedArray, not a plain array), else undefined. */
function typedData(x: CtorData): Exclude<OrtTensorData, string[]> | undefined {
  if (isList(x) || x instanceof Uint8ClampedArray) return undefined;
  return x;
}

/** The data of `new Tensor(type, data)`: ORT's conversions (plain arrays to the type's array; BigInt for 64-bit ints). */
function dataForType(type: OrtTensorType, data: CtorData): OrtTensorData {
  if (type === 'string') {
    if (!isList(data) || data.some((s) => typeof s !== 'string')) throw new InputError("a string tensor's data must be a string array");
    return data.map(String);
  }
  const Cls = arrayClassOf(type);
  if (isList(data)) {
    if (type === 'float16' || type === 'uint4' || type === 'int4') {
      throw new InputError(`creating a ${type} tensor from a number array is not supported; use ${Cls.name} as data`);
    }
    if (type === 'int64' || type === 'uint64') {
      const ints = data.map((v) => {
        if (typeof v === 'bigint') return v;
        if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
        throw new InputError(`${type} tensor data must be integers or bigints, got ${String(v)}`);
      });
      return type === 'int64' ? BigInt64Array.from(ints) : BigUint64Array.from(ints);
    }
    return NUMERIC[type].from(data.map(Number));
  }
  if (data instanceof Uint8ClampedArray) {
    if (type === 'uint8') return Uint8Array.from(data);
    throw new InputError(`a Uint8ClampedArray tensor's data must be of type uint8, not ${type}`);
  }
  const typed = typedData(data);
  if (typed instanceof Cls) return typed;
  throw new InputError(`a ${type} tensor's data must be a ${Cls.name}, got ${typed?.constructor.name ?? typeof data}`);
}

/** The type and data of `new Tensor(data)` (type from the array). */
function inferredData(data: CtorData): [OrtTensorType, OrtTensorData] {
  if (isList(data)) {
    if (data.length === 0) throw new InputError('a tensor type cannot be inferred from an empty array');
    const first: unknown = data[0];
    const list: readonly unknown[] = data;
    if (typeof first === 'string') {
      if (list.some((v) => typeof v !== 'string')) throw new InputError("a string tensor's data must be a string array");
      return ['string', list.map(String)];
    }
    if (typeof first === 'boolean') return ['bool', Uint8Array.from(list, (v) => (v ? 1 : 0))];
    throw new InputError(`invalid element type of data array: ${typeof first} (give the tensor type first: new Tensor('float32', data))`);
  }
  if (data instanceof Uint8ClampedArray) return ['uint8', Uint8Array.from(data)];
  const typed = typedData(data);
  const t = typed && typeOfArray(typed);
  if (!typed || !t) throw new InputError(`unsupported type for tensor data: ${(data as object).constructor?.name ?? typeof data}`);
  return [t, typed];
}

/**
 * A tensor, ORT-style: `new Tensor('float32', data, [1, 3])`, `new Tensor(new Float32Array(6), [2, 3])`,
 * `new Tensor('int64', [1n, 2n])`, `new Tensor(['a', 'b'])`; dims default to 1-D.
 * Use it through {@link Tensor} (the constructor typed with ORT's overloads).
 */
export class OrtTensor<T extends OrtTensorType = OrtTensorType> {
  /** Element type. */
  readonly type: T;
  /** Shape. */
  readonly dims: readonly number[];
  /** Number of elements. */
  readonly size: number;
  #location: OrtDataLocation;
  #cpuData: OrtTensorData | undefined;
  #gpuBuffer: OrtGpuBuffer | undefined;
  #download: (() => Promise<OrtTensorData>) | undefined;
  #dispose: (() => void) | undefined;
  #downloading = false;

  /**
   * @param arg0 the element type, or the data (its type inferred from the array)
   * @param arg1 the data (after a type), or the dims
   * @param arg2 the dims (after a type and data); default: 1-D of the data's length
   */
  constructor(arg0: OrtTensorType | CtorData | LocatedInit, arg1?: CtorData | readonly number[], arg2?: readonly number[]) {
    let type: OrtTensorType;
    let dims: readonly number[] | undefined;
    if (typeof arg0 === 'object' && arg0 !== null && !Array.isArray(arg0) && 'location' in arg0) {
      const init = arg0 as LocatedInit;
      type = init.type;
      dims = init.dims;
      this.#location = init.location;
      this.#cpuData = init.data;
      this.#gpuBuffer = init.gpuBuffer;
      this.#download = init.download;
      this.#dispose = init.dispose;
    } else {
      let data: OrtTensorData;
      if (typeof arg0 === 'string') {
        if (!isOrtType(arg0)) throw new InputError(`unsupported tensor type: '${arg0}'`);
        if (arg1 === undefined) throw new InputError(`new Tensor('${arg0}', data, dims): the data is missing`);
        type = arg0;
        data = dataForType(arg0, arg1 as CtorData);
        dims = arg2;
      } else {
        [type, data] = inferredData(arg0 as CtorData);
        dims = arg1 as readonly number[] | undefined;
      }
      if (dims !== undefined && !Array.isArray(dims)) throw new InputError("a tensor's dims must be a number array");
      dims ??= [data.length];
      this.#location = 'cpu';
      this.#cpuData = data;
    }
    const size = sizeOfDims(dims);
    const n = this.#cpuData?.length;
    if (n !== undefined && n !== size && !((type === 'uint4' || type === 'int4') && n === Math.ceil(size / 2))) {
      throw new InputError(`tensor's size (${size}, dims [${dims.join(', ')}]) does not match its data length (${n})`);
    }
    this.type = type as T;
    this.dims = Object.freeze([...dims]);
    this.size = size;
  }

  /**
   * A tensor on a WebGPU buffer, as ORT's `Tensor.fromGpuBuffer`. Kiln's WebGPU session
   * takes it as a feed when the buffer is on the session's device (`await env.webgpu.device`,
   * or the device given as `executionProviders: [{ name: 'webgpu', device }]`) and holds
   * float32, int32, uint32 (or float16 on a device with shader-f16).
   *
   * @param buffer the buffer (usage STORAGE | COPY_SRC | COPY_DST).
   * @param options dims, dataType (default 'float32'), and optional download/dispose callbacks.
   * @returns the tensor, location 'gpu-buffer'.
   */
  static fromGpuBuffer<T extends OrtGpuBufferDataType>(buffer: OrtGpuBuffer, options: OrtGpuBufferOptions<T>): OrtTensor<T> {
    const type = options.dataType ?? 'float32';
    if (!['float32', 'float16', 'int32', 'int64', 'uint32', 'uint8', 'bool'].includes(type)) throw new InputError(`unsupported type '${type}' to create a tensor from a GPU buffer`);
    const init: LocatedInit = {
      location: 'gpu-buffer', type, dims: options.dims, gpuBuffer: buffer,
      ...(options.download ? { download: options.download.bind(options) } : {}),
      ...(options.dispose ? { dispose: options.dispose.bind(options) } : {}),
    };
    return new OrtTensor<T>(init);
  }

  /**
   * A tensor on pinned CPU memory, as ORT's `Tensor.fromPinnedBuffer` (in Kiln, ordinary memory: location 'cpu-pinned').
   *
   * @param type element type (not 'string').
   * @param buffer the data, in the type's array class.
   * @param dims shape (default 1-D).
   * @returns the tensor.
   */
  static fromPinnedBuffer<T extends Exclude<OrtTensorType, 'string'>>(type: T, buffer: OrtDataTypeMap[T], dims?: readonly number[]): OrtTensor<T> {
    const Cls = arrayClassOf(type);
    if (!Cls) throw new InputError(`unsupported type '${String(type)}' to create a tensor from a pinned buffer`);
    if (!(buffer instanceof Cls)) throw new InputError(`a pinned ${type} buffer must be a ${Cls.name}`);
    return new OrtTensor<T>({ location: 'cpu-pinned', type, dims: dims ?? [buffer.length], data: buffer });
  }

  /**
   * ORT's `Tensor.fromImage`: not supported by Kiln (build the tensor from the pixels with `new Tensor('float32', data, dims)`).
   *
   * @param _image an image or URL (ignored).
   * @param _options conversion options (ignored).
   * @returns never: always rejects with NotSupportedError.
   */
  static fromImage(_image: unknown, _options?: OrtImageOptions): Promise<never> {
    return Promise.reject(new NotSupportedError("Tensor.fromImage is not supported by Kiln: build the tensor from the pixels with new Tensor('float32', data, dims)"));
  }

  /**
   * ORT's `Tensor.fromTexture` (WebGL): not supported by Kiln.
   *
   * @param _texture a WebGL texture (ignored).
   * @param _options options (ignored).
   * @returns never: always throws NotSupportedError.
   */
  static fromTexture(_texture: unknown, _options: unknown): never {
    throw new NotSupportedError('Tensor.fromTexture is not supported by Kiln (it has no WebGL backend)');
  }

  /**
   * ORT's `Tensor.fromMLTensor` (WebNN): not supported by Kiln.
   *
   * @param _tensor a WebNN MLTensor (ignored).
   * @param _options options (ignored).
   * @returns never: always throws NotSupportedError.
   */
  static fromMLTensor(_tensor: unknown, _options: unknown): never {
    throw new NotSupportedError('Tensor.fromMLTensor is not supported by Kiln (it has no WebNN backend)');
  }

  /** Where the data is: 'cpu', 'cpu-pinned', 'gpu-buffer', or 'none' once disposed. */
  get location(): OrtDataLocation { return this.#location; }

  /** The data (CPU tensors); throws InputError when it is on the GPU (use `getData()`) or disposed. */
  get data(): OrtDataTypeMap[T] {
    this.#ensureValid();
    if (!this.#cpuData) throw new InputError('the data is not on the CPU: use getData() to download it, or gpuBuffer to use the GPU buffer');
    return this.#cpuData as OrtDataTypeMap[T];
  }

  /** The WebGPU buffer (location 'gpu-buffer'); throws InputError otherwise. */
  get gpuBuffer(): OrtGpuBuffer {
    this.#ensureValid();
    if (!this.#gpuBuffer) throw new InputError('the data is not stored as a WebGPU buffer');
    return this.#gpuBuffer;
  }

  /** ORT's WebGL texture: Kiln has none (throws NotSupportedError). */
  get texture(): never {
    throw new NotSupportedError('the data is not stored as a WebGL texture (Kiln has no WebGL backend)');
  }

  /** ORT's WebNN tensor: Kiln has none (throws NotSupportedError). */
  get mlTensor(): never {
    throw new NotSupportedError('the data is not stored as a WebNN MLTensor (Kiln has no WebNN backend)');
  }

  /**
   * The data: at once for CPU tensors; downloaded for GPU tensors (the tensor then holds it on the CPU).
   *
   * @param releaseData for a GPU tensor: free the GPU buffer after the download.
   * @returns the data.
   */
  async getData(releaseData?: boolean): Promise<OrtDataTypeMap[T]> {
    this.#ensureValid();
    if (this.#cpuData) return this.#cpuData as OrtDataTypeMap[T];
    const download = this.#download;
    if (!download) throw new InputError('this GPU tensor was created without a download function, so its data cannot be read');
    if (this.#downloading) throw new InputError('this tensor is being downloaded');
    this.#downloading = true;
    try {
      const data = await download();
      this.#download = undefined;
      this.#location = 'cpu';
      this.#cpuData = data;
      if (releaseData && this.#dispose) {
        this.#dispose();
        this.#dispose = undefined;
      }
      return data as OrtDataTypeMap[T];
    } finally {
      this.#downloading = false;
    }
  }

  /** Drops the data (and frees the GPU buffer of a GPU tensor it owns); the location becomes 'none'. */
  dispose(): void {
    if (this.#downloading) throw new InputError('this tensor is being downloaded');
    this.#dispose?.();
    this.#dispose = undefined;
    this.#download = undefined;
    this.#cpuData = undefined;
    this.#gpuBuffer = undefined;
    this.#location = 'none';
  }

  /**
   * The same data with other dims (the element count must match), as ORT's `reshape`.
   *
   * @param dims the new shape.
   * @returns a tensor sharing the data (or GPU buffer).
   */
  reshape(dims: readonly number[]): OrtTensor<T> {
    this.#ensureValid();
    if (this.#download || this.#dispose) throw new InputError('cannot reshape a tensor that owns a GPU resource');
    if (sizeOfDims(dims) !== this.size) throw new InputError(`cannot reshape a tensor of ${this.size} elements to [${dims.join(', ')}]`);
    if (this.#location === 'gpu-buffer') return new OrtTensor<T>({ location: 'gpu-buffer', type: this.type, dims, gpuBuffer: this.#gpuBuffer! });
    if (this.#location === 'cpu-pinned') return new OrtTensor<T>({ location: 'cpu-pinned', type: this.type, dims, data: this.#cpuData! });
    return new OrtTensor<T>(this.type, this.#cpuData as CtorData, dims);
  }

  /**
   * ORT's `toDataURL`: not supported by Kiln.
   *
   * @param _options conversion options (ignored).
   * @returns never: always throws NotSupportedError.
   */
  toDataURL(_options?: OrtImageOptions): never {
    throw new NotSupportedError('Tensor.toDataURL is not supported by Kiln');
  }

  /**
   * ORT's `toImageData`: not supported by Kiln.
   *
   * @param _options conversion options (ignored).
   * @returns never: always throws NotSupportedError.
   */
  toImageData(_options?: OrtImageOptions): never {
    throw new NotSupportedError('Tensor.toImageData is not supported by Kiln');
  }

  #ensureValid(): void {
    if (this.#location === 'none') throw new InputError('the tensor is disposed');
  }
}

/** A tensor of element type `T`, as ORT's `TypedTensor<T>`. */
export type TypedOrtTensor<T extends OrtTensorType> = OrtTensor<T>;

/** The constructor overloads of ORT's `TensorConstructor` (and its factories), served by {@link OrtTensor}. */
export interface OrtTensorConstructor {
  new (type: 'string', data: string[] | readonly string[], dims?: readonly number[]): OrtTensor<'string'>;
  new (type: 'bool', data: Uint8Array | readonly boolean[], dims?: readonly number[]): OrtTensor<'bool'>;
  new (type: 'uint8', data: Uint8ClampedArray, dims?: readonly number[]): OrtTensor<'uint8'>;
  new <T extends 'uint64' | 'int64'>(type: T, data: OrtDataTypeMap[T] | readonly bigint[] | readonly number[], dims?: readonly number[]): OrtTensor<T>;
  new <T extends Exclude<OrtTensorType, 'string' | 'bool' | 'uint64' | 'int64'>>(type: T, data: OrtDataTypeMap[T] | readonly number[], dims?: readonly number[]): OrtTensor<T>;
  new (data: Float32Array, dims?: readonly number[]): OrtTensor<'float32'>;
  new (data: Int8Array, dims?: readonly number[]): OrtTensor<'int8'>;
  new (data: Uint8Array, dims?: readonly number[]): OrtTensor<'uint8'>;
  new (data: Uint8ClampedArray, dims?: readonly number[]): OrtTensor<'uint8'>;
  new (data: Uint16Array, dims?: readonly number[]): OrtTensor<'uint16'>;
  new (data: Int16Array, dims?: readonly number[]): OrtTensor<'int16'>;
  new (data: Int32Array, dims?: readonly number[]): OrtTensor<'int32'>;
  new (data: BigInt64Array, dims?: readonly number[]): OrtTensor<'int64'>;
  new (data: readonly string[], dims?: readonly number[]): OrtTensor<'string'>;
  new (data: readonly boolean[], dims?: readonly number[]): OrtTensor<'bool'>;
  new (data: Float64Array, dims?: readonly number[]): OrtTensor<'float64'>;
  new (data: Uint32Array, dims?: readonly number[]): OrtTensor<'uint32'>;
  new (data: BigUint64Array, dims?: readonly number[]): OrtTensor<'uint64'>;
  new (type: OrtTensorType, data: OrtTensorData | readonly number[] | readonly string[] | readonly bigint[] | readonly boolean[], dims?: readonly number[]): OrtTensor;
  new (data: OrtTensorData, dims?: readonly number[]): OrtTensor;
  readonly prototype: OrtTensor;
  fromGpuBuffer: typeof OrtTensor.fromGpuBuffer;
  fromPinnedBuffer: typeof OrtTensor.fromPinnedBuffer;
  fromImage: typeof OrtTensor.fromImage;
  fromTexture: typeof OrtTensor.fromTexture;
  fromMLTensor: typeof OrtTensor.fromMLTensor;
}

/** ORT's `Tensor` on Kiln: {@link OrtTensor} with ORT's constructor overloads. */
export const Tensor: OrtTensorConstructor = OrtTensor;

/** What Kiln's backends take for a feed: a CPU tensor or a tensor on the session's GPU device. */
export type KilnValue = CoreTensor | GpuTensor;

/** The storage Kiln's WebGPU backend gives `dtype`, when it is the layout ORT's GPU buffers have for it. */
function sameGpuLayout(type: OrtTensorType | DType, f16: boolean): type is 'float32' | 'int32' | 'uint32' | 'float16' {
  return type === 'float32' || type === 'int32' || type === 'uint32' || (type === 'float16' && f16);
}

/** Kiln dtypes ONNX Runtime's JS Tensor has no type for. */
const NO_ORT_TYPE: ReadonlySet<DType> = new Set<DType>(['bfloat16', 'float8e4m3fn', 'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz']);

/**
 * ORT's tensor type of a Kiln dtype (the same name).
 * @throws {NotSupportedError} for bfloat16 and the float8 types, which ORT's JS Tensor lacks; `what` names the value.
 */
export function ortTypeOf(dtype: DType, what: string): OrtTensorType {
  if (NO_ORT_TYPE.has(dtype)) throw new NotSupportedError(`'${what}' is ${dtype}, which ONNX Runtime's JS tensors have no type for`, what);
  return dtype as OrtTensorType;
}

/** Kiln's CPU storage of ORT data (int64/uint64 → exact doubles, float16 bits → numbers, bool → 0/1, int4/uint4 unpacked). */
function kilnStorage(name: string, dtype: DType, data: OrtTensorData | TypedArray, size: number): TypedArray {
  const Cls = storageClass(dtype);
  if (dtype === 'int4' || dtype === 'uint4') {
    if (!(data instanceof Cls) || data.length !== Math.ceil(size / 2)) throw new InputError(`feed '${name}' (${dtype}) must hold its elements packed two per byte in a ${Cls.name} of ${Math.ceil(size / 2)}`, name);
    return unpackNibbles(data as ArrayLike<number>, size, new (Cls as typeof Int8Array | typeof Uint8Array)(size));
  }
  if (dtype === 'float16') {
    if (data instanceof Float32Array) return data;
    if (!(data instanceof Uint16Array)) throw new InputError(`feed '${name}' (float16) must hold its bits in a Uint16Array`, name);
    return Float32Array.from(data, fromHalfBits);
  }
  if (dtype === 'int64' || dtype === 'uint64') {
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
    if (data instanceof Float64Array) return data;
    throw new InputError(`feed '${name}' (${dtype}) must hold its data in a ${dtype === 'int64' ? 'BigInt64Array' : 'BigUint64Array'}`, name);
  }
  if (dtype === 'bool' && data instanceof Uint8Array) return data.some((v) => v > 1) ? data.map((v) => (v ? 1 : 0)) : data;
  if (data instanceof Cls) return data as TypedArray;
  throw new InputError(`feed '${name}' (${dtype}) must hold its data in a ${Cls.name}, got ${(data as object).constructor?.name}`, name);
}

/**
 * Converts a feed of an ORT-shaped session to what Kiln runs on: a CPU tensor, or for
 * a 'gpu-buffer' tensor a GpuTensor on `device` (the session's device).
 *
 * @param name the input name (for errors).
 * @param t the feed.
 * @param gpuDevice resolves the session's GPU device (for GPU-buffer feeds).
 * @returns the Kiln value.
 * @throws {InputError} for a disposed tensor, a string tensor whose data is not a string array, or a type Kiln has no dtype for.
 * @throws {NotSupportedError} for textures, WebNN tensors, or GPU buffers in a layout Kiln's GPU storage does not share.
 */
export async function toKilnValue(name: string, t: OrtTensorLike, gpuDevice: () => Promise<GPUDevice>): Promise<KilnValue> {
  const type = t.type as string;
  if (type === 'string') {
    if (t.location !== 'cpu' && t.location !== undefined) throw new NotSupportedError(`feed '${name}' is a string tensor on '${t.location}'; string tensors live on the CPU`, name);
    const data = t.data as unknown;
    if (!Array.isArray(data) || data.some((v) => typeof v !== 'string')) throw new InputError(`feed '${name}' is a string tensor whose data is not a string array`, name);
    return CoreTensor.fromStrings(t.dims, data as string[]);
  }
  if (!isDType(type)) throw new InputError(`feed '${name}' has type '${type}', which Kiln does not support`, name);
  switch (t.location) {
    case 'cpu':
    case 'cpu-pinned':
    case undefined:
      return new CoreTensor(type, t.dims, kilnStorage(name, type, t.data, t.dims.reduce((a, b) => a * b, 1)));
    case 'gpu-buffer': {
      const device = await gpuDevice();
      const f16 = device.features.has('shader-f16');
      if (!sameGpuLayout(type, f16)) {
        throw new NotSupportedError(`feed '${name}' is a ${type} GPU buffer; Kiln's GPU storage of ${type} differs from ONNX Runtime's, so only float32, int32, uint32 (and float16 with shader-f16) GPU buffers can be fed`, name);
      }
      return new GpuTensor(device, type, t.dims, t.gpuBuffer as GPUBuffer, f16);
    }
    case 'none':
      throw new InputError(`feed '${name}' was disposed`, name);
    default:
      throw new NotSupportedError(`feed '${name}' is on '${t.location}', which Kiln does not support (use 'cpu' or 'gpu-buffer')`, name);
  }
}

/** ORT's data of a Kiln CPU tensor (int64 → BigInt64Array, uint64 → BigUint64Array, float16 → bits, string → string[]). */
function ortData(t: CoreTensor): OrtTensorData {
  if (t.strings) return [...t.strings];
  const d = t.data;
  const big = (v: number): bigint => (Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n);
  switch (t.dtype) {
    case 'int64': return BigInt64Array.from(d, (v) => BigInt.asIntN(64, big(v)));
    case 'uint64': return BigUint64Array.from(d, (v) => BigInt.asUintN(64, big(v)));
    case 'float16': return Uint16Array.from(d, toHalfBits);
    case 'int4': return new Int8Array(packNibbles(d).buffer);
    case 'uint4': return packNibbles(d);
    default: return d;
  }
}

/**
 * Converts an output of a Kiln session to an ORT tensor: a CPU tensor's data as ORT
 * holds it; a GpuTensor stays on the GPU (location 'gpu-buffer', downloaded by
 * `getData()`, freed by `dispose()`) when its layout is ORT's, and is downloaded otherwise.
 *
 * @param t the Kiln output.
 * @returns the ORT tensor.
 */
export async function fromKilnValue(t: KilnValue): Promise<OrtTensor> {
  if (t instanceof CoreTensor) return new OrtTensor(ortTypeOf(t.dtype, 'output'), ortData(t) as CtorData, t.shape);
  if (!sameGpuLayout(t.dtype, t.f16)) {
    try {
      return await fromKilnValue(await t.download());
    } finally {
      t.destroy();
    }
  }
  return new OrtTensor({
    location: 'gpu-buffer', type: t.dtype, dims: t.shape, gpuBuffer: t.buffer,
    download: async () => ortData(await t.download()),
    dispose: () => t.destroy(),
  });
}
