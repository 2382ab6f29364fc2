/**
 * The wasm backend: the optimized graph and the shared execution plan
 * (src/passes/exec-plan.ts, on the CPU target) lowered to one WebAssembly SIMD128
 * module per graph and input shapes. The module's memory holds, in order: the
 * constants the kernels prepared (packed GEMM weights, biases), the plan's arena
 * (every planned value at its plan offset, exactly as the CPU backend lays them out
 * in its ArrayBuffer), and per-step scratch (im2col columns, staged inputs that live
 * outside the memory). Each step runs its op's wasm kernel when one is registered
 * and covers the node's types (kernel.ts; GEMM family, elementwise expressions,
 * fused groups); every other node runs its CPU reference and its outputs are stored
 * into the same planned bytes. The module is emitted by Kiln's own encoder
 * (encoder.ts), validated by the engine (WebAssembly.validate) and cached per input
 * shape set. Threads (threads.ts): with more than one, a plan whose kernels split
 * some step (GEMMs, elementwise, rows and windows past a work threshold) gets a shared
 * memory and its module is instantiated on the pool's workers too; those steps run
 * their chunks on every thread, the others (and every plan without such a step) on
 * the calling thread alone, as with one thread. The step loop (inputs by name, values dropped after their
 * last use, outputs placed and handed out) is the CPU backend's (../cpu/steps.ts);
 * sequences and optionals flow through {@link WasmProgram.runValues} as there, and
 * a feed set the planner cannot type runs on the CPU reference, as the CPU backend
 * runs it unplanned.
 */
import { storageClass } from '../../graph/dtype.js';
import { checkFeeds } from '../../graph/feeds.js';
import type { Graph } from '../../graph/graph.js';
import { runValueReference } from '../../graph/reference.js';
import type { Value } from '../../graph/value.js';
import { ExecutionError, InputError, KilnError, LimitError } from '../../graph/errors.js';
import type { ValueType } from '../../graph/op.js';
import { opOf } from '../../graph/infer.js';
import { sizeOf } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';
import { verify } from '../../graph/verify.js';
import { planExecution, type ExecutionPlan } from '../../passes/exec-plan.js';
import { compileCpu, type CpuProgram } from '../cpu/index.js';
import { collectOutputs, feedKey, feedType, placeInArena, runSteps, storeOutputs, tensorsOnly } from '../cpu/steps.js';
import { ModuleBuilder, type FnBuilder } from './encoder.js';
import { wasmKernelOf, type WasmRun, type WasmRuntime, type WasmSplit } from './kernel.js';
import { registerWasmKernels } from './kernels.js';
import { wasmTarget } from './plan.js';
import { hardwareThreads, MAX_THREADS, sharedPool, threadsUnavailable, type PoolFn, type WasmCall, type WasmPool } from './threads.js';
import '../../graph/ops/index.js';

/** Per-node timing collected when profiling. */
export interface WasmProfileEntry {
  readonly node: string;
  readonly op: string;
  readonly ms: number;
  /** True when the node ran in wasm, false when on the CPU reference. */
  readonly wasm: boolean;
}

/** Plans kept per program (least recently used evicted). */
const MAX_PLANS = 16;
const ALIGN = 64;
const PAGE = 65536;

const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** A step splits only when it takes at least this long on one thread (ns, estimated). */
const SPLIT_MIN_NS = 30_000;
/** Chunks of at least this much work (ns), so a task outweighs taking it. */
const CHUNK_MIN_NS = 10_000;
/** Chunks per thread at most (smaller chunks balance threads that share cores). */
const CHUNKS_PER_THREAD = 4;
/** Chunks per step at most (each has its own 64-byte tmp). */
const MAX_CHUNKS = 64;

/** The chunks of `units` units of `ns` nanoseconds of work for `threads` threads (see {@link WasmSplit}). */
export function splitChunks(units: number, ns: number, threads: number): WasmSplit {
  const n = threads <= 1 || units <= 1 || !(ns >= SPLIT_MIN_NS)
    ? 1
    : Math.min(units, MAX_CHUNKS, threads * CHUNKS_PER_THREAD, Math.max(threads, Math.floor(ns / CHUNK_MIN_NS)));
  const chunks: (readonly [number, number])[] = [];
  for (let k = 0; k < n; k++) chunks.push([Math.round((k * units) / n), Math.round(((k + 1) * units) / n)]);
  return { chunks };
}

