/// <reference types="@webgpu/types" />
/**
 * The ONNX ops of opsets 17-22 added for the 1.17 node suite, beyond its cases:
 * other sizes, batches, odd lengths and attribute forms, each run by the CPU
 * reference and the WebGPU backend and compared with onnxruntime-node (a one-node
 * model, run by both) or with an exact identity. Tolerances are stated per test.
 */
import { expect } from 'chai';
import { Tensor } from '../src/graph/index.js';
import '../src/graph/ops/index.js';
import { importModel } from '../onnx/import.js';
import { exportModel } from '../onnx/export.js';
import { onnx, type pb } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { sharedDevice } from './helpers/gpu.js';
import { maxAbsDiff, randomTensor } from './helpers/gpu-compare.js';
import { A, FLOAT, INT64, vi } from './helpers/onnx-model.js';
import { runOrt } from './onnx-util.js';

/** An attribute proto from a plain value (int, float, ints, floats, string). */
function attrOf(name: string, v: number | string | readonly number[], float = false): pb.IAttributeProto {
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return float ? { name, type: A.FLOATS, floats: [...v] } : { name, type: A.INTS, ints: [...v] };
  return float ? { name, type: A.FLOAT, f: v as number } : { name, type: A.INT, i: v as number };
}

/** A constant (initializer) of a one-node model. */
interface Const { readonly name: string; readonly tensor: Tensor }

function tensorProto(name: string, t: Tensor): pb.ITensorProto {
  const code = { float32: 1, int64: 7, int32: 6 }[t.dtype as 'float32' | 'int64' | 'int32'];
  const base = { name, dataType: code, dims: [...t.shape] };
  return t.dtype === 'float32' ? { ...base, floatData: t.toArray() } : t.dtype === 'int32' ? { ...base, int32Data: t.toArray() } : { ...base, int64Data: t.toArray() };
}

/** A one-node model: `inputs` fed (name → tensor), `consts` as initializers, '' for an omitted input. */
function oneNode(op: string, order: readonly string[], feeds: Record<string, Tensor>, consts: readonly Const[], attrs: pb.IAttributeProto[], opset: number, outputs = ['Y']): Uint8Array {
  const elem = (t: Tensor) => ({ float32: 1, int64: 7, int32: 6 })[t.dtype as 'float32'];
  return onnx.ModelProto.encode({
    irVersion: 9,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: op.toLowerCase(),
      input: Object.entries(feeds).map(([k, t]) => vi(k, elem(t), t.shape)),
      initializer: consts.map((c) => tensorProto(c.name, c.tensor)),
      node: [{ name: `${op}_n`, opType: op, input: [...order], output: outputs, attribute: attrs }],
      output: outputs.map((o) => ({ name: o, type: { tensorType: { elemType: FLOAT } } })),
    },
  }).finish();
}


let device: GPUDevice | null = null;
before(async () => { device = await sharedDevice(); });

/**
 * Runs `bytes` on onnxruntime-node, the Kiln CPU backend and WebGPU (when a device
 * is there); expects each output within `cpuTol` / `gpuTol` of onnxruntime's and
 * returns the measured errors.
 */
async function vsOrt(bytes: Uint8Array, feeds: Record<string, Tensor>, cpuTol: number, gpuTol: number): Promise<{ cpu: number; gpu: number }> {
  const want = await runOrt(bytes, feeds);
  const g = importModel(bytes);
  const cpu = compileCpu(g).run(feeds);
  let ec = 0;
  let eg = 0;
  for (const o of g.outputs) ec = Math.max(ec, maxAbsDiff(cpu[o.name]!, want[o.name]!));
  expect(ec, 'cpu vs onnxruntime').to.be.at.most(cpuTol);
  if (device) {
    const prog = await compileWebGpu(g, { device });
    const gpu = (await prog.run(feeds)) as Record<string, Tensor>;
    prog.release();
    for (const o of g.outputs) eg = Math.max(eg, maxAbsDiff(gpu[o.name]!, want[o.name]!));
    expect(eg, 'webgpu vs onnxruntime').to.be.at.most(gpuTol);
  }
  if (process.env.KILN_LOG_ERRORS) console.log(`      max |Δ| vs onnxruntime: cpu ${ec.toExponential(1)}, webgpu ${eg.toExponential(1)}`);
  return { cpu: ec, gpu: eg };
}

