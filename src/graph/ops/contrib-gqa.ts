/**
 * Op family: com.microsoft GroupQueryAttention (ONNX Runtime's
 * docs/ContribOperators.md), the decoder attention of LLaMA/Phi/Mistral-style
 * exports. Query [B, S, N·H] and key/value [B, S, Nkv·H] (or one packed
 * [B, S, (N + 2·Nkv)·H] query with key/value omitted), a KV cache past_key /
 * past_value [B, Nkv, P, H] (BNSH), seqlens_k [B] (int32: each batch's total
 * sequence length − 1) and total_sequence_length (int32 scalar T).
 *
 * Semantics (as ONNX Runtime's CPU kernel, checked against onnxruntime-node):
 * - the call is the first prompt when S = T: every batch's past length is 0;
 *   otherwise batch b's past length is seqlens_k[b] + 1 − S (a decode step, S = 1,
 *   or a subsequent prompt, which needs B = 1);
 * - present_key / present_value are [B, Nkv, max(T, P), H]: batch b's first
 *   past-length rows copied from the cache, then the S new (rotated) keys /
 *   values, zeros after (the output of a run without a shared cache buffer);
 * - query head n reads KV head ⌊n / (N / Nkv)⌋; query token s of batch b sees the
 *   keys j < min(past + s + 1, seqlens_k[b] + 1) (causal; a first-prompt token
 *   beyond its batch's length sees the batch's tokens), only the last
 *   `local_window_size` of them when that is ≥ 0 (a row that sees no key is 0);
 * - scores are q·k · scale (default 1/√H), then softcap·tanh(score / softcap) when
 *   softcap > 0, then a softmax (with an extra zero logit when smooth_softmax = 1);
 * - with do_rotary = 1, Q and the new K are rotated (the RotaryEmbedding math,
 *   rotary dim 2·cos_cache[1], half-split or `rotary_interleaved`) at position
 *   past + s.
 *
 * Without present outputs the past cache is still read (ONNX Runtime's CPU
 * kernel needs the present outputs to see it). The position_ids, attention_bias
 * and head_sink inputs and the output_qk output are typed errors naming the node.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType } from '../dtype.js';
import { ShapeError, UnsupportedOpError } from '../errors.js';
import { defineOp, type InferInput, type ValueType } from '../op.js';
import { formatShape, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { MS_DOMAIN } from './contrib-util.js';

/** The static sizes of a GroupQueryAttention node. */
export interface GqaGeometry {
  readonly B: number;
  readonly S: number;
  /** Query heads. */
  readonly N: number;
  /** Key/value heads (divides N). */
  readonly Nkv: number;
  readonly H: number;
  /** True for the packed form (query holds Q, K and V; key and value omitted). */
  readonly packed: boolean;
  /** Rows of the past cache (0 without one). */
  readonly P: number;
  /** Rotated elements per head (0 without do_rotary). */
  readonly rotary: number;
  /** Rows of the cos/sin caches (0 without do_rotary). */
  readonly maxPos: number;
  readonly scale: number;
}

/** The attributes the geometry reads. */
export interface GqaAttrs {
  readonly num_heads: number;
  readonly kv_num_heads: number;
  readonly scale: number;
  readonly do_rotary: number;
}

function unsupported(node: string, why: string): never {
  throw new UnsupportedOpError([{ op: 'com.microsoft::GroupQueryAttention', nodes: [node] }], `${node}: ${why}`);
}

function staticDims(t: InferInput | ValueType | Tensor, rank: number, node: string, what: string): number[] {
  const s = t.shape as readonly Dim[];
  if (s.length !== rank) throw new ShapeError(`${node}: ${what} must be ${rank}-D, got ${formatShape(s)}`, node);
  if (s.some((d) => typeof d !== 'number')) throw new ShapeError(`${node}: ${what} must have a static shape, got ${formatShape(s)}`, node);
  return s as number[];
}

type Shaped = { readonly shape: readonly Dim[] } | undefined;

/**
 * The geometry from the inputs' shapes (query, key, value, past_key, past_value, …,
 * cos_cache at 7) and the attributes; throws a ShapeError naming the node when
 * they disagree.
 */
