/// <reference types="@webgpu/types" />
/**
 * Fused 'attention' nodes (recognized by the default passes) on WebGPU: equal to the
 * unfused graph on the CPU reference.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder, type Tensor } from '../src/graph/index.js';
import { optimize } from '../src/passes/pipelines.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectClose, randomTensor } from './helpers/gpu-compare.js';

describe('webgpu Fused attention kernel vs unfused CPU reference', function () {
  this.timeout(60000);
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });

  for (const masked of [false, true]) {
    it(`scaled dot-product attention [2,3,7,8]${masked ? ' with additive mask (-inf entries)' : ''}`, async function () {
      const b = new GraphBuilder('attn');
      const q = b.input('q', 'float32', [2, 3, 7, 8]);
      const k = b.input('k', 'float32', [2, 3, 7, 8]);
      const v = b.input('v', 'float32', [2, 3, 7, 5]);
      let s = b.Mul([b.MatMul([q, b.Transpose(k, { perm: [0, 1, 3, 2] })]), b.constant(1 / Math.sqrt(8))]);
      const feeds: Record<string, Tensor> = { q: randomTensor('float32', [2, 3, 7, 8], 1), k: randomTensor('float32', [2, 3, 7, 8], 2), v: randomTensor('float32', [2, 3, 7, 5], 3) };
      if (masked) {
        const causal = Array.from({ length: 49 }, (_, i) => (i % 7 > Math.floor(i / 7) ? -Infinity : 0));
        s = b.Add([s, b.input('mask', 'float32', [1, 1, 7, 7])]);
        feeds['mask'] = randomTensor('float32', [1, 1, 7, 7], 4);
        causal.forEach((c, i) => (feeds['mask']!.data[i] = c));
      }
      b.output(b.MatMul([b.Softmax(s, { axis: -1 }), v]), 'y');
      const g = b.build();
      const { graph } = optimize(g);
      expect(graph.topo.map((n) => `${n.op}:${String(n.attrs['kind'] ?? '')}`)).to.include('Fused:attention');
      const want = compileCpu(g).run(feeds);
      const prog = await compileWebGpu(graph, { device });
      const got = (await prog.run(feeds)) as Record<string, Tensor>;
      expectClose(got['y']!, want['y']!, 1e-4, 'attention');
      prog.release();
    });
  }

  // Multi-head layout as exported models have it: heads split out of [B, S, H·D]
  // by Reshape + Transpose, merged back by Transpose + Reshape. The Transposes join
  // the attention group (strided views), leaving 3 dispatches for the whole block.
  for (const [D, S, fusedQkv] of [[8, 6, false], [6, 5, false], [8, 6, true], [6, 5, true]] as const) {
    it(`multi-head attention with Q/K/V and output transposes folded in (head dim ${D}, ${S} tokens${D % 4 ? ', scalar matmul form' : ''}${fusedQkv ? ', Q/K/V split from one projection' : ''})`, async function () {
      const [B, H] = [2, 3];
      const b = new GraphBuilder('mha');
      const qkv = fusedQkv ? b.Split([b.input('qkv', 'float32', [B, S, 3 * H * D]), b.constant([H * D, H * D, H * D], { dtype: 'int64' })], { axis: 2 }) : undefined;
      const heads = (name: string, perm: number[]) =>
        b.Transpose(b.Reshape([qkv ? qkv[['q', 'k', 'v'].indexOf(name)]! : b.input(name, 'float32', [B, S, H * D]), b.constant([B, S, H, D], { dtype: 'int64' })]), { perm });
      const s = b.Mul([b.MatMul([heads('q', [0, 2, 1, 3]), heads('k', [0, 2, 3, 1])]), b.constant(1 / Math.sqrt(D))]);
      const o = b.MatMul([b.Softmax(s, { axis: -1 }), heads('v', [0, 2, 1, 3])]);
      b.output(b.Reshape([b.Transpose(o, { perm: [0, 2, 1, 3] }), b.constant([B, S, H * D], { dtype: 'int64' })]), 'y');
      const g = b.build();
      const { graph } = optimize(g);
      expect(graph.topo.filter((n) => n.op === 'Transpose' || n.op === 'Split'), 'Transposes or Split left outside the group').to.have.length(0);
      const feeds: Record<string, Tensor> = fusedQkv
        ? { qkv: randomTensor('float32', [B, S, 3 * H * D], 10) }
        : Object.fromEntries(['q', 'k', 'v'].map((n, i) => [n, randomTensor('float32', [B, S, H * D], 10 + i)]));
      const want = compileCpu(g).run(feeds);
      const prog = await compileWebGpu(graph, { device });
      expect(prog.plan!.dispatches.map((d) => d.label.replace(/\..*$/, ''))).to.deep.equal(['Fused', 'Softmax', 'Fused']);
      const got = (await prog.run(feeds)) as Record<string, Tensor>;
      expectClose(got['y']!, want['y']!, 1e-4, 'multi-head attention');
      prog.release();
    });
  }
});
