/// <reference types="@webgpu/types" />
/**
 * One WebGPU device shared by every WebGPU test file (pipelines are cached per
 * device, so sharing it keeps the suite fast on lavapipe). With CI=true a missing
 * adapter fails the tests; elsewhere they skip with the reason printed once.
 */
import { GpuUnavailableError, requestDevice } from '../../src/backends/webgpu/device.js';

let devicePromise: Promise<GPUDevice | null> | undefined;
let reported = false;

/** The shared device, or null when WebGPU is unavailable outside CI. */
export function sharedDevice(): Promise<GPUDevice | null> {
  if (!devicePromise) {
    devicePromise = requestDevice({ label: 'kiln-tests' }).then(
      (a) => a.device,
      (err: unknown) => {
        if (err instanceof GpuUnavailableError && process.env.CI !== 'true') {
          if (!reported) console.log(`    (skipping WebGPU tests: ${err.message})`);
          reported = true;
          return null;
        }
        throw err;
      },
    );
  }
  return devicePromise;
}

/** For a mocha `before` hook: the shared device, or skips the suite (fails in CI). */
export async function deviceOrSkip(ctx: Mocha.Context): Promise<GPUDevice> {
  const d = await sharedDevice();
  if (!d) ctx.skip();
  return d!;
}
