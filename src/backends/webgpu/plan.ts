/**
 * The WebGPU side of planning: graph + concrete input types → an {@link ExecPlan}
 * (pure data, no GPU objects, so it is testable without a device).
 *
 * 1. The backend-neutral execution plan (src/passes/exec-plan.ts) decides the
 *    schedule, folding, liveness, buffers, aliasing and write-into views. This file
 *    contributes the WebGPU facts through the op's kernel (an op trait): each
 *    scheduled node is planned with its kernel, which says how many dispatches it
 *    records, whether its output is a view of an input (`aliasOf`), whether its
 *    producers may write into its output (`inPlaceInputs`), its scratch bytes, the
 *    constants it prepared, and which inputs its shaders bind. GPU buffers are
 *    reused whole ('pool'): a dispatch may not bind one buffer both read-only and
 *    writable.
 * 2. The kernels' dispatches then get their bindings: each binding names the plan
 *    buffer of the value (or scratch / prepared constant), and a byte range of it
 *    for values written into a Concat's output.
 * 3. Limits: a value may be as large as one buffer (maxBufferSize, checked by the
 *    planner); a node with a value larger than one binding
 *    (maxStorageBufferBindingSize) is planned as chunks that each bind a byte range
 *    of it (chunk.ts). Here every binding is checked against that limit (a
 *    LimitError naming the node, its op and the value when no chunk rule applied),
 *    and the storage bindings per dispatch.
 */
import { KilnError, ShapeError, LimitError } from '../../graph/errors.js';
import type { Graph, Node } from '../../graph/graph.js';
import { opOf as opOfNode } from '../../graph/infer.js';
import type { ValueType } from '../../graph/op.js';
import { sizeOf, type ConcreteShape } from '../../graph/shape.js';
import type { Tensor } from '../../graph/tensor.js';
import { DataDependentShapeError, foldGraph, planExecution, type ExecutionPlan, type PlanTarget } from '../../passes/exec-plan.js';
import { kernelOf, storageOf, type BindingRef, type GpuStorage, type KernelContext, type KernelLimits, type KernelOptions, type KernelPlan } from './kernel.js';
import { planChunks, unchunkedReason, type Chunk, type ChunkedPlan } from './chunk.js';
import type { BindingKind } from './pipelines.js';
import { bufferBytes } from './storage.js';

export { DataDependentShapeError, foldGraph };

/** A value's place on the GPU. */
export interface PlannedValue {
  readonly name: string;
  readonly dtype: ValueType['dtype'];
  readonly shape: ConcreteShape;
  readonly storage: GpuStorage;
  /** Buffer (plan buffer id), when the value lives on the GPU. */
  readonly slot?: number;
  /** Bytes of the value in its buffer. */
  readonly bytes?: number;
  /** Byte offset of the value in its buffer. */
  readonly offset?: number;
  /** The value when it is a constant known at compile time. */
  readonly constant?: Tensor;
}

/** One dispatch of the plan, with buffer ids in place of buffers. */
export interface PlannedDispatch {
  readonly shader: string;
  readonly entryPoint: string;
  readonly kinds: readonly BindingKind[];
  /** Buffer of each storage binding, in order (the uniform buffer is not a slot). */
  readonly slots: readonly number[];
  readonly uniforms?: ArrayBuffer;
  readonly workgroups: readonly [number, number, number];
  readonly label: string;
  /** Per binding: a byte range of the buffer instead of all of it (values written in place into a Concat's output). */
  readonly views?: readonly ({ readonly offset: number; readonly size: number } | undefined)[];
  /** The node's name and op (host-side only: profiles and errors). */
  readonly node: string;
  readonly op: string;
}

