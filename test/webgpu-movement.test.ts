/// <reference types="@webgpu/types" />
/**
 * WebGPU shape, movement and gather-family kernels against the CPU reference on
 * random inputs (odd sizes, size-0 and size-1 axes, negative indices, int64 ids).
 */
import { expect } from 'chai';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, Tensor, UnsupportedOpError } from '../src/graph/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { buildCase, i64, type Build } from './webgpu-kernel-cases.js';
import { compareWithCpu, randomTensor } from './helpers/gpu-compare.js';


const CASES: Record<string, Build> = {
  'Reshape/Flatten/Squeeze/Unsqueeze/Identity alias chain': (b, f) => {
    const x = f('x', 'float32', [2, 1, 6]);
    const r = b.Reshape([b.Squeeze([x, i64(b, [1])]), i64(b, [3, 4])]);
    return b.Relu(b.Identity(b.Flatten(b.Unsqueeze([r, i64(b, [0])]), { axis: 2 })));
  },
  'Expand [3,1] → [2,3,4]': (b, f) => b.Expand([f('x', 'float32', [3, 1]), i64(b, [2, 3, 4])]),
  'Expand int64 scalar → [5]': (b, f) => b.Expand([f('x', 'int64', [], -9, 9), i64(b, [5])]),
  'ConstantOfShape (not folded: 4800 elements)': (b, f) =>
    b.Add([f('x', 'int32', [80, 60]), b.ConstantOfShape(i64(b, [80, 60]), { value: Tensor.from('int32', [1], [7]) })]),
  'Range float32 of 5000': (b, f) => b.Add([f('x', 'float32', [5000]), b.Range([b.constant(0.5), b.constant(2500.5), b.constant(0.5)])]),
  'EyeLike k=1 and k=-2 int32': (b, f) => {
    const x = f('x', 'float32', [5, 7]);
    return [b.EyeLike(x, { k: 1 }), b.EyeLike(x, { k: -2, dtype: 6 })];
  },
  'Dropout with mask': (b, f) => b.apply('Dropout', [f('x', 'float32', [3, 3])], {}, { outputs: 2 }),
  'Transpose perm [2,0,1] and default': (b, f) => {
    const x = f('x', 'float32', [2, 3, 5]);
    return [b.Transpose(x, { perm: [2, 0, 1] }), b.Transpose(x)];
  },
  'Concat axis 1 (with a size-0 input)': (b, f) => b.Concat([f('a', 'float32', [2, 3, 2]), f('z', 'float32', [2, 0, 2]), f('c', 'float32', [2, 1, 2])], { axis: 1 }),
  'Concat written in place by its producers (blocks of 256 and 512 bytes), then read by a Relu': (b, f) =>
    b.Relu(b.Concat([b.Neg(f('a', 'float32', [1, 8, 8])), b.Sigmoid(f('c', 'float32', [1, 16, 8])), b.Abs(f('d', 'float32', [1, 8, 8]))], { axis: 1 })),
  'Concat written in place as a graph output, beside a misaligned one': (b, f) => {
    const x = f('x', 'float32', [1, 64]);
    return [b.Concat([b.Neg(x), b.Exp(f('y', 'float32', [1, 64]))], { axis: 1 }), b.Concat([b.Relu(f('z', 'float32', [1, 3])), b.Sigmoid(x)], { axis: 1 })];
  },
  'Concat bool axis -1': (b, f) => b.Concat([f('a', 'bool', [3, 1]), f('c', 'bool', [3, 2])], { axis: -1 }),
  'Concat of three inputs along axis 0 and along the last axis': (b, f) => {
    const [p, q, r] = [f('p', 'float32', [1, 3]), f('q', 'float32', [2, 3]), f('r', 'float32', [4, 3])];
    return [b.Concat([p, q, r], { axis: 0 }), b.Concat([b.Transpose(p), b.Transpose(q), b.Transpose(r)], { axis: 1 })];
  },
  'Split equal and by sizes': (b, f) => {
    const x = f('x', 'float32', [2, 4, 3]);
    return [...b.apply('Split', [x], { axis: 1 }, { outputs: 2 }), ...b.apply('Split', [x, i64(b, [1, 3])], { axis: 1 }, { outputs: 2 })];
  },
  'Split uneven along a middle axis with an empty output, and along the last axis': (b, f) => {
    const x = f('x', 'float32', [2, 7, 3]);
    return [...b.apply('Split', [x, i64(b, [2, 0, 5])], { axis: 1 }, { outputs: 3 }), ...b.apply('Split', [x, i64(b, [1, 2])], { axis: -1 }, { outputs: 2 })];
  },
  'Slice with steps, negative step, clamped ends': (b, f) => {
    const x = f('x', 'float32', [5, 7, 3]);
    return [
      b.Slice([x, i64(b, [1, -1]), i64(b, [4, -100]), i64(b, [0, 1]), i64(b, [2, -2])]),
      b.Slice([x, i64(b, [0]), i64(b, [2 ** 40]), i64(b, [2])]),
    ];
  },
  'Tile [2,3] × [2,3]': (b, f) => b.Tile([f('x', 'int32', [2, 3]), i64(b, [2, 3])]),
  'Pad constant (value 1.5, negative crop)': (b, f) => b.Pad([f('x', 'float32', [3, 4]), i64(b, [1, -1, 2, 2]), b.constant(1.5)]),
  'Pad reflect': (b, f) => b.Pad([f('x', 'float32', [3, 4]), i64(b, [2, 3, 1, 2])], { mode: 'reflect' }),
  'Pad edge': (b, f) => b.Pad([f('x', 'float32', [3, 4]), i64(b, [2, 3, 1, 5])], { mode: 'edge' }),
  'Pad wrap with axes': (b, f) => b.Pad([f('x', 'float32', [2, 3, 4]), i64(b, [1, 3, 2, 2]), b.constant(0), i64(b, [0, 2])], { mode: 'wrap' }),
  'DepthToSpace DCR and CRD': (b, f) => {
    const x = f('x', 'float32', [2, 8, 3, 2]);
    return [b.DepthToSpace(x, { blocksize: 2 }), b.DepthToSpace(x, { blocksize: 2, mode: 'CRD' })];
  },
  'SpaceToDepth': (b, f) => b.SpaceToDepth(f('x', 'float32', [2, 3, 4, 6]), { blocksize: 2 }),
  'Trilu upper k=1, lower k=-1': (b, f) => {
    const x = f('x', 'float32', [2, 4, 5]);
    return [b.Trilu(x), b.Trilu([x, b.constant(1, { dtype: 'int64' })]), b.Trilu([x, b.constant(-1, { dtype: 'int64' })], { upper: 0 })];
  },
  'ReverseSequence time-major and batch-major': (b, f) => {
    const x = f('x', 'float32', [4, 3, 2]);
    const y = f('y', 'float32', [3, 4, 2]);
    return [
      b.ReverseSequence([x, i64(b, [4, 1, 3])], { time_axis: 0, batch_axis: 1 }),
      b.ReverseSequence([y, i64(b, [2, 4, 0])], { time_axis: 1, batch_axis: 0 }),
    ];
  },
  'Gather int64 ids (embedding lookup, negative ids)': (b, f) => b.Gather([f('emb', 'float32', [11, 5]), f('ids', 'int64', [2, 7], -11, 10)]),
  'Gather axis 1, int32 indices': (b, f) => b.Gather([f('x', 'float32', [3, 6, 2]), f('i', 'int32', [4], -6, 5)], { axis: 1 }),
  'Gather scalar index': (b, f) => b.Gather([f('x', 'int64', [6, 2], -99, 99), i64(b, [3], [])]),
  'GatherElements axis 1': (b, f) => b.GatherElements([f('x', 'float32', [3, 5]), f('i', 'int64', [3, 4], -5, 4)], { axis: 1 }),
  'GatherND batch_dims 0 and 1': (b, f) => {
    const x = f('x', 'float32', [3, 4, 2]);
    return [b.GatherND([x, f('i', 'int64', [5, 2], 0, 2)]), b.GatherND([x, f('j', 'int64', [3, 2, 1], -4, 3)], { batch_dims: 1 })];
  },
  'ScatterElements none / add with duplicate indices': (b, f) => {
    const x = f('x', 'float32', [4, 5]);
    const i = f('i', 'int64', [4, 3], -5, 4);
    const u = f('u', 'float32', [4, 3]);
    return [b.ScatterElements([x, i, u], { axis: 1 }), b.ScatterElements([x, i, u], { axis: 1, reduction: 'add' })];
  },
  'ScatterND none / mul (duplicate rows)': (b, f) => {
    const x = f('x', 'float32', [4, 3, 2]);
    const i = f('i', 'int64', [5, 1], 0, 3);
    const u = f('u', 'float32', [5, 3, 2]);
    return [b.ScatterND([x, i, u]), b.ScatterND([x, i, u], { reduction: 'mul' })];
  },
  'OneHot axis -1 and 0 (negative indices)': (b, f) => {
    const i = f('i', 'int64', [2, 3], -4, 4);
    const vals = b.constant([-1, 5]);
    return [b.OneHot([i, b.constant(4, { dtype: 'int64' }), vals]), b.OneHot([i, b.constant(4, { dtype: 'int64' }), vals], { axis: 0 })];
  },
  'Compress (constant condition), axis and flat': (b, f) => {
    const x = f('x', 'float32', [3, 4]);
    const c = b.constant([1, 0, 1, 1], { dtype: 'bool' });
    return [b.Compress([x, c], { axis: 1 }), b.Compress([x, c])];
  },
  'size-0 edges: Transpose [0,3], Gather of no ids, empty Slice': (b, f) => {
    const x = f('x', 'float32', [4, 3]);
    return [
      b.Transpose(f('z', 'float32', [0, 3])),
      b.Gather([x, f('ids', 'int64', [0])]),
      b.Slice([x, i64(b, [2]), i64(b, [2]), i64(b, [0])]),
    ];
  },
  'float16 Transpose, Gather and Pad': (b, f) => {
    const x = f('x', 'float16', [3, 5]);
    return [b.Transpose(x), b.Gather([x, f('ids', 'int64', [4], -3, 2)]), b.Pad([x, i64(b, [1, 0, 0, 2]), b.constant(0.5, { dtype: 'float16' })])];
  },
};