/** Runs a graph on the CPU and (when there) WebGPU. */
async function both(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<{ cpu: Record<string, Tensor>; gpu?: Record<string, Tensor> }> {
  const g = importModel(bytes);
  const cpu = compileCpu(g).run(feeds);
  if (!device) return { cpu };
  const prog = await compileWebGpu(g, { device });
  const gpu = (await prog.run(feeds)) as Record<string, Tensor>;
  prog.release();
  return { cpu, gpu };
}

const i64 = (name: string, v: number): Const => ({ name, tensor: Tensor.scalar('int64', v) });

describe('DFT (opsets 17 and 20) vs onnxruntime-node, CPU and WebGPU', function () {
  this.timeout(60000);
  // Tolerance: |Δ| ≤ 1e-4 · n (f32 sums of n terms of inputs in [-1, 1]).
  const cases: { what: string; shape: number[]; axis: number; len?: number; onesided?: number; inverse?: number }[] = [
    { what: 'real, odd length 7, axis 1, batch 3', shape: [3, 7, 1], axis: 1 },
    { what: 'complex, length 12 along axis 2 of a rank-4 input', shape: [2, 3, 12, 2], axis: 2 },
    { what: 'complex, axis -3 (the first signal axis of [2, 5, 4, 2])', shape: [2, 5, 4, 2], axis: -3 },
    { what: 'real, onesided, even length 16', shape: [2, 16, 1], axis: 1, onesided: 1 },
    { what: 'real, onesided, odd length 9', shape: [2, 9, 1], axis: 1, onesided: 1 },
    { what: 'real, dft_length 10 pads a signal of 6', shape: [2, 6, 1], axis: 1, len: 10 },
    { what: 'complex, dft_length 5 truncates a signal of 8', shape: [1, 8, 2], axis: 1, len: 5 },
    { what: 'complex inverse, length 11', shape: [2, 11, 2], axis: 1, inverse: 1 },
    { what: 'complex inverse along axis 1 of [2, 6, 3, 2]', shape: [2, 6, 3, 2], axis: 1, inverse: 1 },
  ];
  for (const opset of [17, 20]) {
    for (const c of cases) {
      it(`opset ${opset}: ${c.what}`, async () => {
        const x = randomTensor('float32', c.shape, 91 + c.shape.length + c.axis, -1, 1);
        const consts: Const[] = [];
        const order = ['X', c.len ? 'len' : ''];
        if (c.len) consts.push(i64('len', c.len));
        const attrs: pb.IAttributeProto[] = [];
        if (opset === 20) {
          order.push('axis');
          consts.push(i64('axis', c.axis));
        } else attrs.push(attrOf('axis', c.axis));
        if (c.onesided) attrs.push(attrOf('onesided', 1));
        if (c.inverse) attrs.push(attrOf('inverse', 1));
        const n = c.len ?? c.shape[(c.axis + c.shape.length) % c.shape.length]!;
        await vsOrt(oneNode('DFT', order, { X: x }, consts, attrs, opset), { X: x }, 1e-4 * n, 1e-4 * n);
      });
    }
  }

  it('opset 20 default axis is -2, opset 17 default axis is 1 (they differ on a rank-4 input)', async () => {
    const x = randomTensor('float32', [2, 3, 5, 1], 5, -1, 1);
    await vsOrt(oneNode('DFT', ['X'], { X: x }, [], [], 20), { X: x }, 1e-4, 1e-4);
    await vsOrt(oneNode('DFT', ['X'], { X: x }, [], [], 17), { X: x }, 1e-4, 1e-4);
  });

  it('inverse(DFT(x)) is x for a complex signal of odd length 13, on CPU (1e-6) and WebGPU (1e-5)', async () => {
    const x = randomTensor('float32', [3, 13, 2], 17, -1, 1);
    const bytes = onnx.ModelProto.encode({
      irVersion: 9,
      opsetImport: [{ domain: '', version: 20 }],
      graph: {
        name: 'roundtrip',
        input: [vi('X', FLOAT, [3, 13, 2])],
        initializer: [tensorProto('axis', Tensor.scalar('int64', 1))],
        node: [
          { name: 'f', opType: 'DFT', input: ['X', '', 'axis'], output: ['F'] },
          { name: 'b', opType: 'DFT', input: ['F', '', 'axis'], output: ['Y'], attribute: [attrOf('inverse', 1)] },
        ],
        output: [vi('Y', FLOAT)],
      },
    }).finish();
    const r = await both(bytes, { X: x });
    expect(maxAbsDiff(r.cpu.Y!, x)).to.be.at.most(1e-6);
    if (r.gpu) expect(maxAbsDiff(r.gpu.Y!, x)).to.be.at.most(1e-5);
  });

  it('a onesided spectrum of a real signal equals the first n/2 + 1 bins of the full one', async () => {
    const x = randomTensor('float32', [2, 10, 1], 23, -1, 1);
    const full = (await both(oneNode('DFT', ['X'], { X: x }, [], [attrOf('axis', 1)], 17), { X: x })).cpu.Y!;
    const half = (await both(oneNode('DFT', ['X'], { X: x }, [], [attrOf('axis', 1), attrOf('onesided', 1)], 17), { X: x })).cpu.Y!;
    expect(half.shape).to.deep.equal([2, 6, 2]);
    for (let b = 0; b < 2; b++) for (let k = 0; k < 6; k++) for (let c = 0; c < 2; c++) expect(half.data[(b * 6 + k) * 2 + c]).to.equal(full.data[(b * 10 + k) * 2 + c]);
  });

  it('export: an opset-17 DFT is written at opset 17 with its axis attribute, an opset-20 one with its axis input at opset 20, one without at opset 17 (axis = rank - 2); onnxruntime agrees', async () => {
    const x = randomTensor('float32', [2, 4, 6, 2], 29, -1, 1);
    for (const [from, to, order, consts, attrs] of [
      [17, 17, ['X'], [], [attrOf('axis', 2), attrOf('inverse', 1)]],
      [20, 20, ['X', '', 'axis'], [i64('axis', 2)], [attrOf('inverse', 1)]],
      [20, 17, ['X'], [], [attrOf('inverse', 1)]],
    ] as const) {
      const g = importModel(oneNode('DFT', [...order], { X: x }, [...consts], [...attrs], from));
      const bytes = exportModel(g);
      const m = onnx.ModelProto.decode(bytes);
      const what = `opset-${from} form with ${order.length} inputs`;
      expect(Number(m.opsetImport![0]!.version), what).to.equal(to);
      const n = m.graph!.node!.find((k) => k.opType === 'DFT')!;
      const axis = n.attribute!.find((a) => a.name === 'axis');
      expect(axis === undefined ? undefined : Number(axis.i), `${what}: axis attribute`).to.equal(to === 17 ? 2 : undefined);
      expect(maxAbsDiff((await runOrt(bytes, { X: x })).Y!, compileCpu(g).run({ X: x }).Y!), what).to.be.at.most(1e-5);
    }
  });

  it('an axis naming the complex axis is a ShapeError naming the node', () => {
    const x = randomTensor('float32', [2, 4, 2], 1);
    expect(() => importModel(oneNode('DFT', ['X', '', 'axis'], { X: x }, [i64('axis', -1)], [], 20))).to.throw(/DFT_n: DFT axis -1 is out of range/);
  });
});

describe('STFT (opset 17) vs onnxruntime-node, CPU and WebGPU', function () {
  this.timeout(60000);
  // Tolerance: |Δ| ≤ 1e-4 · frame_length.
  const cases: { what: string; shape: number[]; step: number; fl?: number; window?: number; onesided?: number }[] = [
    { what: 'batch 2, frame 16 every 4, Hann-like window', shape: [2, 64, 1], step: 4, window: 16 },
    { what: 'odd frame 9 every 5, frame_length only', shape: [1, 50, 1], step: 5, fl: 9 },
    // onnxruntime-node 1.30 weights a complex signal wrongly (a window of ones changes its result): complex without a window here.
    { what: 'complex signal, not onesided, frame_length 8', shape: [2, 40, 2], step: 3, fl: 8, onesided: 0 },
    { what: 'real signal, two-sided, frame 10 every 10 (last partial frame dropped)', shape: [1, 47, 1], step: 10, fl: 10, onesided: 0 },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const x = randomTensor('float32', c.shape, 31 + c.step, -1, 1);
      const consts: Const[] = [i64('step', c.step)];
      const order = ['X', 'step', c.window ? 'W' : '', c.fl ? 'fl' : ''];
      const feeds: Record<string, Tensor> = { X: x };
      if (c.window) feeds.W = Tensor.from('float32', [c.window], Array.from({ length: c.window }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / c.window!)));
      if (c.fl) consts.push(i64('fl', c.fl));
      const attrs = c.onesided === undefined ? [] : [attrOf('onesided', c.onesided)];
      await vsOrt(oneNode('STFT', order, feeds, consts, attrs, 17), feeds, 1e-4 * (c.fl ?? c.window!), 1e-4 * (c.fl ?? c.window!));
    });
  }

  it('a complex signal with a window equals the unwindowed STFT of the signal multiplied by the window (1e-6)', async () => {
    const x = randomTensor('float32', [2, 30, 2], 37, -1, 1);
    const w = randomTensor('float32', [6], 38, 0, 1);
    const xw = new Tensor('float32', [2, 30, 2]);
    for (let b = 0; b < 2; b++) for (let f = 0; f < 5; f++) for (let t = 0; t < 6; t++) for (let c = 0; c < 2; c++) xw.data[(b * 30 + f * 6 + t) * 2 + c] = x.data[(b * 30 + f * 6 + t) * 2 + c]! * w.data[t]!;
    const step = [i64('step', 6)];
    const a = await both(oneNode('STFT', ['X', 'step', 'W'], { X: x, W: w }, step, [attrOf('onesided', 0)], 17), { X: x, W: w });
    const b = await both(oneNode('STFT', ['X', 'step', '', 'fl'], { X: xw }, [...step, i64('fl', 6)], [attrOf('onesided', 0)], 17), { X: xw });
    expect(maxAbsDiff(a.cpu.Y!, b.cpu.Y!)).to.be.at.most(1e-6);
    if (a.gpu) expect(maxAbsDiff(a.gpu.Y!, b.cpu.Y!)).to.be.at.most(1e-5);
  });

  it('a window whose length differs from frame_length is a ShapeError naming the node', () => {
    const x = randomTensor('float32', [1, 32, 1], 1);
    const feeds = { X: x, W: randomTensor('float32', [8], 2) };
    expect(() => importModel(oneNode('STFT', ['X', 'step', 'W', 'fl'], feeds, [i64('step', 2), i64('fl', 6)], [], 17))).to.throw(/STFT_n: STFT window has 8 samples but frame_length is 6/);
  });
});