/** The complete WebGPU plan for one set of concrete input types. */
export interface ExecPlan {
  /** The backend-neutral execution plan this realizes (buffers, lifetimes, peak bytes, dispatch count). */
  readonly plan: ExecutionPlan;
  /** Bytes of each buffer (plan.buffers). */
  readonly slotBytes: readonly number[];
  readonly inputs: readonly PlannedValue[];
  readonly outputs: readonly PlannedValue[];
  /**
   * Constants uploaded once when the plan is realized; `prepared` marks tensors a
   * kernel derived at plan time (a realized program drops them after the upload).
   */
  readonly constants: readonly { readonly slot: number; readonly tensor: Tensor; readonly name: string; readonly prepared?: boolean }[];
  readonly dispatches: readonly PlannedDispatch[];
  /** Nodes folded at compile time. */
  readonly folded: number;
}

/** Options of {@link planGraph}. */
export interface PlanOptions {
  readonly limits: KernelLimits;
  readonly f16: boolean;
  readonly subgroups: boolean;
  /** Largest buffer the device can create (maxBufferSize). */
  readonly maxBufferSize: number;
  /** Kernel variant choices, passed to every kernel. */
  readonly kernelOptions?: KernelOptions | undefined;
}

/** A node's kernel plan, or its chunks (values larger than one binding, chunk.ts). */
type NodePlan = { readonly whole: KernelPlan; readonly unchunked?: () => string } | { readonly chunked: ChunkedPlan; readonly whole: KernelPlan | undefined };

/** The chunks of a node's plan, each with the ranges it binds (one chunk binding whole values when it is not chunked). */
function chunksOf(p: NodePlan): readonly Chunk[] {
  if ('chunked' in p) return p.chunked.chunks;
  const kp = p.whole;
  return [{ plan: kp, inputs: [], outputs: [], scratch: (kp.scratch ?? []).map((_, j) => j), constants: (kp.constants ?? []).map((_, j) => j) }];
}

/** The WebGPU plan target: facts from each node's kernel (node plans are kept in `plans` for binding). */
export function webgpuTarget(opts: PlanOptions, plans: Map<Node, NodePlan>): PlanTarget {
  const storage = (d: ValueType['dtype']): GpuStorage => storageOf(d, opts.f16);
  const info = (t: { dtype: ValueType['dtype']; shape: ConcreteShape; value?: Tensor | undefined }) => ({ dtype: t.dtype, shape: t.shape, storage: storage(t.dtype), value: t.value });
  const bytes = (t: { dtype: ValueType['dtype']; shape: ConcreteShape }): number => bufferBytes(sizeOf(t.shape), storage(t.dtype));
  const limit = opts.limits.maxStorageBufferBindingSize;
  return {
    name: 'WebGPU',
    bufferBytes: (n, d) => bufferBytes(n, storage(d)),
    strategy: 'pool',
    alignment: 4,
    viewAlignment: opts.limits.minStorageBufferOffsetAlignment,
    ownsInputs: true,
    ownsConstants: true,
    fold: true,
    dynamicShapes: 'error',
    // A value may be larger than one binding: its nodes then bind it in chunks (chunk.ts); the binding check is in planGraph.
    maxValueBytes: opts.maxBufferSize,
    limitName: 'maxBufferSize',
    unsupported: 'no WebGPU kernel (there is no CPU fallback at run time)',
    facts({ node, attrs, inputs, outputs }) {
      const kernel = kernelOf(opOfNode(node));
      if (!kernel) return undefined;
      const ctx: KernelContext = {
        node: node.name,
        attrs,
        inputs: inputs.map((t) => (t ? info(t) : undefined)),
        outputs: outputs.map((t) => ({ ...info(t), value: undefined })),
        limits: opts.limits,
        f16: opts.f16,
        subgroups: opts.subgroups,
        options: opts.kernelOptions,
      };
      let np: NodePlan;
      if (![...inputs, ...outputs].some((t) => t && bytes(t) > limit)) {
        np = { whole: kernel.plan(ctx) };
      } else {
        // A value beyond one binding: the plan as it is when it binds none of them (an alias, a write-into Concat), else chunks.
        let whole: KernelPlan | undefined;
        let failed: unknown;
        try {
          whole = kernel.plan(ctx);
        } catch (e) {
          if (!(e instanceof KilnError)) throw e;
          failed = e;
        }
        const big = (b: BindingRef): boolean => {
          const t = b.kind === 'input' ? inputs[b.index] : b.kind === 'output' ? outputs[b.index] : undefined;
          return t !== undefined && bytes(t) > limit;
        };
        const chunked = whole && !whole.dispatches.some((d) => d.bindings.some(big))
          ? undefined
          : planChunks(ctx, kernel, (kind, k) => bytes((kind === 'input' ? inputs[k] : outputs[k])!));
        if (chunked) np = { chunked, whole };
        // The binding check names the node, its op, the value and why it is not chunked
        // (asked only when it fails: the reason tries every split and tile again).
        else if (whole) np = { whole, unchunked: () => unchunkedReason(ctx, kernel) };
        else throw failed;
      }
      plans.set(node, np);
      const reads = new Set<number>();
      let dispatches = 0;
      for (const c of chunksOf(np)) {
        for (const d of c.plan.dispatches) for (const b of d.bindings) if (b.kind === 'input' && c.inputConstants?.[b.index] === undefined) reads.add(b.index);
        dispatches += c.plan.dispatches.filter((d) => !d.workgroups.some((w) => w === 0)).length;
      }
      const plan = np.whole;
      const scratch = 'chunked' in np ? np.chunked.scratch : plan!.scratch;
      const constants = 'chunked' in np ? np.chunked.constants : plan!.constants;
      return {
        dispatches,
        ...(plan?.aliasOf !== undefined ? { aliasOf: plan.aliasOf } : {}),
        ...(plan?.inPlaceInputs ? { writeInto: plan.inPlaceInputs } : {}),
        ...(scratch && scratch.length ? { scratch } : {}),
        ...(constants && constants.length ? { constants } : {}),
        reads: [...reads],
      };
    },
  };
}

