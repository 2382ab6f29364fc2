/**
 * WebGPU kernels of ONNX Runtime's contrib ops (src/graph/ops/contrib*.ts). The
 * elementwise ones (Gelu, FastGelu, BiasGelu, QuickGelu, BiasAdd) have an `expr`
 * and get the generic elementwise kernel. FusedMatMul is one `planMatmul` dispatch
 * on strided views of A and B (the transposes cost nothing) with alpha applied in
 * the value. The normalization ops run one invocation per row (statistics in f32),
 * like LayerNormalization's kernel.
 */
import { E } from '../../../graph/expr.js';
import type { OpDef } from '../../../graph/op.js';
import { F } from '../../../graph/ops/scalar-fns.js';
import { contribOps, fusedMatmulOperands } from '../../../graph/ops/contrib.js';
import { attentionSizes, mhaGeometry, type MhaGeometry } from '../../../graph/ops/contrib-attention.js';
import { gatherBlockLayout, nbitsLayout } from '../../../graph/ops/contrib-quant.js';
import { rotaryGeometry } from '../../../graph/ops/contrib-rotary.js';
import { normalizeAxis, sizeOf, type ConcreteShape } from '../../../graph/shape.js';
import type { Dispatch, GpuKernel, KernelContext } from '../kernel.js';
import { broadcastOffsets, exprPrelude, renderExpr, ShaderBuilder } from '../wgsl.js';
import { groupQueryAttention } from './contrib-gqa.js';
import { planMatmul } from './matmul.js';
import { packBytes } from '../packed-weights.js';

const fusedMatMul: GpuKernel = {
  plan(ctx) {
    const attrs = ctx.attrs as { transA: number; transB: number; transBatchA: number; transBatchB: number; alpha: number };
    const { M, N, K, batch, a, b } = fusedMatmulOperands(ctx.inputs[0]!.shape, ctx.inputs[1]!.shape, attrs, ctx.node);
    const alpha = Number(attrs.alpha);
    const dispatch = planMatmul(ctx, {
      a: 0, b: 1, M, N, K, transA: false, transB: false, batch, aBatch: batch, bBatch: batch,
      aLayout: a, bLayout: b, dtype: ctx.outputs[0]!.dtype, output: 0, label: 'FusedMatMul',
      ...(alpha === 1 ? {} : { value: (sb: ShaderBuilder) => `v * f32(${sb.f32(alpha)})` }),
    });
    return { dispatches: [dispatch] };
  },
};

/** Whether node output `k` is requested (an omitted output is planned with size 0). */
const wanted = (ctx: KernelContext, k: number): boolean => !!ctx.outputs[k] && sizeOf(ctx.outputs[k].shape) > 0;

/**
 * Skip(Simplified)LayerNormalization: per row of the last axis, v = input + skip
 * (+ bias) is summed, centred (unless `rms`), normalized and scaled by gamma
 * (+ beta). `beta`/`bias` are node input indices (or undefined when the op has none).
 */
function skipNorm(rms: boolean, betaAt: number | undefined, biasAt: number): GpuKernel {
  return {
    plan(ctx) {
      const x = ctx.inputs[0]!;
      const h = x.shape[x.shape.length - 1]!;
      const rows = h === 0 ? 0 : sizeOf(x.shape) / h;
      const sb = new ShaderBuilder(ctx);
      const [X, S, G] = [sb.input(0), sb.input(1), sb.input(2)];
      const B = betaAt !== undefined && ctx.inputs[betaAt] ? sb.input(betaAt) : undefined;
      const BI = ctx.inputs[biasAt] ? sb.input(biasAt) : undefined;
      const Y = sb.output(0);
      const outs = [1, 2, 3].map((k) => (wanted(ctx, k) ? sb.output(k) : undefined));
      const hU = sb.u32(h);
      const ns = sb.u32(sizeOf(ctx.inputs[1]!.shape));
      const eps = sb.f32(Number(ctx.attrs['epsilon']));
      const st = (k: number): string => ctx.outputs[k]!.storage;
      const v = `(f32(${X}[base + k]) + f32(${S}[(base + k) % ${ns}])${BI ? ` + f32(${BI}[k])` : ''})`;
      const lines = [
        `  let base = i * ${hU};`,
        `  var sum = 0.0;`,
        `  for (var k = 0u; k < ${hU}; k++) { let v = ${v}; sum += v;${outs[2] ? ` ${outs[2]}[base + k] = ${st(3)}(v);` : ''} }`,
        `  let mean = ${rms ? '0.0' : `sum / f32(${hU})`};`,
        `  var sq = 0.0;`,
        `  for (var k = 0u; k < ${hU}; k++) { let d = ${v} - mean; sq += d * d; }`,
        `  let inv = 1.0 / sqrt(sq / f32(${hU}) + ${eps});`,
        ...(outs[0] ? [`  ${outs[0]}[i] = ${st(1)}(mean);`] : []),
        ...(outs[1] ? [`  ${outs[1]}[i] = ${st(2)}(inv);`] : []),
        `  for (var k = 0u; k < ${hU}; k++) {`,
        `    ${Y}[base + k] = ${st(0)}((${v} - mean) * inv * f32(${G}[k])${B ? ` + f32(${B}[k])` : ''});`,
        '  }',
      ];
      return { dispatches: [sb.linear(rows, () => lines.join('\n'), `${rms ? 'SkipSimplifiedLayerNormalization' : 'SkipLayerNormalization'}.row`)] };
    },
  };
}

