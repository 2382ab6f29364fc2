/**
 * The wasm kernel of `Fused` groups of kind 'attention' (src/passes/recognize.ts) in
 * the one layout the exported BERT / GPT-2 graphs use: a packed projection
 * qkv [B, S, 3E] → Split(axis 2) → Reshape [B, S, H, D] each → Transpose Q, V by
 * [0,2,1,3] and K by [0,2,3,1] → MatMul → Mul(scalar scale) → optional
 * Where(bool mask [.., S, S], scalar fill) → Softmax(last axis) → MatMul(·, V) →
 * Transpose [0,2,1,3], output [B, S, H, D]. Any other group returns undefined and
 * runs on the reference.
 *
 * One pass per (batch, head, query row): the scaled dots of the Q row with every K
 * row (read in place from qkv, row stride 3E), the mask fill, the row maximum, then
 * exp (the expression renderer's Cephes expf) and the sum in SIMD128 over the row,
 * and the weighted V rows accumulated four head lanes at a time into out[b, s, h, :],
 * scaled by 1 / sum. Threads: a large group is cut into chunks of query rows, each
 * with its own score row. The reference normalizes before the second product; the order
 * differs only by float32 rounding (~1e-6 relative).
 */
import type { Graph } from '../../graph/graph.js';
import { opContext, opOf } from '../../graph/infer.js';
import { attentionParts, transposePerm, type AttentionView } from '../../graph/ops/attention-views.js';
import { sizeOf } from '../../graph/shape.js';
import type { Tensor } from '../../graph/tensor.js';
import { FnBuilder } from './encoder.js';
import type { WasmPrepareContext, WasmRun } from './kernel.js';
import { emitExp } from './simd-expr.js';
import { f32Shape } from './window.js';

/** One-thread cost per multiply-add of the two products (ns), for the thread split. */
const NS_PER_MAC = 0.6;
/** One-thread cost per score beyond its products (scale, mask, max, exp, sum; ns). */
const NS_PER_SCORE = 4;

/** The parameters of a matched group. */
interface AttentionShape {
  readonly B: number;
  readonly S: number;
  readonly H: number;
  readonly D: number;
  readonly scale: number;
  /** The Where: the bool mask (a node input index, or the group's constant), the fill, and whether true selects the fill. */
  readonly mask?: { readonly input: number | Tensor; readonly fill: number; readonly fillOnTrue: boolean };
}

/** True when view `v` reads node input 0 with this shape, offset and strides (strides of size-1 axes do not matter). */
function isView(v: AttentionView, shape: readonly number[], strides: readonly number[], offset: number): boolean {
  return v.index === 0 && v.offset === offset && v.shape.join() === shape.join() && shape.every((d, i) => d === 1 || v.strides[i] === strides[i]);
}

/**
 * Matches the group exactly (see the file comment), or undefined. The structure
 * (products, Softmax, chain, Q/K/V views) comes from {@link attentionParts}.
 */
function matchAttention(ctx: WasmPrepareContext, g: Graph): AttentionShape | undefined {
  if (g.outputs.length !== 1 || ctx.outputs.length !== 1) return undefined;
  const xs = f32Shape(ctx.inputs[0]);
  const os = f32Shape(ctx.outputs[0]);
  if (!xs || xs.length !== 3 || !os || os.length !== 4 || ctx.inputs.some((t) => t && !t.shape.every((d) => typeof d === 'number'))) return undefined;
  const [B, S, C] = xs as [number, number, number];
  const [H, D] = [os[2]!, os[3]!];
  const E = H * D;
  if (C !== 3 * E || os[0] !== B || os[1] !== S || D % 4 !== 0) return undefined;
  const parts = attentionParts(g, ctx.inputs.map((t, i) => t && { ...t, value: ctx.constant(i) }));
  if (typeof parts === 'string') return undefined;
  const { qk, softmax, pv, post, chain, q, k, v } = parts;
  if (!post || transposePerm(post, 4).join() !== '0,2,1,3') return undefined;
  const axis = (opContext(opOf(softmax), softmax).attrs as { axis: number }).axis;
  if (axis !== -1 && axis !== 3) return undefined;
  // Q, V [B,H,S,D] and K [B,H,D,S] read in place from qkv [B,S,3E].
  const [sb, sh, ss] = [S * C, D, C];
  if (!isView(q, [B, H, S, D], [sb, sh, ss, 1], 0) || !isView(k, [B, H, D, S], [sb, sh, 1, ss], E) || !isView(v, [B, H, S, D], [sb, sh, ss, 1], 2 * E)) return undefined;
  // The chain: Mul(scores, scalar), then optionally Where(bool mask, scalar fill, ·) either way round.
  const inputIndex = new Map(g.inputs.map((x, i) => [x.name, i]));
  const scalar = (x: string): number | undefined => {
    const t = g.initializers.get(x) ?? (inputIndex.has(x) ? ctx.constant(inputIndex.get(x)!) : undefined);
    return t && t.size === 1 && (t.dtype === 'float32' || t.dtype === 'float64') ? Number(t.data[0]) : undefined;
  };
  const [mul, where] = chain;
  if (!mul || mul.op !== 'Mul' || chain.length > 2 || (where && where.op !== 'Where')) return undefined;
  const scores = qk.outputs[0]!;
  const scale = mul.inputs[0] === scores ? scalar(mul.inputs[1]!) : mul.inputs[1] === scores ? scalar(mul.inputs[0]!) : undefined;
  if (scale === undefined || softmax.inputs[0] !== (where ?? mul).outputs[0]) return undefined;
  let mask: AttentionShape['mask'];
  if (where) {
    const [c, a, b] = where.inputs as [string, string, string];
    const ci = inputIndex.get(c);
    const init = g.initializers.get(c);
    const ct = ci === undefined ? init : ctx.inputs[ci];
    if (!ct || ct.dtype !== 'bool') return undefined;
    const cs = ct.shape as number[];
    if (cs.length < 2 || cs[cs.length - 1] !== S || cs[cs.length - 2] !== S || sizeOf(cs) !== S * S) return undefined;
    const fillOnTrue = b === mul.outputs[0];
    if (!fillOnTrue && a !== mul.outputs[0]) return undefined;
    const fill = scalar(fillOnTrue ? a : b);
    if (fill === undefined) return undefined;
    mask = { input: ci ?? init!, fill, fillOnTrue };
  }
  return { B, S, H, D, scale, mask };
}

