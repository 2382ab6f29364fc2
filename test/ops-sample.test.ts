/// <reference types="@webgpu/types" />
import { expect } from 'chai';
import { runReference, Tensor, type Node } from '../src/graph/index.js';
import '../src/graph/ops/index.js';
import { importModel } from '../onnx/import.js';
import { onnx } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { sharedDevice } from './helpers/gpu.js';
import { maxAbsDiff, randomTensor } from './helpers/gpu-compare.js';
import { A, FLOAT, vi } from './helpers/onnx-model.js';
import { runOrt } from './onnx-util.js';

const node = (op: string, n: number, attrs: Node['attrs'] = {}): Node => ({
  name: `${op}_t`, op, domain: '', attrs, inputs: Array.from({ length: n }, (_, i) => `i${i}`), outputs: ['o'],
});

describe('ops: GridSample and MaxUnpool', () => {
  const x = Tensor.from('float32', [1, 1, 2, 2], [1, 2, 3, 4]);

  it('GridSample bilinear with align_corners: corners and the center', () => {
    const grid = Tensor.from('float32', [1, 1, 3, 2], [-1, -1, 1, 1, 0, 0]);
    const [y] = runReference(node('GridSample', 2, { align_corners: 1 }), [x, grid]);
    expect(y!.toArray()).to.deep.equal([1, 4, 2.5]);
  });

  it('GridSample zeros padding halves a border sample without align_corners', () => {
    // x = -1 maps to pixel -0.5: half pixel 0, half padding zero.
    const grid = Tensor.from('float32', [1, 1, 1, 2], [-1, -0.5]);
    const [y] = runReference(node('GridSample', 2), [x, grid]);
    // y = -0.5 → pixel row 0 exactly; x → 0.5·0 + 0.5·x[0,0] = 0.5
    expect(y!.data[0]).to.be.closeTo(0.5, 1e-6);
    const [b] = runReference(node('GridSample', 2, { padding_mode: 'border' }), [x, grid]);
    expect(b!.data[0]).to.be.closeTo(1, 1e-6);
  });

  it('GridSample nearest picks the closest pixel', () => {
    const grid = Tensor.from('float32', [1, 1, 1, 2], [0.6, 0.6]);
    const [y] = runReference(node('GridSample', 2, { mode: 'nearest', align_corners: 1 }), [x, grid]);
    expect(y!.data[0]).to.equal(4);
  });

  it('MaxUnpool places values at their indices and honours output_shape', () => {
    const v = Tensor.from('float32', [1, 1, 1, 1], [9]);
    const i = Tensor.from('int64', [1, 1, 1, 1], [3]);
    const [y] = runReference(node('MaxUnpool', 2, { kernel_shape: [2, 2], strides: [2, 2] }), [v, i]);
    expect(y!.shape).to.deep.equal([1, 1, 2, 2]);
    expect(y!.toArray()).to.deep.equal([0, 0, 0, 9]);
    const [z] = runReference(node('MaxUnpool', 3, { kernel_shape: [2, 2], strides: [2, 2] }), [v, i, Tensor.from('int64', [4], [1, 1, 3, 3])]);
    expect(z!.toArray()).to.deep.equal([0, 0, 0, 0, 9, 0, 0, 0, 0]);
  });
});