describe('MelWeightMatrix (opset 17) vs onnxruntime-node, CPU and WebGPU', function () {
  this.timeout(60000);
  // Exact on the CPU; WebGPU computes the filter edges in f32 (weights within 1e-6 while no edge moves).
  const cases: [number, number, number, number, number][] = [
    // onnxruntime-node refuses an upper edge whose last filter reaches past the last bin (the 1.17 case's 8192 Hz at 8192 Hz).
    [8, 16, 8192, 0, 4000],
    [10, 64, 16000, 20, 7000],
    [40, 400, 16000, 0, 7600],
    [5, 31, 22050, 100, 9000],
  ];
  for (const [mel, n, sr, lo, hi] of cases) {
    it(`${mel} mel bins, dft_length ${n}, sample rate ${sr}, ${lo}..${hi} Hz`, async () => {
      const feeds = { lo: Tensor.scalar('float32', lo), hi: Tensor.scalar('float32', hi) };
      const consts = [i64('mel', mel), i64('n', n), { name: 'sr', tensor: Tensor.scalar('int64', sr) }];
      const e = await vsOrt(oneNode('MelWeightMatrix', ['mel', 'n', 'sr', 'lo', 'hi'], feeds, consts, [], 17), feeds, 0, 1e-6);
      expect(e.cpu).to.equal(0);
    });
  }
});

