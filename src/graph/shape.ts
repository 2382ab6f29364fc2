/**
 * Shapes with symbolic dimensions. A dim is a non-negative integer or a name
 * (`'batch'`). Names are compared by identity: two dims with the same name are
 * equal. Unknown dims produced by inference get fresh names derived from the node.
 */
import { ShapeError } from './errors.js';

/** One dimension: a concrete size or a symbolic name. */
export type Dim = number | string;
/** A shape: one dim per axis. */
export type Shape = readonly Dim[];
/** A shape whose dims are all known numbers. */
export type ConcreteShape = readonly number[];

/** True if every dim is a number. */
export function isStatic(s: Shape): s is ConcreteShape {
  return s.every((d) => typeof d === 'number');
}

/** Formats a shape as `[batch,3,224,224]`. */
export function formatShape(s: Shape): string {
  return `[${s.join(',')}]`;
}

/** Number of elements, or undefined if a dim is symbolic. */
export function shapeSize(s: Shape): number | undefined {
  let n = 1;
  for (const d of s) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

/** Number of elements of a concrete shape. */
export function sizeOf(s: ConcreteShape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

/** Row-major strides of a concrete shape. */
export function stridesOf(s: ConcreteShape): number[] {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s[i]!;
  }
  return st;
}

/** Throws unless `s` is concrete; used where an op needs known dims. */
export function requireStatic(s: Shape, node: string, what: string): ConcreteShape {
  if (!isStatic(s)) throw new ShapeError(`${node}: ${what} must have known dims, got ${formatShape(s)}`, node);
  return s;
}

/** Two dims equal (same number or same name). */
export function dimEq(a: Dim, b: Dim): boolean {
  return a === b;
}

/** Two shapes equal dim by dim. */
export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Broadcasts one pair of dims, or returns undefined if they cannot broadcast. */
export function broadcastDim(a: Dim, b: Dim): Dim | undefined {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'number' && typeof b === 'number') return undefined;
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return a;
}

/** Numpy-style multidirectional broadcast of several shapes. */
export function broadcastShapes(shapes: readonly Shape[], node: string): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    for (let i = 0; i < s.length; i++) {
      const r = broadcastDim(out[off + i]!, s[i]!);
      if (r === undefined) {
        throw new ShapeError(
          `${node}: shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast (axis ${off + i}: ${out[off + i]} vs ${s[i]})`,
          node,
        );
      }
      out[off + i] = r;
    }
  }
  return out;
}

/** Normalizes a possibly negative axis into [0, rank). */
export function normalizeAxis(axis: number, rank: number, node: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(`${node}: axis ${axis} is out of range for rank ${rank}`, node);
  }
  return a;
}

/** Multiplies dims; symbolic if any factor is symbolic (name derived from `fresh`). */
export function mulDims(dims: readonly Dim[], fresh: () => string): Dim {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return dims.length === 1 ? d : fresh();
    n *= d;
  }
  return n;
}

/** Largest dim Kiln accepts; larger values are treated as hostile. */
export const MAX_DIM = 2 ** 31 - 1;
/** Largest element count Kiln accepts for one tensor. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** Throws a ShapeError if a concrete dim is negative, non-integer or huge. */
export function checkDims(s: Shape, node: string): void {
  let n = 1;
  for (const d of s) {
    if (typeof d === 'number') {
      if (!Number.isInteger(d) || d < 0 || d > MAX_DIM) {
        throw new ShapeError(`${node}: invalid dim ${d} in shape ${formatShape(s)}`, node);
      }
      n *= d;
    }
  }
  if (n > MAX_ELEMENTS) throw new ShapeError(`${node}: shape ${formatShape(s)} has ${n} elements, more than ${MAX_ELEMENTS}`, node);
}
