/**
 * Op family: com.microsoft MultiHeadAttention and Attention (ONNX Runtime's
 * docs/ContribOperators.md). Attention projects its input with merged QKV weights
 * and runs the same core. MultiHeadAttention's unpacked form: query [B, S, N·H], key [B, L, N·H],
 * value [B, L, N·Hv], optional bias [N·H + N·H + N·Hv] added to Q, K and V,
 * optional attention_bias [B or 1, N or 1, S, L] added to the scores, `scale`
 * (default 1/√H) and `unidirectional` (query s sees keys j ≤ s; only for self
 * attention, S = L). Output [B, S, N·Hv]. Packed QKV, key_padding_mask,
 * past/present KV caches and unidirectional cross attention are typed errors
 * naming the node.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType } from '../dtype.js';
import { ShapeError, UnsupportedOpError } from '../errors.js';
import { defineOp, type InferInput } from '../op.js';
import { formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { MS_DOMAIN } from './contrib-util.js';

/** The sizes of a MultiHeadAttention node on concrete shapes. */
export interface MhaGeometry {
  readonly B: number;
  readonly S: number;
  readonly L: number;
  readonly N: number;
  readonly H: number;
  readonly Hv: number;
  readonly scale: number;
  /** Broadcast of attention_bias over batch and heads (true where its dim is 1), or undefined without one. */
  readonly biasBroadcast?: readonly [boolean, boolean] | undefined;
}

/** The geometry from the input shapes and attributes. */
export function mhaGeometry(q: readonly number[], k: readonly number[], v: readonly number[], attnBias: readonly number[] | undefined, attrs: { readonly num_heads: number; readonly scale: number }): MhaGeometry {
  const N = attrs.num_heads;
  const H = q[2]! / N;
  return {
    B: q[0]!, S: q[1]!, L: k[1]!, N, H, Hv: v[2]! / N,
    scale: attrs.scale > 0 ? attrs.scale : 1 / Math.sqrt(H),
    biasBroadcast: attnBias ? [attnBias[0] === 1, attnBias[1] === 1] : undefined,
  };
}

function unsupported(node: string, why: string): never {
  throw new UnsupportedOpError([{ op: 'com.microsoft::MultiHeadAttention', nodes: [node] }], `${node}: ${why}`);
}

function static3(t: InferInput, node: string, what: string): number[] {
  if (t.shape.length !== 3 || t.shape.some((d) => typeof d !== 'number')) {
    if (t.shape.length !== 3) unsupported(node, `${what} of shape ${formatShape(t.shape)} (only the 3-D unpacked form [B, seq, hidden])`);
    throw new ShapeError(`${node}: ${what} must have a static shape, got ${formatShape(t.shape)}`, node);
  }
  expectDType(t.dtype, FLOATS, node, what);
  return t.shape as number[];
}