describe('GridSample 3-D (volumetric, opset 20) vs onnxruntime-node, on CPU and WebGPU', function () {
  this.timeout(60000);
  // X [2, 3, 4, 5, 6], grid [2, 3, 4, 2, 3] with coordinates in [-1.3, 1.3] (some outside, so padding matters).
  const x = randomTensor('float32', [2, 3, 4, 5, 6], 4242, -1, 1);
  const grid = randomTensor('float32', [2, 3, 4, 2, 3], 4243, -1.3, 1.3);
  const modelOf = (mode: string, pad: string, align: number): Uint8Array =>
    onnx.ModelProto.encode({
      irVersion: 9,
      opsetImport: [{ domain: '', version: 20 }],
      graph: {
        name: 'gridsample3d',
        input: [vi('X', FLOAT, [2, 3, 4, 5, 6]), vi('grid', FLOAT, [2, 3, 4, 2, 3])],
        node: [{ name: 'gs', opType: 'GridSample', input: ['X', 'grid'], output: ['Y'], attribute: [
          { name: 'mode', type: A.STRING, s: new TextEncoder().encode(mode) },
          { name: 'padding_mode', type: A.STRING, s: new TextEncoder().encode(pad) },
          { name: 'align_corners', type: A.INT, i: align },
        ] }],
        output: [vi('Y', FLOAT)],
      },
    }).finish();
  const cases = ['linear', 'nearest'].flatMap((mode) => ['zeros', 'border', 'reflection'].flatMap((pad) => [0, 1].map((align) => ({ mode, pad, align }))));
  let device: GPUDevice | null;
  before(async () => { device = await sharedDevice(); });
  for (const { mode, pad, align } of cases) {
    it(`${mode}, ${pad} padding, align_corners ${align}: max |Δ| ≤ 1e-5 on CPU and WebGPU`, async function () {
      const bytes = modelOf(mode, pad, align);
      const want = (await runOrt(bytes, { X: x, grid })).Y!;
      const g = importModel(bytes);
      const cpu = compileCpu(g).run({ X: x, grid }).Y!;
      expect(cpu.shape).to.deep.equal([2, 3, 3, 4, 2]);
      expect(maxAbsDiff(cpu, want), 'cpu').to.be.at.most(1e-5);
      if (!device) return;
      const prog = await compileWebGpu(g, { device });
      const gpu = ((await prog.run({ X: x, grid })) as Record<string, Tensor>).Y!;
      prog.release();
      expect(maxAbsDiff(gpu, want), 'webgpu').to.be.at.most(1e-5);
    });
  }
  it('cubic mode on a 5-D input is a ShapeError naming the node', () => {
    expect(() => importModel(modelOf('cubic', 'zeros', 0))).to.throw(/gs: GridSample cubic mode is 2-D only/);
  });
});


describe('AffineGrid → GridSample (a spatial transformer, opset 20) vs onnxruntime-node, on CPU and WebGPU', function () {
  this.timeout(60000);
  let device: GPUDevice | null;
  before(async () => { device = await sharedDevice(); });
  const int64 = (name: string, v: number[]) => ({ name, dataType: 7, dims: [v.length], int64Data: v });
  for (const [sp, align] of [[2, 0], [2, 1], [3, 0], [3, 1]] as const) {
    it(`${sp}-D, align_corners ${align}: grid and samples within 1e-5`, async function () {
      const size = sp === 2 ? [2, 3, 5, 7] : [2, 3, 3, 4, 5];
      const x = randomTensor('float32', size, 777 + sp, -1, 1);
      const theta = randomTensor('float32', [2, sp, sp + 1], 778 + sp, -1, 1);
      const bytes = onnx.ModelProto.encode({
        irVersion: 9,
        opsetImport: [{ domain: '', version: 20 }],
        graph: {
          name: 'stn',
          input: [vi('X', FLOAT, size), vi('theta', FLOAT, [2, sp, sp + 1])],
          initializer: [int64('size', size)],
          node: [
            { name: 'ag', opType: 'AffineGrid', input: ['theta', 'size'], output: ['grid'], attribute: [{ name: 'align_corners', type: A.INT, i: align }] },
            { name: 'gs', opType: 'GridSample', input: ['X', 'grid'], output: ['Y'], attribute: [{ name: 'align_corners', type: A.INT, i: align }] },
          ],
          output: [vi('grid', FLOAT), vi('Y', FLOAT)],
        },
      }).finish();
      const feeds = { X: x, theta };
      const want = await runOrt(bytes, feeds);
      const g = importModel(bytes);
      const cpu = compileCpu(g).run(feeds);
      expect(maxAbsDiff(cpu.grid!, want.grid!), 'cpu grid').to.be.at.most(1e-5);
      expect(maxAbsDiff(cpu.Y!, want.Y!), 'cpu Y').to.be.at.most(1e-5);
      if (!device) return;
      const prog = await compileWebGpu(g, { device });
      const gpu = (await prog.run(feeds)) as Record<string, Tensor>;
      prog.release();
      expect(maxAbsDiff(gpu.grid!, want.grid!), 'webgpu grid').to.be.at.most(1e-5);
      expect(maxAbsDiff(gpu.Y!, want.Y!), 'webgpu Y').to.be.at.most(1e-5);
    });
  }
});
