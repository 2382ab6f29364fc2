/// <reference types="@webgpu/types" />
/**
 * int8 weights kept packed in GPU memory (src/backends/webgpu/packed-weights.ts):
 * MatMul, Gemm (transB) and Conv (3×3, strided, pointwise, depthwise, grouped) whose
 * weights are DequantizeLinear(int8/uint8 constant, per-channel scale) load them as
 * packed bytes inside their one dispatch. Checked: the WebGPU result against Kiln's CPU
 * reference of the same graph (which dequantizes in f32; tolerance 1e-4 · max(1, max
 * |expected|): the kernel sums x · q and scales once); the plan's constant buffers
 * hold the weights at one byte each (with the scales, over 2.5 bytes per weight
 * fewer than float32, under 0.3× in all) and its peak bytes are below the float32 graph's; dispatch counts equal the float32 graph's; constant
 * folding and epilogue fusion keep the dequantization for the kernel on a graph
 * imported from ONNX (the `kiln optimize --quantize int8` file).
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { compileWasm } from '../src/backends/wasm/index.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';
import type { Graph } from '../src/graph/graph.js';
import { isFused } from '../src/graph/ops/fused.js';
import { exportModel } from '../onnx/export.js';
import { importModel } from '../onnx/import.js';
import { optimize } from '../src/passes/pipelines.js';
import { quantizeWeights } from '../src/passes/quantize-weights.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { maxAbsDiff, randomTensor } from './helpers/gpu-compare.js';

/** The largest |got − want| (shapes asserted equal) and max |want|. */
function maxErr(got: Tensor, want: Tensor): { err: number; range: number } {
  return { err: maxAbsDiff(got, want), range: want.toArray().reduce((m, v) => Math.max(m, Math.abs(v)), 0) };
}

/** A CNN: 3×3 conv (pad 1), strided 3×3, depthwise 3×3, grouped 3×3 (4 groups), pointwise, then Gemm (transB). */
function cnn(): Graph {
  const b = new GraphBuilder('cnn');
  const x = b.input('x', 'float32', [2, 8, 10, 10]);
  const w = (shape: number[], seed: number): ReturnType<typeof b.constant> => b.constant(randomTensor('float32', shape, seed, -1, 1));
  let y = b.Relu(b.Conv([x, w([16, 8, 3, 3], 1), w([16], 2)], { pads: [1, 1, 1, 1] }));
  y = b.Conv([y, w([16, 16, 3, 3], 3)], { strides: [2, 2] });
  y = b.Relu(b.Conv([y, w([16, 1, 3, 3], 4), w([16], 5)], { group: 16, pads: [1, 1, 1, 1] }));
  y = b.Conv([y, w([16, 4, 3, 3], 6)], { group: 4, pads: [1, 1, 1, 1] });
  y = b.Conv([y, w([12, 16, 1, 1], 7), w([12], 8)], {});
  y = b.Flatten([y], { axis: 1 });
  b.output(b.Gemm([y, w([10, 12 * 4 * 4], 9), w([10], 10)], { transB: 1 }), 'y');
  return b.build();
}

/** An MLP: MatMul (N % 4 = 0, the vector form) + Relu, then a MatMul with N = 6 (the scalar form). */
function mlp(): Graph {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', [3, 32]);
  const h = b.Relu(b.MatMul([x, b.constant(randomTensor('float32', [32, 24], 11, -1, 1))]));
  b.output(b.MatMul([h, b.constant(randomTensor('float32', [24, 6], 12, -1, 1))]), 'y');
  return b.build();
}

/** uint8 weights (zero point 0) behind a per-column DequantizeLinear, built by hand. */
function uint8Graph(): Graph {
  const b = new GraphBuilder('u8');
  const x = b.input('x', 'float32', [4, 20]);
  const q = Tensor.from('uint8', [20, 8], Array.from({ length: 160 }, (_, i) => (i * 37) % 256));
  const s = Tensor.from('float32', [8], Array.from({ length: 8 }, (_, i) => 0.01 * (i + 1)));
  const w = b.DequantizeLinear([b.constant(q), b.constant(s), b.constant(new Tensor('uint8', [8]))], { axis: 1 });
  b.output(b.Relu(b.MatMul([x, w])), 'y');
  return b.build();
}

const feedsOf = (g: Graph, seed: number): Record<string, Tensor> =>
  Object.fromEntries(g.inputs.map((i) => [i.name, randomTensor('float32', i.shape as number[], seed, -1, 1)]));

/** True when some Fused node of `g` has a DequantizeLinear inside. */
const dequantizesInGroup = (g: Graph): boolean => g.nodes.some((n) => isFused(n) && (n.attrs['graph'] as Graph).nodes.some((m) => m.op === 'DequantizeLinear'));

