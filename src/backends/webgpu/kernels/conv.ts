/**
 * Conv and ConvTranspose. Conv is planned as
 * - a matmul (planMatmul) when it is pointwise with one group (1×1 kernel, stride 1,
 *   no pads): W [M, C] · X[b] [C, spatial];
 * - with one group, 2-D (or 1-D) windows and constant weights: an implicit GEMM
 *   (shaders/conv.ts `convGemmEntry`), one dispatch; the weights are transposed
 *   once at plan time into a prepared constant (the original is then not uploaded);
 * - with one group otherwise (weights computed at run time, 3-D windows): im2col
 *   into a scratch buffer (positions padded to a multiple of 4) followed by the
 *   same matmul;
 * - otherwise (groups, or im2col too large) the register-blocked direct conv (shaders/conv.ts), 4 output channels
 *   × 4 positions per invocation, or 1 channel × 4 positions when each group has one
 *   output channel (depthwise).
 * Bias and any fused epilogue are applied before the store. ConvTranspose is a
 * per-output-element gather over the input positions that reach it (planConvTranspose,
 * also with an epilogue).
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { convTransposeGeom, type CTAttrs } from '../../../graph/ops/conv.js';
import { fold3, resolveWindow, type Window3, type WindowAttrs } from '../../../graph/ops/conv-util.js';
import { sizeOf } from '../../../graph/shape.js';
import { Tensor } from '../../../graph/tensor.js';
import type { Dispatch, GpuKernel, GpuTensorInfo, KernelContext, KernelPlan, KernelTable } from '../kernel.js';
import { convSplit, convTransposeSplit } from '../chunk.js';
import { convEntry, convGemmEntry, gemmRowOffsets } from '../../../../shaders/conv.js';
import { coordsOf, ShaderBuilder, splitGroups } from '../wgsl.js';
import { onceInputs, plainEpilogue, type Epilogue } from '../wgsl-epilogue.js';
import { planMatmul } from './matmul.js';
import { channelScales, packBytes, packedAt, unpackFns, type PackedWeight } from '../packed-weights.js';

/** Which node inputs hold X, W and the optional bias. */
export interface ConvInputs {
  readonly x: number;
  readonly w: number;
  readonly bias?: number | undefined;
}

/** The folded window of a Conv node with concrete shapes. */
export function convWindow(ctx: KernelContext, io: ConvInputs): Window3 {
  const xs = ctx.inputs[io.x]!.shape;
  const ws = ctx.inputs[io.w]!.shape;
  const win = resolveWindow(ctx.attrs as unknown as WindowAttrs, xs.slice(2), ws.slice(2), ctx.node, (t) => `_${t}`);
  return fold3(win, xs.slice(2), ctx.node);
}

/** Largest im2col scratch buffer (bytes) before Conv falls back to the direct kernel. */
const IM2COL_MAX_BYTES = 128 << 20;

/**
 * im2col into scratch 0: col[b][k][p] (k over C·K3, p over output positions padded
 * to a multiple of 4 with zeros) so that the conv is W [M, C·K3] · col[b].
 */
function im2col(ctx: KernelContext, io: ConvInputs, win: Window3, p4: number): Dispatch {
  const x = ctx.inputs[io.x]!;
  const [nb, C] = x.shape as [number, number];
  const k3 = sizeOf(win.kernel);
  const K = C * k3;
  const sb = new ShaderBuilder(ctx);
  const X = sb.input(io.x);
  const col = sb.scratch(0, 'f32');
  const [IDd, IHd, IWd] = sb.i32s(win.inDims);
  const [OD, OH, OW] = sb.u32s(win.outDims);
  const [, KH, KW] = sb.u32s(win.kernel);
  const [sD, sH, sW] = sb.i32s(win.strides);
  const [dD, dH, dW] = sb.i32s(win.dilations);
  const [pD, pH, pW] = sb.i32s(win.padBegin);
  const P4 = sb.u32(p4);
  const KU = sb.u32(K);
  const K3 = sb.u32(k3);
  const CU = sb.u32(C);
  const rows = nb * K * win.outDims[0] * win.outDims[1];
  // One invocation per (b, k, od, oh) output row: index math once, then a strided walk
  // along ow. Padding columns p ≥ P are left unwritten: they only feed output columns
  // that the matmul never stores.
  const body = (i: string): string => [
    `  let oh = ${i} % ${OH}; let r1 = ${i} / ${OH}; let od = i32(r1 % ${OD}); let r2 = r1 / ${OD}; let k = r2 % ${KU}; let b = r2 / ${KU};`,
    `  let c = k / ${K3}; let kk = k % ${K3};`,
    `  let kw = i32(kk % ${KW}); let kh = i32((kk / ${KW}) % ${KH}); let kd = i32(kk / (${KW} * ${KH}));`,
    `  let id = od * ${sD} - ${pD} + kd * ${dD}; let ih = i32(oh) * ${sH} - ${pH} + kh * ${dH};`,
    `  let rowOk = (u32(id) < u32(${IDd})) & (u32(ih) < u32(${IHd}));`,
    `  let src = i32((b * ${CU} + c) * u32(${IDd} * ${IHd} * ${IWd})) + select(0, (id * ${IHd} + ih) * ${IWd}, rowOk);`,
    `  let dst = (b * ${KU} + k) * ${P4} + (u32(od) * ${OH} + oh) * ${OW};`,
    `  var iw = -${pW} + kw * ${dW};`,
    `  for (var ow = 0u; ow < ${OW}; ow++) {`,
    `    let inside = rowOk & (u32(iw) < u32(${IWd}));`,
    `    ${col}[dst + ow] = select(0.0, f32(${X}[u32(select(0, src + iw, inside))]), inside);`,
    `    iw += ${sW};`,
    '  }',
  ].join('\n');
  return sb.linear(rows, body, 'Conv.im2col');
}

