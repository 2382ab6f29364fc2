/**
 * Helpers shared by the ops' gradient declarations ({@link GradientFn}): constants
 * of a value's dtype, zeros, reducing a broadcast gradient back to an operand's
 * shape, and spreading a reduced gradient back over the reduced axes. They only emit
 * nodes through the builder; shapes stay symbolic where the graph's are.
 */
import type { GraphBuilder, Sym } from '../builder.js';
import { GradientError, type GradientFn } from '../gradient.js';
import { Tensor } from '../tensor.js';

/** A 1-D int64 constant. */
export function ints(b: GraphBuilder, vals: readonly number[]): Sym {
  return b.constant(Tensor.from('int64', [vals.length], vals), { name: 'grad_axes' });
}

/** A scalar constant with the dtype of `like`. */
export function scalar(b: GraphBuilder, v: number, like: Sym): Sym {
  return b.constant(Tensor.scalar(like.dtype, v), { name: 'grad_const' });
}

/** Zeros with the dtype and (run-time) shape of `like`. */
export function zerosLike(b: GraphBuilder, like: Sym): Sym {
  return b.ConstantOfShape([b.Shape([like])], { value: Tensor.from(like.dtype, [1], [0]) });
}

/** `g` (shaped like the broadcast result) summed over the axes `target` was broadcast along, reshaped to `target`'s shape. */
export function sumTo(b: GraphBuilder, g: Sym, target: Sym): Sym {
  const lead = g.rank - target.rank;
  if (lead < 0) throw new GradientError(`gradient of rank ${g.rank} cannot be reduced to rank ${target.rank} ('${target.name}')`, target.name);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) { axes.push(i); continue; }
    const t = target.shape[i - lead];
    if (t === 1 && g.shape[i] !== 1) axes.push(i);
  }
  if (axes.length === 0) return g;
  const summed = b.ReduceSum([g, ints(b, axes)], { keepdims: 1 });
  return lead > 0 || target.rank !== g.rank ? b.Reshape([summed, b.Shape([target])]) : summed;
}

/**
 * A gradient `g` of a reduction of `x` over `axes` (keepdims or not), broadcast back
 * to `x`'s shape (each element of `x` receives its reduced element's gradient).
 */
export function unreduce(b: GraphBuilder, g: Sym, x: Sym, axes: readonly number[], keepdims: boolean): Sym {
  const kept = keepdims || axes.length === 0 ? g : b.Unsqueeze([g, ints(b, axes)]);
  return b.Expand([kept, b.Shape([x])]);
}

/** Normalizes axes (negative counted from the end) of a rank-`rank` value, sorted. */
export function normAxes(axes: readonly number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
}

/** The permutation that undoes `perm`. */
export function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => { inv[p] = i; });
  return inv;
}

/** The gradient of a one-input, one-output op: `f(b, x, y, g, attrs)` gives dL/dx from x, y = op(x) and g = dL/dy. */
export function unaryGrad<A>(f: (b: GraphBuilder, x: Sym, y: Sym, g: Sym, attrs: A) => Sym): GradientFn<A> {
  return ({ b, inputs, outputs, grads, attrs }) => [f(b, inputs[0]!, outputs[0]!, grads[0]!, attrs)];
}

/** `g` where `cond` holds, 0 elsewhere. */
export function gradWhere(b: GraphBuilder, cond: Sym, g: Sym): Sym {
  return b.Where([cond, g, scalar(b, 0, g)]);
}

/**
 * The gradient of a pure selection `y = select(x)` (Slice, Gather, Pad, ...: every
 * element of `y` is one element of `x`, or a fill value): `select` is applied to an
 * int64 tensor shaped like `x` holding 1 + each element's flat index (fill values
 * become 0, a dummy slot), and `g` is scatter-added at those indices, so elements
 * picked several times receive the sum of their gradients.
 */
export function selectAdjoint(b: GraphBuilder, x: Sym, g: Sym, select: (index: Sym) => Sym): Sym {
  const one = b.constant(Tensor.scalar('int64', 1), { name: 'grad_one' });
  const iota = b.Reshape([b.Range([one, b.Add([b.Size([x]), one]), one]), b.Shape([x])]);
  return scatterAdd(b, x, select(iota), g, true);
}

/**
 * Zeros shaped like `x` plus `g` scatter-added at the flat indices `at` (shaped like
 * `g`; int64). With `dummy`, the indices are 1-based and 0 drops the element.
 */
export function scatterAdd(b: GraphBuilder, x: Sym, at: Sym, g: Sym, dummy = false): Sym {
  const n = dummy ? b.Add([b.Size([x]), b.constant(Tensor.scalar('int64', 1), { name: 'grad_one' })]) : b.Size([x]);
  const nv = b.Reshape([n, ints(b, [1])]);
  const acc = b.ConstantOfShape([nv], { value: Tensor.from(g.dtype, [1], [0]) });
  const summed = b.ScatterND([acc, b.Reshape([at, ints(b, [-1, 1])]), b.Reshape([g, ints(b, [-1])])], { reduction: 'add' });
  return b.Reshape([dummy ? b.Slice([summed, ints(b, [1]), nv]) : summed, b.Shape([x])]);
}

/** The spatial dims (axes 2..) of `x` as numbers; a GradientError naming the node when one is symbolic. */
export function staticSpatial(x: Sym, node: string, op: string): number[] {
  const s = x.shape.slice(2);
  if (s.some((d) => typeof d !== 'number')) throw new GradientError(`${node}: the gradient of ${op} needs static spatial dims, got [${x.shape.join(',')}]`, node);
  return s as number[];
}

/** The constant value of an optional int input as numbers (undefined when absent); a GradientError when it is not constant. */
export function constInts(s: Sym | undefined, node: string, what: string): number[] | undefined {
  if (!s) return undefined;
  const v = s.value;
  if (!v) throw new GradientError(`${node}: the gradient needs ${what} to be a constant`, node);
  return Array.from(v.data as ArrayLike<number | bigint>, Number);
}

/**
 * The output_padding that makes a ConvTranspose with this window (strides, dilations,
 * kernel, pads) give back the forward input's spatial dims `spatial` from `out`.
 */
export function outputPadding(spatial: readonly number[], out: readonly number[], k: readonly number[], strides: readonly number[], dilations: readonly number[], padBegin: readonly number[], padEnd: readonly number[]): number[] {
  return spatial.map((d, i) => d - ((out[i]! - 1) * strides[i]! + (k[i]! - 1) * dilations[i]! + 1 - padBegin[i]! - padEnd[i]!));
}
