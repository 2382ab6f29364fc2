/// <reference types="@webgpu/types" />
/**
 * Weight quantization (src/passes/quantize-weights.ts): per-channel int8 by hand, a
 * MatMul graph within the error bound the scales give, and the shared models
 * quantized after -O2 (weights inside Fused epilogues included), run by
 * onnxruntime-node from the exported file, by Kiln's CPU and WebGPU backends, against
 * the models' own test data. Tolerance: max |error| ≤ 3e-2 · max(1, max |expected|),
 * and the same top class for the classifier.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';
import { exportModel } from '../onnx/export.js';
import { importModelFile } from '../onnx/import.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { optimize } from '../src/passes/pipelines.js';
import { QuantizationError, quantizeBlocks4, quantizePerChannel, quantizeWeights } from '../src/passes/quantize-weights.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { randomTensor } from './helpers/gpu-compare.js';
import { kiln, tempDir } from './cli-helpers.js';
import { runOrt, SHARED_MODELS } from './onnx-util.js';

function maxErr(got: Tensor, want: Tensor): { err: number; range: number } {
  let err = 0;
  let range = 0;
  for (let i = 0; i < want.size; i++) {
    err = Math.max(err, Math.abs(Number(got.data[i]) - Number(want.data[i])));
    range = Math.max(range, Math.abs(Number(want.data[i])));
  }
  return { err, range };
}

const argmax = (t: Tensor): number => t.toArray().reduce((b, v, i, a) => (v > a[b]! ? i : b), 0);

describe('weight quantization: int8 per channel behind DequantizeLinear', function () {
  this.timeout(300_000);

  it('quantizes per output channel, symmetric, round half to even', () => {
    const w = Tensor.from('float32', [2, 2], [1, -2, 0.5, 4]);
    const { q, scale, maxError } = quantizePerChannel(w, 1);
    expect(scale.toArray()).to.deep.equal([Math.fround(1 / 127), Math.fround(4 / 127)]);
    expect(q.toArray()).to.deep.equal([127, -64, 64, 127]); // -2/(4/127) = -63.5 → -64; 0.5/(1/127) = 63.5 → 64
    expect(maxError).to.be.closeTo((0.5 / 127) * 4, 1e-6);
    const rows = quantizePerChannel(w, 0);
    expect(rows.scale.toArray()).to.deep.equal([Math.fround(2 / 127), Math.fround(4 / 127)]);
  });

  it('a MatMul graph: DequantizeLinear(int8) feeds the MatMul, results within the bound the scales give, on CPU and WebGPU', async function () {
    const b = new GraphBuilder('mm');
    const x = b.input('x', 'float32', [3, 64]);
    const w = randomTensor('float32', [64, 40], 7, -1, 1);
    b.output(b.Relu(b.MatMul([x, b.constant(w)])), 'y');
    const g = optimize(b.build(), { level: 2 }).graph;
    const { graph, report } = quantizeWeights(g, { bits: 8 });
    expect(report.weights).to.have.length(1);
    expect(report.bytesAfter).to.be.below(report.bytesBefore / 3.5);
    // The MatMul's kernel dequantizes on load: the DequantizeLinear joins its Fused group (int8-packed.test.ts).
    const inGroups = graph.nodes.flatMap((n) => (n.op === 'Fused' ? (n.attrs['graph'] as typeof graph).nodes.map((m) => m.op) : [n.op]));
    expect(inGroups).to.include('DequantizeLinear');
    expect([...graph.initializers.values()].map((t) => t.dtype).sort()).to.deep.equal(['float32', 'int8', 'int8']);
    const feeds = { x: randomTensor('float32', [3, 64], 8, -1, 1) };
    const want = compileCpu(g).run(feeds).y!;
    const bound = 64 * 1 * report.weights[0]!.maxError; // Σ_k |x_k| · max |Δw|
    expect(maxErr(compileCpu(graph).run(feeds).y!, want).err).to.be.at.most(bound);
    const device = await deviceOrSkip(this);
    expect(maxErr((await (await compileWebGpu(graph, { device })).run(feeds)).y!, want).err).to.be.at.most(bound + 1e-5);
  });

  it('packs 4-bit blocks as MatMulNBits does: two weights a byte, low nibble first, zero point 8', () => {
    const w = Tensor.from('float32', [3, 1], [0.625, -1.75, 0.375]); // K = 3 (one padded block of 16), N = 1
    const { b, scales, maxError } = quantizeBlocks4(w, 16);
    expect(b.shape).to.deep.equal([1, 1, 8]);
    expect(scales.toArray()).to.deep.equal([0.25]);
    // q = round(w / s) + 8: 2.5 → 2 (half to even) → 10; -7 → 1; 1.5 → 2 → 10; padding → 8.
    expect(b.toArray()).to.deep.equal([10 | (1 << 4), 10 | (8 << 4), 0x88, 0x88, 0x88, 0x88, 0x88, 0x88]);
    expect(maxError).to.equal(0.125);
  });

  it('refuses other bit widths with a typed error; leaves small and shared weights alone', () => {
    const b = new GraphBuilder('small');
    const x = b.input('x', 'float32', [1, 4]);
    const w = b.constant(randomTensor('float32', [4, 4], 1));
    b.output(b.Add([b.MatMul([x, w]), b.MatMul([x, w])]), 'y');
    const g = b.build();
    expect(() => quantizeWeights(g, { bits: 3 })).to.throw(QuantizationError, /3 bits/);
    expect(() => quantizeWeights(g, { bits: 4, blockSize: 24 })).to.throw(QuantizationError, /power of 2/);
    expect(quantizeWeights(g, { bits: 8 }).graph).to.equal(g);
    expect(quantizeWeights(g, { bits: 8, minElements: 1 }).report.weights).to.deep.equal([]);
  });

  describe('shared models', () => {
    before(function () {
      if (!existsSync(SHARED_MODELS)) {
        if (process.env.CI === 'true') throw new Error(`shared models missing: ${SHARED_MODELS}`);
        console.log(`    (skipping: no shared models at ${SHARED_MODELS})`);
        this.skip();
      }
    });
    for (const name of ['squeezenet1_1', 'bert_tiny']) {
      it(`${name}: int8 weights after -O2 in onnxruntime-node (exported), Kiln CPU and WebGPU vs the test data`, async function () {
        const dir = path.join(SHARED_MODELS, name);
        const g = importModelFile(path.join(dir, 'model.onnx'));
        const set = readTestDataSets(dir)[0]!;
        const feeds: Record<string, Tensor> = {};
        g.inputs.forEach((inp, i) => { feeds[inp.name] = set.inputs[i]!.tensor; });
        const { graph, report } = quantizeWeights(optimize(g, { level: 2 }).graph, { bits: 8 });
        expect(report.weights.length).to.be.greaterThan(10);
        const bytes = exportModel(graph);
        expect(bytes.length).to.be.below(statSync(path.join(dir, 'model.onnx')).size / 3);
        const ort = await runOrt(bytes, feeds);
        const cpu = compileCpu(graph).run(feeds);
        const device = await deviceOrSkip(this);
        const program = await compileWebGpu(graph, { device });
        const gpu = await program.run(feeds);
        // The kernels read the int8 weights packed (int8-packed.test.ts): no dispatch is added.
        const plain = await compileWebGpu(optimize(g, { level: 2 }).graph, { device });
        await plain.run(feeds);
        expect(program.dispatchCount, 'WebGPU dispatches, int8 vs float32 weights').to.equal(plain.dispatchCount);
        g.outputs.forEach((o, i) => {
          const want = set.outputs[i]!.tensor;
          for (const [label, got] of [['onnxruntime-node', ort[o.name]!], ['Kiln CPU', cpu[o.name]!], ['Kiln WebGPU', gpu[o.name]!]] as const) {
            const { err, range } = maxErr(got, want);
            expect(err, `${name} ${o.name} ${label} (range ${range})`).to.be.at.most(3e-2 * Math.max(1, range));
            if (name === 'squeezenet1_1') expect(argmax(got), `${label} top class`).to.equal(argmax(want));
          }
        });
      });
    }

    for (const name of ['bert_tiny', 'gpt2_tiny']) {
      it(`${name}: int4 MatMulNBits weights (block 32) in onnxruntime-node (exported), Kiln CPU and WebGPU vs the test data`, async function () {
        const dir = path.join(SHARED_MODELS, name);
        const g = importModelFile(path.join(dir, 'model.onnx'));
        const set = readTestDataSets(dir)[0]!;
        const feeds: Record<string, Tensor> = {};
        g.inputs.forEach((inp, i) => { feeds[inp.name] = set.inputs[i]!.tensor; });
        const q = quantizeWeights(g, { bits: 4, blockSize: 32 });
        expect(q.report.weights.length).to.be.greaterThan(10);
        expect(q.report.bytesAfter).to.be.below(q.report.bytesBefore / 6);
        const graph = optimize(q.graph, { level: 2 }).graph;
        expect(graph.nodes.filter((n) => n.op === 'MatMulNBits').length).to.equal(q.report.weights.length);
        const ort = await runOrt(exportModel(graph), feeds);
        const cpu = compileCpu(graph).run(feeds);
        const device = await deviceOrSkip(this);
        const gpu = await (await compileWebGpu(graph, { device })).run(feeds);
        g.outputs.forEach((o, i) => {
          const want = set.outputs[i]!.tensor;
          for (const [label, got] of [['onnxruntime-node', ort[o.name]!], ['Kiln CPU', cpu[o.name]!], ['Kiln WebGPU', gpu[o.name]!]] as const) {
            const { err, range } = maxErr(got, want);
            console.log(`      ${name} int4 ${label}: max |error| ${err.toExponential(2)} (range ${range.toFixed(2)})`);
            expect(err, `${name} ${o.name} ${label} (range ${range})`).to.be.at.most(0.15 * Math.max(1, range));
          }
          const { err } = maxErr(cpu[o.name]!, ort[o.name]!);
          expect(err, 'Kiln CPU vs onnxruntime-node on the same int4 file').to.be.at.most(1e-3 * Math.max(1, maxErr(ort[o.name]!, ort[o.name]!).range));
        });
      });
    }

    it('kiln optimize --quantize int8 writes a file ~4× smaller that onnxruntime-node runs', async () => {
      const dir = path.join(SHARED_MODELS, 'squeezenet1_1');
      const out = path.join(tempDir('q8'), 'sq.int8.onnx');
      const r = await kiln(['optimize', path.join(dir, 'model.onnx'), out, '--quantize', 'int8']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/quantize: \d+ weights to int8/);
      expect(statSync(out).size).to.be.below(statSync(path.join(dir, 'model.onnx')).size / 3);
      const set = readTestDataSets(dir)[0]!;
      const g = importModelFile(out);
      const got = await runOrt(new Uint8Array(readFileSync(out)), { [g.inputs[0]!.name]: set.inputs[0]!.tensor });
      expect(argmax(got[g.outputs[0]!.name]!)).to.equal(argmax(set.outputs[0]!.tensor));
      const bad = await kiln(['optimize', path.join(dir, 'model.onnx'), out, '--quantize', 'int3']);
      expect(bad.code).to.not.equal(0);
      expect(bad.stderr).to.match(/--quantize must be int8/);
    });
  });
});