/** Most distinct input offsets per window row the implicit GEMM unrolls (else im2col). */
const MAX_ROW_OFFSETS = 32;

/** W [M, K] transposed to [K, Mp] (zero-padded channels). */
function transposeWeights(w: Tensor, M: number, K: number, mp: number): Tensor {
  const out = new Float32Array(K * mp);
  const src = w.data;
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) out[k * mp + m] = Number(src[m * K + k]);
  return new Tensor('float32', [K, mp], out);
}

/**
 * One dispatch computing a 2-D, one-group conv with constant weights as an
 * implicit GEMM (shaders/conv.ts `convGemmEntry`), or undefined when the shape does
 * not suit it. The weights are transposed once at plan time into a prepared
 * constant; the original weight tensor is then never uploaded.
 */
function implicitGemm(ctx: KernelContext, io: ConvInputs, win: Window3, value: (sb: ShaderBuilder, input: (k: number) => string) => string, epilogue?: Epilogue, packed?: PackedWeight): KernelPlan | undefined {
  const x = ctx.inputs[io.x]!;
  const w = ctx.inputs[io.w]!;
  const out = ctx.outputs[0]!;
  const twoD = win.inDims[0] === 1 && win.kernel[0] === 1 && win.outDims[0] === 1;
  const group = Number(ctx.attrs['group'] ?? 1);
  const weights = packed?.q ?? w.value;
  if (ctx.options?.implicitGemm === false || !twoD || group !== 1 || !weights || (!packed && !/^float(16|32|64)$/.test(w.dtype)) || (x.storage !== 'f32' && x.storage !== 'f16')) return undefined;
  const [, KW] = win.kernel.slice(1) as [number, number];
  const [, sW] = win.strides.slice(1) as [number, number];
  const [, dW] = win.dilations.slice(1) as [number, number];
  const OW = win.outDims[2]!;
  const M = w.shape[0]!;
  // 8 channels × 8 columns per invocation measured fastest on lavapipe (bench/conv.ts);
  // 4 columns when a row has no more.
  const tm = M > 4 ? 8 : 4;
  const tn = OW > 4 ? 8 : 4;
  if (gemmRowOffsets(KW, dW, tn, sW).length > MAX_ROW_OFFSETS) return undefined;
  const [nb, C] = x.shape as [number, number];
  const K = C * sizeOf(win.kernel);
  const mp = Math.ceil(M / tm) * tm;
  if (K * mp * 4 > ctx.limits.maxStorageBufferBindingSize) return undefined;
  const OH = win.outDims[1]!;
  const owTiles = Math.ceil(OW / tn);
  const mTiles = mp / tm;
  const total = nb * mTiles * OH * owTiles;
  const wg = 32;
  const sb = new ShaderBuilder(ctx);
  const input = onceInputs(sb);
  // X as vec2 blocks when rows are 2-aligned (vec4 blocks measured no faster, and one
  // width means fewer pipelines); bound on its own so that an epilogue reading the
  // same input keeps a scalar binding.
  const xVec = x.storage === 'f32' && win.inDims[2]! % 2 === 0 ? 2 : undefined;
  const X = xVec ? sb.input(io.x, `vec${xVec}<f32>` as const, 'xv') : input(io.x);
  // The transposed weights are read as vec4 blocks of output channels (packed: one u32 word of 4 channels).
  const W = sb.constant(0, packed ? 'u32' : 'vec4<f32>');
  const unpack = packed ? unpackFns(sb, packed) : undefined;
  const S = packed ? sb.constant(1, 'f32') : undefined;
  const Y = sb.output(0);
  (epilogue ?? plainEpilogue(out.storage)).declare(sb, 'f32', input, value(sb, input));
  const [, IH, IW] = win.inDims as [number, number, number];
  const entry = convGemmEntry({
    tm, tn, wg, KW, sW, dW, xBlocks: xVec ? { width: xVec, shift: (xVec - (win.padBegin[2]! % xVec)) % xVec } : undefined, x: X, w: W, out: Y,
    ...(unpack && S ? { wBlock: (i: string) => unpack.four(`${W}[${i}]`), accScale: (m: string) => `${S}[${m}]` } : {}),
    u: {
      total: sb.u32(total), owTiles: sb.u32(owTiles), mTiles: sb.u32(mTiles), M: sb.u32(M), mp4: sb.u32(mp / 4),
      C: sb.u32(C), KH: sb.u32(win.kernel[1]!), OH: sb.u32(OH), OW: sb.u32(OW),
      IH: sb.i32(IH), IW: sb.i32(IW), sH: sb.i32(win.strides[1]!), dH: sb.i32(win.dilations[1]!),
      pH: sb.i32(win.padBegin[1]!), pW: sb.i32(win.padBegin[2]!),
    },
  });
  const src = sb.module(entry);
  const wt = transposeWeights(weights, M, K, mp);
  return {
    constants: packed ? [packBytes(wt.data as Float32Array), channelScales(packed, M, mp)] : [wt],
    dispatches: [sb.dispatch(src, splitGroups(Math.ceil(total / wg), ctx.limits), `Conv.gemm${KW}w${sW}s${tm}x${tn}${xVec ? `v${xVec}` : ''}${packed ? '.int8' : ''}${epilogue?.label ?? ''}`)],
  };
}