describe('CenterCropPad (opset 18) vs onnxruntime-node, CPU and WebGPU (exact)', function () {
  this.timeout(60000);
  const cases: { what: string; shape: number[]; target: number[]; axes?: number[] }[] = [
    { what: 'crop odd and pad odd differences on a rank-4 input', shape: [2, 3, 9, 6], target: [2, 3, 4, 9] },
    { what: 'axes [2, -1], crop one, pad the other by 1', shape: [1, 2, 5, 5], target: [4, 6], axes: [2, -1] },
    { what: 'a single axis, unchanged size', shape: [3, 7], target: [7], axes: [1] },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const x = randomTensor('float32', c.shape, 41, -1, 1);
      const attrs = c.axes ? [attrOf('axes', c.axes)] : [];
      const e = await vsOrt(oneNode('CenterCropPad', ['X', 'shape'], { X: x }, [{ name: 'shape', tensor: Tensor.from('int64', [c.target.length], c.target) }], attrs, 18), { X: x }, 0, 0);
      expect(e.cpu).to.equal(0);
    });
  }

  it('an int32 input, and the opset-18 form declared by the exporter', async () => {
    const x = Tensor.from('int32', [2, 5], Array.from({ length: 10 }, (_, i) => i - 3));
    const bytes = oneNode('CenterCropPad', ['X', 'shape'], { X: x }, [{ name: 'shape', tensor: Tensor.from('int64', [2], [3, 2]) }], [], 18);
    const r = await both(bytes, { X: x });
    // Rows 2 → 3: the odd padding row goes after; columns 5 → 2 from index floor(3/2) = 1.
    expect(r.cpu.Y!.toArray()).to.deep.equal([-2, -1, 3, 4, 0, 0]);
    if (r.gpu) expect(r.gpu.Y!.toArray()).to.deep.equal([-2, -1, 3, 4, 0, 0]);
    expect(Number(onnx.ModelProto.decode(exportModel(importModel(bytes))).opsetImport![0]!.version)).to.equal(18);
  });
});

describe('Col2Im (opset 18) vs onnxruntime-node, CPU and WebGPU', function () {
  this.timeout(60000);
  // Tolerance 1e-5 (sums of at most ∏block terms).
  const cases: { what: string; image: number[]; block: number[]; C: number; N: number; attrs: Record<string, number[]> }[] = [
    { what: 'batch 2, 3 channels, 3x3 blocks, stride 2, pads 1', image: [7, 6], block: [3, 3], C: 3, N: 2, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
    { what: 'dilations 2 and 1, asymmetric pads', image: [6, 7], block: [2, 3], C: 2, N: 1, attrs: { dilations: [2, 1], pads: [0, 1, 2, 0] } },
    { what: '1-D image', image: [10], block: [4], C: 2, N: 2, attrs: { strides: [3] } },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const n = c.image.length;
      const at = (name: string, def: number, len: number) => c.attrs[name] ?? new Array<number>(len).fill(def);
      const [s, d, p] = [at('strides', 1, n), at('dilations', 1, n), at('pads', 0, 2 * n)];
      const L = c.image.reduce((acc, im, i) => acc * (Math.floor((im + p[i]! + p[i + n]! - ((c.block[i]! - 1) * d[i]! + 1)) / s[i]!) + 1), 1);
      const x = randomTensor('float32', [c.N, c.C * c.block.reduce((a, b) => a * b, 1), L], 43 + n, -1, 1);
      const consts = [{ name: 'img', tensor: Tensor.from('int64', [n], c.image) }, { name: 'blk', tensor: Tensor.from('int64', [n], c.block) }];
      const attrs = Object.entries(c.attrs).map(([k, v]) => attrOf(k, v));
      await vsOrt(oneNode('Col2Im', ['X', 'img', 'blk'], { X: x }, consts, attrs, 18), { X: x }, 1e-5, 1e-5);
    });
  }

  it('a block count that does not match the input is a ShapeError naming the node', () => {
    const x = randomTensor('float32', [1, 4, 5], 1);
    const consts = [{ name: 'img', tensor: Tensor.from('int64', [2], [4, 4]) }, { name: 'blk', tensor: Tensor.from('int64', [2], [2, 2]) }];
    expect(() => importModel(oneNode('Col2Im', ['X', 'img', 'blk'], { X: x }, consts, [], 18))).to.throw(/Col2Im_n: Col2Im input has 5 blocks, the geometry gives 3·3 = 9/);
  });
});