/** The thread count of a program: `requested`, else the machine's cores; 1 where threads are unavailable. */
function threadCount(requested: number | undefined, onNotice: (m: string) => void): number {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 0)) throw new InputError(`numThreads must be a non-negative integer (0: the machine's cores), got ${requested}`);
  const n = Math.min(MAX_THREADS, requested ? requested : hardwareThreads());
  if (n <= 1) return 1;
  const why = threadsUnavailable();
  if (why === undefined) return n;
  if (!noticed) {
    noticed = true;
    onNotice(`kiln: notice: the wasm backend runs one thread: ${why}`);
  }
  return 1;
}
/** The one-thread notice was given (once per JS thread). */
let noticed = false;

/** Programs collected without release() drop their modules from the workers. */
const collected = new FinalizationRegistry<{ pool: WasmPool; mids: Set<number> }>(({ pool, mids }) => {
  for (const mid of mids) pool.dropModule(mid);
});

/** A plan lowered to one instantiated module. */
interface Lowered {
  readonly plan: ExecutionPlan;
  readonly memory: WebAssembly.Memory;
  readonly runners: readonly (WasmRun | undefined)[];
  readonly arenaBase: number;
  readonly stageBase: number;
  readonly stageEnd: number;
  readonly tmp: number;
  readonly exports: Readonly<Record<string, (...args: number[]) => void>>;
  /** Bytes of the module. */
  readonly moduleBytes: number;
  /** Plan-time constants the wasm steps read, viewing their copies in the memory. */
  readonly constViews: ReadonlyMap<string, Tensor>;
  /** The exported functions as the pool calls them (by name). */
  readonly fns: ReadonlyMap<string, PoolFn>;
  /** 64 bytes per chunk of a split step (chunk k at chunkTmp + 64k). */
  readonly chunkTmp: number;
  /** The module's id in the pool, when some step splits (its memory is shared). */
  readonly mid?: number;
}

/** A feed set the planner could not type: it runs on the CPU reference (the reason). */
interface Unplanned {
  readonly unplanned: string;
}

/** A graph prepared for the wasm backend. */
export class WasmProgram {
  private readonly plans = new Map<string, Lowered | Unplanned>();
  private current: Lowered | Unplanned | undefined;
  /** The CPU reference program for feed sets the planner cannot type (made at the first). */
  private reference: CpuProgram | undefined;
  /** Timings of the last run when `profile` was set. */
  lastProfile: WasmProfileEntry[] = [];

  /** Threads this program uses (the calling one included). */
  readonly threads: number;
  /** The pool of this JS thread, when {@link threads} > 1. */
  private readonly pool: WasmPool | undefined;
  /** Pool ids of this program's modules (dropped from the workers when it is released or collected). */
  private readonly mids = new Set<number>();

  /** @internal use {@link compileWasm}. */
  constructor(readonly graph: Graph, private readonly profile = false, threads = 1) {
    registerWasmKernels();
    // Workers start now, so that they are up by the first run (a browser starts them only between tasks).
    this.pool = threads > 1 ? sharedPool(threads - 1) : undefined;
    this.threads = this.pool ? threads : 1;
    if (this.pool) collected.register(this, { pool: this.pool, mids: this.mids });
  }

  /** Drops every plan (and its module from the workers); the program plans again at its next run. */
  release(): void {
    for (const l of this.plans.values()) this.drop(l);
    this.plans.clear();
    this.current = undefined;
  }

  private drop(l: Lowered | Unplanned): void {
    if ('mid' in l && l.mid !== undefined) {
      this.pool?.dropModule(l.mid);
      this.mids.delete(l.mid);
    }
  }

