/**
 * Static memory planning. The plan is plain data, testable without a GPU and
 * drawable by the visualizer.
 *
 * Algorithm (in the spirit of TVM's static_plan_block_memory and wonnx's planner):
 * 1. Schedule: the graph's topological order; node i runs at step i.
 * 2. Liveness: a value produced at step s lives until the last step that reads it
 *    (graph outputs live to the end; unread values die where they are born).
 * 3. Aliasing: the output of an op with the ALIAS trait (Reshape, Squeeze, Unsqueeze,
 *    Flatten, Identity — ops that never move data) with the element count and dtype
 *    of its input shares its input's storage; the storage's lifetime is extended to
 *    cover every alias. Aliases of graph inputs or initializers are not planned.
 * 4. In-place: an elementwise node (op with `expr`, or a Fused elementwise group)
 *    writes its output over an input of the same shape and byte size whose storage
 *    dies at this step (each output element reads only the same element of it).
 * 5. Storage assignment, two strategies. 'arena' (default): values (with their
 *    aliases and in-place successors) are packed into one buffer at offsets,
 *    largest first, each at the lowest offset that no value alive at the same time
 *    occupies (TFLite's greedy-by-size); the peak is close to the most bytes alive at
 *    once. 'pool': whole buffers are reused best fit — the smallest free buffer at
 *    least as large, else the largest free one grown to fit, else a new one. Sizes
 *    are rounded up to a 256-byte size class (WebGPU's offset alignment); a value
 *    born at a step never shares with a value read at that step.
 * Byte sizes come from an `elementBytes(dtype)` function (GPU storage: 4 bytes per
 * element, 2 for float16 when enabled). `peakBytes` is the sum of buffer sizes (what
 * the plan allocates); `totalBytes` the sum of every planned value's bytes (what
 * one buffer per value would cost); `maxLiveBytes` the largest sum of live values at
 * one step (a lower bound on any plan).
 */
import type { DType } from '../graph/dtype.js';
import { LimitError, ShapeError } from '../graph/errors.js';
import type { Graph, Node } from '../graph/graph.js';
import { findOp, getTrait, setTrait, traitKey, type TraitKey } from '../graph/op.js';
import { formatShape, shapeEq, type Shape } from '../graph/shape.js';
import { isElementwise } from './fusion-util.js';

/** Trait: the op's output is its first input's data, reinterpreted (no data moves). */
export const ALIAS: TraitKey<boolean> = traitKey<boolean>('kiln.alias');

const ALIAS_OPS = ['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity'];
for (const name of ALIAS_OPS) {
  const def = findOp(name);
  if (def) setTrait(def, ALIAS, true);
}

/** Bytes per element of a dtype in the target's storage. */
export type ElementBytes = (d: DType) => number;

/** GPU storage sizes: 4 bytes per element (int64 and bool too), float16 2 when `f16` is enabled. */
export function gpuElementBytes(opts: { f16?: boolean } = {}): ElementBytes {
  return (d) => (d === 'float16' && opts.f16 ? 2 : 4);
}

/** One physical buffer. */
export interface PlannedBuffer { readonly id: number; bytes: number }
/** Where a value lives. */
export interface Assignment { readonly buffer: number; readonly offset: number }
/** A value's live range in schedule steps (inclusive). */
export interface Lifetime { readonly value: string; readonly start: number; readonly end: number }

/** A memory plan (see file comment). */
export interface MemoryPlan {
  readonly buffers: PlannedBuffer[];
  readonly assignments: Map<string, Assignment>;
  readonly lifetimes: Lifetime[];
  /** Alias values → the value whose storage they share. */
  readonly aliases: Map<string, string>;
  /** In-place outputs → the input whose buffer they overwrite. */
  readonly inPlace: Map<string, string>;
  readonly peakBytes: number;
  readonly totalBytes: number;
  readonly maxLiveBytes: number;
  /** Bytes of each planned value. */
  readonly valueBytes: Map<string, number>;
}

/** Options of {@link planMemory}. */
export interface PlanOptions {
  readonly elementBytes?: ElementBytes;
  /** Sizes of symbolic dims. */
  readonly dims?: Readonly<Record<string, number>>;
  /** Allow in-place elementwise (default true). */
  readonly inPlace?: boolean;
  /**
   * 'arena' (default): one buffer, values at offsets packed greedily by size;
   * 'pool': whole buffers reused best-fit by size class.
   */
  readonly strategy?: 'arena' | 'pool';
}

