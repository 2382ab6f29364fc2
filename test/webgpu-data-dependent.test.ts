/// <reference types="@webgpu/types" />
/**
 * Ops whose output shapes depend on their input values (NonZero, Unique, Compress,
 * NonMaxSuppression) on WebGPU, between GPU work: the program splits at the op,
 * reads its inputs back once, runs it on the host, and plans the next GPU step for
 * the sizes it produced (cached per shape). Compared with the CPU reference
 * (float32 within 1e-5; int64 exact), with the readbacks a run costs.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectNear, randomTensor } from './helpers/gpu-compare.js';


/** x [n, 8] → Relu(x·w − 0.3) on the GPU → NonZero → its columns gather the kept values → sum, and the count. */
function nonZeroGraph(n: number): Graph {
  const b = new GraphBuilder('nonzero-between-gpu-work');
  const x = b.input('x', 'float32', [n, 8]);
  const h = b.Relu(b.Sub([b.MatMul([x, b.constant(randomTensor('float32', [8, 8], 31))]), b.constant(0.3)]));
  const nz = b.NonZero(h);
  const idx = b.Transpose(nz, { perm: [1, 0] });
  const kept = b.GatherND([h, idx]);
  b.output(b.ReduceSum([b.Mul([kept, b.constant(2)])], { keepdims: 0 }), 'sum');
  b.output(b.Shape(kept), 'count');
  b.output(idx, 'idx');
  return b.build();
}

describe('webgpu: data-dependent output shapes between GPU steps', function () {
  this.timeout(60000);
  let device: GPUDevice;
  before(async function () { device = await deviceOrSkip(this); });

  for (const level of [0, 2] as const) {
    it(`NonZero on a GPU-computed value, then GatherND and a reduction (O${level}): equal to the CPU, one readback, sizes re-planned per run`, async () => {
      const g = optimize(nonZeroGraph(16), { level }).graph;
      const prog = await compileWebGpu(g, { device });
      const cpu = compileCpu(g);
      const counts = new Set<number>();
      for (const seed of [1, 2, 3]) {
        const feeds = { x: randomTensor('float32', [16, 8], seed, -1, 1) };
        const got = (await prog.run(feeds)) as Record<string, Tensor>;
        const want = cpu.run(feeds);
        expectNear(got.sum!, want.sum!, 1e-5, 1e-5, 'sum');
        expect([...got.count!.data].map(Number)).to.deep.equal([...want.count!.data].map(Number));
        expect([...got.idx!.data].map(Number)).to.deep.equal([...want.idx!.data].map(Number));
        counts.add(Number(want.count!.data[0]));
        expect(prog.controlStats!.readbacks, 'readbacks per run').to.equal(1);
      }
      expect(counts.size, 'the seeds give different counts').to.be.greaterThan(1);
      prog.release();
    });
  }

  it('Unique of GPU-computed values feeding more GPU work', async () => {
    const b = new GraphBuilder('unique-between-gpu-work');
    const x = b.input('x', 'float32', [40]);
    const q = b.Floor(b.Mul([b.Abs(x), b.constant(3)]));
    const [u, , inverse, counts] = b.apply('Unique', q, { sorted: 1 }, { outputs: 4 });
    b.output(b.Mul([u!, b.constant(10)]), 'u10');
    b.output(inverse!, 'inverse');
    b.output(b.Cast(counts!, { to: 1 }), 'counts');
    const g = b.build();
    const feeds = { x: randomTensor('float32', [40], 9, -2, 2) };
    const prog = await compileWebGpu(g, { device });
    const got = (await prog.run(feeds)) as Record<string, Tensor>;
    const want = compileCpu(g).run(feeds);
    for (const o of ['u10', 'inverse', 'counts']) expectNear(got[o]!, want[o]!, 1e-5, 1e-5, o);
    prog.release();
  });

  it('NonMaxSuppression on GPU-computed scores, then Gather of the selected boxes', async () => {
    const b = new GraphBuilder('nms-between-gpu-work');
    const boxes = b.input('boxes', 'float32', [1, 30, 4]);
    const logits = b.input('logits', 'float32', [1, 2, 30]);
    const scores = b.Sigmoid(logits);
    const sel = b.NonMaxSuppression([boxes, scores, b.constant(Tensor.from('int64', [1], [5])), b.constant(Tensor.from('float32', [1], [0.4])), b.constant(Tensor.from('float32', [1], [0.2]))]);
    const boxIdx = b.Squeeze(b.Slice([sel, b.constant(Tensor.from('int64', [1], [2])), b.constant(Tensor.from('int64', [1], [3])), b.constant(Tensor.from('int64', [1], [1]))]), { axes: [1] });
    const picked = b.Gather([b.Squeeze(boxes, { axes: [0] }), boxIdx], { axis: 0 });
    b.output(b.Mul([picked, b.constant(100)]), 'picked');
    b.output(sel, 'selected');
    const g = b.build();
    // Boxes as [y1, x1, y2, x2] from random corners, so some overlap.
    const r = randomTensor('float32', [1, 30, 4], 77, 0, 1);
    const bx = new Tensor('float32', [1, 30, 4]);
    for (let i = 0; i < 30; i++) {
      const [a, c, d, e] = [0, 1, 2, 3].map((k) => r.data[i * 4 + k]!);
      bx.data.set([Math.min(a!, c!), Math.min(d!, e!), Math.max(a!, c!), Math.max(d!, e!)], i * 4);
    }
    const feeds = { boxes: bx, logits: randomTensor('float32', [1, 2, 30], 78, -3, 3) };
    const prog = await compileWebGpu(g, { device });
    const got = (await prog.run(feeds)) as Record<string, Tensor>;
    const want = compileCpu(g).run(feeds);
    expect(want.selected!.shape[0], 'some boxes are kept').to.be.greaterThan(0);
    expectNear(got.selected!, want.selected!, 1e-5, 1e-5, 'selected');
    expectNear(got.picked!, want.picked!, 1e-5, 1e-5, 'picked');
    prog.release();
  });

  it('Compress on a GPU-computed condition', async () => {
    const b = new GraphBuilder('compress-between-gpu-work');
    const x = b.input('x', 'float32', [12, 3]);
    const keep = b.Greater([b.ReduceSum([x], { axes: [1], keepdims: 0 }), b.constant(0)]);
    b.output(b.Exp(b.Compress([x, keep], { axis: 0 })), 'y');
    const g = b.build();
    const feeds = { x: randomTensor('float32', [12, 3], 5, -1, 1) };
    const prog = await compileWebGpu(g, { device });
    const got = (await prog.run(feeds)) as Record<string, Tensor>;
    const want = compileCpu(g).run(feeds);
    expectNear(got.y!, want.y!, 1e-5, 1e-5, 'y');
    prog.release();
  });
});
