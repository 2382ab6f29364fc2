/// <reference types="@webgpu/types" />
/**
 * The optimizer updates of ONNX's preview training domain (Adagrad, Momentum and
 * Nesterov, Adam) on the CPU reference and WebGPU, against the formulas of the ONNX
 * operator docs written out here independently in float64 (tolerance 1e-6 relative +
 * 1e-6), with several tensors per node, T = 0 and T > 0 (Adam's bias correction,
 * Momentum's first step), and the learning-rate decay of Adagrad. Also: the ONNX
 * test case test_adam_multiple's expected output is Adam's with epsilon 1e-2, an
 * attribute its node does not set (so the case is listed as a test-data error).
 */
import { expect } from 'chai';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { importModelFile } from '../onnx/import.js';
import { readTensorFile } from '../onnx/tensor-proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { TRAINING_OPS } from '../src/graph/ops/index.js';
import { TRAINING_DOMAIN } from '../src/graph/ops/optimizers.js';
import { testDataRoot } from '../src/harness/conformance.js';
import { sharedDevice } from './helpers/gpu.js';
import { randomTensor } from './helpers/gpu-compare.js';

type Attrs = Record<string, number | string>;

/** The ONNX doc formulas, in float64, for one tensor: returns [X', states'...]. */
function expected(op: 'Adagrad' | 'Momentum' | 'Adam', a: Attrs, R: number, T: number, x: number, g: number, s: number[]): number[] {
  const nc = Number(a.norm_coefficient ?? 0);
  if (op === 'Adagrad') {
    const r = R / (1 + T * Number(a.decay_factor ?? 0));
    const gr = nc * x + g;
    const h = s[0]! + gr * gr;
    return [x - (r * gr) / (Math.sqrt(h) + Number(a.epsilon ?? 1e-6)), h];
  }
  if (op === 'Momentum') {
    const gr = nc * x + g;
    const alpha = Number(a.alpha);
    const v = alpha * s[0]! + (T > 0 ? Number(a.beta) : 1) * gr;
    return [a.mode === 'nesterov' ? x - R * (gr + alpha * v) : x - R * v, v];
  }
  const alpha = Number(a.alpha ?? 0.9);
  const beta = Number(a.beta ?? 0.999);
  const gr = nc * x + g;
  const v = alpha * s[0]! + (1 - alpha) * gr;
  const h = beta * s[1]! + (1 - beta) * gr * gr;
  const r = T > 0 ? (R * Math.sqrt(1 - beta ** T)) / (1 - alpha ** T) : R;
  const xn = x - (r * v) / (Math.sqrt(h) + Number(a.epsilon ?? 1e-6));
  return [(1 - Number(a.norm_coefficient_post ?? 0)) * xn, v, h];
}

/** A graph of one optimizer node over `shapes.length` tensors; inputs R, T, then X…, G…, states…. */
function optimizerGraph(op: 'Adagrad' | 'Momentum' | 'Adam', attrs: Attrs, shapes: number[][]): Graph {
  const per = op === 'Adam' ? 4 : 3;
  const kinds = ['X', 'G', 'V', 'H'].slice(0, per);
  const ins = [{ name: 'R', dtype: 'float32' as const, shape: [] }, { name: 'T', dtype: 'int64' as const, shape: [] }];
  for (const k of kinds) shapes.forEach((s, i) => ins.push({ name: `${k}${i}`, dtype: 'float32', shape: s } as never));
  const outs = [...['X', ...kinds.slice(2)].flatMap((k) => shapes.map((s, i) => ({ name: `${k}${i}_new`, dtype: 'float32' as const, shape: s })))];
  return Graph.create({
    name: op,
    inputs: ins,
    outputs: outs,
    nodes: [{ name: `${op}_0`, op, domain: TRAINING_DOMAIN, attrs: attrs as never, inputs: ins.map((i) => i.name), outputs: outs.map((o) => o.name) }],
    initializers: new Map(),
    valueTypes: new Map(outs.map((o) => [o.name, { dtype: o.dtype, shape: o.shape }])),
  });
}

