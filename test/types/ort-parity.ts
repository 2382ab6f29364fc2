/**
 * Type test (compiled by `tsc --noEmit` in `npm test`, never run): Kiln's ORT entry
 * (src/ort.ts) is assignable to onnxruntime-common's declarations, so a program typed
 * against ONNX Runtime compiles unchanged on Kiln. No `any`, no casts: each line below
 * fails to compile if Kiln's types drift from ORT's.
 *
 * Function-typed bindings (`const f: (…) => … = kiln.member`) are checked with
 * strictFunctionTypes (parameters contravariant), which method assignability is not.
 */
import type * as ortCommon from 'onnxruntime-common';
import * as kilnOrt from '../../src/ort.js';

type OrtSession = ortCommon.InferenceSession;
type SessionOptions = ortCommon.InferenceSession.SessionOptions;
type RunOptions = ortCommon.InferenceSession.RunOptions;
type Feeds = ortCommon.InferenceSession.FeedsType;
type Fetches = ortCommon.InferenceSession.FetchesType;
type Results = ortCommon.InferenceSession.ReturnType;

// --- The module: InferenceSession factory, Tensor constructor, env. ---
export const factory: ortCommon.InferenceSessionFactory = kilnOrt.InferenceSession;
export const tensorCtor: ortCommon.TensorConstructor = kilnOrt.Tensor;
export const env: ortCommon.Env = kilnOrt.env;

// --- Each create overload, with ORT's option type (contravariant check). ---
export const createFromPath: (uri: string, options?: SessionOptions) => Promise<OrtSession> = kilnOrt.InferenceSession.create;
export const createFromBuffer: (buffer: ArrayBufferLike, options?: SessionOptions) => Promise<OrtSession> = kilnOrt.InferenceSession.create;
export const createFromSlice: (buffer: ArrayBufferLike, byteOffset: number, byteLength?: number, options?: SessionOptions) => Promise<OrtSession> =
  kilnOrt.InferenceSession.create;
export const createFromBytes: (buffer: Uint8Array, options?: SessionOptions) => Promise<OrtSession> = kilnOrt.InferenceSession.create;

// --- The session instance and its members. ---
/** A session created by Kiln is an ORT InferenceSession; each member keeps ORT's signature. */
export async function sessionMembers(model: Uint8Array): Promise<void> {
  const webgpu: ortCommon.InferenceSession.WebGpuExecutionProviderOption = { name: 'webgpu', preferredLayout: 'NCHW' };
  const options: SessionOptions = {
    executionProviders: [webgpu, 'cpu', 'wasm'],
    graphOptimizationLevel: 'all',
    freeDimensionOverrides: { batch: 1 },
    externalData: ['weights.bin', { path: 'w2.bin', data: new Uint8Array(4) }],
    preferredOutputLocation: { y: 'gpu-buffer' },
    logSeverityLevel: 3,
    intraOpNumThreads: 1,
  };
  const s: OrtSession = await kilnOrt.InferenceSession.create(model, options);
  const run1: (feeds: Feeds, options?: RunOptions) => Promise<Results> = s.run.bind(s);
  const run2: (feeds: Feeds, fetches: Fetches, options?: RunOptions) => Promise<Results> = s.run.bind(s);
  const release: () => Promise<void> = s.release.bind(s);
  const names: readonly string[] = s.inputNames.concat(s.outputNames);
  const meta: readonly ortCommon.InferenceSession.ValueMetadata[] = [...s.inputMetadata, ...s.outputMetadata];
  const kilnSession = await kilnOrt.InferenceSession.create('model.onnx');
  const kilnMeta: readonly ortCommon.InferenceSession.ValueMetadata[] = kilnSession.inputMetadata;
  const kilnRun1: (feeds: Feeds, options?: RunOptions) => Promise<Results> = kilnSession.run.bind(kilnSession);
  const kilnRun2: (feeds: Feeds, fetches: Fetches, options?: RunOptions) => Promise<Results> = kilnSession.run.bind(kilnSession);
  const kilnRelease: () => Promise<void> = kilnSession.release.bind(kilnSession);
  const profiling: [() => void, () => void] = [kilnSession.startProfiling.bind(kilnSession), kilnSession.endProfiling.bind(kilnSession)];
  void [run1, run2, release, names, meta, kilnMeta, kilnRun1, kilnRun2, kilnRelease, profiling];
}

