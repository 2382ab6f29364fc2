/**
 * MatMul, Gemm and MatMulInteger on the register-blocked matmul shader
 * (shaders/matmul.ts). Every product is described as a {@link MatmulProblem} —
 * which node inputs are A and B, their layouts, batch broadcast, and the epilogue
 * — and planned by {@link planMatmul}, which Conv (pointwise) and the Fused
 * 'epilogue' kernel reuse.
 */
import { broadcastShapes, sizeOf, stridesOf, type ConcreteShape } from '../../../graph/shape.js';
import type { DType } from '../../../graph/dtype.js';
import { storageBytes, type Dispatch, type GpuKernel, type GpuStorage, type KernelContext, type KernelPlan, type KernelTable, type KernelTile } from '../kernel.js';
import { gemmSplit, matmulIntegerSplit, matmulSplit, productTiles, type BlockOperand, type ProductBlock } from '../chunk.js';
import { matmulEntry, type MatmulShader } from '../../../../shaders/matmul.js';
import { broadcastStridesOf, ShaderBuilder, splitGroups, stridedOffsets, valueType, type ArrayElement } from '../wgsl.js';
import { onceInputs, plainEpilogue, type Epilogue, type OperandLoad } from '../wgsl-epilogue.js';
import { channelScales, packBytes, packedAt, unpackFns, type PackedWeight } from '../packed-weights.js';

/** Tile parameters (rows × columns per invocation, invocations per workgroup). */
export interface MatmulTiles {
  readonly tm: number;
  readonly tn: number;
  readonly wg: number;
}

/** Default tiles: 8×4 outputs per invocation, 32 invocations per workgroup (best measured on lavapipe). */
export const DEFAULT_TILES: MatmulTiles = { tm: 8, tn: 4, wg: 32 };

/**
 * Element strides of a strided matrix view: one per axis of the problem's batch
 * shape (0 where broadcast), then between rows and between columns.
 */
export interface MatrixLayout {
  readonly batch: readonly number[];
  readonly rows: number;
  readonly cols: number;
  /** Element offset of the first element (default 0). */
  readonly offset?: number | undefined;
}

/** One (batched) product Y[b] = A[b]·B[b] (+ epilogue), output contiguous [batch..., M, N] unless `outLayout` says otherwise. */
export interface MatmulProblem {
  /** Node input index of A and B. */
  readonly a: number;
  readonly b: number;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** A is stored K×M (Gemm transA) / B is stored N×K (transB). */
  readonly transA: boolean;
  readonly transB: boolean;
  /** Batch shape of the output and of A and B (broadcast into it; may be shorter). */
  readonly batch: ConcreteShape;
  readonly aBatch: ConcreteShape;
  readonly bBatch: ConcreteShape;
  /** B is scratch buffer 0 (f32) instead of a node input (Conv's im2col). */
  readonly bScratch?: boolean | undefined;
  /** A is this scratch buffer (f32) instead of a node input (attention's probabilities). */
  readonly aScratch?: number | undefined;
  /** The output is this scratch buffer instead of node output `output` (attention's scores; storage of `output`). */
  readonly outScratch?: number | undefined;
  /** Output columns when B's N is padded (output row stride). Default: N. */
  readonly nOut?: number | undefined;
  /**
   * Layouts of A ([M, K] per batch), B ([K, N]) and the output ([M, N]; columns
   * must be contiguous, and only a plain epilogue may use it) when they are
   * strided views (attention's transposed operands). Default: contiguous per
   * transA/transB, batches broadcast from aBatch/bBatch.
   */
  readonly aLayout?: MatrixLayout | undefined;
  readonly bLayout?: MatrixLayout | undefined;
  readonly outLayout?: MatrixLayout | undefined;
  /** Dtype of the result value before the epilogue (the anchor's output dtype). */
  readonly dtype: DType;
  /** Output index written. */
  readonly output: number;
  /** Node inputs holding zero points of A (per row or scalar) and B (per column or scalar). */
  readonly aZero?: number | undefined;
  readonly bZero?: number | undefined;
  /** WGSL of the anchor value over `v` (accumulator), `row`, `col`; may bind inputs. Default: `v` converted. */
  readonly value?: ((sb: ShaderBuilder, input: (k: number) => string) => string) | undefined;
  /** Epilogue (default: store). */
  readonly epilogue?: Epilogue | undefined;
  /**
   * Operands computed as they are loaded (by index in `ctx.inputs`: A or a zero point)
   * instead of read from a buffer; forces the scalar form. A load's prelude runs
   * before the bounds check, in every invocation.
   */
  readonly loads?: ReadonlyMap<number, OperandLoad> | undefined;
  /**
   * B is prepared constant `words` (the 8-bit weights packed four to a u32 word in
   * B's layout, packed-weights.ts) instead of node input `b`, and column `col`'s sum
   * is multiplied by element `col` of prepared constant `scales` (f32) before the epilogue.
   */
  readonly bPacked?: { readonly words: number; readonly scales: number; readonly weight: PackedWeight } | undefined;
  /** The same for A, scaled per row (Conv's pointwise weights W [M, C]); not with `bPacked`. */
  readonly aPacked?: { readonly words: number; readonly scales: number; readonly weight: PackedWeight } | undefined;
  /**
   * The output already holds a partial product (a block of K before this one): the
   * value adds what is there (before the epilogue).
   */
  readonly accumulate?: boolean | undefined;
  readonly label: string;
}

