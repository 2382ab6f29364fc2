/**
 * Op family: com.microsoft MatMulNBits (ONNX Runtime's docs/ContribOperators.md):
 * Y = A · dequant(B)ᵀ (+ bias), B holding N rows of K `bits`-bit weights in blocks
 * of `block_size` along K, packed low bits first into uint8 blobs. Each block has a
 * scale and a zero point (packed uint8 like B, or unpacked in A's float type;
 * default 2^(bits-1)); w = (q − zero_point) · scale. The `g_idx` input (act-order)
 * is not supported (a typed error naming the node).
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

/** The quantized contrib ops. */
export const contribQuantOps = { MatMulNBits } as const;
