/**
 * The Kiln → ONNX table: the inverse of the importer's migrations. Registry ops
 * accept both the old attribute and the new input form of some operands; the
 * exporter writes what the declared opset (17 by default, up to 21) requires. Each
 * rule is data: attributes that must become constant inputs, constant inputs that
 * must become attributes, attributes to leave out, a rename, or (Upsample) a custom
 * rewrite, each for a range of opsets.
 *
 * Ops and attribute values newer than the declared opset ({@link NEWER_FORMS}, each
 * with the opset it appeared in) are written decomposed into ops of that opset
 * (Gelu → Div/Erf/Add/Mul, its tanh form likewise; Mish; BitwiseNot;
 * GroupNormalization, also in the scale form another opset uses) or, where nothing
 * older computes the same, make the exporter declare the opset they need
 * ({@link requiredOpset}); a caller that fixed a lower opset gets a GraphError
 * naming the node. GridSample's mode names follow the declared opset (a rule).
 */
import type { AttrValue } from '../src/graph/attrs.js';
import type { DType } from '../src/graph/dtype.js';
import type { Node } from '../src/graph/graph.js';
import { GraphError } from '../src/graph/errors.js';
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
  /** First and last declared opsets the rule applies to (inclusive; absent: open). */
  readonly since?: number;
  readonly until?: number;
  /** Op type to write instead. */
  readonly as?: string;
  readonly toInput?: readonly AttrToInput[];
  /** Constant inputs that opset 17 takes as an (ints) attribute. */
  readonly toAttr?: readonly { readonly index: number; readonly attr: string }[];
  /** Attributes left out when they hold this value (newer-opset attributes at their default). */
  readonly dropIfEqual?: Readonly<Record<string, AttrValue>>;
  /** Attributes always left out (legacy, ignored by the registry op). */
  readonly drop?: readonly string[];
  /** A custom rewrite, applied before the data parts above. */
  readonly rewrite?: (n: Node, ctx: LowerContext) => Node;
}

/** What a rule may use: the types of values and a way to add constants. */
export interface LowerContext {
  typeOf(v: string): ValueType | undefined;
  constant(t: Tensor, hint: string): string;
  valueOf(v: string): Tensor | undefined;
  /** A value name no other value of the graph has. */
  fresh(hint: string): string;
}

const ints = (attr: string, index: number): AttrToInput => ({ attr, index, dtype: 'int64' });
const reduceToAttr = { until: 17, toAttr: [{ index: 1, attr: 'axes' }], dropIfEqual: { noop_with_empty_axes: 0 } };

/**
 * DFT before opset 20 takes its axis as an attribute (default 1, where the input's
 * default is -2): the constant axis input, the attribute or -2, written explicitly.
 */
function dftAxisToAttr(n: Node, ctx: LowerContext): Node {
  const name = n.inputs[2];
  const value = name ? ctx.valueOf(name) : undefined;
  if (name && !value) throw new GraphError(`${n.name}: DFT's axis input '${name}' is not a constant; it cannot be written before opset 20`, n.name);
  const axis = value ? tensorInts(value)[0]! : (n.attrs.axis as number | undefined) ?? -2;
  // Written non-negative where the rank is known (the opset-17 documentation counts from the batch axis).
  const rank = ctx.typeOf(n.inputs[0]!)?.shape.length;
  return { ...n, inputs: n.inputs.slice(0, 2), attrs: { ...n.attrs, axis: axis < 0 && rank !== undefined ? axis + rank : axis } };
}

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

/** Opset ≤ 17 Split splits equally by output count: an uneven `num_outputs` split is written as explicit sizes. */
function splitEqual(n: Node, ctx: LowerContext): Node {
  const k = n.attrs.num_outputs;
  if (typeof k !== 'number' || n.attrs.split !== undefined || n.inputs[1]) return n;
  const t = ctx.typeOf(n.inputs[0]!);
  const rank = t?.shape.length ?? 0;
  const axis = (((n.attrs.axis as number | undefined) ?? 0) + rank) % Math.max(rank, 1);
  const d = t?.shape[axis];
  if (typeof d !== 'number' || d % k === 0) return n;
  const chunk = Math.ceil(d / k);
  return { ...n, attrs: { ...n.attrs, split: Array.from({ length: k }, (_, i) => Math.max(0, Math.min(chunk, d - i * chunk))) } };
}

