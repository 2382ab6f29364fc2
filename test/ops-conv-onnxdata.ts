/**
 * Test helper: runs one official ONNX node test (model.onnx with a single node and
 * test_data_set_0) on the CPU backend and compares with the expected outputs.
 * Used by the matmul/conv/pool/resize op tests.
 */
import { expect } from 'chai';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, type DType, type Sym } from '../src/graph/index.js';

const { onnx } = onnxProto as unknown as typeof import('onnx-proto');

/** Root of the ONNX node test data. */
export const NODE_DATA = path.join(process.env.KILN_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data', 'node');

const DT: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64' };

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
  const set = path.join(dir, 'test_data_set_0');
  const files = readdirSync(set);
  const load = (prefix: string) => files.filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
    .map((f) => decodeTensor(onnx.TensorProto.decode(readFileSync(path.join(set, f)))));
  const ins = load('input_');
  const outs = load('output_');
  const b = new GraphBuilder(name);
  const feeds: Record<string, Tensor> = {};
  const env = new Map<string, Sym>();
  (g.input ?? []).forEach((v, i) => {
    const t = ins[i]!;
    feeds[v.name!] = t;
    env.set(v.name!, b.input(v.name!, t.dtype, t.shape));
  });
  for (const node of g.node ?? []) {
    const attrs: Record<string, unknown> = {};
    for (const a of node.attribute ?? []) attrs[a.name!] = attrValue(a);
    if (node.opType === 'Constant') {
      env.set(node.output![0]!, b.constant(attrs.value as Tensor));
      continue;
    }
    const syms = node.input!.map((n) => (n === '' ? undefined : env.get(n)!));
    const res = b.apply(node.opType!, syms, attrs as never, { outputs: node.output!.length });
    node.output!.forEach((o, i) => env.set(o, res[i]!));
  }
  (g.output ?? []).forEach((o, i) => b.output(env.get(o.name!)!, `out${i}`));
  const got = compileCpu(b.build()).run(feeds);
  outs.forEach((want, i) => {
    const t = got[`out${i}`]!;
    expect(t.shape, `${name} output ${i} shape`).to.deep.equal(want.shape);
    const a = t.toArray();
    const e = want.toArray();
    for (let k = 0; k < e.length; k++) {
      if (Math.abs(a[k]! - e[k]!) > tol * (1 + Math.abs(e[k]!))) {
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

/** Runs one op on constant inputs with the CPU backend and returns its outputs. */
export function runOp(op: string, inputs: readonly (Tensor | undefined)[], attrs: Record<string, unknown> = {}, outputs = 1): Tensor[] {
  const b = new GraphBuilder(op);
  const syms = inputs.map((t) => (t ? b.constant(t) : undefined));
  const res = b.apply(op, syms, attrs as never, { outputs });
  res.forEach((s, i) => b.output(s, `out${i}`));
  const got = compileCpu(b.build()).run({});
  return res.map((_, i) => got[`out${i}`]!);
}

/** Shorthand for a float32 tensor. */
export function f32(shape: readonly number[], values: readonly number[]): Tensor {
  return Tensor.from('float32', shape, values);
}

/** Asserts a tensor's shape and values (within `tol`). */
export function expectTensor(t: Tensor, shape: readonly number[], values: readonly number[], tol = 1e-5): void {
  expect(t.shape).to.deep.equal(shape);
  const a = t.toArray();
  expect(a.length).to.equal(values.length);
  a.forEach((v, i) => {
    if (!(Math.abs(v - values[i]!) <= tol * (1 + Math.abs(values[i]!)))) expect.fail(`element ${i}: got ${v}, want ${values[i]} (all: ${a.join(', ')})`);
  });
}
