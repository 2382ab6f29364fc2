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
 */

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
  L.push(`@compute @workgroup_size(${p.wg})`);
  L.push('fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {');
  L.push(`  let t = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * ${p.wg}u + lid.x;`);
  L.push(`  if (t >= ${u.total}) { return; }`);
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
  for (const j of range(4)) L.push(`      let id${j} = od${j} + i32(kd) * ${u.dD}; let vd${j} = id${j} >= 0 && id${j} < ID;`);
  L.push('      for (var kh = 0u; kh < KH; kh++) {');
  for (const j of range(4)) {
    L.push(`        let ih${j} = oh${j} + i32(kh) * ${u.dH}; let vh${j} = vd${j} && ih${j} >= 0 && ih${j} < IH; let rb${j} = xc + (id${j} * IH + ih${j}) * IW;`);
  }
  L.push('        for (var kw = 0u; kw < KW; kw++) {');
  for (const j of range(4)) {
    L.push(`          let iw${j} = ow${j} + i32(kw) * ${u.dW}; let x${j} = select(0.0, f32(${p.x}[u32(select(0, rb${j} + iw${j}, vh${j} && iw${j} >= 0 && iw${j} < IW))]), vh${j} && iw${j} >= 0 && iw${j} < IW);`);
  }
  L.push('          let xv = vec4<f32>(x0, x1, x2, x3);');
  for (const r of range(tc)) L.push(`          acc${r} += f32(${p.w}[wr${r} + kk]) * xv;`);
  L.push('          kk++;');
  L.push('        }');
  L.push('      }');
  L.push('    }');
  L.push('  }');
  for (const r of range(tc)) {
    L.push(`  if (mIn + ${r}u < mg) {`);
    L.push(`    let m = mBase + mIn + ${r}u; let ob = (b * ${u.M} + m) * OS;`);
    for (const j of range(4)) L.push(`    if (p0 + ${j}u < OS) { ${p.out}[ob + p0 + ${j}u] = epi(acc${r}[${j}], m, p0 + ${j}u, ob + p0 + ${j}u); }`);
    L.push('  }');
  }
  L.push('}');
  return L.join('\n');
}
