/**
 * Small ONNX models for the fuzzer, written with onnx-proto, plus the seeded PRNG
 * and proto helpers the mutators share. Every base model is a few hundred bytes,
 * imports and runs on the CPU backend in well under a millisecond, and uses the
 * features hostile files like to break: symbolic dims, int64 shape tensors,
 * Constant nodes, attributes of every type, Gather indices.
 */
import Long from 'long';
import { onnx, type pb } from '../onnx/proto.js';

/** A seeded PRNG (mulberry32) with helpers. */
export class Rng {
  private a: number;
  /** @param seed any 32-bit integer. */
  constructor(seed: number) { this.a = seed >>> 0; }
  /** Uniform in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  /** One element of a non-empty list. */
  pick<T>(list: readonly T[]): T { return list[Math.floor(this.next() * list.length)]!; }
  /** True with probability p. */
  chance(p: number): boolean { return this.next() < p; }
}

/** Mixes a run seed and a case index into a case seed (splitmix-style). */
export function caseSeed(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

/** A float32 initializer with raw data. */
export function floatInit(name: string, dims: number[], values: number[]): pb.ITensorProto {
  return { name, dims, dataType: T.FLOAT, rawData: new Uint8Array(new Float32Array(values).buffer) };
}

/** An int64 initializer using the typed `int64_data` field. */
export function int64Init(name: string, dims: number[], values: (number | Long)[]): pb.ITensorProto {
  return { name, dims, dataType: T.INT64, int64Data: values };
}

/** A graph input/output with a tensor type; dims are numbers or symbolic names. */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): pb.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

type AttrIn = number | number[] | string | pb.ITensorProto | { f: number } | { floats: number[] };

/** Builds an AttributeProto from a plain value (numbers are INT, `{f}` is FLOAT). */
export function attr(name: string, v: AttrIn): pb.IAttributeProto {
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('f' in v && typeof v.f === 'number') return { name, type: A.FLOAT, f: v.f };
  if ('floats' in v && Array.isArray(v.floats)) return { name, type: A.FLOATS, floats: v.floats };
  return { name, type: A.TENSOR, t: v as pb.ITensorProto };
}

/** A NodeProto. */
export function node(op: string, inputs: string[], outputs: string[], name: string, attrs: Record<string, AttrIn> = {}): pb.INodeProto {
  return { opType: op, input: inputs, output: outputs, name, attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)) };
}

/** Wraps a graph into a ModelProto (IR 8, default opset `opset`). */
export function model(graph: pb.IGraphProto, opset = 17): pb.IModelProto {
  return { irVersion: 8, producerName: 'kiln-fuzz', opsetImport: [{ domain: '', version: opset }], graph };
}

function seq(n: number, scale = 0.1, offset = 0): number[] {
  return Array.from({ length: n }, (_, i) => offset + scale * (((i * 7) % 11) - 5));
}

