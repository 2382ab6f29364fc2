/// <reference types="@webgpu/types" />
/**
 * A compiled WebGPU program. Plans (plan.ts) are made once per set of concrete
 * input shapes and cached (the 16 most recently used); *realizing* a plan creates its buffers, uploads its
 * constants, creates every pipeline in parallel (createComputePipelineAsync, shared
 * per device) and records bind groups. `run()` then uploads the feeds, encodes one
 * command buffer, submits once and reads back only the outputs.
 *
 * Concurrency: run() calls are serialized on an internal promise queue (a plan's
 * buffers are reused by every run).
 *
 * Shapes that depend on feed values (a Range or Reshape fed from a small input,
 * through any computation): when planning finds a data-dependent shape, the
 * program keys its plans on the values of its small CPU feeds (≤ 64 elements) and
 * plans again; each new value set then compiles a plan once. A shape that depends
 * on a value computed from data (Unsqueeze axes from an ArgMax) makes the graph a
 * schedule (control.ts) that reads that value back before the step needing it.
 * Shapes that depend on large or GPU-resident feeds stay an UnsupportedOpError.
 *
 * Device loss: the program watches `device.lost`. After loss every run() (and
 * prepare()) rejects with a {@link DeviceLostError} carrying the reason; the program
 * cannot recover — compile a new one on a new device.
 */
import { DeviceLostError, ExecutionError, InputError, LimitError } from '../../graph/errors.js';
import { checkFeeds } from '../../graph/feeds.js';
import type { Graph } from '../../graph/graph.js';
import type { ValueType } from '../../graph/op.js';
import { Tensor } from '../../graph/tensor.js';
import { NoneValue, TensorSequence } from '../../graph/value.js';
import { GpuTensor, GPU_TENSOR_USAGE } from './gpu-tensor.js';
import type { KernelLimits, KernelOptions } from './kernel.js';
import { getPipeline, pipelineCacheSize } from './pipelines.js';
import { DataDependentShapeError, planGraph, type ExecPlan } from './plan.js';
import { fromStorage, toStorage } from './storage.js';
import { copyGpu, type ControlProgram, type ControlRuntime, type ControlStats } from './control.js';

/** Largest feed (elements) whose values may key a plan when shapes depend on them. */
const MAX_VALUE_KEY = 64;

/** A feed: a CPU tensor or a GPU-resident one. */
export type Feed = Tensor | GpuTensor;

/** Options of {@link WebGpuProgram.run}. */
export interface RunOptions {
  /** Return outputs as {@link GpuTensor}s (new buffers the caller owns) instead of reading them back. */
  readonly outputsOnGpu?: boolean;
  /** With `outputsOnGpu`: outputs the plan folded to constants come back as CPU tensors (no upload). */
  readonly constantsOnHost?: boolean;
}

/** GPU time of one dispatch of the last profiled run. */
export interface WebGpuProfileEntry {
  readonly node: string;
  readonly op: string;
  readonly label: string;
  /** GPU nanoseconds between the start and end of the dispatch's compute pass. */
  readonly ns: number;
}

interface Realized {
  readonly plan: ExecPlan;
  readonly buffers: GPUBuffer[];
  readonly pipelines: GPUComputePipeline[];
  readonly bindGroups: GPUBindGroup[];
  /** One readback buffer per output place (`buffer@offset`; aliased outputs share it). */
  readonly readback: Map<string, { readonly slot: number; readonly offset: number; readonly buffer: GPUBuffer }>;
  readonly uniformBuffers: GPUBuffer[];
  readonly query?: { set: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer };
}

/** Where an output lives (`buffer@offset`), or undefined for a constant output. */
function placeKey(o: { readonly slot?: number; readonly offset?: number }): string | undefined {
  return o.slot === undefined ? undefined : `${o.slot}@${o.offset ?? 0}`;
}

/** Plans kept per program (least recently used evicted, its buffers freed). */
const MAX_PLANS = 16;

