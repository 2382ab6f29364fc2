/// <reference types="@webgpu/types" />
/**
 * Concurrency: 50 overlapping run() calls on one session — each with different
 * values and, with a symbolic batch, different shapes — all return their own
 * correct result (the CPU reference of that feed), on the CPU and WebGPU backends.
 *
 * WebGPU is covered twice: through InferenceSession (optimization level 1), and as a
 * program compiled at level 2 with compileWebGpu. (Under mocha + tsx the session's
 * dynamic import of the WebGPU backend loads a second copy of the graph modules, and
 * level-2 Fused nodes then fail that copy's `instanceof Graph` check: see the report
 * of issue #9.)
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder } from '../src/graph/index.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { InferenceSession } from '../src/session/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectClose, randomTensor } from './helpers/gpu-compare.js';

const CALLS = 50;

/** A small MLP with a symbolic batch: softmax(relu(x·W1 + b1)·W2). */
function mlp(): Graph {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', ['batch', 8]);
  const w1 = b.constant(randomTensor('float32', [8, 16], 1, -0.5, 0.5));
  const b1 = b.constant(randomTensor('float32', [16], 2, -0.1, 0.1));
  const w2 = b.constant(randomTensor('float32', [16, 4], 3, -0.5, 0.5));
  b.output(b.Softmax([b.MatMul([b.Relu(b.Add([b.MatMul([x, w1]), b1])), w2])], { axis: -1 }), 'y');
  return b.build();
}

type Runner = (feeds: Record<string, Tensor>) => Promise<Record<string, Tensor>>;

async function overlapping(run: Runner, g: Graph, what: string): Promise<void> {
  const cpu = compileCpu(g);
  const feeds = Array.from({ length: CALLS }, (_, i) => ({ x: randomTensor('float32', [2 + (i % 2), 8], 100 + i) }));
  const results = await Promise.all(feeds.map((f) => run(f)));
  for (const [i, out] of results.entries()) {
    const want = cpu.run(feeds[i]!);
    expectClose(out.y!, want.y!, 1e-5, `${what} call ${i}`);
  }
  // The calls really differ: distinct inputs give distinct outputs.
  expect(new Set(results.map((r) => r.y!.toArray().slice(0, 4).join(','))).size).to.equal(CALLS);
}

describe('reliability: 50 overlapping run() calls', function () {
  this.timeout(120000);
  const g = mlp();

  it('CPU session: every call returns its own correct result', async () => {
    const s = await InferenceSession.create(g, { backend: 'cpu' });
    await overlapping((f) => s.run(f), g, 'cpu');
    s.release();
  });

  it('WebGPU session: every call returns its own correct result', async function () {
    const device = await deviceOrSkip(this);
    const s = await InferenceSession.create(g, { backend: 'webgpu', device, optimizationLevel: 1 });
    try {
      await overlapping((f) => s.run(f), g, 'webgpu session');
    } finally {
      s.release();
    }
  });

  it('WebGPU program at O2: every call returns its own correct result', async function () {
    const device = await deviceOrSkip(this);
    const p = await compileWebGpu(optimize(g, { level: 2 }).graph, { device });
    try {
      await overlapping(async (f) => (await p.run(f)) as Record<string, Tensor>, g, 'webgpu O2');
    } finally {
      p.release();
    }
  });
});
