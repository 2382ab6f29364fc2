/**
 * ONNX Runtime's module shape on Kiln: what `import * as ort from 'onnxruntime-node'`
 * (or `onnxruntime-web`, `onnxruntime-common`) gives a program, served by Kiln. Code
 * written for ONNX Runtime runs on Kiln when this module stands in for those packages:
 * in Node through the resolution hook `kiln/register-ort` (`node --import kiln/register-ort app.js`),
 * in a browser bundle through the bundler's alias (`resolve.alias` of esbuild or Vite:
 * `'onnxruntime-web': 'kiln/ort'`; the subpaths a package may import, `onnxruntime-web/wasm`,
 * `/webgpu`, `/all`, `/webgl`, become `kiln/ort/wasm` …, which package.json exports as this module too).
 * The types are onnxruntime-common's (test/types/ort-parity.ts checks that they are
 * assignable), and test/ort-parity.test.ts runs one script on both and compares.
 *
 * - {@link InferenceSession}`.create(model, options)` (src/session/ort-session.ts): a path,
 *   URL, Uint8Array or ArrayBuffer (with byte offset and length), ORT's session options,
 *   `run(feeds, fetches?, options?)`, `inputNames`/`outputNames`, `inputMetadata`/`outputMetadata`,
 *   `release()`. The Kiln session behind it is `session.kiln`.
 * - Sessions created without a backend or execution provider use the backend named by
 *   the environment variable `KILN_BACKEND` ('webgpu' | 'cpu' | 'auto'), read at each
 *   create, else 'auto' (WebGPU where an adapter exists, else the CPU).
 * - {@link Tensor} (src/session/ort-tensor.ts): every constructor form of ORT's, data as
 *   ORT holds it (int64 in a BigInt64Array, float16 bits in a Uint16Array, strings),
 *   `location`, `getData()`, `dispose()`, `reshape()`, `Tensor.fromGpuBuffer`.
 * - {@link env} (src/session/ort-env.ts): ORT's settings object, accepted and ignored,
 *   except `await env.webgpu.device`, Kiln's GPU device, and `env.wasm.numThreads`,
 *   the wasm backend's threads.
 *
 * The rest of Kiln's public API is exported too; its own `Tensor` and `InferenceSession`
 * are under the names `KilnTensor` and `KilnInferenceSession` here.
 *
 * @module
 */
export * from './index.js';
export { InferenceSession as KilnInferenceSession, Tensor as KilnTensor } from './index.js';
export { OrtInferenceSession as InferenceSession } from './session/ort-session.js';
export type {
  OrtExecutionProvider, OrtExternalData, OrtFeeds, OrtFetches, OrtFileType, OrtResults, OrtRunOptions, OrtSessionOptions, OrtValueMetadata,
} from './session/ort-session.js';
export { NotSupportedError, OrtTensor, Tensor } from './session/ort-tensor.js';
export type {
  OrtDataLocation, OrtDataTypeMap, OrtGpuBufferDataType, OrtGpuBufferOptions, OrtTensorConstructor, OrtTensorData, OrtTensorLike, OrtTensorType, TypedOrtTensor,
} from './session/ort-tensor.js';
export { env, ORT_API_VERSION } from './session/ort-env.js';
export type { OrtEnv, OrtWasmFlags, OrtWebGLFlags, OrtWebGpuFlags } from './session/ort-env.js';