/**
 * Plans a Conv (inputs `io`, output 0) with an optional epilogue; with `packed`, W is
 * those 8-bit weights (packed-weights.ts): the pointwise matmul, the implicit GEMM or
 * the direct kernel reads them packed and scales each channel's sum.
 */
export function planConv(ctx: KernelContext, io: ConvInputs, epilogue?: Epilogue, packed?: PackedWeight): KernelPlan {
  const x = ctx.inputs[io.x]!;
  const w = ctx.inputs[io.w]!;
  const out = ctx.outputs[0]!;
  if (x.storage !== 'f32' && x.storage !== 'f16') throw new UnsupportedOpError([{ op: 'Conv', nodes: [ctx.node] }], `dtype ${x.dtype}`);
  const group = Number(ctx.attrs['group'] ?? 1);
  const win = convWindow(ctx, io);
  const [nb, C] = x.shape as [number, number];
  const M = w.shape[0]!;
  const inS = sizeOf(win.inDims);
  const outS = sizeOf(win.outDims);
  const hasBias = io.bias !== undefined && ctx.inputs[io.bias] !== undefined;
  const biasValue = (sb: ShaderBuilder, input: (k: number) => string, row: string): string => (hasBias ? `v + f32(${input(io.bias!)}[${row}])` : 'v');
  const pointwise = group === 1 && win.kernel.every((k) => k === 1) && win.strides.every((s) => s === 1) && win.padBegin.every((p) => p === 0) && outS === inS;
  if (pointwise) {
    // Packed 8-bit weights are A as they are ([M, C] words), scaled per row (output channel).
    return {
      ...(packed ? { constants: [packBytes(packed.q.data as ArrayLike<number>), channelScales(packed, M)] } : {}),
      dispatches: [
        planMatmul(ctx, {
          a: io.w, b: io.x, M, N: outS, K: C, transA: false, transB: false,
          batch: [nb], aBatch: [], bBatch: [nb], dtype: out.dtype, output: 0,
          value: (sb, input) => biasValue(sb, input, 'row'), epilogue, label: `Conv.pointwise${packed ? '.int8' : ''}`,
          ...(packed ? { aPacked: { words: 0, scales: 1, weight: packed } } : {}),
        }),
      ],
    };
  }
  const gemm = implicitGemm(ctx, io, win, (sb, input) => biasValue(sb, input, 'row'), epilogue, packed);
  if (gemm) return gemm;
  const p4 = Math.ceil(outS / 4) * 4;
  const K = C * sizeOf(win.kernel);
  const colBytes = nb * K * p4 * 4;
  if (group === 1 && !packed && w.storage === 'f32' && colBytes <= Math.min(IM2COL_MAX_BYTES, ctx.limits.maxStorageBufferBindingSize)) {
    return {
      scratch: [colBytes],
      dispatches: [
        im2col(ctx, io, win, p4),
        planMatmul(ctx, {
          a: io.w, b: -1, bScratch: true, M, N: p4, nOut: outS, K, transA: false, transB: false,
          batch: [nb], aBatch: [], bBatch: [nb], dtype: out.dtype, output: 0,
          value: (sb, input) => biasValue(sb, input, 'row'), epilogue, label: 'Conv.im2col-gemm',
        }),
      ],
    };
  }
  const mg = M / group;
  const cg = C / group;
  const tc = mg === 1 ? 1 : mg === 2 || mg === 3 ? mg : 4;
  const wg = 64;
  const sb = new ShaderBuilder(ctx);
  const input = onceInputs(sb);
  const X = input(io.x);
  const W = packed ? sb.constant(0, 'u32') : input(io.w);
  const unpack = packed ? unpackFns(sb, packed) : undefined;
  const S = packed ? sb.constant(1, 'f32') : undefined;
  const Y = sb.output(0);
  const value = biasValue(sb, input, 'row');
  (epilogue ?? plainEpilogue(out.storage)).declare(sb, 'f32', input, value);
  const pTiles = Math.ceil(outS / 4);
  const cTiles = Math.ceil(mg / tc);
  const total = nb * group * cTiles * pTiles;
  const [sD, sH, sW] = sb.i32s(win.strides);
  const [dD, dH, dW] = sb.i32s(win.dilations);
  const [pD, pH, pW] = sb.i32s(win.padBegin);
  const [inD, inH, inW] = sb.u32s(win.inDims);
  const [outD, outH, outW] = sb.u32s(win.outDims);
  const [kD, kH, kW] = sb.u32s(win.kernel);
  const entry = convEntry({
    tc, wg, x: X, w: W, out: Y,
    ...(unpack && S ? { wAt: (i: string) => packedAt(unpack, W, i), accScale: (m: string) => `${S}[${m}]` } : {}),
    u: {
      total: sb.u32(total), pTiles: sb.u32(pTiles), cTilesPerGroup: sb.u32(cTiles), groups: sb.u32(group),
      M: sb.u32(M), mg: sb.u32(mg), cg: sb.u32(cg), C: sb.u32(C),
      inD: inD!, inH: inH!, inW: inW!, outD: outD!, outH: outH!, outW: outW!, kD: kD!, kH: kH!, kW: kW!,
      sD: sD!, sH: sH!, sW: sW!, dD: dD!, dH: dH!, dW: dW!, pD: pD!, pH: pH!, pW: pW!,
    },
  });
  const label = `Conv.${mg === 1 && group > 1 ? 'depthwise' : 'direct'}${tc}x4${packed ? '.int8' : ''}${epilogue?.label ?? ''}`;
  return {
    ...(packed ? { constants: [packBytes(packed.q.data as ArrayLike<number>), channelScales(packed, M)] } : {}),
    dispatches: [sb.dispatch(sb.module(entry), splitGroups(Math.ceil(total / wg), ctx.limits), label)],
  };
}