const simplifiedLayerNorm: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const axis = normalizeAxis(Number(ctx.attrs['axis']), x.shape.length, ctx.node);
    const normShape = x.shape.slice(axis);
    const m = sizeOf(normShape);
    const rows = m === 0 ? 0 : sizeOf(x.shape) / m;
    const sb = new ShaderBuilder(ctx);
    const [X, S, Y] = [sb.input(0), sb.input(1), sb.output(0)];
    const inv = wanted(ctx, 1) ? sb.output(1) : undefined;
    const mU = sb.u32(m);
    const eps = sb.f32(Number(ctx.attrs['epsilon']));
    const { code, offsets } = broadcastOffsets(sb, 'k', [ctx.inputs[1]!.shape as ConcreteShape], normShape);
    const lines = [
      `  let base = i * ${mU};`,
      `  var sq = 0.0;`,
      `  for (var k = 0u; k < ${mU}; k++) { let v = f32(${X}[base + k]); sq += v * v; }`,
      `  let inv = 1.0 / sqrt(sq / f32(${mU}) + ${eps});`,
      ...(inv ? [`  ${inv}[i] = ${ctx.outputs[1]!.storage}(inv);`] : []),
      `  for (var k = 0u; k < ${mU}; k++) {`,
      code,
      `    ${Y}[base + k] = ${ctx.outputs[0]!.storage}(f32(${X}[base + k]) * inv * f32(${S}[${offsets[0]}]));`,
      '  }',
    ];
    return { dispatches: [sb.linear(rows, () => lines.join('\n'), 'SimplifiedLayerNormalization.row')] };
  },
};

/** RotaryEmbedding: one invocation per element, reading its pair partner and the cache row of its token's position. */
const rotaryEmbedding: GpuKernel = {
  plan(ctx) {
    const attrs = ctx.attrs as { num_heads: number; rotary_embedding_dim: number; interleaved: number };
    const g = rotaryGeometry(ctx.inputs[0]!.shape, ctx.inputs[2]!.shape, attrs, ctx.node)!;
    const sb = new ShaderBuilder(ctx);
    const [X, P, C, S, Y] = [sb.input(0), sb.input(1), sb.input(2), sb.input(3), sb.output(0)];
    const [H, N, Sq, R, half, maxPos] = sb.u32s([g.headSize, g.heads, g.seq, g.rotary, g.rotary / 2, ctx.inputs[2]!.shape[0]!]);
    const single = sizeOf(ctx.inputs[1]!.shape) === 1;
    const first = attrs.interleaved !== 0 ? 'h % 2u == 0u' : `h < ${half}`;
    const partner = attrs.interleaved !== 0 ? 'select(h - 1u, h + 1u, first)' : `select(h - ${half}, h + ${half}, first)`;
    const c = attrs.interleaved !== 0 ? 'h / 2u' : `h % ${half}`;
    const body = [
      `  let h = i % ${H};`,
      `  let r = i / ${H};`,
      `  let b = r / (${N} * ${Sq});`,
      `  let s = ${g.packed ? `(r / ${N}) % ${Sq}` : `r % ${Sq}`};`,
      `  if (h >= ${R}) { ${Y}[i] = ${X}[i]; return; }`,
      `  let p = min(u32(max(${single ? `${P}[0] + i32(s)` : `${P}[b * ${Sq} + s]`}, 0)), ${maxPos} - 1u);`,
      `  let first = ${first};`,
      `  let other = f32(${X}[i - h + ${partner}]);`,
      `  let k = p * ${half} + ${c};`,
      `  let rot = select(other, -other, first) * f32(${S}[k]);`,
      `  ${Y}[i] = ${ctx.outputs[0]!.storage}(f32(${X}[i]) * f32(${C}[k]) + rot);`,
    ].join('\n');
    return { dispatches: [sb.linear(sizeOf(ctx.inputs[0]!.shape), () => body, 'RotaryEmbedding')] };
  },
};

