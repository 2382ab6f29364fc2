/// <reference types="@webgpu/types" />
/**
 * WebGPU elementwise ops (the one generic expression kernel) against the CPU
 * reference on random inputs: unary math and activations, binary ops with
 * broadcasting, variadic ops, Where/Clip/Cast, int/bool/uint dtypes, edge shapes
 * (size 0, size 1, rank 0, odd sizes) and a dispatch of > 65 535 workgroups.
 */
import { expect } from 'chai';
import type { DType } from '../src/graph/dtype.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';
import type { AttrValue } from '../src/graph/attrs.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { compareWithCpu, randomTensor } from './helpers/gpu-compare.js';

interface Case {
  op: string;
  inputs: { dtype: DType; shape: number[]; lo?: number; hi?: number }[];
  attrs?: Record<string, AttrValue>;
  tol?: number;
  title?: string;
}

const F = (shape: number[], lo = -3, hi = 3) => ({ dtype: 'float32' as DType, shape, lo, hi });
const I = (shape: number[], lo = -20, hi = 20, dtype: DType = 'int32') => ({ dtype, shape, lo, hi });
const B = (shape: number[]) => ({ dtype: 'bool' as DType, shape });

const UNARY_FLOAT = [
  'Relu', 'LeakyRelu', 'Elu', 'Selu', 'Celu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Softplus', 'Softsign', 'Tanh',
  'ThresholdedRelu', 'Mish', 'Gelu', 'Shrink', 'Abs', 'Neg', 'Sign', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Exp',
  'Sin', 'Cos', 'Tan', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Erf', 'IsNaN', 'IsInf',
];

const CASES: Case[] = [
  ...UNARY_FLOAT.map((op) => ({ op, inputs: [F([3, 7])], tol: 2e-4 })),
  { op: 'Gelu', inputs: [F([5, 3])], attrs: { approximate: 'tanh' }, tol: 2e-4, title: 'Gelu tanh' },
  { op: 'Sqrt', inputs: [F([4, 5], 0, 9)], tol: 1e-5 },
  { op: 'Log', inputs: [F([4, 5], 0.01, 9)], tol: 1e-5 },
  { op: 'Asin', inputs: [F([4, 5], -0.95, 0.95)], tol: 1e-4 },
  { op: 'Acos', inputs: [F([4, 5], -0.95, 0.95)], tol: 1e-4 },
  { op: 'Atanh', inputs: [F([4, 5], -0.9, 0.9)], tol: 1e-4 },
  { op: 'Acosh', inputs: [F([4, 5], 1, 5)], tol: 1e-4 },
  { op: 'Abs', inputs: [I([9])], title: 'Abs int32' },
  { op: 'Neg', inputs: [I([9])], title: 'Neg int32' },
  { op: 'Sign', inputs: [I([9])], title: 'Sign int32' },
  { op: 'Not', inputs: [B([2, 5])] },
  { op: 'BitwiseNot', inputs: [I([7], -100, 100)] },
  { op: 'BitwiseNot', inputs: [I([7], 0, 255, 'uint8')], title: 'BitwiseNot uint8' },
  ...['Add', 'Sub', 'Mul', 'Div', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual'].map((op) => ({
    op, inputs: [F([2, 3, 4]), F([3, 1])], tol: 1e-6, title: `${op} broadcast [2,3,4]×[3,1]`,
  })),
  { op: 'Pow', inputs: [F([3, 4], 0.1, 3), F([4], -2, 2)], tol: 1e-4 },
  { op: 'Mod', inputs: [F([3, 4], -9, 9), F([3, 4], 0.5, 3)], attrs: { fmod: 1 }, tol: 1e-5, title: 'Mod fmod=1' },
  ...['Add', 'Sub', 'Mul', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'Equal', 'Greater'].map((op) => ({
    op, inputs: [I([4, 5]), I([5])], title: `${op} int32 broadcast`,
  })),
  { op: 'Div', inputs: [I([4, 5], -50, 50), I([5], 1, 7)], title: 'Div int32' },
  { op: 'Mod', inputs: [I([4, 5], -50, 50), I([5], 1, 7)], title: 'Mod int32 (sign of divisor)' },
  { op: 'Add', inputs: [I([6], -1000, 1000, 'int64'), I([6], -1000, 1000, 'int64')], title: 'Add int64 (narrowed)' },
  { op: 'Add', inputs: [I([6], 0, 255, 'uint8'), I([6], 0, 255, 'uint8')], title: 'Add uint8 (wraps)' },
  { op: 'BitShift', inputs: [I([6], 0, 1000, 'uint32'), I([6], 0, 7, 'uint32')], attrs: { direction: 'LEFT' }, title: 'BitShift left' },
  { op: 'BitShift', inputs: [I([6], 0, 1000, 'uint32'), I([6], 0, 7, 'uint32')], attrs: { direction: 'RIGHT' }, title: 'BitShift right' },
  ...['And', 'Or', 'Xor'].map((op) => ({ op, inputs: [B([3, 4]), B([4])] })),
  ...['Sum', 'Mean', 'Max', 'Min'].map((op) => ({ op, inputs: [F([2, 3]), F([3]), F([2, 1])], tol: 1e-6, title: `${op} of three (broadcast)` })),
  { op: 'Where', inputs: [B([2, 1, 4]), F([3, 4]), F([2, 3, 1])], title: 'Where broadcast' },
  { op: 'Where', inputs: [B([5]), I([5]), I([1])], title: 'Where int32' },
  { op: 'Clip', inputs: [F([3, 5], -3, 3), F([], -1, -1), F([], 1, 1)], title: 'Clip min/max inputs' },
  { op: 'Clip', inputs: [F([3, 5])], attrs: { min: -0.5, max: 0.5 }, title: 'Clip attributes (opset 6)' },
  { op: 'PRelu', inputs: [F([2, 3, 4]), F([3, 1])] },
  { op: 'Cast', inputs: [F([9], -100, 100)], attrs: { to: 6 }, title: 'Cast float32→int32' },
  { op: 'Cast', inputs: [I([9], -100, 100)], attrs: { to: 1 }, title: 'Cast int32→float32' },
  { op: 'Cast', inputs: [F([9], -1, 1)], attrs: { to: 9 }, title: 'Cast float32→bool' },
  { op: 'Cast', inputs: [B([9])], attrs: { to: 1 }, title: 'Cast bool→float32' },
  { op: 'Cast', inputs: [I([9], -5000, 5000, 'int64')], attrs: { to: 1 }, title: 'Cast int64→float32' },
  { op: 'Cast', inputs: [I([9], -5000, 5000, 'int32')], attrs: { to: 7 }, title: 'Cast int32→int64' },
  { op: 'CastLike', inputs: [F([4], -9, 9), I([1])], title: 'CastLike →int32' },
  // Edge shapes.
  { op: 'Add', inputs: [F([0, 3]), F([3])], title: 'Add size 0' },
  { op: 'Add', inputs: [F([1, 1]), F([1])], title: 'Add size 1' },
  { op: 'Mul', inputs: [F([]), F([])], title: 'Mul rank 0' },
  { op: 'Sub', inputs: [F([7, 13, 3]), F([13, 1])], title: 'Sub odd sizes' },
];

