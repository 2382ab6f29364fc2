/**
 * Loop-nest builders shared by the reduction-like kernels (Reduce*, ArgMax, norms,
 * pools' global forms, softmax, cumsum, top-k): one invocation per output element
 * walks the elements it reduces with a loop nest generated in TypeScript (rank is
 * part of the source, dims and strides are uniforms). The WGSL templates are in
 * shaders/reduce.ts.
 */
import { stridesOf, type ConcreteShape } from '../../graph/shape.js';
import { axisRowHead, reduceLoops } from '../../../shaders/reduce.js';
import { coordsOf, type ShaderBuilder } from './wgsl.js';

/** A generated loop nest over the reduced axes of one output element. */
export interface ReduceNest {
  /** WGSL lines computing `base` (u32 offset of the element's first input) from the output index. */
  readonly head: string;
  /** WGSL wrapping `body` (which reads the input at offset `q`) in the loops. */
  loops(body: string): string;
  /** Number of elements reduced per output. */
  readonly count: number;
}

/** Merges adjacent reduced axes that are contiguous and drops size-1 axes: [dim, stride] pairs. */
function mergedRuns(shape: ConcreteShape, axes: readonly number[]): [number, number][] {
  const st = stridesOf(shape);
  const runs: [number, number][] = [];
  let prev = -2;
  for (const a of [...axes].sort((x, y) => x - y)) {
    if (shape[a] === 1) continue;
    const last = runs[runs.length - 1];
    if (last && prev === a - 1 && last[1] === shape[a]! * st[a]!) {
      last[0] *= shape[a]!;
      last[1] = st[a]!;
    } else runs.push([shape[a]!, st[a]!]);
    prev = a;
  }
  return runs;
}

/**
 * The loop nest reducing `shape` over `axes` for output index `idx` (the output is
 * the kept axes in order; keepdims' 1s do not change linear order).
 */
export function reduceNest(sb: ShaderBuilder, idx: string, shape: ConcreteShape, axes: readonly number[], prefix = 'k'): ReduceNest {
  const st = stridesOf(shape);
  const kept = shape.map((_, a) => a).filter((a) => !axes.includes(a) && shape[a] !== 1);
  const { code, coords } = coordsOf(sb, idx, kept.map((a) => shape[a]!), prefix);
  const ks = sb.u32s(kept.map((a) => st[a]!));
  const base = coords.length ? coords.map((c, j) => `${c} * ${ks[j]}`).join(' + ') : '0u';
  const runs = mergedRuns(shape, axes);
  const dims = sb.u32s(runs.map((r) => r[0]));
  const strides = sb.u32s(runs.map((r) => r[1]));
  const count = axes.reduce((n, a) => n * shape[a]!, 1);
  return { head: `${code}\n  let base = ${base};`, count, loops: (body) => reduceLoops(dims, strides, body) };
}

/** Outer/axis/inner split of a shape at `axis`. */
export function splitAxis(shape: ConcreteShape, axis: number): { outer: number; n: number; inner: number } {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return { outer, n: shape[axis]!, inner };
}

/**
 * WGSL for one-invocation-per-row kernels along one axis: from linear row index
 * `idx` (over outer × inner) computes `base` and `step` so that row element k is at
 * `base + k * step`. Returns the lines and the uniform expression of `n`.
 */
export function axisRow(sb: ShaderBuilder, idx: string, shape: ConcreteShape, axis: number): { head: string; n: string } {
  const { n, inner } = splitAxis(shape, axis);
  const nU = sb.u32(n);
  const innerU = sb.u32(inner);
  return { head: axisRowHead(idx, nU, innerU), n: nU };
}
