/// <reference types="@webgpu/types" />
/**
 * The WebGPU executor: int64 range checks, symbolic dims with per-shape plan
 * caching, GPU-resident feeds and outputs, serialized concurrent runs, limits,
 * buffer reuse, pipeline sharing, profiling, device loss, and that no model
 * string reaches the generated WGSL.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { requestDevice } from '../src/backends/webgpu/device.js';
import { compileWebGpu, GpuTensor } from '../src/backends/webgpu/index.js';
import { DeviceLostError, GraphBuilder, LimitError, Tensor, UnsupportedOpError } from '../src/graph/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectClose, randomTensor } from './helpers/gpu-compare.js';
import { defineOp, type OpDef } from '../src/graph/op.js';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

function mlp() {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', ['n', 4]);
  const bias = b.constant([0.5, -1, 2, 0]);
  b.output(b.Tanh(b.Mul([b.Relu(b.Add([x, bias])), x])), 'y');
  return b.build();
}


/** Test-only ops (domain kiln.test) with a CPU reference and no WebGPU kernel. */
const [NO_KERNEL_A, NO_KERNEL_B] = ['NoKernelA', 'NoKernelB'].map((name) =>
  defineOp({
    name,
    domain: 'kiln.test',
    inputs: ['X'],
    outputs: ['Y'],
    attrs: {},
    category: 'opaque',
    doc: 'Identity without a WebGPU kernel (tests only).',
    infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
    cpu: ([x]) => [x!],
  }),
) as [OpDef, OpDef];

