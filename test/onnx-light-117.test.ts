/// <reference types="@webgpu/types" />
/**
 * The `light` suite of the ONNX 1.17 test data: whole AlexNet, DenseNet-121,
 * Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19 and ZFNet-512 graphs
 * whose float initializers were replaced by ConstantOfShape nodes. Each model comes
 * with one expected output and no input file; the expected output is the model's on
 * an all-zero input. Per model: Kiln at O2 on the CPU equals the expected output on
 * the zero input (atol 1e-5), and equals onnxruntime-node on a seeded input in
 * [-1, 1] (atol 1e-5); WebGPU likewise on the seeded input, including the three
 * models whose fully-connected weight is larger than one storage binding of the
 * device (AlexNet, ZFNet-512, VGG-19: their fc6 runs as column blocks, legalize.ts).
 * Without the data the suite fails under CI=true and skips elsewhere.
 */
import { expect } from 'chai';
import { maxAbsDiff } from './helpers/gpu-compare.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { importModel } from '../onnx/import.js';
import { readTensorFile } from '../onnx/tensor-proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { testDataRoot117 } from '../src/harness/conformance.js';
import { seededInput } from '../src/harness/compare.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { runOrt } from './onnx-util.js';

const ATOL = 1e-5;
/** Bytes of the largest weight (fc6) of the models whose weight exceeds lavapipe's 128 MiB binding (split into blocks on WebGPU). */
const LARGEST_WEIGHT: ReadonlyMap<string, number> = new Map([['light_bvlc_alexnet', 150_994_944], ['light_zfnet512', 301_989_888], ['light_vgg19', 411_041_792]]);



describe('ONNX 1.17 light models (whole networks) on CPU and WebGPU', function () {
  this.timeout(300_000);
  const dir = path.join(testDataRoot117(), 'light');
  const models = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort() : [];
  const cache = new Map<string, { bytes: Uint8Array; graph: Graph; input: string; x: Tensor; ort: Tensor }>();

  before(function () {
    if (models.length > 0) return;
    if (process.env.CI === 'true') throw new Error(`ONNX 1.17 light models missing at ${dir}: run .ci/setup-system.sh`);
    console.log(`    (skipping: no ONNX 1.17 light models at ${dir}; sudo .ci/setup-system.sh fetches them)`);
    this.skip();
  });

  async function load(name: string): Promise<{ graph: Graph; input: string; x: Tensor; ort: Tensor }> {
    let c = cache.get(name);
    if (!c) {
      const bytes = readFileSync(path.join(dir, `${name}.onnx`));
      const g = importModel(bytes);
      const inp = g.inputs[0]!;
      const x = seededInput(inp.shape.map((d) => (typeof d === 'number' ? d : 1)), 20261206);
      const ort = (await runOrt(bytes, { [inp.name]: x }))[g.outputs[0]!.name]!;
      c = { bytes, graph: optimize(g, { level: 2 }).graph, input: inp.name, x, ort };
      cache.set(name, c);
    }
    return c;
  }

  it('the suite holds the nine networks', () => {
    expect(models).to.have.length(9);
  });

  for (const name of ['light_bvlc_alexnet', 'light_densenet121', 'light_inception_v1', 'light_inception_v2', 'light_resnet50', 'light_shufflenet', 'light_squeezenet', 'light_vgg19', 'light_zfnet512']) {
    it(`${name} on the CPU at O2: the expected output on a zero input, onnxruntime-node on a seeded one`, async function () {
      if (!models.includes(name)) this.skip();
      const { graph, input, x, ort } = await load(name);
      const out = graph.outputs[0]!.name;
      const prog = compileCpu(graph);
      const zero = prog.run({ [input]: new Tensor('float32', x.shape) })[out]!;
      const want = readTensorFile(path.join(dir, `${name}_output_0.pb`)).tensor;
      expect(maxAbsDiff(zero, want), 'zero input vs the expected output').to.be.at.most(ATOL);
      expect(maxAbsDiff(prog.run({ [input]: x })[out]!, ort), 'seeded input vs onnxruntime-node').to.be.at.most(ATOL);
    });

    it(`${name} on WebGPU at O2: onnxruntime-node on a seeded input${(LARGEST_WEIGHT.get(name) ?? 0) > 134_217_728 ? ' (a weight beyond one binding, split into blocks)' : ''}`, async function () {
      if (!models.includes(name)) this.skip();
      const device = await deviceOrSkip(this);
      const { graph, input, x, ort } = await load(name);
      const prog = await compileWebGpu(graph, { device });
      try {
        const got = ((await prog.run({ [input]: x })) as Record<string, Tensor>)[graph.outputs[0]!.name]!;
        expect(maxAbsDiff(got, ort)).to.be.at.most(ATOL);
      } finally {
        prog.release();
      }
    });
  }
});
