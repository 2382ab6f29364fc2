/**
 * The execution plan: one backend-neutral, plain-data answer to "what runs when, and
 * where does every value live", made from an optimized graph, concrete input types
 * and a {@link PlanTarget} (the facts a backend contributes). Every executor runs
 * exactly this object — the WebGPU program creates one GPUBuffer per
 * {@link PlanBuffer}, the CPU backend one ArrayBuffer — and `kiln inspect`, the
 * viewer's memory view and the dispatch counter read the same object, so the plan a
 * user looks at is the plan that runs.
 * (The targets: src/backends/webgpu/plan.ts from the kernels; plan-reference.ts from
 * the ops alone, which the CPU backend and `planMemory` use.)
 *
 * Algorithm (in the spirit of TVM's static_plan_block_memory and wonnx's planner):
 * 1. Types and folding: bind the concrete input types and re-infer every value in a
 *    TypeEnv (src/graph/type-env.ts). Shape-only ops (Shape, Size) are evaluated from
 *    their input's static shape; nodes whose outputs all become known constants are
 *    *folded*. A target with `fold` drops folded nodes and nodes no graph output
 *    needs from the schedule; otherwise every node runs, in topological order.
 * 2. Facts: for every scheduled node the target reports {@link NodeFacts} — how many
 *    dispatches it records, whether output 0 is a view of an input (`aliasOf`),
 *    whether its producers may write its inputs in place (`writeInto`, a Concat of
 *    contiguous blocks), whether it may overwrite a dying input (`overwrite`,
 *    elementwise), its scratch bytes, the constants it prepared, and which inputs
 *    its device code reads. A node the target cannot run is collected; all of them
 *    are reported in one UnsupportedOpError.
 * 3. Write-into: a node whose every input is a distinct value computed by an
 *    earlier dispatching node, read by nothing else, not a graph output, with an
 *    aligned offset, needs no dispatch: its producers write their blocks into its
 *    output's storage (a *view*: offset and size).
 * 4. Liveness: node i runs at step i; a value lives from its producer's step
 *    (graph inputs: -1, written before step 0) to the last step that reads it (graph
 *    outputs: to the end). Aliases share their root's storage and extend its life.
 * 5. Storages: each value gets one, shared with its alias root, its view target,
 *    or (overwrite) a same-sized input storage that dies at this step and is not a
 *    graph output. Scratch is a storage living one step. Constants the device reads
 *    (initializers, folded values, prepared tensors) are *pinned*: one buffer each,
 *    uploaded once, never reused.
 * 6. Assignment, by the target's strategy, both greedy by size (TFLite's
 *    strategies): storages are taken largest first. 'arena' (CPU): one buffer,
 *    each storage at the lowest offset that no storage alive at the same time
 *    occupies. 'pool' (WebGPU, where a dispatch may not bind one buffer both
 *    read-only and writable): whole buffers; each storage takes the smallest
 *    buffer none of whose storages is alive at the same time (a buffer is as large
 *    as its first, largest storage), else a new one. A storage read at a step is
 *    alive at it, so it never shares a buffer with a value born there.
 *    (Offsets inside pool buffers were tried: on the shared models every value
 *    kept alive is also bound by the steps around it, so they saved nothing.)
 * Graph inputs a target owns get a buffer each, written before every run (their
 * aliases share it). `peakBytes` is the sum of all buffers (what the executor
 * allocates: constants, inputs and intermediates); `intermediateBytes` the
 * pool/arena part of it;
 * `totalBytes` what one buffer per value would cost; `maxLiveBytes` the most bytes
 * alive at one step (a lower bound on any plan).
 */
import type { DType } from '../graph/dtype.js';
import { KilnError, LimitError, ShapeError, UnsupportedOpError } from '../graph/errors.js';
import type { Graph, Node } from '../graph/graph.js';
import { opContext, opOf } from '../graph/infer.js';
import type { ValueType } from '../graph/op.js';
import { formatShape, isStatic, shapeEq, sizeOf, type ConcreteShape } from '../graph/shape.js';
import { runReference } from '../graph/reference.js';
import type { Tensor } from '../graph/tensor.js';
import { TypeEnv } from '../graph/type-env.js';
import { formatType, isTensorType } from '../graph/value.js';

