/**
 * The WebGPU planner and WGSL helpers without a device: grid splitting, literals,
 * constant folding of shape work, buffer reuse by liveness, aliasing, limits and
 * storage conversion. These run everywhere (no adapter needed).
 */
import { expect } from 'chai';
import { registerAllKernels } from '../src/backends/webgpu/kernels/index.js';
import { DEFAULT_KERNEL_LIMITS, type KernelLimits } from '../src/backends/webgpu/kernel.js';
import { planGraph } from '../src/backends/webgpu/plan.js';
import { fromStorage, toStorage } from '../src/backends/webgpu/storage.js';
import { coalesceAxes, literal, splitGroups } from '../src/backends/webgpu/wgsl.js';
import type { Graph } from '../src/graph/graph.js';
import { GraphBuilder, LimitError, Tensor } from '../src/graph/index.js';

const LIMITS: KernelLimits = DEFAULT_KERNEL_LIMITS;

function plan(g: Graph, shapes: Record<string, number[]> = {}) {
  registerAllKernels();
  const types = new Map(g.inputs.map((i) => [i.name, { dtype: i.dtype, shape: shapes[i.name] ?? (i.shape as number[]) }]));
  return planGraph(g, types, { limits: LIMITS, f16: false, subgroups: false, maxBufferSize: 2 ** 32 });
}