/** WGSL (f32) of the `bits`-bit value at element `e` of packed uint8 data (one byte per u32 word) starting at word `base`. */
function unpackWgsl(bits: number, byte: (i: string) => string, base: string, e: string): string {
  return bits === 8 ? `f32(${byte(`${base} + ${e}`)})` : `f32((${byte(`${base} + (${e} >> 1u)`)} >> ((${e} & 1u) * 4u)) & 15u)`;
}

/** Rows × columns of the output each invocation of the tiled MatMulNBits kernel computes. */
const NBITS_TM = 4;
const NBITS_TN = 4;

/**
 * MatMulNBits (uint8 data is stored one value per u32 word, so a byte is one index;
 * a constant B, the usual case, is prepared as four bytes per u32 word instead
 * (packed-weights.ts), so its blocks take their own size in GPU memory).
 *
 * 4 bits, K even (the usual case): each invocation computes a 4 × 4 tile of Y, its 4
 * columns' scales and zero points read once per block, two weights unpacked from each
 * word (the low and high nibble) for the 4 columns at once into vec4s, and each A value
 * loaded once for the 4 columns. Per block the sum is Σ a·q − z·Σ a, scaled once:
 * w = (q − z)·s factored out of the block. No shared memory: barriers cost more than
 * they save on software rasterizers (lavapipe), as in the matmul shader.
 * Otherwise (8 bits, odd K): one invocation per output element.
 */