describe('RoiAlign (opset 16) vs onnxruntime-node, both coordinate modes, avg and max, CPU and WebGPU', function () {
  this.timeout(60000);
  // Tolerance 1e-5 on CPU and WebGPU (f32 bilinear weights).
  const x = randomTensor('float32', [2, 3, 12, 10], 47, -1, 1);
  // Regions inside, across the border, degenerate (zero size) and flipped.
  const rois = Tensor.from('float32', [5, 4], [0.5, 1, 6.2, 7.9, -2, -1.5, 4, 3, 3, 3, 3, 3, 8, 9, 11.5, 13, 5, 6, 2, 1]);
  const batch = Tensor.from('int64', [5], [0, 1, 1, 0, 1]);
  for (const mode of ['half_pixel', 'output_half_pixel']) {
    for (const pool of ['avg', 'max']) {
      for (const [ratio, scale, oh, ow] of [[2, 1, 3, 4], [0, 0.75, 2, 5]] as const) {
        it(`${mode}, ${pool}, sampling_ratio ${ratio}, spatial_scale ${scale}, output ${oh}x${ow}`, async () => {
          const attrs = [attrOf('coordinate_transformation_mode', mode), attrOf('mode', pool), attrOf('sampling_ratio', ratio), attrOf('spatial_scale', scale, true), attrOf('output_height', oh), attrOf('output_width', ow)];
          const feeds = { X: x, rois, batch };
          await vsOrt(oneNode('RoiAlign', ['X', 'rois', 'batch'], feeds, [], attrs, 16), feeds, 1e-5, 1e-5);
        });
      }
    }
  }
});

describe('RoiAlign-10 (no coordinate_transformation_mode) imports as output_half_pixel', function () {
  this.timeout(60000);
  it('equals onnxruntime-node at opset 10 (1e-5) on CPU and WebGPU', async () => {
    const x = randomTensor('float32', [1, 2, 9, 9], 59, -1, 1);
    const rois = Tensor.from('float32', [2, 4], [0.3, 0.6, 5.1, 4.4, 2, 1, 8.5, 8.9]);
    const batch = Tensor.from('int64', [2], [0, 0]);
    const feeds = { X: x, rois, batch };
    await vsOrt(oneNode('RoiAlign', ['X', 'rois', 'batch'], feeds, [], [attrOf('output_height', 3), attrOf('output_width', 3), attrOf('sampling_ratio', 2)], 10), feeds, 1e-5, 1e-5);
  });
});

