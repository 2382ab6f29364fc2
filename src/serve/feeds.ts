/** Checking decoded request tensors against a model version's inputs (both protocols). */
import type { DType } from '../graph/dtype.js';
import type { Tensor } from '../graph/tensor.js';
import { wireDatatype, wireShape } from './codec.js';
import { BadRequestError } from './errors.js';
import type { ModelVersion } from './repository.js';

/** Checks request tensors against a model's inputs and returns the feeds (shared by both protocols). */
export function checkFeedsFor(mv: ModelVersion, tensors: ReadonlyMap<string, Tensor>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const [name] of tensors) {
    if (!mv.inputs.some((i) => i.name === name)) throw new BadRequestError(`model '${mv.name}' has no input '${name}' (inputs: ${mv.inputs.map((i) => i.name).join(', ')})`, name);
  }
  for (const i of mv.inputs) {
    const t = tensors.get(i.name);
    if (!t) throw new BadRequestError(`missing input '${i.name}' (${wireDatatype(i.dtype)} ${JSON.stringify(wireShape(i.shape))})`, i.name);
    if (t.dtype !== i.dtype) throw new BadRequestError(`input '${i.name}': datatype ${wireDatatype(t.dtype)} given, the model takes ${wireDatatype(i.dtype)}`, i.name);
    const want = i.shape;
    const ok = t.shape.length === want.length && want.every((d, k) => typeof d !== 'number' || d === t.shape[k]);
    if (!ok) throw new BadRequestError(`input '${i.name}': shape ${JSON.stringify(t.shape)} given, the model takes ${JSON.stringify(wireShape(want))}`, i.name);
    feeds[i.name] = t;
  }
  return feeds;
}

/** The dtype of a model input, for decoders. */
export function inputDType(mv: ModelVersion, name: string): DType | undefined {
  return mv.inputs.find((i) => i.name === name)?.dtype;
}
