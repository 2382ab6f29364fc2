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
 * - Fused 'epilogue' groups: the anchor's split, the chain's extra inputs like
 *   elementwise inputs (kernels/epilogue.ts);
 * - Concat along an axis after `a`; Softmax, LogSoftmax and LayerNormalization over
 *   axes after `a` ({@link rowwiseSplit}: rows are independent).
 * A node whose large value no split covers keeps its plan, and the binding check
 * (plan.ts) reports a LimitError naming the node, its op and the value.
 */
import { Tensor } from '../../graph/tensor.js';
import { storageBytes, type GpuKernel, type GpuTensorInfo, type KernelContext, type KernelPlan, type KernelSplit, type SplitRows as Rows } from './kernel.js';

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

/** Conv: by batch; with one image by output channels (group 1) or by groups (the chunk's group is its number of groups). */
export function convSplit(ctx: KernelContext, a: number): KernelSplit | undefined {
  const [X, W, Bi] = ctx.inputs;
  const out = ctx.outputs[0]!.shape;
  if (!X || !W || out.length < 3) return undefined;
  const group = Number(ctx.attrs['group'] ?? 1);
  if (a === 0) {
    const rx = rowsOf(X.shape, 0, out, 0);
    const outputs = outputRows(ctx, 0);
    return rx && rx !== 'whole' && outputs ? { rows: out[0]!, inputs: [rx, undefined, undefined], outputs } : undefined;
  }
  if (a !== 1 || out[0] !== 1) return undefined;
  const M = out[1]!;
  const wTail = W.shape.slice(1);
  if (group === 1) {
    const outputs = outputRows(ctx, 1);
    if (!outputs) return undefined;
    return { rows: M, inputs: [undefined, { unit: prod(wTail), shape: (n) => [n, ...wTail] }, Bi ? { unit: 1, shape: (n) => [n] } : undefined], outputs };
  }
  const C = X.shape[1]!;
  const mg = M / group;
  const cg = C / group;
  const xTail = X.shape.slice(2);
  const outputs = outputRows(ctx, 1, mg);
  if (!outputs) return undefined;
  return {
    rows: group,
    inputs: [
      { unit: cg * prod(xTail), shape: (n) => [1, n * cg, ...xTail] },
      { unit: mg * prod(wTail), shape: (n) => [n * mg, ...wTail] },
      Bi ? { unit: mg, shape: (n) => [n * mg] } : undefined,
    ],
    outputs,
    attrs: (n) => ({ ...ctx.attrs, group: n }),
  };
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

/**
 * Plans `ctx` (a node with a value over `limit` bytes) as chunks whose split values
 * each fit one binding with the kernel's split, or undefined when it has none that
 * does. `bytesOf` gives the bytes of each value's place (padding included).
 */
export function planChunks(ctx: KernelContext, kernel: GpuKernel, bytesOf: (kind: 'input' | 'output', k: number) => number): ChunkedPlan | undefined {
  if (!kernel.split) return undefined;
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const R = ctx.outputs[0]?.shape.length ?? 0;
  for (let a = 0; a < R; a++) {
    const split = kernel.split(ctx, a);
    if (!split || split.rows <= 1) continue;
    // `ranged`: bound as a byte range of its place (offsets aligned); a split constant (a Conv's
    // weight and bias, a Gemm's C) is uploaded as one tensor per chunk instead, so it only has to fit.
    const parts: { t: GpuTensorInfo; rows: Rows; ranged: boolean }[] = [];
    let wholeFits = true;
    ctx.inputs.forEach((t, k) => {
      const r = split.inputs[k];
      if (t && r) parts.push({ t, rows: r, ranged: !t.value });
      else if (t && bytesOf('input', k) > limit) wholeFits = false;
    });
    ctx.outputs.forEach((t, k) => {
      const r = split.outputs[k];
      if (r) parts.push({ t, rows: r, ranged: true });
      else if (bytesOf('output', k) > limit) wholeFits = false;
    });
    if (!wholeFits || parts.length === 0) continue;
    // Rows per chunk: a multiple of `step` (every range's offset aligned), at most what one binding holds.
    let step = 1;
    let most = Infinity;
    for (const p of parts) {
      const rowBytes = p.rows.unit * elemBytes(p.t);
      if (rowBytes === 0) continue;
      if (p.ranged) {
        const g = align / gcd(rowBytes % align, align);
        step = (step * g) / gcd(step, g);
      }
      most = Math.min(most, Math.floor(limit / rowBytes));
    }
    const cap = Math.floor(Math.min(most, split.rows) / step) * step;
    if (cap < 1) continue;
    const count = Math.ceil(split.rows / cap);
    const per = Math.ceil(Math.ceil(split.rows / count) / step) * step;
    const chunks: Chunk[] = [];
    const scratch: number[] = [];
    const constants: Tensor[] = [];
    const plans: { plan: KernelPlan; r0: number; n: number }[] = [];
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
      plans.push({ plan: kernel.plan(c), r0, n });
    }
    // Chunks run one after another in one step: scratch buffers are shared by index when every chunk asks the same count.
    const sameScratch = plans.every((p) => (p.plan.scratch?.length ?? 0) === (plans[0]!.plan.scratch?.length ?? 0));
    for (const { plan: kp, r0, n } of plans) {
      const window = (t: GpuTensorInfo | undefined, rows: Rows | undefined, whole: number): Window | undefined => {
        if (!t || !rows) return undefined;
        const b = elemBytes(t);
        const offset = r0 * rows.unit * b;
        // The last chunk binds the rest of the place (its padding included).
        return { offset, size: r0 + n === split.rows ? whole - offset : n * rows.unit * b };
      };
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
      const constant = (t: Tensor): number => {
        constants.push(t);
        return constants.length - 1;
      };
      const inputConstants = ctx.inputs.map((t, k) => {
        const rows = split.inputs[k];
        return t?.value && rows && kp.dispatches.some((d) => d.bindings.some((b) => b.kind === 'input' && b.index === k)) ? constant(sliceRows(t.value, rows, r0, n)) : undefined;
      });
      chunks.push({
        plan: kp,
        ...(inputConstants.some((c) => c !== undefined) ? { inputConstants } : {}),
        inputs: ctx.inputs.map((t, k) => window(t, split.inputs[k], t ? bytesOf('input', k) : 0)),
        outputs: ctx.outputs.map((t, k) => window(t, split.outputs[k], bytesOf('output', k))),
        scratch: sc,
        constants: cs,
      });
    }
    return { chunks, scratch, constants };
  }
  return undefined;
}