describe('int8 weights packed on WebGPU (dequantized inside MatMul/Gemm/Conv)', function () {
  this.timeout(120000);

  for (const [name, build] of [['cnn', cnn], ['mlp', mlp]] as const) {
    it(`${name}: quantized after -O2, WebGPU = CPU reference, weights at a byte each in the plan, dispatches as float`, async function () {
      const device = await deviceOrSkip(this);
      const float = optimize(build(), { level: 2 }).graph;
      const { graph, report } = quantizeWeights(float, { bits: 8, minElements: 1 });
      expect(report.weights.length).to.equal(name === 'cnn' ? 6 : 2);
      expect(dequantizesInGroup(graph), 'DequantizeLinear inside the anchors\' groups').to.equal(true);
      expect(graph.nodes.filter((n) => n.op === 'DequantizeLinear'), 'no DequantizeLinear left outside').to.have.length(0);
      const feeds = feedsOf(graph, 3);
      const want = compileCpu(graph).run(feeds).y!;
      const prog = await compileWebGpu(graph, { device });
      const { err, range } = maxErr((await prog.run(feeds)).y!, want);
      expect(err, `max |WebGPU - CPU| (range ${range})`).to.be.at.most(1e-4 * Math.max(1, range));
      const plan = prog.plan!;
      const packedLabels = plan.dispatches.map((d) => d.label).filter((l) => l.includes('.int8'));
      expect(packedLabels, 'one packed-weight dispatch per quantized weight').to.have.length(report.weights.length);
      if (name === 'cnn') for (const form of ['Conv.gemm', 'Conv.depthwise', 'Conv.direct', 'Conv.pointwise', 'Gemm']) expect(packedLabels.some((l) => l.includes(form)), form).to.equal(true);
      const fp = await compileWebGpu(float, { device });
      await fp.run(feeds);
      expect(plan.dispatches.length, 'dispatches int8 vs float32').to.equal(fp.plan!.dispatches.length);
      expect(plan.plan.peakBytes, 'peak GPU bytes int8 vs float32').to.be.below(fp.plan!.plan.peakBytes);
      // Constants on the device (weights 1 byte each, f32 scales and biases) vs float32 weights: about a quarter.
      const pinned = (p: typeof plan): number => p.plan.buffers.filter((x) => x.kind === 'pinned').reduce((t, x) => t + x.bytes, 0);
      const weightBytes = report.weights.reduce((t, w) => t + w.elements, 0);
      // 3 bytes fewer a weight, less the f32 scales (one per output channel).
      expect(pinned(plan), 'pinned bytes int8').to.be.below(pinned(fp.plan!) - 2.5 * weightBytes);
      expect(pinned(plan) / pinned(fp.plan!), 'pinned bytes int8 / float32').to.be.below(0.3);
      prog.release();
      fp.release();
    });
  }

  it('an exported int8 model, imported and optimized: folding keeps the dequantization, fusion puts it in the group', async function () {
    const device = await deviceOrSkip(this);
    const { graph } = quantizeWeights(optimize(cnn(), { level: 2 }).graph, { bits: 8, minElements: 1 });
    const again = optimize(importModel(exportModel(graph)), { level: 2 }).graph;
    expect(dequantizesInGroup(again)).to.equal(true);
    const sizes = [16 * 8 * 9, 16 * 16 * 9, 16 * 9, 16 * 4 * 9, 12 * 16, 10 * 12 * 16];
    expect([...again.initializers.values()].filter((t) => t.dtype === 'int8' && sizes.includes(t.size)).length, 'int8 weights kept').to.equal(6);
    const feeds = feedsOf(again, 4);
    const want = compileCpu(again).run(feeds).y!;
    const prog = await compileWebGpu(again, { device });
    const { err, range } = maxErr((await prog.run(feeds)).y!, want);
    expect(err, `max |WebGPU - CPU| (range ${range})`).to.be.at.most(1e-4 * Math.max(1, range));
    prog.release();
  });

  it('wasm: the groups dequantize the constant weights once at plan time and run in wasm (not the CPU reference)', () => {
    const { graph } = quantizeWeights(optimize(cnn(), { level: 2 }).graph, { bits: 8, minElements: 1 });
    const feeds = feedsOf(graph, 6);
    const want = compileCpu(graph).run(feeds).y!;
    const prog = compileWasm(graph, { profile: true });
    const { err, range } = maxErr(prog.run(feeds).y!, want);
    expect(err, `max |wasm - CPU| (range ${range})`).to.be.at.most(1e-4 * Math.max(1, range));
    expect(prog.lastProfile.filter((e) => e.op === 'Fused').length, 'Fused groups profiled').to.be.at.least(6);
    const onCpu = prog.lastProfile.filter((e) => !e.wasm && e.op === 'Fused').map((e) => e.node);
    expect(onCpu, 'Fused groups on the CPU reference').to.deep.equal([]);
  });

  it('uint8 weights with zero point 0, per column: packed, WebGPU = CPU reference', async function () {
    const device = await deviceOrSkip(this);
    const g = optimize(uint8Graph(), { level: 2 }).graph;
    expect(dequantizesInGroup(g)).to.equal(true);
    const feeds = feedsOf(g, 5);
    const want = compileCpu(g).run(feeds).y!;
    const prog = await compileWebGpu(g, { device });
    const { err, range } = maxErr((await prog.run(feeds)).y!, want);
    expect(err, `max |WebGPU - CPU| (range ${range})`).to.be.at.most(1e-4 * Math.max(1, range));
    expect(prog.plan!.plan.constants.map((c) => c.tensor.dtype)).to.not.include('uint8');
    prog.release();
  });

  it('a non-zero zero point is folded to float32 as before (the kernel takes zero points of 0 only)', () => {
    const b = new GraphBuilder('zp');
    const x = b.input('x', 'float32', [2, 4]);
    const w = b.DequantizeLinear([b.constant(Tensor.from('uint8', [4, 4], Array.from({ length: 16 }, (_, i) => i * 9))), b.constant(Tensor.from('float32', [], [0.1])), b.constant(Tensor.from('uint8', [], [128]))], {});
    b.output(b.MatMul([x, w]), 'y');
    const g = optimize(b.build(), { level: 2 }).graph;
    expect(dequantizesInGroup(g)).to.equal(false);
    expect(g.nodes.map((n) => n.op)).to.deep.equal(['MatMul']);
  });
});