const SIZE_CLASS = 256;

/** Bytes of a value of `shape` (symbolic dims resolved by `dims`). */
export function valueBytes(shape: Shape, dtype: DType, eb: ElementBytes, dims: Readonly<Record<string, number>> = {}, what = 'value'): number {
  let n = 1;
  for (const d of shape) {
    const v = typeof d === 'number' ? d : dims[d];
    if (v === undefined) throw new ShapeError(`${what}: shape ${formatShape(shape)} has unknown dim '${d}'; give its size to the planner`, what);
    n *= v;
  }
  return n * eb(dtype);
}

/** True if the node's output shares its first input's storage. */
export function isAliasNode(g: Graph, n: Node): boolean {
  const def = findOp(n.op, n.domain);
  if (!def || !getTrait(def, ALIAS) || n.outputs.length !== 1 || !n.inputs[0]) return false;
  const a = g.typeOf(n.inputs[0]);
  const b = g.typeOf(n.outputs[0]!);
  if (a.dtype !== b.dtype) return false;
  const count = (s: Shape) => s.reduce<number | string>((p, d) => (typeof p === 'number' && typeof d === 'number' ? p * d : `${p}*${d}`), 1);
  return count(a.shape) === count(b.shape);
}

function isInPlaceKind(n: Node): boolean {
  return isElementwise(n) || (n.op === 'Fused' && n.attrs['kind'] === 'elementwise');
}

/** A storage: one or more values (in-place chains) sharing bytes over a time range. */
interface Storage { readonly values: string[]; readonly bytes: number; readonly start: number; end: number; buffer: number; offset: number }

const align = (b: number): number => Math.max(SIZE_CLASS, Math.ceil(b / SIZE_CLASS) * SIZE_CLASS);

/** Best-fit reuse of whole buffers (see file comment, step 5). */
function assignPool(storages: readonly Storage[]): PlannedBuffer[] {
  const buffers: PlannedBuffer[] = [];
  const free: PlannedBuffer[] = [];
  const active: Storage[] = [];
  for (const st of [...storages].sort((a, b) => a.start - b.start)) {
    for (let k = active.length - 1; k >= 0; k--) {
      if (active[k]!.end < st.start) { free.push(buffers[active[k]!.buffer]!); active.splice(k, 1); }
    }
    const cls = align(st.bytes);
    let best = -1;
    for (let k = 0; k < free.length; k++) if (free[k]!.bytes >= cls && (best < 0 || free[k]!.bytes < free[best]!.bytes)) best = k;
    if (best < 0) {
      for (let k = 0; k < free.length; k++) if (best < 0 || free[k]!.bytes > free[best]!.bytes) best = k;
      if (best >= 0) free[best]!.bytes = cls;
    }
    const buf = best >= 0 ? free.splice(best, 1)[0]! : { id: buffers.length, bytes: cls };
    if (buf.id === buffers.length) buffers.push(buf);
    st.buffer = buf.id;
    active.push(st);
  }
  return buffers;
}

/** Greedy-by-size packing into one arena with offsets (TFLite's strategy). */
function assignArena(storages: readonly Storage[]): PlannedBuffer[] {
  const placed: Storage[] = [];
  let top = 0;
  for (const st of [...storages].sort((a, b) => b.bytes - a.bytes || a.start - b.start)) {
    const size = align(st.bytes);
    const busy = placed.filter((p) => p.start <= st.end && st.start <= p.end).sort((a, b) => a.offset - b.offset);
    let off = 0;
    for (const p of busy) {
      if (p.offset - off >= size) break;
      off = Math.max(off, p.offset + align(p.bytes));
    }
    st.buffer = 0;
    st.offset = off;
    placed.push(st);
    top = Math.max(top, off + size);
  }
  return storages.length ? [{ id: 0, bytes: top }] : [];
}

