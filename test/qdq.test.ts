/// <reference types="@webgpu/types" />
/**
 * QDQ graphs (the QuantizeLinear/DequantizeLinear format of ONNX Runtime's
 * quantize_static, built here programmatically: no PyPI, so no ORT quantization
 * tooling): the fuse-qdq pass turns DQ(Q(x))·DQ(w_int8) Conv/MatMul/Gemm into
 * ConvInteger/MatMulInteger with a float rescale, which epilogue fusion absorbs
 * (one dispatch per quantized layer, int8 weights kept). Checked: the rewritten
 * graph against the expected one, numerics of the optimized graph on CPU and
 * WebGPU against the unfused graph on the CPU reference and onnxruntime-node
 * (tolerance: one quantization step of the output scale, see QSTEP), dispatch counts
 * against the float version of the same network, and the dynamic-quantization form
 * (DynamicQuantizeLinear + MatMulInteger).
 */
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, Tensor, verify, type Graph, type Sym } from '../src/graph/index.js';
import { exportModel } from '../onnx/export.js';
import { dce, optimize, qdqRules, rewrite, structuralForm } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { maxAbsDiff, randomTensor, rng } from './helpers/gpu-compare.js';
import { runOrt, SHARED_MODELS } from './onnx-util.js';
import { excess, quantizeModel, TOL, type QuantizedModel } from '../scripts/quantize-models.js';

const f32 = (shape: number[], vals: number[]): Tensor => Tensor.from('float32', shape, vals);
const c = (b: GraphBuilder, t: Tensor): Sym => b.constant(t);

/** Seeded int8 weights in [-127, 127]. */
function int8(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from('int8', shape, Array.from({ length: n }, () => Math.round(254 * r()) - 127));
}

/** Float weights whose exact int8 form is `q`·`s` (per channel on `axis` when s has several values). */
function dequant(q: Tensor, s: number[], axis: number): Tensor {
  const inner = q.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = q.shape[axis]!;
  return Tensor.from('float32', [...q.shape], Array.from(q.data as ArrayLike<number>, (v, i) => Math.fround(v * s[s.length === 1 ? 0 : Math.floor(i / inner) % dim]!)));
}

/** Output scale (the tolerance step) of the networks below. */
const QSTEP = 0.05;

interface Net { readonly qdq: Graph; readonly float: Graph }

/**
 * A small QDQ CNN as quantize_static writes it, and its float twin (same dequantized
 * weights, no Q/DQ): Q(x) → Conv(int8 per-channel, int32 bias) → Relu → Q/DQ →
 * depthwise Conv (per-tensor weight scale, float bias) → Relu → Q/DQ → GlobalAveragePool
 * → Q/DQ → Flatten → Q/DQ → Gemm(transB, int32 bias) → Q/DQ → y.
 */
function cnn(): Net {
  const w1 = int8([8, 3, 3, 3], 11);
  const s1 = Array.from({ length: 8 }, (_, m) => 0.004 + 0.001 * m);
  const w2 = int8([8, 1, 3, 3], 12);
  const s2 = [0.006];
  const w3 = int8([10, 8], 13);
  const s3 = [0.01];
  const sx = 4 / 255;
  const b1 = Tensor.from('int32', [8], Array.from({ length: 8 }, (_, m) => 40 * m - 150));
  const b2 = f32([8], Array.from({ length: 8 }, (_, m) => 0.05 * m - 0.2));
  const b3 = Tensor.from('int32', [10], Array.from({ length: 10 }, (_, m) => 30 * m - 100));
  const build = (quant: boolean): Graph => {
    const b = new GraphBuilder('qdq_cnn');
    const u8 = (v: number) => b.constant(v, { dtype: 'uint8' });
    const s = (v: number) => b.constant(Math.fround(v));
    const fq = (v: Sym, scale: number, zp: number): Sym => (quant ? b.DequantizeLinear([b.QuantizeLinear([v, s(scale), u8(zp)]), s(scale), u8(zp)]) : v);
    const w = (q: Tensor, sc: number[], axis: number): Sym => (quant
      ? b.DequantizeLinear([c(b, q), sc.length === 1 ? s(sc[0]!) : c(b, f32([sc.length], sc)), b.constant(new Array<number>(sc.length).fill(0), { dtype: 'int8', shape: sc.length > 1 ? [sc.length] : [] })], { axis })
      : c(b, dequant(q, sc, axis)));
    const bias = (q: Tensor, sc: number[], sxv: number): Sym => {
      const bs = sc.map((v) => Math.fround(sxv * v));
      return quant ? b.DequantizeLinear([c(b, q), bs.length === 1 ? s(bs[0]!) : c(b, f32([bs.length], bs)), b.constant(new Array<number>(bs.length).fill(0), { dtype: 'int32', shape: bs.length > 1 ? [bs.length] : [] })], { axis: 0 }) : c(b, dequant(q, bs, 0));
    };
    const x = b.input('x', 'float32', [1, 3, 8, 8]);
    const h1 = b.Relu(b.Conv([fq(x, sx, 128), w(w1, s1, 0), bias(b1, s1, sx)], { pads: [1, 1, 1, 1] }));
    const h2 = b.Relu(b.Conv([fq(h1, 0.02, 0), w(w2, s2, 0), c(b, b2)], { pads: [1, 1, 1, 1], group: 8 }));
    const p = fq(b.Flatten(fq(b.GlobalAveragePool(fq(h2, 0.02, 0)), 0.02, 0)), 0.02, 0);
    const y = b.Gemm([p, w(w3, s3, 0), bias(b3, s3, 0.02)], { transB: 1 });
    b.output(fq(y, QSTEP, 128), 'y');
    return b.build();
  };
  return { qdq: build(true), float: build(false) };
}

