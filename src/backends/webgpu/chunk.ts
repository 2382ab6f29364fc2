/**
 * Values larger than one storage binding, on WebGPU: a node that reads or writes a
 * tensor of more than `maxStorageBufferBindingSize` bytes runs as *chunks*.
 *
 * A buffer may be larger than one binding (`maxBufferSize`, often 2–4 GiB against
 * 128 MiB bindings), and a binding may be a byte range of a buffer at an offset that
 * is a multiple of `minStorageBufferOffsetAlignment`. So such a value lives in one
 * buffer of its own size, and each node that touches it is planned again (by its own
 * kernel, unchanged) for a run of *rows* at a time: the rows of the output's leading
 * axes 0..a flattened, a chunk of n rows being a contiguous byte range of every
 * value split with it. Each chunk's kernel sees the chunk's shapes, the leading axes
 * of a split value replaced by `[1, …, 1, n]` (so its rank and axis attributes stay
 * as they are), and binds each split value's range; the values not split (a weight,
 * a broadcast bias, a Gather's table) are bound whole. Chunks are as large as the
 * binding allows, in multiples of rows that keep every range's offset aligned.
 *
 * Each kernel declares its split (GpuKernel.split, a function of the output axis
 * `a`, tried from 0; the rules are here):
 * - elementwise ops (the generic kernel of every op with an `expr`) and Fused
 *   'elementwise' groups ({@link broadcastSplit}): an input that has the output's
 *   leading dims is split with it, one broadcast along them (dims of 1 or absent)
 *   is bound whole;
 * - MatMul ({@link matmulSplit}): A and Y by batch × M rows with B bound whole (B
 *   without batch), or by batch with B split too; Gemm with transA = 0
 *   ({@link gemmSplit}): A, Y and a C with rows, by M rows;
 * - Gather ({@link gatherSplit}): along axis 0, the indices' rows (the table bound
 *   whole); along a later axis, the table's and the output's leading rows;
 * - Conv ({@link convSplit}): by batch (X and Y), or with one image by output
 *   channels (Y, W and the bias; X bound whole), or for grouped convolutions by
 *   groups (X, W, Y, bias; the chunk's `group` is its number of groups);
 * - ConvInteger ({@link convIntegerSplit}) as Conv; ConvTranspose
 *   ({@link convTransposeSplit}) by batch, by groups, or with one image and a constant
 *   W by output channels; MatMulInteger ({@link matmulIntegerSplit}) as MatMul, a
 *   per-row a_zero_point split with A's rows;
 * - Fused 'epilogue' groups: the anchor's split, the chain's extra inputs like
 *   elementwise inputs (kernels/epilogue.ts);
 * - Concat along an axis after `a`; Softmax, LogSoftmax and LayerNormalization over
 *   axes after `a` ({@link rowwiseSplit}: rows are independent);
 * - reductions over axes after `a` ({@link leadingSplit}).
 * A kernel may instead declare its own tiles (GpuKernel.tiles), tried when no split
 * fits: element ranges per value and a plan per tile. Transpose and Slice do
 * ({@link copyTiles}: boxes of the output whose input and output ranges both fit, so a
 * 2-D transpose runs as blocks of rows × columns); so do reductions over a leading axis
 * whose partial results merge (Sum, Mean, Max, Min, Prod, L1, SumSquare, and L2,
 * LogSum, LogSumExp finished on the last block: {@link reductionTiles}, blocks of rows
 * each merged into the output); so does a Gemm with transA or an operand no row split
 * covers ({@link productTiles}: m × n × k blocks, later k-blocks adding into the output).
 * Rows whose byte size breaks the offset alignment are staged through aligned scratch.
 * A node whose large value nothing covers (a scan such as CumSum, a ConvTranspose with a
 * run-time weight, one row beyond the binding) keeps its plan, and the binding check
 * (plan.ts) reports a LimitError naming the node, its op, the value and why.
 */
import { Tensor } from '../../graph/tensor.js';
import { storageBytes, type BindingRef, type Dispatch, type ElementRange, type GpuKernel, type GpuTensorInfo, type KernelContext, type KernelPlan, type KernelSplit, type KernelTile, type SplitRows as Rows } from './kernel.js';
import { ShaderBuilder } from './wgsl.js';

/** A byte range of a value's place that one chunk binds. */
export interface Window { readonly offset: number; readonly size: number }

/** One chunk: its kernel plan and the ranges its split values bind (undefined: the whole value). */
export interface Chunk {
  readonly plan: KernelPlan;
  readonly inputs: readonly (Window | undefined)[];
  readonly outputs: readonly (Window | undefined)[];
  /** Node scratch index of each of the chunk plan's scratch buffers. */
  readonly scratch: readonly number[];
  /** Node constant index of each of the chunk plan's prepared constants. */
  readonly constants: readonly number[];
  /** Per input: the node constant holding this chunk's rows of a split constant input (bound instead of a range of it). */
  readonly inputConstants?: readonly (number | undefined)[];
}

/** A node planned as chunks: the chunks, with the scratch and constants they share. */
export interface ChunkedPlan {
  readonly chunks: readonly Chunk[];
  readonly scratch: readonly number[];
  readonly constants: readonly Tensor[];
}

/** Product of dims. */
const prod = (d: readonly number[]): number => d.reduce((p, x) => p * x, 1);

/**
 * The rows of a value whose axis 0 sits at output axis `offset` (right-aligned
 * inputs: rank difference; a Gather's indices: its axis), split with the output over
 * output axes 0..a (`per` output rows per row): 'whole' when it is broadcast along
 * them (dims of 1 or absent), undefined when it is neither split nor broadcast.
 */