/** Bytes of the GPU buffers a realized plan holds (slots, readback, uniforms, timestamps). */
function realizedBytes(r: Realized): number {
  let n = 0;
  for (const b of r.buffers) n += b.size;
  for (const b of r.readback.values()) n += b.buffer.size;
  for (const b of r.uniformBuffers) n += b.size;
  if (r.query) n += r.query.resolve.size + r.query.read.size;
  return n;
}

/** Frees the GPU objects of a realized plan (work already submitted completes first). */
function destroyRealized(r: Realized): void {
  for (const b of r.buffers) b.destroy();
  for (const b of r.readback.values()) b.buffer.destroy();
  for (const b of r.uniformBuffers) b.destroy();
  r.query?.set.destroy();
  r.query?.resolve.destroy();
  r.query?.read.destroy();
}

/**
 * The device limits kernels see (workgroup invocations capped at 256 for
 * portability; storage bindings at `maxBindingBytes` when that is lower).
 */
export function kernelLimits(device: GPUDevice, maxBindingBytes = Infinity): KernelLimits {
  const l = device.limits;
  return {
    maxComputeInvocationsPerWorkgroup: Math.min(256, l.maxComputeInvocationsPerWorkgroup),
    maxComputeWorkgroupSizeX: Math.min(256, l.maxComputeWorkgroupSizeX),
    maxComputeWorkgroupSizeY: Math.min(256, l.maxComputeWorkgroupSizeY),
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBufferBindingSize: Math.min(l.maxStorageBufferBindingSize, maxBindingBytes),
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
  };
}

/** A graph compiled for one GPU device. Create with `compileWebGpu()`. */
export class WebGpuProgram {
  private readonly plans = new Map<string, Promise<Realized>>();
  /** The plans built and not yet freed (what {@link gpuBytes} counts). */
  private readonly live = new Set<Realized>();
  private current: Realized | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private lostReason: string | undefined;
  /** Graph inputs whose values key the plans (set when a shape turned out to depend on feed values). */
  private valueInputs: string[] | undefined;
  private released = false;
  /** True when the device has shader-f16 (float16 tensors are stored as f16). */
  readonly f16: boolean;
  /** Per-dispatch GPU times of the last run, when compiled with `profile` and the device has timestamp-query. */
  lastProfile: WebGpuProfileEntry[] = [];

  /** @internal use compileWebGpu(). */
  constructor(
    readonly graph: Graph,
    readonly device: GPUDevice,
    private readonly opts: { profile?: boolean; label?: string; kernelOptions?: KernelOptions | undefined; maxBindingBytes?: number; control?: { program: ControlProgram; runtime: ControlRuntime } } = {},
  ) {
    this.f16 = device.features.has('shader-f16');
    void device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
  }

  /** Number of dispatches per run of the most recently prepared plan (with control flow: of the last run). */
  get dispatchCount(): number { return this.opts.control ? this.opts.control.runtime.stats.dispatches : this.current?.plan.dispatches.length ?? 0; }
  /**
   * Bytes of GPU memory this program holds now: the buffers of every cached plan
   * (slots with constants and intermediates, readback staging, uniforms) and, with
   * control flow, those of its steps' programs. Outputs handed out on the GPU
   * (`outputsOnGpu`) belong to their GpuTensor and are not counted.
   */
  get gpuBytes(): number {
    let n = this.opts.control?.program.gpuBytes ?? 0;
    for (const r of this.live) n += realizedBytes(r);
    return n;
  }
  /** For a graph with control flow (If, Loop, Scan): dispatches, submits and readbacks of the last run (control.ts). */
  get controlStats(): Readonly<ControlStats> | undefined { return this.opts.control ? { ...this.opts.control.runtime.stats } : undefined; }
  /** Number of distinct pipelines the most recently prepared plan uses. */
  get pipelineCount(): number { return new Set(this.current?.pipelines ?? []).size; }
  /** Pipelines cached on this device across all programs. */
  get devicePipelineCount(): number { return pipelineCacheSize(this.device); }
  /** The generated WGSL of each dispatch of the most recently prepared plan, in order. */
  get shaders(): string[] { return this.current?.plan.dispatches.map((d) => d.shader) ?? []; }
  /** The most recently prepared plan (pure data), for inspection. */
  get plan(): ExecPlan | undefined { return this.current?.plan; }