const matMulNBits: GpuKernel = {
  plan(ctx) {
    const L = nbitsLayout(ctx.attrs as { K: number; N: number; bits: number; block_size: number }, ctx.node);
    const sb = new ShaderBuilder(ctx);
    const bConst = ctx.inputs[1]?.value;
    const [A, B, Sc] = [sb.input(0), bConst ? sb.constant(0, 'u32') : sb.input(1), sb.input(2)];
    const bByte = (i: string): string => (bConst ? `extractBits(${B}[(${i}) >> 2u], ((${i}) & 3u) * 8u, 8u)` : `${B}[${i}]`);
    const constants = bConst ? [packBytes(bConst.data as ArrayLike<number>)] : [];
    const zp = ctx.inputs[3];
    const Z = zp ? sb.input(3) : undefined;
    const Bi = ctx.inputs[5] ? sb.input(5) : undefined;
    const Y = sb.output(0);
    const total = sizeOf(ctx.outputs[0]!.shape);
    const M = L.N > 0 ? total / L.N : 0;
    const [K, N, bs, kBlocks, blob, zpRow] = sb.u32s([L.K, L.N, L.blockSize, L.kBlocks, L.blobSize, L.zpRowBytes]);
    const unpack = (arr: string, base: string, e: string): string => unpackWgsl(L.bits, arr === B ? bByte : (i) => `${arr}[${i}]`, base, e);
    const zOf = (n: string): string => (!Z ? `${2 ** (L.bits - 1)}.0` : zp!.dtype === 'uint8' ? unpack(Z, `${n} * ${zpRow}`, 'kb') : `f32(${Z}[${n} * ${kBlocks} + kb])`);
    if (L.bits !== 4 || L.K % 2 !== 0) {
      const body = [
        `  let r = i / ${N};`,
        `  let n = i % ${N};`,
        `  var acc = ${Bi ? `f32(${Bi}[n])` : '0.0'};`,
        `  for (var k = 0u; k < ${K}; k++) {`,
        `    let kb = k / ${bs};`,
        `    let q = ${unpack(B, `(n * ${kBlocks} + kb) * ${blob}`, `(k % ${bs})`)};`,
        `    acc += f32(${A}[r * ${K} + k]) * (q - ${zOf('n')}) * f32(${Sc}[n * ${kBlocks} + kb]);`,
        '  }',
        `  ${Y}[i] = ${ctx.outputs[0]!.storage}(acc);`,
      ].join('\n');
      return { constants, dispatches: [sb.linear(total, () => body, 'MatMulNBits')] };
    }
    const nTiles = Math.ceil(L.N / NBITS_TN);
    const mTiles = Math.ceil(M / NBITS_TM);
    const [Mu, nT] = sb.u32s([M, nTiles]);
    const rows = Array.from({ length: NBITS_TM }, (_, r) => r);
    const cols = Array.from({ length: NBITS_TN }, (_, c) => c);
    const v4 = (f: (c: number) => string): string => `vec4<f32>(${cols.map(f).join(', ')})`;
    const L2: string[] = [
      `  let m0 = (i / ${nT}) * ${NBITS_TM}u;`,
      `  let c0 = (i % ${nT}) * ${NBITS_TN}u;`,
      ...cols.map((c) => `  let n${c} = min(c0 + ${c}u, ${N} - 1u);`),
      ...rows.map((r) => `  let a${r} = min(m0 + ${r}u, ${Mu} - 1u) * ${K};`),
      ...rows.map((r) => `  var acc${r} = vec4<f32>();`),
      `  for (var kb = 0u; kb < ${kBlocks}; kb++) {`,
      ...rows.map((r) => `    var blk${r} = vec4<f32>(); var sa${r} = 0.0;`),
      ...cols.map((c) => `    let b${c} = (n${c} * ${kBlocks} + kb) * ${blob};`),
      `    let k0 = kb * ${bs};`,
      `    let kn = min(${bs}, ${K} - k0) / 2u;`,
      '    for (var j = 0u; j < kn; j++) {',
      ...cols.map((c) => `      let w${c} = ${bByte(`b${c} + j`)};`),
      `      let lo = ${v4((c) => `f32(w${c} & 15u)`)};`,
      `      let hi = ${v4((c) => `f32((w${c} >> 4u) & 15u)`)};`,
      '      let k = k0 + 2u * j;',
      ...rows.map((r) => `      { let x0 = f32(${A}[a${r} + k]); let x1 = f32(${A}[a${r} + k + 1u]); blk${r} += x0 * lo + x1 * hi; sa${r} += x0 + x1; }`),
      '    }',
      `    let z = ${v4((c) => zOf(`n${c}`))};`,
      `    let s = ${v4((c) => `f32(${Sc}[n${c} * ${kBlocks} + kb])`)};`,
      ...rows.map((r) => `    acc${r} += s * (blk${r} - z * sa${r});`),
      '  }',
      ...(Bi ? [`  let bias = ${v4((c) => `f32(${Bi}[n${c}])`)};`] : []),
      ...rows.flatMap((r) => cols.map((c) => `  if (m0 + ${r}u < ${Mu} && c0 + ${c}u < ${N}) { ${Y}[(m0 + ${r}u) * ${N} + c0 + ${c}u] = ${ctx.outputs[0]!.storage}(acc${r}[${c}]${Bi ? ` + bias[${c}]` : ''}); }`)),
    ];
    return { constants, dispatches: [sb.linear(mTiles * nTiles, () => L2.join('\n'), `MatMulNBits.tile${NBITS_TM}x${NBITS_TN}`)] };
  },
};

/** BiasSplitGelu: one invocation per output element; the GELU is the registry's scalar function, rendered in f32. */
const biasSplitGelu: GpuKernel = {
  plan(ctx) {
    const d = ctx.inputs[0]!.shape[2]!;
    const sb = new ShaderBuilder(ctx);
    const [X, B, Y] = [sb.input(0), sb.input(1), sb.output(0)];
    const [D, H] = sb.u32s([d, d / 2]);
    const e = E.call(F.mul, [E.input(0, 'float32'), E.call(F.gelu, [E.input(1, 'float32')])]);
    sb.fn(exprPrelude([e]));
    const body = [
      `  let row = (i / ${H}) * ${D};`,
      `  let k = i % ${H};`,
      `  let v0 = f32(${X}[row + k]) + f32(${B}[k]);`,
      `  let v1 = f32(${X}[row + k + ${H}]) + f32(${B}[k + ${H}]);`,
      `  ${Y}[i] = ${ctx.outputs[0]!.storage}(${renderExpr(e, (j) => `v${j}`, false)});`,
    ].join('\n');
    return { dispatches: [sb.linear(sizeOf(ctx.outputs[0]!.shape), () => body, 'BiasSplitGelu')] };
  },
};

