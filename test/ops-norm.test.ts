/// <reference types="@webgpu/types" />
import { expect } from 'chai';
import { GraphBuilder, ShapeError, Tensor, UnsupportedOpError, runReference } from '../src/graph/index.js';
import { importModel } from '../onnx/import.js';
import { onnx } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { sharedDevice } from './helpers/gpu.js';
import { randomTensor } from './helpers/gpu-compare.js';
import { A, FLOAT, vi } from './helpers/onnx-model.js';
import '../src/graph/ops/normalization.js';

/** Runs one node with the CPU reference, declaring `nOut` outputs. */
function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, unknown> = {}, nOut = 1): Tensor[] {
  const names = inputs.map((t, i) => (t ? `in${i}` : ''));
  const outs = Array.from({ length: nOut }, (_, i) => `out${i}`);
  return runReference({ name: `${op}_test`, op, domain: '', inputs: names, outputs: outs, attrs: attrs as never }, inputs);
}
const f32 = (shape: number[], v: number[]) => Tensor.from('float32', shape, v);
function expectClose(t: Tensor, shape: number[], want: number[], tol = 1e-5): void {
  expect(t.shape).to.deep.equal(shape);
  t.toArray().forEach((v, i) => expect(v, `element ${i}`).to.be.closeTo(want[i]!, tol));
}
const S15 = Math.sqrt(1.5);

describe('ops: normalization', () => {
  it('BatchNormalization on [1,2,1,2]: channel 0 (x-2)/1, channel 1 (x-4)/2*2+1', () => {
    const x = f32([1, 2, 1, 2], [1, 3, 2, 6]);
    const p = [f32([2], [1, 2]), f32([2], [0, 1]), f32([2], [2, 4]), f32([2], [1, 4])];
    expectClose(run('BatchNormalization', [x, ...p], { epsilon: 0 })[0]!, [1, 2, 1, 2], [-1, 1, -1, 3]);
    // Default epsilon 1e-5 changes the result only slightly.
    expectClose(run('BatchNormalization', [x, ...p])[0]!, [1, 2, 1, 2], [-1, 1, -1, 3], 1e-4);
    // Old 5-output form: extra outputs carry the given statistics.
    const outs = run('BatchNormalization', [x, ...p], { epsilon: 0, spatial: 1, is_test: 1 }, 3);
    expect(outs[1]!.toArray()).to.deep.equal([2, 4]);
    expect(outs[2]!.toArray()).to.deep.equal([1, 4]);
  });

  it('BatchNormalization rejects training mode and bad parameter shapes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 2, 4, 4]);
    const c2 = b.constant([1, 1]);
    const c3 = b.constant([1, 1, 1]);
    expect(b.apply('BatchNormalization', [x, c2, c2, c2, c2])[0]!.shape).to.deep.equal(['n', 2, 4, 4]);
    expect(() => b.apply('BatchNormalization', [x, c2, c2, c2, c2], { training_mode: 1 }, { name: 'bn' }))
      .to.throw(UnsupportedOpError, /BatchNormalization \(bn\).*training_mode=1 is not supported/);
    expect(() => b.apply('BatchNormalization', [x, c3, c2, c2, c2])).to.throw(ShapeError, /scale must have shape \[2\]/);
  });

  it('LayerNormalization over the last axis, with Mean and InvStdDev outputs', () => {
    // Rows [1,2,3] and [2,4,6]: means 2 and 4, variances 2/3 and 8/3, normalized ±sqrt(1.5).
    const x = f32([2, 3], [1, 2, 3, 2, 4, 6]);
    const [y, mean, inv] = run('LayerNormalization', [x, f32([3], [2, 1, 1]), f32([3], [0, 1, 0])], { epsilon: 0 }, 3);
    expectClose(y!, [2, 3], [-2 * S15, 1, S15, -2 * S15, 1, S15]);
    expectClose(mean!, [2, 1], [2, 4]);
    expectClose(inv!, [2, 1], [S15, Math.sqrt(3 / 8)]);
    expect(mean!.dtype).to.equal('float32');
  });

  it('LayerNormalization with axis 0 normalizes everything; B is optional', () => {
    // Mean 3, variance 8/3: deviations [-2,-1,0,-1,1,3] scaled by sqrt(3/8).
    const x = f32([2, 3], [1, 2, 3, 2, 4, 6]);
    const k = Math.sqrt(3 / 8);
    const y = run('LayerNormalization', [x, f32([2, 3], [1, 1, 1, 1, 1, 1])], { axis: 0, epsilon: 0 })[0]!;
    expectClose(y, [2, 3], [-2, -1, 0, -1, 1, 3].map((d) => d * k));
  });

  it('LayerNormalization inference: stat shapes and symbolic dims', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 'seq', 8]);
    const s = b.constant(new Array(8).fill(1));
    const outs = b.apply('LayerNormalization', [x, s], {}, { outputs: 3 });
    expect(outs.map((o) => o.shape)).to.deep.equal([['batch', 'seq', 8], ['batch', 'seq', 1], ['batch', 'seq', 1]]);
    const bad = b.constant([1, 1, 1]);
    expect(() => b.apply('LayerNormalization', [x, bad], {}, { name: 'ln' })).to.throw(ShapeError, /ln: Scale of shape \[3\] does not broadcast/);
  });

  it('InstanceNormalization per (n, c)', () => {
    const x = f32([1, 2, 2], [1, 3, 2, 6]);
    expectClose(run('InstanceNormalization', [x, f32([2], [1, 2]), f32([2], [0, 1])], { epsilon: 0 })[0]!, [1, 2, 2], [-1, 1, -1, 3]);
  });

  it('GroupNormalization with per-group (opset 18) and per-channel scale', () => {
    // Groups {ch0, ch1} = [1,3] and {ch2, ch3} = [2,6], each normalized to [-1, 1].
    const x = f32([1, 4, 1], [1, 3, 2, 6]);
    const perGroup = run('GroupNormalization', [x, f32([2], [2, 1]), f32([2], [0, 1])], { num_groups: 2, epsilon: 0 })[0]!;
    expectClose(perGroup, [1, 4, 1], [-2, 2, 0, 2]);
    const perChannel = run('GroupNormalization', [x, f32([4], [1, 2, 3, 4]), f32([4], [0, 0, 0, 0])], { num_groups: 2, epsilon: 0 })[0]!;
    expectClose(perChannel, [1, 4, 1], [-1, 2, -3, 4]);
    const b = new GraphBuilder();
    const xi = b.input('x', 'float32', [1, 3, 4]);
    const c = b.constant([1, 1]);
    expect(() => b.apply('GroupNormalization', [xi, c, c], { num_groups: 2 })).to.throw(ShapeError, /not divisible by num_groups=2/);
  });

  it('LRN across channels (size 3, alpha/size = 1, beta 1, bias 1)', () => {
    // ch0: 1/(1+1+4), ch1: 2/(1+1+4+9), ch2: 3/(1+4+9)
    const y = run('LRN', [f32([1, 3, 1, 1], [1, 2, 3])], { size: 3, alpha: 3, beta: 1, bias: 1 })[0]!;
    expectClose(y, [1, 3, 1, 1], [1 / 6, 2 / 15, 3 / 14]);
  });

  it('MeanVarianceNormalization over default axes [0,2,3]', () => {
    const y = run('MeanVarianceNormalization', [f32([1, 2, 1, 2], [1, 3, 2, 6])])[0]!;
    expectClose(y, [1, 2, 1, 2], [-1, 1, -1, 1]);
  });

  it('LpNormalization with p=2 and p=1; a zero vector stays zero', () => {
    const x = f32([3, 2], [3, 4, 1, -1, 0, 0]);
    expectClose(run('LpNormalization', [x])[0]!, [3, 2], [0.6, 0.8, Math.SQRT1_2, -Math.SQRT1_2, 0, 0]);
    expectClose(run('LpNormalization', [x], { p: 1 })[0]!, [3, 2], [3 / 7, 4 / 7, 0.5, -0.5, 0, 0]);
    expectClose(run('LpNormalization', [x], { axis: 0, p: 1 })[0]!, [3, 2], [0.75, 0.8, 0.25, -0.2, 0, 0]);
  });
});