/** A value's type as a target sees it: concrete shape, and its value when it is a known constant. */
export interface PlanValueInfo {
  readonly dtype: DType;
  readonly shape: ConcreteShape;
  readonly value?: Tensor | undefined;
}

/** What a target is told about one scheduled node. */
export interface FactContext {
  readonly node: Node;
  /** Resolved attributes (defaults filled in). */
  readonly attrs: Readonly<Record<string, unknown>>;
  /** Inputs (undefined for omitted optional ones). */
  readonly inputs: readonly (PlanValueInfo | undefined)[];
  /** Outputs (an omitted output is a 0-element float32). */
  readonly outputs: readonly PlanValueInfo[];
}

/** What a backend contributes about one node (see file comment, step 2). */
export interface NodeFacts {
  /** Dispatches (kernel launches, reference calls) the node records per run. */
  readonly dispatches: number;
  /** Output 0 is the same bytes as input `aliasOf` (no data moves). */
  readonly aliasOf?: number;
  /** Input k may be written by its producer at byte offset `writeInto[k]` of output 0. */
  readonly writeInto?: readonly number[];
  /** Output 0 may overwrite an input of the same shape whose storage dies here. */
  readonly overwrite?: boolean;
  /** Scratch buffers (bytes) private to this node's step. */
  readonly scratch?: readonly number[];
  /** Tensors prepared at plan time (re-laid-out weights), pinned and uploaded once. */
  readonly constants?: readonly Tensor[];
  /** Inputs the device code reads (default: every input); constants among them are uploaded. */
  readonly reads?: readonly number[];
}

/** The facts of one backend (see file comment). */
export interface PlanTarget {
  /** Shown in reports ('webgpu', 'cpu'). */
  readonly name: string;
  /** Bytes a buffer needs for `n` elements of `dtype`. */
  bufferBytes(n: number, dtype: DType): number;
  /** 'pool' (whole buffers) or 'arena' (one buffer, offsets). */
  readonly strategy: 'pool' | 'arena';
  /** Buffer sizes and arena offsets are multiples of this. */
  readonly alignment: number;
  /** Offsets of write-into views must be multiples of this. */
  readonly viewAlignment: number;
  /** Graph inputs are copied into planned buffers (reusable after their last reader); else the feeds are used as they are. */
  readonly ownsInputs: boolean;
  /** Constants the device reads get pinned buffers (uploaded once); else the executor reads them where they are. */
  readonly ownsConstants: boolean;
  /** Folded and unneeded nodes leave the schedule. */
  readonly fold: boolean;
  /** A value whose shape is unknown at plan time: 'error' (DataDependentShapeError) or 'host' (left to the executor, unplanned). */
  readonly dynamicShapes: 'error' | 'host';
  /** Largest buffer for one value; beyond it a LimitError names the value (`limitName` names the limit). */
  readonly maxValueBytes?: number;
  readonly limitName?: string;
  /** The node's facts, or undefined when the target cannot run it (collected into one UnsupportedOpError). */
  facts(ctx: FactContext): NodeFacts | undefined;
  /** Reason given in the UnsupportedOpError for nodes without facts. */
  readonly unsupported?: string;
}

/**
 * A value's shape depends on data not known when planning (NonZero-like ops, or a
 * Range/Reshape fed from computed values). The WebGPU executor retries such a graph
 * with the values of its small feeds as part of the plan key.
 */
export class DataDependentShapeError extends UnsupportedOpError {}

/** One physical buffer. */
export interface PlanBuffer {
  readonly id: number;
  bytes: number;
  /** 'pinned': a constant uploaded once; 'input': a graph input's, written before each run; 'pool': reused by values over time (arena: the one buffer). */
  readonly kind: 'pinned' | 'input' | 'pool';
}
/** Where a value lives. */
export interface Assignment { readonly buffer: number; readonly offset: number }
/** A value's live range in schedule steps (inclusive). */
export interface Lifetime { readonly value: string; readonly start: number; readonly end: number }