/** attention: (qkv, out, scores, mask, B, S, H, D, scale: f32, fill: f32, hasMask, i0, i1): query rows [i0, i1) of every (batch, head). */
function buildAttention(): FnBuilder {
  const f = new FnBuilder(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'f32', 'i32', 'i32', 'i32'], []);
  const [QKV, OUT, SC, MASK, BN, SN, HN, DN, SCALE, FILL, HASMASK, I0, I1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const i32 = (): number => f.local('i32');
  const v128 = (): number => f.local('v128');
  const [b, h, i, j, d, rowB, qrow, krow, vrow, orow, eb, sV] = [i32(), i32(), i32(), i32(), i32(), i32(), i32(), i32(), i32(), i32(), i32(), i32()];
  const [acc, mx, sv, e, vs, ts, inv] = [v128(), v128(), v128(), v128(), v128(), v128(), v128()];
  const hsum = (v: number): void => {
    f.get(v).lane(0).get(v).lane(1).op('f32.add').get(v).lane(2).get(v).lane(3).op('f32.add').op('f32.add');
  };
  // rowB = 3·H·D·4 (bytes between tokens); eb = H·D·4 (bytes between Q, K, V)
  f.get(HN).get(DN).op('i32.mul').i32(2).op('i32.shl').set(eb);
  f.get(eb).i32(3).op('i32.mul').set(rowB);
  f.get(SN).i32(3).op('i32.sub').set(sV);
  f.forRange(b, 0, BN, 1, () => f.forRange(h, 0, HN, 1, () => f.forRange(i, () => f.get(I0), I1, 1, () => {
    // qrow = qkv + (b·S + i)·rowB + h·D·4
    f.get(QKV).get(b).get(SN).op('i32.mul').get(i).op('i32.add').get(rowB).op('i32.mul').op('i32.add')
      .get(h).get(DN).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(qrow);
    // krow = qkv + b·S·rowB + E·4 + h·D·4
    f.get(QKV).get(b).get(SN).op('i32.mul').get(rowB).op('i32.mul').op('i32.add').get(eb).op('i32.add')
      .get(h).get(DN).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(krow);
    f.f32x4(-Infinity).set(mx);
    f.forRange(j, 0, SN, 1, () => {
      f.f32x4(0).set(acc);
      f.forRange(d, 0, DN, 4, () => {
        f.get(qrow).get(d).i32(2).op('i32.shl').op('i32.add').loadV()
          .get(krow).get(d).i32(2).op('i32.shl').op('i32.add').loadV().simd('f32x4.mul').get(acc).simd('f32x4.add').set(acc);
      });
      hsum(acc);
      f.get(SCALE).op('f32.mul').simd('f32x4.splat').set(sv);
      f.get(HASMASK).if(() => {
        f.get(FILL).simd('f32x4.splat').get(sv)
          .get(MASK).get(i).get(SN).op('i32.mul').get(j).op('i32.add').i32(2).op('i32.shl').op('i32.add').loadSplat()
          .f32x4(0).simd('f32x4.ne').simd('v128.bitselect').set(sv);
      });
      f.get(SC).get(j).i32(2).op('i32.shl').op('i32.add').get(sv).lane(0).storeF32();
      f.get(mx).get(sv).simd('f32x4.max').set(mx);
      f.get(krow).get(rowB).op('i32.add').set(krow);
    });
    // e = exp(s − max) in place, summed: vector lanes in vs, tail in lane 0 of ts
    f.f32x4(0).set(vs);
    f.f32x4(0).set(ts);
    const sweep = (vector: boolean, limit: number, step: number): void => {
      f.block((exit) => f.loop((top) => {
        f.get(j).get(limit).op('i32.ge_s').brIf(exit);
        f.get(SC).get(j).i32(2).op('i32.shl').op('i32.add');
        if (vector) f.loadV(); else f.loadSplat();
        f.get(mx).simd('f32x4.sub').set(e);
        emitExp(f, e);
        f.set(e);
        f.get(SC).get(j).i32(2).op('i32.shl').op('i32.add').get(e);
        if (vector) f.storeV(); else f.lane(0).storeF32();
        const a = vector ? vs : ts;
        f.get(a).get(e).simd('f32x4.add').set(a);
        f.get(j).i32(step).op('i32.add').set(j);
        f.br(top);
      }));
    };
    f.i32(0).set(j);
    sweep(true, sV, 4);
    sweep(false, SN, 1);
    f.f32(1);
    hsum(vs);
    f.get(ts).lane(0).op('f32.add').op('f32.div').simd('f32x4.splat').set(inv);
    // out[b, i, h, :] = Σ_j e[j] · V[b, j, h, :] / sum
    f.get(OUT).get(b).get(SN).op('i32.mul').get(i).op('i32.add').get(HN).op('i32.mul').get(h).op('i32.add')
      .get(DN).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(orow);
    f.forRange(d, 0, DN, 4, () => {
      f.f32x4(0).set(acc);
      // vrow = qkv + b·S·rowB + 2·E·4 + (h·D + d)·4
      f.get(QKV).get(b).get(SN).op('i32.mul').get(rowB).op('i32.mul').op('i32.add').get(eb).get(eb).op('i32.add').op('i32.add')
        .get(h).get(DN).op('i32.mul').get(d).op('i32.add').i32(2).op('i32.shl').op('i32.add').set(vrow);
      f.forRange(j, 0, SN, 1, () => {
        f.get(SC).get(j).i32(2).op('i32.shl').op('i32.add').loadSplat().get(vrow).loadV().simd('f32x4.mul').get(acc).simd('f32x4.add').set(acc);
        f.get(vrow).get(rowB).op('i32.add').set(vrow);
      });
      f.get(orow).get(d).i32(2).op('i32.shl').op('i32.add').get(acc).get(inv).simd('f32x4.mul').storeV();
    });
  })));
  return f;
}