  private checkAlive(): void {
    if (this.lostReason !== undefined) throw new DeviceLostError(`the WebGPU device was lost (${this.lostReason}); compile the graph again on a new device`);
    if (this.released) throw new ExecutionError('this WebGPU program was released');
  }

  /**
   * Plans and realizes the program for concrete input types (graph input name →
   * {dtype, shape}); cached per shape set. Runs call it themselves.
   */
  async prepare(types: Readonly<Record<string, Pick<ValueType, 'dtype'> & { shape: readonly number[] }>>): Promise<void> {
    // A graph with control flow plans each step at its first run (control.ts).
    if (this.opts.control) return;
    this.current = await this.realize(types);
  }

  private realize(types: Readonly<Record<string, Pick<ValueType, 'dtype'> & { shape: readonly number[] }>>): Promise<Realized> {
    this.checkAlive();
    checkFeeds(this.graph, types);
    const values = new Map<string, Tensor>();
    for (const name of this.valueInputs ?? []) {
      const f = types[name];
      if (f instanceof Tensor) values.set(name, f);
    }
    const key = this.graph.inputs
      .map((i) => `${types[i.name]!.dtype}[${types[i.name]!.shape.join(',')}]${values.has(i.name) ? `=${values.get(i.name)!.toArray().join(',')}` : ''}`)
      .join(';');
    let p = this.plans.get(key);
    if (!p) {
      const map = new Map<string, ValueType>(this.graph.inputs.map((i) => [i.name, { dtype: types[i.name]!.dtype, shape: types[i.name]!.shape }]));
      let plan: ExecPlan;
      try {
        plan = planGraph(this.graph, map, {
          limits: kernelLimits(this.device, this.opts.maxBindingBytes),
          f16: this.f16,
          subgroups: this.device.features.has('subgroups'),
          maxBufferSize: this.device.limits.maxBufferSize,
          kernelOptions: this.opts.kernelOptions,
        }, values);
      } catch (e) {
        // A shape depends on data: key plans on the values of the small CPU feeds and retry once.
        const small = this.graph.inputs.filter((i) => types[i.name] instanceof Tensor && (types[i.name] as Tensor).size <= MAX_VALUE_KEY);
        if (e instanceof DataDependentShapeError && this.valueInputs === undefined && small.length > 0) {
          this.valueInputs = small.map((i) => i.name);
          return this.realize(types);
        }
        throw e;
      }
      p = this.build(plan);
      this.plans.set(key, p);
      p.catch(() => this.plans.delete(key));
      while (this.plans.size > MAX_PLANS) {
        const [oldKey, old] = this.plans.entries().next().value as [string, Promise<Realized>];
        this.plans.delete(oldKey);
        void old.then((r) => this.drop(r), () => undefined);
      }
    } else {
      this.plans.delete(key);
      this.plans.set(key, p);
    }
    return p;
  }

