/// <reference types="@webgpu/types" />
/**
 * Device-independent GPU counters, measured the same way for every runtime: the
 * prototypes of Dawn's `GPUDevice`, `GPUBuffer`, `GPUComputePassEncoder` and
 * `GPUQueue` are wrapped once per process, before the runtime creates any object,
 * so Kiln and its peers (ONNX Runtime Web, tfjs) are counted by the same code.
 *
 * - bytes: every `createBuffer` adds its size to the live total, `GPUBuffer.destroy`
 *   subtracts it (once); the peak of the live total is "GPU bytes allocated at peak".
 *   Buffers dropped without `destroy()` stay counted (a runtime that relies on GC is
 *   charged for it).
 * - dispatches: `dispatchWorkgroups` / `dispatchWorkgroupsIndirect` calls;
 * - pipelines: `createComputePipeline(Async)` calls (created), and distinct pipelines
 *   passed to `GPUComputePassEncoder.setPipeline` (used) between two snapshots.
 *
 * The module also works around a Dawn limitation that ONNX Runtime Web hits:
 * `GPUQueue.writeBuffer` rejects views of a `SharedArrayBuffer` (ORT's wasm memory),
 * so such data is copied into a plain ArrayBuffer first.
 */

/** Running totals of one process. */
export interface GpuCounters {
  /** Buffers created so far. */
  buffersCreated: number;
  /** Bytes of all buffers created so far. */
  bytesCreated: number;
  /** Bytes of buffers created and not destroyed. */
  liveBytes: number;
  /** Largest value `liveBytes` has had. */
  peakBytes: number;
  /** `createComputePipeline` + `createComputePipelineAsync` calls. */
  pipelinesCreated: number;
  /** `dispatchWorkgroups(Indirect)` calls. */
  dispatches: number;
  /** Pipelines passed to `setPipeline` since the last {@link resetUsed}. */
  readonly pipelinesUsed: Set<unknown>;
  /** Bytes passed to `GPUQueue.writeBuffer`. */
  bytesWritten: number;
  /**
   * ms spent creating compute pipelines: the duration of each `createComputePipeline`
   * call plus, for `createComputePipelineAsync`, the time until its promise resolved
   * (summed, so overlapping async compiles count more than once).
   */
  pipelineMs: number;
  /** Each pipeline creation: its label (or its shader's) and ms, as summed into `pipelineMs`. */
  readonly pipelineTimes: { label: string; ms: number }[];
}

/** What one inference did, from {@link snapshot} differences. */
export interface PerRun {
  /** Dispatches during the run. */
  dispatches: number;
  /** Distinct pipelines bound during the run. */
  pipelines: number;
  /** Buffers created during the run (0 for a runtime that reuses its memory). */
  buffersCreated: number;
  /** Bytes uploaded with writeBuffer during the run. */
  bytesWritten: number;
}

let counters: GpuCounters | undefined;

type Fn = (...args: unknown[]) => unknown;

/** Replaces `proto[name]` by `wrap(original)` when the method exists. */
function patch(proto: object | undefined, name: string, wrap: (orig: Fn) => Fn): void {
  if (!proto) return;
  const orig = (proto as Record<string, unknown>)[name];
  if (typeof orig !== 'function') return;
  Object.defineProperty(proto, name, { value: wrap(orig as Fn), writable: true, configurable: true });
}

function protoOf(name: string): object | undefined {
  const ctor = (globalThis as Record<string, unknown>)[name] as { prototype?: object } | undefined;
  return ctor?.prototype;
}

/** Copies views of a SharedArrayBuffer (which Dawn rejects) into plain memory. */
function unshare(data: unknown): unknown {
  if (typeof SharedArrayBuffer === 'undefined') return data;
  if (data instanceof SharedArrayBuffer) return new Uint8Array(data).slice().buffer;
  if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
    const Ctor = data.constructor as new (src: ArrayBufferView) => ArrayBufferView;
    return data instanceof DataView ? new DataView(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer) : new Ctor(data);
  }
  return data;
}

/**
 * Installs the counting wrappers on Dawn's prototypes (idempotent) and returns the
 * process-wide counters. Call after `acquireGpu()` (which installs Dawn's classes as
 * globals) and before any runtime creates a device object.
 */
