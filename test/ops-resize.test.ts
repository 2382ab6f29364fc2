/// <reference types="@webgpu/types" />
import { expect } from 'chai';
import { GraphBuilder, ShapeError, Tensor } from '../src/graph/index.js';
import { importModel } from '../onnx/import.js';
import { onnx } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { sharedDevice } from './helpers/gpu.js';
import { maxAbsDiff, randomTensor } from './helpers/gpu-compare.js';
import { A, FLOAT, INT64, vi } from './helpers/onnx-model.js';
import { runOrt } from './onnx-util.js';
import { expectTensor, f32, nodeTests, runNodeTest, runOp } from './ops-conv-onnxdata.js';

const sizes = (v: number[]) => Tensor.from('int64', [v.length], v);
const scales = (v: number[]) => f32([v.length], v);

describe('ops: Resize', () => {
  const x12 = f32([1, 2], [1, 2]);
  it('nearest: asymmetric + floor and half_pixel + round_prefer_floor', () => {
    const up = scales([1, 2]);
    expectTensor(runOp('Resize', [x12, undefined, up], { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' })[0]!, [1, 4], [1, 1, 2, 2]);
    expectTensor(runOp('Resize', [x12, undefined, up])[0]!, [1, 4], [1, 1, 2, 2]);
    // sizes 3 -> 4: scale 4/3, asymmetric x_orig = 0, 0.75, 1.5, 2.25; the tie at 1.5 decides
    const nearest = (mode: string) => runOp('Resize', [f32([3], [1, 2, 3]), undefined, undefined, sizes([4])], {
      coordinate_transformation_mode: 'asymmetric', nearest_mode: mode,
    })[0]!;
    expectTensor(nearest('round_prefer_ceil'), [4], [1, 2, 3, 3]);
    expectTensor(nearest('round_prefer_floor'), [4], [1, 2, 2, 3]);
    expectTensor(nearest('floor'), [4], [1, 1, 2, 3]);
    expectTensor(nearest('ceil'), [4], [1, 2, 3, 3]);
  });
  it('linear: half_pixel and align_corners', () => {
    expectTensor(runOp('Resize', [x12, undefined, scales([1, 2])], { mode: 'linear' })[0]!, [1, 4], [1, 1.25, 1.75, 2]);
    expectTensor(runOp('Resize', [x12, undefined, undefined, sizes([1, 4])], { mode: 'linear', coordinate_transformation_mode: 'align_corners' })[0]!,
      [1, 4], [1, 4 / 3, 5 / 3, 2]);
  });
  it('bilinear 2x2 -> 4x4 (ONNX doc example)', () => {
    const y = runOp('Resize', [f32([1, 1, 2, 2], [1, 2, 3, 4]), undefined, scales([1, 1, 2, 2])], { mode: 'linear' })[0]!;
    expectTensor(y, [1, 1, 4, 4], [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
  });
  it('cubic with A = -0.75, with and without exclude_outside', () => {
    // asymmetric, scale 2: out[1] samples x = 0.5; weights at t = 0.5 are [-0.09375, 0.59375, 0.59375, -0.09375] over x[-1..2] (x[-1] clamps to x[0])
    const x = f32([4], [1, 2, 4, 8]);
    const y = runOp('Resize', [x, undefined, scales([2])], { mode: 'cubic', coordinate_transformation_mode: 'asymmetric' })[0]!;
    expect(y.shape).to.deep.equal([8]);
    expect(y.toArray().slice(0, 3)).to.deep.equal([1, 1.3125, 2]);
    const e = runOp('Resize', [x, undefined, scales([2])], { mode: 'cubic', coordinate_transformation_mode: 'asymmetric', exclude_outside: 1 })[0]!;
    expect(e.data[1]).to.be.closeTo(9 / 7, 1e-6);
  });
  it('tf_crop_and_resize extrapolates outside the roi', () => {
    // roi [0, 1.5] of length-4 axis: x_orig = 1.5 * x -> 0, 1.5, 3, 4.5 (outside)
    const y = runOp('Resize', [f32([4], [1, 2, 3, 4]), f32([2], [0, 1.5]), undefined, sizes([4])], {
      mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: 10,
    })[0]!;
    expectTensor(y, [4], [1, 2.5, 4, 10]);
  });
  it('infers shapes from constant scales/sizes, fresh dims otherwise, and rejects bad inputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 3, 10, 10]);
    expect(b.Resize([x, undefined, b.constant([1, 1, 1.5, 2])]).shape).to.deep.equal(['N', 3, 15, 20]);
    expect(b.Resize([x, undefined, undefined, b.constant([1, 3, 4, 5], { dtype: 'int64' })]).shape).to.deep.equal([1, 3, 4, 5]);
    const s = b.input('s', 'float32', [4]);
    const shape = b.Resize([x, undefined, s]).shape;
    expect(shape.every((d) => typeof d === 'string')).to.equal(true);
    expect(() => b.Resize([x, undefined, b.constant([2, 2])], {}, { name: 'rz' })).to.throw(ShapeError, /rz: Resize scales has 2 values but X \[N,3,10,10\] needs 4/);
    expect(() => b.Resize([x])).to.throw(ShapeError, /scales or sizes/);
  });
  it('axes and keep_aspect_ratio_policy (opset 18 form)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 3, 10, 20]);
    const sz = b.constant([5, 5], { dtype: 'int64' });
    expect(b.Resize([x, undefined, undefined, sz], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' }).shape).to.deep.equal([1, 3, 3, 5]);
    expect(b.Resize([x, undefined, undefined, sz], { axes: [2, 3], keep_aspect_ratio_policy: 'not_smaller' }).shape).to.deep.equal([1, 3, 5, 10]);
  });
});

describe('ops: Upsample', () => {
  it('nearest repeats (scales attribute, opset 7 form)', () => {
    const y = runOp('Upsample', [f32([1, 1, 2, 2], [1, 2, 3, 4])], { scales: [1, 1, 2, 3] })[0]!;
    expectTensor(y, [1, 1, 4, 6], [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4]);
  });
  it('linear with asymmetric coordinates (scales input, opset 9 form)', () => {
    expectTensor(runOp('Upsample', [f32([1, 2], [1, 2]), scales([1, 2])], { mode: 'linear' })[0]!, [1, 4], [1, 1.5, 2, 2]);
  });
});

describe('ops: resize (ONNX node tests)', () => {
  for (const t of nodeTests('test_resize', 'test_upsample')) it(t, () => runNodeTest(t));
});

describe('Resize antialias (opset 18) vs onnxruntime-node, on CPU and WebGPU', function () {
  this.timeout(60000);
  // A photo-sized shrink: [1, 3, 37, 50] by 0.3 × 0.45 (scales) or to 11 × 16 (sizes).
  const x = randomTensor('float32', [1, 3, 37, 50], 5151, 0, 1);
  const modelOf = (mode: string, coord: string, by: 'scales' | 'sizes', exclude: number): Uint8Array => {
    const str = (name: string, v: string) => ({ name, type: A.STRING, s: new TextEncoder().encode(v) });
    const init = by === 'scales'
      ? { name: 'p', dataType: FLOAT, dims: [4], floatData: [1, 1, 0.3, 0.45] }
      : { name: 'p', dataType: INT64, dims: [4], int64Data: [1, 3, 11, 16] };
    return onnx.ModelProto.encode({
      irVersion: 9,
      opsetImport: [{ domain: '', version: 18 }],
      graph: {
        name: 'resize_aa',
        input: [vi('X', FLOAT, [1, 3, 37, 50])],
        initializer: [init],
        node: [{ name: 'rs', opType: 'Resize', input: by === 'scales' ? ['X', '', 'p'] : ['X', '', '', 'p'], output: ['Y'], attribute: [
          str('mode', mode), str('coordinate_transformation_mode', coord), { name: 'antialias', type: A.INT, i: 1 }, { name: 'exclude_outside', type: A.INT, i: exclude },
        ] }],
        output: [vi('Y', FLOAT)],
      },
    }).finish();
  };
  let device: GPUDevice | null;
  before(async () => { device = await sharedDevice(); });
  // align_corners only with sizes: with a scale whose output length is not whole (37 · 0.3 = 11.1 → 11)
  // Kiln follows ONNX's reference and test data (the unrounded 11.1 in the formula), onnxruntime
  // the rounded 11 — with or without antialias.
  const cases = ['linear', 'cubic'].flatMap((mode) => [
    { mode, by: 'scales' as const, coord: 'half_pixel', exclude: 0 },
    { mode, by: 'sizes' as const, coord: 'half_pixel', exclude: 0 },
    { mode, by: 'sizes' as const, coord: 'align_corners', exclude: 0 },
  ]);
  cases.push({ mode: 'cubic', by: 'scales', coord: 'half_pixel', exclude: 1 });
  for (const { mode, by, coord, exclude } of cases) {
    it(`${mode} by ${by}, ${coord}${exclude ? ', exclude_outside' : ''}: max |Δ| ≤ 1e-5 on CPU and WebGPU`, async function () {
      const bytes = modelOf(mode, coord, by, exclude);
      const want = (await runOrt(bytes, { X: x })).Y!;
      const g = importModel(bytes);
      const cpu = compileCpu(g).run({ X: x }).Y!;
      const d = maxAbsDiff(cpu, want);
      console.log(`      [${want.shape}] CPU max |Δ| ${d.toExponential(2)}`);
      expect(d, 'cpu').to.be.at.most(1e-5);
      if (!device) return;
      const prog = await compileWebGpu(g, { device });
      const gpu = ((await prog.run({ X: x })) as Record<string, Tensor>).Y!;
      prog.release();
      expect(maxAbsDiff(gpu, want), 'webgpu').to.be.at.most(1e-5);
    });
  }
});