/** Opset-18 Split needs the `split` input or `num_outputs`. */
function splitNumOutputs(n: Node): Node {
  if (n.attrs.split !== undefined || n.inputs[1] || n.attrs.num_outputs !== undefined) return n;
  return { ...n, attrs: { ...n.attrs, num_outputs: n.outputs.length } };
}

/** GridSample names its modes bilinear/bicubic before opset 20 and linear/cubic from it. */
const OLD_GRID_MODES: Readonly<Record<string, string>> = { linear: 'bilinear', cubic: 'bicubic' };
const NEW_GRID_MODES: Readonly<Record<string, string>> = { bilinear: 'linear', bicubic: 'cubic' };
function gridSampleModes(names: Readonly<Record<string, string>>) {
  return (n: Node): Node => {
    const m = names[n.attrs.mode as string];
    return m ? { ...n, attrs: { ...n.attrs, mode: m } } : n;
  };
}

const REDUCE_WITH_ATTR = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

/** The rules, by registry op name. */
export const EXPORT_RULES: readonly ExportRule[] = [
  { op: 'Squeeze', toInput: [ints('axes', 1)] },
  { op: 'Unsqueeze', toInput: [ints('axes', 1)] },
  { op: 'ReduceSum', toInput: [ints('axes', 1)] },
  ...REDUCE_WITH_ATTR.map((op): ExportRule => ({ op, ...reduceToAttr })),
  ...REDUCE_WITH_ATTR.map((op): ExportRule => ({ op, since: 18, toInput: [ints('axes', 1)] })),
  { op: 'Split', until: 17, rewrite: splitEqual, toInput: [ints('split', 1)], drop: ['num_outputs'] },
  { op: 'Split', since: 18, toInput: [ints('split', 1)], rewrite: splitNumOutputs },
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
  { op: 'DFT', until: 19, rewrite: dftAxisToAttr },
  { op: 'DFT', since: 20, toInput: [{ attr: 'axis', index: 2, dtype: 'int64', scalar: true }] },
  { op: 'GridSample', until: 19, rewrite: gridSampleModes(OLD_GRID_MODES) },
  { op: 'GridSample', since: 20, rewrite: gridSampleModes(NEW_GRID_MODES) },
];

/** The rules of an op that apply at a declared opset. */
function rulesFor(op: string, opset: number): ExportRule[] {
  return EXPORT_RULES.filter((r) => r.op === op && (r.since ?? 0) <= opset && opset <= (r.until ?? Infinity));
}

function equal(a: AttrValue, b: AttrValue): boolean {
  return a === b || (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]));
}

