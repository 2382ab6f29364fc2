/**
 * ONNX Runtime's global settings object (`ort.env`) on Kiln, typed as onnxruntime-common's
 * `Env`. Kiln has no WebGL or log levels to set, so most settings are accepted and
 * ignored (programs that configure them keep working), except:
 *
 * - `env.wasm.numThreads`: the wasm backend's threads for sessions created after it is
 *   set (0 or unset: the machine's cores; 1: one thread), as in ONNX Runtime Web.
 *
 * - `env.webgpu.device` resolves to the GPU device Kiln's WebGPU sessions use by default,
 *   so ORT's pattern of creating GPU buffers on it and feeding them with
 *   `Tensor.fromGpuBuffer` works. Setting it throws a {@link NotSupportedError}: give a
 *   device to a session with `executionProviders: [{ name: 'webgpu', device }]`.
 * - `env.webgpu.adapter` and `env.webgl.context` throw a {@link NotSupportedError}.
 */
import { NotSupportedError, type TryGetGlobalType } from './ort-tensor.js';

/** The onnxruntime-common API version Kiln's ORT entry follows (`env.versions.common`). */
export const ORT_API_VERSION = '1.30.0';

/** ORT's `Env.WebAssemblyFlags` (Kiln reads `numThreads`; the rest is ignored). */
export interface OrtWasmFlags {
  /** Threads of the wasm backend's sessions created after it is set (0 or unset: the machine's cores). */
  numThreads?: number;
  simd?: boolean | 'fixed' | 'relaxed';
  trace?: boolean;
  initTimeout?: number;
  wasmPaths?: string | { wasm?: URL | string; mjs?: URL | string };
  wasmBinary?: ArrayBufferLike | Uint8Array;
  proxy?: boolean;
}

/** ORT's `Env.WebGLFlags` (ignored by Kiln; `context` throws). */
export interface OrtWebGLFlags {
  contextId?: 'webgl' | 'webgl2';
  readonly context: WebGLRenderingContext;
  matmulMaxBatchSize?: number;
  textureCacheMode?: 'initializerOnly' | 'full';
  pack?: boolean;
  async?: boolean;
}

/** ORT's `Env.WebGpuProfilingData` (Kiln never calls `ondata`). */
export interface OrtWebGpuProfilingData {
  version: 1;
  inputsMetadata: readonly { dims: readonly number[]; dataType: string }[];
  outputsMetadata: readonly { dims: readonly number[]; dataType: string }[];
  kernelId: number;
  kernelType: string;
  kernelName: string;
  programName: string;
  startTime: number;
  endTime: number;
}

/** ORT's `Env.WebGpuFlags`: `device` resolves to Kiln's default device; the rest is ignored. */
export interface OrtWebGpuFlags {
  profilingMode?: 'off' | 'default';
  profiling: { mode?: 'off' | 'default'; ondata?: (data: OrtWebGpuProfilingData) => void };
  powerPreference?: 'low-power' | 'high-performance';
  forceFallbackAdapter?: boolean;
  adapter: TryGetGlobalType<'GPUAdapter'>;
  get device(): Promise<TryGetGlobalType<'GPUDevice'>>;
  set device(value: TryGetGlobalType<'GPUDevice'>);
  validateInputContent?: boolean;
}

/** ORT's `Env`. */
export interface OrtEnv {
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
  debug?: boolean;
  trace?: boolean;
  readonly versions: { readonly common: string; readonly web?: string; readonly node?: string; readonly 'react-native'?: string };
  readonly wasm: OrtWasmFlags;
  readonly webgl: OrtWebGLFlags;
  readonly webgpu: OrtWebGpuFlags;
  [name: string]: unknown;
}

/** Kiln's default GPU device (the WebGPU backend is loaded on first use). */
async function defaultGpuDevice(): Promise<GPUDevice> {
  const { defaultDevice } = await import('../backends/webgpu/index.js');
  return defaultDevice();
}

const webgl: OrtWebGLFlags = {
  get context(): never {
    throw new NotSupportedError('env.webgl.context: Kiln has no WebGL backend');
  },
};

const webgpu: OrtWebGpuFlags = {
  profiling: {},
  get adapter(): never {
    throw new NotSupportedError('env.webgpu.adapter: Kiln does not expose its adapter (await env.webgpu.device for its device)');
  },
  set adapter(_value: GPUAdapter) {
    throw new NotSupportedError('env.webgpu.adapter cannot be set in Kiln: give a session its device with executionProviders: [{ name: \'webgpu\', device }]');
  },
  get device(): Promise<GPUDevice> {
    return defaultGpuDevice();
  },
  set device(_value: GPUDevice) {
    throw new NotSupportedError('env.webgpu.device cannot be set in Kiln: give a session its device with executionProviders: [{ name: \'webgpu\', device }]');
  },
};

/** ONNX Runtime's `ort.env` on Kiln (see the module docs). */
export const env: OrtEnv = { versions: { common: ORT_API_VERSION }, wasm: {}, webgl, webgpu, logLevel: 'warning', debug: false };
