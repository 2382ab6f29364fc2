/**
 * The ONNX → Kiln op table. Most ONNX ops map 1:1 by name onto the op registry
 * (each op is defined in its newest form and accepts the older attribute forms of
 * its inputs: Squeeze/Unsqueeze/Reduce* `axes`, Clip `min`/`max`, Pad `pads`,
 * Split `split`, Slice `starts`/`ends`). This table lists only the exceptions, as
 * data: an ONNX op and opset range, and what to do with it — rename it, drop or
 * rename attributes, fill old defaults, or emit a short sequence of registry ops.
 * No entry computes shapes: emitters only wire ops together.
 */
import type { AttrValue } from '../src/graph/attrs.js';
import { ModelFormatError } from '../src/graph/errors.js';
import type { Node } from '../src/graph/graph.js';
import { findOp } from '../src/graph/op.js';
import { batchNormTrainingNodes } from '../src/graph/ops/normalization.js';
import { Tensor } from '../src/graph/tensor.js';
import { constantValue, PendingSubgraph } from './attributes.js';
import { onnx, type pb } from './proto.js';
import { alignAxis, nllLoss, softmaxCrossEntropyLoss } from './function-ops.js';

/**
 * An ONNX node after attribute decoding, as the table sees it: the IR's node shape
 * (outputs may hold '' for omitted optional outputs), before it becomes a registry node.
 */
export type OnnxNode = Node;

/** What an emitter may do: add registry nodes and constants. */
export interface Emitter {
  /** The opset of the node's domain. */
  readonly opset: number;
  /**
   * Adds a node of a registry op. Returns its output names: `outputs` when given,
   * else `count` (default 1) fresh names.
   */
  node(op: string, inputs: readonly string[], attrs?: Readonly<Record<string, AttrValue>>, outputs?: readonly string[], count?: number): string[];
  /** Adds a constant initializer and returns its value name. */
  constant(t: Tensor, hint?: string): string;
}

/** One table entry. Ranges are inclusive; absent bounds are open. */
export interface OpMapping {
  readonly op: string;
  readonly domain?: string;
  /** First opset the entry applies to. */
  readonly since?: number;
  /** Last opset the entry applies to. */
  readonly until?: number;
  /** Registry op to map onto (default: the same name). */
  readonly as?: string;
  /** Attributes to drop (obsolete: `is_test`, `spatial`, ...). */
  readonly drop?: readonly string[];
  /** Attributes to rename (old name → new name). */
  readonly rename?: Readonly<Record<string, string>>;
  /** Attribute values to use when absent (old defaults that differ from the newest op's). */
  readonly defaults?: Readonly<Record<string, AttrValue>>;
  /** A reason the node cannot be imported (checked before anything is emitted), or undefined. */
  readonly unsupported?: (n: OnnxNode) => string | undefined;
  /** Inputs whose values decide output shapes (as an op's `shapeInputs`), for expansions of ops the registry lacks. */
  readonly shapeInputs?: readonly number[];
  /** Use the entry only when the registry has no op of this name (a function expansion). */
  readonly fallback?: boolean;
  /** Custom expansion into registry ops; must write the node's outputs. */
  readonly emit?: (n: OnnxNode, e: Emitter) => void;
}

/** Attributes no op keeps: legacy memory hints. */
export const GLOBAL_DROPPED_ATTRS: readonly string[] = ['consumed_inputs'];

/** Opset < 13 Softmax/LogSoftmax/Hardmax: coerce to 2-D at `axis`, apply on the last axis, restore the shape. */
function flattenedSoftmax(n: OnnxNode, e: Emitter): void {
  const x = n.inputs[0]!;
  const [flat] = e.node('Flatten', [x], { axis: (n.attrs.axis as number | undefined) ?? 1 });
  const [y] = e.node(n.op, [flat!], { axis: 1 });
  const [shape] = e.node('Shape', [x]);
  e.node('Reshape', [y!, shape!], {}, n.outputs);
}

/** Resize-10 (inputs X, scales): asymmetric coordinates, floor rounding for nearest, as Upsample. */
function upsampleAsResize(n: OnnxNode, e: Emitter): void {
  const { scales, mode, ...rest } = n.attrs;
  let scalesName = n.inputs[1] ?? '';
  if (scales !== undefined) scalesName = e.constant(Tensor.from('float32', [(scales as number[]).length], scales as number[]), `${n.name}_scales`);
  const m = mode === 'bilinear' ? 'linear' : (mode as string | undefined) ?? 'nearest';
  e.node('Resize', [n.inputs[0]!, '', scalesName], {
    ...rest,
    mode: m,
    coordinate_transformation_mode: 'asymmetric',
    ...(m === 'nearest' ? { nearest_mode: 'floor' } : {}),
  }, n.outputs);
}

