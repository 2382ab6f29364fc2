/// <reference types="@webgpu/types" />
/**
 * Plan-equals-execution checks: what an executor actually allocates and records,
 * counted on the device object (createBuffer, dispatchWorkgroups) while it runs,
 * next to the figures of the execution plan it ran.
 */
import type { WebGpuProgram } from '../../src/backends/webgpu/index.js';
import type { Tensor } from '../../src/graph/index.js';

/** What a WebGPU program did while compiling and during its first run (which prepare its plan). */
export interface Counted {
  /** Bytes of the storage buffers created while compiling and preparing (the plan's buffers). */
  readonly storageBytes: number;
  /** Storage buffers created while preparing. */
  readonly storageBuffers: number;
  /** dispatchWorkgroups calls (compiling records none). */
  readonly dispatches: number;
}

/**
 * Compiles a program with `compile` and runs it once, counting on `device`: buffers
 * with STORAGE usage created meanwhile (the plan's; uniform, readback and query
 * buffers have none) and dispatches recorded.
 */
export async function countExecution(device: GPUDevice, compile: () => Promise<WebGpuProgram>, feeds: Record<string, Tensor>): Promise<{ program: WebGpuProgram; counted: Counted }> {
  const create = device.createBuffer.bind(device);
  const encoder = device.createCommandEncoder.bind(device);
  let storageBytes = 0;
  let storageBuffers = 0;
  let dispatches = 0;
  const d = device as { createBuffer: GPUDevice['createBuffer']; createCommandEncoder: GPUDevice['createCommandEncoder'] };
  d.createBuffer = (desc) => {
    if (desc.usage & GPUBufferUsage.STORAGE) { storageBytes += desc.size; storageBuffers++; }
    return create(desc);
  };
  d.createCommandEncoder = (desc) => {
    const enc = encoder(desc);
    const begin = enc.beginComputePass.bind(enc);
    enc.beginComputePass = (pd) => {
      const pass = begin(pd);
      const dispatch = pass.dispatchWorkgroups.bind(pass);
      pass.dispatchWorkgroups = (x, y, z) => { dispatches++; dispatch(x, y, z); };
      return pass;
    };
    return enc;
  };
  let program: WebGpuProgram;
  try {
    program = await compile();
    // The first run prepares the plan when it depends on feed values (program.ts).
    await program.run(feeds);
  } finally {
    d.createBuffer = create;
    d.createCommandEncoder = encoder;
  }
  return { program, counted: { storageBytes, storageBuffers, dispatches } };
}
