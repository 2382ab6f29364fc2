/**
 * Test helpers for the ONNX tests: running exported model bytes with
 * onnxruntime-node (CPU) on Kiln tensors, and the paths of the shared models.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { fromHalfBits, toHalfBits, type DType } from '../src/graph/dtype.js';
import { Tensor } from '../src/graph/tensor.js';
import { onnx, type pb } from '../onnx/proto.js';

/** Repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The shared models directory (`../shared/models`). */
export const SHARED_MODELS = path.resolve(REPO_ROOT, '../shared/models');
/** Names of the shared models. */
export const SHARED_MODEL_NAMES = ['resnet18', 'mobilenet_v2', 'squeezenet1_1', 'bert_tiny', 'bert_tiny_opset13', 'gpt2_tiny', 'gpt2_tiny_opset13'] as const;

function toOrt(t: Tensor): ort.Tensor {
  const dims = [...t.shape];
  const d = t.dtype as DType;
  if (t.strings) return new ort.Tensor('string', [...t.strings], dims);
  if (d === 'int64') return new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), dims);
  if (d === 'uint64') return new ort.Tensor('uint64', BigUint64Array.from(t.data, (v) => BigInt(v)), dims);
  if (d === 'bool') return new ort.Tensor('bool', Uint8Array.from(t.data), dims);
  if (d === 'float16') return new ort.Tensor('float16', Uint16Array.from(t.data, (v) => toHalfBits(v)), dims);
  return new ort.Tensor(d as 'float32', t.data as Float32Array, dims);
}

const ORT_DTYPE: Readonly<Record<string, DType>> = {
  float32: 'float32', float64: 'float64', int8: 'int8', uint8: 'uint8', int16: 'int16', uint16: 'uint16',
  int32: 'int32', uint32: 'uint32', int64: 'int64', uint64: 'uint64', bool: 'bool', float16: 'float16',
};

function fromOrt(t: ort.Tensor): Tensor {
  if (t.type === 'string') return Tensor.fromStrings(t.dims.map(Number), t.data as string[]);
  const dtype = ORT_DTYPE[t.type];
  if (!dtype) throw new Error(`onnxruntime returned unsupported type ${t.type}`);
  const data = t.data as ArrayLike<number | bigint | boolean>;
  const values = dtype === 'float16' ? Array.from(data as ArrayLike<number>, (v) => fromHalfBits(v)) : data;
  return Tensor.from(dtype, t.dims.map(Number), values);
}

/** Runs ONNX model bytes with onnxruntime-node on Kiln feeds; returns Kiln tensors by output name. */
export async function runOrt(model: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  try {
    const input: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) input[k] = toOrt(t);
    const out = await session.run(input);
    const result: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(out)) result[k] = fromOrt(t);
    return result;
  } finally {
    await session.release();
  }
}

/** A ValueInfoProto for a tensor (`null` dims are left unknown). */
export function vi(name: string, elemType: number, dims: readonly (number | string | null)[]): pb.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (d === null ? {} : typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Serializes a model (IR 8) with the given graph parts and default-domain opset. */
export function model(parts: pb.IGraphProto, opset = 17): Uint8Array {
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: opset }], graph: { name: 'g', ...parts } }).finish();
}