/** Moves an attribute holding ints into a new int64 constant input at position `index`. */
function attrToInput(attrName: string, index: number) {
  return (n: OnnxNode, e: Emitter): void => {
    const { [attrName]: v, ...rest } = n.attrs;
    const inputs = [...n.inputs];
    while (inputs.length < index) inputs.push('');
    if (v !== undefined) {
      const vals = Array.isArray(v) ? (v as number[]) : [v as number];
      inputs[index] = e.constant(Tensor.from('int64', [vals.length], vals), `${n.name}_${attrName}`);
    }
    e.node(n.op, inputs, rest, n.outputs);
  };
}

/**
 * An unseeded random node (ONNX leaves its seed to the implementation) gets a seed of
 * its own from its node name — a 24-bit FNV-1a hash, exact as a float — so two such
 * nodes draw different numbers while Kiln's random ops stay pure functions of the seed.
 */
function seedFromName(n: OnnxNode, e: Emitter): void {
  let h = 0x811c9dc5;
  for (let i = 0; i < n.name.length; i++) h = Math.imul(h ^ n.name.charCodeAt(i), 0x01000193) >>> 0;
  e.node(n.op, n.inputs, n.attrs.seed === undefined ? { ...n.attrs, seed: h >>> 8 } : n.attrs, n.outputs);
}

/**
 * An opset-9 Scan written inside an opset-8 model: the inner node {@link scan8}
 * writes carries `scan_input_axes`, an attribute Scan-8 lacks, so it is taken as is.
 */
const isScan9Form = (n: OnnxNode): boolean => n.attrs.scan_input_axes !== undefined;

/**
 * Scan-8 (inputs: sequence_lens, N states [B, ...], M scan inputs [B, T, ...];
 * outputs: N final states [B, ...], K scan outputs [B, T, ...]; the body sees one
 * batch element) as two opset-9 Scans: an outer one over the batch axis, with no
 * state, whose body is an inner Scan over the time axis (now axis 0) running the
 * original body with Scan-8's `directions`. The outer Scan stacks the per-element
 * final states and scan outputs along axis 0, which is Scan-8's layout.
 *
 * With `sequence_lens`, element b runs its first `sequence_lens[b]` steps, as
 * onnxruntime does: a reversed input is read from step `len - 1` down to 0 (a
 * ReverseSequence of its first `len` steps, then read forward), the final states
 * are those after `len` steps and the scan outputs past `len` are zeros. The inner
 * Scan still runs all T steps (static shapes on every backend): it carries a step
 * counter, and past `len` each state keeps its value and each scan output is zero
 * (a Where on `step < len`). A length past T counts as T (ReverseSequence refuses
 * one outside [0, T] where an input is reversed); one of 0 or less leaves the
 * states as given and the scan outputs zero (onnxruntime refuses lengths outside [1, T]).
 */
