/**
 * Test helper for the shape/movement/gather op tests: runs one official ONNX node
 * test (model.onnx with a single node and test_data_set_0) on the CPU backend and
 * compares with the expected outputs. Inputs listed in the op's `shapeInputs` are
 * given as constants (as an importer folds them), so rank-deciding inputs such as
 * Squeeze axes are known at build time.
 */
import { expect } from 'chai';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, type DType, type Sym } from '../src/graph/index.js';
import { findOp } from '../src/graph/op.js';

const { onnx } = onnxProto as unknown as typeof import('onnx-proto');

/** Root of the ONNX node test data. */
export const NODE_DATA = path.join(process.env.KILN_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data', 'node');

const DT: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64' };

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number((v as { toString(): string }).toString());
}

/** Decodes a TensorProto into a Tensor. */
export function decodeTensor(t: import('onnx-proto').onnx.ITensorProto): Tensor {
  const dtype = DT[t.dataType ?? 0];
  if (!dtype) throw new Error(`unsupported data type ${t.dataType}`);
  const shape = (t.dims ?? []).map(num);
  const n = shape.reduce((a, b) => a * b, 1);
  let vals: number[];
  if (t.rawData && t.rawData.length) {
    const buf = Buffer.from(t.rawData);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const readers: Record<DType, [number, (o: number) => number]> = {
      float32: [4, (o) => dv.getFloat32(o, true)], float64: [8, (o) => dv.getFloat64(o, true)],
      uint8: [1, (o) => dv.getUint8(o)], int8: [1, (o) => dv.getInt8(o)], int16: [2, (o) => dv.getInt16(o, true)],
      uint16: [2, (o) => dv.getUint16(o, true)], int32: [4, (o) => dv.getInt32(o, true)], uint32: [4, (o) => dv.getUint32(o, true)],
      int64: [8, (o) => Number(dv.getBigInt64(o, true))], uint64: [8, (o) => Number(dv.getBigUint64(o, true))],
      bool: [1, (o) => dv.getUint8(o)], float16: [2, () => NaN],
    };
    const [size, read] = readers[dtype];
    vals = Array.from({ length: n }, (_, i) => read(i * size));
  } else {
    const src = t.floatData?.length ? t.floatData : t.doubleData?.length ? t.doubleData : t.int64Data?.length ? t.int64Data : t.int32Data ?? [];
    vals = Array.from(src as ArrayLike<unknown>, num);
  }
  return Tensor.from(dtype, shape, vals);
}

function attrValue(a: import('onnx-proto').onnx.IAttributeProto): unknown {
  switch (a.type) {
    case 1: return a.f;
    case 2: return num(a.i);
    case 3: return Buffer.from(a.s ?? []).toString();
    case 4: return decodeTensor(a.t!);
    case 6: return [...(a.floats ?? [])];
    case 7: return (a.ints ?? []).map(num);
    case 8: return (a.strings ?? []).map((s) => Buffer.from(s).toString());
    default: throw new Error(`attribute kind ${a.type}`);
  }
}

/** Runs `node/<name>` and checks every output within `tol` (absolute + relative). */
export function runNodeTest(name: string, tol = 1e-4): void {
  const dir = path.join(NODE_DATA, name);
  const model = onnx.ModelProto.decode(readFileSync(path.join(dir, 'model.onnx')));
  const g = model.graph!;
  const node = g.node![0]!;
  const set = path.join(dir, 'test_data_set_0');
  const files = readdirSync(set);
  const load = (prefix: string) => files.filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
    .map((f) => decodeTensor(onnx.TensorProto.decode(readFileSync(path.join(set, f)))));
  const ins = load('input_');
  const outs = load('output_');
  const b = new GraphBuilder(name);
  const feeds: Record<string, Tensor> = {};
  const inputNames = (g.input ?? []).map((v) => v.name!);
  const shapeInputs = findOp(node.opType!)?.shapeInputs ?? [];
  const syms: (Sym | undefined)[] = node.input!.map((n, k) => {
    if (n === '') return undefined;
    const i = inputNames.indexOf(n);
    const t = ins[i]!;
    if (shapeInputs.includes(k)) return b.constant(t, { name: n });
    feeds[n] = t;
    return b.input(n, t.dtype, t.shape);
  });
  const attrs: Record<string, unknown> = {};
  for (const a of node.attribute ?? []) attrs[a.name!] = attrValue(a);
  const res = b.apply(node.opType!, syms, attrs as never, { outputs: node.output!.length });
  res.forEach((s, i) => b.output(s, `out${i}`));
  const got = compileCpu(b.build()).run(feeds);
  outs.forEach((want, i) => {
    const t = got[`out${i}`]!;
    expect(t.dtype, `${name} output ${i} dtype`).to.equal(want.dtype);
    expect(t.shape, `${name} output ${i} shape`).to.deep.equal(want.shape);
    const a = t.toArray();
    const e = want.toArray();
    for (let k = 0; k < e.length; k++) {
      if (!(Math.abs(a[k]! - e[k]!) <= tol * (1 + Math.abs(e[k]!))) && !(Number.isNaN(a[k]!) && Number.isNaN(e[k]!))) {
        expect.fail(`${name} output ${i}[${k}]: got ${a[k]}, want ${e[k]}`);
      }
    }
  });
}