/** A QDQ MatMul + bias over a [2, 5, 16] activation, per-column int8 weights with nonzero zero points. */
function mlp(): Net {
  const q = int8([16, 12], 21);
  const s = Array.from({ length: 12 }, (_, n) => 0.01 + 0.002 * n);
  const zw = Tensor.from('int8', [12], Array.from({ length: 12 }, (_, n) => n - 6));
  const bias = f32([12], Array.from({ length: 12 }, (_, n) => 0.1 * n - 0.5));
  const build = (quant: boolean): Graph => {
    const b = new GraphBuilder('qdq_mlp');
    const sc = (v: number) => b.constant(Math.fround(v));
    const x = b.input('x', 'float32', [2, 5, 16]);
    const xq = quant ? b.DequantizeLinear([b.QuantizeLinear([x, sc(4 / 255), b.constant(0, { dtype: 'int8' })]), sc(4 / 255), b.constant(0, { dtype: 'int8' })]) : x;
    const wf = Tensor.from('float32', [16, 12], Array.from(q.data as ArrayLike<number>, (v, i) => Math.fround((v - Number(zw.data[i % 12])) * s[i % 12]!)));
    const w = quant ? b.DequantizeLinear([c(b, q), c(b, f32([12], s)), c(b, zw)], { axis: 1 }) : c(b, wf);
    const y = b.Add([b.MatMul([xq, w]), c(b, bias)]);
    b.output(quant ? b.DequantizeLinear([b.QuantizeLinear([y, sc(QSTEP), b.constant(0, { dtype: 'int8' })]), sc(QSTEP), b.constant(0, { dtype: 'int8' })]) : y, 'y');
    return b.build();
  };
  return { qdq: build(true), float: build(false) };
}

const ops = (g: Graph): string[] => g.topo.map((n) => n.op);

/** Fraction of elements equal within 1e-6, and the max abs difference. */
function agreement(got: Tensor, want: Tensor): { exact: number; max: number } {
  const a = got.toArray();
  const b = want.toArray();
  return { exact: a.filter((v, i) => Math.abs(v - b[i]!) <= 1e-6).length / a.length, max: maxAbsDiff(got, want) };
}