/** The accumulator type for a value dtype (floats accumulate in f32). */
function accType(dtype: DType, f16: boolean): string {
  const t = valueType(dtype, f16);
  return t === 'f16' ? 'f32' : t;
}

/** The layouts of a problem's A, B and output (given, or contiguous). */
function layoutsOf(p: MatmulProblem): { a: MatrixLayout; b: MatrixLayout; o: MatrixLayout } {
  const NO = p.nOut ?? p.N;
  const scaled = (st: readonly number[], k: number): number[] => st.map((x) => x * k);
  return {
    a: p.aLayout ?? { batch: scaled(broadcastStridesOf(p.aBatch, p.batch), p.M * p.K), rows: p.transA ? 1 : p.K, cols: p.transA ? p.M : 1 },
    b: p.bLayout ?? { batch: scaled(broadcastStridesOf(p.bBatch, p.batch), p.K * p.N), rows: p.transB ? 1 : p.N, cols: p.transB ? p.K : 1 },
    o: p.outLayout ?? { batch: scaled(stridesOf(p.batch), p.M * NO), rows: NO, cols: 1 },
  };
}

/** The layout's offset and every stride of its batch are multiples of `n`. */
const batchAligned = (l: MatrixLayout, n: number): boolean => (l.offset ?? 0) % n === 0 && l.batch.every((x) => x % n === 0);

