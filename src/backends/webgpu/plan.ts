/**
 * The execution planner: graph + concrete input types → an {@link ExecPlan}, pure
 * data with no GPU objects (so it is testable and drawable without a device).
 *
 * Algorithm:
 * 1. Bind symbolic dims from the feed types (checkFeeds) and re-infer every value
 *    in a {@link TypeEnv}. Nodes whose outputs all become known constants are
 *    *folded* (Shape → Gather → Concat → Reshape chains, small ConstantOfShape);
 *    ops marked `shapeOnly` (Shape, Size) are evaluated here from their input's
 *    shape. Folded values never dispatch.
 * 2. Walk back from the graph outputs to find the nodes whose results are needed.
 * 3. Plan each needed node with its op's kernel (kernel.ts). An op without a kernel
 *    is collected; all of them are reported in one UnsupportedOpError.
 * 4. Allocate buffer *slots*: graph inputs, constants read by kernels (and the
 *    tensors kernels prepared from them, KernelPlan.constants) and graph outputs
 *    are pinned; intermediates take a free slot (best fit by bytes) at
 *    their producer and return it after their last reader; `aliasOf` outputs share
 *    their input's slot (reference-counted). A node's outputs are allocated before
 *    its inputs are released, so no dispatch reads and writes the same buffer.
 *    A node whose kernel offers `inPlaceInputs` (Concat of contiguous blocks) does
 *    not dispatch when every input qualifies: its output's slot is allocated by the
 *    first producer, and each producer writes its block through a binding view
 *    (offset, size); such inputs have no other reader, so no dispatch binds two
 *    overlapping ranges.
 * 5. Check limits: storage bindings per dispatch, bytes per binding.
 */
import { ShapeError, LimitError, UnsupportedOpError } from '../../graph/errors.js';
import type { Graph, Node } from '../../graph/graph.js';
import { inferNode, opContext, opOf } from '../../graph/infer.js';
import type { ValueType } from '../../graph/op.js';
import { runReference } from '../../graph/reference.js';
import { formatShape, isStatic, sizeOf, type ConcreteShape } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';
import { shapeOnlyTensor, TypeEnv } from '../../graph/type-env.js';
import { kernelOf, storageBytes, storageOf, type GpuStorage, type GpuTensorInfo, type KernelLimits, type KernelPlan } from './kernel.js';
import type { BindingKind } from './pipelines.js';
import { bufferBytes } from './storage.js';

/** A value's place on the GPU. */
export interface PlannedValue {
  readonly name: string;
  readonly dtype: ValueType['dtype'];
  readonly shape: ConcreteShape;
  readonly storage: GpuStorage;
  /** Buffer slot, when the value lives on the GPU. */
  readonly slot?: number;
  /** The value when it is a constant known at compile time. */
  readonly constant?: Tensor;
}

/** One dispatch of the plan, with slots in place of buffers. */
export interface PlannedDispatch {
  readonly shader: string;
  readonly entryPoint: string;
  readonly kinds: readonly BindingKind[];
  /** Slot of each storage binding, in order (the uniform buffer is not a slot). */
  readonly slots: readonly number[];
  readonly uniforms?: ArrayBuffer;
  readonly workgroups: readonly [number, number, number];
  readonly label: string;
  /** Per binding: a byte range of the slot's buffer instead of all of it (values written in place into a Concat's output). */
  readonly views?: readonly ({ readonly offset: number; readonly size: number } | undefined)[];
  /** The node's name and op (host-side only: profiles and errors). */
  readonly node: string;
  readonly op: string;
}

/** The complete plan for one set of concrete input types. */
export interface ExecPlan {
  /** Bytes of each buffer slot. */
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
}

/**
 * A value's shape depends on data not known when planning (NonZero-like ops, or a
 * Range/Reshape fed from computed values). The executor retries such a graph with
 * the values of its small feeds as part of the plan key; if that does not help the
 * error reaches the caller.
 */
export class DataDependentShapeError extends UnsupportedOpError {}

/**
 * Infers concrete types and folds constants; returns the env and the set of folded
 * nodes. `inputValues` are feeds whose values the plan may depend on (see
 * {@link DataDependentShapeError}).
 */
