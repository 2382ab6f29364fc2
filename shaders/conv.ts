/**
 * Direct convolution with register blocking: each invocation computes `tc` output
 * channels (of one group) × 4 consecutive output positions (flattened spatial
 * index), as `tc` vec4 accumulators. Each weight load is reused over 4 positions
 * and each input load over `tc` channels. Windows are folded to 3 spatial axes
 * (leading axes of size 1), so one body serves 1-D, 2-D and 3-D. Depthwise
 * convolution is the case `tc = 1` (one channel per group).
 *
 * Uniform names expected in `u` (WGSL expressions): batch count is implied by
 * `total`; ID/IH/IW, OD/OH/OW, KD/KH/KW, strides, dilations, pads (as i32).
 *
 * Bounds checks are unsigned compares (`u32(i) < u32(n)` is `0 <= i < n`) joined by
 * `&`, never the short-circuit `&&`/`||`: WGSL's `&&` is control flow, and SwiftShader
 * (Chromium's WebGPU without a GPU) took 268 s to compile one depthwise conv whose
 * window loops held 4 × 2 `a && b && c` chains per tap (0.24 s with `&`); the
 * PP-OCRv4 detection model has 14 of them (test/webgpu-conv.test.ts keeps them out).
 */
import { linearEntry } from './entry.js';

