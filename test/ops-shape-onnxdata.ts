/**
 * Test helper for the shape/movement/gather op tests: runs one official ONNX node
 * test (model.onnx with a single node and test_data_set_0) on the CPU backend and
 * compares with the expected outputs. Inputs listed in the op's `shapeInputs` are
 * given as constants (as an importer folds them), so rank-deciding inputs such as
 * Squeeze axes are known at build time.
 */
import { expect } from 'chai';
import path from 'node:path';
import { tensorFromProto } from '../onnx/tensor-proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, type Sym } from '../src/graph/index.js';
import { findOp } from '../src/graph/op.js';
import { NODE_DATA, nodeAttrs, nodeTests, readOnnxCase } from './helpers/onnx-node.js';

export { NODE_DATA, nodeTests };

/** Runs `node/<name>` and checks every output within `tol` (absolute + relative). */
export function runNodeTest(name: string, tol = 1e-4): void {
  const dir = path.join(NODE_DATA, name);
  const { graph: g, ins, outs } = readOnnxCase(dir);
  const node = g.node![0]!;
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
  const attrs = nodeAttrs(node);
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
  const { graph: g, ins, outs } = readOnnxCase(dir);
  const b = new GraphBuilder(path.basename(dir));
  const env = new Map<string, Sym>();
  const inits = new Set((g.initializer ?? []).map((t) => t.name!));
  for (const t of g.initializer ?? []) env.set(t.name!, b.constant(tensorFromProto(t), { name: t.name! }));
  const feeds: Record<string, Tensor> = {};
  (g.input ?? []).filter((v) => !inits.has(v.name!)).forEach((v, i) => {
    const t = ins[i]!;
    feeds[v.name!] = t;
    env.set(v.name!, b.input(v.name!, t.dtype, t.shape));
  });
  for (const node of g.node ?? []) {
    const attrs = nodeAttrs(node);
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