export function gqaGeometry(inputs: readonly Shaped[], attrs: GqaAttrs, node: string): GqaGeometry {
  const [q, k, v, pk, pv] = inputs;
  const cos = inputs[7];
  const N = attrs.num_heads;
  const Nkv = attrs.kv_num_heads;
  if (!(N > 0 && Nkv > 0 && N % Nkv === 0)) throw new ShapeError(`${node}: num_heads=${N} must be a positive multiple of kv_num_heads=${Nkv}`, node);
  const [B, S, D] = staticDims(q as ValueType, 3, node, 'query');
  if ((k === undefined) !== (v === undefined)) throw new ShapeError(`${node}: key and value must be both given or both omitted (packed QKV)`, node);
  const packed = k === undefined;
  const H = packed ? D! / (N + 2 * Nkv) : D! / N;
  if (!Number.isInteger(H) || H <= 0) throw new ShapeError(`${node}: query ${formatShape(q!.shape)} does not split into ${packed ? `num_heads + 2·kv_num_heads = ${N + 2 * Nkv}` : `num_heads = ${N}`} heads`, node);
  if (!packed) {
    for (const [t, what] of [[k, 'key'], [v, 'value']] as const) {
      const s = staticDims(t as ValueType, 3, node, what);
      if (s[0] !== B || s[1] !== S || s[2] !== Nkv * H) throw new ShapeError(`${node}: ${what} must be [${B}, ${S}, ${Nkv * H}] (kv_num_heads·head_size), got ${formatShape(s)}`, node);
    }
  }
  if ((pk === undefined) !== (pv === undefined)) throw new ShapeError(`${node}: past_key and past_value must be both given or both omitted`, node);
  let P = 0;
  if (pk) {
    const a = staticDims(pk as ValueType, 4, node, 'past_key');
    const b = staticDims(pv as ValueType, 4, node, 'past_value');
    if (a.join() !== b.join() || a[0] !== B || a[1] !== Nkv || a[3] !== H) {
      throw new ShapeError(`${node}: past_key ${formatShape(a)} and past_value ${formatShape(b)} must both be [${B}, ${Nkv}, past, ${H}] (BNSH)`, node);
    }
    P = a[2]!;
  }
  let rotary = 0;
  let maxPos = 0;
  if (attrs.do_rotary !== 0) {
    if (!cos) throw new ShapeError(`${node}: do_rotary=1 needs cos_cache and sin_cache`, node);
    const c = staticDims(cos as ValueType, 2, node, 'cos_cache');
    rotary = 2 * c[1]!;
    maxPos = c[0]!;
    if (rotary === 0 || rotary > H) throw new ShapeError(`${node}: cos_cache ${formatShape(c)} gives rotary dim ${rotary}, which must be in (0, head_size ${H}]`, node);
  }
  return { B: B!, S: S!, N, Nkv, H, packed, P, rotary, maxPos, scale: attrs.scale !== 0 ? attrs.scale : 1 / Math.sqrt(H) };
}

/** Rows of present_key/present_value for total_sequence_length `T`. */
export function presentLength(g: GqaGeometry, T: number): number {
  return Math.max(T, g.P);
}

/** Throws a ShapeError naming the node unless S and T form a first prompt, a decode step or a B = 1 subsequent prompt. */
export function checkSequence(g: GqaGeometry, T: number, node: string): void {
  if (!Number.isInteger(T) || T < 1) throw new ShapeError(`${node}: total_sequence_length must be a positive integer, got ${T}`, node);
  if (g.S > T) throw new ShapeError(`${node}: query length ${g.S} exceeds total_sequence_length ${T}`, node);
  if (g.S > 1 && g.S !== T && g.B !== 1) throw new ShapeError(`${node}: a prompt after past context (query length ${g.S} < total_sequence_length ${T}) needs batch size 1, got ${g.B}`, node);
}

/** The element readers of the new tokens' Q, K and V and the caches, per (batch, token, head, element). */
interface GqaReaders {
  q(b: number, s: number, n: number, h: number): number;
  k(b: number, s: number, n: number, h: number): number;
  v(b: number, s: number, n: number, h: number): number;
}

/**
 * Element `h` of a head vector rotated at position `pos` (RotaryEmbedding's math):
 * `at(e)` reads element e of the same head; `cos`/`sin` are [maxPos, rotary/2].
 */
export function rotateElement(at: (e: number) => number, h: number, pos: number, rotary: number, interleaved: boolean, cos: Tensor, sin: Tensor): number {
  if (h >= rotary) return at(h);
  const half = rotary / 2;
  const c = interleaved ? h >> 1 : h % half;
  const first = interleaved ? h % 2 === 0 : h < half;
  const partner = interleaved ? (first ? h + 1 : h - 1) : (first ? h + half : h - half);
  const other = at(partner);
  return at(h) * cos.data[pos * half + c]! + (first ? -other : other) * sin.data[pos * half + c]!;
}