describe('webgpu shape/movement/gather kernels vs CPU reference', function () {
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });

  Object.entries(CASES).forEach(([title, build], k) => {
    it(title, async function () {
      const { graph, feeds } = buildCase(title, build, 1000 + 17 * k);
      await compareWithCpu(device, graph, feeds, 1e-6);
    });
  });

  it('pure reshapes do not dispatch; Shape→Gather→Concat→Reshape folds at compile time', async function () {
    const b = new GraphBuilder('fold');
    const x = b.input('x', 'float32', ['n', 6]);
    const s = b.Shape(x);
    const n = b.Gather([s, b.constant(0, { dtype: 'int64' })]);
    const target = b.Concat([b.Unsqueeze([n, b.constant([0], { dtype: 'int64' })]), b.constant([2, 3], { dtype: 'int64' })], { axis: 0 });
    b.output(b.Relu(b.Reshape([x, target])), 'y');
    const g = b.build();
    const feeds = { x: randomTensor('float32', [4, 6], 5) };
    await compareWithCpu(device, g, feeds);
    const prog = await compileWebGpu(g, { device });
    await prog.run(feeds);
    expect(prog.dispatchCount).to.equal(1);
    expect(prog.plan!.dispatches[0]!.op).to.equal('Relu');
    prog.release();
  });

  it('NonZero (a data-dependent shape) runs on the host between GPU steps, equal to the CPU', async function () {
    const b = new GraphBuilder('nz');
    const x = b.input('x', 'float32', [6]);
    b.output(b.NonZero(b.Relu(x)), 'y');
    const g = b.build();
    const feeds = { x: Tensor.from('float32', [6], [1, -2, 0, 3, -1, 5]) };
    const prog = await compileWebGpu(g, { device });
    const got = ((await prog.run(feeds)) as Record<string, Tensor>).y!;
    prog.release();
    expect(got.shape).to.deep.equal([1, 3]);
    expect([...got.data].map(Number)).to.deep.equal([0, 3, 5]);
  });
});