export function foldGraph(
  graph: Graph,
  inputTypes: ReadonlyMap<string, ValueType>,
  inputValues: ReadonlyMap<string, Tensor> = new Map(),
): { env: TypeEnv; folded: Set<Node> } {
  const env = new TypeEnv();
  for (const i of graph.inputs) env.define(i.name, inputTypes.get(i.name) ?? i, inputValues.get(i.name));
  for (const [name, t] of graph.initializers) {
    if (!env.types.has(name)) {
      env.types.set(name, { dtype: t.dtype, shape: t.shape });
      env.values.set(name, t);
    }
  }
  const folded = new Set<Node>();
  for (const node of graph.topo) {
    const def = opOf(node);
    const ins = node.inputs.map((n) => (n === '' ? undefined : env.types.get(n)));
    if (def.shapeOnly && ins.every((t) => !t || isStatic(t.shape))) {
      const outs = inferNode(node, node.inputs.map((n) => env.input(n)));
      const vals = runReference(node, ins.map((t) => (t ? shapeOnlyTensor(t) : undefined)));
      node.outputs.forEach((o, k) => {
        if (o === '' || !outs[k]) return;
        env.types.set(o, outs[k]!);
        if (vals[k]) env.values.set(o, vals[k]!);
      });
      folded.add(node);
      continue;
    }
    env.addNode(node);
    if (node.outputs.every((o) => o === '' || env.values.has(o))) folded.add(node);
  }
  return { env, folded };
}

interface SlotPool {
  bytes: number[];
  free: number[];
}

function takeSlot(pool: SlotPool, bytes: number): number {
  let best = -1;
  for (let k = 0; k < pool.free.length; k++) {
    const s = pool.free[k]!;
    if (pool.bytes[s]! >= bytes && (best < 0 || pool.bytes[s]! < pool.bytes[pool.free[best]!]!)) best = k;
  }
  if (best >= 0 && pool.bytes[pool.free[best]!]! <= bytes * 2) return pool.free.splice(best, 1)[0]!;
  pool.bytes.push(bytes);
  return pool.bytes.length - 1;
}

/** A value its producer writes into a byte range of another node's output. */
interface InPlaceValue {
  readonly target: string;
  readonly offset: number;
  readonly size: number;
}

/**
 * Nodes whose inputs their producers can write in place (KernelPlan.inPlaceInputs):
 * every input must be a distinct value computed by an earlier dispatching node, read
 * by nothing else, not a graph output, with a byte size and offset the device can
 * bind. Returns where each such value goes and the indexes (in `order`) of the nodes
 * that then need no dispatch.
 */
function planInPlace(
  order: readonly Node[],
  plans: readonly KernelPlan[],
  infos: readonly { ins: (GpuTensorInfo | undefined)[] }[],
  outputNames: ReadonlySet<string>,
  alignment: number,
): { inPlace: Map<string, InPlaceValue>; skipped: Set<number> } {
  const readers = new Map<string, number>();
  order.forEach((n) => new Set(n.inputs).forEach((v) => v !== '' && readers.set(v, (readers.get(v) ?? 0) + 1)));
  const producerAt = new Map<string, number>();
  order.forEach((n, i) => n.outputs.forEach((o) => o !== '' && producerAt.set(o, i)));
  const inPlace = new Map<string, InPlaceValue>();
  const skipped = new Set<number>();
  const bytesOf = (info: GpuTensorInfo): number => sizeOf(info.shape) * storageBytes(info.storage);
  order.forEach((node, idx) => {
    const offsets = plans[idx]!.inPlaceInputs;
    if (!offsets || node.outputs.length !== 1) return;
    const ok = node.inputs.every((v, k) => {
      const p = producerAt.get(v);
      const info = infos[idx]!.ins[k];
      if (v === '' || p === undefined || !info || node.inputs.indexOf(v) !== k || readers.get(v) !== 1 || outputNames.has(v)) return false;
      const prod = plans[p]!;
      return bytesOf(info) > 0 && bytesOf(info) % 4 === 0 && offsets[k]! % alignment === 0 && !skipped.has(p) && prod.dispatches.length > 0 && prod.aliasOf === undefined;
    });
    if (!ok) return;
    skipped.add(idx);
    node.inputs.forEach((v, k) => inPlace.set(v, { target: node.outputs[0]!, offset: offsets[k]!, size: bytesOf(infos[idx]!.ins[k]!) }));
  });
  return { inPlace, skipped };
}