describe('webgpu elementwise kernel vs CPU reference', function () {
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });

  CASES.forEach((c, k) => {
    it(c.title ?? c.op, async function () {
      const b = new GraphBuilder(c.title ?? c.op);
      const syms = c.inputs.map((t, j) => b.input(`x${j}`, t.dtype, t.shape));
      const [y] = b.apply(c.op, syms, c.attrs ?? {});
      b.output(y!, 'y');
      const feeds = Object.fromEntries(c.inputs.map((t, j) => [`x${j}`, randomTensor(t.dtype, t.shape, 100 * k + j, t.lo, t.hi)]));
      if (c.op === 'IsNaN' || c.op === 'IsInf') {
        const d = feeds.x0!.data;
        d[0] = NaN; d[1] = Infinity; d[2] = -Infinity;
      }
      await compareWithCpu(device, b.build(), feeds, c.tol ?? 0);
    });
  });

  it('binds one buffer to two inputs (x * x) and reads an output that is also consumed', async function () {
    const b = new GraphBuilder('square');
    const x = b.input('x', 'float32', [9]);
    const sq = b.Mul([x, x]);
    b.output(sq, 'sq');
    b.output(b.Add([sq, x]), 'y');
    await compareWithCpu(device, b.build(), { x: randomTensor('float32', [9], 3) }, 1e-6);
  });

  it('float16 storage: Add and Cast float32→float16', async function () {
    if (!device.features.has('shader-f16')) this.skip();
    const b = new GraphBuilder('f16');
    const x = b.input('x', 'float16', [3, 5]);
    const y = b.input('y', 'float32', [5]);
    const yh = b.Cast(y, { to: 10 });
    b.output(b.Add([x, yh]), 'z');
    const feeds = { x: randomTensor('float16', [3, 5], 7), y: randomTensor('float32', [5], 8) };
    await compareWithCpu(device, b.build(), feeds, 1e-3);
    const prog = await compileWebGpu(b.build(), { device });
    expect(prog.shaders.some((s) => s.startsWith('enable f16;'))).to.equal(true);
    prog.release();
  });

  it('splits a dispatch of more than 65 535 workgroups into a 2-D grid (one invocation per scatter fiber)', async function () {
    this.timeout(120000);
    const n = 65535 * 256 + 4099;
    const b = new GraphBuilder('big');
    const x = b.input('x', 'float32', [n, 1]);
    const idx = b.input('idx', 'int32', [n, 1]);
    const upd = b.input('upd', 'float32', [n, 1]);
    b.output(b.ScatterElements([x, idx, upd], { axis: 1, reduction: 'add' }), 'y');
    const data = new Float32Array(n);
    const updates = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = (i % 1009) - 500;
      updates[i] = i % 7;
    }
    const prog = await compileWebGpu(b.build(), { device });
    const scatter = prog.plan!.dispatches.find((d) => d.label === 'Scatter.fibers')!;
    expect(scatter.workgroups[0]).to.be.at.most(65535);
    expect(scatter.workgroups[1]).to.be.greaterThan(1);
    expect(scatter.workgroups[0] * scatter.workgroups[1] * scatter.workgroups[2] * 256).to.be.at.least(n);
    const out = (await prog.run({ x: new Tensor('float32', [n, 1], data), idx: new Tensor('int32', [n, 1], new Int32Array(n)), upd: new Tensor('float32', [n, 1], updates) })).y as Tensor;
    let bad = 0;
    for (let i = 0; i < n; i++) if (out.data[i] !== data[i]! + updates[i]!) bad++;
    expect(bad).to.equal(0);
    expect(out.data[n - 1]).to.equal(((n - 1) % 1009) - 500 + ((n - 1) % 7));
    prog.release();
  });
});