describe('DeformConv (opset 19) with offsets and mask, CPU and WebGPU', function () {
  this.timeout(60000);
  const cases: { what: string; x: number[]; w: number[]; attrs: Record<string, number | number[]>; mask: boolean; bias: boolean }[] = [
    { what: 'batch 2, 4→6 channels, group 2, offset_group 2, stride 2, pads 1, mask and bias', x: [2, 4, 7, 6], w: [6, 2, 3, 3], attrs: { group: 2, offset_group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, mask: true, bias: true },
    { what: 'dilations (2, 1), a 2x3 kernel, no mask', x: [1, 3, 8, 9], w: [2, 3, 2, 3], attrs: { dilations: [2, 1] }, mask: false, bias: false },
  ];
  const out = (x: number[], w: number[], a: Record<string, number | number[]>) => [0, 1].map((i) => {
    const p = (a.pads as number[] | undefined) ?? [0, 0, 0, 0];
    const s = (a.strides as number[] | undefined) ?? [1, 1];
    const d = (a.dilations as number[] | undefined) ?? [1, 1];
    return Math.floor((x[2 + i]! + p[i]! + p[i + 2]! - ((w[2 + i]! - 1) * d[i]! + 1)) / s[i]!) + 1;
  });
  for (const c of cases) {
    it(`${c.what}: CPU and WebGPU vs onnxruntime-node (1e-5)`, async () => {
      const [oh, ow] = out(c.x, c.w, c.attrs);
      const og = (c.attrs.offset_group as number | undefined) ?? 1;
      const K = c.w[2]! * c.w[3]!;
      const feeds: Record<string, Tensor> = {
        X: randomTensor('float32', c.x, 53, -1, 1),
        W: randomTensor('float32', c.w, 54, -1, 1),
        offset: randomTensor('float32', [c.x[0]!, og * K * 2, oh!, ow!], 55, -2.5, 2.5),
      };
      if (c.bias) feeds.B = randomTensor('float32', [c.w[0]!], 56, -1, 1);
      if (c.mask) feeds.mask = randomTensor('float32', [c.x[0]!, og * K, oh!, ow!], 57, 0, 1);
      const order = ['X', 'W', 'offset', c.bias ? 'B' : '', c.mask ? 'mask' : ''];
      const attrs = Object.entries(c.attrs).map(([k, v]) => attrOf(k, v));
      const bytes = oneNode('DeformConv', order, feeds, [], attrs, 19);
      const r = await both(bytes, feeds);
      let want: Tensor | undefined;
      try {
        want = (await runOrt(bytes, feeds)).Y;
      } catch (e) {
        // onnxruntime-node without a DeformConv kernel: the CPU reference stands alone.
        expect(String(e)).to.match(/DeformConv|not implemented|NOT_IMPLEMENTED/i);
      }
      if (want) expect(maxAbsDiff(r.cpu.Y!, want), 'cpu vs onnxruntime').to.be.at.most(1e-5);
      if (process.env.KILN_LOG_ERRORS) console.log(`      DeformConv: onnxruntime ${want ? `max |Δ| ${maxAbsDiff(r.cpu.Y!, want).toExponential(1)}` : 'has no kernel'}`);
      if (r.gpu) expect(maxAbsDiff(r.gpu.Y!, want ?? r.cpu.Y!), 'webgpu vs onnxruntime (or the CPU)').to.be.at.most(1e-5);
    });
  }

  it('an offset of the wrong channel count is a ShapeError naming the node', () => {
    const feeds = { X: randomTensor('float32', [1, 1, 4, 4], 1), W: randomTensor('float32', [1, 1, 2, 2], 2), offset: randomTensor('float32', [1, 4, 3, 3], 3) };
    expect(() => importModel(oneNode('DeformConv', ['X', 'W', 'offset'], feeds, [], [], 19))).to.throw(/DeformConv_n: DeformConv offset must be \[1,8,3,3\]/);
  });
});

describe('Random ops (Bernoulli, RandomUniform[Like], RandomNormal[Like]): deterministic, CPU equals WebGPU, distribution', function () {
  this.timeout(60000);
  const N = 20000;
  const p = Tensor.from('float32', [N], Array.from({ length: N }, (_, i) => (i % 4) / 4 + 0.125));
  const mean = (t: Tensor) => t.toArray().reduce((a, b) => a + b, 0) / t.size;
  const std = (t: Tensor) => {
    const m = mean(t);
    return Math.sqrt(t.toArray().reduce((a, b) => a + (b - m) ** 2, 0) / t.size);
  };

  it('Bernoulli: frequencies match the probabilities (±0.02), WebGPU draws the same bits as the CPU (exact), a run repeats, seeds differ', async () => {
    const bytes = (seed?: number) => oneNode('Bernoulli', ['P'], { P: p }, [], seed === undefined ? [] : [attrOf('seed', seed, true)], 15);
    const a = await both(bytes(3), { P: p });
    const again = await both(bytes(3), { P: p });
    const other = await both(bytes(4), { P: p });
    expect(a.cpu.Y!.dtype).to.equal('float32');
    for (let q = 0; q < 4; q++) {
      const ones = a.cpu.Y!.toArray().filter((v, i) => i % 4 === q && v === 1).length;
      expect(ones / (N / 4), `p = ${q / 4 + 0.125}`).to.be.closeTo(q / 4 + 0.125, 0.02);
    }
    expect(a.cpu.Y!.toArray().every((v) => v === 0 || v === 1)).to.equal(true);
    expect(maxAbsDiff(a.cpu.Y!, again.cpu.Y!)).to.equal(0);
    expect(maxAbsDiff(a.cpu.Y!, other.cpu.Y!)).to.equal(1);
    if (a.gpu) expect(maxAbsDiff(a.gpu.Y!, a.cpu.Y!)).to.equal(0);
    // onnxruntime-node draws other numbers: only the type and the set of values are comparable.
    const ort = (await runOrt(bytes(3), { P: p })).Y!;
    expect([ort.dtype, [...ort.shape]]).to.deep.equal([a.cpu.Y!.dtype, [...a.cpu.Y!.shape]]);
  });

  it('Bernoulli with dtype int32 and bool outputs; an unseeded node is deterministic too (its seed comes from its name)', async () => {
    for (const [code, dtype] of [[6, 'int32'], [9, 'bool']] as const) {
      const bytes = oneNode('Bernoulli', ['P'], { P: p }, [], [attrOf('dtype', code)], 15, ['Y']);
      const a = await both(bytes, { P: p });
      const b = await both(bytes, { P: p });
      expect(a.cpu.Y!.dtype).to.equal(dtype);
      expect(maxAbsDiff(a.cpu.Y!, b.cpu.Y!)).to.equal(0);
      if (a.gpu) expect(maxAbsDiff(a.gpu.Y!, a.cpu.Y!)).to.equal(0);
    }
  });

  it('RandomUniformLike in [low, high): mean and spread (±0.03), WebGPU within 1e-6 of the CPU', async () => {
    const x = new Tensor('float32', [100, 200]);
    const r = await both(oneNode('RandomUniformLike', ['X'], { X: x }, [], [attrOf('low', -2, true), attrOf('high', 3, true), attrOf('seed', 11, true)], 17), { X: x });
    const y = r.cpu.Y!;
    expect(Math.min(...y.toArray())).to.be.at.least(-2);
    expect(Math.max(...y.toArray())).to.be.below(3);
    expect(mean(y)).to.be.closeTo(0.5, 0.03);
    expect(std(y)).to.be.closeTo(5 / Math.sqrt(12), 0.03);
    if (r.gpu) expect(maxAbsDiff(r.gpu.Y!, y)).to.be.at.most(1e-6);
    if (r.gpu && process.env.KILN_LOG_ERRORS) console.log(`      RandomUniformLike: max |webgpu - cpu| ${maxAbsDiff(r.gpu.Y!, y).toExponential(1)}`);
  });

  it('RandomNormalLike (a float64 output of an int input via dtype): mean and std (±0.03), WebGPU within 1e-4 of the CPU', async () => {
    const x = new Tensor('int32', [20000]);
    const r = await both(oneNode('RandomNormalLike', ['X'], { X: x }, [], [attrOf('mean', 1, true), attrOf('scale', 2, true), attrOf('seed', 5, true), attrOf('dtype', 11)], 17), { X: x });
    const y = r.cpu.Y!;
    expect(y.dtype).to.equal('float64');
    expect(mean(y)).to.be.closeTo(1, 0.03 * 2);
    expect(std(y)).to.be.closeTo(2, 0.03 * 2);
    if (r.gpu) expect(maxAbsDiff(r.gpu.Y!, y)).to.be.at.most(1e-4);
    if (r.gpu && process.env.KILN_LOG_ERRORS) console.log(`      RandomNormalLike: max |webgpu - cpu| ${maxAbsDiff(r.gpu.Y!, y).toExponential(1)}`);
  });

  it('RandomUniform and RandomNormal of an attribute shape: same shape and dtype as onnxruntime, WebGPU close to the CPU', async () => {
    for (const [op, attrs] of [['RandomUniform', [attrOf('seed', 1, true)]], ['RandomNormal', [attrOf('seed', 2, true), attrOf('scale', 0.5, true)]]] as const) {
      const bytes = oneNode(op, [], {}, [], [...attrs, attrOf('shape', [3, 4, 5])], 17);
      const r = await both(bytes, {});
      expect([...r.cpu.Y!.shape]).to.deep.equal([3, 4, 5]);
      const ort = (await runOrt(bytes, {})).Y!;
      expect([ort.dtype, [...ort.shape]]).to.deep.equal([r.cpu.Y!.dtype, [3, 4, 5]]);
      if (r.gpu) expect(maxAbsDiff(r.gpu.Y!, r.cpu.Y!), op).to.be.at.most(1e-5);
    }
  });
});

describe('hand-derived values', function () {
  this.timeout(60000);
  const close = (t: Tensor, want: number[], tol: number, what: string) => {
    expect(t.size, what).to.equal(want.length);
    want.forEach((v, i) => expect(Number(t.data[i]), `${what}[${i}]`).to.be.closeTo(v, tol));
  };

  it('DFT of [1, 2, 3, 4] is [10, -2+2i, -2, -2-2i]; onesided keeps 3 bins; the inverse gives the signal back (1e-5 on WebGPU)', async () => {
    const x = Tensor.from('float32', [1, 4, 1], [1, 2, 3, 4]);
    const full = await both(oneNode('DFT', ['X'], { X: x }, [], [attrOf('axis', 1)], 17), { X: x });
    const half = await both(oneNode('DFT', ['X'], { X: x }, [], [attrOf('axis', 1), attrOf('onesided', 1)], 17), { X: x });
    const spectrum = [10, 0, -2, 2, -2, 0, -2, -2];
    for (const [r, what] of [[full.cpu, 'cpu'], [full.gpu, 'webgpu']] as const) if (r) close(r.Y!, spectrum, 1e-5, `${what} full`);
    for (const [r, what] of [[half.cpu, 'cpu'], [half.gpu, 'webgpu']] as const) if (r) close(r.Y!, spectrum.slice(0, 6), 1e-5, `${what} onesided`);
    const f = Tensor.from('float32', [1, 4, 2], spectrum);
    const inv = await both(oneNode('DFT', ['X'], { X: f }, [], [attrOf('axis', 1), attrOf('inverse', 1)], 17), { X: f });
    for (const [r, what] of [[inv.cpu, 'cpu'], [inv.gpu, 'webgpu']] as const) if (r) close(r.Y!, [1, 0, 2, 0, 3, 0, 4, 0], 1e-5, `${what} inverse`);
  });

  it('Col2Im of all-ones 2x2 blocks over a 3x3 image counts the blocks covering each pixel', async () => {
    const x = Tensor.full('float32', [1, 4, 4], 1);
    const consts = [{ name: 'img', tensor: Tensor.from('int64', [2], [3, 3]) }, { name: 'blk', tensor: Tensor.from('int64', [2], [2, 2]) }];
    const r = await both(oneNode('Col2Im', ['X', 'img', 'blk'], { X: x }, consts, [], 18), { X: x });
    const want = [1, 2, 1, 2, 4, 2, 1, 2, 1];
    close(r.cpu.Y!, want, 0, 'cpu');
    if (r.gpu) close(r.gpu.Y!, want, 0, 'webgpu');
  });

  it('RoiAlign of a linear ramp X[y, x] = 4y + x averages to the value at the bin centre', async () => {
    const x = Tensor.from('float32', [1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i));
    // half_pixel: the roi (0.5, 0.5)-(2.5, 2.5) starts at 0 and spans 2; one bin, samples at 0.5 and 1.5 per axis → centre (1, 1) = 5.
    // output_half_pixel: the same roi starts at 0.5, samples at 1 and 2 → centre (1.5, 1.5) = 7.5.
    for (const [mode, want] of [['half_pixel', 5], ['output_half_pixel', 7.5]] as const) {
      const feeds = { X: x, rois: Tensor.from('float32', [1, 4], [0.5, 0.5, 2.5, 2.5]), batch: Tensor.from('int64', [1], [0]) };
      const r = await both(oneNode('RoiAlign', ['X', 'rois', 'batch'], feeds, [], [attrOf('coordinate_transformation_mode', mode), attrOf('sampling_ratio', 2)], 16), feeds);
      close(r.cpu.Y!, [want], 1e-6, `${mode} cpu`);
      if (r.gpu) close(r.gpu.Y!, [want], 1e-5, `${mode} webgpu`);
    }
  });

  it('DeformConv with zero offsets and no mask equals Conv; with all offsets (+1, +1) equals Conv of the input shifted by one pixel', async () => {
    const x = randomTensor('float32', [1, 2, 6, 6], 61, -1, 1);
    const w = randomTensor('float32', [3, 2, 3, 3], 62, -1, 1);
    const conv = compileCpu(importModel(oneNode('Conv', ['X', 'W'], { X: x, W: w }, [], [attrOf('pads', [1, 1, 1, 1])], 17))).run({ X: x, W: w }).Y!;
    const zero = new Tensor('float32', [1, 18, 6, 6]);
    const r = await both(oneNode('DeformConv', ['X', 'W', 'offset'], { X: x, W: w, offset: zero }, [], [attrOf('pads', [1, 1, 1, 1])], 19), { X: x, W: w, offset: zero });
    expect(maxAbsDiff(r.cpu.Y!, conv)).to.be.at.most(1e-6);
    if (r.gpu) expect(maxAbsDiff(r.gpu.Y!, conv)).to.be.at.most(1e-5);
    // Shift: sampling at p + (1, 1) without padding equals Conv (pads 0) of X[1:, 1:] padded by one zero row/column at the end.
    const ones = Tensor.full('float32', [1, 18, 4, 4], 1);
    const shifted = await both(oneNode('DeformConv', ['X', 'W', 'offset'], { X: x, W: w, offset: ones }, [], [], 19), { X: x, W: w, offset: ones });
    const xs = new Tensor('float32', [1, 2, 6, 6]);
    for (let c = 0; c < 2; c++) for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) xs.data[(c * 6 + i) * 6 + j] = x.data[(c * 6 + i + 1) * 6 + j + 1]!;
    const ref = compileCpu(importModel(oneNode('Conv', ['X', 'W'], { X: xs, W: w }, [], [], 17))).run({ X: xs, W: w }).Y!;
    expect(maxAbsDiff(shifted.cpu.Y!, ref)).to.be.at.most(1e-6);
    if (shifted.gpu) expect(maxAbsDiff(shifted.gpu.Y!, ref)).to.be.at.most(1e-5);
  });
});