describe('fuse-qdq: QDQ Conv / MatMul / Gemm as integer kernels', () => {
  it('rewrites MatMul(DQ(Q(x)), DQ(w)) to MatMulInteger → Cast → Mul (expected graph)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4, 6]);
    const sx = b.constant(0.5);
    const zx = b.constant(3, { dtype: 'uint8' });
    const q = b.QuantizeLinear([x, sx, zx]);
    const wq = int8([6, 5], 3);
    b.output(b.MatMul([b.DequantizeLinear([q, sx, zx]), b.DequantizeLinear([b.constant(wq), b.constant(0.25)])]));
    const got = rewrite(b.build(), qdqRules);

    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [4, 6]);
    const esx = e.constant(0.5);
    const ezx = e.constant(3, { dtype: 'uint8' });
    const eq = e.QuantizeLinear([ex, esx, ezx]);
    const acc = e.MatMulInteger([eq, e.constant(wq), ezx]);
    e.output(e.Mul([e.Cast(acc, { to: 1 }), e.constant(Tensor.from('float32', [], [0.125]))]));
    verify(got);
    expect(structuralForm(dce(got))).to.equal(structuralForm(e.build()));
  });

  it('rewrites Conv(DQ, DQ per-channel, DQ int32 bias) to ConvInteger → Cast → Mul → Add (expected graph)', () => {
    const b = new GraphBuilder();
    const xq = b.input('xq', 'uint8', [1, 2, 4, 4]);
    const wq = int8([3, 2, 1, 1], 5);
    const sx = b.constant(0.5);
    const zx = b.constant(7, { dtype: 'uint8' });
    const sw = f32([3], [0.25, 0.5, 1]);
    const bias = b.DequantizeLinear([b.constant(Tensor.from('int32', [3], [4, -8, 2])), b.constant(f32([3], [0.125, 0.25, 0.5]))], { axis: 0 });
    b.output(b.Conv([b.DequantizeLinear([xq, sx, zx]), b.DequantizeLinear([b.constant(wq), b.constant(sw)], { axis: 0 }), bias], { strides: [2, 2] }));
    const got = dce(rewrite(b.build(), qdqRules));

    const e = new GraphBuilder();
    const acc = e.ConvInteger([e.input('xq', 'uint8', [1, 2, 4, 4]), e.constant(wq), e.constant(7, { dtype: 'uint8' })], { strides: [2, 2] });
    const y = e.Mul([e.Cast(acc, { to: 1 }), e.constant(f32([1, 3, 1, 1], [0.125, 0.25, 0.5]))]);
    e.output(e.Add([y, e.constant(f32([1, 3, 1, 1], [0.5, -2, 1]))]));
    expect(structuralForm(got)).to.equal(structuralForm(e.build()));
  });

  it('declines a per-channel activation scale, a blocked weight and a non-constant weight', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'int8', [1, 2, 3, 3]);
    const wIn = b.input('w', 'int8', [2, 2, 1, 1]);
    const perChannel = b.DequantizeLinear([x, b.constant(f32([2], [0.1, 0.2]))], { axis: 1 });
    const w = b.DequantizeLinear([b.constant(int8([2, 2, 1, 1], 1)), b.constant(0.1)]);
    b.output(b.Conv([perChannel, w]), 'a');
    b.output(b.Conv([b.DequantizeLinear([x, b.constant(0.1)]), b.DequantizeLinear([wIn, b.constant(0.1)])]), 'b');
    const g = rewrite(b.build(), qdqRules);
    expect(ops(g).filter((o) => o === 'Conv')).to.have.length(2);
    expect(ops(g)).to.not.include('ConvInteger');
  });

  for (const [name, make, feedShape] of [['cnn', cnn, [1, 3, 8, 8]], ['mlp', mlp, [2, 5, 16]]] as const) {
    describe(`QDQ ${name}`, function () {
      this.timeout(120000);
      const net = make();
      const feeds = { x: randomTensor('float32', [...feedShape], 77, -2, 2) };
      let want: Tensor;
      let opt: Graph;
      before(() => {
        want = compileCpu(net.qdq).run(feeds)['y']!;
        opt = optimize(net.qdq).graph;
      });

      it('fuses every quantized layer (no float Conv/MatMul/Gemm, no weight DequantizeLinear left)', () => {
        const o = ops(opt);
        expect(o.filter((x) => ['Conv', 'MatMul', 'Gemm'].includes(x))).to.deep.equal([]);
        const fusedAnchors = opt.topo.filter((n) => n.op === 'Fused').flatMap((n) => ops(n.attrs['graph'] as Graph));
        expect(fusedAnchors.filter((x) => x === 'ConvInteger' || x === 'MatMulInteger').length).to.equal(name === 'cnn' ? 3 : 1);
        // int8 weights reach the integer kernels as int8 constants: no dequantized float copy.
        const dqOfConst = opt.topo.filter((n) => n.op === 'DequantizeLinear' && opt.initializers.has(n.inputs[0]!));
        expect(dqOfConst.map((n) => n.name)).to.deep.equal([]);
      });

      it('optimized graph on the CPU reference = unfused graph (within one output step)', () => {
        const got = compileCpu(opt).run(feeds)['y']!;
        const a = agreement(got, want);
        expect(a.max).to.be.at.most(QSTEP + 1e-6);
        expect(a.exact).to.be.at.least(0.95);
      });

      it('unfused graph on onnxruntime-node = Kiln CPU reference (within one output step)', async () => {
        const ort = (await runOrt(exportModel(net.qdq), feeds))['y']!;
        expect(maxAbsDiff(ort, want)).to.be.at.most(QSTEP + 1e-6);
      });

      it(`WebGPU runs it in at most ${name === 'cnn' ? 'float + 1' : 'as many as float'} dispatches, within one output step`, async function () {
        const device = await deviceOrSkip(this);
        const prog = await compileWebGpu(opt, { device });
        const got = (await prog.run(feeds))['y'] as Tensor;
        const a = agreement(got, want);
        expect(a.max, 'max abs vs unfused CPU').to.be.at.most(QSTEP + 1e-6);
        expect(a.exact).to.be.at.least(0.95);
        const floatProg = await compileWebGpu(optimize(net.float).graph, { device });
        const qd = prog.plan!.dispatches.length;
        const fd = floatProg.plan!.dispatches.length;
        console.log(`      ${name}: WebGPU dispatches QDQ ${qd}, float ${fd}; ${(100 * a.exact).toFixed(1)} % of outputs exact, max |Δ| ${a.max.toExponential(2)}`);
        // Every QuantizeLinear rides a neighbour: its producer's epilogue or (the graph input's) the integer kernel
        // that quantizes it while loading it. cnn: + the one after GlobalAveragePool (a reduction: no epilogue),
        // which reaches the Gemm through a Flatten of the integers, and load fusion does not look through reshapes.
        expect(qd).to.be.at.most(fd + (name === 'cnn' ? 1 : 0));
        prog.release();
        floatProg.release();
      });
    });
  }
});