/** GatherBlockQuantized: one invocation per output element; an out-of-range index writes 0. */
const gatherBlockQuantized: GpuKernel = {
  plan(ctx) {
    const L = gatherBlockLayout(ctx.inputs[0]!.shape, ctx.attrs as { bits: number; block_size: number; gather_axis: number; quantize_axis: number }, ctx.node);
    const sb = new ShaderBuilder(ctx);
    const [D, I, Sc] = [sb.input(0), sb.input(1), sb.input(2)];
    const Z = ctx.inputs[3] ? sb.input(3) : undefined;
    const Y = sb.output(0);
    const [rows, rowSize, K, Kp, bs, blocks, zpCols] = sb.u32s([L.rows, L.rowSize, L.K, L.Kp, L.blockSize, L.blocks, L.zpCols]);
    const body = [
      `  let t = i / ${rowSize};`,
      `  let j = i % ${rowSize};`,
      `  var r = i32(${I}[t]);`,
      `  if (r < 0) { r += i32(${rows}); }`,
      `  if (r < 0 || r >= i32(${rows})) { ${Y}[i] = ${ctx.outputs[0]!.storage}(0.0); return; }`,
      `  let run = u32(r) * (${rowSize} / ${K}) + j / ${K};`,
      `  let k = j % ${K};`,
      `  let kb = k / ${bs};`,
      `  let q = ${unpackWgsl(L.bits, (i) => `${D}[${i}]`, `run * ${Kp}`, 'k')};`,
      `  let z = ${Z ? unpackWgsl(L.bits, (i) => `${Z}[${i}]`, `run * ${zpCols}`, 'kb') : `${2 ** (L.bits - 1)}.0`};`,
      `  ${Y}[i] = ${ctx.outputs[0]!.storage}((q - z) * f32(${Sc}[run * ${blocks} + kb]));`,
    ].join('\n');
    return { dispatches: [sb.linear(sizeOf(ctx.outputs[0]!.shape), () => body, 'GatherBlockQuantized')] };
  },
};

/** WGSL readers of Q at (b, s, channel c) and K, V at (b, j, c), biases included. */
interface QkvWgsl {
  q(b: string, s: string, c: string): string;
  k(b: string, j: string, c: string): string;
  v(b: string, j: string, c: string): string;
}

/**
 * The attention dispatch shared by MultiHeadAttention and Attention: one invocation
 * per (batch, head, query) row, one pass over the keys with an online softmax whose
 * running output lives in the output row. attention_bias is node input `abAt`.
 */
function attendDispatch(ctx: KernelContext, sb: ShaderBuilder, g: MhaGeometry, r: QkvWgsl, abAt: number, label: string): Dispatch {
  const AB = ctx.inputs[abAt] ? sb.input(abAt) : undefined;
  const Y = sb.output(0);
  const [S, L, N, H, Hv] = sb.u32s([g.S, g.L, g.N, g.H, g.Hv]);
  const scale = sb.f32(g.scale);
  const st = ctx.outputs[0]!.storage;
  const bb = g.biasBroadcast;
  const abIndex = bb ? `((${bb[0] ? '0u' : 'b'} * ${bb[1] ? '1u' : N} + ${bb[1] ? '0u' : 'n'}) * ${S} + s) * ${L} + j` : '';
  const body = [
    `  let s = i % ${S};`,
    `  let n = (i / ${S}) % ${N};`,
    `  let b = i / (${S} * ${N});`,
    `  let yBase = (b * ${S} + s) * ${N} * ${Hv} + n * ${Hv};`,
    `  for (var h = 0u; h < ${Hv}; h++) { ${Y}[yBase + h] = ${st}(0.0); }`,
    `  var m = -3.0e38;`,
    `  var l = 0.0;`,
    `  for (var j = 0u; j < ${L}; j++) {`,
    ...(Number(ctx.attrs['unidirectional']) !== 0 ? ['    if (j > s) { break; }'] : []),
    `    var dot = 0.0;`,
    `    for (var h = 0u; h < ${H}; h++) { let c = n * ${H} + h; dot += ${r.q('b', 's', 'c')} * ${r.k('b', 'j', 'c')}; }`,
    `    let sc = dot * ${scale}${AB ? ` + f32(${AB}[${abIndex}])` : ''};`,
    `    let mNew = max(m, sc);`,
    `    let keep = exp(m - mNew);`,
    `    let p = exp(sc - mNew);`,
    `    l = l * keep + p;`,
    `    for (var h = 0u; h < ${Hv}; h++) {`,
    `      let vv = ${r.v('b', 'j', `n * ${Hv} + h`)};`,
    `      ${Y}[yBase + h] = ${st}(f32(${Y}[yBase + h]) * keep + p * vv);`,
    '    }',
    `    m = mNew;`,
    '  }',
    `  for (var h = 0u; h < ${Hv}; h++) { ${Y}[yBase + h] = ${st}(f32(${Y}[yBase + h]) / l); }`,
  ].join('\n');
  return sb.linear(g.B * g.N * g.S, () => body, label);
}

