/// <reference types="@webgpu/types" />
/**
 * A WebGPU device of the test's own (for tests that destroy the device or count
 * its buffers, which must not disturb the shared one), and a wrapper that counts
 * live GPU buffers and their bytes. With CI=true a missing adapter fails; elsewhere
 * the test skips with the reason printed.
 */
import { GpuUnavailableError, requestDevice } from '../src/backends/webgpu/device.js';

/** A new device for this test, or skips it (fails in CI) when WebGPU is unavailable. */
export async function ownDeviceOrSkip(ctx: Mocha.Context, label: string): Promise<GPUDevice> {
  try {
    return (await requestDevice({ label })).device;
  } catch (e) {
    if (e instanceof GpuUnavailableError && process.env.CI !== 'true') {
      console.log(`      (skipped: ${e.message})`);
      ctx.skip();
    }
    throw e;
  }
}

/** Live GPU buffers of a device (created and not yet destroyed). */
export interface BufferCounter {
  /** Number of live buffers. */
  readonly count: number;
  /** Total bytes of the live buffers. */
  readonly bytes: number;
  /** Buffers created since the wrapper was installed. */
  readonly created: number;
  /** Labels of the live buffers (for failure messages). */
  labels(): string[];
}

/** Wraps `device.createBuffer` and each buffer's `destroy` to count live buffers. */
export function countBuffers(device: GPUDevice): BufferCounter {
  const live = new Map<GPUBuffer, { size: number; label: string }>();
  let created = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
    const b = create(desc);
    created++;
    live.set(b, { size: desc.size, label: desc.label ?? '' });
    const destroy = b.destroy.bind(b);
    b.destroy = (): undefined => {
      live.delete(b);
      return destroy();
    };
    return b;
  };
  return {
    get count() { return live.size; },
    get bytes() { let n = 0; for (const v of live.values()) n += v.size; return n; },
    get created() { return created; },
    labels: () => [...live.values()].map((v) => v.label || '(unlabelled)'),
  };
}

/** Lets pending promise callbacks (release() frees buffers in them) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