export function rowsOf(shape: readonly number[], offset: number, out: readonly number[], a: number, per = 1): Rows | 'whole' | undefined {
  let full = true;
  let bcast = true;
  for (let j = 0; j <= a; j++) {
    const i = j - offset;
    const d = i >= 0 && i < shape.length ? shape[i] : undefined;
    if (d === undefined ? out[j] !== 1 : d !== out[j]) full = false;
    if (d !== undefined && d !== 1) bcast = false;
  }
  if (bcast) return 'whole';
  if (!full) return undefined;
  const last = a - offset;
  if (last < 0 || last >= shape.length) return undefined;
  const tail = shape.slice(last + 1);
  return { unit: per * prod(tail), shape: (n) => [...Array.from({ length: last }, () => 1), n * per, ...tail] };
}

/** Elementwise-like rows of the values `ins` (node input indices; -1/absent whole) against `out` over axes 0..a. */
function broadcastRows(ins: readonly (GpuTensorInfo | undefined)[], out: readonly number[], a: number, per = 1): (Rows | undefined)[] | undefined {
  const rows: (Rows | undefined)[] = [];
  for (const t of ins) {
    if (!t) { rows.push(undefined); continue; }
    const r = rowsOf(t.shape, out.length - t.shape.length, out, a, per);
    if (r === undefined) return undefined;
    rows.push(r === 'whole' ? undefined : r);
  }
  return rows;
}

/** The number of rows of the output's axes 0..a. */
const rowsUpTo = (out: readonly number[], a: number): number => prod(out.slice(0, a + 1));

/** Every output split with output 0 (its shape), or undefined. */
function outputRows(ctx: KernelContext, a: number, per = 1): Rows[] | undefined {
  const out = ctx.outputs[0]!.shape;
  const rows = broadcastRows(ctx.outputs, out, a, per);
  return rows && rows.every((r) => r !== undefined) ? (rows as Rows[]) : undefined;
}

/** Elementwise ops and Fused elementwise groups: inputs split with the output or broadcast along its rows. */
export function broadcastSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const out = ctx.outputs[0]!.shape;
  if (a >= out.length) return undefined;
  const inputs = broadcastRows(ctx.inputs, out, a);
  const outputs = outputRows(ctx, a);
  return inputs && outputs ? { rows: rowsUpTo(out, a), inputs, outputs } : undefined;
}

/** MatMul: A and Y by rows of batch × M (B without batch, bound whole), or by batch (B split or broadcast). */
export function matmulSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const [A, B] = ctx.inputs;
  const out = ctx.outputs[0]!.shape;
  const R = out.length;
  if (!A || !B || A.shape.length < 2 || B.shape.length < 2 || a > R - 2) return undefined;
  const ra = rowsOf(A.shape, R - A.shape.length, out, a);
  // B's axis at output axis R-2 is K: with rows over M, B must be broadcast along the batch.
  const rb = a === R - 2 ? (R > 2 ? rowsOf(B.shape, R - B.shape.length, out, R - 3) : 'whole') : rowsOf(B.shape, R - B.shape.length, out, a);
  const outputs = outputRows(ctx, a);
  if (ra === undefined || rb === undefined || (a === R - 2 && rb !== 'whole') || !outputs) return undefined;
  return { rows: rowsUpTo(out, a), inputs: [ra === 'whole' ? undefined : ra, rb === 'whole' ? undefined : rb], outputs };
}

/** Gemm with transA = 0: A, Y (and C where it has rows) by rows of M; B bound whole. */
export function gemmSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const [A, , C] = ctx.inputs;
  const out = ctx.outputs[0]!.shape;
  if (!A || Number(ctx.attrs['transA'] ?? 0) !== 0 || a !== 0) return undefined;
  const ra = rowsOf(A.shape, 0, out, 0);
  const rc = C ? rowsOf(C.shape, out.length - C.shape.length, out, 0) : 'whole';
  const outputs = outputRows(ctx, 0);
  if (!ra || ra === 'whole' || rc === undefined || !outputs) return undefined;
  return { rows: out[0]!, inputs: [ra, undefined, rc === 'whole' ? undefined : rc], outputs };
}

/** A windowed op (Conv, ConvTranspose) by batch: X's and Y's images, the weights bound whole. */
function byBatch(ctx: KernelContext, X: GpuTensorInfo, out: readonly number[]): KernelSplit | undefined {
  const rx = rowsOf(X.shape, 0, out, 0);
  const outputs = outputRows(ctx, 0);
  return rx && rx !== 'whole' && outputs ? { rows: out[0]!, inputs: [rx, undefined, undefined], outputs } : undefined;
}

/**
 * A grouped windowed op of one image by groups: X's channels of a group (`cg`), W's
 * rows of a group (`wg`: M / group for Conv, C / group for ConvTranspose) and Y's
 * channels of a group (`mg`, also the bias's) are contiguous; the chunk's `group` is
 * its number of groups.
 */
function byGroups(ctx: KernelContext, X: GpuTensorInfo, W: GpuTensorInfo, bias: boolean, cg: number, wg: number, mg: number): KernelSplit | undefined {
  const xTail = X.shape.slice(2);
  const wTail = W.shape.slice(1);
  const outputs = outputRows(ctx, 1, mg);
  if (!outputs) return undefined;
  return {
    rows: Number(ctx.attrs['group'] ?? 1),
    inputs: [
      { unit: cg * prod(xTail), shape: (n) => [1, n * cg, ...xTail] },
      { unit: wg * prod(wTail), shape: (n) => [n * wg, ...wTail] },
      bias ? { unit: mg, shape: (n) => [n * mg] } : undefined,
    ],
    outputs,
    attrs: (n) => ({ ...ctx.attrs, group: n }),
  };
}

