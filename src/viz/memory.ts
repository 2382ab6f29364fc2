/**
 * The memory view: buffers and their lifetimes along the schedule. It is drawn from
 * the optimizer's memory plan when one is given ({@link MemoryView} is the viewer's
 * input format; the CLI adapts the plan to it). Without a plan,
 * {@link naiveLifetimes} derives one buffer per intermediate value from the
 * topological schedule: live from the step that produces it to its last reader.
 */
import { dtypeBytes } from '../graph/dtype.js';
import type { Graph } from '../graph/graph.js';
import { shapeSize } from '../graph/shape.js';

/** One buffer: its size and the schedule steps [start, end] during which it is live. */
export interface MemoryBuffer {
  readonly name: string;
  /** Size in bytes (0 when a symbolic dim leaves it unknown). */
  readonly bytes: number;
  readonly start: number;
  readonly end: number;
  /** The values stored in this buffer over its life. */
  readonly values: readonly string[];
  /** Physical buffer and byte offset in it, when a memory plan placed the value. */
  readonly buffer?: number;
  readonly offset?: number;
}

/** Buffers along a schedule. */
export interface MemoryView {
  /** Where the plan came from, shown in the viewer. */
  readonly source: string;
  /** Node names in schedule order. */
  readonly steps: readonly string[];
  readonly buffers: readonly MemoryBuffer[];
  /** Peak bytes live at once (sum over buffers live at the busiest step). */
  readonly peakBytes: number;
}

/** Peak of the sum of live buffer sizes over the steps. */
export function peakBytes(steps: number, buffers: readonly MemoryBuffer[]): number {
  const delta = new Float64Array(steps + 2);
  for (const b of buffers) {
    const s = Math.max(0, b.start);
    const e = Math.min(steps, b.end) + 1;
    delta[s] = delta[s]! + b.bytes;
    delta[e] = delta[e]! - b.bytes;
  }
  let live = 0;
  let peak = 0;
  for (let i = 0; i <= steps; i++) {
    live += delta[i]!;
    peak = Math.max(peak, live);
  }
  return peak;
}

/** One buffer per intermediate value, live from its producer to its last reader (outputs to the end). */
export function naiveLifetimes(g: Graph): MemoryView {
  const order = g.topo.filter((n) => n.op !== 'Constant');
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  order.forEach((n, i) => {
    for (const o of n.outputs) if (o !== '') { start.set(o, i); end.set(o, i); }
    for (const v of n.inputs) if (start.has(v)) end.set(v, i);
  });
  for (const o of g.outputs) if (start.has(o.name)) end.set(o.name, order.length - 1);
  const buffers: MemoryBuffer[] = [...start].map(([name, s]) => {
    let bytes = 0;
    try {
      const t = g.typeOf(name);
      bytes = (shapeSize(t.shape) ?? 0) * dtypeBytes(t.dtype);
    } catch {
      bytes = 0;
    }
    return { name, bytes, start: s, end: end.get(name) ?? s, values: [name] };
  });
  return { source: 'lifetimes of each value (no memory plan given)', steps: order.map((n) => n.name), buffers, peakBytes: peakBytes(order.length, buffers) };
}
