/**
 * Kiln's public entry point, for Node and the browser alike.
 *
 * - Sessions in ONNX Runtime Web's style: {@link InferenceSession}, {@link Tensor}.
 * - The builder API ({@link GraphBuilder}) and layers, to define graphs in code.
 * - ONNX interchange: {@link fromOnnx} and {@link toOnnx}.
 * - Typed errors, all subclasses of {@link KilnError}.
 *
 * Nothing exported here imports Node-only modules statically: Node's `fs` and the
 * `webgpu` (Dawn) package are reached only through dynamic imports that bundlers
 * (esbuild, Vite) leave alone, so a browser bundle of this module never contains them.
 *
 * @module
 */
import type { Graph } from './graph/graph.js';
import { exportModel, type ExportOptions } from '../onnx/export.js';
import { importModel, type ImportOptions } from '../onnx/import.js';

export {
  InferenceSession,
  type BackendName,
  type SessionOptions,
  type SessionRunOptions,
  type ValueMetadata,
} from './session/inference-session.js';
export { Tensor, type TensorDataLike } from './session/tensor.js';
export { loadModelBytes, type ModelSource } from './session/load.js';
export { GraphBuilder, Sym, type ApplyOptions } from './graph/builder.js';
export { Graph, type Node, type ValueInfo } from './graph/graph.js';
export type { DType } from './graph/dtype.js';
export type { Dim, Shape } from './graph/shape.js';
export { GpuTensor } from './backends/webgpu/gpu-tensor.js';
/** Layers for the builder: `layers.dense(16, { activation: 'relu' })(builder, x)`. */
export * as layers from './graph/layers.js';
export type { Activation, Conv2dOptions, DenseOptions, Layer } from './graph/layers.js';
export {
  AttributeError,
  DeviceLostError,
  DTypeError,
  DynamicRankError,
  ExecutionError,
  GraphError,
  InputError,
  KilnError,
  LimitError,
  ModelFormatError,
  ShapeError,
  UnsupportedOpError,
} from './graph/errors.js';
export { GpuUnavailableError } from './backends/webgpu/device.js';

/**
 * Parses an ONNX model (the bytes of a `.onnx` file) into a Kiln {@link Graph}.
 * Models with external data need a `baseDir` (Node only).
 *
 * @param bytes the serialized ModelProto.
 * @param opts import options (e.g. `baseDir` for external data).
 * @returns the imported graph.
 * @throws {ModelFormatError} when the bytes are not a valid model.
 * @throws {UnsupportedOpError} listing every unsupported op.
 */
export function fromOnnx(bytes: Uint8Array | ArrayBuffer, opts: ImportOptions = {}): Graph {
  return importModel(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), opts);
}

/**
 * Serializes a Kiln {@link Graph} as an ONNX model (opset 17 unless a node has no
 * opset-17 form); fused ops are expanded back into standard ONNX ops, and ops newer
 * than the declared opset (Gelu) are written decomposed.
 *
 * @param graph the graph to export.
 * @param opts export options.
 * @returns the bytes of a `.onnx` file.
 * @throws {GraphError} when a node cannot be expressed in ONNX.
 */
export function toOnnx(graph: Graph, opts: ExportOptions = {}): Uint8Array {
  return exportModel(graph, opts);
}
