/**
 * Op family: com.microsoft MatMulNBits (ONNX Runtime's docs/ContribOperators.md):
 * Y = A · dequant(B)ᵀ (+ bias), B holding N rows of K `bits`-bit weights in blocks
 * of `block_size` along K, packed low bits first into uint8 blobs. Each block has a
 * scale and a zero point (packed uint8 like B, or unpacked in A's float type;
 * default 2^(bits-1)); w = (q − zero_point) · scale. The `g_idx` input (act-order)
 * is not supported (a typed error naming the node). GatherBlockQuantized gathers
 * rows of data quantized the same way.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType } from '../dtype.js';
import { ShapeError, UnsupportedOpError } from '../errors.js';
import { defineOp, type InferInput } from '../op.js';
import { formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { MS_DOMAIN } from './contrib-util.js';

/** The block layout of a MatMulNBits node's attributes. */
export interface NBitsLayout {
  readonly K: number;
  readonly N: number;
  readonly bits: number;
  readonly blockSize: number;
  /** Blocks per row of B: ceil(K / block_size). */
  readonly kBlocks: number;
  /** Bytes per block of B: block_size · bits / 8. */
  readonly blobSize: number;
  /** Bytes per row of packed uint8 zero points: ceil(kBlocks · bits / 8). */
  readonly zpRowBytes: number;
}

/** The layout from the attributes; throws a ShapeError naming the node for unsupported bit widths or block sizes. */
export function nbitsLayout(attrs: { readonly K: number; readonly N: number; readonly bits: number; readonly block_size: number }, node: string): NBitsLayout {
  const { K, N, bits, block_size: blockSize } = attrs;
  if (bits !== 4 && bits !== 8) throw new ShapeError(`${node}: bits=${bits} is not supported (4 or 8)`, node);
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new ShapeError(`${node}: block_size must be a power of 2 >= 16, got ${blockSize}`, node);
  const kBlocks = Math.ceil(K / blockSize);
  return { K, N, bits, blockSize, kBlocks, blobSize: (blockSize * bits) / 8, zpRowBytes: Math.ceil((kBlocks * bits) / 8) };
}

function expectShape(t: InferInput, want: readonly number[], node: string, what: string): void {
  const ok = t.shape.length === want.length && t.shape.every((d, i) => typeof d !== 'number' || d === want[i]);
  if (!ok) throw new ShapeError(`${node}: ${what} must be ${formatShape(want)}, got ${formatShape(t.shape)}`, node);
}

/** The `bits`-bit value at element `e` of a packed uint8 array (low bits first). */
const unpack = (data: ArrayLike<number>, base: number, e: number, bits: number): number =>
  bits === 8 ? data[base + e]! : (data[base + (e >> 1)]! >> ((e & 1) * 4)) & 15;

/** The dequantized weights, [N, K] row-major in float64. */
function dequantize(L: NBitsLayout, b: Tensor, scales: Tensor, zp: Tensor | undefined): Float64Array {
  const w = new Float64Array(L.N * L.K);
  const floatZp = zp !== undefined && zp.dtype !== 'uint8';
  for (let n = 0; n < L.N; n++) {
    for (let k = 0; k < L.K; k++) {
      const kb = Math.floor(k / L.blockSize);
      const q = unpack(b.data, (n * L.kBlocks + kb) * L.blobSize, k % L.blockSize, L.bits);
      const z = !zp ? 2 ** (L.bits - 1) : floatZp ? zp.data[n * L.kBlocks + kb]! : unpack(zp.data, n * L.zpRowBytes, kb, L.bits);
      w[n * L.K + k] = (q - z) * scales.data[n * L.kBlocks + kb]!;
    }
  }
  return w;
}