function applyRule(r: ExportRule, node: Node, ctx: LowerContext): Node {
  // A custom rewrite runs before the rule's data parts.
  const n = r.rewrite ? r.rewrite(node, ctx) : node;
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

/** Builds the nodes of a decomposition: each call adds one node and returns its output name. */
class NodeSink {
  readonly nodes: Node[] = [];
  constructor(private readonly base: Node, private readonly ctx: LowerContext) {}

  /** Adds `op(inputs)`; its output is `out` or a fresh name. */
  add(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    const o = out ?? this.ctx.fresh(`${this.base.name}/${op}`);
    this.nodes.push({ name: `${this.base.name}/${op}_${this.nodes.length}`, op, domain: '', inputs: [...inputs], outputs: [o], attrs });
    return o;
  }

  /** A scalar constant of `dtype`. */
  scalar(dtype: DType, v: number, hint: string): string {
    return this.ctx.constant(Tensor.from(dtype, [], [v]), `${this.base.name}_${hint}`);
  }

  /** An int64 vector constant. */
  ints(v: readonly number[], hint: string): string {
    return this.ctx.constant(Tensor.from('int64', [v.length], v), `${this.base.name}_${hint}`);
  }
}

function dtypeOf(n: Node, ctx: LowerContext, i = 0): DType {
  const t = ctx.typeOf(n.inputs[i]!);
  if (!t) throw new GraphError(`${n.name}: ${n.op} input '${n.inputs[i]}' has no type; it cannot be written decomposed`, n.name);
  return t.dtype;
}

/** Gelu (opset 20): 0.5·x·(1 + erf(x/√2)), or with approximate='tanh' 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
function geluDecomposed(n: Node, ctx: LowerContext): Node[] {
  const s = new NodeSink(n, ctx);
  const x = n.inputs[0]!;
  const dt = dtypeOf(n, ctx);
  let inner: string;
  if (n.attrs.approximate === 'tanh') {
    const cube = s.add('Mul', [s.add('Mul', [x, x]), x]);
    const poly = s.add('Add', [x, s.add('Mul', [cube, s.scalar(dt, 0.044715, 'gelu_c')])]);
    inner = s.add('Tanh', [s.add('Mul', [poly, s.scalar(dt, Math.sqrt(2 / Math.PI), 'gelu_k')])]);
  } else {
    inner = s.add('Erf', [s.add('Div', [x, s.scalar(dt, Math.SQRT2, 'sqrt2')])]);
  }
  const onePlus = s.add('Add', [inner, s.scalar(dt, 1, 'one')]);
  s.add('Mul', [s.add('Mul', [x, onePlus]), s.scalar(dt, 0.5, 'half')], {}, n.outputs[0]);
  return s.nodes;
}

/** Mish (opset 18): x·tanh(softplus(x)). */
function mishDecomposed(n: Node, ctx: LowerContext): Node[] {
  const s = new NodeSink(n, ctx);
  const x = n.inputs[0]!;
  s.add('Mul', [x, s.add('Tanh', [s.add('Softplus', [x])])], {}, n.outputs[0]);
  return s.nodes;
}

const INT_MAX: Readonly<Partial<Record<DType, number>>> = { uint8: 255, uint16: 65535, uint32: 4294967295 };

/** BitwiseNot (opset 18) of an integer: c − x with c = −1 (signed, two's complement) or the type's maximum (unsigned). */
function bitwiseNotDecomposed(n: Node, ctx: LowerContext): Node[] | undefined {
  const dt = dtypeOf(n, ctx);
  const max = INT_MAX[dt];
  if (dt === 'uint64' || (max === undefined && !['int8', 'int16', 'int32', 'int64'].includes(dt))) return undefined;
  const s = new NodeSink(n, ctx);
  s.add('Sub', [s.scalar(dt, max ?? -1, 'all_ones'), n.inputs[0]!], {}, n.outputs[0]);
  return s.nodes;
}

/** A GroupNormalization whose scale has one element per group (opset 18's form), not per channel. */
function groupNormPerGroup(n: Node, ctx: LowerContext): boolean {
  const g = n.attrs.num_groups as number;
  return ctx.typeOf(n.inputs[1]!)?.shape[0] === g && ctx.typeOf(n.inputs[0]!)?.shape[1] !== g;
}

/**
 * GroupNormalization (opset 18; per-channel scale from 21): X[N,C,…] viewed as
 * [N,G,−1], normalized over the last axis, then scaled per group (scale of G
 * elements, as opset 18) or per channel (C elements, as opset 21).
 */
function groupNormDecomposed(n: Node, ctx: LowerContext): Node[] | undefined {
  const xt = ctx.typeOf(n.inputs[0]!);
  const st = ctx.typeOf(n.inputs[1]!);
  const g = n.attrs.num_groups as number;
  if (!xt || !st) return undefined;
  const s = new NodeSink(n, ctx);
  const dt = xt.dtype;
  const [x, scale, bias] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2]!];
  const grouped = s.add('Reshape', [x, s.ints([0, g, -1], 'groups')]);
  const mean = s.add('ReduceMean', [grouped], { axes: [2], keepdims: 1 });
  const centered = s.add('Sub', [grouped, mean]);
  const variance = s.add('ReduceMean', [s.add('Mul', [centered, centered])], { axes: [2], keepdims: 1 });
  const eps = (n.attrs.epsilon as number | undefined) ?? 1e-5;
  const normed = s.add('Div', [centered, s.add('Sqrt', [s.add('Add', [variance, s.scalar(dt, eps, 'eps')])])]);
  const shape = s.add('Shape', [x]);
  if (groupNormPerGroup(n, ctx)) {
    const gs = s.ints([g, 1], 'group_shape');
    const y = s.add('Add', [s.add('Mul', [normed, s.add('Reshape', [scale, gs])]), s.add('Reshape', [bias, gs])]);
    s.add('Reshape', [y, shape], {}, n.outputs[0]);
  } else {
    const cs = s.ints([-1, ...new Array<number>(Math.max(0, xt.shape.length - 2)).fill(1)], 'channel_shape');
    const y = s.add('Reshape', [normed, shape]);
    s.add('Add', [s.add('Mul', [y, s.add('Reshape', [scale, cs])]), s.add('Reshape', [bias, cs])], {}, n.outputs[0]);
  }
  return s.nodes;
}