const BASES: Readonly<Record<string, () => pb.IModelProto>> = {
  mlp: () => model({
    name: 'mlp',
    input: [valueInfo('x', T.FLOAT, ['batch', 4])],
    output: [valueInfo('y', T.FLOAT, ['batch', 3])],
    initializer: [floatInit('W', [4, 3], seq(12)), floatInit('b', [3], [0.1, -0.2, 0.3])],
    node: [
      node('MatMul', ['x', 'W'], ['h'], 'mm'),
      node('Add', ['h', 'b'], ['h2'], 'add'),
      node('Relu', ['h2'], ['y'], 'relu'),
    ],
  }),
  conv: () => model({
    name: 'conv',
    input: [valueInfo('x', T.FLOAT, [1, 2, 6, 6])],
    output: [valueInfo('y', T.FLOAT, [1, 3])],
    initializer: [floatInit('W', [3, 2, 3, 3], seq(54)), floatInit('B', [3], [0, 0.5, -0.5])],
    node: [
      node('Conv', ['x', 'W', 'B'], ['c'], 'conv', { pads: [1, 1, 1, 1], strides: [1, 1], kernel_shape: [3, 3], group: 1 }),
      node('Relu', ['c'], ['r'], 'relu'),
      node('MaxPool', ['r'], ['p'], 'pool', { kernel_shape: [2, 2], strides: [2, 2] }),
      node('GlobalAveragePool', ['p'], ['g'], 'gap'),
      node('Flatten', ['g'], ['y'], 'flat', { axis: 1 }),
    ],
  }),
  reshape: () => model({
    name: 'reshape',
    input: [valueInfo('x', T.FLOAT, ['n', 6])],
    output: [valueInfo('y', T.FLOAT, ['n', 3, 2])],
    initializer: [int64Init('tail', [2], [2, 3]), int64Init('zero', [], [0]), int64Init('ax0', [1], [0])],
    node: [
      node('Shape', ['x'], ['s'], 'shape'),
      node('Gather', ['s', 'zero'], ['n0'], 'gather', { axis: 0 }),
      node('Unsqueeze', ['n0', 'ax0'], ['n1'], 'unsq'),
      node('Concat', ['n1', 'tail'], ['shp'], 'concat', { axis: 0 }),
      node('Reshape', ['x', 'shp'], ['r'], 'reshape'),
      node('Transpose', ['r'], ['t'], 'transpose', { perm: [0, 2, 1] }),
      node('Softmax', ['t'], ['y'], 'softmax', { axis: -1 }),
    ],
  }),
  embed: () => model({
    name: 'embed',
    input: [valueInfo('ids', T.INT64, [1, 'seq'])],
    output: [valueInfo('y', T.FLOAT, [1, 'seq', 4])],
    initializer: [floatInit('table', [5, 4], seq(20, 0.3)), floatInit('gamma', [4], [1, 1, 2, 0.5]), floatInit('beta', [4], [0, 0.1, 0, -0.1])],
    node: [
      node('Gather', ['table', 'ids'], ['e'], 'embed', { axis: 0 }),
      node('LayerNormalization', ['e', 'gamma', 'beta'], ['y'], 'ln', { axis: -1, epsilon: { f: 1e-5 } }),
    ],
  }),
  misc: () => model({
    name: 'misc',
    input: [valueInfo('x', T.FLOAT, [2, 3]), valueInfo('m', T.BOOL, [2, 3])],
    output: [valueInfo('y', T.FLOAT, [2, 4]), valueInfo('z', T.INT32, [2, 3])],
    initializer: [int64Init('starts', [1], [1]), int64Init('ends', [1], [3]), int64Init('axes', [1], [1]), int64Init('reps', [2], [1, 2])],
    node: [
      node('Constant', [], ['k'], 'const', { value: floatInit('', [3], [2, -1, 0.5]) }),
      node('Mul', ['x', 'k'], ['xk'], 'mul'),
      node('Neg', ['xk'], ['nx'], 'neg'),
      node('Where', ['m', 'xk', 'nx'], ['w'], 'where'),
      node('Slice', ['w', 'starts', 'ends', 'axes'], ['sl'], 'slice'),
      node('Tile', ['sl', 'reps'], ['y'], 'tile'),
      node('Cast', ['w'], ['z'], 'cast', { to: T.INT32 }),
    ],
  }),
  attention: () => model({
    name: 'attention',
    input: [valueInfo('q', T.FLOAT, [1, 'seq', 4])],
    output: [valueInfo('y', T.FLOAT, [1, 'seq', 4])],
    initializer: [floatInit('scale', [], [0.5])],
    node: [
      node('Transpose', ['q'], ['kt'], 'kt', { perm: [0, 2, 1] }),
      node('MatMul', ['q', 'kt'], ['s'], 'qk'),
      node('Mul', ['s', 'scale'], ['ss'], 'scale'),
      node('Softmax', ['ss'], ['p'], 'softmax', { axis: -1 }),
      node('MatMul', ['p', 'q'], ['y'], 'pv'),
    ],
  }),
  reduce: () => model({
    name: 'reduce',
    input: [valueInfo('x', T.FLOAT, [2, 'k', 3])],
    output: [valueInfo('y', T.FLOAT, [2, 1, 3]), valueInfo('z', T.INT64, [2, 3])],
    initializer: [int64Init('shape', [3], [2, -1, 3])],
    node: [
      node('ReduceSum', ['x'], ['rs'], 'rsum', { axes: [1], keepdims: 1 }),
      node('Sqrt', ['rs'], ['sq'], 'sqrt'),
      node('Clip', ['sq'], ['y'], 'clip'),
      node('ArgMax', ['x'], ['z'], 'argmax', { axis: 1, keepdims: 0 }),
    ],
  }, 13),
};

/** Names of the synthesized base models. */
export const BASE_NAMES: readonly string[] = Object.keys(BASES);

/** A fresh (mutable) copy of a base model. */
export function baseModel(name: string): pb.ModelProto {
  const f = BASES[name];
  if (!f) throw new Error(`no base model '${name}'`);
  return onnx.ModelProto.decode(encodeModel(f()));
}

/** Encodes a ModelProto. */
export function encodeModel(m: pb.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(m as pb.ModelProto).finish();
}

/** A Long from a bigint (int64 values beyond 2^53). */
export function bigLong(v: bigint): Long {
  return Long.fromString(v.toString(), false);
}
