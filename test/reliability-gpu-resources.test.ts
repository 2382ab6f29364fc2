/// <reference types="@webgpu/types" />
/**
 * GPU resources: live GPU buffers (counted by wrapping the device's createBuffer and
 * each buffer's destroy) stay constant over many consecutive runs, return to the
 * baseline after release(), and are not left behind by runs or compilations that
 * fail (int64 range check, wrong shape, a constant that does not fit the GPU).
 *
 * The run count is KILN_GPU_LEAK_RUNS (default 10 000: about 13 s on lavapipe).
 */
import { expect } from 'chai';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { InputError, KilnError, LimitError } from '../src/graph/errors.js';
import { GraphBuilder } from '../src/graph/index.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { countBuffers, ownDeviceOrSkip, settle, type BufferCounter } from './reliability-gpu-helpers.js';

const RUNS = Number(process.env.KILN_GPU_LEAK_RUNS ?? 10000);

/**
 * Programs are compiled with compileWebGpu (not through InferenceSession): under
 * mocha + tsx the session's dynamic import of the WebGPU backend loads a second copy
 * of the graph modules, so errors it raises fail `instanceof` checks here.
 */
async function program(device: GPUDevice, level: 0 | 2, batch: number | string = 2) {
  return compileWebGpu(optimize(tiny(batch), { level }).graph, { device });
}

/** y = tanh(relu(x + c) · x), x: float32[n, 4]; ids → rows of a table (int64 feed). */
function tiny(batch: number | string = 2) {
  const b = new GraphBuilder('tiny');
  const x = b.input('x', 'float32', [batch, 4]);
  const ids = b.input('ids', 'int64', [2]);
  b.output(b.Tanh(b.Mul([b.Relu(b.Add([x, b.constant([0.5, -1, 2, 0])])), x])), 'y');
  b.output(b.Gather([b.constant(Tensor.from('float32', [3, 2], [1, 2, 3, 4, 5, 6])), ids], { axis: 0 }), 'rows');
  return b.build();
}

function feeds(seed: number, batch = 2): Record<string, Tensor> {
  return {
    x: Tensor.from('float32', [batch, 4], Array.from({ length: batch * 4 }, (_, i) => ((i * 7 + seed) % 13) / 4 - 1.5)),
    ids: Tensor.from('int64', [2], [seed % 3, (seed + 1) % 3]),
  };
}

function expected(f: Record<string, Tensor>): { y: number[]; rows: number[] } {
  const c = [0.5, -1, 2, 0];
  const x = f.x!.toArray();
  const ids = f.ids!.toArray();
  return {
    y: x.map((v, i) => Math.tanh(Math.max(0, v + c[i % 4]!) * v)),
    rows: ids.flatMap((k) => [2 * k + 1, 2 * k + 2]),
  };
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('reliability: GPU buffers', function () {
  let device: GPUDevice;
  let live: BufferCounter;
  let baseline: { count: number; bytes: number };

  before(async function () {
    device = await ownDeviceOrSkip(this, 'kiln-leak-test');
    live = countBuffers(device);
    baseline = { count: live.count, bytes: live.bytes };
  });
  after(() => device?.destroy());

  it(`keeps live buffers and bytes unchanged over ${RUNS} consecutive runs; release() frees them all`, async function () {
    this.timeout(Math.max(120000, RUNS * 30));
    const s = await program(device, 2);
    const first = (await s.run(feeds(0))) as Record<string, Tensor>;
    const want0 = expected(feeds(0));
    first.y!.toArray().forEach((v, i) => expect(v).to.be.closeTo(want0.y[i]!, 1e-5));
    const after1 = { count: live.count, bytes: live.bytes };
    expect(after1.count).to.be.greaterThan(baseline.count);
    for (let i = 1; i <= RUNS; i++) {
      const out = (await s.run(feeds(i))) as Record<string, Tensor>;
      if (i % 97 === 0) expect(out.rows!.toArray()).to.deep.equal(expected(feeds(i)).rows);
    }
    expect({ count: live.count, bytes: live.bytes }, live.labels().join(',')).to.deep.equal(after1);
    s.release();
    await settle();
    expect({ count: live.count, bytes: live.bytes }, `left after release: ${live.labels().join(', ')}`).to.deep.equal(baseline);
  });

  it('bounds the plan cache under many shapes (symbolic batch) and frees it on release()', async function () {
    const base = { count: live.count, bytes: live.bytes };
    const s = await program(device, 0, 'n');
    try {
      let peak = 0;
      let biggestPlan = 0;
      for (let round = 0; round < 2; round++) {
        for (let n = 1; n <= 24; n++) {
          const f = feeds(n, n);
          const before = live.created;
          const out = (await s.run(f)) as Record<string, Tensor>;
          biggestPlan = Math.max(biggestPlan, live.created - before);
          expect(out.y!.shape).to.deep.equal([n, 4]);
          out.y!.toArray().forEach((v, i) => expect(v).to.be.closeTo(expected(f).y[i]!, 1e-5));
          await settle();
          peak = Math.max(peak, live.count);
        }
      }
      // At most 16 plans are kept (see program.ts); evicted plans' buffers are destroyed.
      expect(biggestPlan).to.be.greaterThan(0);
      expect(peak - base.count, `peak ${peak}; largest plan ${biggestPlan} buffers`).to.be.at.most(16 * biggestPlan);
    } finally {
      s.release();
    }
    await settle();
    expect({ count: live.count, bytes: live.bytes }, `left after release: ${live.labels().join(', ')}`).to.deep.equal(base);
  });

  it('leaves no buffers behind after failing runs (int64 out of range, wrong shape, missing feed)', async () => {
    const base = { count: live.count, bytes: live.bytes };
    const s = await program(device, 0);
    await s.run(feeds(1));
    const steady = { count: live.count, bytes: live.bytes };
    for (let i = 0; i < 50; i++) {
      const big = await rejects(s.run({ ...feeds(i), ids: Tensor.from('int64', [2], [2 ** 40, 0]) }));
      expect(big).to.be.instanceOf(LimitError);
      expect(await rejects(s.run({ ...feeds(i), x: Tensor.from('float32', [3, 4], new Array(12).fill(0)) }))).to.be.instanceOf(InputError);
      expect(await rejects(s.run({ x: feeds(i).x! }))).to.be.instanceOf(InputError);
    }
    await settle();
    expect({ count: live.count, bytes: live.bytes }).to.deep.equal(steady);
    const again = (await s.run(feeds(2))) as Record<string, Tensor>;
    expect(again.rows!.toArray()).to.deep.equal(expected(feeds(2)).rows);
    s.release();
    await settle();
    expect({ count: live.count, bytes: live.bytes }, `left after release: ${live.labels().join(', ')}`).to.deep.equal(base);
  });

  it('leaves no buffers behind when compiling fails (an int64 constant beyond the GPU range)', async () => {
    const base = { count: live.count, bytes: live.bytes };
    const b = new GraphBuilder('bigconst');
    const x = b.input('x', 'int64', [2]);
    b.output(b.Add([x, b.constant(Tensor.from('int64', [2], [2 ** 40, 1]))]), 'y');
    const err = await rejects(compileWebGpu(b.build(), { device }));
    expect(err).to.be.instanceOf(KilnError);
    await settle();
    expect({ count: live.count, bytes: live.bytes }, `leaked: ${live.labels().join(', ')}`).to.deep.equal(base);
  });
});