/** Plans one dispatch for a matmul problem. */
export function planMatmul(ctx: KernelContext, p: MatmulProblem, tiles: MatmulTiles = DEFAULT_TILES): Dispatch {
  const acc = accType(p.dtype, ctx.f16);
  const loads = p.loads ?? new Map<number, OperandLoad>();
  if (loads.has(p.b) || (p.aScratch !== undefined && loads.size > 0)) throw new Error(`planMatmul: only A and its zero point may be computed on load`);
  const aLoad = p.aScratch === undefined ? loads.get(p.a) : undefined;
  const aPacked = p.aPacked;
  if (aPacked && (p.bPacked || aLoad || p.aScratch !== undefined)) throw new Error('planMatmul: a packed A needs a plain B and no load');
  const sa = p.aScratch !== undefined || aPacked ? 'f32' : aLoad ? valueType(ctx.inputs[p.a]!.dtype, ctx.f16) as GpuStorage : ctx.inputs[p.a]!.storage;
  const packed = p.bPacked;
  const sbs = p.bScratch || packed ? 'f32' : ctx.inputs[p.b]!.storage;
  const L = layoutsOf(p);
  if (L.o.cols !== 1) throw new Error(`planMatmul: output columns must be contiguous (stride ${L.o.cols})`);
  const vec = !aLoad && acc === 'f32' && sa === 'f32' && sbs === 'f32' && p.K > 0 && L.a.cols === 1;
  const nn = vec && p.N % 4 === 0 && p.K % 2 === 0 && L.a.rows % 2 === 0 && batchAligned(L.a, 2) && L.b.cols === 1 && L.b.rows % 4 === 0 && batchAligned(L.b, 4);
  const nt = vec && !packed && p.K % 2 === 0 && L.a.rows % 2 === 0 && batchAligned(L.a, 2) && L.b.rows === 1 && L.b.cols % 2 === 0 && batchAligned(L.b, 2);
  // A and B are one binding when both are the same node input (x·xᵀ, or Q and K
  // views of one projection): nn reads A as vec2 and B as vec4, which one binding
  // cannot be; nt reads both as vec2.
  const sameAB = p.aScratch === undefined && !p.bScratch && !packed && !aPacked && p.a === p.b;
  const form: MatmulShader['form'] = nn ? (sameAB ? 'scalar' : 'nn') : nt ? 'nt' : 'scalar';
  const tm = p.M < tiles.tm ? Math.max(1, p.M) : tiles.tm;
  const tn = form === 'nt' || p.N >= tiles.tn ? tiles.tn : 4;
  const aElem: ArrayElement = aPacked ? 'u32' : form === 'scalar' ? sa : 'vec2<f32>';
  const bElem: ArrayElement = packed ? 'u32' : form === 'scalar' ? sbs : form === 'nt' ? 'vec2<f32>' : 'vec4<f32>';
  const sb = new ShaderBuilder(ctx);
  const elements = new Map<number, ArrayElement>();
  if (!p.bScratch && !packed) elements.set(p.b, bElem);
  if (p.aScratch === undefined && !aLoad && !aPacked) elements.set(p.a, aElem);
  const input = onceInputs(sb, elements);
  const A = p.aScratch !== undefined ? sb.scratch(p.aScratch, aElem) : aLoad ? '' : aPacked ? sb.constant(aPacked.words, 'u32') : input(p.a);
  const B = p.bScratch ? sb.scratch(0, bElem) : packed ? sb.constant(packed.words, 'u32') : input(p.b);
  const unpack = packed ? unpackFns(sb, packed.weight) : undefined;
  const S = packed ? sb.constant(packed.scales, 'f32') : undefined;
  const unpackA = aPacked ? unpackFns(sb, aPacked.weight) : undefined;
  const SA = aPacked ? sb.constant(aPacked.scales, 'f32') : undefined;
  const outStorage = ctx.outputs[p.output]!.storage;
  const out = p.outScratch !== undefined ? sb.scratch(p.outScratch, outStorage) : sb.output(p.output);
  const nb = sizeOf(p.batch);
  const mTiles = Math.ceil(p.M / tm);
  const nTiles = Math.ceil(p.N / tn);
  const total = nb * mTiles * nTiles;
  const batch = stridedOffsets(sb, 'bi', p.batch, [L.a.batch, L.b.batch, L.o.batch], ['aOff', 'bOff', 'oOff'], [L.a.offset ?? 0, L.b.offset ?? 0, L.o.offset ?? 0]).code;
  const read = (k: number, idx: string): string => loads.get(k)?.value(sb, input, idx) ?? `${input(k)}[${idx}]`;
  const zero = (k: number | undefined, idx: string): string => {
    if (k === undefined || !ctx.inputs[k]) return '';
    return ` - ${acc}(${read(k, sizeOf(ctx.inputs[k]!.shape) === 1 ? '0u' : idx)})`;
  };
  const prelude = [...loads.values()].map((l) => l.prelude?.(sb, input, tiles.wg) ?? '').filter((x) => x !== '').join('\n');
  if (form === 'scalar') {
    // The vector forms load A and B inline.
    sb.fn(`fn ldA(i: u32, row: u32) -> ${acc} { return ${acc}(${aLoad ? aLoad.value(sb, input, 'i') : unpackA ? packedAt(unpackA, A, 'i') : `${A}[i]`})${zero(p.aZero, 'row')}; }`);
    sb.fn(`fn ldB(i: u32, col: u32) -> ${acc} { return ${acc}(${unpack ? packedAt(unpack, B, 'i') : `${B}[i]`})${zero(p.bZero, 'col')}; }`);
  }
  const own = p.value ? p.value(sb, input) : 'v';
  const value = p.accumulate ? `(${own}) + ${acc}(${out}[o])` : own;
  (p.epilogue ?? plainEpilogue(outStorage)).declare(sb, acc, input, value);
  const shader: MatmulShader = {
    form,
    tm,
    tn,
    wg: tiles.wg,
    acc,
    a: A,
    b: B,
    out,
    M: sb.u32(p.M),
    N: sb.u32(p.N),
    K: sb.u32(p.K),
    mTiles: sb.u32(mTiles),
    nTiles: sb.u32(nTiles),
    total: sb.u32(total),
    nOut: p.nOut === undefined ? undefined : sb.u32(p.nOut),
    ldo: sb.u32(L.o.rows),
    sam: sb.u32(L.a.rows),
    sak: sb.u32(L.a.cols),
    sbk: sb.u32(L.b.rows),
    sbn: sb.u32(L.b.cols),
    batch,
    ...(prelude ? { prelude } : {}),
    ...(unpack && form === 'nn' ? { bBlock: (i: string) => unpack.four(`${B}[${i}]`) } : {}),
    ...(S ? { accScale: (_row: string, col: string) => `${S}[${col}]` } : {}),
    ...(unpackA && form !== 'scalar' ? { aBlock: (i: string) => unpackA.two(`${A}[(${i}) >> 1u]`, `((${i}) & 1u)`) } : {}),
    ...(SA ? { accScale: (row: string) => `${SA}[${row}]` } : {}),
  };
  const src = sb.module(matmulEntry(shader));
  return sb.dispatch(src, splitGroups(Math.ceil(total / tiles.wg), ctx.limits), `${p.label}.${form}${tm}x${tn}${p.epilogue?.label ?? ''}`);
}

