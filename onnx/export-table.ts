/**
 * The Kiln → ONNX opset-17 table: the inverse of the importer's migrations. Registry
 * ops accept both the old attribute and the new input form of some operands; the
 * exporter writes what opset 17 requires. Each rule is data: attributes that must
 * become constant inputs, constant inputs that must become attributes, attributes
 * to leave out, a rename, or (Upsample) a custom rewrite.
 */
import type { AttrValue } from '../src/graph/attrs.js';
import type { DType } from '../src/graph/dtype.js';
import type { Node } from '../src/graph/graph.js';
import type { ValueType } from '../src/graph/op.js';
import { Tensor, tensorInts } from '../src/graph/tensor.js';

/** A node as it is written out. */
export type ExportNode = Node;

/** Dtype of a constant made from an attribute: fixed, or that of the node's first input. */
type ConstDType = DType | 'like-input-0';

interface AttrToInput {
  readonly attr: string;
  readonly index: number;
  readonly dtype: ConstDType;
  /** Write a scalar (rank 0) instead of a 1-D tensor. */
  readonly scalar?: boolean;
}

/** One export rule. */
interface ExportRule {
  readonly op: string;
  /** Op type to write instead. */
  readonly as?: string;
  readonly toInput?: readonly AttrToInput[];
  /** Constant inputs that opset 17 takes as an (ints) attribute. */
  readonly toAttr?: readonly { readonly index: number; readonly attr: string }[];
  /** Attributes left out when they hold this value (newer-opset attributes at their default). */
  readonly dropIfEqual?: Readonly<Record<string, AttrValue>>;
  /** Attributes always left out (legacy, ignored by the registry op). */
  readonly drop?: readonly string[];
  /** A custom rewrite. */
  readonly rewrite?: (n: Node, ctx: LowerContext) => Node;
}

/** What a rule may use: the types of values and a way to add constants. */
export interface LowerContext {
  typeOf(v: string): ValueType | undefined;
  constant(t: Tensor, hint: string): string;
  valueOf(v: string): Tensor | undefined;
}

const ints = (attr: string, index: number): AttrToInput => ({ attr, index, dtype: 'int64' });
const reduceToAttr = { toAttr: [{ index: 1, attr: 'axes' }], dropIfEqual: { noop_with_empty_axes: 0 } };

/** Upsample is not in opset 17: Resize with asymmetric coordinates and floor rounding. */
function upsampleToResize(n: Node, ctx: LowerContext): Node {
  const { scales, mode, height_scale: _h, width_scale: _w, ...rest } = n.attrs;
  const m = mode === 'bilinear' ? 'linear' : (mode as string | undefined) ?? 'nearest';
  const s = scales !== undefined ? ctx.constant(Tensor.from('float32', [(scales as number[]).length], scales as number[]), `${n.name}_scales`) : n.inputs[1] ?? '';
  return {
    ...n,
    op: 'Resize',
    inputs: [n.inputs[0]!, '', s],
    attrs: { ...rest, mode: m, coordinate_transformation_mode: 'asymmetric', ...(m === 'nearest' ? { nearest_mode: 'floor' } : {}) },
  };
}

const REDUCE_WITH_ATTR = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

