/**
 * TensorFlow Serving's REST predict API: `{ "instances": [...] }` (row format: one
 * entry per batch row, a nested list for a one-input model or an object of input
 * name → nested list) answered with `{ "predictions": [...] }`, and
 * `{ "inputs": ... }` (columnar: a nested list or an object of input name → nested
 * list, batch dim included) answered with `{ "outputs": ... }`. Element types come from
 * the model's inputs.
 */
import type { Tensor } from '../graph/tensor.js';
import { flattenNested, tensorFromJson, tensorToNested } from './codec.js';
import { BadRequestError } from './errors.js';
import { checkFeedsFor } from './feeds.js';
import type { ModelVersion } from './repository.js';

/** True for a plain JSON object. */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A tensor for model input `name` from nested lists (`lead`: a dim put in front of the nested shape). */
function inputTensor(mv: ModelVersion, name: string, value: unknown, lead?: number): Tensor {
  const input = mv.inputs.find((i) => i.name === name);
  if (!input) throw new BadRequestError(`model '${mv.name}' has no input '${name}' (inputs: ${mv.inputs.map((i) => i.name).join(', ')})`, name);
  const what = `input '${name}'`;
  const { values, shape } = flattenNested(value, what);
  return tensorFromJson(input.dtype, lead === undefined ? shape : [lead, ...shape.slice(1)], values, what);
}

/** Splits a named value into one entry per input (a bare value belongs to the only input). */
function named(mv: ModelVersion, value: unknown, what: string): Map<string, unknown> {
  if (isObject(value)) return new Map(Object.entries(value));
  if (mv.inputs.length !== 1) throw new BadRequestError(`${what}: the model has ${mv.inputs.length} inputs, so name them ({ "${mv.inputs[0]?.name ?? 'input'}": ... })`);
  return new Map([[mv.inputs[0]!.name, value]]);
}

/** Answers a predict request body on a model version. */
export async function predictTf(mv: ModelVersion, body: unknown): Promise<Record<string, unknown>> {
  if (!isObject(body)) throw new BadRequestError('the request must be a JSON object');
  const hasInstances = body.instances !== undefined;
  const hasInputs = body.inputs !== undefined;
  if (hasInstances === hasInputs) throw new BadRequestError("the request needs exactly one of 'instances' (row format) or 'inputs' (columnar format)");
  const tensors = new Map<string, Tensor>();
  if (hasInstances) {
    const rows = body.instances;
    if (!Array.isArray(rows) || rows.length === 0) throw new BadRequestError("'instances' must be a non-empty list");
    const perInput = new Map<string, unknown[]>();
    rows.forEach((row, r) => {
      for (const [name, v] of named(mv, row, `instances[${r}]`)) {
        if (r > 0 && !perInput.has(name)) throw new BadRequestError(`instances[${r}] names input '${name}' that instances[0] does not`, name);
        perInput.set(name, [...(perInput.get(name) ?? []), v]);
      }
    });
    for (const [name, vs] of perInput) {
      if (vs.length !== rows.length) throw new BadRequestError(`input '${name}' is missing from some instances`, name);
      tensors.set(name, inputTensor(mv, name, vs, rows.length));
    }
  } else {
    for (const [name, v] of named(mv, body.inputs, "'inputs'")) tensors.set(name, inputTensor(mv, name, v));
  }
  const out = await mv.infer(checkFeedsFor(mv, tensors));
  const names = mv.outputs.map((o) => o.name);
  if (hasInputs) {
    if (names.length === 1) return { outputs: tensorToNested(out[names[0]!]!) };
    return { outputs: Object.fromEntries(names.map((n) => [n, tensorToNested(out[n]!)])) };
  }
  const rowsOf = (t: Tensor): unknown[] => {
    const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: t.shape[0] ?? 1 }, (_, r) => tensorToNested(t, r * per, t.shape.slice(1)));
  };
  if (names.length === 1) return { predictions: rowsOf(out[names[0]!]!) };
  const cols = names.map((n) => [n, rowsOf(out[n]!)] as const);
  const n = cols[0]![1].length;
  return { predictions: Array.from({ length: n }, (_, r) => Object.fromEntries(cols.map(([name, rs]) => [name, rs[r]]))) };
}