/** The MatMul problem of a node (numpy semantics: 1-D promotion, broadcast batch). */
export function matmulProblem(ctx: KernelContext, a = 0, b = 1, label = 'MatMul'): MatmulProblem {
  const as = ctx.inputs[a]!.shape;
  const bs = ctx.inputs[b]!.shape;
  const a2 = as.length === 1 ? [1, as[0]!] : as;
  const b2 = bs.length === 1 ? [bs[0]!, 1] : bs;
  const out = ctx.outputs[0]!;
  const M = a2[a2.length - 2]!;
  const K = a2[a2.length - 1]!;
  const N = b2[b2.length - 1]!;
  const aBatch = a2.slice(0, -2);
  const bBatch = b2.slice(0, -2);
  const batch = broadcastShapes([aBatch, bBatch], ctx.node) as number[];
  return { a, b, M, N, K, transA: false, transB: false, batch, aBatch, bBatch, dtype: out.dtype, output: 0, label };
}

/** The Gemm problem of a node; C (input 2) is added in the value with its broadcast strides. */
export function gemmProblem(ctx: KernelContext, io: readonly [number, number, number] = [0, 1, 2]): MatmulProblem {
  const [a, b, c] = io.map((k) => (k >= 0 ? ctx.inputs[k] : undefined));
  const transA = Number(ctx.attrs['transA']) !== 0;
  const transB = Number(ctx.attrs['transB']) !== 0;
  const alpha = Number(ctx.attrs['alpha'] ?? 1);
  const beta = Number(ctx.attrs['beta'] ?? 1);
  const [M, N] = ctx.outputs[0]!.shape as [number, number];
  const K = transA ? a!.shape[0]! : a!.shape[1]!;
  return {
    a: io[0],
    b: io[1],
    M,
    N,
    K,
    transA,
    transB,
    batch: [],
    aBatch: [],
    bBatch: [],
    dtype: ctx.outputs[0]!.dtype,
    output: 0,
    label: 'Gemm',
    value(sb, input) {
      const vt = accType(ctx.outputs[0]!.dtype, ctx.f16);
      let e = alpha === 1 ? 'v' : `v * ${vt}(${sb.f32(alpha)})`;
      if (c && beta !== 0 && sizeOf(c.shape) > 0) {
        const st = broadcastStridesOf(c.shape, [M, N]);
        const C = input(io[2]);
        e = `${e} + ${vt}(${sb.f32(beta)}) * ${vt}(${C}[row * ${sb.u32(st[0]!)} + col * ${sb.u32(st[1]!)}])`;
      }
      return e;
    },
  };
}