/** com.microsoft GroupQueryAttention (see the file comment for the supported forms). */
export const GroupQueryAttention = defineOp({
  name: 'GroupQueryAttention',
  domain: MS_DOMAIN,
  inputs: ['query', 'key?', 'value?', 'past_key?', 'past_value?', 'seqlens_k', 'total_sequence_length', 'cos_cache?', 'sin_cache?', 'position_ids?', 'attention_bias?', 'head_sink?'],
  outputs: ['output', 'present_key?', 'present_value?', 'output_qk?'],
  attrs: {
    num_heads: attr.int(), kv_num_heads: attr.int(), scale: attr.float(0), softcap: attr.float(0),
    local_window_size: attr.int(-1), do_rotary: attr.int(0), rotary_interleaved: attr.int(0), smooth_softmax: attr.int(0),
    qk_output: attr.int(0),
  },
  category: 'opaque',
  shapeInputs: [6],
  doc: 'Grouped-query causal attention with a KV cache and optional rotary embedding.',
  infer(ins, ctx) {
    const node = ctx.node;
    const [q, k, v, pk, pv, seqlens, total, cos, sin] = ins;
    if (ins[9]) unsupported(node, 'the position_ids input');
    if (ins[10]) unsupported(node, 'the attention_bias input');
    if (ins[11]) unsupported(node, 'the head_sink input');
    if (ctx.numOutputs > 3 || ctx.attrs.qk_output !== 0) unsupported(node, 'the output_qk output');
    expectDType(q!.dtype, FLOATS, node, 'query');
    for (const [t, what] of [[k, 'key'], [v, 'value'], [pk, 'past_key'], [pv, 'past_value'], [cos, 'cos_cache'], [sin, 'sin_cache']] as const) {
      if (t && t.dtype !== q!.dtype) throw new ShapeError(`${node}: ${what} must be ${q!.dtype} like the query, got ${t.dtype}`, node);
    }
    expectDType(seqlens!.dtype, ['int32'], node, 'seqlens_k');
    expectDType(total!.dtype, ['int32'], node, 'total_sequence_length');
    if (total!.shape.some((d) => d !== 1)) throw new ShapeError(`${node}: total_sequence_length must be a scalar (one element), got ${formatShape(total!.shape)}`, node);
    if (ctx.attrs.do_rotary !== 0 && (!cos || !sin)) throw new ShapeError(`${node}: do_rotary=1 needs cos_cache and sin_cache`, node);
    if ((cos === undefined) !== (sin === undefined)) throw new ShapeError(`${node}: cos_cache and sin_cache must be both given or both omitted`, node);
    if (cos && sin && formatShape(cos.shape) !== formatShape(sin.shape)) throw new ShapeError(`${node}: cos_cache ${formatShape(cos.shape)} and sin_cache ${formatShape(sin.shape)} differ`, node);
    const g = gqaGeometry(ins, ctx.attrs, node);
    if (seqlens!.shape.length !== 1 || (typeof seqlens!.shape[0] === 'number' && seqlens!.shape[0] !== g.B)) {
      throw new ShapeError(`${node}: seqlens_k must be [${g.B}] (batch size), got ${formatShape(seqlens!.shape)}`, node);
    }
    let rows: Dim = ctx.fresh('present');
    if (total!.value) {
      const T = total!.value.data[0]!;
      checkSequence(g, T, node);
      if (g.rotary && g.maxPos < T) throw new ShapeError(`${node}: cos_cache has ${g.maxPos} rows, fewer than total_sequence_length ${T}`, node);
      rows = presentLength(g, T);
    }
    const present = { dtype: q!.dtype, shape: [g.B, g.Nkv, rows, g.H] };
    return [{ dtype: q!.dtype, shape: [g.B, g.S, g.N * g.H] }, present, present];
  },
  cpu(ins, ctx) {
    const node = ctx.node;
    const [q, k, v, pk, pv, seqlens, total, cos, sin] = ins;
    const g = gqaGeometry(ins, ctx.attrs, node);
    const { B, S, N, Nkv, H, P } = g;
    const T = total!.data[0]!;
    checkSequence(g, T, node);
    const L = presentLength(g, T);
    const first = S === T;
    const totals = Array.from({ length: B }, (_, b) => {
      const t = seqlens!.data[b]! + 1;
      const ok = first ? t >= 1 && t <= S : t >= S && t <= L;
      if (!ok) throw new ShapeError(`${node}: seqlens_k[${b}] = ${t - 1} is out of range for query length ${S} and ${first ? 'a first prompt' : `${L} cache rows`}`, node);
      return t;
    });
    const pastOf = (b: number): number => (first ? 0 : totals[b]! - S);
    if (g.rotary) {
      for (let b = 0; b < B; b++) if (pastOf(b) + S > g.maxPos) throw new ShapeError(`${node}: position ${pastOf(b) + S - 1} is outside the cos/sin caches' ${g.maxPos} rows`, node);
    }
    // Raw readers of the new tokens: unpacked, or sections of the packed query.
    const Dq = g.packed ? (N + 2 * Nkv) * H : N * H;
    const Dkv = Nkv * H;
    const raw: GqaReaders = g.packed
      ? {
        q: (b, s, n, h) => q!.data[(b * S + s) * Dq + n * H + h]!,
        k: (b, s, n, h) => q!.data[(b * S + s) * Dq + (N + n) * H + h]!,
        v: (b, s, n, h) => q!.data[(b * S + s) * Dq + (N + Nkv + n) * H + h]!,
      }
      : {
        q: (b, s, n, h) => q!.data[(b * S + s) * Dq + n * H + h]!,
        k: (b, s, n, h) => k!.data[(b * S + s) * Dkv + n * H + h]!,
        v: (b, s, n, h) => v!.data[(b * S + s) * Dkv + n * H + h]!,
      };
    const interleaved = ctx.attrs.rotary_interleaved !== 0;
    const posOf = (b: number, s: number): number => pastOf(b) + s;
    const rot = (read: (b: number, s: number, n: number, h: number) => number) => (b: number, s: number, n: number, h: number): number =>
      (g.rotary ? rotateElement((e) => read(b, s, n, e), h, posOf(b, s), g.rotary, interleaved, cos!, sin!) : read(b, s, n, h));
    const qr = rot(raw.q);
    const kr = rot(raw.k);
    // present = past rows, then the new rows, then zeros.
    const presentK = new Float64Array(B * Nkv * L * H);
    const presentV = new Float64Array(B * Nkv * L * H);
    for (let b = 0; b < B; b++) {
      const past = pastOf(b);
      for (let n = 0; n < Nkv; n++) {
        for (let t = 0; t < Math.min(L, past + S); t++) {
          for (let h = 0; h < H; h++) {
            const at = ((b * Nkv + n) * L + t) * H + h;
            if (t < past) {
              const from = ((b * Nkv + n) * P + t) * H + h;
              presentK[at] = pk!.data[from]!;
              presentV[at] = pv!.data[from]!;
            } else {
              presentK[at] = kr(b, t - past, n, h);
              presentV[at] = raw.v(b, t - past, n, h);
            }
          }
        }
      }
    }
    const out = new Float64Array(B * S * N * H);
    const group = N / Nkv;
    const window = ctx.attrs.local_window_size;
    const softcap = ctx.attrs.softcap;
    const smooth = ctx.attrs.smooth_softmax !== 0;
    const scores = new Float64Array(L);
    const qv = new Float64Array(H);
    for (let b = 0; b < B; b++) {
      const past = pastOf(b);
      for (let n = 0; n < N; n++) {
        const base = (b * Nkv + Math.floor(n / group)) * L;
        for (let s = 0; s < S; s++) {
          const end = Math.min(past + s + 1, totals[b]!);
          const start = window >= 0 ? Math.max(0, end - window) : 0;
          for (let h = 0; h < H; h++) qv[h] = qr(b, s, n, h);
          let max = smooth ? 0 : -Infinity;
          for (let j = start; j < end; j++) {
            let dot = 0;
            for (let h = 0; h < H; h++) dot += qv[h]! * presentK[(base + j) * H + h]!;
            let sc = dot * g.scale;
            if (softcap > 0) sc = softcap * Math.tanh(sc / softcap);
            scores[j] = sc;
            max = Math.max(max, sc);
          }
          let sum = smooth ? Math.exp(-max) : 0;
          for (let j = start; j < end; j++) { scores[j] = Math.exp(scores[j]! - max); sum += scores[j]!; }
          for (let h = 0; h < H; h++) {
            let acc = 0;
            for (let j = start; j < end; j++) acc += scores[j]! * presentV[(base + j) * H + h]!;
            out[(b * S + s) * N * H + n * H + h] = sum > 0 ? acc / sum : 0;
          }
        }
      }
    }
    const dt = q!.dtype;
    return [Tensor.from(dt, [B, S, N * H], out), Tensor.from(dt, [B, Nkv, L, H], presentK), Tensor.from(dt, [B, Nkv, L, H], presentV)];
  },
});

/** The GroupQueryAttention family. */
export const contribGqaOps = { GroupQueryAttention } as const;