const multiHeadAttention: GpuKernel = {
  plan(ctx) {
    const g = mhaGeometry(ctx.inputs[0]!.shape, ctx.inputs[1]!.shape, ctx.inputs[2]!.shape, ctx.inputs[5]?.shape, ctx.attrs as { num_heads: number; scale: number });
    const sb = new ShaderBuilder(ctx);
    const [Q, K, V] = [sb.input(0), sb.input(1), sb.input(2)];
    const Bi = ctx.inputs[3] ? sb.input(3) : undefined;
    const [S, L, D, Dv] = sb.u32s([g.S, g.L, g.N * g.H, g.N * g.Hv]);
    const bias = (c: string): string => (Bi ? ` + f32(${Bi}[${c}])` : '');
    const r: QkvWgsl = {
      q: (b, s, c) => `(f32(${Q}[(${b} * ${S} + ${s}) * ${D} + ${c}])${bias(c)})`,
      k: (b, j, c) => `(f32(${K}[(${b} * ${L} + ${j}) * ${D} + ${c}])${bias(`${D} + ${c}`)})`,
      v: (b, j, c) => `(f32(${V}[(${b} * ${L} + ${j}) * ${Dv} + ${c}])${bias(`2u * ${D} + ${c}`)})`,
    };
    return { dispatches: [attendDispatch(ctx, sb, g, r, 5, 'MultiHeadAttention.row')] };
  },
};

/** Attention: the QKV projection (one planMatmul into scratch, bias in its value), then the attention rows reading it. */
const attention: GpuKernel = {
  plan(ctx) {
    const [B, S, Din] = ctx.inputs[0]!.shape as [number, number, number];
    const [dq, dk, dv] = attentionSizes(ctx.inputs[1]!.shape, ctx.attrs['qkv_hidden_sizes'] as number[] | undefined);
    const Dt = dq + dk + dv;
    const hasBias = !!ctx.inputs[2];
    const proj = planMatmul(ctx, {
      a: 0, b: 1, M: B * S, N: Dt, K: Din, transA: false, transB: false, batch: [], aBatch: [], bBatch: [],
      dtype: 'float32', output: 0, outScratch: 0, label: 'Attention.qkv',
      ...(hasBias ? { value: (_sb: ShaderBuilder, input: (k: number) => string) => `v + f32(${input(2)}[col])` } : {}),
    });
    const g = mhaGeometry([B, S, dq], [B, S, dk], [B, S, dv], ctx.inputs[5]?.shape, ctx.attrs as { num_heads: number; scale: number });
    const sb = new ShaderBuilder(ctx);
    const P = sb.scratch(0, 'f32');
    const [Su, DtU, kOff, vOff] = sb.u32s([S, Dt, dq, dq + dk]);
    const at = (b: string, t: string, c: string): string => `${P}[(${b} * ${Su} + ${t}) * ${DtU} + ${c}]`;
    const r: QkvWgsl = { q: at, k: (b, j, c) => at(b, j, `${kOff} + ${c}`), v: (b, j, c) => at(b, j, `${vOff} + ${c}`) };
    return { scratch: [B * S * Dt * 4], dispatches: [proj, attendDispatch(ctx, sb, g, r, 5, 'Attention.row')] };
  },
};

/** The contrib kernels, by op handle (the contrib ops are not in OPS, so not in a KernelTable). */
export const contribKernels: readonly (readonly [OpDef, GpuKernel])[] = [
  [contribOps.FusedMatMul, fusedMatMul],
  [contribOps.SkipLayerNormalization, skipNorm(false, 3, 4)],
  [contribOps.SkipSimplifiedLayerNormalization, skipNorm(true, undefined, 3)],
  [contribOps.SimplifiedLayerNormalization, simplifiedLayerNorm],
  [contribOps.RotaryEmbedding, rotaryEmbedding],
  [contribOps.MatMulNBits, matMulNBits],
  [contribOps.BiasSplitGelu, biasSplitGelu],
  [contribOps.GatherBlockQuantized, gatherBlockQuantized],
  [contribOps.MultiHeadAttention, multiHeadAttention],
  [contribOps.Attention, attention],
  [contribOps.GroupQueryAttention, groupQueryAttention],
];
