/// <reference types="@webgpu/types" />
/**
 * Seeded random 2-D convolutions with constant weights (the implicit-GEMM path) on
 * WebGPU against the CPU reference: batch, channels, sizes, kernel, strides,
 * dilations, asymmetric pads and bias drawn at random, optionally followed by a
 * fused Relu + residual epilogue after the O2 passes. Each case also checks that the
 * conv really ran as one implicit-GEMM dispatch.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, type Tensor } from '../src/graph/index.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectClose, randomTensor, rng } from './helpers/gpu-compare.js';

const CASES = 24;

describe('webgpu Conv implicit GEMM on seeded random shapes vs CPU reference', function () {
  this.timeout(120_000);
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });

  it('a realized program keeps no host copy of the transposed weights (they live on the GPU only)', async function () {
    const b = new GraphBuilder('conv');
    b.output(b.Conv([b.input('x', 'float32', [1, 4, 6, 6]), b.constant(randomTensor('float32', [8, 4, 3, 3], 1), { name: 'w' })], { pads: [1, 1, 1, 1] }), 'y');
    const prog = await compileWebGpu(b.build(), { device });
    try {
      expect(prog.plan!.dispatches.map((d) => d.label)).to.deep.equal(['Conv.gemm3w1s8x8v2']);
      expect(prog.plan!.constants.filter((c) => c.prepared)).to.deep.equal([]);
      expect(prog.plan!.constants.map((c) => c.name)).to.not.include('w');
    } finally {
      prog.release();
    }
  });

  for (let k = 0; k < CASES; k++) {
    const r = rng(9100 + k);
    const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
    const [nb, C, M] = [int(1, 2), int(1, 12), int(1, 20)];
    const [kh, kw] = [int(1, 5), int(1, 5)];
    const [sh, sw, dh, dw] = [int(1, 3), int(1, 3), int(1, 2), int(1, 2)];
    const pads = [int(0, 3), int(0, 3), int(0, 3), int(0, 3)];
    const H = Math.max(int(1, 17), (kh - 1) * dh + 1 - pads[0]! - pads[2]!);
    const W = Math.max(int(1, 23), (kw - 1) * dw + 1 - pads[1]! - pads[3]!);
    const bias = r() < 0.5;
    const epilogue = r() < 0.4;
    const desc = `x [${nb},${C},${H},${W}], w [${M},${C},${kh},${kw}], strides ${sh},${sw}, dilations ${dh},${dw}, pads ${pads.join(',')}${bias ? ', bias' : ''}${epilogue ? ', + residual + Relu' : ''}`;
    it(`case ${k}: ${desc}`, async function () {
      const b = new GraphBuilder(`conv${k}`);
      const x = b.input('x', 'float32', [nb, C, H, W]);
      const ins = [x, b.constant(randomTensor('float32', [M, C, kh, kw], 2 * k + 1, -1, 1))];
      if (bias) ins.push(b.constant(randomTensor('float32', [M], 2 * k + 2, -1, 1)));
      let y = b.Conv(ins, { strides: [sh, sw], dilations: [dh, dw], pads });
      const feeds: Record<string, Tensor> = { x: randomTensor('float32', [nb, C, H, W], 7 * k + 3) };
      if (epilogue) {
        const OH = Math.floor((H + pads[0]! + pads[2]! - (kh - 1) * dh - 1) / sh) + 1;
        const OW = Math.floor((W + pads[1]! + pads[3]! - (kw - 1) * dw - 1) / sw) + 1;
        y = b.Relu(b.Add([y, b.input('res', 'float32', [nb, M, OH, OW])]));
        feeds['res'] = randomTensor('float32', [nb, M, OH, OW], 7 * k + 4);
      }
      b.output(y, 'y');
      const g = b.build();
      const want = compileCpu(g).run(feeds);
      const prog = await compileWebGpu(optimize(g).graph, { device });
      try {
        expect(prog.plan!.dispatches.map((d) => d.label)).to.satisfy((ls: string[]) => ls.length === 1 && ls[0]!.startsWith('Conv.gemm'), 'one implicit-GEMM dispatch');
        const got = (await prog.run(feeds)) as Record<string, Tensor>;
        expectClose(got['y']!, want['y']!, 1e-4, desc);
      } finally {
        prog.release();
      }
    });
  }
});