/** The rules, by registry op name. */
export const EXPORT_RULES: readonly ExportRule[] = [
  { op: 'Squeeze', toInput: [ints('axes', 1)] },
  { op: 'Unsqueeze', toInput: [ints('axes', 1)] },
  { op: 'ReduceSum', toInput: [ints('axes', 1)] },
  ...REDUCE_WITH_ATTR.map((op): ExportRule => ({ op, ...reduceToAttr })),
  { op: 'Split', toInput: [ints('split', 1)], drop: ['num_outputs'] },
  { op: 'Clip', toInput: [{ attr: 'min', index: 1, dtype: 'like-input-0', scalar: true }, { attr: 'max', index: 2, dtype: 'like-input-0', scalar: true }] },
  { op: 'Pad', toInput: [ints('pads', 1), { attr: 'value', index: 2, dtype: 'like-input-0', scalar: true }] },
  { op: 'Slice', toInput: [ints('starts', 1), ints('ends', 2), ints('axes', 3)] },
  { op: 'TopK', toInput: [ints('k', 1)] },
  { op: 'Reshape', toInput: [ints('shape', 1)] },
  { op: 'Dropout', toInput: [{ attr: 'ratio', index: 1, dtype: 'float32', scalar: true }], drop: ['is_test'] },
  { op: 'BatchNormalization', drop: ['spatial', 'is_test', 'consumed_inputs'] },
  { op: 'Gemm', drop: ['broadcast'] },
  { op: 'Resize', dropIfEqual: { antialias: 0, keep_aspect_ratio_policy: 'stretch' } },
  { op: 'Cast', dropIfEqual: { saturate: 1 } },
  { op: 'CastLike', dropIfEqual: { saturate: 1 } },
  { op: 'Scatter', as: 'ScatterElements' },
  { op: 'Upsample', rewrite: upsampleToResize },
];

const BY_OP = new Map(EXPORT_RULES.map((r) => [r.op, r]));

function equal(a: AttrValue, b: AttrValue): boolean {
  return a === b || (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]));
}

function applyRule(r: ExportRule, n: Node, ctx: LowerContext): Node {
  if (r.rewrite) return r.rewrite(n, ctx);
  const attrs: Record<string, AttrValue> = {};
  for (const [k, v] of Object.entries(n.attrs)) {
    if (r.drop?.includes(k)) continue;
    const d = r.dropIfEqual?.[k];
    if (d !== undefined && equal(d, v)) continue;
    attrs[k] = v;
  }
  const inputs = [...n.inputs];
  for (const m of r.toInput ?? []) {
    const v = attrs[m.attr];
    if (v === undefined) continue;
    delete attrs[m.attr];
    if (inputs[m.index]) continue;
    const vals = Array.isArray(v) ? (v as number[]) : [v as number];
    const dtype = m.dtype === 'like-input-0' ? ctx.typeOf(n.inputs[0]!)?.dtype ?? 'float32' : m.dtype;
    while (inputs.length < m.index) inputs.push('');
    inputs[m.index] = ctx.constant(Tensor.from(dtype, m.scalar ? [] : [vals.length], vals), `${n.name}_${m.attr}`);
  }
  for (const m of r.toAttr ?? []) {
    const name = inputs[m.index];
    const value = name ? ctx.valueOf(name) : undefined;
    if (!value) continue;
    attrs[m.attr] = tensorInts(value);
    inputs[m.index] = '';
  }
  while (inputs.length && inputs[inputs.length - 1] === '') inputs.pop();
  return { ...n, op: r.as ?? n.op, inputs, attrs };
}

/**
 * Rewrites nodes into their opset-17 form. New constants are added to
 * `initializers`; `typeOf` gives the types of values.
 */
export function lowerForExport(nodes: readonly Node[], initializers: Map<string, Tensor>, typeOf: (v: string) => ValueType | undefined): Node[] {
  const taken = new Set<string>(initializers.keys());
  for (const n of nodes) for (const v of [...n.inputs, ...n.outputs]) taken.add(v);
  const constValues = new Map<string, Tensor>();
  for (const n of nodes) {
    const v = n.op === 'Constant' ? n.attrs.value : undefined;
    if (v instanceof Tensor && n.outputs[0]) constValues.set(n.outputs[0], v);
  }
  const ctx: LowerContext = {
    typeOf,
    valueOf: (v) => initializers.get(v) ?? constValues.get(v),
    constant(t, hint) {
      let name = hint;
      for (let k = 1; taken.has(name); k++) name = `${hint}_${k}`;
      taken.add(name);
      initializers.set(name, t);
      return name;
    },
  };
  return nodes.map((n) => {
    const r = n.domain === '' ? BY_OP.get(n.op) : undefined;
    return r ? applyRule(r, n, ctx) : n;
  });
}