const matmul: GpuKernel = { plan: (ctx) => ({ dispatches: [planMatmul(ctx, matmulProblem(ctx))] }), split: matmulSplit };

/**
 * A Gemm's blocks of m × n × k for operands beyond one binding that no split into
 * rows covers (transA: Y's rows are A's columns), chunk.ts {@link productTiles}:
 * each block is the product of strided views of A and B (node inputs `io`) at the
 * block's offsets, the first block along k adding beta·C and the later ones adding
 * into the output. An `epilogue` (a Fused group's chain) applies in the last block
 * along k, the earlier ones storing their partial sums; undefined when the output is
 * not the anchor's dtype, or is ranged while the epilogue reads other inputs at the
 * output's index (`readsAtIndex`, which a range would offset).
 */
export function gemmTiles(ctx: KernelContext, io: readonly number[] = [0, 1, 2], epilogue?: { readonly epi: Epilogue; readonly readsAtIndex: boolean; readonly outDtype: DType }): KernelTile[] | undefined {
  const [ia, ib, ic] = io as [number, number, number | undefined];
  const A = ctx.inputs[ia];
  const C = ic !== undefined && ic >= 0 ? ctx.inputs[ic] : undefined;
  const out = ctx.outputs[0]!;
  const [M, N] = out.shape as [number, number];
  const transA = Number(ctx.attrs['transA']) !== 0;
  const transB = Number(ctx.attrs['transB']) !== 0;
  const alpha = Number(ctx.attrs['alpha'] ?? 1);
  const beta = Number(ctx.attrs['beta'] ?? 1);
  if (!A || A.shape.length !== 2 || !ctx.inputs[ib]) return undefined;
  if (epilogue && (epilogue.outDtype !== out.dtype || (epilogue.readsAtIndex && sizeOf(out.shape) * storageBytes(out.storage) > ctx.limits.maxStorageBufferBindingSize))) return undefined;
  const K = transA ? A.shape[0]! : A.shape[1]!;
  const withC = C !== undefined && beta !== 0 && sizeOf(C.shape) > 0;
  const cs = withC ? broadcastStridesOf(C.shape, [M, N]) : [0, 0];
  const operands: BlockOperand[] = [
    { kind: 'input', index: ia, strides: transA ? [1, 0, M] : [K, 0, 1] },
    { kind: 'input', index: ib, strides: transB ? [0, K, 1] : [0, 1, N] },
    { kind: 'output', index: 0, strides: [N, 1, 0] },
    ...(withC ? [{ kind: 'input', index: ic!, strides: [cs[0]!, cs[1]!, 0] } as BlockOperand] : []),
  ];
  const vt = accType(out.dtype, ctx.f16);
  return productTiles(ctx, [M, N, K], operands, (c, blk: ProductBlock) => {
    const [ao, bo, yo, co] = blk.offsets as [number, number, number, number | undefined];
    const first = blk.k0 === 0;
    const last = blk.k0 + blk.kn === K;
    return {
      dispatches: [planMatmul(c, {
        a: ia, b: ib, M: blk.mn, N: blk.nn, K: blk.kn, transA, transB,
        batch: [], aBatch: [], bBatch: [], dtype: out.dtype, output: 0, label: epilogue ? 'Fused.Gemm.block' : 'Gemm.block',
        aLayout: { batch: [], rows: transA ? 1 : K, cols: transA ? M : 1, offset: ao },
        bLayout: { batch: [], rows: transB ? 1 : N, cols: transB ? K : 1, offset: bo },
        outLayout: { batch: [], rows: N, cols: 1, offset: yo },
        accumulate: !first,
        ...(epilogue && last ? { epilogue: epilogue.epi } : {}),
        value(sb, input) {
          const e = alpha === 1 ? 'v' : `v * ${vt}(${sb.f32(alpha)})`;
          if (!first || co === undefined) return e;
          return `${e} + ${vt}(${sb.f32(beta)}) * ${vt}(${input(ic!)}[${sb.u32(co)} + row * ${sb.u32(cs[0]!)} + col * ${sb.u32(cs[1]!)}])`;
        },
      })],
    };
  });
}