describe('optimizer ops (ai.onnx.preview.training) on CPU and WebGPU vs the ONNX formulas', function () {
  this.timeout(60000);
  let device: GPUDevice | null;
  before(async () => { device = await sharedDevice(); });
  expect(Object.keys(TRAINING_OPS)).to.deep.equal(['Adagrad', 'Momentum', 'Adam', 'SGD', 'AdamW']);

  const cases: [string, 'Adagrad' | 'Momentum' | 'Adam', Attrs, number][] = [
    ['Adagrad with decay and L2', 'Adagrad', { decay_factor: 0.1, epsilon: 1e-5, norm_coefficient: 0.01 }, 3],
    ['Momentum, first step', 'Momentum', { alpha: 0.9, beta: 0.5, norm_coefficient: 0.001, mode: 'standard' }, 0],
    ['Momentum, later step', 'Momentum', { alpha: 0.9, beta: 0.5, norm_coefficient: 0.001, mode: 'standard' }, 4],
    ['Nesterov', 'Momentum', { alpha: 0.8, beta: 0.7, norm_coefficient: 0, mode: 'nesterov' }, 2],
    ['Adam, first step', 'Adam', { alpha: 0.9, beta: 0.99, epsilon: 1e-4, norm_coefficient: 0.001 }, 0],
    ['Adam, bias-corrected step 5 with norm_coefficient_post', 'Adam', { alpha: 0.9, beta: 0.99, epsilon: 1e-4, norm_coefficient: 0.001, norm_coefficient_post: 0.01 }, 5],
  ];
  for (const [name, op, attrs, step] of cases) {
    it(`${name}: two tensors, CPU and WebGPU`, async () => {
      const shapes = [[3, 5], [7]];
      const g = optimizerGraph(op, attrs, shapes);
      const feeds: Record<string, Tensor> = { R: Tensor.from('float32', [], [0.05]), T: Tensor.from('int64', [], [step]) };
      g.inputs.slice(2).forEach((inp, i) => {
        const positive = inp.name.startsWith('H') || (op === 'Adagrad' && inp.name.startsWith('V'));
        feeds[inp.name] = randomTensor('float32', inp.shape as number[], 100 + i, positive ? 0.01 : -1, 1);
      });
      const per = op === 'Adam' ? 4 : 3;
      const want = new Map<string, number[]>();
      shapes.forEach((s, k) => {
        const size = s.reduce((p, d) => p * d, 1);
        const res = Array.from({ length: per - 1 }, () => new Array<number>(size));
        for (let i = 0; i < size; i++) {
          const st = Array.from({ length: per - 2 }, (_, j) => Number(feeds[`${['V', 'H'][j]}${k}`]!.data[i]));
          expected(op, attrs, 0.05, step, Number(feeds[`X${k}`]!.data[i]), Number(feeds[`G${k}`]!.data[i]), st).forEach((v, j) => (res[j]![i] = v));
        }
        ['X', ...['V', 'H'].slice(0, per - 2)].forEach((kind, j) => want.set(`${kind}${k}_new`, res[j]!));
      });
      const check = (got: Record<string, Tensor>, where: string): void => {
        for (const [o, w] of want) {
          const t = got[o]!;
          w.forEach((v, i) => expect(Math.abs(Number(t.data[i]) - v), `${where} ${o}[${i}]: ${t.data[i]} vs ${v}`).to.be.at.most(1e-6 + 1e-6 * Math.abs(v)));
        }
      };
      check(compileCpu(g).run(feeds), 'cpu');
      if (!device) return;
      const prog = await compileWebGpu(g, { device });
      check((await prog.run(feeds)) as Record<string, Tensor>, 'webgpu');
      prog.release();
    });
  }

  it("test_adam_multiple's expected output is Adam's with epsilon 1e-2, which its node leaves unset", function () {
    const dir = path.join(testDataRoot(), 'node', 'test_adam_multiple');
    if (!existsSync(dir)) {
      if (process.env.CI === 'true') throw new Error(`ONNX test data missing at ${dir}`);
      this.skip();
    }
    const model = importModelFile(path.join(dir, 'model.onnx'));
    const node = model.nodes[0]!;
    expect(node.attrs['epsilon'], 'the node sets no epsilon').to.equal(undefined);
    const set = path.join(dir, 'test_data_set_0');
    const files = readdirSync(set).sort();
    const inputs = files.filter((f) => f.startsWith('input')).map((f) => readTensorFile(path.join(set, f)).tensor);
    const outputs = files.filter((f) => f.startsWith('output')).map((f) => readTensorFile(path.join(set, f)).tensor);
    const withEps = (eps: number) => compileCpu(model.with({ nodes: [{ ...node, attrs: { ...node.attrs, epsilon: eps } }] })).run(Object.fromEntries(model.inputs.map((inp, i) => [inp.name, inputs[i]!])));
    const diff = (got: Record<string, Tensor>) => Math.max(...model.outputs.map((o, i) => Math.max(...Array.from(got[o.name]!.data as Float32Array, (v, j) => Math.abs(v - Number(outputs[i]!.data[j]))))));
    expect(diff(withEps(1e-2)), 'epsilon 1e-2 gives the expected output').to.be.below(1e-6);
    expect(diff(compileCpu(model).run(Object.fromEntries(model.inputs.map((inp, i) => [inp.name, inputs[i]!])))), 'the default 1e-6 does not').to.be.above(1e-3);
  });
});