describe('webgpu planner and WGSL helpers (no device)', function () {
  it('splits workgroup counts into 1-, 2- and 3-D grids within the per-dimension limit', function () {
    const lim = { maxComputeWorkgroupsPerDimension: 65535 };
    expect(splitGroups(1000, lim)).to.deep.equal([1000, 1, 1]);
    for (const n of [65536, 65535 * 3 + 1, 65535 * 65535 + 7]) {
      const [x, y, z] = splitGroups(n, lim);
      expect(Math.max(x, y, z)).to.be.at.most(65535);
      expect(x * y * z).to.be.at.least(n);
    }
    expect(splitGroups(65535 * 65535 + 7, lim)[2]).to.be.greaterThan(1);
  });

  it('coalesces axes walked contiguously by every input ([2,3,4] + [4] → [6,4])', function () {
    expect(coalesceAxes([2, 3, 4], [[0, 0, 1]])).to.deep.equal({ shape: [6, 4], strides: [[0, 1]] });
    expect(coalesceAxes([2, 3, 4], [[12, 4, 1], [0, 1, 0]])).to.deep.equal({ shape: [2, 3, 4], strides: [[12, 4, 1], [0, 1, 0]] });
    expect(coalesceAxes([5, 1, 7], [[7, 0, 1]])).to.deep.equal({ shape: [35], strides: [[1]] });
  });

  it('plans a Conv with constant weights as one implicit-GEMM dispatch over weights transposed at plan time', function () {
    const b = new GraphBuilder('conv');
    const w = Tensor.from('float32', [6, 2, 3, 3], Array.from({ length: 108 }, (_, i) => i));
    b.output(b.Conv([b.input('x', 'float32', [1, 2, 9, 9]), b.constant(w, { name: 'w' })], { pads: [1, 1, 1, 1] }), 'y');
    const p = plan(b.build());
    expect(p.dispatches.map((d) => d.label)).to.deep.equal(['Conv.gemm3w1s8x8']);
    // The original weights are not uploaded: only the transposed copy, [K = 18][M padded to 8].
    expect(p.constants.map((c) => c.name)).to.deep.equal([`${p.dispatches[0]!.node}:prepared0`]);
    const t = p.constants[0]!.tensor;
    expect(t.shape).to.deep.equal([18, 8]);
    expect(t.data[1 * 8 + 2]).to.equal(w.data[2 * 18 + 1]);
    expect(t.data[17 * 8 + 7]).to.equal(0);
  });

  it('keeps im2col + GEMM (two dispatches) for a Conv whose weights are a graph input', function () {
    const b = new GraphBuilder('conv');
    b.output(b.Conv([b.input('x', 'float32', [1, 2, 9, 9]), b.input('w', 'float32', [6, 2, 3, 3])], { pads: [1, 1, 1, 1] }), 'y');
    expect(plan(b.build()).dispatches.map((d) => d.label)).to.deep.equal(['Conv.im2col', 'Conv.im2col-gemm.nn6x4']);
  });

  it('lets the producers of a Concat (nothing outside its axis, 256-byte aligned blocks) write into its output: no Concat dispatch', function () {
    const b = new GraphBuilder('cat');
    const y = b.Concat([b.Relu(b.input('x1', 'float32', [1, 64, 2])), b.Sigmoid(b.input('x2', 'float32', [1, 32, 2]))], { axis: 1 });
    b.output(b.Relu(y), 'y');
    const p = plan(b.build());
    expect(p.dispatches.map((d) => d.op)).to.deep.equal(['Relu', 'Sigmoid', 'Relu']);
    const [r, sg] = p.dispatches;
    // Both write the same buffer: bytes [0, 512) and [512, 768).
    expect(r!.slots[1]).to.equal(sg!.slots[1]);
    expect(r!.views).to.deep.equal([undefined, { offset: 0, size: 512 }]);
    expect(sg!.views).to.deep.equal([undefined, { offset: 512, size: 256 }]);
    expect(p.dispatches[2]!.slots[0]).to.equal(r!.slots[1]);
    expect(p.dispatches[2]!.views).to.equal(undefined);
  });

  it('keeps the Concat dispatch when a block is misaligned, the batch is > 1 or an input has another reader', function () {
    const cat = (shape1: number[], shape2: number[], extraReader: boolean) => {
      const b = new GraphBuilder('cat');
      const a = b.Relu(b.input('x1', 'float32', shape1));
      b.output(b.Concat([a, b.Sigmoid(b.input('x2', 'float32', shape2))], { axis: 1 }), 'y');
      if (extraReader) b.output(b.Neg(a), 'z');
      return plan(b.build()).dispatches.map((d) => d.op);
    };
    expect(cat([1, 25, 1], [1, 7, 1], false)).to.include('Concat');
    expect(cat([2, 64, 1], [2, 64, 1], false)).to.include('Concat');
    expect(cat([1, 64, 1], [1, 64, 1], true)).to.include('Concat');
    expect(cat([1, 64, 1], [1, 64, 1], false)).to.not.include('Concat');
  });

  it('renders literals of every WGSL type, including NaN, infinities and INT32_MIN', function () {
    expect(literal(1.5, 'f32')).to.equal('f32(1.5)');
    expect(literal(3, 'f32')).to.equal('f32(3.0)');
    // Non-finite values read private bit variables declared by exprPrelude (a constant
    // bitcast of inf/NaN is rejected at shader creation).
    expect(literal(NaN, 'f32')).to.equal('f32(bitcast<f32>(kiln_nan_bits))');
    expect(literal(-Infinity, 'f32')).to.equal('f32(bitcast<f32>(kiln_neg_inf_bits))');
    expect(literal(-2147483648, 'i32')).to.equal('i32(-2147483647 - 1)');
    expect(literal(7, 'u32')).to.equal('7u');
  });

  it('folds Shape arithmetic at compile time and aliases reshapes', function () {
    const b = new GraphBuilder('fold');
    const x = b.input('x', 'float32', ['n', 6]);
    const dims = b.Shape(x);
    const size = b.Mul([b.Gather([dims, b.constant(0, { dtype: 'int64' })]), b.Gather([dims, b.constant(1, { dtype: 'int64' })])]);
    const rows = b.Div([size, b.constant(3, { dtype: 'int64' })]);
    const target = b.Concat([b.Unsqueeze([rows, b.constant([0], { dtype: 'int64' })]), b.constant([3], { dtype: 'int64' })], { axis: 0 });
    b.output(b.Reshape([x, target]), 'y');
    b.output(b.Size(x), 'count');
    const p = plan(b.build(), { x: [4, 6] });
    expect(p.dispatches).to.have.length(0);
    expect(p.outputs[1]!.constant!.toArray()).to.deep.equal([24]);
    expect(p.outputs[0]!.shape).to.deep.equal([8, 3]);
    expect(p.outputs[0]!.slot).to.equal(p.inputs[0]!.slot);
  });

  it('reuses intermediate slots after their last reader and never binds a slot twice in one dispatch', function () {
    const b = new GraphBuilder('reuse');
    const x = b.input('x', 'float32', [64]);
    let y = x;
    for (let i = 0; i < 10; i++) y = b.Add([b.Relu(y), x]);
    b.output(y, 'y');
    const p = plan(b.build());
    expect(p.dispatches).to.have.length(20);
    expect(p.slotBytes.length).to.be.at.most(4);
    for (const d of p.dispatches) expect(new Set(d.slots).size).to.equal(d.slots.length);
  });

  it('rejects a tensor over maxStorageBufferBindingSize with a LimitError naming the value', function () {
    const b = new GraphBuilder('big');
    const x = b.input('x', 'float32', [1 << 20]);
    b.output(b.Tile([x, b.constant([64], { dtype: 'int64' })]), 'tiled');
    expect(() => plan(b.build())).to.throw(LimitError, /Tile: Tile binds tensor 'Tile_0' of 268435456 bytes, more than this device's maxStorageBufferBindingSize/);
  });

  it('converts int64 to i32 storage with a range check, bool to u32, and back', function () {
    const ids = Tensor.from('int64', [3], [-5, 0, 2 ** 31 - 1]);
    expect(fromStorage(toStorage(ids, false, 'ids'), 'int64', [3], false).toArray()).to.deep.equal([-5, 0, 2 ** 31 - 1]);
    expect(() => toStorage(Tensor.from('int64', [1], [2 ** 31]), false, 'ids')).to.throw(LimitError, /ids/);
    const flags = Tensor.from('bool', [3], [1, 0, 1]);
    expect([...new Uint32Array(toStorage(flags, false, 'f'))].slice(0, 3)).to.deep.equal([1, 0, 1]);
    const half = Tensor.from('float16', [2], [1.5, -0.25]);
    expect(fromStorage(toStorage(half, true, 'h'), 'float16', [2], true).toArray()).to.deep.equal([1.5, -0.25]);
  });
});
