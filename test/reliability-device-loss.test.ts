/// <reference types="@webgpu/types" />
/**
 * Device loss, simulated with `device.destroy()`. As documented in
 * src/backends/webgpu/program.ts, a program cannot recover: every later run()
 * rejects with DeviceLostError; compileWebGpu() without a device requests a new
 * default device once the old one is lost. Every promise is guarded by a time bound,
 * so a hang fails the test instead of stalling the suite.
 */
import { expect } from 'chai';
import { compileWebGpu, defaultDevice, type WebGpuProgram } from '../src/backends/webgpu/index.js';
import { DeviceLostError, KilnError } from '../src/graph/errors.js';
import { GraphBuilder } from '../src/graph/index.js';
import { Tensor } from '../src/graph/tensor.js';
import { ownDeviceOrSkip } from './reliability-gpu-helpers.js';

/** Time bound for anything after a device loss. */
const BOUND_MS = 10000;

function graph() {
  const b = new GraphBuilder('lost');
  const x = b.input('x', 'float32', ['n', 4]);
  b.output(b.Relu(b.Add([x, b.constant([1, -1, 0.5, 0])])), 'y');
  return b.build();
}

const x = (n: number, v = 1) => Tensor.from('float32', [n, 4], new Array(n * 4).fill(v));

/** Settles `p` within BOUND_MS: its value, or the error it rejected with; fails on a hang. */
async function bounded<T>(p: Promise<T>, what: string): Promise<{ value?: T; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: ${what} did not settle within ${BOUND_MS} ms`)), BOUND_MS);
  });
  try {
    return { value: await Promise.race([p, hang]) };
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('HANG')) throw e;
    return { error: e };
  } finally {
    clearTimeout(timer);
  }
}

describe('reliability: device loss', function () {
  this.timeout(60000);

  it('rejects the next run with DeviceLostError, within the time bound', async function () {
    const device = await ownDeviceOrSkip(this, 'kiln-loss-1');
    const p = await compileWebGpu(graph(), { device });
    const ok = (await p.run({ x: x(2) })) as Record<string, Tensor>;
    expect(ok.y!.toArray()).to.deep.equal([2, 0, 1.5, 1, 2, 0, 1.5, 1]);
    device.destroy();
    await bounded(device.lost, 'device.lost');
    const r = await bounded(p.run({ x: x(2) }), 'run after loss');
    expect(r.error, 'run after device loss resolved').to.be.instanceOf(DeviceLostError);
    expect((r.error as DeviceLostError).code).to.equal('DEVICE_LOST');
    const r2 = await bounded(p.run({ x: x(3) }), 'run of a new shape after loss');
    expect(r2.error).to.be.instanceOf(DeviceLostError);
    expect(() => p.release()).not.to.throw();
  });

  it('settles every run in flight when the device is lost mid-way (result or typed error, no hang)', async function () {
    const device = await ownDeviceOrSkip(this, 'kiln-loss-2');
    const p: WebGpuProgram = await compileWebGpu(graph(), { device });
    await p.run({ x: x(1) });
    const runs = Array.from({ length: 20 }, (_, i) => p.run({ x: x(1 + (i % 4), i) }));
    device.destroy();
    const settled = await Promise.all(runs.map((r, i) => bounded(r, `in-flight run ${i}`)));
    for (const [i, s] of settled.entries()) {
      if (s.error !== undefined) expect(s.error, `run ${i}`).to.be.instanceOf(KilnError);
      else {
        const y = (s.value as Record<string, Tensor>).y!;
        const n = 1 + (i % 4);
        expect(y.toArray(), `run ${i} before the loss`).to.deep.equal(new Array(n).fill([i + 1, Math.max(0, i - 1), i + 0.5, i]).flat());
      }
    }
    expect(settled.at(-1)!.error, 'the last queued run').to.be.instanceOf(DeviceLostError);
  });

  it('fails compiling on a lost device with a typed error, within the time bound', async function () {
    const device = await ownDeviceOrSkip(this, 'kiln-loss-3');
    device.destroy();
    await bounded(device.lost, 'device.lost');
    const r = await bounded((async () => {
      const p = await compileWebGpu(graph(), { device });
      return p.run({ x: x(2) });
    })(), 'compile + run on a lost device');
    expect(r.error, 'compiling and running on a destroyed device succeeded').to.be.instanceOf(KilnError);
  });

  it('requests a new default device after the default one is lost', async function () {
    await ownDeviceOrSkip(this, 'kiln-loss-probe').then((d) => d.destroy());
    const d1 = await defaultDevice();
    const p1 = await compileWebGpu(graph());
    expect(p1.device).to.equal(d1);
    d1.destroy();
    await bounded(d1.lost, 'default device lost');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect((await bounded(p1.run({ x: x(1) }), 'old program')).error).to.be.instanceOf(DeviceLostError);
    const p2 = await compileWebGpu(graph());
    expect(p2.device).to.not.equal(d1);
    const out = (await bounded(p2.run({ x: x(1, 2) }), 'program on the new default device')).value as Record<string, Tensor>;
    expect(out.y!.toArray()).to.deep.equal([3, 1, 2.5, 2]);
    p2.release();
  });
});