function scan8(n: OnnxNode, e: Emitter): void {
  if (isScan9Form(n)) {
    e.node('Scan', n.inputs, n.attrs, n.outputs);
    return;
  }
  const body = n.attrs.body;
  const m = Number(n.attrs.num_scan_inputs);
  if (!(body instanceof PendingSubgraph) || !(m >= 1) || (body.proto.input ?? []).length < m) {
    throw new ModelFormatError(`${n.name}: Scan needs a body graph with at least num_scan_inputs (${n.attrs.num_scan_inputs}) inputs`, n.name);
  }
  const T = onnx.AttributeProto.AttributeType;
  const lens = n.inputs[0] ?? '';
  const given = n.inputs.slice(1);
  const numStates = given.length - m;
  const directions = (n.attrs.directions as readonly number[] | undefined) ?? new Array<number>(m).fill(0);
  const name = (s: string): string => `${n.name}/${s}`;
  const ins = given.map((_, i) => name(`batch_in_${i}`));
  const outs = n.outputs.map((_, i) => name(`batch_out_${i}`));
  const overTime = (g: pb.IGraphProto, input: string[], output: string[], dirs: readonly number[]): pb.INodeProto => ({
    name: name('over_time'),
    opType: 'Scan',
    input,
    output,
    attribute: [
      { name: 'body', type: T.GRAPH, g },
      { name: 'num_scan_inputs', type: T.INT, i: m },
      { name: 'scan_input_axes', type: T.INTS, ints: new Array<number>(m).fill(0) },
      { name: 'scan_input_directions', type: T.INTS, ints: [...dirs] },
    ],
  });
  if (!lens) {
    const outer = new PendingSubgraph({
      name: name('per_batch_element'),
      input: ins.map((v) => ({ name: v })),
      output: outs.map((v) => ({ name: v })),
      node: [overTime(body.proto, ins, outs, directions)],
    });
    e.node('Scan', given, { body: outer, num_scan_inputs: given.length }, n.outputs);
    return;
  }
  // Reversed inputs: their first `len` steps reversed, then read forward.
  const scanned = given.map((v, i) => (i >= numStates && directions[i - numStates] ? e.node('ReverseSequence', [v, lens], { batch_axis: 0, time_axis: 1 })[0]! : v));
  const len = name('len');
  const step = name('step');
  const bodyIn = (body.proto.input ?? []).map((v) => v.name ?? '');
  const bodyOut = (body.proto.output ?? []).map((v) => v.name ?? '');
  const valid = name('valid');
  const masked = bodyOut.map((v, i) => name(`masked_${i}`));
  const wrapped: pb.IGraphProto = {
    ...body.proto,
    name: name('up_to_len'),
    input: [...(body.proto.input ?? []).slice(0, numStates), { name: step }, ...(body.proto.input ?? []).slice(numStates)],
    output: [...masked.slice(0, numStates).map((v) => ({ name: v })), { name: name('next_step') }, ...masked.slice(numStates).map((v) => ({ name: v }))],
    initializer: [
      ...(body.proto.initializer ?? []),
      { name: name('one'), dataType: onnx.TensorProto.DataType.INT64, dims: [], int64Data: [1] },
      { name: name('zero'), dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [0] },
    ],
    node: [
      ...(body.proto.node ?? []),
      { name: name('in_len'), opType: 'Less', input: [step, len], output: [valid] },
      { name: name('count'), opType: 'Add', input: [step, name('one')], output: [name('next_step')] },
      ...bodyOut.flatMap((v, i): pb.INodeProto[] => (i < numStates
        ? [{ name: name(`keep_${i}`), opType: 'Where', input: [valid, v, bodyIn[i]!], output: [masked[i]!] }]
        : [
          { name: name(`zero_like_${i}`), opType: 'CastLike', input: [name('zero'), v], output: [name(`zero_${i}`)] },
          { name: name(`zero_past_${i}`), opType: 'Where', input: [valid, v, name(`zero_${i}`)], output: [masked[i]!] },
        ])),
    ],
  };
  const states = ins.slice(0, numStates);
  const outer = new PendingSubgraph({
    name: name('per_batch_element'),
    input: [{ name: len }, ...ins.map((v) => ({ name: v }))],
    output: outs.map((v) => ({ name: v })),
    initializer: [{ name: name('step0'), dataType: onnx.TensorProto.DataType.INT64, dims: [], int64Data: [0] }],
    node: [overTime(wrapped, [...states, name('step0'), ...ins.slice(numStates)], [...outs.slice(0, numStates), name('steps'), ...outs.slice(numStates)], new Array<number>(m).fill(0))],
  });
  e.node('Scan', [lens, ...scanned], { body: outer, num_scan_inputs: given.length + 1 }, n.outputs);
}

/** ONNX data types Kiln has no dtype for, as `Cast` targets. */
const UNSUPPORTED_DTYPE_CODES: Readonly<Record<number, string>> = {
  14: 'Cast to COMPLEX64', 15: 'Cast to COMPLEX128',
};

/**
 * Opset < 7 binary ops with `broadcast=1, axis=k` (and PRelu < 7, whose slope is
 * per channel): B is aligned with A starting at axis k. Emitted as graph ops —
 * B reshaped to `shape(B) ++ ones(rank(A) - k - rank(B))` — so the importer needs
 * no shape logic (the ranks fold to constants for static shapes).
 */