/** One step of the schedule. */
export interface PlanStep {
  readonly node: Node;
  /** Dispatches recorded for this step (0: alias, write-into, or nothing to do). */
  readonly dispatches: number;
  /** The node needs no dispatch because its producers wrote into its output. */
  readonly writtenInto: boolean;
  /** Where each scratch request of the node's facts lives. */
  readonly scratch: readonly (Assignment & { readonly bytes: number })[];
  /** Buffer of each prepared constant of the node's facts. */
  readonly constants: readonly number[];
  /** Output 0 is a view of this input (facts.aliasOf). */
  readonly aliasOf?: number;
}

/** A constant the executor uploads once. */
export interface PlanConstant {
  readonly buffer: number;
  readonly name: string;
  readonly tensor: Tensor;
  /** Derived by a kernel at plan time (an executor may drop its host copy after the upload). */
  readonly prepared: boolean;
}

/** Values sharing bytes over a time range (aliases, overwrites, write-into views, scratch), as placed. */
export interface PlanStorage {
  /** The values, the first one the storage's owner. */
  readonly values: readonly string[];
  readonly bytes: number;
  /** First and last step the storage is alive (-1: a graph input, written before step 0). */
  readonly start: number;
  readonly end: number;
  readonly buffer: number;
  readonly offset: number;
}

/** A byte range of another value's storage that a producer writes into. */
export interface PlanView { readonly target: string; readonly offset: number; readonly size: number }

/** The execution plan (see file comment). */
export interface ExecutionPlan {
  readonly target: string;
  readonly steps: readonly PlanStep[];
  readonly buffers: readonly PlanBuffer[];
  /** Every planned value (inputs when owned, node outputs, constants the device reads) → its place. */
  readonly assignments: ReadonlyMap<string, Assignment>;
  /** Concrete types of every value the planner saw. */
  readonly types: ReadonlyMap<string, ValueType>;
  /** Values known at plan time (initializers, folded values). */
  readonly values: ReadonlyMap<string, Tensor>;
  /** Live ranges of node outputs (and owned inputs, from -1). */
  readonly lifetimes: readonly Lifetime[];
  /** Alias values → the value whose storage they share. */
  readonly aliases: ReadonlyMap<string, string>;
  /** Overwriting outputs → the input whose storage they take over. */
  readonly inPlace: ReadonlyMap<string, string>;
  /** Values their producer writes into a byte range of another value. */
  readonly views: ReadonlyMap<string, PlanView>;
  readonly constants: readonly PlanConstant[];
  /** Every storage of the plan (constants excluded), with its values and place. */
  readonly storages: readonly PlanStorage[];
  /** Bytes of each planned value. */
  readonly valueBytes: ReadonlyMap<string, number>;
  /** Values left to the executor (shapes unknown at plan time; target `dynamicShapes: 'host'`). */
  readonly unplanned: ReadonlySet<string>;
  readonly peakBytes: number;
  readonly intermediateBytes: number;
  readonly totalBytes: number;
  readonly maxLiveBytes: number;
  readonly dispatchCount: number;
  /** Nodes folded at plan time. */
  readonly folded: number;
}

/**
 * A node without inputs (Constant) is a source of constants: its outputs are
 * computed once at plan time and recorded whatever their size (as initializers
 * are), so every backend holds them as uploaded constants and no level needs a
 * kernel for them. False when its reference cannot run (inference reports why).
 */
function defineSource(env: TypeEnv, node: Node): boolean {
  let values: Tensor[];
  try {
    values = runReference(node, []);
  } catch (e) {
    if (e instanceof KilnError) return false;
    throw e;
  }
  node.outputs.forEach((o, i) => {
    const t = values[i];
    if (o === '' || !t) return;
    env.types.set(o, { dtype: t.dtype, shape: t.shape });
    env.values.set(o, t);
  });
  return node.outputs.every((o, i) => o === '' || values[i] !== undefined);
}

/** Computes a node whose inputs are all known values and records its outputs (any size); a reference error leaves it to run. */
function defineComputed(env: TypeEnv, node: Node): void {
  if (opOf(node).shapeOnly || node.op === 'Fused') return;
  let values: Tensor[];
  try {
    values = runReference(node, node.inputs.map((v) => (v === '' ? undefined : env.values.get(v))));
  } catch (e) {
    if (e instanceof KilnError) return;
    throw e;
  }
  node.outputs.forEach((o, i) => { if (o !== '' && values[i]) env.values.set(o, values[i]!); });
}