/** Conv: by batch; with one image by output channels (group 1) or by groups (the chunk's group is its number of groups). */
export function convSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const [X, W, Bi] = ctx.inputs;
  const out = ctx.outputs[0]!.shape;
  if (!X || !W || out.length < 3) return undefined;
  const group = Number(ctx.attrs['group'] ?? 1);
  if (a === 0) return byBatch(ctx, X, out);
  if (a !== 1 || out[0] !== 1) return undefined;
  const M = out[1]!;
  const wTail = W.shape.slice(1);
  if (group === 1) {
    const outputs = outputRows(ctx, 1);
    if (!outputs) return undefined;
    return { rows: M, inputs: [undefined, { unit: prod(wTail), shape: (n) => [n, ...wTail] }, Bi ? { unit: 1, shape: (n) => [n] } : undefined], outputs };
  }
  return byGroups(ctx, X, W, Bi !== undefined, X.shape[1]! / group, M / group, M / group);
}

/** ConvInteger (X, W, x_zero_point, w_zero_point): Conv's split, a per-channel w_zero_point split like a bias. */
export function convIntegerSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const [X, W, , wz] = ctx.inputs;
  const perChannel = wz !== undefined && prod(wz.shape) > 1;
  const s = convSplit({ ...ctx, inputs: [X, W, perChannel ? wz : undefined] }, a);
  return s && { ...s, inputs: [s.inputs[0], s.inputs[1], undefined, s.inputs[2]] };
}

/**
 * ConvTranspose: by batch (X and Y); with one image and groups, by groups (X's, W's
 * and Y's channels of a group are contiguous; W is [C, M / group, …]; the chunk's
 * `group` is its number of groups); with one image and one group, by output
 * channels (Y and the bias; X bound whole; W [C, M, …] is a constant whose columns
 * m0..m0+n each chunk uploads as its own [C, n, …]).
 */
export function convTransposeSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const [X, W, Bi] = ctx.inputs;
  const out = ctx.outputs[0]!.shape;
  if (!X || !W || out.length < 3) return undefined;
  const group = Number(ctx.attrs['group'] ?? 1);
  if (a === 0) return byBatch(ctx, X, out);
  if (a !== 1 || out[0] !== 1) return undefined;
  if (group > 1) {
    const cg = X.shape[1]! / group;
    return byGroups(ctx, X, W, Bi !== undefined, cg, cg, out[1]! / group);
  }
  const outputs = outputRows(ctx, 1);
  if (!outputs) return undefined;
  const [C, M] = W.shape as [number, number];
  const k = prod(W.shape.slice(2));
  const wTail = W.shape.slice(2);
  const columns: Rows = {
    unit: C * k,
    shape: (n) => [C, n, ...wTail],
    slice: (v, r0, n) => {
      const d = v.data;
      const part = new (d.constructor as new (n: number) => typeof d)(C * n * k);
      for (let c = 0; c < C; c++) part.set(d.subarray((c * M + r0) * k, (c * M + r0 + n) * k) as never, c * n * k);
      return new Tensor(v.dtype, [C, n, ...wTail], part as never);
    },
  };
  return { rows: M, inputs: [undefined, columns, Bi ? { unit: 1, shape: (n) => [n] } : undefined], outputs };
}

/**
 * MatMulInteger (A, B, a_zero_point, b_zero_point): MatMul's split, the zero points
 * bound whole; a per-row a_zero_point (one per row of M) is split with A's rows when
 * the chunks are rows of M (the batch is 1) and bound whole when they are batches.
 */
export function matmulIntegerSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const az = ctx.inputs[2];
  const out = ctx.outputs[0]!.shape;
  const R = out.length;
  const s = matmulSplit(ctx, a);
  if (!s) return undefined;
  if (!az || prod(az.shape) <= 1 || a < R - 2) return { ...s, inputs: [s.inputs[0], s.inputs[1], undefined, undefined] };
  if (prod(out.slice(0, R - 2)) !== 1) return undefined;
  return { ...s, inputs: [s.inputs[0], s.inputs[1], { unit: 1, shape: (n) => [n] }, undefined] };
}

/** Gather: along axis 0 by the indices' rows (the table bound whole); along a later axis by the table's leading rows. */
export function gatherSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const [data, idx] = ctx.inputs;
  const out = ctx.outputs[0]!.shape;
  if (!data || !idx || data.shape.length === 0) return undefined;
  const r = data.shape.length;
  const axis = ((Number(ctx.attrs['axis'] ?? 0) % r) + r) % r;
  const outputs = outputRows(ctx, a);
  if (!outputs) return undefined;
  if (a < axis) {
    const rd = rowsOf(data.shape, 0, out, a);
    return rd && rd !== 'whole' ? { rows: rowsUpTo(out, a), inputs: [rd, undefined], outputs } : undefined;
  }
  if (a >= axis + idx.shape.length || data.shape.slice(0, axis).some((d) => d !== 1)) return undefined;
  const ri = rowsOf(idx.shape, axis, out, a);
  return ri && ri !== 'whole' ? { rows: rowsUpTo(out, a), inputs: [undefined, ri], outputs } : undefined;
}

/**
 * Reductions (Reduce*, ArgMax/ArgMin) over axes from `first` on: input 0 and the
 * outputs by rows of the axes before it (they are the same axes on both sides, with
 * keepdims or without); the other inputs (axes) bound whole.
 */
