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
 * shape set. One thread. The step loop (inputs by name, values dropped after their
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
import { ExecutionError, KilnError, LimitError } from '../../graph/errors.js';
import type { ValueType } from '../../graph/op.js';
import { opOf } from '../../graph/infer.js';
import { sizeOf } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';
import { verify } from '../../graph/verify.js';
import { planExecution, type ExecutionPlan } from '../../passes/exec-plan.js';
import { compileCpu, cpuTarget, type CpuProgram } from '../cpu/index.js';
import { collectOutputs, feedKey, feedType, placeInArena, runSteps, storeOutputs, tensorsOnly } from '../cpu/steps.js';
import { ModuleBuilder, type FnBuilder } from './encoder.js';
import { wasmKernelOf, type WasmRun, type WasmRuntime } from './kernel.js';
import { registerWasmKernels } from './kernels.js';
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

  /** @internal use {@link compileWasm}. */
  constructor(readonly graph: Graph, private readonly profile = false) {
    registerWasmKernels();
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
      plan = planExecution(this.graph, types, cpuTarget());
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
    while (this.plans.size > MAX_PLANS) this.plans.delete(this.plans.keys().next().value as string);
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
    const arenaBase = align(constTop);
    const stageBase = align(arenaBase + plan.peakBytes);
    const stageEnd = stageBase + stage;
    const total = stageEnd + ALIGN;
    const pages = Math.ceil(total / PAGE);
    if (pages > 65536) throw new LimitError(`the wasm plan needs ${total} bytes of memory, more than WebAssembly's 4 GiB`);
    const memory = new WebAssembly.Memory({ initial: pages });
    const f32 = new Float32Array(memory.buffer);
    for (const c of consts) f32.set(c.data, c.addr / 4);
    let exports: Record<string, (...args: number[]) => void> = {};
    let moduleBytes = 0;
    if (mb.names.length) {
      const bytes = mb.encode();
      moduleBytes = bytes.length;
      if (!WebAssembly.validate(bytes)) throw new ExecutionError(`the wasm module Kiln emitted for '${this.graph.name}' does not validate (an encoder bug)`, this.graph.name);
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      exports = instance.exports as Record<string, (...args: number[]) => void>;
    }
    // Plan-time constants the wasm steps read, as tensors on their memory copies.
    const constViews = new Map([...constAddr].map(([v, addr]) => {
      const t = plan.values.get(v) ?? this.graph.initializers.get(v)!;
      return [v, new Tensor('float32', t.shape as number[], new Float32Array(memory.buffer, addr, t.size))] as const;
    }));
    return { plan, memory, runners, arenaBase, stageBase, stageEnd, tmp: ALIGN, exports, moduleBytes, constViews };
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
export function compileWasm(graph: Graph, opts: { profile?: boolean; skipVerify?: boolean } = {}): WasmProgram {
  if (!opts.skipVerify) verify(graph);
  return new WasmProgram(graph, opts.profile ?? false);
}
