/**
 * Op family: com.microsoft RotaryEmbedding (RoPE, ONNX Runtime's
 * docs/ContribOperators.md). Each head vector's first `rotary_embedding_dim`
 * elements are rotated pairwise by the angle cached for the token's position
 * (cos_cache/sin_cache rows picked by position_ids); the rest pass through. Pairs
 * are (i, i + d/2) for the half-split form, (2i, 2i + 1) when `interleaved`.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType } from '../dtype.js';
import { ShapeError, UnsupportedOpError } from '../errors.js';
import { defineOp, type InferInput } from '../op.js';
import { formatShape, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { MS_DOMAIN } from './contrib-util.js';

/** How a RotaryEmbedding input is laid out: [B, S, N·H] (`packed`) or [B, N, S, H]. */
export interface RotaryGeometry {
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly headSize: number;
  /** Rotated elements per head (even, ≤ headSize). */
  readonly rotary: number;
  /** True for the 3-D [B, S, N·H] layout. */
  readonly packed: boolean;
}

/** Geometry of a RotaryEmbedding node from its input and cache shapes; throws a ShapeError naming the node when they disagree. */
export function rotaryGeometry(x: readonly Dim[], cos: readonly Dim[], attrs: { readonly num_heads: number; readonly rotary_embedding_dim: number }, node: string): RotaryGeometry | undefined {
  const half = cos[1];
  if (x.length !== 3 && x.length !== 4) throw new ShapeError(`${node}: input must be [B, S, hidden] or [B, N, S, H], got ${formatShape(x)}`, node);
  if (cos.length !== 2) throw new ShapeError(`${node}: cos_cache must be 2-D [max_seq, rotary/2], got ${formatShape(cos)}`, node);
  if (x.some((d) => typeof d !== 'number') || typeof half !== 'number') return undefined;
  const dims = x as readonly number[];
  const packed = dims.length === 3;
  let heads: number;
  let headSize: number;
  if (packed) {
    const hidden = dims[2]!;
    heads = attrs.num_heads > 0 ? attrs.num_heads : hidden / (2 * half);
    headSize = hidden / heads;
  } else {
    heads = dims[1]!;
    headSize = dims[3]!;
  }
  const rotary = attrs.rotary_embedding_dim > 0 ? attrs.rotary_embedding_dim : headSize;
  if (!Number.isInteger(heads) || !Number.isInteger(headSize) || rotary % 2 !== 0 || rotary > headSize || rotary !== 2 * half) {
    throw new ShapeError(`${node}: input ${formatShape(x)} does not split into heads with rotary dim 2·${half} (num_heads=${attrs.num_heads}, rotary_embedding_dim=${attrs.rotary_embedding_dim})`, node);
  }
  return { batch: dims[0]!, seq: packed ? dims[1]! : dims[2]!, heads, headSize, rotary, packed };
}

function checkPositions(p: InferInput, x: readonly Dim[], node: string): void {
  expectDType(p.dtype, ['int64', 'int32'], node, 'position_ids');
  const [b, s] = x.length === 3 ? [x[0], x[1]] : [x[0], x[2]];
  const ok = (p.shape.length === 1 && p.shape[0] === 1) || (p.shape.length === 2 && [b, s].every((d, i) => typeof d !== 'number' || typeof p.shape[i] !== 'number' || d === p.shape[i]));
  if (!ok) throw new ShapeError(`${node}: position_ids must be [1] or [batch, seq] = [${b}, ${s}], got ${formatShape(p.shape)}`, node);
}

/**
 * com.microsoft RotaryEmbedding. `scale` is accepted and, as in ONNX Runtime's CPU
 * kernel, not applied; `is_packed_batching` = 1 (ragged batches) is unsupported.
 */
export const RotaryEmbedding = defineOp({
  name: 'RotaryEmbedding',
  domain: MS_DOMAIN,
  inputs: ['input', 'position_ids', 'cos_cache', 'sin_cache'],
  outputs: ['output'],
  attrs: { interleaved: attr.int(0), is_packed_batching: attr.int(0), num_heads: attr.int(0), rotary_embedding_dim: attr.int(0), scale: attr.float(1) },
  category: 'opaque',
  doc: 'Rotary positional embedding of query/key heads.',
  infer([x, pos, cos, sin], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'input');
    if (ctx.attrs.is_packed_batching !== 0) {
      throw new UnsupportedOpError([{ op: 'com.microsoft::RotaryEmbedding', nodes: [ctx.node] }], `${ctx.node}: is_packed_batching=1 (ragged batches) is not supported`);
    }
    checkPositions(pos!, x!.shape, ctx.node);
    for (const [t, what] of [[cos!, 'cos_cache'], [sin!, 'sin_cache']] as const) {
      if (t.dtype !== x!.dtype) throw new ShapeError(`${ctx.node}: ${what} must be ${x!.dtype}, got ${t.dtype}`, ctx.node);
    }
    if (formatShape(cos!.shape) !== formatShape(sin!.shape)) throw new ShapeError(`${ctx.node}: cos_cache ${formatShape(cos!.shape)} and sin_cache ${formatShape(sin!.shape)} differ`, ctx.node);
    rotaryGeometry(x!.shape, cos!.shape, ctx.attrs, ctx.node);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  cpu([x, pos, cos, sin], ctx) {
    const g = rotaryGeometry(x!.shape, cos!.shape, ctx.attrs, ctx.node)!;
    const maxPos = cos!.shape[0]!;
    const half = g.rotary / 2;
    const out = new Tensor(x!.dtype, x!.shape);
    const interleaved = ctx.attrs.interleaved !== 0;
    for (let i = 0; i < x!.size; i++) {
      const h = i % g.headSize;
      const r = Math.floor(i / g.headSize);
      const [b, s] = g.packed ? [Math.floor(r / (g.heads * g.seq)), Math.floor(r / g.heads) % g.seq] : [Math.floor(r / (g.heads * g.seq)), r % g.seq];
      if (h >= g.rotary) { out.data[i] = x!.data[i]!; continue; }
      const p = pos!.size === 1 ? pos!.data[0]! + s : pos!.data[b * g.seq + s]!;
      if (p < 0 || p >= maxPos) throw new ShapeError(`${ctx.node}: position ${p} is outside the caches' ${maxPos} rows`, ctx.node);
      const c = interleaved ? h >> 1 : h % half;
      const first = interleaved ? h % 2 === 0 : h < half;
      const partner = interleaved ? (first ? h + 1 : h - 1) : (first ? h + half : h - half);
      const other = x!.data[i - h + partner]!;
      const cv = cos!.data[p * half + c]!;
      const sv = sin!.data[p * half + c]!;
      out.data[i] = x!.data[i]! * cv + (first ? -other : other) * sv;
    }
    return [out];
  },
});

/** The RotaryEmbedding family. */
export const contribRotaryOps = { RotaryEmbedding } as const;