  private async build(plan: ExecPlan): Promise<Realized> {
    const device = this.device;
    const usage = GPU_TENSOR_USAGE();
    const pipelines = await Promise.all(
      plan.dispatches.map((d) => getPipeline(device, d.shader, d.entryPoint, d.kinds, `node '${d.node}' (${d.op}, ${d.label})`)),
    );
    // Everything created here is destroyed again if a later step throws (e.g. a
    // constant outside the GPU's int range), so a failed build leaks nothing.
    const created: { destroy(): void }[] = [];
    const track = <T extends { destroy(): void }>(x: T): T => {
      created.push(x);
      return x;
    };
    try {
      // The device's memory as a whole may be short of the plan's buffers: a LimitError, not a lost device later.
      device.pushErrorScope('out-of-memory');
      let buffers: GPUBuffer[] = [];
      let failed: unknown;
      try {
        buffers = plan.slotBytes.map((size, k) => track(device.createBuffer({ size, usage, label: `kiln-slot-${k}` })));
      } catch (e) {
        failed = e;
      }
      const oom = await device.popErrorScope();
      if (oom) {
        const total = plan.slotBytes.reduce((a, b) => a + b, 0);
        throw new LimitError(`the plan needs ${total} bytes of GPU buffers (the largest ${Math.max(...plan.slotBytes)}), more memory than the device could give: ${oom.message}`);
      }
      if (failed !== undefined) throw failed;
      for (const c of plan.constants) device.queue.writeBuffer(buffers[c.slot]!, 0, toStorage(c.tensor, this.f16, c.name));
      const uniformBuffers: GPUBuffer[] = [];
      const bindGroups = plan.dispatches.map((d, k) => {
        const entries: GPUBindGroupEntry[] = d.slots.map((s, binding) => {
          const view = d.views?.[binding];
          return { binding, resource: view ? { buffer: buffers[s]!, offset: view.offset, size: view.size } : { buffer: buffers[s]! } };
        });
        if (d.uniforms) {
          const ub = track(device.createBuffer({ size: d.uniforms.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
          device.queue.writeBuffer(ub, 0, d.uniforms);
          uniformBuffers.push(ub);
          entries.push({ binding: d.slots.length, resource: { buffer: ub } });
        }
        return device.createBindGroup({ layout: pipelines[k]!.getBindGroupLayout(0), entries });
      });
      const readback: Realized['readback'] = new Map();
      for (const o of plan.outputs) {
        const key = placeKey(o);
        if (key !== undefined && !readback.has(key)) {
          const size = Math.max(...plan.outputs.filter((p) => placeKey(p) === key).map((p) => p.bytes!));
          readback.set(key, { slot: o.slot!, offset: o.offset ?? 0, buffer: track(device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })) });
        }
      }
      let query: Realized['query'];
      if (this.opts.profile && device.features.has('timestamp-query') && plan.dispatches.length > 0) {
        const count = plan.dispatches.length * 2;
        query = {
          set: track(device.createQuerySet({ type: 'timestamp', count })),
          resolve: track(device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC })),
          read: track(device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })),
        };
      }
      // Prepared tensors (e.g. transposed conv weights) live on the GPU now; keeping
      // them would hold a second host copy of those weights for the program's life.
      const kept = plan.constants.some((c) => c.prepared)
        ? { ...plan, constants: plan.constants.filter((c) => !c.prepared), plan: { ...plan.plan, constants: plan.plan.constants.filter((c) => !c.prepared) } }
        : plan;
      const realized: Realized = { plan: kept, buffers, pipelines, bindGroups, readback, uniformBuffers, ...(query ? { query } : {}) };
      this.live.add(realized);
      return realized;
    } catch (e) {
      for (const x of created) x.destroy();
      throw e;
    }
  }

  /**
   * Runs the graph. Feeds are CPU tensors or GpuTensors; outputs are CPU tensors,
   * or GpuTensors with `outputsOnGpu`. Calls are serialized.
   * @throws InputError for bad feeds, LimitError for int64 values outside i32,
   *   DeviceLostError after device loss.
   */
  run(feeds: Readonly<Record<string, Feed>>, opts?: RunOptions & { readonly outputsOnGpu?: false }): Promise<Record<string, Tensor>>;
  run(feeds: Readonly<Record<string, Feed>>, opts: RunOptions & { readonly outputsOnGpu: true }): Promise<Record<string, GpuTensor>>;
  run(feeds: Readonly<Record<string, Feed>>, opts?: RunOptions): Promise<Record<string, Tensor | GpuTensor>>;
  run(feeds: Readonly<Record<string, Feed>>, opts: RunOptions = {}): Promise<Record<string, Tensor | GpuTensor>> {
    const job = this.queue.then(() => this.runNow(feeds, opts));
    this.queue = job.catch(() => undefined);
    return job;
  }

  /**
   * Runs the graph on feeds of any kind — tensors (CPU or GPU), a TensorSequence for a
   * sequence input, for an optional its value or a NoneValue — and returns outputs of
   * any kind (sequences and optionals live on the host; their nodes run there,
   * control.ts). Tensor outputs are CPU tensors, or GpuTensors with `outputsOnGpu`.
   */
  runValues(feeds: Readonly<Record<string, Feed | TensorSequence | NoneValue>>, opts: RunOptions = {}): Promise<Record<string, Tensor | GpuTensor | TensorSequence | NoneValue>> {
    const job = this.queue.then(() => {
      this.checkAlive();
      return this.opts.control ? this.runControl(feeds, opts, true) : this.runNow(feeds as Readonly<Record<string, Feed>>, opts);
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Runs a graph with control flow as its schedule of host, GPU and control steps (control.ts). */
  private runControl(feeds: Readonly<Record<string, Feed | TensorSequence | NoneValue>>, opts: RunOptions, values: true): Promise<Record<string, Tensor | GpuTensor | TensorSequence | NoneValue>>;
  private runControl(feeds: Readonly<Record<string, Feed>>, opts: RunOptions): Promise<Record<string, Tensor | GpuTensor>>;
  private async runControl(feeds: Readonly<Record<string, Feed | TensorSequence | NoneValue>>, opts: RunOptions, values = false): Promise<Record<string, Tensor | GpuTensor | TensorSequence | NoneValue>> {
    const { program, runtime } = this.opts.control!;
    // Sequence and optional feeds are checked as such (feeds.ts).
    checkFeeds(this.graph, feeds as Readonly<Record<string, Feed>>);
    for (const [name, f] of Object.entries(feeds)) {
      if (f instanceof GpuTensor && f.device !== this.device) throw new InputError(`input '${name}' is a GPU tensor of another device`, name);
    }
    runtime.stats = { dispatches: 0, submits: 0, readbacks: 0, hostNodes: 0, iterations: 0 };
    const outs = await program.run(new Map(this.graph.inputs.map((i) => [i.name, feeds[i.name]!])));
    this.checkAlive();
    const fed = new Set<unknown>(Object.values(feeds));
    const result: Record<string, Tensor | GpuTensor | TensorSequence | NoneValue> = {};
    const downloads = new Map<GpuTensor, Promise<Tensor>>();
    try {
      for (const [i, o] of this.graph.outputs.entries()) {
        const v = outs[i]!;
        if (v instanceof TensorSequence || v instanceof NoneValue) {
          if (!values) throw new ExecutionError(`graph output '${o.name}' is ${v.toString()}, not a tensor; use runValues() for sequence and optional outputs`, o.name);
          result[o.name] = v;
        } else if (opts.outputsOnGpu) {
          result[o.name] = v instanceof Tensor ? GpuTensor.upload(this.device, v, o.name) : fed.has(v) ? copyGpu(v, runtime) : v;
        } else if (v instanceof Tensor) {
          result[o.name] = v;
        } else {
          if (!downloads.has(v)) downloads.set(v, v.download());
          result[o.name] = await downloads.get(v)!;
        }
      }
    } finally {
      for (const t of downloads.keys()) if (!fed.has(t)) t.destroy();
    }
    return result;
  }

  private async runNow(feeds: Readonly<Record<string, Feed>>, opts: RunOptions): Promise<Record<string, Tensor | GpuTensor>> {
    this.checkAlive();
    if (this.opts.control) return this.runControl(feeds, opts);
    const r = await this.realize(feeds);
    this.current = r;
    const { plan, buffers } = r;
    const device = this.device;
    const enc = device.createCommandEncoder({ label: this.opts.label ?? 'kiln' });
    for (const inp of plan.inputs) {
      const f = feeds[inp.name]!;
      if (f instanceof GpuTensor) {
        if (f.device !== device) throw new InputError(`input '${inp.name}' is a GPU tensor of another device`, inp.name);
        if (f.byteLength > 0 && f.size > 0) enc.copyBufferToBuffer(f.buffer, 0, buffers[inp.slot!]!, 0, f.byteLength);
      } else if (f.size > 0) {
        device.queue.writeBuffer(buffers[inp.slot!]!, 0, toStorage(f, this.f16, `input '${inp.name}'`));
      }
    }
    device.pushErrorScope('validation');
    if (r.query) {
      plan.dispatches.forEach((d, k) => {
        const pass = enc.beginComputePass({ timestampWrites: { querySet: r.query!.set, beginningOfPassWriteIndex: 2 * k, endOfPassWriteIndex: 2 * k + 1 } });
        pass.setPipeline(r.pipelines[k]!);
        pass.setBindGroup(0, r.bindGroups[k]!);
        pass.dispatchWorkgroups(...d.workgroups);
        pass.end();
      });
      enc.resolveQuerySet(r.query.set, 0, plan.dispatches.length * 2, r.query.resolve, 0);
      enc.copyBufferToBuffer(r.query.resolve, 0, r.query.read, 0, plan.dispatches.length * 16);
    } else if (plan.dispatches.length > 0) {
      const pass = enc.beginComputePass();
      plan.dispatches.forEach((d, k) => {
        pass.setPipeline(r.pipelines[k]!);
        pass.setBindGroup(0, r.bindGroups[k]!);
        pass.dispatchWorkgroups(...d.workgroups);
      });
      pass.end();
    }
    const gpuOut = new Map<string, GpuTensor>();
    if (opts.outputsOnGpu) {
      for (const o of plan.outputs) {
        if (o.slot === undefined) continue;
        const bytes = o.bytes!;
        const buf = device.createBuffer({ size: bytes, usage: GPU_TENSOR_USAGE() });
        enc.copyBufferToBuffer(buffers[o.slot]!, o.offset ?? 0, buf, 0, bytes);
        gpuOut.set(o.name, new GpuTensor(device, o.dtype, o.shape, buf, this.f16));
      }
    } else {
      for (const rb of r.readback.values()) enc.copyBufferToBuffer(buffers[rb.slot]!, rb.offset, rb.buffer, 0, rb.buffer.size);
    }
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new ExecutionError(`WebGPU validation error while running: ${err.message}`);

    const result: Record<string, Tensor | GpuTensor> = {};
    const bytesByPlace = new Map<string, ArrayBuffer>();
    try {
      if (!opts.outputsOnGpu) {
        await Promise.all([...r.readback].map(async ([key, { buffer: rb }]) => {
          await rb.mapAsync(GPUMapMode.READ);
          bytesByPlace.set(key, rb.getMappedRange().slice(0));
          rb.unmap();
        }));
      }
      if (r.query) {
        await r.query.read.mapAsync(GPUMapMode.READ);
        const ts = new BigUint64Array(r.query.read.getMappedRange().slice(0));
        r.query.read.unmap();
        this.lastProfile = plan.dispatches.map((d, k) => ({ node: d.node, op: d.op, label: d.label, ns: Number(ts[2 * k + 1]! - ts[2 * k]!) }));
      }
    } catch (e) {
      this.checkAlive();
      throw new ExecutionError(`reading WebGPU results failed: ${(e as Error).message}`);
    }
    this.checkAlive();
    for (const o of plan.outputs) {
      if (o.slot === undefined) {
        result[o.name] = opts.outputsOnGpu && !opts.constantsOnHost ? GpuTensor.upload(device, o.constant!, o.name) : o.constant!;
      } else if (opts.outputsOnGpu) {
        result[o.name] = gpuOut.get(o.name)!;
      } else {
        result[o.name] = fromStorage(bytesByPlace.get(placeKey(o)!)!, o.dtype, o.shape, this.f16);
      }
    }
    return result;
  }

  /** Frees a realized plan's buffers and stops counting them. */
  private drop(r: Realized): void {
    this.live.delete(r);
    destroyRealized(r);
  }

  /** Frees every buffer of every cached plan (pipelines stay cached on the device). */
  release(): void {
    this.released = true;
    this.opts.control?.program.release();
    for (const p of this.plans.values()) void p.then((r) => this.drop(r), () => undefined);
    this.plans.clear();
    this.current = undefined;
  }
}