/** Plans a graph for concrete input types (graph inputs' names → concrete types). */
export function planGraph(graph: Graph, inputTypes: ReadonlyMap<string, ValueType>, opts: PlanOptions, inputValues?: ReadonlyMap<string, Tensor>): ExecPlan {
  const { env, folded } = foldGraph(graph, inputTypes, inputValues);
  const typeOf = (name: string, where: string): GpuTensorInfo => {
    const t = env.types.get(name);
    if (!t) throw new ShapeError(`${where}: value '${name}' has no type`, where);
    if (!isStatic(t.shape)) {
      throw new DataDependentShapeError(
        [{ op: graph.producerNode(name)?.op ?? 'input', nodes: [graph.producerNode(name)?.name ?? name] }],
        `value '${name}' has a data-dependent shape ${formatShape(t.shape)}, which the WebGPU backend cannot plan`,
      );
    }
    return { dtype: t.dtype, shape: t.shape, storage: storageOf(t.dtype, opts.f16), value: env.values.get(name) };
  };

  // 2. Needed nodes.
  const needed = new Set<Node>();
  const stack = graph.outputs.map((o) => o.name);
  const seen = new Set<string>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (env.values.has(v)) continue;
    const p = graph.producerNode(v);
    if (!p || needed.has(p)) continue;
    needed.add(p);
    for (const i of p.inputs) if (i !== '') stack.push(i);
  }
  const order = graph.topo.filter((n) => needed.has(n) && !folded.has(n));

  // 3. Kernel plans.
  const missing = new Map<string, string[]>();
  const plans: KernelPlan[] = [];
  const infos: { ins: (GpuTensorInfo | undefined)[]; outs: GpuTensorInfo[] }[] = [];
  for (const node of order) {
    const def = opOf(node);
    const kernel = kernelOf(def);
    const ins = node.inputs.map((n) => (n === '' ? undefined : typeOf(n, node.name)));
    const outs = node.outputs.map((n) => (n === '' ? { dtype: 'float32' as const, shape: [0], storage: 'f32' as const } : typeOf(n, node.name)));
    infos.push({ ins, outs });
    if (!kernel) {
      const key = node.domain ? `${node.domain}::${node.op}` : node.op;
      missing.set(key, [...(missing.get(key) ?? []), node.name]);
      plans.push({ dispatches: [] });
      continue;
    }
    const attrs = opContext(def, node).attrs;
    plans.push(kernel.plan({ node: node.name, attrs, inputs: ins, outputs: outs, limits: opts.limits, f16: opts.f16, subgroups: opts.subgroups }));
  }
  if (missing.size > 0) {
    throw new UnsupportedOpError([...missing].map(([op, nodes]) => ({ op, nodes })), 'no WebGPU kernel (there is no CPU fallback at run time)');
  }

  // 4. Slots.
  const pool: SlotPool = { bytes: [], free: [] };
  const slotOf = new Map<string, number>();
  const refs = new Map<number, number>();
  const pinned = new Set<number>();
  const constants: { slot: number; tensor: Tensor; name: string; prepared?: boolean }[] = [];
  const lastUse = new Map<string, number>();
  order.forEach((n, i) => n.inputs.forEach((v) => v !== '' && lastUse.set(v, i)));
  const outputNames = new Set(graph.outputs.map((o) => o.name));
  for (const o of outputNames) lastUse.set(o, Infinity);
  const { inPlace, skipped } = planInPlace(order, plans, infos, outputNames, opts.limits.minStorageBufferOffsetAlignment);

  const checkSize = (name: string, bytes: number, where: string): void => {
    const max = Math.min(opts.limits.maxStorageBufferBindingSize, opts.maxBufferSize);
    if (bytes > max) {
      throw new LimitError(`${where}: tensor '${name}' needs ${bytes} bytes, more than this device's maxStorageBufferBindingSize ${max}`, name);
    }
  };
  const pin = (name: string, info: GpuTensorInfo, where: string): number => {
    const bytes = bufferBytes(sizeOf(info.shape), info.storage);
    checkSize(name, bytes, where);
    pool.bytes.push(bytes);
    const s = pool.bytes.length - 1;
    pinned.add(s);
    slotOf.set(name, s);
    return s;
  };
  const inputs: PlannedValue[] = graph.inputs.map((i) => {
    const info = typeOf(i.name, i.name);
    return { name: i.name, dtype: info.dtype, shape: info.shape, storage: info.storage, slot: pin(i.name, info, `input '${i.name}'`) };
  });
  const slotForRead = (name: string, where: string): number => {
    const s = slotOf.get(name);
    if (s !== undefined) return s;
    const value = env.values.get(name) ?? graph.initializers.get(name);
    if (!value) throw new ShapeError(`${where}: value '${name}' is not available on the GPU`, where);
    const slot = pin(name, { dtype: value.dtype, shape: value.shape, storage: storageOf(value.dtype, opts.f16) }, where);
    constants.push({ slot, tensor: value, name });
    return slot;
  };
  const release = (name: string): void => {
    const s = slotOf.get(name);
    if (s === undefined || pinned.has(s)) return;
    const r = (refs.get(s) ?? 1) - 1;
    refs.set(s, r);
    if (r === 0) pool.free.push(s);
  };

  const dispatches: PlannedDispatch[] = [];
  order.forEach((node, idx) => {
    const plan = plans[idx]!;
    const { outs } = infos[idx]!;
    const inSlotCache = new Map<number, number>();
    const inSlot = (k: number): number => {
      const n = node.inputs[k];
      if (n === undefined || n === '') return -1;
      let s = inSlotCache.get(k);
      if (s === undefined) {
        s = slotForRead(n, node.name);
        inSlotCache.set(k, s);
      }
      return s;
    };
    // A fresh buffer for `name` (pinned when it is a graph output), or another value's, shared.
    const allocate = (name: string, info: GpuTensorInfo): number => {
      if (outputNames.has(name)) return pin(name, info, `node '${node.name}'`);
      const bytes = bufferBytes(sizeOf(info.shape), info.storage);
      checkSize(name, bytes, `node '${node.name}'`);
      const s = takeSlot(pool, bytes);
      slotOf.set(name, s);
      refs.set(s, 1);
      return s;
    };
    const share = (name: string, s: number): number => {
      slotOf.set(name, s);
      refs.set(s, (refs.get(s) ?? 1) + 1);
      return s;
    };
    const outSlots = node.outputs.map((name, k) => {
      if (name === '') return -1;
      if (skipped.has(idx)) return slotOf.get(name)!;
      const place = inPlace.get(name);
      // Written in place: the target's buffer is allocated by its first in-place producer.
      if (place) return share(name, slotOf.get(place.target) ?? allocate(place.target, typeOf(place.target, node.name)));
      if (k === 0 && plan.aliasOf !== undefined) {
        const s = share(name, inSlot(plan.aliasOf));
        if (outputNames.has(name)) pinned.add(s);
        return s;
      }
      return allocate(name, outs[k]!);
    });
    const scratch = (plan.scratch ?? []).map((bytes) => takeSlot(pool, Math.max(4, Math.ceil(bytes / 4) * 4)));
    const prepared = (plan.constants ?? []).map((tensor, j) => {
      const name = `${node.name}:prepared${j}`;
      const slot = pin(name, { dtype: tensor.dtype, shape: tensor.shape, storage: storageOf(tensor.dtype, opts.f16) }, node.name);
      constants.push({ slot, tensor, name, prepared: true });
      return slot;
    });
    for (const d of skipped.has(idx) ? [] : plan.dispatches) {
      if (d.workgroups.some((w) => w === 0)) continue;
      const slots = d.bindings.map((b) => {
        const s = b.kind === 'input' ? inSlot(b.index) : b.kind === 'output' ? outSlots[b.index] : b.kind === 'constant' ? prepared[b.index] : scratch[b.index];
        if (s === undefined || s < 0) throw new ShapeError(`${node.name}: kernel ${d.label} binds missing ${b.kind} #${b.index}`, node.name);
        return s;
      });
      if (slots.length > opts.limits.maxStorageBuffersPerShaderStage) {
        throw new LimitError(`${node.name}: kernel ${d.label} needs ${slots.length} storage buffers, the device allows ${opts.limits.maxStorageBuffersPerShaderStage}`, node.name);
      }
      const kinds: BindingKind[] = d.bindings.map((b) => (b.kind === 'input' || b.kind === 'constant' ? 'read' : 'rw'));
      const valueOf = (b: (typeof d.bindings)[number]): string | undefined => (b.kind === 'input' ? node.inputs[b.index] : b.kind === 'output' ? node.outputs[b.index] : undefined);
      const views = d.bindings.map((b) => {
        const place = inPlace.get(valueOf(b) ?? '');
        return place ? { offset: place.offset, size: place.size } : undefined;
      });
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
    pool.free.push(...scratch);
    for (const v of new Set(node.inputs)) if (v !== '' && lastUse.get(v) === idx) release(v);
    node.outputs.forEach((o) => {
      if (o !== '' && !lastUse.has(o)) release(o);
    });
  });

  const outputs: PlannedValue[] = graph.outputs.map((o) => {
    const info = typeOf(o.name, o.name);
    const constant = env.values.get(o.name) ?? graph.initializers.get(o.name);
    const slot = slotOf.get(o.name);
    const base = { name: o.name, dtype: info.dtype, shape: info.shape, storage: info.storage };
    if (slot !== undefined) return { ...base, slot };
    if (constant) return { ...base, constant };
    throw new ShapeError(`graph output '${o.name}' was not planned`, o.name);
  });
  return { slotBytes: pool.bytes, inputs, outputs, constants, dispatches, folded: folded.size };
}
