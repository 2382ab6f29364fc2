/**
 * String tensors through the ops that only move elements (Transpose, Gather, Concat,
 * Slice, Expand, Tile, Split, Where, ...): such an op, marked with the
 * {@link MOVES_ELEMENTS} trait naming its data inputs, is inferred and run on int64
 * *index* tensors standing in for its string inputs — element i of the k-th string
 * input becomes its position in the inputs' strings laid end to end — and the
 * indices it outputs are read back as those strings. So each such op stays defined
 * once, for numbers, and carries strings exactly.
 */
import { DTypeError } from './errors.js';
import { getTrait, traitKey, type InferInput, type OpDef, type TraitKey, type ValueType } from './op.js';
import { Tensor } from './tensor.js';

/** Trait: the op's outputs are elements of these inputs (input indices; 'all' for every input, as Concat), moved but not computed. */
export const MOVES_ELEMENTS: TraitKey<readonly number[] | 'all'> = traitKey<readonly number[] | 'all'>('graph.movesElements');

function dataInputs(def: OpDef, n: number): readonly number[] | undefined {
  const t = getTrait(def, MOVES_ELEMENTS);
  if (t === undefined) return undefined;
  return t === 'all' ? Array.from({ length: n }, (_, i) => i) : t;
}

/**
 * The input types to infer with when a data input of an element-moving op is a
 * string tensor (those become int64; all data inputs must then be strings), or
 * undefined when no proxy is needed.
 */
export function stringProxyTypes(def: OpDef, inputs: readonly (InferInput | undefined)[], node: string): (InferInput | undefined)[] | undefined {
  const data = dataInputs(def, inputs.length);
  if (!data || !data.some((i) => inputs[i]?.dtype === 'string')) return undefined;
  for (const i of data) {
    if (inputs[i] && inputs[i]!.dtype !== 'string') throw new DTypeError(`${node}: ${def.name} mixes string and ${inputs[i]!.dtype} inputs`, node);
  }
  return inputs.map((t, i) => (t && data.includes(i) ? { ...t, dtype: 'int64', value: undefined } : t));
}

/** The output types of a proxied op: its (int64) data outputs are strings. */
export function stringProxyOutputs(out: readonly ValueType[]): ValueType[] {
  return out.map((t) => (t.dtype === 'int64' ? { ...t, dtype: 'string' } : t));
}

/**
 * Runs an element-moving op on string inputs through index tensors (see the module
 * comment); undefined when no proxy is needed.
 */
export function runStringProxy(def: OpDef, inputs: readonly (Tensor | undefined)[], run: (inputs: readonly (Tensor | undefined)[]) => Tensor[]): Tensor[] | undefined {
  const data = dataInputs(def, inputs.length);
  if (!data || !data.some((i) => inputs[i]?.strings)) return undefined;
  const pool: string[] = [];
  const proxied = inputs.map((t, i) => {
    if (!t || !data.includes(i) || !t.strings) return t;
    const base = pool.length;
    pool.push(...t.strings);
    return Tensor.from('int64', t.shape, t.strings.map((_, k) => base + k));
  });
  return run(proxied).map((o) => (o.dtype === 'int64' ? Tensor.fromStrings(o.shape, Array.from(o.data, (v) => pool[v]!)) : o));
}