  /** The execution plan of the most recent run. */
  get plan(): ExecutionPlan | undefined { return this.lowered?.plan; }
  /** Why the most recent run had no plan (and ran on the CPU reference), if it did not. */
  get unplannedReason(): string | undefined { return this.current && 'unplanned' in this.current ? this.current.unplanned : undefined; }
  /** The most recent run's lowered plan (undefined when it ran unplanned). */
  private get lowered(): Lowered | undefined { return this.current && 'unplanned' in this.current ? undefined : this.current; }
  /** How many steps of the most recent plan run in wasm, and how many on the reference (views excluded). */
  get coverage(): { wasm: number; reference: number; wasmOps: string[]; referenceOps: string[] } {
    const l = this.lowered;
    const wasmOps = new Set<string>(), refOps = new Set<string>();
    let w = 0, r = 0;
    l?.plan.steps.forEach((s, i) => {
      if (s.aliasOf !== undefined) return;
      if (l.runners[i]) { w++; wasmOps.add(s.node.op); } else { r++; refOps.add(s.node.op); }
    });
    return { wasm: w, reference: r, wasmOps: [...wasmOps].sort(), referenceOps: [...refOps].sort() };
  }
  /** Bytes of the most recent plan's module. */
  get moduleBytes(): number { return this.lowered?.moduleBytes ?? 0; }

  private lower(feeds: Readonly<Record<string, Value>>): Lowered | Unplanned {
    const key = this.graph.inputs.map((i) => feedKey(feeds[i.name]!)).join(';');
    const hit = this.plans.get(key);
    if (hit) {
      this.plans.delete(key);
      this.plans.set(key, hit);
      return hit;
    }
    const types = new Map<string, ValueType>(this.graph.inputs.map((i) => [i.name, feedType(i, feeds[i.name]!)]));
    let plan: ExecutionPlan;
    try {
      plan = planExecution(this.graph, types, wasmTarget());
    } catch (e) {
      // As on the CPU backend: a graph planning cannot type still runs, op by op, and
      // the reference ops report the problem with the node's name.
      if (!(e instanceof KilnError) || e instanceof LimitError) throw e;
      return this.keep(key, { unplanned: e.message });
    }
    return this.keep(key, this.build(plan));
  }

  /** Caches a lowered (or unplanned) feed set, evicting the least recently used beyond {@link MAX_PLANS}. */
  private keep<T extends Lowered | Unplanned>(key: string, l: T): T {
    this.plans.set(key, l);
    while (this.plans.size > MAX_PLANS) {
      const oldest = this.plans.keys().next().value as string;
      this.drop(this.plans.get(oldest)!);
      this.plans.delete(oldest);
    }
    return l;
  }