describe('BatchNormalization in training mode (opset 15, imported as registry ops), CPU and WebGPU', function () {
  this.timeout(60000);
  it('normalizes with the batch statistics and updates the running ones, as the ONNX formulas (float64, 1e-5)', async () => {
    const [N, C, H, W] = [2, 3, 4, 5];
    const x = randomTensor('float32', [N, C, H, W], 31, -2, 3);
    const scale = randomTensor('float32', [C], 32, 0.5, 1.5);
    const bias = randomTensor('float32', [C], 33, -1, 1);
    const mean = randomTensor('float32', [C], 34, -1, 1);
    const variance = randomTensor('float32', [C], 35, 0.5, 2);
    const [eps, momentum] = [1e-3, 0.8];
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 15 }],
      graph: {
        name: 'bn_train',
        input: [vi('X', FLOAT, [N, C, H, W]), vi('s', FLOAT, [C]), vi('b', FLOAT, [C]), vi('m', FLOAT, [C]), vi('v', FLOAT, [C])],
        node: [{ name: 'bn', opType: 'BatchNormalization', input: ['X', 's', 'b', 'm', 'v'], output: ['Y', 'rm', 'rv'], attribute: [
          { name: 'training_mode', type: A.INT, i: 1 }, { name: 'epsilon', type: A.FLOAT, f: eps }, { name: 'momentum', type: A.FLOAT, f: momentum },
        ] }],
        output: [vi('Y', FLOAT), vi('rm', FLOAT), vi('rv', FLOAT)],
      },
    }).finish();
    const g = importModel(bytes);
    const feeds = { X: x, s: scale, b: bias, m: mean, v: variance };
    // Expected, per channel, in float64.
    const S = H * W;
    const want = { Y: new Float64Array(x.size), rm: new Float64Array(C), rv: new Float64Array(C) };
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) sum += Number(x.data[(n * C + c) * S + i]);
      const mu = sum / (N * S);
      let sq = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) sq += (Number(x.data[(n * C + c) * S + i]) - mu) ** 2;
      const va = sq / (N * S);
      for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) {
        const k = (n * C + c) * S + i;
        want.Y[k] = ((Number(x.data[k]) - mu) / Math.sqrt(va + eps)) * Number(scale.data[c]) + Number(bias.data[c]);
      }
      want.rm[c] = Number(mean.data[c]) * momentum + mu * (1 - momentum);
      want.rv[c] = Number(variance.data[c]) * momentum + va * (1 - momentum);
    }
    const check = (got: Record<string, Tensor>, where: string): void => {
      for (const k of ['Y', 'rm', 'rv'] as const) {
        want[k].forEach((w, i) => expect(Math.abs(Number(got[k]!.data[i]) - w), `${where} ${k}[${i}]`).to.be.at.most(1e-5 + 1e-5 * Math.abs(w)));
      }
    };
    check(compileCpu(g).run(feeds), 'cpu');
    const device = await sharedDevice();
    if (!device) return;
    const prog = await compileWebGpu(g, { device });
    check((await prog.run(feeds)) as Record<string, Tensor>, 'webgpu');
    prog.release();
  });
});