export function leadingSplit(ctx: KernelContext, a: number, first: number): KernelSplit | undefined {
  const X = ctx.inputs[0];
  const out = ctx.outputs[0]!.shape;
  if (!X || a >= first) return undefined;
  const rx = rowsOf(X.shape, 0, out, a);
  const outputs = outputRows(ctx, a);
  if (!rx || rx === 'whole' || !outputs) return undefined;
  return { rows: rowsUpTo(out, a), inputs: ctx.inputs.map((_, k) => (k === 0 ? rx : undefined)), outputs };
}

/**
 * Ops whose rows before attribute `axis` are independent (Concat along it, Softmax,
 * LogSoftmax, LayerNormalization over it): split before it; inputs 1.. are split
 * too unless `broadcastRest` (a LayerNormalization's scale and bias).
 */
export function rowwiseSplit(broadcastRest = false): (ctx: KernelContext, a: number) => KernelSplit | undefined {
  return (ctx, a) => {
    const r = ctx.inputs[0]?.shape.length ?? 0;
    const ax = Number(ctx.attrs['axis'] ?? -1);
    if (a >= (ax < 0 ? ax + r : ax)) return undefined;
    const s = broadcastSplit(ctx, a);
    if (!s || !s.inputs[0] || (!broadcastRest && s.inputs.some((x, k) => ctx.inputs[k] && !x))) return undefined;
    return s;
  };
}

/** Bytes per element of a value on the GPU. */
const elemBytes = (t: GpuTensorInfo): number => storageBytes(t.storage);

const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));

/** Rows of `value` from row r0, n rows, as a tensor of the chunk's shape. */
function sliceRows(value: Tensor, rows: Rows, r0: number, n: number): Tensor {
  if (rows.slice) return rows.slice(value, r0, n);
  const shape = rows.shape(n);
  return new Tensor(value.dtype, shape, value.data.subarray(r0 * rows.unit, (r0 + n) * rows.unit) as never);
}

/** Two prepared constants with the same contents (chunks that prepared the same weight share one buffer). */
function sameTensor(x: Tensor, y: Tensor): boolean {
  if (x === y) return true;
  if (x.dtype !== y.dtype || x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) return false;
  const p = x.data;
  const q = y.data;
  if (p.length !== q.length) return false;
  for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return false;
  return true;
}

/** One planned chunk before assembly: its plan, the ranges it binds, and its own slices of split constant inputs. */
interface Piece {
  readonly plan: KernelPlan;
  readonly inputs: readonly (Window | undefined)[];
  readonly outputs: readonly (Window | undefined)[];
  readonly values: readonly (Tensor | undefined)[];
}

/**
 * Plans `ctx` (a node with a value over `limit` bytes) as chunks whose split values
 * each fit one binding: with the kernel's split into rows, else its own tiles; or
 * undefined when it has neither that does. `bytesOf` gives the bytes of each
 * value's place (padding included).
 */
export function planChunks(ctx: KernelContext, kernel: GpuKernel, bytesOf: (kind: 'input' | 'output', k: number) => number): ChunkedPlan | undefined {
  const pieces = rowPieces(ctx, kernel, bytesOf) ?? tilePieces(ctx, kernel, bytesOf);
  return pieces ? assemble(pieces) : undefined;
}

/**
 * Why `kernel` plans no chunks for `ctx` (a value beyond one binding), for the
 * binding check's LimitError (plan.ts).
 */
export function unchunkedReason(ctx: KernelContext, kernel: GpuKernel): string {
  const R = ctx.outputs[0]?.shape.length ?? 0;
  const splits = kernel.split ? Array.from({ length: R }, (_, a) => kernel.split!(ctx, a)).filter((s) => s && s.rows > 1) : [];
  if (splits.length === 0 && !kernel.tiles?.(ctx)) return 'it has no split into rows or tiles for this node (its elements depend on others along the split, or the value is not laid out in rows it could split)';
  return 'none of its splits into rows or tiles fits (a value bound whole, one row or block, or a non-constant operand whose rows are not contiguous is beyond the binding)';
}

/**
 * The chunks of the kernel's first split into rows that fits (see the module
 * comment): with every range's offset aligned, else (rows whose bytes are not a
 * multiple of the offset alignment, too few of them for an aligned run to fit)
 * with the ranged values staged ({@link stagedPlan}).
 */
function rowPieces(ctx: KernelContext, kernel: GpuKernel, bytesOf: (kind: 'input' | 'output', k: number) => number): Piece[] | undefined {
  if (!kernel.split) return undefined;
  const R = ctx.outputs[0]?.shape.length ?? 0;
  for (const staged of [false, true]) {
    for (let a = 0; a < R; a++) {
      const split = kernel.split(ctx, a);
      if (!split || split.rows <= 1) continue;
      const pieces = splitPieces(ctx, kernel, split, bytesOf, staged);
      if (pieces) return pieces;
    }
  }
  return undefined;
}

