/**
 * WebGPU kernel of com.microsoft GroupQueryAttention (src/graph/ops/contrib-gqa.ts),
 * two dispatches:
 * 1. the KV cache: one invocation per element of present_key/present_value
 *    [B, Nkv, L, H] — the batch's past rows from past_key/past_value, then the new
 *    keys (rotated when do_rotary) and values, zeros after; into the outputs, or
 *    into f32 scratch when the node omits them;
 * 2. the attention: one invocation per (batch, head, query token) row, one pass
 *    over its visible keys in the cache with an online softmax whose running
 *    output lives in the output row (the query rotated on the fly).
 * seqlens_k is read on the device (per-batch lengths, clamped to the cache);
 * with present outputs, total_sequence_length's value must be known when the
 * plan is made (it decides their shape: a constant, or a fed scalar input, whose
 * value the planner passes in); without them it is read on the device and the
 * scratch cache holds the P + S rows a batch can fill. Sizes and the float attributes are uniforms; do_rotary,
 * rotary_interleaved, smooth_softmax and the packed form choose the code.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { checkSequence, gqaGeometry, presentLength, type GqaAttrs } from '../../../graph/ops/contrib-gqa.js';
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelContext } from '../kernel.js';
import { ShaderBuilder } from '../wgsl.js';

/** Whether node output `k` is requested (an omitted output is planned with size 0). */
const wanted = (ctx: KernelContext, k: number): boolean => !!ctx.outputs[k] && sizeOf(ctx.outputs[k].shape) > 0;

interface GqaKernelAttrs extends GqaAttrs {
  readonly softcap: number;
  readonly local_window_size: number;
  readonly rotary_interleaved: number;
  readonly smooth_softmax: number;
}

/**
 * The WGSL helpers every dispatch shares: the batch's total and past lengths, the
 * position of a new token, and readers of the new tokens' Q and K (rotated) and V.
 */
function helpers(ctx: KernelContext, sb: ShaderBuilder, L: number, T: number | undefined): void {
  const attrs = ctx.attrs as unknown as GqaKernelAttrs;
  const g = gqaGeometry(ctx.inputs, attrs, ctx.node);
  const Q = sb.input(0);
  const [K, V] = g.packed ? [Q, Q] : [sb.input(1), sb.input(2)];
  const SL = sb.input(5);
  const [S, N, Nkv, H, Lu] = sb.u32s([g.S, g.N, g.Nkv, g.H, L]);
  const Tu = T !== undefined ? sb.u32(T) : `u32(${sb.input(6)}[0])`;
  const Dq = g.packed ? (g.N + 2 * g.Nkv) * g.H : g.N * g.H;
  const Dkv = g.packed ? Dq : g.Nkv * g.H;
  const [DqU, DkvU, kOff, vOff] = sb.u32s([Dq, Dkv, g.packed ? g.N * g.H : 0, g.packed ? (g.N + g.Nkv) * g.H : 0]);
  sb.fn([
    `fn totalOf(b: u32) -> u32 { return u32(clamp(${SL}[b] + 1, 1, i32(${Lu}))); }`,
    `fn firstPrompt() -> bool { return ${S} == ${Tu}; }`,
    `fn pastOf(b: u32) -> u32 { if (firstPrompt()) { return 0u; } return max(totalOf(b), ${S}) - ${S}; }`,
    `fn rawQ(b: u32, s: u32, n: u32, h: u32) -> f32 { return f32(${Q}[(b * ${S} + s) * ${DqU} + n * ${H} + h]); }`,
    `fn rawK(b: u32, s: u32, n: u32, h: u32) -> f32 { return f32(${K}[(b * ${S} + s) * ${DkvU} + ${kOff} + n * ${H} + h]); }`,
    `fn rawV(b: u32, s: u32, n: u32, h: u32) -> f32 { return f32(${V}[(b * ${S} + s) * ${DkvU} + ${vOff} + n * ${H} + h]); }`,
  ].join('\n'));
  if (!g.rotary) {
    for (const which of ['Q', 'K']) sb.fn(`fn rot${which}(b: u32, s: u32, n: u32, h: u32) -> f32 { return raw${which}(b, s, n, h); }`);
    return;
  }
  const [C, Sn] = [sb.input(7), sb.input(8)];
  const [R, half, maxPos] = sb.u32s([g.rotary, g.rotary / 2, g.maxPos]);
  const inter = attrs.rotary_interleaved !== 0;
  const first = inter ? 'h % 2u == 0u' : `h < ${half}`;
  const partner = inter ? 'select(h - 1u, h + 1u, first)' : `select(h - ${half}, h + ${half}, first)`;
  const c = inter ? 'h / 2u' : `h % ${half}`;
  for (const which of ['Q', 'K']) {
    sb.fn([
      `fn rot${which}(b: u32, s: u32, n: u32, h: u32) -> f32 {`,
      `  if (h >= ${R}) { return raw${which}(b, s, n, h); }`,
      `  let first = ${first};`,
      `  let other = raw${which}(b, s, n, ${partner});`,
      `  let k = min(pastOf(b) + s, ${maxPos} - 1u) * ${half} + ${c};`,
      `  return raw${which}(b, s, n, h) * f32(${C}[k]) + select(other, -other, first) * f32(${Sn}[k]);`,
      '}',
    ].join('\n'));
  }
}