/**
 * Infers concrete types and folds constants; returns the env and the folded nodes.
 * `inputValues` are feeds whose values the plan may depend on.
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
    if (node.inputs.length === 0 && defineSource(env, node)) {
      folded.add(node);
      continue;
    }
    // addNode evaluates shape-only ops (Shape, Size) from static shapes and small constant subgraphs.
    env.addNode(node);
    if (!node.outputs.every((o) => o === '' || env.values.has(o)) && node.inputs.length > 0 && node.inputs.every((v) => v === '' || env.values.has(v))) {
      // Every input is a constant (a DequantizeLinear of int8 weights, a Transpose of a
      // weight at -O0): computed once here whatever its size, uploaded like a weight.
      defineComputed(env, node);
    }
    if (node.outputs.every((o) => o === '' || env.values.has(o))) folded.add(node);
  }
  return { env, folded };
}

/** The nodes whose results the graph outputs need, given the values known at plan time. */
function neededNodes(graph: Graph, known: ReadonlyMap<string, Tensor>): Set<Node> {
  const needed = new Set<Node>();
  const stack = graph.outputs.map((o) => o.name);
  const seen = new Set<string>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v) || known.has(v)) continue;
    seen.add(v);
    const p = graph.producerNode(v);
    if (!p || needed.has(p)) continue;
    needed.add(p);
    for (const i of p.inputs) if (i !== '') stack.push(i);
  }
  return needed;
}

/** A storage: values sharing bytes over a time range. */
interface Storage { readonly values: string[]; bytes: number; start: number; end: number; buffer: number; offset: number }

const roundUp = (b: number, a: number): number => Math.max(a, Math.ceil(b / a) * a);

/** The lowest offset in `held` (storages placed in one buffer) where `st` fits between those alive at the same time. */
function lowestOffset(held: readonly Storage[], st: Storage, size: number, align: number): number {
  const busy = held.filter((p) => p.start <= st.end && st.start <= p.end).sort((a, b) => a.offset - b.offset);
  let off = 0;
  for (const p of busy) {
    if (p.offset - off >= size) break;
    off = Math.max(off, p.offset + roundUp(p.bytes, align));
  }
  return off;
}

/** Whole buffers shared by storages never alive at once, largest first (file comment, step 6). */
function assignPool(storages: readonly Storage[], align: number, buffers: PlanBuffer[]): void {
  const users: { buf: PlanBuffer; held: Storage[] }[] = [];
  for (const st of [...storages].sort((a, b) => b.bytes - a.bytes || a.start - b.start)) {
    let best: (typeof users)[number] | undefined;
    for (const u of users) {
      if (u.held.some((p) => p.start <= st.end && st.start <= p.end)) continue;
      if (!best || u.buf.bytes < best.buf.bytes) best = u;
    }
    if (!best) {
      best = { buf: { id: buffers.length, bytes: roundUp(st.bytes, align), kind: 'pool' }, held: [] };
      buffers.push(best.buf);
      users.push(best);
    }
    best.held.push(st);
    st.buffer = best.buf.id;
  }
}

/** Greedy-by-size packing into one arena at offsets (TFLite's strategy). */
function assignArena(storages: readonly Storage[], align: number, buffers: PlanBuffer[]): void {
  if (storages.length === 0) return;
  const id = buffers.length;
  const placed: Storage[] = [];
  let top = 0;
  for (const st of [...storages].sort((a, b) => b.bytes - a.bytes || a.start - b.start)) {
    const size = roundUp(st.bytes, align);
    const off = lowestOffset(placed, st, size, align);
    st.buffer = id;
    st.offset = off;
    placed.push(st);
    top = Math.max(top, off + size);
  }
  buffers.push({ id, bytes: top, kind: 'pool' });
}

/**
 * Write-into decisions (file comment, step 3): where each qualifying value goes and
 * the steps that then need no dispatch.
 */