const conv: GpuKernel = { plan: (ctx) => planConv(ctx, { x: 0, w: 1, bias: 2 }), split: convSplit };

/**
 * A ConvTranspose window's input sizes, kernel sizes, strides, dilations and begin
 * pads as shader constants, padded to three spatial axes (leading 1s, 0 pads), and
 * the output shape as [N, M, d0, d1, d2].
 */
function windowConsts(sb: ShaderBuilder, x: GpuTensorInfo, w: GpuTensorInfo, out: GpuTensorInfo, win: Window3Like) {
  const n = x.shape.length - 2;
  const f3 = (v: readonly number[], def: number): number[] => [...new Array<number>(3 - n).fill(def), ...v];
  return {
    inD: sb.i32s(f3(x.shape.slice(2), 1)),
    kD: sb.i32s(f3(w.shape.slice(2), 1)),
    st: sb.i32s(f3(win.strides, 1)),
    dl: sb.i32s(f3(win.dilations, 1)),
    pd: sb.i32s(f3(win.padBegin, 0)),
    oshape: [out.shape[0]!, out.shape[1]!, ...f3(out.shape.slice(2), 1)],
  };
}

/**
 * WGSL opening the loops over the kernel taps of a ConvTranspose window that reach
 * output position (o0, o1, o2); inside, `xi` is the input position and `kidx` the tap.
 * Close them with {@link TAP_LOOPS_END}.
 */
