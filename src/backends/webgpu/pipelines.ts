/// <reference types="@webgpu/types" />
/**
 * Compute pipelines, cached per device by shader source and binding layout, so
 * every program (and every test) on one device shares them. Layouts are explicit
 * (never `'auto'`): inputs are read-only storage, outputs and scratch storage,
 * the uniform buffer last.
 */
import { ExecutionError } from '../../graph/errors.js';

/** The kind of each binding of a pipeline, in order. */
export type BindingKind = 'read' | 'rw' | 'uniform';

const caches = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** Number of distinct pipelines created on a device so far. */
export function pipelineCacheSize(device: GPUDevice): number {
  return caches.get(device)?.size ?? 0;
}

/** The cache key of a pipeline. */
export function pipelineKey(shader: string, entryPoint: string, kinds: readonly BindingKind[]): string {
  return `${kinds.join(',')}|${entryPoint}\n${shader}`;
}

/** Creates the bind group layout for binding kinds. */
export function layoutFor(device: GPUDevice, kinds: readonly BindingKind[]): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    entries: kinds.map((k, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: k === 'read' ? 'read-only-storage' : k === 'rw' ? 'storage' : 'uniform' },
    })),
  });
}

/**
 * Returns the pipeline for a shader, creating it with createComputePipelineAsync
 * on first use. `what` (op and kernel label, node name) goes into the error when
 * WGSL compilation fails.
 */
export function getPipeline(device: GPUDevice, shader: string, entryPoint: string, kinds: readonly BindingKind[], what: string): Promise<GPUComputePipeline> {
  let cache = caches.get(device);
  if (!cache) {
    cache = new Map();
    caches.set(device, cache);
  }
  const key = pipelineKey(shader, entryPoint, kinds);
  let p = cache.get(key);
  if (!p) {
    const module = device.createShaderModule({ code: shader });
    const layout = device.createPipelineLayout({ bindGroupLayouts: [layoutFor(device, kinds)] });
    p = device.createComputePipelineAsync({ layout, compute: { module, entryPoint } }).catch(async (e: unknown) => {
      cache!.delete(key);
      let detail = '';
      try {
        const info = await module.getCompilationInfo();
        detail = info.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}: ${m.message}`).join('; ');
      } catch {
        detail = '';
      }
      throw new ExecutionError(`${what}: WGSL pipeline creation failed: ${(e as Error).message}${detail ? ` (${detail})` : ''}`, what);
    });
    cache.set(key, p);
  }
  return p;
}