/** Plans the memory of a graph's node outputs (see file comment). */
export function planMemory(g: Graph, opts: PlanOptions = {}): MemoryPlan {
  const eb = opts.elementBytes ?? gpuElementBytes();
  const order = g.topo;
  const steps = order.length;
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  order.forEach((n, i) => {
    for (const o of n.outputs) if (o !== '') { start.set(o, i); end.set(o, i); }
    for (const v of n.inputs) if (v !== '' && end.has(v)) end.set(v, Math.max(end.get(v)!, i));
  });
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  for (const o of graphOutputs) if (end.has(o)) end.set(o, steps);
  const aliases = new Map<string, string>();
  const root = (v: string): string => aliases.get(v) ?? v;
  for (const n of order) if (isAliasNode(g, n)) aliases.set(n.outputs[0]!, root(n.inputs[0]!));
  const rootEnd = new Map<string, number>();
  for (const [v, e] of end) rootEnd.set(root(v), Math.max(rootEnd.get(root(v)) ?? -1, e));
  const bytesOf = new Map<string, number>();
  const sizeOfValue = (v: string): number => {
    let b = bytesOf.get(v);
    if (b === undefined) {
      const t = g.typeOf(v);
      b = valueBytes(t.shape, t.dtype, eb, opts.dims, v);
      bytesOf.set(v, b);
    }
    return b;
  };

  const storageOf = new Map<string, Storage>();
  const storages: Storage[] = [];
  const inPlace = new Map<string, string>();
  order.forEach((n, i) => {
    for (const o of n.outputs) {
      if (o === '' || aliases.has(o)) continue;
      const need = sizeOfValue(o);
      const e = rootEnd.get(o) ?? i;
      let host: Storage | undefined;
      if (opts.inPlace !== false && isInPlaceKind(n)) {
        const outShape = g.typeOf(o).shape;
        for (const v of n.inputs) {
          const st = v === '' ? undefined : storageOf.get(root(v));
          if (!st || st.end !== i || st.bytes !== need || graphOutputs.has(root(v)) || !shapeEq(g.typeOf(v).shape, outShape)) continue;
          host = st;
          inPlace.set(o, v);
          break;
        }
      }
      if (host) {
        host.values.push(o);
        host.end = e;
      } else {
        host = { values: [o], bytes: need, start: i, end: e, buffer: -1, offset: 0 };
        storages.push(host);
      }
      storageOf.set(o, host);
    }
  });
  const buffers = (opts.strategy ?? 'arena') === 'arena' ? assignArena(storages) : assignPool(storages);
  const assignments = new Map<string, Assignment>();
  for (const st of storages) for (const v of st.values) assignments.set(v, { buffer: st.buffer, offset: st.offset });
  for (const [v, r] of aliases) {
    const a = assignments.get(r);
    if (a) assignments.set(v, a);
  }
  let maxLive = 0;
  for (let i = 0; i < steps; i++) {
    let live = 0;
    for (const st of storages) if (st.start <= i && i <= st.end) live += st.bytes;
    maxLive = Math.max(maxLive, live);
  }
  const lifetimes: Lifetime[] = [...start].map(([value, s]) => ({ value, start: s, end: end.get(value) ?? s }));
  let total = 0;
  for (const [v, b] of bytesOf) if (!aliases.has(v)) total += b;
  return {
    buffers,
    assignments,
    lifetimes,
    aliases,
    inPlace,
    peakBytes: buffers.reduce((s, b) => s + b.bytes, 0),
    totalBytes: total,
    maxLiveBytes: maxLive,
    valueBytes: bytesOf,
  };
}

/** Device limits a plan must respect (WebGPU adapter limits). */
export interface PlanLimits {
  readonly maxBufferSize?: number;
  readonly maxStorageBufferBindingSize?: number;
  /** Budget for all planned buffers together. */
  readonly maxTotalBytes?: number;
}

/** Throws a LimitError naming the value and the limit when the plan does not fit the device. */
export function checkPlanLimits(plan: MemoryPlan, limits: PlanLimits): void {
  const cap = Math.min(limits.maxBufferSize ?? Infinity, limits.maxStorageBufferBindingSize ?? Infinity);
  for (const b of plan.buffers) {
    if (b.bytes <= cap) continue;
    const values = [...plan.assignments].filter(([, a]) => a.buffer === b.id).map(([v]) => v);
    const which = limits.maxStorageBufferBindingSize !== undefined && b.bytes > limits.maxStorageBufferBindingSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    throw new LimitError(
      `buffer #${b.id} needs ${b.bytes} bytes for value '${values[0] ?? '?'}'${values.length > 1 ? ` (and ${values.length - 1} more)` : ''}, more than the device's ${which} of ${cap} bytes`,
      values[0],
    );
  }
  if (limits.maxTotalBytes !== undefined && plan.peakBytes > limits.maxTotalBytes) {
    throw new LimitError(`the memory plan needs ${plan.peakBytes} bytes of intermediate buffers, more than the budget of ${limits.maxTotalBytes} bytes`);
  }
}