function planWriteInto(
  order: readonly Node[],
  facts: readonly NodeFacts[],
  bytesOf: (v: string) => number | undefined,
  outputNames: ReadonlySet<string>,
  alignment: number,
): { views: Map<string, PlanView>; skipped: Set<number> } {
  const readers = new Map<string, number>();
  order.forEach((n) => new Set(n.inputs).forEach((v) => v !== '' && readers.set(v, (readers.get(v) ?? 0) + 1)));
  const producerAt = new Map<string, number>();
  order.forEach((n, i) => n.outputs.forEach((o) => o !== '' && producerAt.set(o, i)));
  const views = new Map<string, PlanView>();
  const skipped = new Set<number>();
  order.forEach((node, idx) => {
    const offsets = facts[idx]!.writeInto;
    if (!offsets || node.outputs.length !== 1) return;
    const ok = node.inputs.every((v, k) => {
      const p = producerAt.get(v);
      const bytes = bytesOf(v);
      if (v === '' || p === undefined || bytes === undefined || node.inputs.indexOf(v) !== k || readers.get(v) !== 1 || outputNames.has(v)) return false;
      const prod = facts[p]!;
      return bytes > 0 && bytes % 4 === 0 && offsets[k]! % alignment === 0 && !skipped.has(p) && prod.dispatches > 0 && prod.aliasOf === undefined;
    });
    if (!ok) return;
    skipped.add(idx);
    node.inputs.forEach((v, k) => views.set(v, { target: node.outputs[0]!, offset: offsets[k]!, size: bytesOf(v)! }));
  });
  return { views, skipped };
}