/** Names of node tests whose directory name starts with one of `prefixes`. */
export function nodeTests(...prefixes: string[]): string[] {
  if (!existsSync(NODE_DATA)) return [];
  return readdirSync(NODE_DATA).filter((d) => prefixes.some((p) => d.startsWith(p))).sort();
}

/**
 * Builds a one-node graph of `op` and runs it on the CPU. Inputs whose index is in
 * `constants` (default: the op's shapeInputs) become initializers; the rest are fed.
 * Returns the output tensors and the symbols (with their inferred build-time shapes).
 */
export function runOp(
  op: string,
  inputs: readonly (Tensor | undefined)[],
  attrs: Record<string, unknown> = {},
  opts: { outputs?: number; constants?: readonly number[] } = {},
): { outs: Tensor[]; syms: Sym[] } {
  const b = new GraphBuilder(op);
  const consts = opts.constants ?? findOp(op)?.shapeInputs ?? [];
  const feeds: Record<string, Tensor> = {};
  const syms = inputs.map((t, k) => {
    if (!t) return undefined;
    if (consts.includes(k)) return b.constant(t, { name: `c${k}` });
    feeds[`in${k}`] = t;
    return b.input(`in${k}`, t.dtype, t.shape);
  });
  const res = b.apply(op, syms, attrs as never, opts.outputs ? { outputs: opts.outputs } : {});
  res.forEach((s, i) => b.output(s, `out${i}`));
  const got = compileCpu(b.build()).run(feeds);
  return { outs: res.map((_, i) => got[`out${i}`]!), syms: res };
}

/** Shorthands for test tensors. */
export const f32 = (shape: number[], v: number[]) => Tensor.from('float32', shape, v);
/** An int64 tensor. */
export const i64 = (shape: number[], v: number[]) => Tensor.from('int64', shape, v);
/** Values 0..n-1 as float32 of a shape. */
export const iota = (shape: number[]) => Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i));

/**
 * Runs a small multi-node ONNX test model (e.g. `pytorch-operator/test_operator_pad`):
 * initializers become constants, graph inputs are fed from test_data_set_0, every
 * node is applied in file order, and the outputs are compared within `tol`.
 */
export function runModelTest(dir: string, tol = 1e-4): void {
  const model = onnx.ModelProto.decode(readFileSync(path.join(dir, 'model.onnx')));
  const g = model.graph!;
  const set = path.join(dir, 'test_data_set_0');
  const files = readdirSync(set);
  const load = (prefix: string) => files.filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
    .map((f) => decodeTensor(onnx.TensorProto.decode(readFileSync(path.join(set, f)))));
  const ins = load('input_');
  const outs = load('output_');
  const b = new GraphBuilder(path.basename(dir));
  const env = new Map<string, Sym>();
  const inits = new Set((g.initializer ?? []).map((t) => t.name!));
  for (const t of g.initializer ?? []) env.set(t.name!, b.constant(decodeTensor(t), { name: t.name! }));
  const feeds: Record<string, Tensor> = {};
  (g.input ?? []).filter((v) => !inits.has(v.name!)).forEach((v, i) => {
    const t = ins[i]!;
    feeds[v.name!] = t;
    env.set(v.name!, b.input(v.name!, t.dtype, t.shape));
  });
  for (const node of g.node ?? []) {
    const attrs: Record<string, unknown> = {};
    for (const a of node.attribute ?? []) attrs[a.name!] = attrValue(a);
    const res = b.apply(node.opType!, node.input!.map((n) => (n === '' ? undefined : env.get(n))), attrs as never, { outputs: node.output!.length });
    node.output!.forEach((n, i) => env.set(n, res[i]!));
  }
  (g.output ?? []).forEach((o, i) => b.output(env.get(o.name!)!, `out${i}`));
  const got = compileCpu(b.build()).run(feeds);
  outs.forEach((want, i) => {
    const t = got[`out${i}`]!;
    expect(t.shape, `output ${i} shape`).to.deep.equal(want.shape);
    const a = t.toArray();
    const e = want.toArray();
    for (let k = 0; k < e.length; k++) {
      if (!(Math.abs(a[k]! - e[k]!) <= tol * (1 + Math.abs(e[k]!))) && !(Number.isNaN(a[k]!) && Number.isNaN(e[k]!))) expect.fail(`output ${i}[${k}]: got ${a[k]}, want ${e[k]}`);
    }
  });
}
