/**
 * Training state: values that persist across runs of a program and are replaced by
 * its outputs after each run (parameters, optimizer moments, the step count, BN
 * running statistics). A {@link StatefulProgram} is a compiled graph plus a binding
 * `state input ← output`: each run feeds the caller's batch and the current state,
 * then the state outputs become the next run's state inputs.
 *
 * Design: the binding lives at the session level, so the IR, the passes and the
 * executor are unchanged — to them a state value is an ordinary graph input and its
 * update an ordinary output, so the step is optimized, fused and memory-planned like
 * any graph. On WebGPU the program runs with `outputsOnGpu`, so the new state comes
 * back as GpuTensors that are fed to the next run as they are: parameters and moments
 * stay on the GPU between steps, and a step uploads only the batch (plus the two
 * scalars of the learning rate, when fed). Each run writes the new state into fresh
 * output buffers and the previous state's buffers are freed after it (double
 * buffering rather than in-place update, which keeps the plan free of aliasing).
 */
import { ExecutionError, InputError } from '../graph/errors.js';
import type { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { GpuTensor } from '../backends/webgpu/gpu-tensor.js';
import { InferenceSession, type SessionOptions } from '../session/inference-session.js';

/** A state value: the graph input it is fed as, and the output that replaces it. */
export interface StateBinding {
  readonly input: string;
  readonly output: string;
}

/** A held state value: on the CPU, or on the GPU. */
export type StateValue = Tensor | GpuTensor;

/** A compiled graph whose state inputs are bound to its outputs across runs. */
export class StatefulProgram {
  private constructor(
    readonly session: InferenceSession,
    readonly bindings: readonly StateBinding[],
    private readonly onGpu: boolean,
  ) {}

  /**
   * Compiles `graph`; every binding's input and output must exist with the same dtype.
   * @param graph the program (state values are among its inputs and outputs)
   * @param bindings state input ← output pairs
   * @param opts session options (backend, device, optimization level)
   */
  static async create(graph: Graph, bindings: readonly StateBinding[], opts: SessionOptions): Promise<StatefulProgram> {
    for (const s of bindings) {
      const i = graph.inputs.find((v) => v.name === s.input);
      const o = graph.outputs.find((v) => v.name === s.output);
      if (!i || !o) throw new InputError(`state '${s.input}': the program has no ${i ? 'output' : 'input'} '${i ? s.output : s.input}'`, s.input);
      if (i.dtype !== o.dtype) throw new InputError(`state '${s.input}' is ${i.dtype} but its update '${s.output}' is ${o.dtype}`, s.input);
    }
    const session = await InferenceSession.create(graph, opts);
    return new StatefulProgram(session, bindings, session.backend === 'webgpu');
  }

  /**
   * Runs once: `feeds` (the batch) plus `state` (read, not changed). Returns the
   * non-state outputs named in `fetch` on the CPU and, when `update` is true, the new
   * state (GPU-resident on WebGPU); the caller then owns the returned state and should
   * {@link release} the old one. Outputs named in `hold` are returned in `held` as
   * they are (GPU-resident on WebGPU, not read back; the caller releases them).
   */
  async run(feeds: Readonly<Record<string, Tensor>>, state: ReadonlyMap<string, StateValue>, fetch: readonly string[], update: boolean, hold: readonly string[] = []): Promise<{ outputs: Record<string, Tensor>; state: Map<string, StateValue>; held: Record<string, StateValue> }> {
    const all: Record<string, Tensor | GpuTensor> = { ...feeds };
    for (const [name, v] of state) all[name] = v;
    const res = (await this.session.run(all as Record<string, Tensor>, this.onGpu ? { outputsOnGpu: true } : {})) as Record<string, Tensor | GpuTensor>;
    const outputs: Record<string, Tensor> = {};
    const next = new Map<string, StateValue>();
    const used = new Set<string>();
    for (const name of fetch) {
      const v = res[name];
      if (!v) throw new ExecutionError(`the program has no output '${name}'`);
      outputs[name] = v instanceof GpuTensor ? await v.download() : v;
      used.add(name);
    }
    const held: Record<string, StateValue> = {};
    for (const name of hold) {
      const v = res[name];
      if (!v) throw new ExecutionError(`the program has no output '${name}'`);
      held[name] = v;
      used.add(name);
    }
    if (update) {
      for (const s of this.bindings) {
        next.set(s.input, res[s.output]!);
        used.add(s.output);
      }
    }
    // Free what nobody keeps (GPU outputs not fetched and not state).
    for (const [name, v] of Object.entries(res)) if (v instanceof GpuTensor && (!used.has(name) || fetch.includes(name))) v.destroy();
    return { outputs, state: next, held };
  }

  /** Frees the program's GPU resources. */
  release(): void {
    this.session.release();
  }
}

/** Copies a state value to the CPU. */
export async function toCpu(v: StateValue): Promise<Tensor> {
  return v instanceof GpuTensor ? v.download() : v;
}

/** Frees held GPU state values (CPU ones need nothing). */
export function releaseState(state: Iterable<StateValue>): void {
  for (const v of state) if (v instanceof GpuTensor) v.destroy();
}
