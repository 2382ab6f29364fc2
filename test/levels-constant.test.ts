/// <reference types="@webgpu/types" />
/**
 * No op is level-dependent: graphs built with `Constant` nodes (larger than the
 * planner's value-propagation limit, so nothing folds them at -O0, a Constant
 * that is itself a graph output, small int64 shape constants) run at -O0, -O1 and
 * -O2 on the CPU and on WebGPU, and give the values computed by hand in the test.
 * A Constant on WebGPU is an uploaded constant buffer: the planner records no
 * dispatch for it. The WebGPU part skips without an adapter (fails with CI=true).
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { registerAllKernels } from '../src/backends/webgpu/kernels/index.js';
import { DEFAULT_KERNEL_LIMITS } from '../src/backends/webgpu/kernel.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { planGraph } from '../src/backends/webgpu/plan.js';
import { GraphBuilder, Tensor, type Graph } from '../src/graph/index.js';
import { VALUE_PROPAGATION_LIMIT } from '../src/graph/type-env.js';
import { optimize } from '../src/passes/pipelines.js';
import { expectClose } from './helpers/gpu-compare.js';
import { sharedDevice } from './helpers/gpu.js';

const LEVELS = [0, 1, 2] as const;
const TOL = 1e-5;

/** x[3,100] · W[100,64] + b[64], W and b in Constant nodes; y = relu(that) reshaped to [3,8,8] by an int64 Constant. */
function weightsInConstants(): { graph: Graph; feeds: Record<string, Tensor>; want: Record<string, Tensor> } {
  const [M, K, N] = [3, 100, 64];
  const wv = Array.from({ length: K * N }, (_, i) => ((i * 37) % 23) / 23 - 0.5);
  const bv = Array.from({ length: N }, (_, i) => (i % 5) * 0.25 - 0.5);
  const xv = Array.from({ length: M * K }, (_, i) => ((i * 13) % 17) / 17 - 0.4);
  const b = new GraphBuilder('weights_in_constants');
  const x = b.input('x', 'float32', [M, K]);
  const w = b.Constant([], { value: Tensor.from('float32', [K, N], wv) }, { name: 'W' });
  const bias = b.Constant([], { value: Tensor.from('float32', [N], bv) }, { name: 'B' });
  const shape = b.Constant([], { value: Tensor.from('int64', [3], [M, 8, 8]) }, { name: 'S' });
  b.output(b.Reshape([b.Relu(b.Add([b.MatMul([x, w]), bias])), shape]), 'y');
  // The whole weight as an output, and a value computed from Constants alone.
  b.output(w, 'w_out');
  b.output(b.Neg(w), 'neg_w');
  const y: number[] = [];
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bv[n]!;
      for (let k = 0; k < K; k++) s += xv[m * K + k]! * wv[k * N + n]!;
      y.push(Math.max(0, s));
    }
  }
  return {
    graph: b.build(),
    feeds: { x: Tensor.from('float32', [M, K], xv) },
    want: {
      y: Tensor.from('float32', [M, 8, 8], y),
      w_out: Tensor.from('float32', [K, N], wv),
      neg_w: Tensor.from('float32', [K, N], wv.map((v) => -v)),
    },
  };
}

describe('Constant nodes run at every level (CPU and WebGPU)', function () {
  this.timeout(120_000);
  const c = weightsInConstants();

  it('the test graph holds Constant nodes larger than the value-propagation limit', () => {
    const constants = c.graph.nodes.filter((n) => n.op === 'Constant');
    expect(constants.length).to.equal(3);
    expect((constants[0]!.attrs.value as Tensor).size).to.be.greaterThan(VALUE_PROPAGATION_LIMIT);
    // -O0 keeps them as nodes: nothing but the backend's planner sees them.
    expect(optimize(c.graph, { level: 0 }).graph.nodes.filter((n) => n.op === 'Constant').length).to.equal(3);
  });

  it('WebGPU planner: a Constant is an uploaded constant buffer, no dispatch', () => {
    registerAllKernels();
    const types = new Map(c.graph.inputs.map((i) => [i.name, { dtype: i.dtype, shape: i.shape as number[] }]));
    const p = planGraph(c.graph, types, { limits: DEFAULT_KERNEL_LIMITS, f16: false, subgroups: false, maxBufferSize: 2 ** 32 });
    const constantNodes = new Set(c.graph.nodes.filter((n) => n.op === 'Constant').map((n) => n.name));
    expect(p.dispatches.filter((d) => constantNodes.has(d.node))).to.deep.equal([]);
    expect(p.constants.some((k) => k.tensor.size === 100 * 64)).to.equal(true);
  });

  for (const level of LEVELS) {
    it(`CPU at -O${level} gives the hand-computed values`, () => {
      const g = optimize(c.graph, { level }).graph;
      const got = compileCpu(g).run(c.feeds);
      for (const [k, t] of Object.entries(c.want)) expectClose(got[k]!, t, TOL, `O${level}/cpu/${k}`);
    });
  }

  describe('WebGPU', function () {
    let device: GPUDevice | null = null;
    before(async function () {
      device = await sharedDevice();
      if (!device) this.skip();
    });
    for (const level of LEVELS) {
      it(`WebGPU at -O${level} gives the hand-computed values`, async () => {
        const g = optimize(c.graph, { level }).graph;
        const prog = await compileWebGpu(g, { device: device! });
        try {
          const got = (await prog.run(c.feeds)) as Record<string, Tensor>;
          for (const [k, t] of Object.entries(c.want)) expectClose(got[k]!, t, TOL, `O${level}/webgpu/${k}`);
        } finally {
          prog.release();
        }
      });
    }
  });
});