function legacyAxisBroadcast(axisOf: (n: OnnxNode) => number | undefined) {
  return (n: OnnxNode, e: Emitter): void => {
    const { broadcast: _b, axis: _a, ...rest } = n.attrs;
    const axis = axisOf(n);
    const [a, b] = n.inputs;
    if (axis === undefined) {
      e.node(n.op, n.inputs, rest, n.outputs);
      return;
    }
    e.node(n.op, [a!, alignAxis(e, n, a!, b!, axis)], rest, n.outputs);
  };
}

const legacyBinary = legacyAxisBroadcast((n) => (n.attrs.broadcast && n.attrs.axis !== undefined ? (n.attrs.axis as number) : undefined));
const legacyBroadcast = ['broadcast'];

/**
 * BatchNormalization-14+: in inference mode the registry's op; with training_mode = 1 the
 * registry's training decomposition ({@link batchNormTrainingNodes}).
 */
function batchNormalization(n: OnnxNode, e: Emitter): void {
  const { training_mode: training, ...attrs } = n.attrs;
  if (!training) {
    e.node('BatchNormalization', n.inputs, attrs, n.outputs);
    return;
  }
  const eps = attrs.epsilon === undefined ? undefined : Number(attrs.epsilon);
  const momentum = attrs.momentum === undefined ? undefined : Number(attrs.momentum);
  batchNormTrainingNodes(e, n.name, n.inputs as [string, string, string, string, string], { epsilon: eps, momentum }, n.outputs);
}

/** The exceptions to the 1:1 mapping, by ONNX op and opset range. */
export const OP_TABLE: readonly OpMapping[] = [
  { op: 'Constant', emit: (n, e) => void e.node('Constant', [], { value: constantValue(n.attrs, n.name) }, n.outputs) },
  { op: 'Softmax', until: 12, emit: flattenedSoftmax },
  { op: 'LogSoftmax', until: 12, emit: flattenedSoftmax },
  { op: 'Hardmax', until: 12, emit: flattenedSoftmax },
  { op: 'Resize', until: 10, emit: upsampleAsResize },
  { op: 'BatchNormalization', until: 8, drop: ['spatial', 'is_test'] },
  { op: 'BatchNormalization', since: 14, emit: batchNormalization },
  { op: 'Dropout', until: 11, drop: ['is_test', 'ratio'] },
  { op: 'Pad', until: 1, rename: { paddings: 'pads' } },
  { op: 'TopK', until: 9, emit: attrToInput('k', 1) },
  { op: 'Reshape', until: 4, emit: attrToInput('shape', 1) },
  { op: 'Scatter', as: 'ScatterElements' },
  { op: 'Concat', until: 3, defaults: { axis: 1 } },
  { op: 'Gemm', until: 6, drop: legacyBroadcast },
  ...['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less'].map(
    (op): OpMapping => ({ op, until: 6, emit: legacyBinary }),
  ),
  { op: 'PRelu', until: 6, emit: legacyAxisBroadcast(() => 1) },
  { op: 'NegativeLogLikelihoodLoss', since: 12, fallback: true, emit: nllLoss },
  { op: 'SoftmaxCrossEntropyLoss', since: 12, fallback: true, emit: softmaxCrossEntropyLoss },
  { op: 'Cast', unsupported: (n) => UNSUPPORTED_DTYPE_CODES[n.attrs.to as number] },
  // DFT-17 takes the axis as an attribute, default 1 (the registry op's axis input defaults to -2).
  { op: 'DFT', until: 19, defaults: { axis: 1 } },
  // RoiAlign-10 has no coordinate_transformation_mode: it samples as opset 16's 'output_half_pixel'.
  { op: 'RoiAlign', until: 15, defaults: { coordinate_transformation_mode: 'output_half_pixel' } },
  ...['Bernoulli', 'RandomUniform', 'RandomNormal', 'RandomUniformLike', 'RandomNormalLike'].map((op): OpMapping => ({ op, emit: seedFromName })),
  { op: 'Scan', until: 8, emit: scan8 },
];

/** The table entry for an op at an opset, if any (fallback entries only when the registry lacks the op). */
export function findMapping(op: string, domain: string, opset: number): OpMapping | undefined {
  const d = domain === 'ai.onnx' ? '' : domain;
  const m = OP_TABLE.find((e) => e.op === op && (e.domain ?? '') === d && (e.since ?? 1) <= opset && opset <= (e.until ?? Infinity));
  return m?.fallback && findOp(op, d) ? undefined : m;
}