/** Plans a graph for concrete input types on a target (see file comment). */
export function planExecution(
  graph: Graph,
  inputTypes: ReadonlyMap<string, ValueType>,
  target: PlanTarget,
  inputValues?: ReadonlyMap<string, Tensor>,
): ExecutionPlan {
  const { env, folded } = foldGraph(graph, inputTypes, inputValues);
  const order = target.fold ? ((needed) => graph.topo.filter((n) => needed.has(n) && !folded.has(n)))(neededNodes(graph, env.values)) : graph.topo;
  const outputNames = new Set(graph.outputs.map((o) => o.name));
  const unplanned = new Set<string>();

  // Types (step 1).
  const infoOf = (name: string, where: string): PlanValueInfo | undefined => {
    const t = env.types.get(name);
    if (!t) {
      if (target.dynamicShapes === 'host') return undefined;
      throw new ShapeError(`${where}: value '${name}' has no type`, where);
    }
    if (!isTensorType(t) || t.dtype === 'string') {
      // Sequences, optionals and string tensors hold no planned bytes: the executor keeps them as they are.
      if (target.dynamicShapes === 'host') return undefined;
      const p = graph.producerNode(name);
      throw new UnsupportedOpError(
        [{ op: `${p?.op ?? 'input'} (${formatType(t)} value)`, nodes: [p?.name ?? name] }],
        `value '${name}' is a ${formatType(t)}, which the ${target.name} backend cannot hold`,
      );
    }
    if (!isStatic(t.shape)) {
      if (target.dynamicShapes === 'host') return undefined;
      throw new DataDependentShapeError(
        [{ op: graph.producerNode(name)?.op ?? 'input', nodes: [graph.producerNode(name)?.name ?? name] }],
        `value '${name}' has a data-dependent shape ${formatShape(t.shape)}, which the ${target.name} backend cannot plan`,
      );
    }
    return { dtype: t.dtype, shape: t.shape, value: env.values.get(name) };
  };
  const bytesOf = new Map<string, number>();
  const sizeOfValue = (v: string, where = v): number | undefined => {
    if (v === '' || unplanned.has(v)) return undefined;
    let b = bytesOf.get(v);
    if (b === undefined) {
      const t = infoOf(v, where);
      if (!t) { unplanned.add(v); return undefined; }
      b = target.bufferBytes(sizeOf(t.shape), t.dtype);
      if (target.maxValueBytes !== undefined && b > target.maxValueBytes) {
        if (target.dynamicShapes === 'host') { unplanned.add(v); return undefined; }
        throw new LimitError(`${where}: tensor '${v}' needs ${b} bytes, more than this device's ${target.limitName ?? 'buffer limit'} ${target.maxValueBytes}`, v);
      }
      bytesOf.set(v, b);
    }
    return b;
  };
  if (target.ownsInputs) for (const i of graph.inputs) sizeOfValue(i.name, `input '${i.name}'`);
  for (const n of order) for (const o of n.outputs) if (o !== '' && !(env.values.has(o) && (target.fold || graph.initializers.has(o)))) sizeOfValue(o, `node '${n.name}'`);

  // Facts (step 2).
  const missing = new Map<string, string[]>();
  const facts: NodeFacts[] = order.map((node) => {
    const def = opOf(node);
    const inputs = node.inputs.map((n) => (n === '' ? undefined : infoOf(n, node.name)));
    const outputs = node.outputs.map((n) => (n === '' ? { dtype: 'float32' as const, shape: [0] } : infoOf(n, node.name) ?? { dtype: 'float32' as const, shape: [0] }));
    const f = target.facts({ node, attrs: opContext(def, node).attrs, inputs, outputs });
    if (f) return f;
    const key = node.domain ? `${node.domain}::${node.op}` : node.op;
    missing.set(key, [...(missing.get(key) ?? []), node.name]);
    return { dispatches: 0 };
  });
  if (missing.size > 0) throw new UnsupportedOpError([...missing].map(([op, nodes]) => ({ op, nodes })), target.unsupported ?? `no ${target.name} kernel`);

  // Write-into (step 3).
  const { views, skipped } = planWriteInto(order, facts, sizeOfValue, outputNames, target.viewAlignment);

  // Liveness (step 4).
  const steps = order.length;
  const known = (v: string): boolean => env.values.has(v) && (target.fold || graph.initializers.has(v));
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  if (target.ownsInputs) for (const i of graph.inputs) { start.set(i.name, -1); end.set(i.name, -1); }
  order.forEach((n, i) => {
    for (const v of n.inputs) if (v !== '' && end.has(v)) end.set(v, Math.max(end.get(v)!, i));
    for (const o of n.outputs) if (o !== '' && !start.has(o)) { start.set(o, i); end.set(o, i); }
  });
  for (const o of outputNames) if (end.has(o)) end.set(o, steps);
  const aliases = new Map<string, string>();
  const root = (v: string): string => aliases.get(v) ?? v;
  order.forEach((n, i) => {
    const a = facts[i]!.aliasOf;
    const src = a === undefined ? undefined : n.inputs[a];
    if (src && n.outputs[0] && !unplanned.has(src) && sizeOfValue(n.outputs[0]) !== undefined) aliases.set(n.outputs[0], root(src));
  });
  const rootEnd = new Map<string, number>();
  for (const [v, e] of end) rootEnd.set(root(v), Math.max(rootEnd.get(root(v)) ?? -1, e));

  // Storages (step 5).
  const buffers: PlanBuffer[] = [];
  const assignments = new Map<string, Assignment>();
  const constants: PlanConstant[] = [];
  const pinnedValue = (name: string, t: Tensor, prepared: boolean): number => {
    const bytes = target.bufferBytes(t.size, t.dtype);
    if (target.maxValueBytes !== undefined && bytes > target.maxValueBytes) {
      throw new LimitError(`tensor '${name}' needs ${bytes} bytes, more than this device's ${target.limitName ?? 'buffer limit'} ${target.maxValueBytes}`, name);
    }
    const id = buffers.length;
    buffers.push({ id, bytes, kind: 'pinned' });
    constants.push({ buffer: id, name, tensor: t, prepared });
    return id;
  };
  const storageOf = new Map<string, Storage>();
  const storages: Storage[] = [];
  const inPlace = new Map<string, string>();
  const newStorage = (v: string, bytes: number, s: number): Storage => {
    const st: Storage = { values: [v], bytes, start: s, end: rootEnd.get(v) ?? s, buffer: -1, offset: 0 };
    storages.push(st);
    storageOf.set(v, st);
    return st;
  };
  if (target.ownsInputs) {
    for (const i of graph.inputs) {
      const b = sizeOfValue(i.name);
      if (b === undefined) continue;
      const st = newStorage(i.name, b, -1);
      st.buffer = buffers.length;
      buffers.push({ id: st.buffer, bytes: roundUp(b, target.alignment), kind: 'input' });
    }
  }
  const scratchOf: Storage[][] = [];
  const readConstants = new Set<string>();
  order.forEach((node, i) => {
    const f = facts[i]!;
    const reads = new Set(f.reads ?? node.inputs.map((_, j) => j));
    if (f.aliasOf !== undefined) reads.add(f.aliasOf);
    for (const k of reads) {
      const v = node.inputs[k] ? root(node.inputs[k]!) : '';
      if (target.ownsConstants && v && known(v) && !storageOf.has(v)) readConstants.add(v);
    }
    node.outputs.forEach((o, k) => {
      if (o === '' || aliases.has(o) || storageOf.has(o) || known(o)) return;
      const need = sizeOfValue(o);
      if (need === undefined) return;
      const view = views.get(o);
      if (view) {
        const host = storageOf.get(view.target) ?? newStorage(view.target, sizeOfValue(view.target)!, i);
        host.values.push(o);
        storageOf.set(o, host);
        return;
      }
      if (k === 0 && f.overwrite) {
        const outShape = env.types.get(o)!.shape;
        for (const v of node.inputs) {
          const st = v === '' ? undefined : storageOf.get(root(v));
          if (!st || st.end !== i || st.bytes !== need || outputNames.has(root(v)) || !shapeEq(env.types.get(v)!.shape, outShape)) continue;
          st.values.push(o);
          st.end = rootEnd.get(o) ?? i;
          storageOf.set(o, st);
          inPlace.set(o, v);
          return;
        }
      }
      newStorage(o, need, i);
    });
    scratchOf.push((f.scratch ?? []).map((bytes, j) => newStorage(`${node.name}:scratch${j}`, roundUp(bytes, 4), i)));
  });
  for (const v of readConstants) assignments.set(v, { buffer: pinnedValue(v, env.values.get(v)!, false), offset: 0 });
  const preparedOf = order.map((node, i) => (facts[i]!.constants ?? []).map((t, j) => pinnedValue(`${node.name}:prepared${j}`, t, true)));

  // Assignment (step 6).
  const pooled = storages.filter((st) => st.buffer < 0);
  if (target.strategy === 'arena') assignArena(pooled, target.alignment, buffers);
  else assignPool(pooled, target.alignment, buffers);
  for (const st of storages) {
    for (const v of st.values) {
      const view = views.get(v);
      assignments.set(v, { buffer: st.buffer, offset: st.offset + (view?.offset ?? 0) });
    }
  }
  for (const [v, r] of aliases) {
    const a = assignments.get(r);
    if (a) assignments.set(v, a);
  }

  let maxLive = 0;
  for (let i = 0; i < steps; i++) {
    let live = 0;
    for (const st of pooled) if (st.start <= i && i <= st.end) live += st.bytes;
    maxLive = Math.max(maxLive, live);
  }
  let total = 0;
  for (const [v, b] of bytesOf) if ((start.get(v) ?? -1) >= 0 && !aliases.has(v) && assignments.has(v)) total += b;
  const aliasesOf = (values: readonly string[]): string[] => [...aliases].filter(([, r]) => values.includes(r)).map(([v]) => v);
  const planSteps: PlanStep[] = order.map((node, i) => ({
    node,
    dispatches: skipped.has(i) ? 0 : facts[i]!.dispatches,
    writtenInto: skipped.has(i),
    scratch: scratchOf[i]!.map((s) => ({ buffer: s.buffer, offset: s.offset, bytes: s.bytes })),
    constants: preparedOf[i]!,
    ...(facts[i]!.aliasOf !== undefined ? { aliasOf: facts[i]!.aliasOf } : {}),
  }));
  const pool = buffers.filter((b) => b.kind === 'pool').reduce((s, b) => s + b.bytes, 0);
  return {
    target: target.name,
    steps: planSteps,
    buffers,
    assignments,
    types: env.types,
    values: env.values,
    lifetimes: [...start].filter(([v]) => assignments.has(v)).map(([value, s]) => ({ value, start: s, end: end.get(value) ?? s })),
    aliases,
    inPlace,
    views,
    constants,
    storages: storages.map((st) => ({ values: [...st.values, ...aliasesOf(st.values)], bytes: st.bytes, start: st.start, end: st.end, buffer: st.buffer, offset: st.offset })),
    valueBytes: bytesOf,
    unplanned,
    peakBytes: buffers.reduce((s, b) => s + b.bytes, 0),
    intermediateBytes: pool,
    totalBytes: total,
    maxLiveBytes: maxLive,
    dispatchCount: planSteps.reduce((s, p) => s + p.dispatches, 0),
    folded: folded.size,
  };
}