/** Parameters of one conv shader. */
export interface ConvShader {
  /** Output channels per invocation. */
  readonly tc: number;
  /** Invocations per workgroup. */
  readonly wg: number;
  /** Array names. */
  readonly x: string;
  readonly w: string;
  readonly out: string;
  /** WGSL of W's element at u32 index `i` as f32 (packed weights); default `f32(w[i])`. */
  readonly wAt?: ((i: string) => string) | undefined;
  /** WGSL f32 factor of channel `m`'s accumulator before the epilogue (a per-channel weight scale); default none. */
  readonly accScale?: ((m: string) => string) | undefined;
  /** WGSL (u32 unless noted) expressions of the geometry. */
  readonly u: {
    readonly total: string;
    readonly pTiles: string;
    readonly cTilesPerGroup: string;
    readonly groups: string;
    readonly M: string;
    readonly mg: string;
    readonly cg: string;
    readonly C: string;
    readonly inD: string; readonly inH: string; readonly inW: string;
    readonly outD: string; readonly outH: string; readonly outW: string;
    readonly kD: string; readonly kH: string; readonly kW: string;
    /** i32 expressions. */
    readonly sD: string; readonly sH: string; readonly sW: string;
    readonly dD: string; readonly dH: string; readonly dW: string;
    readonly pD: string; readonly pH: string; readonly pW: string;
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The entry point of a direct conv shader (`epi(acc, channel, position, o)` is declared by the builder). */
export function convEntry(p: ConvShader): string {
  const { u, tc } = p;
  const L: string[] = [];
  L.push(linearEntry(p.wg, 't', u.total));
  L.push(`  let ID = i32(${u.inD}); let IH = i32(${u.inH}); let IW = i32(${u.inW});`);
  L.push(`  let OH = ${u.outH}; let OW = ${u.outW}; let OS = ${u.outD} * OH * OW;`);
  L.push(`  let KD = ${u.kD}; let KH = ${u.kH}; let KW = ${u.kW}; let K3 = KD * KH * KW;`);
  L.push(`  let cg = ${u.cg}; let mg = ${u.mg};`);
  L.push(`  let pt = t % ${u.pTiles}; let t1 = t / ${u.pTiles};`);
  L.push(`  let ct = t1 % (${u.cTilesPerGroup} * ${u.groups}); let b = t1 / (${u.cTilesPerGroup} * ${u.groups});`);
  L.push(`  let g = ct / ${u.cTilesPerGroup}; let mIn = (ct % ${u.cTilesPerGroup}) * ${tc}u;`);
  L.push('  let mBase = g * mg;');
  for (const r of range(tc)) L.push(`  let wr${r} = min(mBase + mIn + ${r}u, mBase + mg - 1u) * cg * K3;`);
  L.push('  let p0 = pt * 4u;');
  for (const j of range(4)) {
    L.push(`  let q${j} = min(p0 + ${j}u, OS - 1u);`);
    L.push(`  let ow${j} = i32(q${j} % OW) * ${u.sW} - ${u.pW}; let oh${j} = i32((q${j} / OW) % OH) * ${u.sH} - ${u.pH}; let od${j} = i32(q${j} / (OW * OH)) * ${u.sD} - ${u.pD};`);
  }
  for (const r of range(tc)) L.push(`  var acc${r} = vec4<f32>();`);
  L.push(`  let inS = ID * IH * IW;`);
  L.push(`  let xb = i32((b * ${u.C} + g * cg)) * inS;`);
  L.push('  for (var c = 0u; c < cg; c++) {');
  L.push('    let xc = xb + i32(c) * inS;');
  L.push('    var kk = c * K3;');
  L.push('    for (var kd = 0u; kd < KD; kd++) {');
  for (const j of range(4)) L.push(`      let id${j} = od${j} + i32(kd) * ${u.dD}; let vd${j} = u32(id${j}) < u32(ID);`);
  L.push('      for (var kh = 0u; kh < KH; kh++) {');
  for (const j of range(4)) {
    L.push(`        let ih${j} = oh${j} + i32(kh) * ${u.dH}; let vh${j} = vd${j} & (u32(ih${j}) < u32(IH)); let rb${j} = xc + (id${j} * IH + ih${j}) * IW;`);
  }
  L.push('        for (var kw = 0u; kw < KW; kw++) {');
  for (const j of range(4)) {
    L.push(`          let iw${j} = ow${j} + i32(kw) * ${u.dW}; let ok${j} = vh${j} & (u32(iw${j}) < u32(IW)); let x${j} = select(0.0, f32(${p.x}[u32(select(0, rb${j} + iw${j}, ok${j}))]), ok${j});`);
  }
  L.push('          let xv = vec4<f32>(x0, x1, x2, x3);');
  const wAt = p.wAt ?? ((i: string) => `f32(${p.w}[${i}])`);
  for (const r of range(tc)) L.push(`          acc${r} += ${wAt(`wr${r} + kk`)} * xv;`);
  L.push('          kk++;');
  L.push('        }');
  L.push('      }');
  L.push('    }');
  L.push('  }');
  for (const r of range(tc)) {
    L.push(`  if (mIn + ${r}u < mg) {`);
    L.push(`    let m = mBase + mIn + ${r}u; let ob = (b * ${u.M} + m) * OS;`);
    const sc = p.accScale ? ` * ${p.accScale('m')}` : '';
    for (const j of range(4)) L.push(`    if (p0 + ${j}u < OS) { ${p.out}[ob + p0 + ${j}u] = epi(acc${r}[${j}]${sc}, m, p0 + ${j}u, ob + p0 + ${j}u); }`);
    L.push('  }');
  }
  L.push('}');
  return L.join('\n');
}

/** Parameters of one implicit-GEMM conv shader (2-D windows, one group). */
export interface ConvGemmShader {
  /** Output channels per invocation (4 or 8). */
  readonly tm: number;
  /** Output columns per invocation (4 or 8). */
  readonly tn: number;
  /** Invocations per workgroup. */
  readonly wg: number;
  /** Kernel width, stride and dilation along W: compile-time, the kw loop is unrolled. */
  readonly KW: number;
  readonly sW: number;
  readonly dW: number;
  /**
   * X read as vec<width> blocks (bound as array<vec<width><f32>>; needs IW and
   * tn·sW multiples of width); `shift` is the offset of the first needed column in
   * its block, (-pW) mod width. Undefined: scalar loads.
   */
  readonly xBlocks?: { readonly width: 2 | 4; readonly shift: number } | undefined;
  /** Array names: X, W^T (array<vec4<f32>>, [K][Mp]), output. */
  readonly x: string;
  readonly w: string;
  readonly out: string;
  /** WGSL of the vec4<f32> of W^T at block index `i` (packed weights: W^T an array<u32>); default `w[i]`. */
  readonly wBlock?: ((i: string) => string) | undefined;
  /** WGSL f32 factor of channel `m`'s accumulator before the epilogue (a per-channel weight scale); default none. */
  readonly accScale?: ((m: string) => string) | undefined;
  /** WGSL expressions of the geometry (u32 unless noted). */
  readonly u: {
    readonly total: string;
    readonly owTiles: string;
    readonly mTiles: string;
    readonly M: string;
    /** Padded output channels / 4 (vec4s per W^T row). */
    readonly mp4: string;
    readonly C: string;
    readonly KH: string;
    readonly OH: string;
    readonly OW: string;
    /** i32 expressions. */
    readonly IH: string; readonly IW: string;
    readonly sH: string; readonly dH: string;
    readonly pH: string; readonly pW: string;
  };
}

/** The distinct input-column offsets one window row reads for `tn` output columns, ascending (kw·dW + j·sW). */
export function gemmRowOffsets(KW: number, dW: number, tn: number, sW: number): number[] {
  return [...new Set(range(KW).flatMap((kw) => range(tn).map((j) => kw * dW + j * sW)))].sort((a, b) => a - b);
}

/**
 * The entry point of an implicit-GEMM convolution: the GEMM W [M, K] · col [K, P]
 * of im2col, without materializing col. Each invocation computes `tm` output
 * channels × 4 consecutive output columns of one output row (vec4 accumulators).
 * Weights come transposed, W^T [K][Mp] with k = (c, kh, kw), so one vec4 load
 * brings 4 channels of one k. For each (c, kh) the input row segment that the
 * 4 columns × KW taps read is loaded once (each distinct offset kw·dW + j·sW
 * once: 6 loads for a 3×3 stride-1 window instead of 12), zero outside the padded
 * input, and reused by every tap and every channel. The store goes through
 * `epi(acc, channel, position, o)` in a loop, as in the matmul shader.
 */
export function convGemmEntry(p: ConvGemmShader): string {
  const { u, tm, tn } = p;
  const nc = tn / 4;
  const offs = gemmRowOffsets(p.KW, p.dW, tn, p.sW);
  const L: string[] = [];
  L.push(linearEntry(p.wg, 't', u.total));
  L.push(`  let M = ${u.M}; let OH = ${u.OH}; let OW = ${u.OW}; let IH = ${u.IH}; let IW = ${u.IW}; let mp4 = ${u.mp4};`);
  L.push(`  let ot = t % ${u.owTiles}; let t1 = t / ${u.owTiles}; let oh = t1 % OH; let t2 = t1 / OH; let mt = t2 % ${u.mTiles}; let b = t2 / ${u.mTiles};`);
  L.push(`  let m0 = mt * ${tm}u; let ow0 = ot * ${tn}u;`);
  L.push(`  let ih0 = i32(oh) * ${u.sH} - ${u.pH}; let iw0 = i32(ow0) * ${p.sW} - ${u.pW};`);
  // X loads: `xLoads` are the lines run per (c, kh) (with `rb` the row's start), `xOf(i)` the value at offset i.
  const xLoads: string[] = [];
  let xOf: (i: number) => string;
  const xb = p.xBlocks;
  if (!xb) {
    for (const i of offs) L.push(`  let ci${i} = iw0 + ${i}; let cok${i} = u32(ci${i}) < u32(IW);`);
    for (const i of offs) xLoads.push(`      let ok${i} = rok & cok${i}; let x${i} = select(0.0, f32(${p.x}[u32(select(0, rb + ci${i}, ok${i}))]), ok${i});`);
    xOf = (i) => `x${i}`;
  } else {
    // X as vec<vw>: rows start vw-aligned (IW % vw == 0) and so does the first
    // block (column iw0 - sh); a block is wholly inside or outside the row.
    const { width: vw, shift: sh } = xb;
    const blocks = Math.ceil((sh + offs[offs.length - 1]! + 1) / vw);
    L.push(`  let cb = iw0 - ${sh};`);
    for (const q of range(blocks)) L.push(`  let bok${q} = u32(cb + ${vw * q}) < u32(IW); let bq${q} = (cb + ${vw * q}) / ${vw};`);
    for (const q of range(blocks)) xLoads.push(`      let ok${q} = rok & bok${q}; let v${q} = select(vec${vw}<f32>(), ${p.x}[u32(select(0, rb + bq${q}, ok${q}))], ok${q});`);
    xOf = (i) => `v${Math.floor((sh + i) / vw)}.${'xyzw'[(sh + i) % vw]}`;
  }
  for (const r of range(tm)) for (const c of range(nc)) L.push(`  var acc${r}_${c} = vec4<f32>();`);
  // Row starts and channel strides in elements (in blocks when X is read as vectors).
  L.push(`  let IWx = IW${xb ? ` / ${xb.width}` : ''}; let inS = IH * IWx;`);
  L.push(`  var xr = i32(b * ${u.C}) * inS;`);
  L.push(`  var wk = m0 / 4u;`);
  L.push(`  let kwStep = ${p.KW}u * mp4;`);
  L.push(`  for (var c = 0u; c < ${u.C}; c++) {`);
  L.push(`    for (var kh = 0u; kh < ${u.KH}; kh++) {`);
  L.push(`      let ih = ih0 + i32(kh) * ${u.dH}; let rok = u32(ih) < u32(IH); let rb = xr + ih * IWx;`);
  L.push(...xLoads);
  // The taps of a row run in a loop over a private copy of the row's values: unrolled,
  // KW × tm × tn multiply-adds made lavapipe's first-dispatch compile 2–3× slower
  // for no run-time gain (bench/cold-start.ts --shaders).
  const n = offs[offs.length - 1]! + 1;
  L.push(`      var xs = array<f32, ${n}>(${range(n).map((i) => (offs.includes(i) ? xOf(i) : '0.0')).join(', ')});`);
  L.push(`      for (var kw = 0u; kw < ${p.KW}u; kw++) {`);
  L.push(`        let xo = kw * ${p.dW}u; let wo = wk + kw * mp4;`);
  const wBlock = p.wBlock ?? ((i: string) => `${p.w}[${i}]`);
  for (const h of range(tm / 4)) L.push(`        let w${h} = ${wBlock(`wo + ${h}u`)};`);
  for (const c of range(nc)) {
    L.push(`        let xv${c} = vec4<f32>(${range(4).map((j) => `xs[xo + ${(4 * c + j) * p.sW}u]`).join(', ')});`);
    for (const r of range(tm)) L.push(`        acc${r}_${c} += w${r >> 2}.${'xyzw'[r & 3]} * xv${c};`);
  }
  L.push('      }');
  L.push('      wk += kwStep;');
  L.push('    }');
  L.push('    xr += inS;');
  L.push('  }');
  const accs = range(tm).flatMap((r) => range(nc).map((c) => `acc${r}_${c}`));
  L.push(`  var res = array<vec4<f32>, ${tm * nc}>(${accs.join(', ')});`);
  L.push(`  let cells = min(${tm}u, M - m0) * ${tn}u;`);
  L.push('  let pb = oh * OW + ow0; let OS = OH * OW;');
  L.push('  for (var e = 0u; e < cells; e++) {');
  L.push(`    let r = e / ${tn}u; let j = e % ${tn}u;`);
  L.push('    if (ow0 + j < OW) {');
  L.push('      let o = (b * M + m0 + r) * OS + pb + j;');
  L.push(`      ${p.out}[o] = epi(res[r * ${nc}u + j / 4u][j % 4u]${p.accScale ? ` * ${p.accScale('m0 + r')}` : ''}, m0 + r, pb + j, o);`);
  L.push('    }');
  L.push('  }');
  L.push('}');
  return L.join('\n');
}