/** The chunks of one split into rows, or undefined when a value bound whole or one row does not fit. */
function splitPieces(ctx: KernelContext, kernel: GpuKernel, split: KernelSplit, bytesOf: (kind: 'input' | 'output', k: number) => number, staged: boolean): Piece[] | undefined {
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  // `ranged`: bound as a byte range of its place (offsets aligned); a split constant (a Conv's
  // weight and bias, a Gemm's C) is uploaded as one tensor per chunk instead, so it only has to fit.
  const parts: { t: GpuTensorInfo; rows: Rows; ranged: boolean }[] = [];
  let wholeFits = true;
  ctx.inputs.forEach((t, k) => {
    const r = split.inputs[k];
    // Rows that are not contiguous (`slice`) can only be a constant's, uploaded per chunk.
    if (t && r && r.slice && !t.value) wholeFits = false;
    else if (t && r) parts.push({ t, rows: r, ranged: !t.value });
    else if (t && bytesOf('input', k) > limit) wholeFits = false;
  });
  ctx.outputs.forEach((t, k) => {
    const r = split.outputs[k];
    if (r) parts.push({ t, rows: r, ranged: true });
    else if (bytesOf('output', k) > limit) wholeFits = false;
  });
  if (!wholeFits || parts.length === 0) return undefined;
  // Rows per chunk: a multiple of `step` (every range's offset aligned), at most what one binding holds;
  // staged, any number, a range's binding then starting up to one alignment before its first row.
  let step = 1;
  let most = Infinity;
  for (const p of parts) {
    const rowBytes = p.rows.unit * elemBytes(p.t);
    if (rowBytes === 0) continue;
    if (p.ranged && !staged) {
      const g = align / gcd(rowBytes % align, align);
      step = (step * g) / gcd(step, g);
    }
    if (p.ranged && staged && align % elemBytes(p.t) !== 0) return undefined;
    most = Math.min(most, Math.floor((p.ranged && staged ? limit - align : limit) / rowBytes));
  }
  const cap = Math.floor(Math.min(most, split.rows) / step) * step;
  if (cap < 1) return undefined;
  const count = Math.ceil(split.rows / cap);
  const per = Math.ceil(Math.ceil(split.rows / count) / step) * step;
  const pieces: Piece[] = [];
  for (let r0 = 0; r0 < split.rows; r0 += per) {
    const n = Math.min(per, split.rows - r0);
    const info = (t: GpuTensorInfo, rows: Rows | undefined, output: boolean): GpuTensorInfo =>
      !rows ? t : { ...t, shape: rows.shape(n), value: !output && t.value ? sliceRows(t.value, rows, r0, n) : undefined };
    const c: KernelContext = {
      ...ctx,
      attrs: split.attrs ? split.attrs(n) : ctx.attrs,
      inputs: ctx.inputs.map((t, k) => (t ? info(t, split.inputs[k], false) : undefined)),
      outputs: ctx.outputs.map((t, k) => info(t, split.outputs[k], true)),
    };
    // Element offset of the chunk's first row in its binding (staged ranges start at an aligned byte before it).
    const skips: { kind: 'input' | 'output'; k: number; skip: number; count: number }[] = [];
    const window = (kind: 'input' | 'output', k: number, t: GpuTensorInfo | undefined, rows: Rows | undefined, whole: number): Window | undefined => {
      if (!t || !rows) return undefined;
      const b = elemBytes(t);
      const first = r0 * rows.unit * b;
      // A split constant is bound as its own tensor (Chunk.inputConstants), never staged.
      const stage = staged && !(kind === 'input' && t.value);
      const offset = stage ? Math.floor(first / align) * align : first;
      if (stage) skips.push({ kind, k, skip: (first - offset) / b, count: n * rows.unit });
      // The last chunk binds the rest of the place (its padding included).
      return { offset, size: r0 + n === split.rows ? whole - offset : first - offset + n * rows.unit * b };
    };
    const inputs = ctx.inputs.map((t, k) => window('input', k, t, split.inputs[k], t ? bytesOf('input', k) : 0));
    const outputs = ctx.outputs.map((t, k) => window('output', k, t, split.outputs[k], bytesOf('output', k)));
    const kp = kernel.plan(c);
    pieces.push({
      plan: staged ? stagedPlan(c, kp, skips) : kp,
      inputs,
      outputs,
      values: c.inputs.map((t, k) => (split.inputs[k] ? t?.value : undefined)),
    });
  }
  return pieces;
}

/**
 * A chunk's plan with its ranged values staged: each is copied between its range
 * (bound from an aligned byte before the chunk's first row, `skip` elements) and a
 * scratch buffer of its own that the kernel binds instead (read-only for an input):
 * inputs before the kernel's dispatches, outputs after them.
 */
function stagedPlan(ctx: KernelContext, kp: KernelPlan, skips: readonly { kind: 'input' | 'output'; k: number; skip: number; count: number }[]): KernelPlan {
  const base = kp.scratch?.length ?? 0;
  const scratchOf = new Map(skips.map((s, j) => [`${s.kind}${s.k}`, base + j]));
  const copy = (s: (typeof skips)[number], j: number): Dispatch => {
    const t = (s.kind === 'input' ? ctx.inputs[s.k] : ctx.outputs[s.k])!;
    const sb = new ShaderBuilder(ctx);
    const value = s.kind === 'input' ? sb.input(s.k) : sb.output(s.k);
    const stage = sb.scratch(base + j, t.storage);
    const skip = sb.u32(s.skip);
    const body = (i: string): string => (s.kind === 'input' ? `  ${stage}[${i}] = ${value}[${skip} + ${i}];` : `  ${value}[${skip} + ${i}] = ${stage}[${i}];`);
    return sb.linear(s.count, body, `chunk.stage.${s.kind}`);
  };
  const rebind = (b: BindingRef): BindingRef => {
    const j = b.kind === 'input' || b.kind === 'output' ? scratchOf.get(`${b.kind}${b.index}`) : undefined;
    return j === undefined ? b : { kind: 'scratch', index: j, ...(b.kind === 'input' ? { readOnly: true } : {}) };
  };
  return {
    ...kp,
    scratch: [...(kp.scratch ?? []), ...skips.map((s) => Math.ceil((s.count * elemBytes((s.kind === 'input' ? ctx.inputs[s.k] : ctx.outputs[s.k])!)) / 4) * 4)],
    dispatches: [
      ...skips.map((s, j) => [s, j] as const).filter(([s]) => s.kind === 'input').map(([s, j]) => copy(s, j)),
      ...kp.dispatches.map((d) => ({ ...d, bindings: d.bindings.map(rebind) })),
      ...skips.map((s, j) => [s, j] as const).filter(([s]) => s.kind === 'output').map(([s, j]) => copy(s, j)),
    ],
  };
}

