/**
 * Test helper: runs one official ONNX node test (model.onnx with a single node and
 * test_data_set_0) on the CPU backend and compares with the expected outputs.
 * Used by the matmul/conv/pool/resize op tests.
 */
import { expect } from 'chai';
import path from 'node:path';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, type Sym } from '../src/graph/index.js';
import { NODE_DATA, nodeAttrs, nodeTests, readOnnxCase } from './helpers/onnx-node.js';

export { NODE_DATA, nodeTests };

/** Runs `node/<name>` and checks every output within `tol` (absolute + relative). */
export function runNodeTest(name: string, tol = 1e-4): void {
  const { graph: g, ins, outs } = readOnnxCase(path.join(NODE_DATA, name));
  const b = new GraphBuilder(name);
  const feeds: Record<string, Tensor> = {};
  const env = new Map<string, Sym>();
  (g.input ?? []).forEach((v, i) => {
    const t = ins[i]!;
    feeds[v.name!] = t;
    env.set(v.name!, b.input(v.name!, t.dtype, t.shape));
  });
  for (const node of g.node ?? []) {
    const attrs = nodeAttrs(node);
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