function tapLoops(c: ReturnType<typeof windowConsts>, o: readonly [string, string, string]): string[] {
  const { inD, kD, st, dl, pd } = c;
  return [
    `  for (var k0 = 0; k0 < ${kD[0]}; k0++) {`,
    `    let n0 = i32(${o[0]}) + ${pd[0]} - k0 * ${dl[0]}; if ((n0 < 0) | (n0 % ${st[0]} != 0) | (n0 / ${st[0]} >= ${inD[0]})) { continue; }`,
    `    for (var k1 = 0; k1 < ${kD[1]}; k1++) {`,
    `      let n1 = i32(${o[1]}) + ${pd[1]} - k1 * ${dl[1]}; if ((n1 < 0) | (n1 % ${st[1]} != 0) | (n1 / ${st[1]} >= ${inD[1]})) { continue; }`,
    `      for (var k2 = 0; k2 < ${kD[2]}; k2++) {`,
    `        let n2 = i32(${o[2]}) + ${pd[2]} - k2 * ${dl[2]}; if ((n2 < 0) | (n2 % ${st[2]} != 0) | (n2 / ${st[2]} >= ${inD[2]})) { continue; }`,
    `        let xi = u32(((n0 / ${st[0]}) * ${inD[1]} + n1 / ${st[1]}) * ${inD[2]} + n2 / ${st[2]});`,
    `        let kidx = u32((k0 * ${kD[1]} + k1) * ${kD[2]} + k2);`,
  ];
}

/** Closes the loops {@link tapLoops} opened. */
const TAP_LOOPS_END = ['      }', '    }', '  }'];

/**
 * ConvTranspose with one group and f32 storage as a GEMM then a col2im gather:
 * col[b] [M·K3, inS] = Wᵀ · X[b] (W stored [C, M·K3], so A is W transposed), then
 * each output element sums the col entries of the (input position, kernel tap)
 * pairs that reach it, adds the bias and applies the epilogue. Undefined when the
 * shape does not suit it (groups, other storage, col buffer too large).
 */
function convTransposeGemm(ctx: KernelContext, io: ConvInputs, win: Window3Like, epilogue?: Epilogue): KernelPlan | undefined {
  const x = ctx.inputs[io.x]!;
  const w = ctx.inputs[io.w]!;
  const out = ctx.outputs[0]!;
  const group = Number(ctx.attrs['group'] ?? 1);
  if (ctx.options?.convTransposeGemm === false || group !== 1 || x.storage !== 'f32' || w.storage !== 'f32' || out.storage !== 'f32') return undefined;
  const [nb, C] = x.shape as [number, number];
  const M = out.shape[1]!;
  const k3 = sizeOf(w.shape.slice(2));
  const inS = sizeOf(x.shape.slice(2));
  const MK = M * k3;
  const colBytes = nb * MK * inS * 4;
  if (colBytes === 0 || colBytes > Math.min(IM2COL_MAX_BYTES, ctx.limits.maxStorageBufferBindingSize)) return undefined;
  const col: GpuTensorInfo = { dtype: 'float32', shape: [nb, MK, inS], storage: 'f32' };
  const gemm = planMatmul({ ...ctx, outputs: [col] }, {
    a: io.w, b: io.x, M: MK, N: inS, K: C, transA: true, transB: false,
    batch: [nb], aBatch: [], bBatch: [nb], dtype: 'float32', output: 0, outScratch: 0, label: 'ConvTranspose.gemm',
  });
  const sb = new ShaderBuilder(ctx);
  const input = onceInputs(sb);
  const COL = sb.scratch(0, 'f32');
  const hasBias = io.bias !== undefined && ctx.inputs[io.bias] !== undefined;
  const Y = sb.output(0);
  (epilogue ?? plainEpilogue(out.storage)).declare(sb, 'f32', input, hasBias ? `v + f32(${input(io.bias!)}[row])` : 'v');
  const wc = windowConsts(sb, x, w, out, win);
  const { oshape } = wc;
  const MU = sb.u32(M);
  const k3U = sb.u32(k3);
  const inSU = sb.u32(inS);
  const gather = sb.linear(sizeOf(out.shape), (i) => {
    const { code, coords } = coordsOf(sb, i, oshape);
    const [b, m, o0, o1, o2] = coords as [string, string, string, string, string];
    return [
      code,
      `  let base = (${b} * ${MU} + ${m}) * ${k3U};`,
      '  var acc = 0.0;',
      ...tapLoops(wc, [o0, o1, o2]),
      `        acc += ${COL}[(base + kidx) * ${inSU} + xi];`,
      ...TAP_LOOPS_END,
      `  ${Y}[${i}] = epi(acc, ${m}, 0u, ${i});`,
    ].join('\n');
  }, `ConvTranspose.col2im${epilogue?.label ?? ''}`);
  return { scratch: [colBytes], dispatches: [gemm, gather] };
}