/** com.microsoft MatMulNBits: A [..., K] times the block-quantized B [N, K]ᵀ, plus bias [N]. */
export const MatMulNBits = defineOp({
  name: 'MatMulNBits',
  domain: MS_DOMAIN,
  inputs: ['A', 'B', 'scales', 'zero_points?', 'g_idx?', 'bias?'],
  outputs: ['Y'],
  attrs: { K: attr.int(), N: attr.int(), bits: attr.int(4), block_size: attr.int(), accuracy_level: attr.int(0) },
  category: 'opaque',
  doc: 'MatMul with 4- or 8-bit block-quantized weights.',
  infer([a, b, scales, zp, gIdx, bias], ctx) {
    const L = nbitsLayout(ctx.attrs, ctx.node);
    expectDType(a!.dtype, FLOATS, ctx.node, 'A');
    const k = a!.shape[a!.shape.length - 1];
    if (a!.shape.length === 0 || (typeof k === 'number' && k !== L.K)) throw new ShapeError(`${ctx.node}: A's last dim must be K=${L.K}, got ${formatShape(a!.shape)}`, ctx.node);
    expectDType(b!.dtype, ['uint8'], ctx.node, 'B');
    expectShape(b!, [L.N, L.kBlocks, L.blobSize], ctx.node, 'B');
    expectDType(scales!.dtype, [a!.dtype], ctx.node, 'scales');
    if (scales!.shape.length === 1) expectShape(scales!, [L.N * L.kBlocks], ctx.node, 'scales');
    else expectShape(scales!, [L.N, L.kBlocks], ctx.node, 'scales');
    if (zp) {
      expectDType(zp.dtype, ['uint8', a!.dtype], ctx.node, 'zero_points');
      const n = zp.dtype === 'uint8' ? L.N * L.zpRowBytes : L.N * L.kBlocks;
      if (zp.shape.reduce<number>((x, d) => x * (typeof d === 'number' ? d : NaN), 1) !== n) {
        throw new ShapeError(`${ctx.node}: zero_points must hold ${n} ${zp.dtype} values, got ${formatShape(zp.shape)}`, ctx.node);
      }
    }
    if (gIdx) throw new UnsupportedOpError([{ op: 'com.microsoft::MatMulNBits', nodes: [ctx.node] }], `${ctx.node}: the g_idx input is not supported`);
    if (bias) {
      expectDType(bias.dtype, [a!.dtype], ctx.node, 'bias');
      expectShape(bias, [L.N], ctx.node, 'bias');
    }
    return [{ dtype: a!.dtype, shape: [...a!.shape.slice(0, -1), L.N] }];
  },
  cpu([a, b, scales, zp, , bias], ctx) {
    const L = nbitsLayout(ctx.attrs, ctx.node);
    const w = dequantize(L, b!, scales!, zp);
    const rows = L.K === 0 ? 0 : a!.size / L.K;
    const out = new Tensor(a!.dtype, ctx.outputs[0]!.shape as number[]);
    for (let r = 0; r < rows; r++) {
      for (let n = 0; n < L.N; n++) {
        let acc = bias ? bias.data[n]! : 0;
        for (let k = 0; k < L.K; k++) acc += a!.data[r * L.K + k]! * w[n * L.K + k]!;
        out.data[r * L.N + n] = acc;
      }
    }
    return [out];
  },
});

/** The geometry of a GatherBlockQuantized node on concrete shapes (uint8 data, gather axis 0, blocks along the last axis). */
export interface GatherBlockLayout {
  readonly bits: number;
  readonly blockSize: number;
  /** Rows of data (the gathered axis). */
  readonly rows: number;
  /** Logical elements per row (bits < 8 unpacked). */
  readonly rowSize: number;
  /** Logical last dim K, its packed byte count and blocks. */
  readonly K: number;
  readonly Kp: number;
  readonly blocks: number;
  /** Bytes of packed zero points per K-run. */
  readonly zpCols: number;
}

/**
 * The layout of a GatherBlockQuantized node; throws a typed error naming the node
 * for what it does not support (data other than uint8, gather_axis ≠ 0, blocks
 * along an axis other than the last, bits other than 4 or 8).
 */
