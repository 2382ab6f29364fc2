/**
 * The ONNX protobuf classes from `onnx-proto` (protobufjs 6), re-exported for ESM.
 * The package is CommonJS, so its namespace value is reached through the default
 * import; `pb` is the same namespace for type positions (`pb.ITensorProto`).
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxNs } from 'onnx-proto';

/** The `onnx` protobuf namespace (ModelProto, TensorProto, ...), as a value. */
export const onnx: typeof OnnxNs = (onnxProto as unknown as { onnx: typeof OnnxNs }).onnx;
export type { onnx as pb } from 'onnx-proto';