/** An op, or a form of one, that exists only from some opset on (and, with `until`, only up to one). */
export interface NewerForm {
  readonly op: string;
  /** The opset it appeared in. */
  readonly since: number;
  /** The last opset that has it (absent: still current). */
  readonly until?: number;
  /** What is new (for errors), when not the op itself. */
  readonly what?: string;
  /** Whether a node has this form (default: every node of the op). */
  readonly applies?: (n: Node, ctx: LowerContext) => boolean;
  /** The node written with older ops; undefined when nothing older computes the same. */
  readonly decompose?: (n: Node, ctx: LowerContext) => Node[] | undefined;
}

const set = (n: Node, a: string, dflt: AttrValue): boolean => n.attrs[a] !== undefined && !equal(n.attrs[a]!, dflt);
const allOnes = (n: Node, a: string): boolean => Array.isArray(n.attrs[a]) && (n.attrs[a] as number[]).some((v) => v !== 1);
const rankOver = (k: number) => (n: Node, ctx: LowerContext): boolean => (ctx.typeOf(n.inputs[0]!)?.shape.length ?? 0) > k;
const boolInput = (n: Node, ctx: LowerContext): boolean => ctx.typeOf(n.inputs[0]!)?.dtype === 'bool';

/**
 * Every registry op or attribute form newer than opset 17, with the opset it
 * appeared in and, where older ops compute the same, its decomposition.
 */
export const NEWER_FORMS: readonly NewerForm[] = [
  { op: 'Gelu', since: 20, decompose: geluDecomposed },
  { op: 'Mish', since: 18, decompose: mishDecomposed },
  { op: 'GroupNormalization', since: 18, decompose: groupNormDecomposed },
  // Opset 18 scales per group, 21 per channel: the other form is written decomposed.
  { op: 'GroupNormalization', since: 21, what: 'a per-channel scale', applies: (n, ctx) => !groupNormPerGroup(n, ctx), decompose: groupNormDecomposed },
  { op: 'GroupNormalization', since: 18, until: 20, what: 'a per-group scale', applies: groupNormPerGroup, decompose: groupNormDecomposed },
  { op: 'BitwiseNot', since: 18, decompose: bitwiseNotDecomposed },
  { op: 'BitwiseAnd', since: 18 },
  { op: 'BitwiseOr', since: 18 },
  { op: 'BitwiseXor', since: 18 },
  { op: 'Resize', since: 18, what: 'antialias, axes or keep_aspect_ratio_policy', applies: (n) => set(n, 'antialias', 0) || n.attrs.axes !== undefined || set(n, 'keep_aspect_ratio_policy', 'stretch') },
  { op: 'Resize', since: 19, what: "coordinate_transformation_mode 'half_pixel_symmetric'", applies: (n) => n.attrs.coordinate_transformation_mode === 'half_pixel_symmetric' },
  { op: 'Pad', since: 19, what: "mode 'wrap'", applies: (n) => n.attrs.mode === 'wrap' },
  { op: 'Pad', since: 18, what: 'the axes input', applies: (n) => !!n.inputs[3] },
  { op: 'AveragePool', since: 19, what: 'dilations', applies: (n) => allOnes(n, 'dilations') },
  { op: 'LpPool', since: 18, what: 'dilations or ceil_mode', applies: (n) => allOnes(n, 'dilations') || set(n, 'ceil_mode', 0) },
  { op: 'ScatterElements', since: 18, what: "reduction 'max'/'min'", applies: (n) => n.attrs.reduction === 'max' || n.attrs.reduction === 'min' },
  { op: 'ScatterND', since: 18, what: "reduction 'max'/'min'", applies: (n) => n.attrs.reduction === 'max' || n.attrs.reduction === 'min' },
  { op: 'Cast', since: 19, what: 'saturate', applies: (n) => set(n, 'saturate', 1) },
  { op: 'CastLike', since: 19, what: 'saturate', applies: (n) => set(n, 'saturate', 1) },
  { op: 'QuantizeLinear', since: 19, what: 'saturate', applies: (n) => set(n, 'saturate', 1) },
  { op: 'GridSample', since: 20, what: 'a volumetric (5-D) input', applies: rankOver(4) },
  { op: 'AffineGrid', since: 20 },
  { op: 'ImageDecoder', since: 20 },
  { op: 'CenterCropPad', since: 18 },
  { op: 'Col2Im', since: 18 },
  { op: 'DeformConv', since: 19 },
  { op: 'DFT', since: 20, what: 'an axis input that is not a constant', applies: (n, ctx) => !!n.inputs[2] && !ctx.valueOf(n.inputs[2]) },
  { op: 'ReduceMax', since: 20, what: 'a bool input', applies: boolInput },
  { op: 'ReduceMin', since: 20, what: 'a bool input', applies: boolInput },
  { op: 'StringConcat', since: 20 },
  { op: 'StringSplit', since: 20 },
  { op: 'RegexFullMatch', since: 20 },
];