describe('unseeded random nodes of an ONNX model', function () {
  this.timeout(60000);
  it('each gets a seed from its node name: two RandomUniformLike of one input differ, and a re-import draws the same numbers', async () => {
    const x = new Tensor('float32', [64]);
    const bytes = onnx.ModelProto.encode({
      irVersion: 9,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'two_draws',
        input: [vi('X', FLOAT, [64])],
        node: [
          { name: 'a', opType: 'RandomUniformLike', input: ['X'], output: ['A'] },
          { name: 'b', opType: 'RandomUniformLike', input: ['X'], output: ['B'] },
        ],
        output: [vi('A', FLOAT), vi('B', FLOAT)],
      },
    }).finish();
    const g = importModel(bytes);
    expect(g.nodes.map((n) => typeof n.attrs.seed)).to.deep.equal(['number', 'number']);
    const r = await both(bytes, { X: x });
    expect(maxAbsDiff(r.cpu.A!, r.cpu.B!)).to.be.greaterThan(0.1);
    const again = await both(bytes, { X: x });
    expect(maxAbsDiff(r.cpu.A!, again.cpu.A!)).to.equal(0);
    if (r.gpu) expect(maxAbsDiff(r.gpu.B!, r.cpu.B!)).to.be.at.most(1e-6);
  });
});