/** The chunks of the kernel's own tiles, when every range and every value bound whole fits one binding. */
function tilePieces(ctx: KernelContext, kernel: GpuKernel, bytesOf: (kind: 'input' | 'output', k: number) => number): Piece[] | undefined {
  const tiles = kernel.tiles?.(ctx);
  if (!tiles || tiles.length === 0) return undefined;
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const pieces: Piece[] = [];
  for (const tile of tiles) {
    let fits = true;
    const window = (t: GpuTensorInfo | undefined, r: ElementRange | undefined, whole: number): Window | undefined => {
      if (!t) return undefined;
      if (!r) {
        if (whole > limit) fits = false;
        return undefined;
      }
      const b = elemBytes(t);
      const offset = r.start * b;
      // Binding sizes are whole words; the place's padding holds the rest.
      const size = Math.min(Math.ceil((r.count * b) / 4) * 4, whole - offset);
      if (offset % align !== 0 || size > limit || size <= 0) fits = false;
      return { offset, size };
    };
    const inputs = ctx.inputs.map((t, k) => window(t, tile.inputs[k], t ? bytesOf('input', k) : 0));
    const outputs = ctx.outputs.map((t, k) => window(t, tile.outputs[k], bytesOf('output', k)));
    if (!fits) return undefined;
    const flat = (t: GpuTensorInfo, r: ElementRange | undefined, output: boolean): GpuTensorInfo =>
      !r ? t : { ...t, shape: [r.count], value: !output && t.value ? new Tensor(t.value.dtype, [r.count], t.value.data.subarray(r.start, r.start + r.count) as never) : undefined };
    const c: KernelContext = {
      ...ctx,
      inputs: ctx.inputs.map((t, k) => (t ? flat(t, tile.inputs[k], false) : undefined)),
      outputs: ctx.outputs.map((t, k) => flat(t, tile.outputs[k], true)),
    };
    pieces.push({ plan: tile.plan(c), inputs, outputs, values: c.inputs.map((t, k) => (tile.inputs[k] ? t?.value : undefined)) });
  }
  return pieces;
}

/** The chunks of `pieces`, with the scratch and prepared constants they share and their own constant slices. */
function assemble(pieces: readonly Piece[]): ChunkedPlan {
  const chunks: Chunk[] = [];
  const scratch: number[] = [];
  const constants: Tensor[] = [];
  // Chunks run one after another in one step: scratch buffers are shared by index when every chunk asks the same count.
  const sameScratch = pieces.every((p) => (p.plan.scratch?.length ?? 0) === (pieces[0]!.plan.scratch?.length ?? 0));
  for (const { plan: kp, inputs, outputs, values } of pieces) {
    const sc = (kp.scratch ?? []).map((bytes, j) => {
      if (sameScratch) {
        scratch[j] = Math.max(scratch[j] ?? 0, bytes);
        return j;
      }
      scratch.push(bytes);
      return scratch.length - 1;
    });
    const cs = (kp.constants ?? []).map((t) => {
      const at = constants.findIndex((u) => sameTensor(u, t));
      if (at >= 0) return at;
      constants.push(t);
      return constants.length - 1;
    });
    // A split constant input the chunk's plan binds is uploaded as the chunk's own constant.
    const inputConstants = values.map((v, k) => {
      if (!v || !kp.dispatches.some((d) => d.bindings.some((b) => b.kind === 'input' && b.index === k))) return undefined;
      constants.push(v);
      return constants.length - 1;
    });
    chunks.push({
      plan: kp,
      ...(inputConstants.some((c) => c !== undefined) ? { inputConstants } : {}),
      inputs,
      outputs,
      scratch: sc,
      constants: cs,
    });
  }
  return { chunks, scratch, constants };
}

