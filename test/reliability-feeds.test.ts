/// <reference types="@webgpu/types" />
/**
 * Runtime validation of feeds through the public session, on the CPU and WebGPU
 * backends: missing and extra feeds, wrong dtypes, ranks and static dims, symbolic
 * dims bound inconsistently across inputs, feeds that are not tensors — each an
 * InputError naming the input — and the NaN policy (NaN and ±Inf propagate per
 * IEEE 754; Kiln does not scan feeds for them; see SECURITY.md).
 */
import { expect } from 'chai';
import { InputError, KilnError } from '../src/graph/errors.js';
import { GraphBuilder } from '../src/graph/index.js';
import { InferenceSession, Tensor } from '../src/session/index.js';
import { deviceOrSkip } from './helpers/gpu.js';

/** out = x + y, with x, y: float32[batch, 3]; ids: int64[2] gathers rows of a 4×1 table. */
function graph() {
  const b = new GraphBuilder('feeds');
  const x = b.input('x', 'float32', ['batch', 3]);
  const y = b.input('y', 'float32', ['batch', 3]);
  const ids = b.input('ids', 'int64', [2]);
  b.output(b.Add([x, y]), 'out');
  b.output(b.Gather([b.constant(Tensor.from('float32', [4, 1], [10, 20, 30, 40])), ids], { axis: 0 }), 'rows');
  return b.build();
}

const f32 = (values: number[], dims: number[]) => new Tensor('float32', values, dims);
const good = () => ({ x: f32([1, 2, 3, 4, 5, 6], [2, 3]), y: f32([10, 20, 30, 40, 50, 60], [2, 3]), ids: new Tensor('int64', [3, 0], [2]) });

async function inputError(p: Promise<unknown>, input: string, pattern: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected an InputError about '${input}'`).to.be.instanceOf(InputError);
  const e = err as InputError;
  expect(e.where, e.message).to.equal(input);
  expect(e.message).to.include(`'${input}'`);
  expect(e.message).to.match(pattern);
}

for (const backend of ['cpu', 'webgpu'] as const) {
  describe(`reliability: feed validation (${backend})`, function () {
    let s: InferenceSession;
    before(async function () {
      const device = backend === 'webgpu' ? await deviceOrSkip(this) : undefined;
      s = await InferenceSession.create(graph(), { backend, ...(device ? { device } : {}) });
    });
    after(() => s?.release());

    it('runs good feeds (hand-derived result)', async () => {
      const out = await s.run(good());
      expect(out.out!.toArray()).to.deep.equal([11, 22, 33, 44, 55, 66]);
      expect(out.rows!.toArray()).to.deep.equal([40, 10]);
    });

    it('rejects a missing feed, naming it', async () => {
      const { x, ids } = good();
      await inputError(s.run({ x, ids }), 'y', /missing feed/);
    });

    it('rejects an extra feed, naming it', async () => {
      await inputError(s.run({ ...good(), z: f32([1], [1]) }), 'z', /unexpected feed/);
      await inputError(s.run({ ...good(), ['__proto__']: f32([1], [1]) } as Record<string, Tensor>), '__proto__', /unexpected feed/);
    });

    it('rejects a wrong dtype, naming the input', async () => {
      await inputError(s.run({ ...good(), x: new Tensor('int32', [1, 2, 3, 4, 5, 6], [2, 3]) }), 'x', /float32.*int32/);
      await inputError(s.run({ ...good(), ids: new Tensor('int32', [0, 1], [2]) }), 'ids', /int64.*int32/);
    });

    it('rejects a wrong rank, naming the input', async () => {
      await inputError(s.run({ ...good(), y: f32([1, 2, 3, 4, 5, 6], [6]) }), 'y', /rank 2/);
      await inputError(s.run({ ...good(), ids: new Tensor('int64', [0, 1], [1, 2]) }), 'ids', /rank 1/);
    });

    it('rejects a wrong static dim, naming the input', async () => {
      await inputError(s.run({ ...good(), x: f32([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]) }), 'x', /axis 1/);
      await inputError(s.run({ ...good(), ids: new Tensor('int64', [0, 1, 2], [3]) }), 'ids', /axis 0/);
    });

    it('rejects a symbolic dim bound to different sizes by two inputs, naming both', async () => {
      await inputError(s.run({ ...good(), y: f32(new Array(9).fill(1), [3, 3]) }), 'y', /'batch'.*'x'/);
    });

    it('rejects a feed that is not a tensor with an InputError naming it', async () => {
      const fake = { dtype: 'float32', shape: [2, 3] } as unknown as Tensor;
      let err: unknown;
      try {
        await s.run({ ...good(), x: fake });
      } catch (e) {
        err = e;
      }
      // A shape-only object has no data: it must never run (the GPU would read the previous run's buffer).
      expect(err, 'a feed without data ran').to.be.instanceOf(KilnError);
      expect(err).to.be.instanceOf(InputError);
      expect((err as InputError).where).to.equal('x');
    });

    it('propagates NaN and ±Inf per IEEE 754 (no NaN check)', async () => {
      const out = await s.run({ ...good(), x: f32([NaN, Infinity, -Infinity, 0, -0, 1e30], [2, 3]), y: f32([1, 1, 1, -Infinity, 0, 1e30], [2, 3]) });
      const v = out.out!.toArray();
      expect(Number.isNaN(v[0])).to.equal(true);
      expect(v.slice(1, 4)).to.deep.equal([Infinity, -Infinity, -Infinity]);
      expect(Object.is(v[4], 0) || Object.is(v[4], -0)).to.equal(true);
      expect(v[5]).to.be.closeTo(2e30, 1e24);
    });
  });
}
