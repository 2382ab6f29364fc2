/**
 * The wasm backend's kernel contract. A kernel is attached to an op handle under the
 * {@link WASM_KERNEL} trait (as the WebGPU kernels are under theirs). At plan time
 * `prepare` sees one node with concrete types and the plan's constants; it asks for
 * the functions it needs (emitted once per module, deduplicated by key), copies
 * packed constants into the module's memory and reserves scratch bytes, and returns
 * the runner — or undefined when this node's shapes or dtypes are outside what the
 * kernel covers, in which case the node runs on the CPU reference (same buffers).
 */
import type { Node } from '../../graph/graph.js';
import { getTrait, setTrait, traitKey, type OpDef, type ValueType } from '../../graph/op.js';
import type { Tensor } from '../../graph/tensor.js';
import type { FnBuilder } from './encoder.js';
import type { WasmCall } from './threads.js';

export type { WasmCall } from './threads.js';

/**
 * How a step's work is cut for threads, fixed at plan time by {@link WasmPrepareContext.split}:
 * chunks [u0, u1) of the step's units, in order, covering them all. One chunk [0, units)
 * when the module runs one thread or the step is too small to gain from more.
 */
export interface WasmSplit {
  readonly chunks: readonly (readonly [u0: number, u1: number])[];
}

/** What a kernel sees of its node at plan time. */
export interface WasmPrepareContext {
  readonly node: Node;
  /** Concrete input types (undefined for an omitted input). */
  readonly inputs: readonly (ValueType | undefined)[];
  readonly outputs: readonly ValueType[];
  /** The plan-time value of input `i` (an initializer or folded constant), if it has one. */
  constant(i: number): Tensor | undefined;
  /** The export name of the function `key`, built by `build` the first time a key is asked for. */
  fn(key: string, build: () => FnBuilder): string;
  /** Copies float32 data into the module's constant region (64-byte aligned); returns its byte address. */
  allocConst(data: Float32Array): number;
  /** Reserves `bytes` of per-step scratch (beyond the staging of non-resident inputs). */
  scratch(bytes: number): void;
  /** Threads the module may use (the calling one included; 1 runs everything on it). */
  readonly threads: number;
  /**
   * Cuts `units` independent units of work (rows, panels, planes), about `ns`
   * nanoseconds on one thread in all, into chunks for {@link WasmRuntime.parallel}.
   */
  split(units: number, ns: number): WasmSplit;
}

/** What a runner gets at run time. */
export interface WasmRuntime {
  /** The whole memory as float32. */
  readonly f32: Float32Array;
  /** An exported function by the name {@link WasmPrepareContext.fn} returned. */
  call(name: string, ...args: number[]): void;
  /** The byte address of a float32 tensor in memory (copied into this step's staging when it lives elsewhere). */
  addrOf(t: Tensor): number;
  /** 64 bytes of scratch for a kernel's partial-panel stores (any step, any call). */
  readonly tmp: number;
  /** `bytes` of this step's scratch (64-byte aligned); valid until the step ends. */
  stage(bytes: number): number;
  /**
   * Runs `calls(u0, u1, tmp)` for every chunk of `split` and returns when all have
   * run: chunks may run at once on several threads (each chunk's calls in order, on
   * one thread), so they must write disjoint bytes; `tmp` is 64 bytes of that chunk's
   * own (for partial-panel stores). A one-chunk split runs here, with {@link tmp}.
   */
  parallel(split: WasmSplit, calls: (u0: number, u1: number, tmp: number) => readonly WasmCall[]): void;
}

/** Runs one node: reads its inputs, writes output 0 at byte address `out`. */
export type WasmRun = (rt: WasmRuntime, inputs: readonly (Tensor | undefined)[], out: number) => void;

/** A wasm kernel of one op. */
export interface WasmKernel {
  /** The runner for this node, or undefined to leave it to the reference. */
  prepare(ctx: WasmPrepareContext): WasmRun | undefined;
}

/** The trait under which an op's wasm kernel is stored. */
export const WASM_KERNEL = traitKey<WasmKernel>('wasm.kernel');

/** Registers the wasm kernel of an op. */
export function registerWasmKernel(op: OpDef, kernel: WasmKernel): void {
  setTrait(op, WASM_KERNEL, kernel);
}

/** The wasm kernel of an op, if registered. */
export function wasmKernelOf(op: OpDef): WasmKernel | undefined {
  return getTrait(op, WASM_KERNEL);
}