/** A strided view of a flat value: element (c_0, …, c_r) at `offset + Σ c_j · strides_j`. */
export interface StridedView {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Most tiles one copy is planned as (each is a dispatch); beyond it the node keeps its plan and the binding check refuses it. */
const MAX_TILES = 4096;

/**
 * Tiles of a strided copy (Transpose, Slice) of input `input`, read through `src`
 * (a view over it whose shape is output 0's), into contiguous output 0, for when
 * either is larger than one binding. Each tile is a box of the output: axes before
 * `p` fixed to one index, a block of axis `p` and a block of the axis `w` that has
 * the largest input stride, the other axes whole. Both the box's input elements and
 * its output elements then lie in ranges that fit one binding (a 2-D transpose
 * becomes blocks of rows × columns); each range starts at an aligned element and the
 * tile's views are taken relative to it. Size-1 axes are dropped and axes contiguous
 * on both sides merged first. Undefined when no box fits or there would be more than
 * {@link MAX_TILES}.
 */
export function copyTiles(ctx: KernelContext, input: number, src: StridedView, copy: (ctx: KernelContext, src: StridedView, dst: StridedView) => KernelPlan): KernelTile[] | undefined {
  const x = ctx.inputs[input];
  const y = ctx.outputs[0];
  if (!x || !y) return undefined;
  const bx = elemBytes(x);
  const by = elemBytes(y);
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  if (align % bx !== 0 || align % by !== 0) return undefined;
  // Canonical axes: dims > 1, merged where the input is contiguous across them (the output always is).
  const d: number[] = [];
  const s: number[] = [];
  src.shape.forEach((n, j) => {
    if (n === 1) return;
    const last = d.length - 1;
    if (last >= 0 && s[last] === src.strides[j]! * n) {
      d[last] = d[last]! * n;
      s[last] = src.strides[j]!;
    } else {
      d.push(n);
      s.push(src.strides[j]!);
    }
  });
  if (d.some((n) => n === 0)) return undefined;
  if (d.length === 0) {
    d.push(1);
    s.push(1);
  }
  const R = d.length;
  const t = d.map((_, j) => prod(d.slice(j + 1)));
  // Elements a box of sizes b spans (at most; independent of where it sits), with room for aligning its start.
  const capX = Math.floor((limit - align) / bx);
  const capY = Math.floor((limit - align) / by);
  const spanOf = (b: readonly number[], st: readonly number[]): number => b.reduce((acc, n, j) => acc + (n - 1) * Math.abs(st[j]!), 1);
  const fits = (b: readonly number[]): boolean => spanOf(b, s) <= capX && spanOf(b, t) <= capY;
  const largest = (lo: number, hi: number, ok: (n: number) => boolean): number => {
    // The largest n in [lo, hi] with ok(n) (ok(lo) holds, ok is monotone).
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (ok(mid)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  for (let p = 0; p < R; p++) {
    let w = p;
    for (let j = p; j < R; j++) if (Math.abs(s[j]!) > Math.abs(s[w]!)) w = j;
    const box = (bu: number, bw: number): number[] => d.map((n, j) => (j < p ? 1 : j === p ? bu : j === w ? bw : n));
    if (!fits(box(1, 1))) continue;
    let bu = 1;
    let bw = 1;
    if (w === p) bu = largest(1, d[p]!, (n) => fits(box(n, 1)));
    else {
      // Half the input's room to the block of w first, then the block of p, then w again.
      bw = largest(1, d[w]!, (n) => spanOf(box(1, n), s) <= capX / 2 && fits(box(1, n)));
      bu = largest(1, d[p]!, (n) => fits(box(n, bw)));
      bw = largest(bw, d[w]!, (n) => fits(box(bu, n)));
    }
    const points = prod(d.slice(0, p));
    const nu = Math.ceil(d[p]! / bu);
    const nw = w === p ? 1 : Math.ceil(d[w]! / bw);
    if (points * nu * nw > MAX_TILES) return undefined;
    const tiles: KernelTile[] = [];
    for (let q = 0; q < points; q++) {
      const lo0 = d.map(() => 0);
      for (let j = p - 1, r = q; j >= 0; j--) {
        lo0[j] = r % d[j]!;
        r = Math.floor(r / d[j]!);
      }
      for (let iu = 0; iu < nu; iu++) {
        for (let iw = 0; iw < nw; iw++) {
          const lo = [...lo0];
          const b = d.map((n, j) => (j < p ? 1 : n));
          lo[p] = iu * bu;
          b[p] = Math.min(bu, d[p]! - lo[p]!);
          if (w !== p) {
            lo[w] = iw * bw;
            b[w] = Math.min(bw, d[w]! - lo[w]!);
          }
          // The box's first and last element on each side, and its range from an aligned start.
          const corner = (st: readonly number[], base: number): { start: number; count: number; at: number } => {
            let min = base;
            let max = base;
            let at = base;
            st.forEach((v, j) => {
              at += lo[j]! * v;
              min += (v >= 0 ? lo[j]! : lo[j]! + b[j]! - 1) * v;
              max += (v >= 0 ? lo[j]! + b[j]! - 1 : lo[j]!) * v;
            });
            return { start: min, count: max - min + 1, at };
          };
          const ix = corner(s, src.offset);
          const iy = corner(t, 0);
          const ax = align / bx;
          const ay = align / by;
          const xs = Math.floor(ix.start / ax) * ax;
          const ys = Math.floor(iy.start / ay) * ay;
          const range = (start: number, first: number, count: number): ElementRange => ({ start, count: first + count - start });
          tiles.push({
            inputs: ctx.inputs.map((_, k) => (k === input ? range(xs, ix.start, ix.count) : undefined)),
            outputs: ctx.outputs.map((_, k) => (k === 0 ? range(ys, iy.start, iy.count) : undefined)),
            plan: (c) => copy(c, { shape: b, strides: s, offset: ix.at - xs }, { shape: b, strides: t, offset: iy.at - ys }),
          });
        }
      }
    }
    return tiles;
  }
  return undefined;
}

/**
 * Tiles of a reduction whose input is beyond one binding along a reduced leading
 * axis (a ReduceSum over rows; the output fits): blocks of rows of the input's first
 * axis longer than 1 (the axes before it are 1), each reduced into the whole output,
 * the first block writing it and the others merging into what is there (`plan`'s
 * `merge`), one after another, the last finishing it (`last`: a square root, a log). Undefined when that axis is not reduced or one row
 * is beyond the binding.
 */
export function reductionTiles(ctx: KernelContext, axes: readonly number[], plan: (ctx: KernelContext, shape: number[], merge: boolean, last: boolean) => KernelPlan): KernelTile[] | undefined {
  const X = ctx.inputs[0];
  if (!X || ctx.outputs.length !== 1) return undefined;
  const p = X.shape.findIndex((d) => d !== 1);
  if (p < 0 || !axes.includes(p)) return undefined;
  const rows = X.shape[p]!;
  const tail = X.shape.slice(p + 1);
  const unit = prod(tail);
  const rowBytes = unit * elemBytes(X);
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  if (rowBytes === 0) return undefined;
  const step = align / gcd(rowBytes % align, align);
  const per = Math.floor(Math.floor(ctx.limits.maxStorageBufferBindingSize / rowBytes) / step) * step;
  if (per < 1 || Math.ceil(rows / per) > MAX_TILES) return undefined;
  const tiles: KernelTile[] = [];
  for (let r0 = 0; r0 < rows; r0 += per) {
    const n = Math.min(per, rows - r0);
    tiles.push({
      inputs: ctx.inputs.map((_, k) => (k === 0 ? { start: r0 * unit, count: n * unit } : undefined)),
      outputs: [undefined],
      plan: (c) => plan(c, [...X.shape.slice(0, p), n, ...tail], r0 > 0, r0 + n === rows),
    });
  }
  return tiles;
}

/** An operand of a product tiled in blocks ({@link productTiles}): a node input or output and its element strides. */
export interface BlockOperand {
  readonly kind: 'input' | 'output';
  readonly index: number;
  /** Element strides along the product's m, n and k (0 where the operand does not vary along one). */
  readonly strides: readonly [number, number, number];
}

/** One block of a tiled product: rows m0..m0+mn, columns n0..n0+nn, reduced k0..k0+kn. */
export interface ProductBlock {
  readonly m0: number;
  readonly mn: number;
  readonly n0: number;
  readonly nn: number;
  readonly k0: number;
  readonly kn: number;
  /** Per operand: the element offset of the block's first element in what the tile binds (the range, or the whole value). */
  readonly offsets: readonly number[];
}

/**
 * Tiles of a product Y[m, n] = Σ_k A[m, k]·B[k, n] (a Gemm with transA, whose
 * output rows are columns of A) for when an operand is beyond one binding and no
 * split into rows covers it: blocks of m × n × k, each operand beyond the binding
 * bound as the range its block spans (from an aligned start, the block's offset
 * relative to it), the others whole. The blocks of one (m, n) run one after
 * another along k, the first writing the output and the others adding into it
 * (`plan` knows from `k0`). Block sizes: the fewest blocks that fit, the fewest
 * along k first. Undefined when none fits or there would be more than {@link MAX_TILES}.
 */
export function productTiles(ctx: KernelContext, dims: readonly [number, number, number], operands: readonly BlockOperand[], plan: (ctx: KernelContext, block: ProductBlock) => KernelPlan): KernelTile[] | undefined {
  const [M, N, K] = dims;
  if (M === 0 || N === 0 || K === 0) return undefined;
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const infoOf = (o: BlockOperand): GpuTensorInfo | undefined => (o.kind === 'input' ? ctx.inputs[o.index] : ctx.outputs[o.index]);
  const ops = operands.map((o) => {
    const t = infoOf(o);
    const eb = t ? elemBytes(t) : 4;
    return { o, eb, ranged: t !== undefined && Math.ceil((prod(t.shape) * eb) / 4) * 4 > limit };
  });
  if (ops.some((p) => p.ranged && align % p.eb !== 0) || !ops.some((p) => p.ranged)) return undefined;
  const span = (s: readonly number[], mn: number, nn: number, kn: number): number => (mn - 1) * s[0]! + (nn - 1) * s[1]! + (kn - 1) * s[2]! + 1;
  // A ranged operand's block spans at most this many elements plus an aligned start's slack.
  const fits = (mn: number, nn: number, kn: number): boolean =>
    ops.every((p) => !p.ranged || (span(p.o.strides, mn, nn, kn) + align / p.eb - 1) * p.eb <= limit);
  const halvings = (n: number): number[] => {
    const out: number[] = [];
    for (let x = n; ; x = Math.ceil(x / 2)) {
      out.push(x);
      if (x === 1) break;
    }
    return out;
  };
  let best: { mn: number; nn: number; kn: number; count: number } | undefined;
  for (const mn of halvings(M)) {
    for (const nn of halvings(N)) {
      if (!fits(mn, nn, 1)) continue;
      let lo = 1;
      let hi = K;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (fits(mn, nn, mid)) lo = mid;
        else hi = mid - 1;
      }
      const count = Math.ceil(M / mn) * Math.ceil(N / nn) * Math.ceil(K / lo);
      if (!best || count < best.count || (count === best.count && lo > best.kn)) best = { mn, nn, kn: lo, count };
    }
  }
  if (!best || best.count > MAX_TILES) return undefined;
  const { mn, nn, kn } = best;
  const tiles: KernelTile[] = [];
  for (let m0 = 0; m0 < M; m0 += mn) {
    for (let n0 = 0; n0 < N; n0 += nn) {
      for (let k0 = 0; k0 < K; k0 += kn) {
        const b = { m0, mn: Math.min(mn, M - m0), n0, nn: Math.min(nn, N - n0), k0, kn: Math.min(kn, K - k0) };
        const inputs: (ElementRange | undefined)[] = ctx.inputs.map(() => undefined);
        const outputs: (ElementRange | undefined)[] = ctx.outputs.map(() => undefined);
        const offsets = ops.map(({ o, eb, ranged }) => {
          const base = b.m0 * o.strides[0] + b.n0 * o.strides[1] + b.k0 * o.strides[2];
          if (!ranged) return base;
          const ae = align / eb;
          const start = Math.floor(base / ae) * ae;
          (o.kind === 'input' ? inputs : outputs)[o.index] = { start, count: base - start + span(o.strides, b.mn, b.nn, b.kn) };
          return base - start;
        });
        const block: ProductBlock = { ...b, offsets };
        tiles.push({ inputs, outputs, plan: (c) => plan(c, block) });
      }
    }
  }
  return tiles;
}