/** com.microsoft MultiHeadAttention (unpacked Q, K, V; no KV cache). */
export const MultiHeadAttention = defineOp({
  name: 'MultiHeadAttention',
  domain: MS_DOMAIN,
  inputs: ['query', 'key?', 'value?', 'bias?', 'key_padding_mask?', 'attention_bias?', 'past_key?', 'past_value?', 'past_sequence_length?', 'cache_indirection?'],
  outputs: ['output', 'present_key?', 'present_value?', 'qk?'],
  attrs: { num_heads: attr.int(), scale: attr.float(0), mask_filter_value: attr.float(-10000), unidirectional: attr.int(0) },
  category: 'opaque',
  doc: 'Multi-head scaled dot-product attention.',
  infer([q, k, v, bias, mask, ab, ...rest], ctx) {
    const node = ctx.node;
    if (!k || !v) unsupported(node, 'packed QKV / packed KV (key or value omitted)');
    if (mask) unsupported(node, 'key_padding_mask');
    if (rest.some((t) => t !== undefined)) unsupported(node, 'past/present KV cache inputs');
    if (ctx.numOutputs > 1) unsupported(node, 'present_key/present_value/qk outputs');
    const [qs, ks, vs] = [static3(q!, node, 'query'), static3(k, node, 'key'), static3(v, node, 'value')];
    const N = ctx.attrs.num_heads;
    const ok = N > 0 && qs[2]! % N === 0 && vs[2]! % N === 0 && ks[2] === qs[2] && ks[0] === qs[0] && vs[0] === qs[0] && vs[1] === ks[1];
    if (!ok) throw new ShapeError(`${node}: query ${formatShape(qs)}, key ${formatShape(ks)}, value ${formatShape(vs)} do not fit num_heads=${N}`, node);
    for (const t of [k, v, bias, ab]) if (t && t.dtype !== q!.dtype) throw new ShapeError(`${node}: every float input must be ${q!.dtype}, got ${t.dtype}`, node);
    if (ctx.attrs.unidirectional !== 0 && qs[1] !== ks[1]) unsupported(node, `unidirectional with query length ${qs[1]} != key length ${ks[1]}`);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== 2 * qs[2]! + vs[2]!)) {
      throw new ShapeError(`${node}: bias must be [${2 * qs[2]! + vs[2]!}], got ${formatShape(bias.shape)}`, node);
    }
    if (ab) checkAttentionBias(ab, qs[0]!, N, qs[1]!, ks[1]!, node);
    return [{ dtype: q!.dtype, shape: [qs[0]!, qs[1]!, vs[2]!] }];
  },
  cpu([q, k, v, bias, , ab], ctx) {
    const g = mhaGeometry(q!.shape, k!.shape, v!.shape, ab?.shape, ctx.attrs);
    const D = g.N * g.H;
    const bq = (c: number): number => (bias ? bias.data[c]! : 0);
    const out = attendCpu(g, {
      q: (b, s, c) => q!.data[(b * g.S + s) * D + c]! + bq(c),
      k: (b, j, c) => k!.data[(b * g.L + j) * D + c]! + bq(D + c),
      v: (b, j, c) => v!.data[(b * g.L + j) * g.N * g.Hv + c]! + bq(2 * D + c),
    }, ab, ctx.attrs.unidirectional !== 0);
    return [Tensor.from(q!.dtype, [g.B, g.S, g.N * g.Hv], out)];
  },
});

/** Element readers of Q [b, s, n·H + h], K and V [b, j, channel], biases included. */
export interface QkvReaders {
  q(b: number, s: number, c: number): number;
  k(b: number, j: number, c: number): number;
  v(b: number, j: number, c: number): number;
}

/** Index of attention_bias [B or 1, N or 1, S, L] for (b, n, s, j). */
export function attentionBiasIndex(g: MhaGeometry, b: number, n: number, s: number, j: number): number {
  const [bb, nb] = g.biasBroadcast!;
  return (((bb ? 0 : b) * (nb ? 1 : g.N) + (nb ? 0 : n)) * g.S + s) * g.L + j;
}

/** Scaled dot-product attention per head (softmax in float64); output [B, S, N·Hv] flat. */
function attendCpu(g: MhaGeometry, r: QkvReaders, ab: Tensor | undefined, causal: boolean): Float64Array {
  const { B, S, L, N, H, Hv } = g;
  const out = new Float64Array(B * S * N * Hv);
  const scores = new Float64Array(L);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        let max = -Infinity;
        for (let j = 0; j < L; j++) {
          if (causal && j > s) { scores[j] = -Infinity; continue; }
          let dot = 0;
          for (let h = 0; h < H; h++) dot += r.q(b, s, n * H + h) * r.k(b, j, n * H + h);
          const sc = dot * g.scale + (ab ? ab.data[attentionBiasIndex(g, b, n, s, j)]! : 0);
          scores[j] = sc;
          max = Math.max(max, sc);
        }
        let sum = 0;
        for (let j = 0; j < L; j++) { scores[j] = Math.exp(scores[j]! - max); sum += scores[j]!; }
        for (let h = 0; h < Hv; h++) {
          let acc = 0;
          for (let j = 0; j < L; j++) acc += scores[j]! * r.v(b, j, n * Hv + h);
          out[(b * S + s) * N * Hv + n * Hv + h] = acc / sum;
        }
      }
    }
  }
  return out;
}

/** Hidden sizes of Q, K and V of an Attention node: qkv_hidden_sizes, or the weights' width split in three. */
export function attentionSizes(weights: readonly number[], qkv: readonly number[] | undefined): [number, number, number] {
  if (qkv && qkv.length === 3) return [qkv[0]!, qkv[1]!, qkv[2]!];
  const d = weights[1]! / 3;
  return [d, d, d];
}

/**
 * com.microsoft Attention (BERT/GPT-2 style): Q, K, V = input · weights + bias split
 * by qkv_hidden_sizes (equal thirds by default), then MultiHeadAttention's core.
 * mask_index, past/present, do_rotary and past_present_share_buffer are typed errors.
 */
