/**
 * Op family: com.microsoft MultiHeadAttention (ONNX Runtime's
 * docs/ContribOperators.md), the unpacked form: query [B, S, N·H], key [B, L, N·H],
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
    if (ab) {
      const s = ab.shape;
      const fits = s.length === 4 && (s[0] === 1 || s[0] === qs[0]) && (s[1] === 1 || s[1] === N) && s[2] === qs[1] && s[3] === ks[1];
      if (!fits) throw new ShapeError(`${node}: attention_bias must be [${qs[0]} or 1, ${N} or 1, ${qs[1]}, ${ks[1]}], got ${formatShape(s)}`, node);
    }
    return [{ dtype: q!.dtype, shape: [qs[0]!, qs[1]!, vs[2]!] }];
  },
  cpu([q, k, v, bias, , ab], ctx) {
    const g = mhaGeometry(q!.shape, k!.shape, v!.shape, ab?.shape, ctx.attrs);
    const { B, S, L, N, H, Hv } = g;
    const D = N * H;
    const out = new Tensor(q!.dtype, [B, S, N * Hv]);
    const bq = (c: number): number => (bias ? bias.data[c]! : 0);
    const scores = new Float64Array(L);
    for (let b = 0; b < B; b++) {
      for (let n = 0; n < N; n++) {
        for (let s = 0; s < S; s++) {
          let max = -Infinity;
          for (let j = 0; j < L; j++) {
            if (ctx.attrs.unidirectional !== 0 && j > s) { scores[j] = -Infinity; continue; }
            let dot = 0;
            for (let h = 0; h < H; h++) {
              const c = n * H + h;
              dot += (q!.data[(b * S + s) * D + c]! + bq(c)) * (k!.data[(b * L + j) * D + c]! + bq(D + c));
            }
            let sc = dot * g.scale;
            if (ab) sc += ab.data[(((g.biasBroadcast![0] ? 0 : b) * (g.biasBroadcast![1] ? 1 : N) + (g.biasBroadcast![1] ? 0 : n)) * S + s) * L + j]!;
            scores[j] = sc;
            max = Math.max(max, sc);
          }
          let sum = 0;
          for (let j = 0; j < L; j++) { scores[j] = Math.exp(scores[j]! - max); sum += scores[j]!; }
          for (let h = 0; h < Hv; h++) {
            const c = n * Hv + h;
            let acc = 0;
            for (let j = 0; j < L; j++) acc += scores[j]! * (v!.data[(b * L + j) * N * Hv + c]! + bq(2 * D + c));
            out.data[(b * S + s) * N * Hv + c] = acc / sum;
          }
        }
      }
    }
    return [out];
  },
});

/** The attention contrib ops. */
export const contribAttentionOps = { MultiHeadAttention } as const;
