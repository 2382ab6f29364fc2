/// <reference types="@webgpu/types" />
/**
 * Fused 'epilogue' nodes (fuse-epilogue pass) on WebGPU: one compute dispatch per group,
 * result equal to the unfused graph on the CPU reference.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import type { Tensor } from '../src/graph/index.js';
import { fuseEpilogues } from '../src/passes/fuse-epilogue.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectClose } from './helpers/gpu-compare.js';
import { buildCase, type Build } from './webgpu-kernel-cases.js';

const CASES: Record<string, Build> = {
  'Conv + bias Add + Relu + residual Add': (b, f) => {
    const x = f('x', 'float32', [1, 4, 6, 6]);
    const c = b.Conv([x, f('w', 'float32', [4, 4, 3, 3])], { pads: [1, 1, 1, 1] });
    const y = b.Relu(b.Add([c, f('bias', 'float32', [1, 4, 1, 1])]));
    return b.Add([y, f('r', 'float32', [1, 4, 6, 6])]);
  },
  'depthwise Conv(bias) + Clip (ReLU6)': (b, f) =>
    b.Clip([b.Conv([f('x', 'float32', [1, 3, 5, 5]), f('w', 'float32', [3, 1, 3, 3]), f('b', 'float32', [3])], { group: 3, pads: [1, 1, 1, 1] }), b.constant(0), b.constant(6)]),
  'ConvTranspose(bias, stride 2, group 2) + Relu + residual Add': (b, f) => {
    const ct = b.ConvTranspose([f('x', 'float32', [1, 4, 3, 3]), f('w', 'float32', [4, 3, 3, 3]), f('b', 'float32', [6])], { strides: [2, 2], pads: [1, 1, 1, 1], group: 2 });
    return b.Add([b.Relu(ct), f('r', 'float32', [1, 6, 5, 5])]);
  },
  'ConvTranspose(bias, stride 2, group 1: GEMM + col2im) + Relu + residual Add': (b, f) => {
    const ct = b.ConvTranspose([f('x', 'float32', [2, 5, 3, 4]), f('w', 'float32', [5, 3, 3, 3]), f('b', 'float32', [3])], { strides: [2, 2], pads: [1, 1, 1, 1] });
    return b.Add([b.Relu(ct), f('r', 'float32', [2, 3, 5, 7])]);
  },
  'ConvTranspose 1-D + Sigmoid': (b, f) => b.Sigmoid(b.ConvTranspose([f('x', 'float32', [2, 3, 4]), f('w', 'float32', [3, 2, 2])], { strides: [2] })),
  'MatMulInteger(zero points) + Cast + Mul (dynamic quantization)': (b, f) => {
    const q = b.MatMulInteger([f('a', 'uint8', [5, 12], 0, 255), f('w', 'uint8', [12, 7], 0, 255), f('za', 'uint8', [], 100, 140), f('zw', 'uint8', [7], 120, 136)]);
    return b.Mul([b.Cast(q, { to: 1 }), f('s', 'float32', [])]);
  },
  'ConvInteger + Cast + Mul + Relu': (b, f) => {
    const q = b.ConvInteger([f('x', 'uint8', [1, 3, 5, 5], 0, 255), f('w', 'uint8', [4, 3, 3, 3], 0, 255), f('zx', 'uint8', [], 120, 136)], { pads: [1, 1, 1, 1] });
    return b.Relu(b.Mul([b.Cast(q, { to: 1 }), f('s', 'float32', [])]));
  },
  'pointwise Conv + Sigmoid': (b, f) => b.Sigmoid(b.Conv([f('x', 'float32', [2, 8, 2, 2]), f('w', 'float32', [5, 8, 1, 1])])),
  'MatMul + bias + Relu': (b, f) => b.Relu(b.Add([b.MatMul([f('a', 'float32', [3, 9, 16]), f('w', 'float32', [16, 12])]), f('bias', 'float32', [12])])),
  'Gemm transB + Tanh': (b, f) => b.Tanh(b.Gemm([f('a', 'float32', [5, 8]), f('w', 'float32', [6, 8]), f('c', 'float32', [6])], { transB: 1 })),
  'MatMul + Mul by scalar constant + Add same input twice': (b, f) => {
    const r = f('r', 'float32', [4, 7]);
    return b.Add([b.Mul([b.MatMul([f('a', 'float32', [4, 3]), f('w', 'float32', [3, 7])]), b.constant(0.5)]), r]);
  },
};

describe('webgpu Fused epilogue kernels vs unfused CPU reference', function () {
  this.timeout(60000);
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });
  Object.entries(CASES).forEach(([name, build], k) => {
    it(name, async function () {
      const { graph: g, feeds } = buildCase(name, build, 9100 + 31 * k);
      const fused = fuseEpilogues(g);
      const kinds = fused.topo.map((n) => `${n.op}:${String(n.attrs['kind'] ?? '')}`);
      expect(kinds, 'the pass fused the group').to.include('Fused:epilogue');
      const want = compileCpu(g).run(feeds);
      const prog = await compileWebGpu(fused, { device });
      const got = (await prog.run(feeds)) as Record<string, Tensor>;
      expectClose(got['y0']!, want['y0']!, 1e-4, name);
      // One dispatch computes the whole group (Conv may add its im2col gather before it,
      // ConvTranspose its GEMM into the col buffer).
      expect(prog.plan!.dispatches.filter((d) => d.op === 'Fused' && !d.label.endsWith('.im2col') && !d.label.startsWith('ConvTranspose.gemm')).length).to.equal(1);
      prog.release();
    });
  });
});