export function gatherBlockLayout(data: readonly number[], attrs: { readonly bits: number; readonly block_size: number; readonly gather_axis: number; readonly quantize_axis: number }, node: string): GatherBlockLayout {
  const r = data.length;
  const unsupported = (why: string): never => { throw new UnsupportedOpError([{ op: 'com.microsoft::GatherBlockQuantized', nodes: [node] }], `${node}: ${why}`); };
  if (r < 1) throw new ShapeError(`${node}: data must have rank >= 1`, node);
  if ((attrs.gather_axis + r) % r !== 0) unsupported(`gather_axis=${attrs.gather_axis} (only 0)`);
  if ((attrs.quantize_axis + r) % r !== r - 1) unsupported(`quantize_axis=${attrs.quantize_axis} (only the last axis)`);
  if (attrs.bits !== 4 && attrs.bits !== 8) unsupported(`bits=${attrs.bits} (4 or 8)`);
  const bs = attrs.block_size;
  if (bs < 16 || (bs & (bs - 1)) !== 0) throw new ShapeError(`${node}: block_size must be a power of 2 >= 16, got ${bs}`, node);
  const Kp = data[r - 1]!;
  const K = (Kp * 8) / attrs.bits;
  const blocks = Math.ceil(K / bs);
  const inner = data.slice(1, -1).reduce((x, y) => x * y, 1);
  return { bits: attrs.bits, blockSize: bs, rows: data[0]!, rowSize: inner * K, K, Kp, blocks, zpCols: Math.ceil((blocks * attrs.bits) / 8) };
}

/**
 * com.microsoft GatherBlockQuantized (uint8 data): Gather along axis 0 of
 * block-quantized data, dequantized as (q − zero_point) · scale (zero point default
 * 2^(bits-1)); an out-of-range index gives a slice of zeros.
 */
export const GatherBlockQuantized = defineOp({
  name: 'GatherBlockQuantized',
  domain: MS_DOMAIN,
  inputs: ['data', 'indices', 'scales', 'zero_points?'],
  outputs: ['output'],
  attrs: { bits: attr.int(4), block_size: attr.int(128), gather_axis: attr.int(0), quantize_axis: attr.int(1) },
  category: 'opaque',
  doc: 'Gather of block-quantized rows, dequantized.',
  infer([data, indices, scales, zp], ctx) {
    expectDType(data!.dtype, ['uint8'], ctx.node, 'data');
    expectDType(indices!.dtype, ['int32', 'int64'], ctx.node, 'indices');
    expectDType(scales!.dtype, FLOATS, ctx.node, 'scales');
    if (data!.shape.some((d) => typeof d !== 'number')) throw new ShapeError(`${ctx.node}: data must have a static shape, got ${formatShape(data!.shape)}`, ctx.node);
    const L = gatherBlockLayout(data!.shape as number[], ctx.attrs, ctx.node);
    const lead = data!.shape.slice(0, -1) as number[];
    expectShape(scales!, [...lead, L.blocks], ctx.node, 'scales');
    if (zp) {
      expectDType(zp.dtype, ['uint8'], ctx.node, 'zero_points');
      expectShape(zp, [...lead, L.zpCols], ctx.node, 'zero_points');
    }
    return [{ dtype: scales!.dtype, shape: [...indices!.shape, ...lead.slice(1), L.K] }];
  },
  cpu([data, indices, scales, zp], ctx) {
    const L = gatherBlockLayout(data!.shape, ctx.attrs, ctx.node);
    const out = new Tensor(scales!.dtype, ctx.outputs[0]!.shape as number[]);
    for (let t = 0; t < indices!.size; t++) {
      let row = indices!.data[t]!;
      if (row < 0) row += L.rows;
      if (row < 0 || row >= L.rows) continue;
      for (let j = 0; j < L.rowSize; j++) {
        const run = row * (L.rowSize / L.K) + Math.floor(j / L.K);
        const k = j % L.K;
        const kb = Math.floor(k / L.blockSize);
        const q = unpack(data!.data, run * L.Kp, k, L.bits);
        const z = zp ? unpack(zp.data, run * L.zpCols, kb, L.bits) : 2 ** (L.bits - 1);
        out.data[t * L.rowSize + j] = (q - z) * scales!.data[run * L.blocks + kb]!;
      }
    }
    return [out];
  },
});

/** The quantized contrib ops. */
export const contribQuantOps = { MatMulNBits, GatherBlockQuantized } as const;