export function installGpuCounters(): GpuCounters {
  if (counters) return counters;
  const c: GpuCounters = {
    buffersCreated: 0, bytesCreated: 0, liveBytes: 0, peakBytes: 0,
    pipelinesCreated: 0, dispatches: 0, pipelinesUsed: new Set(), bytesWritten: 0, pipelineMs: 0, pipelineTimes: [],
  };
  counters = c;
  const sizes = new WeakMap<object, number>();
  patch(protoOf('GPUDevice'), 'createBuffer', (orig) => function (this: unknown, ...args: unknown[]) {
    const buf = orig.apply(this, args) as object;
    const size = Number((args[0] as GPUBufferDescriptor).size);
    sizes.set(buf, size);
    c.buffersCreated++;
    c.bytesCreated += size;
    c.liveBytes += size;
    if (c.liveBytes > c.peakBytes) c.peakBytes = c.liveBytes;
    return buf;
  });
  patch(protoOf('GPUBuffer'), 'destroy', (orig) => function (this: object, ...args: unknown[]) {
    const size = sizes.get(this);
    if (size !== undefined) {
      c.liveBytes -= size;
      sizes.delete(this);
    }
    return orig.apply(this, args);
  });
  for (const name of ['createComputePipeline', 'createComputePipelineAsync']) {
    patch(protoOf('GPUDevice'), name, (orig) => function (this: unknown, ...args: unknown[]) {
      c.pipelinesCreated++;
      const d = args[0] as GPUComputePipelineDescriptor | undefined;
      const label = d?.label || d?.compute?.module?.label || d?.compute?.entryPoint || '?';
      const t0 = performance.now();
      const done = (): void => {
        const ms = performance.now() - t0;
        c.pipelineMs += ms;
        c.pipelineTimes.push({ label, ms });
      };
      const r = orig.apply(this, args);
      if (r instanceof Promise) return r.then((p: unknown) => { done(); return p; });
      done();
      return r;
    });
  }
  for (const name of ['dispatchWorkgroups', 'dispatchWorkgroupsIndirect']) {
    patch(protoOf('GPUComputePassEncoder'), name, (orig) => function (this: unknown, ...args: unknown[]) {
      c.dispatches++;
      return orig.apply(this, args);
    });
  }
  patch(protoOf('GPUComputePassEncoder'), 'setPipeline', (orig) => function (this: unknown, ...args: unknown[]) {
    c.pipelinesUsed.add(args[0]);
    return orig.apply(this, args);
  });
  patch(protoOf('GPUQueue'), 'writeBuffer', (orig) => function (this: unknown, ...args: unknown[]) {
    const data = unshare(args[2]);
    args[2] = data;
    const d = data as ArrayBufferView | ArrayBuffer;
    const bytesPer = ArrayBuffer.isView(d) && 'BYTES_PER_ELEMENT' in d ? Number((d as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT) : 1;
    c.bytesWritten += args[4] !== undefined ? Number(args[4]) * bytesPer : d.byteLength - Number(args[3] ?? 0) * bytesPer;
    return orig.apply(this, args);
  });
  return c;
}

/** The counters, if {@link installGpuCounters} was called in this process. */
export function currentCounters(): GpuCounters | undefined {
  return counters;
}

/** A copy of the totals (for differences around one run); clears the used-pipeline set. */
export function snapshot(c: GpuCounters): Omit<GpuCounters, 'pipelinesUsed' | 'pipelineTimes'> {
  c.pipelinesUsed.clear();
  const { pipelinesUsed: _used, pipelineTimes: _times, ...rest } = c;
  return { ...rest };
}

/** What happened between `before` (from {@link snapshot}) and now. */
export function since(c: GpuCounters, before: Omit<GpuCounters, 'pipelinesUsed' | 'pipelineTimes'>): PerRun {
  return {
    dispatches: c.dispatches - before.dispatches,
    pipelines: c.pipelinesUsed.size,
    buffersCreated: c.buffersCreated - before.buffersCreated,
    bytesWritten: c.bytesWritten - before.bytesWritten,
  };
}