  /** Emits, validates and instantiates the module of one plan, with its memory laid out. */
  private build(plan: ExecutionPlan): Lowered {
    const mb = new ModuleBuilder();
    const fnNames = new Map<string, string>();
    const consts: { addr: number; data: Float32Array }[] = [];
    const constAddr = new Map<string, number>();
    let constTop = ALIGN * 2; // [0, 64): unused (address 0 is 'no buffer'), [64, 128): tmp
    let stage = 0;
    let splits = false;
    const threads = this.threads;
    const allocConst = (data: Float32Array): number => {
      const addr = constTop;
      consts.push({ addr, data });
      constTop = align(constTop + data.byteLength);
      return addr;
    };
    const runners = plan.steps.map((step): WasmRun | undefined => {
      const node = step.node;
      if (step.aliasOf !== undefined) return undefined;
      const kernel = wasmKernelOf(opOf(node));
      const out0 = node.outputs[0];
      if (!kernel || node.outputs.length !== 1 || !out0 || !plan.assignments.has(out0)) return undefined;
      const inputs = node.inputs.map((v) => (v === '' ? undefined : plan.types.get(v)));
      const outputs = node.outputs.map((o) => plan.types.get(o)!);
      let scratch = 0;
      const run = kernel.prepare({
        node,
        inputs,
        outputs,
        constant: (i) => {
          const v = node.inputs[i];
          return v ? plan.values.get(v) ?? this.graph.initializers.get(v) : undefined;
        },
        fn: (k, build: () => FnBuilder) => {
          let n = fnNames.get(k);
          if (!n) {
            n = `f${fnNames.size}`;
            fnNames.set(k, n);
            mb.add(n, build());
          }
          return n;
        },
        allocConst,
        scratch: (bytes) => { scratch += align(bytes); },
        threads,
        split: (units, ns) => {
          const s = splitChunks(units, ns, threads);
          if (s.chunks.length > 1) splits = true;
          return s;
        },
      });
      if (!run) return undefined;
      // Staging for inputs that may live outside the memory (feeds, constants not yet copied).
      for (const t of inputs) if (t && t.shape.every((d) => typeof d === 'number')) scratch += align(sizeOf(t.shape as number[]) * storageClass(t.dtype).BYTES_PER_ELEMENT);
      stage = Math.max(stage, scratch);
      return run;
    });
    // Constants read by wasm steps are copied in once, next to the packed ones.
    for (const [i, step] of plan.steps.entries()) {
      if (!runners[i]) continue;
      for (const v of step.node.inputs) {
        const t = v ? plan.values.get(v) ?? this.graph.initializers.get(v) : undefined;
        if (t && t.dtype === 'float32' && !constAddr.has(v)) constAddr.set(v, allocConst(t.data as Float32Array));
      }
    }
    const chunkTmp = splits ? allocConst(new Float32Array(MAX_CHUNKS * ALIGN / 4)) : ALIGN;
    const arenaBase = align(constTop);
    const stageBase = align(arenaBase + plan.peakBytes);
    const stageEnd = stageBase + stage;
    const total = stageEnd + ALIGN;
    const pages = Math.ceil(total / PAGE);
    if (pages > 65536) throw new LimitError(`the wasm plan needs ${total} bytes of memory, more than WebAssembly's 4 GiB`);
    const shared = splits && this.pool !== undefined && mb.names.length > 0;
    const memory = shared ? new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }) : new WebAssembly.Memory({ initial: pages });
    const f32 = new Float32Array(memory.buffer);
    for (const c of consts) f32.set(c.data, c.addr / 4);
    let exports: Record<string, (...args: number[]) => void> = {};
    let moduleBytes = 0;
    let mid: number | undefined;
    const fns = new Map<string, PoolFn>();
    if (mb.names.length) {
      const bytes = mb.encode(shared ? pages : undefined);
      moduleBytes = bytes.length;
      if (!WebAssembly.validate(bytes)) throw new ExecutionError(`the wasm module Kiln emitted for '${this.graph.name}' does not validate (an encoder bug)`, this.graph.name);
      const module = new WebAssembly.Module(bytes);
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      exports = instance.exports as Record<string, (...args: number[]) => void>;
      mb.names.forEach((n, index) => fns.set(n, { index, f32Mask: mb.f32Mask(n), fn: exports[n]! }));
      if (shared) {
        mid = this.pool!.addModule(module, memory, mb.names, threads - 1);
        this.mids.add(mid);
      }
    }
    // Plan-time constants the wasm steps read, as tensors on their memory copies.
    const constViews = new Map([...constAddr].map(([v, addr]) => {
      const t = plan.values.get(v) ?? this.graph.initializers.get(v)!;
      return [v, new Tensor('float32', t.shape as number[], new Float32Array(memory.buffer, addr, t.size))] as const;
    }));
    return { plan, memory, runners, arenaBase, stageBase, stageEnd, tmp: ALIGN, exports, moduleBytes, constViews, fns, chunkTmp, ...(mid !== undefined ? { mid } : {}) };
  }

  /** Runs the graph on named feeds (tensors) and returns the named outputs (all tensors: see {@link runValues} for sequences and optionals). */
  run(feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    return tensorsOnly(this.runValues(feeds));
  }

  /**
   * Runs the graph on named feeds of any kind (tensors, sequences, optionals, as the
   * CPU backend takes them) and returns the named outputs, sequences and optionals
   * included. A graph the planner cannot type for these feeds runs on the CPU
   * reference, op by op, as the CPU backend runs it.
   */
  runValues(feeds: Readonly<Record<string, Value>>): Record<string, Value> {
    checkFeeds(this.graph, feeds as Readonly<Record<string, Tensor>>, { requireData: true });
    const l = this.lower(feeds);
    this.current = l;
    if ('unplanned' in l) {
      this.reference ??= compileCpu(this.graph, { skipVerify: true, profile: this.profile });
      const out = this.reference.runValues(feeds);
      this.lastProfile = this.reference.lastProfile.map((e) => ({ ...e, wasm: false }));
      return out;
    }
    const { plan, memory, runners, arenaBase, constViews } = l;
    const buf = memory.buffer;
    const f32 = new Float32Array(buf);
    let top = l.stageBase;
    let runningNode = this.graph.name;
    const rt: WasmRuntime = {
      f32,
      tmp: l.tmp,
      call: (name, ...args) => l.exports[name]!(...args),
      stage: (bytes) => {
        const at = top;
        top = align(top + bytes);
        if (top > l.stageEnd) throw new ExecutionError(`wasm staging overflow (${top - l.stageBase} bytes; an internal sizing bug)`, this.graph.name);
        return at;
      },
      addrOf: (t) => {
        if (t.data.buffer === buf) return t.data.byteOffset;
        const at = rt.stage(t.data.byteLength);
        f32.set(t.data as Float32Array, at / 4);
        return at;
      },
      parallel: (split, calls) => {
        const { chunks } = split;
        if (chunks.length === 1) {
          for (const [name, ...args] of calls(chunks[0]![0], chunks[0]![1], l.tmp)) l.exports[name]!(...args);
          return;
        }
        const tasks: (readonly WasmCall[])[] = chunks.map(([u0, u1], k) => calls(u0, u1, l.chunkTmp + k * ALIGN));
        if (l.mid !== undefined && this.pool) this.pool.run(l.mid, { tasks, fns: l.fns }, this.threads - 1, runningNode);
        else for (const t of tasks) for (const [name, ...args] of t) l.exports[name]!(...args);
      },
    };
    const prof: WasmProfileEntry[] = [];
    const env = runSteps(this.graph, plan.steps.map((s) => s.node), feeds, (node, idx, ins, env) => {
      const step = plan.steps[idx]!;
      const runner = runners[idx];
      const out0 = node.outputs[0];
      if (step.aliasOf !== undefined && out0 && ins[step.aliasOf] instanceof Tensor) {
        env.set(out0, (ins[step.aliasOf] as Tensor).reshape(plan.types.get(out0)!.shape as number[]));
      } else if (runner && out0) {
        top = l.stageBase;
        runningNode = node.name;
        const a = plan.assignments.get(out0)!;
        const shape = plan.types.get(out0)!.shape as number[];
        const tensors = ins.map((t, k) => (t instanceof Tensor ? constViews.get(node.inputs[k]!) ?? t : undefined));
        runner(rt, tensors, arenaBase + a.offset);
        env.set(out0, new Tensor('float32', shape, new Float32Array(buf, arenaBase + a.offset, sizeOf(shape))));
      } else {
        storeOutputs(node, runValueReference(node, ins, {}), env, (o, t) => placeInArena(plan, buf, arenaBase, node.name, o, t));
      }
    }, this.profile ? (node, idx, ms) => prof.push({ node: node.name, op: node.op, ms, wasm: runners[idx] !== undefined }) : undefined);
    this.lastProfile = prof;
    return collectOutputs(this.graph, env, plan, buf);
  }
}

/** Verifies a graph and prepares it for the wasm backend (modules are built per input shapes at the first run). */
export function compileWasm(graph: Graph, opts: WasmCompileOptions = {}): WasmProgram {
  if (!opts.skipVerify) verify(graph);
  const threads = threadCount(opts.numThreads, opts.onNotice ?? ((m) => console.warn(m)));
  return new WasmProgram(graph, opts.profile ?? false, threads);
}

/** Options of {@link compileWasm}. */
export interface WasmCompileOptions {
  /** Collect per-node timings ({@link WasmProgram.lastProfile}). */
  readonly profile?: boolean;
  /** Skip verify() of the graph (the caller verified it). */
  readonly skipVerify?: boolean;
  /**
   * Threads, the calling one included (ONNX Runtime's `env.wasm.numThreads`); 0 or
   * undefined: the machine's cores; 1: the calling thread alone. Where threads are
   * unavailable (a page that is not cross-origin isolated) one thread, with a notice.
   */
  readonly numThreads?: number;
  /** Receives the one-thread notice (default: console.warn); given once per JS thread. */
  readonly onNotice?: (message: string) => void;
}