export const Attention = defineOp({
  name: 'Attention',
  domain: MS_DOMAIN,
  inputs: ['input', 'weights', 'bias?', 'mask_index?', 'past?', 'attention_bias?', 'past_sequence_length?'],
  outputs: ['output', 'present?'],
  attrs: {
    num_heads: attr.int(), qkv_hidden_sizes: attr.optInts(), scale: attr.float(0), unidirectional: attr.int(0),
    mask_filter_value: attr.float(-10000), do_rotary: attr.int(0), past_present_share_buffer: attr.int(0), rotary_embedding_dim: attr.int(0),
  },
  category: 'opaque',
  doc: 'Multi-head self attention with a merged QKV projection.',
  infer([x, w, bias, mask, past, ab, pastLen], ctx) {
    const node = ctx.node;
    const no = (why: string): never => { throw new UnsupportedOpError([{ op: 'com.microsoft::Attention', nodes: [node] }], `${node}: ${why}`); };
    if (mask) no('mask_index');
    if (past || pastLen || ctx.numOutputs > 1) no('past/present state');
    if (ctx.attrs.do_rotary !== 0) no('do_rotary');
    const xs = static3(x!, node, 'input');
    if (w!.shape.length !== 2 || w!.shape.some((d) => typeof d !== 'number') || w!.shape[0] !== xs[2]) {
      throw new ShapeError(`${node}: weights must be [${xs[2]}, hidden_q + hidden_k + hidden_v], got ${formatShape(w!.shape)}`, node);
    }
    const [dq, dk, dv] = attentionSizes(w!.shape as number[], ctx.attrs.qkv_hidden_sizes);
    const N = ctx.attrs.num_heads;
    if (N <= 0 || dq !== dk || dq + dk + dv !== w!.shape[1] || dq % N !== 0 || dv % N !== 0) {
      throw new ShapeError(`${node}: weights ${formatShape(w!.shape)} do not split into Q, K, V of sizes ${dq}, ${dk}, ${dv} over num_heads=${N}`, node);
    }
    for (const t of [w, bias, ab]) if (t && t.dtype !== x!.dtype) throw new ShapeError(`${node}: every float input must be ${x!.dtype}, got ${t.dtype}`, node);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== dq + dk + dv)) throw new ShapeError(`${node}: bias must be [${dq + dk + dv}], got ${formatShape(bias.shape)}`, node);
    if (ab) checkAttentionBias(ab, xs[0]!, N, xs[1]!, xs[1]!, node);
    return [{ dtype: x!.dtype, shape: [xs[0]!, xs[1]!, dv] }];
  },
  cpu([x, w, bias, , , ab], ctx) {
    const [B, S, Din] = x!.shape as [number, number, number];
    const [dq, dk, dv] = attentionSizes(w!.shape, ctx.attrs.qkv_hidden_sizes);
    const Dt = dq + dk + dv;
    const proj = new Float64Array(B * S * Dt);
    for (let r = 0; r < B * S; r++) {
      for (let c = 0; c < Dt; c++) {
        let acc = bias ? bias.data[c]! : 0;
        for (let k = 0; k < Din; k++) acc += x!.data[r * Din + k]! * w!.data[k * Dt + c]!;
        proj[r * Dt + c] = acc;
      }
    }
    const g = mhaGeometry([B, S, dq], [B, S, dk], [B, S, dv], ab?.shape, ctx.attrs);
    const out = attendCpu(g, {
      q: (b, s, c) => proj[(b * S + s) * Dt + c]!,
      k: (b, j, c) => proj[(b * S + j) * Dt + dq + c]!,
      v: (b, j, c) => proj[(b * S + j) * Dt + dq + dk + c]!,
    }, ab, ctx.attrs.unidirectional !== 0);
    return [Tensor.from(x!.dtype, [B, S, dv], out)];
  },
});

/** Throws a ShapeError naming the node unless attention_bias is [B or 1, N or 1, S, L]. */
function checkAttentionBias(ab: InferInput, B: number, N: number, S: number, L: number, node: string): void {
  const s = ab.shape;
  const fits = s.length === 4 && (s[0] === 1 || s[0] === B) && (s[1] === 1 || s[1] === N) && s[2] === S && s[3] === L;
  if (!fits) throw new ShapeError(`${node}: attention_bias must be [${B} or 1, ${N} or 1, ${S}, ${L}], got ${formatShape(s)}`, node);
}

/** The attention contrib ops. */
export const contribAttentionOps = { MultiHeadAttention, Attention } as const;