describe('webgpu executor', function () {
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });

  it('rejects int64 feeds outside the i32 range with a LimitError naming the input', async function () {
    const b = new GraphBuilder('ids');
    const ids = b.input('token_ids', 'int64', [3]);
    b.output(b.Gather([b.constant([1, 2, 3, 4]), ids]), 'y');
    const prog = await compileWebGpu(b.build(), { device });
    const err = await rejection(prog.run({ token_ids: Tensor.from('int64', [3], [0, 2 ** 33, 1]) }));
    expect(err).to.be.instanceOf(LimitError);
    expect((err as Error).message).to.match(/token_ids/);
    const ok = (await prog.run({ token_ids: Tensor.from('int64', [3], [3, 0, -1]) })).y as Tensor;
    expect(ok.toArray()).to.deep.equal([4, 1, 4]);
    prog.release();
  });

  it('runs symbolic dims for any shape and caches one plan per shape set', async function () {
    const g = mlp();
    const prog = await compileWebGpu(g, { device });
    const cpu = compileCpu(g);
    const plans = [];
    for (const n of [2, 7, 2, 0, 7]) {
      const x = randomTensor('float32', [n, 4], n);
      expectClose((await prog.run({ x })).y as Tensor, cpu.run({ x }).y!, 1e-5, `n=${n}`);
      plans.push(prog.plan);
    }
    expect(plans[2]).to.equal(plans[0]);
    expect(plans[4]).to.equal(plans[1]);
    expect(plans[1]).to.not.equal(plans[0]);
    prog.release();
  });

  it('plans shapes that depend on a small feed per feed value (Range fed from an input)', async function () {
    const b = new GraphBuilder('range');
    const n = b.input('n', 'int64', []);
    const half = b.Div([n, b.constant(2, { dtype: 'int64' })]);
    const r = b.Range([b.constant(0, { dtype: 'int64' }), b.Add([half, b.constant(1, { dtype: 'int64' })]), b.constant(1, { dtype: 'int64' })]);
    b.output(b.Mul([r, r]), 'sq');
    const prog = await compileWebGpu(b.build(), { device });
    for (const v of [5, 9, 5]) {
      const out = (await prog.run({ n: Tensor.from('int64', [], [v]) })).sq as Tensor;
      const m = Math.floor(v / 2) + 1;
      expect(out.toArray()).to.deep.equal(Array.from({ length: m }, (_, i) => i * i));
    }
    prog.release();
  });

  it('plans Pad with pads fed from an input, per pads value', async function () {
    const b = new GraphBuilder('pad-feed');
    const x = b.input('x', 'float32', [2, 3]);
    const pads = b.input('pads', 'int64', [4]);
    b.output(b.Pad([x, pads, b.constant(-1)]), 'y');
    const g = b.build();
    const prog = await compileWebGpu(g, { device });
    const feed = randomTensor('float32', [2, 3], 4);
    for (const p of [[0, 1, 1, 0], [1, 0, 0, 2]]) {
      const feeds = { x: feed, pads: Tensor.from('int64', [4], p) };
      expectClose((await prog.run(feeds)).y as Tensor, compileCpu(g).run(feeds).y!, 0, `pads ${p}`);
    }
    prog.release();
  });

  it('returns GPU-resident outputs and accepts GPU tensors as feeds', async function () {
    const g = mlp();
    const prog = await compileWebGpu(g, { device });
    const x = randomTensor('float32', [3, 4], 11);
    const want1 = compileCpu(g).run({ x }).y!;
    const want2 = compileCpu(g).run({ x: want1 }).y!;
    const y1 = (await prog.run({ x: GpuTensor.upload(device, x) }, { outputsOnGpu: true })).y as GpuTensor;
    expect(y1).to.be.instanceOf(GpuTensor);
    expect([...y1.shape]).to.deep.equal([3, 4]);
    const y2 = (await prog.run({ x: y1 }, { outputsOnGpu: true })).y as GpuTensor;
    expectClose(await y1.download(), want1, 1e-5, 'first');
    expectClose(await y2.download(), want2, 1e-5, 'chained');
    y1.destroy();
    y2.destroy();
    prog.release();
  });

  it('serializes concurrent run() calls', async function () {
    const g = mlp();
    const prog = await compileWebGpu(g, { device });
    const cpu = compileCpu(g);
    const xs = [1, 2, 3, 4, 5].map((s) => randomTensor('float32', [s, 4], 40 + s));
    const outs = await Promise.all(xs.map((x) => prog.run({ x })));
    outs.forEach((o, k) => expectClose(o.y as Tensor, cpu.run({ x: xs[k]! }).y!, 1e-5, `run ${k}`));
    prog.release();
  });

  it('rejects a tensor larger than maxStorageBufferBindingSize that no kernel can read in chunks before running, naming it', async function () {
    // An elementwise op or a reduction would read it in chunks (test/webgpu-chunks.test.ts); a CumSum's scan has no chunk rule.
    const n = Math.floor(device.limits.maxStorageBufferBindingSize / 4) + 1;
    const b = new GraphBuilder('huge');
    const x = b.input('huge_input', 'float32', [n]);
    b.output(b.CumSum([x, b.constant(Tensor.from('int64', [], [0]))]), 'y');
    const err = await rejection(compileWebGpu(b.build(), { device }));
    expect(err).to.be.instanceOf(LimitError);
    expect((err as Error).message).to.match(/huge_input/);
  });

  it('lists every op without a kernel in one UnsupportedOpError at compile time', async function () {
    // Every registry op has a WebGPU kernel or host kernel, so two test-only ops (CPU reference only) stand in.
    const b = new GraphBuilder('unsupported');
    const x = b.input('x', 'float32', [4]);
    b.output(b.apply(NO_KERNEL_A, [x])[0]!, 'a');
    b.output(b.apply(NO_KERNEL_B, [b.Neg(x)])[0]!, 'b');
    const err = await rejection(compileWebGpu(b.build(), { device }));
    expect(err).to.be.instanceOf(UnsupportedOpError);
    expect((err as UnsupportedOpError).ops.map((o) => o.op).sort()).to.deep.equal(['kiln.test::NoKernelA', 'kiln.test::NoKernelB']);
  });

  it('accepts ops without a kernel in shape computations that fold once dims are known', async function () {
    const b = new GraphBuilder('shape-nonzero');
    const x = b.input('x', 'float32', ['n', 3]);
    const nz = b.NonZero(b.Shape(x));
    b.output(b.Add([x, b.Cast(b.ReduceSum([b.Cast(nz, { to: 1 })], { keepdims: 0 }), { to: 1 })]), 'y');
    const g = b.build();
    const prog = await compileWebGpu(g, { device });
    const feed = randomTensor('float32', [2, 3], 9);
    expectClose((await prog.run({ x: feed })).y as Tensor, compileCpu(g).run({ x: feed }).y!, 1e-6, 'folded');
    expect(prog.plan!.dispatches.map((d) => d.op)).to.deep.equal(['Add']);
    prog.release();
  });

  it('reuses intermediate buffers by liveness and shares pipelines across programs', async function () {
    const b = new GraphBuilder('chain');
    let x = b.input('x', 'float32', [1000]);
    for (let i = 0; i < 8; i++) x = i % 2 ? b.Relu(x) : b.Neg(x);
    b.output(x, 'y');
    const g = b.build();
    const p1 = await compileWebGpu(g, { device });
    expect(p1.dispatchCount).to.equal(8);
    expect(p1.plan!.slotBytes.length).to.be.at.most(4);
    expect(p1.pipelineCount).to.equal(2);
    const before = p1.devicePipelineCount;
    const p2 = await compileWebGpu(g, { device });
    expect(p2.devicePipelineCount).to.equal(before);
    const x0 = randomTensor('float32', [1000], 3);
    expectClose((await p2.run({ x: x0 })).y as Tensor, compileCpu(g).run({ x: x0 }).y!, 0, 'chain');
    p1.release();
    p2.release();
  });

  it('never puts node, value or graph names into WGSL', async function () {
    const b = new GraphBuilder('secret_graph_name');
    const x = b.input('secret_input_name', 'float32', [2, 3]);
    const y = b.Add([x, b.constant([1, 2, 3], { name: 'secret_const_name' })], {}, { name: 'secret_node_name' });
    b.output(b.Transpose(y), 'secret_output_name');
    const prog = await compileWebGpu(b.build(), { device });
    expect(prog.shaders.length).to.equal(2);
    for (const s of prog.shaders) expect(s).to.not.match(/secret/);
    prog.release();
  });

  it('profiles per-dispatch GPU time with timestamp-query', async function () {
    if (!device.features.has('timestamp-query')) this.skip();
    const g = mlp();
    const prog = await compileWebGpu(g, { device, profile: true });
    await prog.run({ x: randomTensor('float32', [64, 4], 1) });
    expect(prog.lastProfile.length).to.equal(prog.dispatchCount);
    for (const p of prog.lastProfile) {
      expect(p.ns).to.be.a('number').and.to.be.at.least(0);
      expect(p.op).to.be.a('string');
    }
    prog.release();
  });

  it('throws DeviceLostError after the device is lost', async function () {
    const own = (await requestDevice({ label: 'kiln-lost-test' })).device;
    const prog = await compileWebGpu(mlp(), { device: own });
    own.destroy();
    await own.lost;
    const err = await rejection(prog.run({ x: randomTensor('float32', [2, 4], 1) }));
    expect(err).to.be.instanceOf(DeviceLostError);
  });
});