/** A Fused 'attention' group in the packed-QKV layout, or undefined (the reference runs it). */
export function prepareAttention(ctx: WasmPrepareContext, g: Graph): WasmRun | undefined {
  const m = matchAttention(ctx, g);
  if (!m) return undefined;
  const { B, S, H, D, scale, mask } = m;
  const name = ctx.fn('attention:packed:rows', buildAttention);
  // Threads: chunks of query rows (each row computed as alone, so any split gives the same bits), each with its own score row.
  const split = ctx.split(S, B * H * S * S * (D * NS_PER_MAC + NS_PER_SCORE));
  const chunkOf = new Map(split.chunks.map(([i0], k) => [i0, k]));
  const scoreBytes = Math.ceil((S * 4) / 64) * 64;
  ctx.scratch(split.chunks.length * scoreBytes + 64 + (mask ? S * S * 4 + 64 : 0) + B * S * H * D * 4 + 64);
  return (rt, ins, out) => {
    const qkv = rt.addrOf(ins[0]!);
    let maskAt = 0;
    if (mask) {
      const c = typeof mask.input === 'number' ? ins[mask.input]! : mask.input;
      maskAt = rt.stage(S * S * 4);
      const base = maskAt >> 2;
      for (let k = 0; k < S * S; k++) rt.f32[base + k] = (c.data[k] ? 1 : 0) === (mask.fillOnTrue ? 1 : 0) ? 1 : 0;
    }
    const sc = rt.stage(split.chunks.length * scoreBytes);
    // The output must not overwrite the qkv rows it still reads.
    const n = B * S * H * D * 4;
    const overlaps = qkv < out + n && out < qkv + 3 * n;
    const at = overlaps ? rt.stage(n) : out;
    rt.parallel(split, (i0, i1) => [[name, qkv, at, sc + chunkOf.get(i0)! * scoreBytes, maskAt, B, S, H, D, scale, mask?.fill ?? 0, mask ? 1 : 0, i0, i1]]);
    if (overlaps) rt.f32.copyWithin(out >> 2, at >> 2, (at + n) >> 2);
  };
}
