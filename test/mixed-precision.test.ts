/// <reference types="@webgpu/types" />
/**
 * The mixed-precision pass (src/passes/mixed-precision.ts): the graph it makes
 * (before/expected), that it keeps values that would overflow float16 in float32,
 * LayerNorm with a variance beyond float16's range, and the shared models converted
 * with `optimize(…, { precision })`: Kiln CPU and WebGPU and onnxruntime-node (on the
 * exported float16 file) against onnxruntime-node on the float32 original.
 * Tolerance for float16 results: max |error| ≤ 1e-2 · max(1, max |reference|).
 */
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { DTypeError, GraphBuilder, InputError, Tensor, type Graph } from '../src/graph/index.js';
import { InferenceSession } from '../src/session/index.js';
import { exportModel } from '../onnx/export.js';
import { importModelFile } from '../onnx/import.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { calibrate, CalibrationError, DEFAULT_MAX_ERROR, F16_MAX, firstNonFinite, mixedPrecisionPass, toFloat32, toMixedPrecision, type MixedPrecisionReport } from '../src/passes/mixed-precision.js';
import { optimize } from '../src/passes/pipelines.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { randomTensor } from './helpers/gpu-compare.js';
import { runOrt, SHARED_MODELS } from './onnx-util.js';
import { kiln, tempDir } from './cli-helpers.js';

function expectNear(got: Tensor, want: Tensor, what: string): void {
  expect(got.shape, `${what}: shape`).to.deep.equal(want.shape);
  let err = 0;
  let range = 0;
  for (let i = 0; i < want.size; i++) {
    err = Math.max(err, Math.abs(Number(got.data[i]) - Number(want.data[i])));
    range = Math.max(range, Math.abs(Number(want.data[i])));
  }
  expect(err, `${what}: max |error| (reference range ${range})`).to.be.at.most(1e-2 * Math.max(1, range));
}

/** Op and dtype of every node output, in order: the shape of a converted graph. */
function signature(g: Graph): string[] {
  return g.topo.map((n) => `${n.op}${n.op === 'Cast' ? `(to=${String(n.attrs.to)})` : ''}:${n.outputs.map((o) => g.valueTypes.get(o)?.dtype).join(',')}`);
}

