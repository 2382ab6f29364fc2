/// <reference types="@webgpu/types" />
/**
 * GPU-resident tensors: a dtype, a concrete shape and a GPUBuffer in the dtype's
 * GPU storage (kernel.ts). `run(feeds, { outputsOnGpu: true })` returns them, and
 * `run()` accepts them as feeds, so chained programs never round-trip through the CPU.
 */
import type { DType } from '../../graph/dtype.js';
import { DeviceLostError } from '../../graph/errors.js';
import type { ConcreteShape } from '../../graph/shape.js';
import type { Tensor } from '../../graph/tensor.js';
import { storageOf, type GpuStorage } from './kernel.js';
import { bufferBytes, fromStorage, toStorage } from './storage.js';

/** Usage flags of every buffer Kiln hands out as a GpuTensor. */
export const GPU_TENSOR_USAGE = (): number => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A tensor held in a GPU buffer. The caller owns it: call {@link destroy} when done. */
export class GpuTensor {
  /** Storage of the elements in {@link buffer}. */
  readonly storage: GpuStorage;

  /**
   * @param device the device owning the buffer
   * @param dtype logical element type
   * @param shape concrete shape
   * @param buffer the data, in `storageOf(dtype, f16)` layout (usage includes STORAGE and COPY_SRC)
   * @param f16 whether float16 is stored as f16 (the device has shader-f16)
   */
  constructor(
    readonly device: GPUDevice,
    readonly dtype: DType,
    readonly shape: ConcreteShape,
    readonly buffer: GPUBuffer,
    readonly f16: boolean,
  ) {
    this.storage = storageOf(dtype, f16);
  }

  /** Uploads a CPU tensor to a new GPU buffer on `device`. */
  static upload(device: GPUDevice, t: Tensor, what = 'tensor'): GpuTensor {
    const f16 = device.features.has('shader-f16');
    const bytes = toStorage(t, f16, what);
    const buffer = device.createBuffer({ size: bytes.byteLength, usage: GPU_TENSOR_USAGE() });
    device.queue.writeBuffer(buffer, 0, bytes);
    return new GpuTensor(device, t.dtype, t.shape, buffer, f16);
  }

  /** Number of elements. */
  get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }

  /** Bytes the data occupies in the buffer (rounded up to 4). */
  get byteLength(): number {
    return bufferBytes(this.size, this.storage);
  }

  /** Copies the data back to a CPU tensor. Throws DeviceLostError if the device is gone. */
  async download(): Promise<Tensor> {
    const size = this.byteLength;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.buffer, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      staging.destroy();
      throw new DeviceLostError(`download of a GPU tensor failed: ${(e as Error).message}`);
    }
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    return fromStorage(bytes, this.dtype, this.shape, this.f16);
  }

  /** Frees the GPU buffer. */
  destroy(): void {
    this.buffer.destroy();
  }
}
