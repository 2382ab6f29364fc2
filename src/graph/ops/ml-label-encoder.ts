/**
 * Op family: ai.onnx.ml LabelEncoder (opset 2 and 4): maps each element through a
 * table of keys to values — strings, int64s or floats given as lists (`keys_*`,
 * `values_*`, opset 2) or as tensors (`keys_tensor`, `values_tensor`, opset 4) —
 * and elements not among the keys to the default (`default_*` or
 * `default_tensor`; "_Unused", -1 or -0 by the values' type). Float keys match
 * NaN to NaN.
 */
import { attr } from '../attrs.js';
import { isFloat, isInteger, type DType } from '../dtype.js';
import { AttributeError, DTypeError } from '../errors.js';
import { defineOp, type ValueType } from '../op.js';
import { Tensor } from '../tensor.js';

type Table = { readonly dtype: DType; readonly items: readonly (string | number)[] };

interface LabelAttrs {
  readonly keys_strings: readonly string[] | undefined;
  readonly keys_int64s: readonly number[] | undefined;
  readonly keys_floats: readonly number[] | undefined;
  readonly keys_tensor: Tensor | undefined;
  readonly values_strings: readonly string[] | undefined;
  readonly values_int64s: readonly number[] | undefined;
  readonly values_floats: readonly number[] | undefined;
  readonly values_tensor: Tensor | undefined;
  readonly default_string: string;
  readonly default_int64: number;
  readonly default_float: number;
  readonly default_tensor: Tensor | undefined;
}

function items(t: Tensor): (string | number)[] {
  return t.strings ? [...t.strings] : t.toArray();
}

/** The one table of `kind` (keys or values) the attributes give, or an AttributeError naming the node. */
function table(a: LabelAttrs, kind: 'keys' | 'values', node: string): Table {
  const given: Table[] = [];
  const s = a[`${kind}_strings`];
  const i = a[`${kind}_int64s`];
  const f = a[`${kind}_floats`];
  const t = a[`${kind}_tensor`];
  if (s) given.push({ dtype: 'string', items: s });
  if (i) given.push({ dtype: 'int64', items: i });
  if (f) given.push({ dtype: 'float32', items: f.map((v) => Math.fround(v)) });
  if (t) given.push({ dtype: t.dtype, items: items(t) });
  if (given.length !== 1) throw new AttributeError(`${node}: LabelEncoder needs exactly one of ${kind}_strings, ${kind}_int64s, ${kind}_floats, ${kind}_tensor (got ${given.length})`, node);
  return given[0]!;
}

/** The default value for elements not among the keys. */
function defaultOf(a: LabelAttrs, values: Table, node: string): string | number {
  if (a.default_tensor) {
    const d = items(a.default_tensor);
    if (d.length !== 1 || a.default_tensor.dtype !== values.dtype) {
      throw new AttributeError(`${node}: LabelEncoder default_tensor must hold one ${values.dtype} value`, node);
    }
    return d[0]!;
  }
  return values.dtype === 'string' ? a.default_string : isFloat(values.dtype) ? a.default_float : a.default_int64;
}

/** True when an input of dtype `x` can be looked up among keys of dtype `k`. */
function keysFit(x: DType, k: DType): boolean {
  return x === k || (isInteger(x) && isInteger(k)) || (isFloat(x) && isFloat(k));
}

/** LabelEncoder (ai.onnx.ml): maps elements through a key → value table, with a default. */
export const LabelEncoder = defineOp({
  name: 'LabelEncoder',
  domain: 'ai.onnx.ml',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {
    keys_strings: attr.optStrings(), keys_int64s: attr.optInts(), keys_floats: attr.optFloats(), keys_tensor: attr.optTensor(),
    values_strings: attr.optStrings(), values_int64s: attr.optInts(), values_floats: attr.optFloats(), values_tensor: attr.optTensor(),
    default_string: attr.string('_Unused'), default_int64: attr.int(-1), default_float: attr.float(-0), default_tensor: attr.optTensor(),
  },
  category: 'opaque',
  doc: 'Maps each element through a table of keys to values (strings, integers or floats).',
  infer([x], ctx): ValueType[] {
    const keys = table(ctx.attrs, 'keys', ctx.node);
    const values = table(ctx.attrs, 'values', ctx.node);
    if (keys.items.length !== values.items.length) {
      throw new AttributeError(`${ctx.node}: LabelEncoder has ${keys.items.length} keys but ${values.items.length} values`, ctx.node);
    }
    if (!keysFit(x!.dtype, keys.dtype)) throw new DTypeError(`${ctx.node}: LabelEncoder input has dtype ${x!.dtype} but its keys are ${keys.dtype}`, ctx.node);
    defaultOf(ctx.attrs, values, ctx.node);
    return [{ dtype: values.dtype, shape: x!.shape }];
  },
  cpu([x], ctx) {
    const keys = table(ctx.attrs, 'keys', ctx.node);
    const values = table(ctx.attrs, 'values', ctx.node);
    const def = defaultOf(ctx.attrs, values, ctx.node);
    const map = new Map<string | number, string | number>();
    const roundKey = x!.dtype === 'float32' ? Math.fround : (v: number): number => v;
    keys.items.forEach((k, i) => { if (!map.has(typeof k === 'number' ? roundKey(k) : k)) map.set(typeof k === 'number' ? roundKey(k) : k, values.items[i]!); });
    const out = items(x!).map((v) => map.get(v) ?? def);
    return [values.dtype === 'string' ? Tensor.fromStrings(x!.shape, out as string[]) : Tensor.from(values.dtype, x!.shape, out as number[])];
  },
});

/** The ai.onnx.ml LabelEncoder, by handle. */
export const labelEncoderOps = { LabelEncoder } as const;
