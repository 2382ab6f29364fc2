/**
 * The register-blocked matmul body: each invocation computes a `tm × tn` tile of
 * one batch's `M × N` output (tn a multiple of 4, held as vec4 accumulators), with
 * no shared memory (barriers are costly on software rasterizers such as lavapipe;
 * tile sizes are parameters so a shared-memory variant can be added for real GPUs).
 *
 * Three inner-loop forms:
 * - `nn`: A rows loaded as vec2 along k (row-major M×K, K even), B rows as vec4
 *   (row-major K×N with N % 4 == 0); two k-steps per iteration.
 * - `nt`: A rows and B^T rows loaded as vec2 along k (B given as N×K, K even);
 *   products by dot().
 * - `scalar`: any strides, any dtype; loads go through `ldA(i, row)` / `ldB(i, col)`
 *   helpers (conversion, zero points) declared by the kernel.
 *
 * Every output element goes through the epilogue `epi(acc, row, col, o)` before the
 * store (o = linear output index), so bias/activation/residual fuse for free.
 */
import { linearEntry } from './entry.js';

/** Parameters of one matmul shader. */
export interface MatmulShader {
  /** Inner-loop form (see file comment). */
  readonly form: 'nn' | 'nt' | 'scalar';
  /** Rows per invocation. */
  readonly tm: number;
  /** Columns per invocation (multiple of 4). */
  readonly tn: number;
  /** Invocations per workgroup. */
  readonly wg: number;
  /** Accumulator scalar type (f32, i32, u32). */
  readonly acc: string;
  /** Array names: A, B (vec4 arrays for the vector forms), output. */
  readonly a: string;
  readonly b: string;
  readonly out: string;
  /** WGSL expressions (u32) of M, N, K, tile counts and the invocation count. */
  readonly M: string;
  readonly N: string;
  readonly K: string;
  readonly mTiles: string;
  readonly nTiles: string;
  readonly total: string;
  /** Output columns stored (N of B may be padded past it). Default: N. */
  readonly nOut?: string | undefined;
  /** Row stride of the output in elements. */
  readonly ldo: string;
  /**
   * Strides of A (row, k) and B (k, col) in elements. The vector forms read along
   * the unit stride: nn needs sak = sbn = 1 (sam even, sbk a multiple of 4); nt
   * needs sak = sbk = 1 (sam and sbn even).
   */
  readonly sam: string;
  readonly sak: string;
  readonly sbk: string;
  readonly sbn: string;
  /** nn form: WGSL of B's vec4<f32> at block index `i` (packed weights: B an array<u32>); default `b[i]`. */
  readonly bBlock?: ((i: string) => string) | undefined;
  /** nn and nt forms: WGSL of A's vec2<f32> at block index `i` (packed weights: A an array<u32>); default `a[i]`. */
  readonly aBlock?: ((i: string) => string) | undefined;
  /** WGSL f32 factor of output (`row`, `col`)'s accumulator before the epilogue (a per-channel weight scale); default none. */
  readonly accScale?: ((row: string, col: string) => string) | undefined;
  /** WGSL lines computing `aOff`, `bOff` and `oOff` (element offsets) from the batch index `bi`. */
  readonly batch: string;
  /**
   * WGSL run by every invocation before the bounds check, in uniform control flow
   * (workgroup barriers and `lid` allowed): e.g. a range reduction an operand's load needs.
   */
  readonly prelude?: string | undefined;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The entry point of a matmul shader (bindings, uniforms and `epi`/`ldA`/`ldB` come from the builder). */
export function matmulEntry(p: MatmulShader): string {
  const { tm, tn, acc } = p;
  const nc = tn / 4;
  const v = `vec4<${acc}>`;
  const ab = p.aBlock ?? ((i: string) => `${p.a}[${i}]`);
  const L: string[] = [];
  if (p.prelude) {
    L.push(linearEntry(p.wg, 't'));
    L.push(p.prelude);
    L.push(`  if (t >= ${p.total}) { return; }`);
  } else {
    L.push(linearEntry(p.wg, 't', p.total));
  }
  L.push(`  let M = ${p.M}; let N = ${p.N}; let K = ${p.K};`);
  L.push(`  let nt = t % ${p.nTiles}; let t1 = t / ${p.nTiles}; let mt = t1 % ${p.mTiles}; let bi = t1 / ${p.mTiles};`);
  L.push(p.batch);
  L.push(`  let m0 = mt * ${tm}u; let n0 = nt * ${tn}u;`);
  for (const r of range(tm)) for (const c of range(nc)) L.push(`  var acc${r}_${c} = ${v}();`);
  for (const r of range(tm)) L.push(`  let row${r} = min(m0 + ${r}u, M - 1u);`);
  if (p.form === 'nn') {
    // A as vec2 along k (K even), B rows as vec4 along n; two k per iteration. A
    // software rasterizer (lavapipe) compiles every vector component load
    // separately, so 4 k per iteration with vec4 A loads made the shader twice as
    // large (its first dispatch seconds slower); one k per iteration ran slower.
    for (const r of range(tm)) L.push(`  let ar${r} = (aOff + row${r} * ${p.sam}) / 2u;`);
    for (const c of range(nc)) L.push(`  let bc${c} = (bOff + min(n0 + ${4 * c}u, N - 4u)) / 4u;`);
    L.push(`  let n4 = ${p.sbk} / 4u;`);
    L.push('  for (var k = 0u; k < K; k += 2u) {');
    L.push('    let kb = k * n4; let k2 = k / 2u;');
    for (const r of range(tm)) L.push(`    let a${r} = ${ab(`ar${r} + k2`)};`);
    for (const c of range(nc)) {
      const bb = p.bBlock ?? ((i: string) => `${p.b}[${i}]`);
      L.push(`    let b${c}_0 = ${bb(`bc${c} + kb`)}; let b${c}_1 = ${bb(`bc${c} + kb + n4`)};`);
      for (const r of range(tm)) L.push(`    acc${r}_${c} += a${r}.x * b${c}_0 + a${r}.y * b${c}_1;`);
    }
    L.push('  }');
  } else if (p.form === 'nt') {
    // A and B^T as vec2 along k (two k per iteration): vec4 loads made the loop
    // body twice as large and the shader's first dispatch on lavapipe ~2× slower.
    for (const r of range(tm)) L.push(`  let ar${r} = (aOff + row${r} * ${p.sam}) / 2u;`);
    for (const j of range(tn)) L.push(`  let br${j} = (bOff + min(n0 + ${j}u, N - 1u) * ${p.sbn}) / 2u;`);
    L.push('  for (var k2 = 0u; k2 < K / 2u; k2++) {');
    for (const r of range(tm)) L.push(`    let a${r} = ${ab(`ar${r} + k2`)};`);
    for (const j of range(tn)) L.push(`    let b${j} = ${p.b}[br${j} + k2];`);
    for (const r of range(tm)) {
      for (const c of range(nc)) {
        const d = range(4).map((j) => `dot(a${r}, b${4 * c + j})`).join(', ');
        L.push(`    acc${r}_${c} += vec4<${acc}>(${d});`);
      }
    }
    L.push('  }');
  } else {
    for (const r of range(tm)) L.push(`  let ar${r} = aOff + row${r} * ${p.sam};`);
    for (const j of range(tn)) L.push(`  let col${j} = min(n0 + ${j}u, N - 1u); let bc${j} = bOff + col${j} * ${p.sbn};`);
    L.push('  for (var k = 0u; k < K; k++) {');
    L.push(`    let ka = k * ${p.sak}; let kb = k * ${p.sbk};`);
    for (const r of range(tm)) L.push(`    let a${r} = ldA(ar${r} + ka, row${r});`);
    for (const c of range(nc)) {
      const bs = range(4).map((j) => `ldB(bc${4 * c + j} + kb, col${4 * c + j})`).join(', ');
      L.push(`    let b${c} = ${v}(${bs});`);
      for (const r of range(tm)) L.push(`    acc${r}_${c} += a${r} * b${c};`);
    }
    L.push('  }');
  }
  // The epilogue runs in a loop (not unrolled per element): on lavapipe every
  // storage access compiles to a per-lane loop, so tm × tn inlined epilogues made
  // the shader's first dispatch cost seconds. The bound depends on M, so the
  // compiler cannot unroll it fully either.
  const accs = range(tm).flatMap((r) => range(nc).map((c) => `acc${r}_${c}`));
  L.push(`  var res = array<${v}, ${tm * nc}>(${accs.join(', ')});`);
  L.push(`  let NO = ${p.nOut ?? 'N'}; let ldo = ${p.ldo};`);
  L.push(`  let cells = min(${tm}u, M - m0) * ${tn}u;`);
  L.push('  for (var e = 0u; e < cells; e++) {');
  L.push(`    let r = e / ${tn}u; let cc = e % ${tn}u; let col = n0 + cc;`);
  L.push('    if (col < NO) {');
  L.push('      let o = oOff + (m0 + r) * ldo + col;');
  L.push(`      ${p.out}[o] = epi(res[r * ${nc}u + cc / 4u][cc % 4u]${p.accScale ? ` * ${p.accScale('m0 + r', 'col')}` : ''}, m0 + r, col, o);`);
  L.push('    }');
  L.push('  }');
  L.push('}');
  return L.join('\n');
}