/** GroupQueryAttention: the cache dispatch, then the attention rows reading it. */
export const groupQueryAttention: GpuKernel = {
  plan(ctx) {
    const attrs = ctx.attrs as unknown as GqaKernelAttrs;
    const g = gqaGeometry(ctx.inputs, attrs, ctx.node);
    const keep = [wanted(ctx, 1), wanted(ctx, 2)];
    const T = ctx.inputs[6]!.value?.data[0];
    if (T !== undefined) checkSequence(g, T, ctx.node);
    // Cache rows: the present outputs' (max(T, P)); without them, the P + S rows any batch can fill.
    let L = g.P + g.S;
    if (keep[0] || keep[1]) {
      if (T === undefined) {
        throw new UnsupportedOpError([{ op: 'com.microsoft::GroupQueryAttention', nodes: [ctx.node] }], `${ctx.node}: total_sequence_length must be known when the WebGPU plan is made (it decides the present cache's shape)`);
      }
      L = presentLength(g, T);
    }
    const cacheSize = g.B * g.Nkv * L * g.H;
    const scratch = keep.filter((w) => !w).map(() => cacheSize * 4);
    const bindCache = (sb: ShaderBuilder, k: 1 | 2): { name: string; storage: string } => {
      if (keep[k - 1]) return { name: sb.output(k), storage: ctx.outputs[k]!.storage };
      return { name: sb.scratch(keep[0] || k === 1 ? 0 : 1, 'f32'), storage: 'f32' };
    };

    // 1. present_key / present_value.
    const sa = new ShaderBuilder(ctx);
    helpers(ctx, sa, L, T);
    const PK = g.P ? sa.input(3) : undefined;
    const PV = g.P ? sa.input(4) : undefined;
    const [OK, OV] = [bindCache(sa, 1), bindCache(sa, 2)];
    const [S, Nkv, H, Lu, Pu] = sa.u32s([g.S, g.Nkv, g.H, L, g.P]);
    const cacheBody = [
      `  let h = i % ${H};`,
      `  let t = (i / ${H}) % ${Lu};`,
      `  let n = (i / (${H} * ${Lu})) % ${Nkv};`,
      `  let b = i / (${H} * ${Lu} * ${Nkv});`,
      `  let past = pastOf(b);`,
      `  var kv = 0.0;`,
      `  var vv = 0.0;`,
      ...(PK ? [`  if (t < min(past, ${Pu})) { let f = ((b * ${Nkv} + n) * ${Pu} + t) * ${H} + h; kv = f32(${PK}[f]); vv = f32(${PV}[f]); }`, '  else'] : []),
      `  if (t >= past && t < past + ${S}) { kv = rotK(b, t - past, n, h); vv = rawV(b, t - past, n, h); }`,
      `  ${OK.name}[i] = ${OK.storage}(kv);`,
      `  ${OV.name}[i] = ${OV.storage}(vv);`,
    ].join('\n');
    const d1 = sa.linear(cacheSize, () => cacheBody, 'GroupQueryAttention.cache');

    // 2. attention rows over the cache.
    const sb = new ShaderBuilder(ctx);
    helpers(ctx, sb, L, T);
    const [CK, CV] = [bindCache(sb, 1), bindCache(sb, 2)];
    const Y = sb.output(0);
    const st = ctx.outputs[0]!.storage;
    const [S2, N, G, H2, L2, W] = sb.u32s([g.S, g.N, g.N / g.Nkv, g.H, L, Math.max(0, attrs.local_window_size + 1)]);
    const scale = sb.f32(g.scale);
    const softcap = attrs.softcap > 0 ? sb.f32(attrs.softcap) : undefined;
    const smooth = attrs.smooth_softmax !== 0;
    const body = [
      `  let s = i % ${S2};`,
      `  let n = (i / ${S2}) % ${N};`,
      `  let b = i / (${S2} * ${N});`,
      `  let end = min(pastOf(b) + s + 1u, totalOf(b));`,
      `  let start = select(0u, end - min(end, ${W} - 1u), ${W} > 0u);`,
      `  let kvBase = (b * (${N} / ${G}) + n / ${G}) * ${L2};`,
      `  let yBase = (b * ${S2} + s) * ${N} * ${H2} + n * ${H2};`,
      `  for (var h = 0u; h < ${H2}; h++) { ${Y}[yBase + h] = ${st}(0.0); }`,
      `  var m = ${smooth ? '0.0' : '-3.0e38'};`,
      `  var l = ${smooth ? '1.0' : '0.0'};`,
      `  for (var j = start; j < end; j++) {`,
      `    var dot = 0.0;`,
      `    for (var h = 0u; h < ${H2}; h++) { dot += rotQ(b, s, n, h) * f32(${CK.name}[(kvBase + j) * ${H2} + h]); }`,
      `    var sc = dot * ${scale};`,
      ...(softcap ? [`    sc = ${softcap} * tanh(sc / ${softcap});`] : []),
      `    let mNew = max(m, sc);`,
      `    let keep = exp(m - mNew);`,
      `    let p = exp(sc - mNew);`,
      `    l = l * keep + p;`,
      `    for (var h = 0u; h < ${H2}; h++) {`,
      `      let vv = f32(${CV.name}[(kvBase + j) * ${H2} + h]);`,
      `      ${Y}[yBase + h] = ${st}(f32(${Y}[yBase + h]) * keep + p * vv);`,
      '    }',
      `    m = mNew;`,
      '  }',
      `  let inv = select(0.0, 1.0 / l, l > 0.0);`,
      `  for (var h = 0u; h < ${H2}; h++) { ${Y}[yBase + h] = ${st}(f32(${Y}[yBase + h]) * inv); }`,
    ].join('\n');
    const d2 = sb.linear(g.B * g.N * g.S, () => body, 'GroupQueryAttention.row');
    return { ...(scratch.length ? { scratch } : {}), dispatches: [d1, d2] };
  },
};