describe('mixed precision: float32 → float16 where calibration shows it safe', function () {
  this.timeout(300_000);

  it('converts a MatMul → Add → Relu chain: one Cast in, float16 weights, one Cast out, input and output stay float32', () => {
    const b = new GraphBuilder('chain');
    const x = b.input('x', 'float32', [2, 4]);
    const w = b.constant(randomTensor('float32', [4, 3], 1, -1, 1));
    const bias = b.constant(randomTensor('float32', [3], 2, -1, 1));
    b.output(b.Relu(b.Add([b.MatMul([x, w]), bias])), 'y');
    const g = b.build();
    const calibration = calibrate(g, [new Map([['x', randomTensor('float32', [2, 4], 3)]])]);
    const { graph, report } = toMixedPrecision(g, { calibration });
    expect(signature(graph)).to.deep.equal(['Cast(to=10):float16', 'MatMul:float16', 'Add:float16', 'Relu:float16', 'Identity:float16', 'Cast(to=1):float32']);
    expect(graph.inputs.map((i) => i.dtype)).to.deep.equal(['float32']);
    expect(graph.outputs.map((o) => [o.name, o.dtype])).to.deep.equal([['y', 'float32']]);
    expect([...graph.initializers.values()].map((t) => t.dtype)).to.deep.equal(['float16', 'float16']);
    expect(report).to.deep.include({ f16Nodes: 4, casts: 2, halfWeights: 2 });
    const feeds = { x: randomTensor('float32', [2, 4], 4) };
    expectNear(compileCpu(graph).run(feeds).y!, compileCpu(g).run(feeds).y!, 'chain');
  });

  it('keeps in float32 the values that overflow float16, naming them; an all-float16 graph gives Infinity there', () => {
    const build = (dtype: 'float32' | 'float16'): Graph => {
      const b = new GraphBuilder('overflow');
      const x = b.input('x', dtype, [8]);
      const big = b.Mul([x, b.constant(Tensor.scalar(dtype, 300))]);
      const bigger = b.Mul([big, big]); // up to 9e4 for |x| ≤ 1: beyond 65504
      b.output(b.Div([bigger, b.constant(Tensor.scalar(dtype, 1e4))]), 'y');
      return b.build();
    };
    const xs = Array.from({ length: 8 }, (_, i) => (i - 3.5) / 3.5);
    const g = build('float32');
    const calibration = calibrate(g, [new Map([['x', Tensor.from('float32', [8], xs)]])]);
    const { graph, report } = toMixedPrecision(g, { calibration });
    const keptOps = report.kept.map((k) => k.op);
    expect(keptOps).to.include('Mul');
    expect(report.kept.find((k) => /reaches/.test(k.why)), 'a reason naming the range').to.not.equal(undefined);
    const want = compileCpu(g).run({ x: Tensor.from('float32', [8], xs) }).y!;
    const got = compileCpu(graph).run({ x: Tensor.from('float32', [8], xs) }).y!;
    expect(got.toArray().every(Number.isFinite)).to.equal(true);
    expectNear(got, want, 'overflow graph');
    const naive = compileCpu(build('float16')).run({ x: Tensor.from('float16', [8], xs) }).y!;
    expect(naive.toArray().some((v) => !Number.isFinite(v)), 'all-float16 overflows').to.equal(true);
  });

  it('a model that arrives in float16 and overflows: firstNonFinite names the node, the pass runs that part in float32 and the output is finite', () => {
    const b = new GraphBuilder('fp16-model');
    const x = b.input('x', 'float16', [8]);
    const big = b.Mul([x, b.constant(Tensor.scalar('float16', 300))], {}, { name: 'scale' });
    const sq = b.Mul([big, big], {}, { name: 'square' }); // up to 9e4: overflows float16
    const y = b.Div([sq, b.constant(Tensor.scalar('float16', 1e4))], {}, { name: 'shrink' });
    b.output(b.Relu(b.Sub([y, b.constant(Tensor.scalar('float16', 1))])), 'y');
    const g = b.build();
    const xs = Array.from({ length: 8 }, (_, i) => (i - 3.5) / 3.5);
    const feeds = new Map([['x', Tensor.from('float16', [8], xs)]]);
    const first = firstNonFinite(g, feeds);
    expect(first).to.deep.include({ node: 'square', op: 'Mul', count: 2, size: 8 });
    expect(compileCpu(g).run({ x: feeds.get('x')! }).y!.toArray().some((v) => !Number.isFinite(v))).to.equal(true);
    const up = toFloat32(g);
    expect(up.inputs.map((i) => i.dtype)).to.deep.equal(['float16']);
    expect(up.outputs.map((o) => o.dtype)).to.deep.equal(['float16']);
    expect(firstNonFinite(up, feeds)).to.equal(undefined);
    let report: MixedPrecisionReport | undefined;
    const safe = optimize(g, { level: 1 }, { precision: mixedPrecisionPass([feeds], { onReport: (r) => { report = r; } }) }).graph;
    expect(report!.kept.map((k) => k.name)).to.include('square');
    expect(safe.inputs.map((i) => i.dtype)).to.deep.equal(['float16']);
    expect(safe.outputs.map((o) => o.dtype)).to.deep.equal(['float16']);
    expect(firstNonFinite(safe, feeds)).to.equal(undefined);
    const want = compileCpu(up).run({ x: feeds.get('x')! }).y!;
    const got = compileCpu(safe).run({ x: feeds.get('x')! }).y!;
    expect(got.toArray().every(Number.isFinite)).to.equal(true);
    expectNear(got, want, 'fp16 model made safe');
  });

  it('kiln run --find-nonfinite names the node where a float16 model overflows', async () => {
    const b = new GraphBuilder('fp16-overflow');
    const x = b.input('x', 'float16', [64]);
    const big = b.Mul([x, b.constant(Tensor.scalar('float16', 1000))], {}, { name: 'scale' });
    b.output(b.Mul([big, big], {}, { name: 'square' }), 'y'); // (1000·x)² overflows for |x| > 0.256
    const file = path.join(tempDir('nonfinite'), 'overflow.onnx');
    writeFileSync(file, exportModel(b.build()));
    const r = await kiln(['run', file, '--random', '--backend', 'cpu', '-O', '0', '--find-nonfinite']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/non-finite: first at node 'square' \(Mul\): output '[^']+' has \d+ of 64 values/);
  });

  it('error budget: when float16 rounding early on is amplified past maxError, a float32 prefix (sized on the calibration batch) brings the outputs back within it', () => {
    // a = x + 1000 rounds to steps of 0.5 in float16; b = a − 1000 then loses x's digits.
    const b = new GraphBuilder('cancel');
    const x = b.input('x', 'float32', [16]);
    const big = b.Add([x, b.constant(1000)]);
    const back = b.Sub([big, b.constant(1000)]);
    b.output(b.Relu(b.Mul([back, b.constant(3)])), 'y');
    const g = b.build();
    const xs = Tensor.from('float32', [16], Array.from({ length: 16 }, (_, i) => 0.05 + i / 16));
    const batches = [new Map([['x', xs]])];
    const ref = compileCpu(g).run({ x: xs }).y!;
    const relErr = (got: Tensor): number => {
      let e2 = 0, r2 = 0;
      for (let i = 0; i < ref.size; i++) { e2 += (Number(got.data[i]) - Number(ref.data[i])) ** 2; r2 += Number(ref.data[i]) ** 2; }
      return Math.sqrt(e2 / r2);
    };
    const run = (maxError: number): { graph: Graph; report: MixedPrecisionReport } => {
      let report: MixedPrecisionReport | undefined;
      const graph = optimize(g, { level: 0 }, { precision: mixedPrecisionPass(batches, { maxError, onReport: (r) => { report = r; } }) }).graph;
      return { graph, report: report! };
    };
    // Without the budget everything is float16 and the error is large.
    const all = run(Infinity);
    expect(signature(all.graph)).to.deep.equal(['Cast(to=10):float16', 'Add:float16', 'Sub:float16', 'Mul:float16', 'Relu:float16', 'Identity:float16', 'Cast(to=1):float32']);
    expect(all.report).to.deep.include({ prefix: 0 });
    expect(relErr(compileCpu(all.graph).run({ x: xs }).y!)).to.be.greaterThan(DEFAULT_MAX_ERROR);
    // With the default budget: the first 2/16 of the 5 computing nodes (1 node) is not enough, 4/16 (2 nodes: Add, Sub) is.
    const safe = run(DEFAULT_MAX_ERROR);
    expect(signature(safe.graph)).to.deep.equal(['Add:float32', 'Sub:float32', 'Cast(to=10):float16', 'Mul:float16', 'Relu:float16', 'Identity:float16', 'Cast(to=1):float32']);
    expect(safe.report).to.deep.include({ prefix: 2, f16Nodes: 3 });
    expect(safe.report.kept.map((k) => k.op)).to.deep.equal(['Add', 'Sub']);
    expect(safe.report.kept[0]!.why).to.match(/float32 prefix/);
    expect(safe.report.outputError).to.be.at.most(DEFAULT_MAX_ERROR);
    const err = relErr(compileCpu(safe.graph).run({ x: xs }).y!);
    expect(err).to.be.at.most(DEFAULT_MAX_ERROR);
    expect(safe.report.outputError).to.be.closeTo(err, 1e-9);
    // The same graph from toMixedPrecision with the prefix given; a bad prefix or budget is a typed error.
    expect(signature(toMixedPrecision(g, { calibration: calibrate(g, batches), float32Prefix: 2 }).graph)).to.deep.equal(signature(safe.graph));
    expect(() => toMixedPrecision(g, { calibration: calibrate(g, batches), float32Prefix: -1 })).to.throw(DTypeError, /float32Prefix/);
    expect(() => run(-1)).to.throw(DTypeError, /maxError/);
  });

  it('a tighter --fp16-limit keeps more in float32; a bad limit is a typed error', () => {
    const b = new GraphBuilder('lim');
    const x = b.input('x', 'float32', [4]);
    b.output(b.Mul([x, b.constant(100)]), 'y');
    const g = b.build();
    const calibration = calibrate(g, [new Map([['x', Tensor.from('float32', [4], [1, 2, 3, 4])]])]);
    expect(toMixedPrecision(g, { calibration }).report.kept).to.deep.equal([]);
    const tight = toMixedPrecision(g, { calibration, limit: 100 });
    expect(tight.report.f16Nodes).to.equal(0);
    expect(tight.graph).to.equal(g);
    expect(tight.report.kept[0]!.why).to.match(/reaches 400\.0 \(limit 100\.0\)/);
    expect(() => toMixedPrecision(g, { calibration, limit: F16_MAX * 2 })).to.throw(/limit/);
    expect(() => calibrate(g, [new Map()])).to.throw(CalibrationError, /'x'/);
  });

  it('LayerNorm over activations whose variance exceeds float16 stays exact in float16 storage (f32 statistics) on CPU and WebGPU', async function () {
    const b = new GraphBuilder('ln');
    const x = b.input('x', 'float32', [4, 64]);
    const scaled = b.Mul([x, b.constant(400)]); // |x·400| up to 800: x² sums reach 4e7
    const ln = b.LayerNormalization([scaled, b.constant(Tensor.full('float32', [64], 1)), b.constant(Tensor.full('float32', [64], 0))], { axis: -1, epsilon: 1e-5 });
    b.output(b.MatMul([ln, b.constant(randomTensor('float32', [64, 8], 5, -0.2, 0.2))]), 'y');
    const g = b.build();
    const feeds = { x: randomTensor('float32', [4, 64], 6) };
    let report: MixedPrecisionReport | undefined;
    const pass = mixedPrecisionPass([new Map(Object.entries(feeds))], { onReport: (r) => { report = r; } });
    const half = optimize(g, { level: 2 }, { precision: pass }).graph;
    expect(report!.kept).to.deep.equal([]);
    expect([...half.valueTypes.values()].some((t) => t.dtype === 'float16')).to.equal(true);
    const want = compileCpu(g).run(feeds).y!;
    expectNear(compileCpu(half).run(feeds).y!, want, 'CPU');
    const device = await deviceOrSkip(this);
    expectNear((await (await compileWebGpu(half, { device })).run(feeds)).y!, want, 'WebGPU');
  });

  describe('shared models', () => {
    before(function () {
      if (!existsSync(SHARED_MODELS)) {
        if (process.env.CI === 'true') throw new Error(`shared models missing: ${SHARED_MODELS}`);
        console.log(`    (skipping: no shared models at ${SHARED_MODELS})`);
        this.skip();
      }
    });
    for (const name of ['squeezenet1_1', 'mobilenet_v2', 'bert_tiny', 'gpt2_tiny']) {
      it(`${name}: float16 at O2 on Kiln CPU, WebGPU and in onnxruntime-node (exported) vs the float32 model in onnxruntime-node`, async function () {
        const dir = path.join(SHARED_MODELS, name);
        const g = importModelFile(path.join(dir, 'model.onnx'));
        const set = readTestDataSets(dir)[0]!;
        const feeds: Record<string, Tensor> = {};
        g.inputs.forEach((inp, i) => { feeds[inp.name] = set.inputs[i]!.tensor; });
        let report: MixedPrecisionReport | undefined;
        const pass = mixedPrecisionPass([new Map(Object.entries(feeds))], { onReport: (r) => { report = r; } });
        const half = optimize(g, { level: 2 }, { precision: pass }).graph;
        expect(report!.f16Nodes, 'nodes converted').to.be.greaterThan(g.nodes.length / 4);
        const want = await runOrt(new Uint8Array(readFileSync(path.join(dir, 'model.onnx'))), feeds);
        const cpu = compileCpu(half).run(feeds);
        const ort = await runOrt(exportModel(half), feeds);
        const device = await deviceOrSkip(this);
        const gpu = await (await compileWebGpu(half, { device })).run(feeds);
        for (const o of g.outputs) {
          expect(half.outputs.find((x) => x.name === o.name)?.dtype, 'output keeps its dtype').to.equal(o.dtype);
          expect(want[o.name]!.dtype).to.equal('float32');
          expectNear(cpu[o.name]!, want[o.name]!, `${name} ${o.name} Kiln CPU`);
          expectNear(ort[o.name]!, want[o.name]!, `${name} ${o.name} onnxruntime-node on the float16 export`);
          expectNear(gpu[o.name]!, want[o.name]!, `${name} ${o.name} Kiln WebGPU`);
        }
      });
    }

    it("InferenceSession.create(…, { precision: 'fp16' }) converts at load time and runs to the test data; a bad precision is an InputError", async () => {
      const dir = path.join(SHARED_MODELS, 'squeezenet1_1');
      const bytes = new Uint8Array(readFileSync(path.join(dir, 'model.onnx')));
      const s = await InferenceSession.create(bytes, { backend: 'cpu', precision: 'fp16' });
      expect([...s.graph.valueTypes.values()].some((t) => t.dtype === 'float16')).to.equal(true);
      expect(s.inputMetadata[0]!.dtype).to.equal('float32');
      const set = readTestDataSets(dir)[0]!;
      const out = await s.run({ [s.inputNames[0]!]: set.inputs[0]!.tensor });
      expectNear(out[s.outputNames[0]!]!, set.outputs[0]!.tensor, 'session precision fp16');
      let err: unknown;
      try { await InferenceSession.create(bytes, { backend: 'cpu', precision: 'fp8' as 'fp16' }); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(InputError);
    });

    it('kiln optimize --fp16 --calibration DIR writes a float16 model that onnxruntime-node runs to the test data', async () => {
      const dir = path.join(SHARED_MODELS, 'squeezenet1_1');
      const out = path.join(tempDir('fp16'), 'sq.fp16.onnx');
      const r = await kiln(['optimize', path.join(dir, 'model.onnx'), out, '--fp16', '--calibration', dir]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/fp16: \d+ nodes in float16, 0 kept in float32/);
      const set = readTestDataSets(dir)[0]!;
      const g = importModelFile(out);
      expect([...g.initializers.values()].some((t) => t.dtype === 'float16')).to.equal(true);
      const got = await runOrt(new Uint8Array(readFileSync(out)), { [g.inputs[0]!.name]: set.inputs[0]!.tensor });
      expectNear(got[g.outputs[0]!.name]!, set.outputs[0]!.tensor, 'onnxruntime-node on kiln optimize --fp16 output');
      const bad = await kiln(['optimize', path.join(dir, 'model.onnx'), out, '--calibration', dir]);
      expect(bad.code).to.not.equal(0);
      expect(bad.stderr).to.match(/--calibration needs --fp16 or --quantize qdq/);
    });
  });
});