describe('fuse-qdq: per-tensor QuantizeLinear / DequantizeLinear as elementwise ops', function () {
  this.timeout(60000);
  it('equal the ops exactly on ties, saturation and both integer types (CPU and WebGPU)', async function () {
    const b = new GraphBuilder('qdq_elementwise');
    const x = b.input('x', 'float32', [24]);
    const s = b.constant(0.25);
    const u = b.QuantizeLinear([x, s, b.constant(10, { dtype: 'uint8' })]);
    const i = b.QuantizeLinear([x, s, b.constant(-3, { dtype: 'int8' })]);
    b.output(u, 'u');
    b.output(i, 'i');
    b.output(b.DequantizeLinear([i, s, b.constant(-3, { dtype: 'int8' })]), 'd');
    const g = b.build();
    const opt = optimize(g).graph;
    expect(ops(opt)).to.not.include('QuantizeLinear');
    // Ties (k + 0.5)·0.25 both ways, values beyond both ranges.
    const vals = [0.125, 0.375, -0.125, -0.375, 0.625, -0.625, 1.125, 2.375, 40, 63.875, 64.125, -40, -33.125, -32.875, 0, -0, 1e6, -1e6, 0.1, -0.1, 7.3, -7.3, 31.6, -2.5];
    const feeds = { x: f32([24], vals) };
    const want = compileCpu(g).run(feeds);
    const cpu = compileCpu(opt).run(feeds);
    for (const k of ['u', 'i', 'd']) expect(cpu[k]!.toArray(), k).to.deep.equal(want[k]!.toArray());
    const device = await deviceOrSkip(this);
    const prog = await compileWebGpu(opt, { device });
    const got = (await prog.run(feeds)) as Record<string, Tensor>;
    for (const k of ['u', 'i', 'd']) expect(got[k]!.toArray(), `WebGPU ${k}`).to.deep.equal(want[k]!.toArray());
    prog.release();
  });
});

describe('dynamic quantization (DynamicQuantizeLinear + MatMulInteger)', function () {
  this.timeout(120000);
  const w = Tensor.from('uint8', [16, 12], Array.from({ length: 192 }, (_, i) => (i * 37) % 256));
  function graph(): Graph {
    // The form ORT's quantize_dynamic writes for a MatMul.
    const b = new GraphBuilder('dyn');
    const x = b.input('x', 'float32', [6, 16]);
    const [xq, xs, xz] = b.apply('DynamicQuantizeLinear', [x], {}, { outputs: 3 }) as [Sym, Sym, Sym];
    const acc = b.MatMulInteger([xq, b.constant(w), xz, b.constant(128, { dtype: 'uint8' })]);
    const scale = b.Mul([xs, b.constant(0.01)]);
    b.output(b.Mul([b.Cast(acc, { to: 1 }), scale]), 'y');
    return b.build();
  }

  it('runs on WebGPU equal to the CPU reference and onnxruntime-node; one dispatch (MatMulInteger computes the range and quantizes x as it loads it, both rescales in its epilogue)', async function () {
    const device = await deviceOrSkip(this);
    const g = graph();
    const feeds = { x: randomTensor('float32', [6, 16], 5, -3, 3) };
    const want = compileCpu(g).run(feeds)['y']!;
    const ort = (await runOrt(exportModel(g), feeds))['y']!;
    expect(maxAbsDiff(ort, want)).to.be.at.most(1e-5 * 100);
    const opt = optimize(g).graph;
    const prog = await compileWebGpu(opt, { device });
    const got = (await prog.run(feeds))['y'] as Tensor;
    expect(maxAbsDiff(got, want)).to.be.at.most(1e-3);
    const labels = prog.plan!.dispatches.map((d) => d.label);
    console.log(`      dynamic quantization on WebGPU: ${labels.join(', ')}`);
    // Load fusion: the MatMulInteger kernel computes x's range and quantizes x while loading it; both rescale factors are in its epilogue.
    expect(labels.filter((l) => l.includes('MatMulInteger'))).to.have.length(1);
    expect(labels).to.have.length(1);
    prog.release();
  });
});