const gemm: GpuKernel = { plan: (ctx) => ({ dispatches: [planMatmul(ctx, gemmProblem(ctx))] }), split: gemmSplit, tiles: (ctx) => gemmTiles(ctx) };

/** The MatMulInteger problem over node inputs `a`, `b` and the optional zero points `aZero`, `bZero` (-1 or absent = none). */
export function matmulIntegerProblem(ctx: KernelContext, a: number, b: number, aZero: number | undefined, bZero: number | undefined, label: string): MatmulProblem {
  const has = (k: number | undefined): k is number => k !== undefined && k >= 0 && ctx.inputs[k] !== undefined;
  return { ...matmulProblem(ctx, a, b, label), aZero: has(aZero) ? aZero : undefined, bZero: has(bZero) ? bZero : undefined };
}

const matmulInteger: GpuKernel = { plan: (ctx) => ({ dispatches: [planMatmul(ctx, matmulIntegerProblem(ctx, 0, 1, 2, 3, 'MatMulInteger'))] }), split: matmulIntegerSplit };

/**
 * A MatMul (`gemm` false) or Gemm over node inputs `io` whose B is packed 8-bit
 * weights (packed-weights.ts): B prepared as [K, N] words (a transB weight
 * transposed once), scales per column; one dispatch.
 */
export function planPackedMatmul(ctx: KernelContext, io: readonly number[], w: PackedWeight, gemm: boolean, epilogue: Epilogue): KernelPlan {
  const base = gemm ? { ...gemmProblem(ctx, [io[0]!, io[1]!, io[2] ?? -1]), label: 'Fused.Gemm' } : matmulProblem(ctx, io[0], io[1], 'Fused.MatMul');
  let values = w.q.data as ArrayLike<number>;
  if (base.transB) {
    // [N, K] → [K, N], so the packed words run along N (the vector form reads 4 columns a word).
    const [N, K] = w.q.shape as [number, number];
    const t = new Int32Array(N * K);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = Number(values[n * K + k]);
    values = t;
  }
  const N = base.N;
  const plan = planMatmul(ctx, { ...base, transB: false, bPacked: { words: 0, scales: 1, weight: w }, epilogue, label: `${base.label}.int8` });
  return { constants: [packBytes(values), channelScales(w, N)], dispatches: [plan] };
}

/** Matmul-family kernels by op. */
export const matmulKernels: KernelTable = {
  MatMul: matmul,
  Gemm: gemm,
  MatMulInteger: matmulInteger,
};