/** The strides, dilations and begin pads of a ConvTranspose window. */
type Window3Like = { readonly strides: readonly number[]; readonly dilations: readonly number[]; readonly padBegin: readonly number[] };

/**
 * Plans a ConvTranspose (inputs `io`, output 0), with an optional epilogue applied
 * before the store: with one group as a GEMM + col2im ({@link convTransposeGemm}),
 * otherwise as a per-output-element gather over the input positions that reach it.
 */
export function planConvTranspose(ctx: KernelContext, io: ConvInputs, epilogue?: Epilogue): KernelPlan {
  const x = ctx.inputs[io.x]!;
  const w = ctx.inputs[io.w]!;
  const out = ctx.outputs[0]!;
  const n = x.shape.length - 2;
  if (n > 3) throw new UnsupportedOpError([{ op: 'ConvTranspose', nodes: [ctx.node] }], `${n} spatial axes`);
  const group = Number(ctx.attrs['group'] ?? 1);
  const viaGemm = convTransposeGemm(ctx, io, convTransposeGeom(x, w, ctx.attrs as unknown as CTAttrs, ctx.node, (t) => `_${t}`).win, epilogue);
  if (viaGemm) return viaGemm;
  const { win } = convTransposeGeom(x, w, ctx.attrs as unknown as CTAttrs, ctx.node, (t) => `_${t}`);
  const C = x.shape[1]!;
  const M = out.shape[1]!;
  const cg = C / group;
  const mg = M / group;
  const sb = new ShaderBuilder(ctx);
  const input = onceInputs(sb);
  const X = input(io.x);
  const W = input(io.w);
  const hasBias = io.bias !== undefined && ctx.inputs[io.bias] !== undefined;
  const Y = sb.output(0);
  (epilogue ?? plainEpilogue(out.storage)).declare(sb, 'f32', input, hasBias ? `v + f32(${input(io.bias!)}[row])` : 'v');
  const wc = windowConsts(sb, x, w, out, win);
  const { oshape } = wc;
  const cgU = sb.u32(cg);
  const mgU = sb.u32(mg);
  const cU = sb.u32(C);
  const k3 = sb.u32(sizeOf(w.shape.slice(2)));
  const inS = sb.u32(sizeOf(x.shape.slice(2)));
  return {
    dispatches: [
      sb.linear(sizeOf(out.shape), (i) => {
        const { code, coords } = coordsOf(sb, i, oshape);
        const [b, m, o0, o1, o2] = coords as [string, string, string, string, string];
        return [
          code,
          `  let g = ${m} / ${mgU}; let ml = ${m} % ${mgU};`,
          '  var acc = 0.0;',
          ...tapLoops(wc, [o0, o1, o2]),
          `        for (var c = 0u; c < ${cgU}; c++) {`,
          `          let ch = g * ${cgU} + c;`,
          `          acc += f32(${X}[(${b} * ${cU} + ch) * ${inS} + xi]) * f32(${W}[(ch * ${mgU} + ml) * ${k3} + kidx]);`,
          '        }',
          ...TAP_LOOPS_END,
          `  ${Y}[${i}] = epi(acc, ${m}, 0u, ${i});`,
        ].join('\n');
      }, `ConvTranspose.gather${epilogue?.label ?? ''}`),
    ],
  };
}

const convTranspose: GpuKernel = { plan: (ctx) => planConvTranspose(ctx, { x: 0, w: 1, bias: 2 }), split: convTransposeSplit };

/** Conv-family kernels by op. */
export const convKernels: KernelTable = {
  Conv: conv,
  ConvTranspose: convTranspose,
};