/**
 * Shared models quantized by scripts/quantize-models.ts (CI-fast subset: squeezenet1_1
 * QDQ, bert_tiny QDQ and dynamic). Checked: onnxruntime-node runs each file and agrees
 * with Kiln's CPU reference on it (TOL of the script), WebGPU at -O2 agrees with the CPU
 * reference (the same TOL: the integer sums are the same, but an activation one step
 * away moves later layers by about a step), and the dispatch counts against the float
 * model: no more than float's. The integer kernels compute their quantized operand
 * while they load it (load fusion, src/graph/load-fusion.ts): a QuantizeLinear whose
 * input also feeds float readers, or a DynamicQuantizeLinear's range and quantize, is
 * no dispatch of its own. Counts (lavapipe): squeezenet1_1 float 30, QDQ 30 (31 before
 * load fusion); bert_tiny float 39, QDQ 39 (51 before), dynamic 39 (59 before).
 */
describe('quantized shared models (scripts/quantize-models.ts) on WebGPU', function () {
  this.timeout(300000);
  const cases: readonly { model: string; kind: 'qdq' | 'dynamic' }[] = [
    { model: 'squeezenet1_1', kind: 'qdq' },
    { model: 'bert_tiny', kind: 'qdq' },
    { model: 'bert_tiny', kind: 'dynamic' },
  ];
  const made = new Map<string, QuantizedModel>();
  before(function () {
    if (!existsSync(SHARED_MODELS)) {
      if (process.env.CI === 'true') throw new Error(`shared models missing: ${SHARED_MODELS}`);
      console.log(`    (skipping: no shared models at ${SHARED_MODELS})`);
      this.skip();
    }
  });
  const get = (name: string): QuantizedModel => {
    let m = made.get(name);
    if (!m) { m = quantizeModel(name); made.set(name, m); }
    return m;
  };
  for (const c of cases) {
    it(`${c.model} ${c.kind}: onnxruntime-node = Kiln CPU = WebGPU -O2, in no more dispatches than float`, async function () {
      const device = await deviceOrSkip(this);
      const m = get(c.model);
      const q = m[c.kind];
      expect(q.nodes, 'nodes quantized').to.be.greaterThan(0);
      const cpu = compileCpu(q.graph).run(m.feeds);
      const ort = excess(await runOrt(q.bytes, m.feeds), cpu);
      expect(ort.over, `ORT vs Kiln CPU max |Δ| ${ort.max} (tolerance ${JSON.stringify(TOL)})`).to.be.at.most(0);
      const prog = await compileWebGpu(optimize(q.graph).graph, { device });
      const floatProg = await compileWebGpu(optimize(m.float).graph, { device });
      try {
        const gpu = excess((await prog.run(m.feeds)) as Record<string, Tensor>, cpu);
        expect(gpu.over, `WebGPU vs CPU max |Δ| ${gpu.max}`).to.be.at.most(0);
        const qd = prog.plan!.dispatches.length;
        const fd = floatProg.plan!.dispatches.length;
        console.log(`      ${c.model} ${c.kind}: ${q.nodes} nodes quantized; WebGPU dispatches ${qd} (float ${fd}); max |Δ| ORT vs CPU ${ort.max.toExponential(2)}, WebGPU vs CPU ${gpu.max.toExponential(2)} (cosine ${gpu.cosine.toFixed(6)})`);
        expect(qd).to.be.at.most(fd);
      } finally {
        prog.release();
        floatProg.release();
      }
    });
  }
});