/** The newer forms a node has. */
function formsOf(n: Node, ctx: LowerContext): NewerForm[] {
  if (n.domain !== '') return [];
  return NEWER_FORMS.filter((f) => f.op === n.op && (f.applies?.(n, ctx) ?? true));
}

function lowerContext(nodes: readonly Node[], initializers: Map<string, Tensor>, typeOf: (v: string) => ValueType | undefined): LowerContext {
  const taken = new Set<string>(initializers.keys());
  for (const n of nodes) for (const v of [...n.inputs, ...n.outputs]) taken.add(v);
  const constValues = new Map<string, Tensor>();
  for (const n of nodes) {
    const v = n.op === 'Constant' ? n.attrs.value : undefined;
    if (v instanceof Tensor && n.outputs[0]) constValues.set(n.outputs[0], v);
  }
  const fresh = (hint: string): string => {
    let name = hint;
    for (let k = 1; taken.has(name); k++) name = `${hint}_${k}`;
    taken.add(name);
    return name;
  };
  return {
    typeOf,
    valueOf: (v) => initializers.get(v) ?? constValues.get(v),
    fresh,
    constant(t, hint) {
      const name = fresh(hint);
      initializers.set(name, t);
      return name;
    },
  };
}

/**
 * The lowest opset that can hold every node: 17, or the `since` of a newer form
 * that has no decomposition. (Sub-graphs are not walked; their nodes are checked
 * when they are written.)
 */
export function requiredOpset(nodes: readonly Node[], typeOf: (v: string) => ValueType | undefined, base = 17): number {
  const ctx = lowerContext(nodes, new Map(), typeOf);
  let need = base;
  for (const n of nodes) {
    for (const f of formsOf(n, ctx)) {
      if (f.since <= need) continue;
      if (f.decompose && f.decompose(n, ctx) !== undefined) continue;
      need = f.since;
    }
  }
  return need;
}

/**
 * Rewrites nodes into their form at the declared `opset` (17 to 21). New constants
 * are added to `initializers`; `typeOf` gives the types of values. A node newer
 * than `opset` is decomposed; one that cannot be throws a GraphError naming it.
 */
export function lowerForExport(nodes: readonly Node[], initializers: Map<string, Tensor>, typeOf: (v: string) => ValueType | undefined, opset = 17): Node[] {
  const ctx = lowerContext(nodes, initializers, typeOf);
  const out: Node[] = [];
  const lower = (n: Node): void => {
    const form = formsOf(n, ctx).find((f) => f.since > opset || (f.until !== undefined && opset > f.until));
    if (form) {
      const parts = form.decompose?.(n, ctx);
      if (!parts) {
        const range = form.until !== undefined ? `in opsets ${form.since} to ${form.until}` : `from opset ${form.since}`;
        throw new GraphError(`${n.name}: ${n.op}${form.what ? ` with ${form.what}` : ''} exists only ${range}; it cannot be written at opset ${opset}`, n.name);
      }
      for (const p of parts) lower(p);
      return;
    }
    const rules = n.domain === '' ? rulesFor(n.op, opset) : [];
    out.push(rules.reduce((m, r) => applyRule(r, m, ctx), n));
  };
  for (const n of nodes) lower(n);
  return out;
}