// --- Tensor: every constructor form gives an ORT tensor of the right type. ---
/** Kiln's Tensor constructor forms, each assignable to ORT's TypedTensor of the same element type. */
export function tensorForms(buffer: GPUBuffer, someType: ortCommon.Tensor.Type): ortCommon.Tensor[] {
  const T = kilnOrt.Tensor;
  const f32: ortCommon.TypedTensor<'float32'> = new T('float32', new Float32Array(6), [2, 3]);
  const f32list: ortCommon.TypedTensor<'float32'> = new T('float32', [1, 2, 3]);
  const f32data: ortCommon.TypedTensor<'float32'> = new T(new Float32Array(3));
  const i64: ortCommon.TypedTensor<'int64'> = new T('int64', [1n, 2n]);
  const i64nums: ortCommon.TypedTensor<'int64'> = new T('int64', [1, 2]);
  const i64data: ortCommon.TypedTensor<'int64'> = new T(new BigInt64Array(2), [2]);
  const u64: ortCommon.TypedTensor<'uint64'> = new T('uint64', new BigUint64Array(1));
  const bool: ortCommon.TypedTensor<'bool'> = new T('bool', new Uint8Array([1, 0]));
  const boolList: ortCommon.TypedTensor<'bool'> = new T([true, false]);
  const str: ortCommon.TypedTensor<'string'> = new T('string', ['a', 'b']);
  const strList: ortCommon.TypedTensor<'string'> = new T(['a']);
  const u8: ortCommon.TypedTensor<'uint8'> = new T(new Uint8ClampedArray(2));
  const f16: ortCommon.TypedTensor<'float16'> = new T('float16', new Uint16Array(2));
  const i32: ortCommon.TypedTensor<'int32'> = new T(new Int32Array(2), [1, 2]);
  const untyped: ortCommon.Tensor = new T(someType, [1]);
  const gpu: ortCommon.TypedTensor<'float32'> = kilnOrt.Tensor.fromGpuBuffer(buffer, { dims: [4], dataType: 'float32' });
  const pinned: ortCommon.TypedTensor<'int32'> = kilnOrt.Tensor.fromPinnedBuffer('int32', new Int32Array(3));
  const reshaped: ortCommon.TypedTensor<'float32'> = f32.reshape([3, 2]);
  // Members keep ORT's types.
  const data: Float32Array = f32.data;
  const bigData: BigInt64Array = i64.data;
  const dims: readonly number[] = f32.dims;
  const size: number = f32.size;
  const location: ortCommon.Tensor.DataLocation = f32.location;
  const getData: (releaseData?: boolean) => Promise<BigInt64Array> = i64.getData.bind(i64);
  const dispose: () => void = f32.dispose.bind(f32);
  const gpuBuffer: ortCommon.Tensor.GpuBufferType = gpu.gpuBuffer;
  void [data, bigData, dims, size, location, getData, dispose, gpuBuffer];
  return [f32, f32list, f32data, i64, i64nums, i64data, u64, bool, boolList, str, strList, u8, f16, i32, untyped, gpu, pinned, reshaped];
}

// --- A program typed against ONNX Runtime's module compiles when given Kiln's. ---
/** The parts of `import * as ort from 'onnxruntime-common'` a program uses. */
interface OrtModule {
  readonly InferenceSession: ortCommon.InferenceSessionFactory;
  readonly Tensor: ortCommon.TensorConstructor;
  readonly env: ortCommon.Env;
}

/** A small ORT program: configure env, create a session, feed float32 and int64, read int64 back. */
export async function ortProgram(ort: OrtModule, modelPath: string): Promise<bigint> {
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'basic' });
  const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]);
  const ids = new ort.Tensor('int64', BigInt64Array.from([0n, 2n]), [2]);
  const out = await session.run({ x, ids }, [session.outputNames[0]!]);
  const first = out[session.outputNames[0]!]!;
  const data = await first.getData();
  await session.release();
  return typeof data[0] === 'bigint' ? data[0] : 0n;
}

export const kilnAsOrt: Promise<bigint> = ortProgram(kilnOrt, 'model.onnx');