/** Plans a graph for concrete input types (graph inputs' names → concrete types). */
export function planGraph(graph: Graph, inputTypes: ReadonlyMap<string, ValueType>, opts: PlanOptions, inputValues?: ReadonlyMap<string, Tensor>): ExecPlan {
  const nodePlans = new Map<Node, NodePlan>();
  const plan = planExecution(graph, inputTypes, webgpuTarget(opts, nodePlans), inputValues);
  type Place = { readonly buffer: number; readonly offset: number; readonly size: number };
  const placeOfValue = (name: string, where: string): Place => {
    const a = plan.assignments.get(name);
    if (!a) throw new ShapeError(`${where}: value '${name}' is not available on the GPU`, where);
    return { buffer: a.buffer, offset: a.offset, size: plan.valueBytes.get(name) ?? plan.buffers[a.buffer]!.bytes };
  };
  const bindLimit = opts.limits.maxStorageBufferBindingSize;

  const dispatches: PlannedDispatch[] = [];
  for (const step of plan.steps) {
    if (step.dispatches === 0) continue;
    const node = step.node;
    const np = nodePlans.get(node)!;
    for (const chunk of chunksOf(np)) {
      for (const d of chunk.plan.dispatches) {
        if (d.workgroups.some((w) => w === 0)) continue;
        const places = d.bindings.map((b): Place => {
          const v = b.kind === 'input' ? node.inputs[b.index] : b.kind === 'output' ? node.outputs[b.index] : undefined;
          const own = b.kind === 'input' ? chunk.inputConstants?.[b.index] : undefined;
          if (own !== undefined) {
            const id = step.constants[own]!;
            return { buffer: id, offset: 0, size: plan.buffers[id]!.bytes };
          }
          if (v) {
            const p = placeOfValue(v, node.name);
            const w = b.kind === 'input' ? chunk.inputs[b.index] : chunk.outputs[b.index];
            const at = w ? { buffer: p.buffer, offset: p.offset + w.offset, size: w.size } : p;
            if (at.size > bindLimit) {
              throw new LimitError(
                `${node.name}: ${node.op} binds tensor '${v}' of ${at.size} bytes, more than this device's maxStorageBufferBindingSize ${bindLimit}, and its WebGPU kernel cannot read or write it in chunks${'unchunked' in np && np.unchunked ? `: ${np.unchunked()}` : ''}`,
                node.name,
              );
            }
            return at;
          }
          const sc = b.kind === 'scratch' ? step.scratch[chunk.scratch[b.index]!] : undefined;
          const c = b.kind === 'constant' ? step.constants[chunk.constants[b.index]!] : undefined;
          const at = sc ? { buffer: sc.buffer, offset: sc.offset, size: sc.bytes } : c !== undefined ? { buffer: c, offset: 0, size: plan.buffers[c]!.bytes } : undefined;
          if (!at) throw new ShapeError(`${node.name}: kernel ${d.label} binds missing ${b.kind} #${b.index}`, node.name);
          if (at.size > bindLimit) {
            throw new LimitError(`${node.name}: ${node.op} (${d.label}) needs a ${b.kind} buffer of ${at.size} bytes, more than this device's maxStorageBufferBindingSize ${bindLimit}`, node.name);
          }
          return at;
        });
        const slots = places.map((p) => p.buffer);
        if (slots.length > opts.limits.maxStorageBuffersPerShaderStage) {
          throw new LimitError(`${node.name}: kernel ${d.label} needs ${slots.length} storage buffers, the device allows ${opts.limits.maxStorageBuffersPerShaderStage}`, node.name);
        }
        const kinds: BindingKind[] = d.bindings.map((b) => (b.kind === 'input' || b.kind === 'constant' || (b.kind === 'scratch' && b.readOnly) ? 'read' : 'rw'));
        // A binding is a byte range when its value shares the buffer (offsets), does not fill it, or is a chunk of it.
        const views = places.map((p) => (p.offset !== 0 || p.size !== plan.buffers[p.buffer]!.bytes ? { offset: p.offset, size: p.size } : undefined));
        if (d.uniforms) kinds.push('uniform');
        dispatches.push({
          shader: d.shader,
          entryPoint: d.entryPoint ?? 'main',
          kinds,
          slots,
          ...(d.uniforms ? { uniforms: d.uniforms } : {}),
          workgroups: d.workgroups,
          label: d.label,
          ...(views.some((v) => v) ? { views } : {}),
          node: node.name,
          op: node.op,
        });
      }
    }
  }

  const planned = (name: string): PlannedValue => {
    const t = plan.types.get(name)!;
    const base = { name, dtype: t.dtype, shape: t.shape as ConcreteShape, storage: storageOf(t.dtype, opts.f16) };
    const a = plan.assignments.get(name);
    const constant = plan.values.get(name) ?? graph.initializers.get(name);
    if (constant && !graph.inputs.some((i) => i.name === name)) return { ...base, constant };
    if (a) return { ...base, slot: a.buffer, offset: a.offset, bytes: plan.valueBytes.get(name) ?? plan.buffers[a.buffer]!.bytes };
    throw new ShapeError(`graph output '${name}' was not planned`, name);
  };
  return {
    plan,
    slotBytes: plan.buffers.map((b) => b.bytes),
    inputs: graph.inputs.map((i) => {
      const p = planned(i.name);
      if (p.slot === undefined) throw new ShapeError(`input '${i.name}' was not planned`, i.name);
      return p;
    }),
    outputs: graph.outputs.map((o) => planned(o.name)),
    constants: plan.constants.map((c) => ({ slot: c.buffer, tensor: c.tensor, name: c.name, ...(c.prepared ? { prepared: true } : {}) })),
    dispatches,
    folded: plan.folded,
  };
}
