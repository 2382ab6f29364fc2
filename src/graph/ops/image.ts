/**
 * Op family: image-layout ops of opset 18 — CenterCropPad (crop or zero-pad each
 * named axis about its centre) and Col2Im (sum sliding blocks back into an image,
 * the inverse layout of im2col) — and ImageDecoder (opset 20: an encoded image
 * stream to [H, W, C] uint8 pixels, with the codecs of ../image-codecs; CPU only,
 * a host step on WebGPU). RoiAlign and DeformConv are in bilinear.ts.
 * The geometry helpers are exported for the WebGPU kernels, so both backends
 * derive shapes and offsets in one place.
 */
import { attr } from '../attrs.js';
import { ALL, expectDType, FLOATS, INTS } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp, type InferInput } from '../op.js';
import type { Dim } from '../shape.js';
import { tensorInts, Tensor } from '../tensor.js';
import { decodeImage, toPixelFormat } from '../image-codecs/index.js';

/** A 1-D int64 shape-like input's value when inference knows it, checked for length `n` when n is given. */
function knownInts(v: InferInput, node: string, what: string): number[] | undefined {
  expectDType(v.dtype, INTS, node, what);
  if (v.shape.length !== 1) throw new ShapeError(`${node}: ${what} must be 1-D, got shape [${v.shape}]`, node);
  return v.value ? tensorInts(v.value) : undefined;
}

/** Where CenterCropPad reads: output dims and, per axis, the input index of output index 0 (negative where it pads). */
export interface CropPadGeometry {
  readonly shape: number[];
  readonly offsets: number[];
}

/**
 * CenterCropPad's geometry: each axis of `axes` (default all, negative from the
 * end) gets the target size; a crop starts at floor((d - s)/2), a pad puts
 * floor((s - d)/2) zeros first, as ONNX's reference.
 */
export function cropPadGeometry(shape: readonly number[], target: readonly number[], axesIn: readonly number[] | undefined, node: string): CropPadGeometry {
  const r = shape.length;
  const axes = (axesIn ?? shape.map((_, i) => i)).map((a) => (a < 0 ? a + r : a));
  if (axes.some((a) => a < 0 || a >= r) || new Set(axes).size !== axes.length) throw new AttributeError(`${node}: CenterCropPad axes [${axesIn}] must be distinct axes of a rank-${r} input`, node);
  if (target.length !== axes.length) throw new ShapeError(`${node}: CenterCropPad shape has ${target.length} values for ${axes.length} axes`, node);
  const out = [...shape];
  const offsets = shape.map(() => 0);
  axes.forEach((a, i) => {
    const s = target[i]!;
    const d = shape[a]!;
    if (s < 0) throw new ShapeError(`${node}: CenterCropPad target size ${s} is negative`, node);
    out[a] = s;
    offsets[a] = s < d ? Math.floor((d - s) / 2) : -Math.floor((s - d) / 2);
  });
  return { shape: out, offsets };
}

/** CenterCropPad (opset 18): crops or zero-pads the given axes to `shape`, centred. */
export const CenterCropPad = defineOp({
  name: 'CenterCropPad',
  inputs: ['input_data', 'shape'],
  outputs: ['output_data'],
  attrs: { axes: attr.optInts() },
  category: 'opaque',
  shapeInputs: [1],
  doc: 'Center crop or pad to a target shape along some axes.',
  infer([x, s], ctx) {
    expectDType(x!.dtype, ALL, ctx.node, 'input_data');
    const target = knownInts(s!, ctx.node, 'shape');
    const r = x!.shape.length;
    const axes = (ctx.attrs.axes ?? x!.shape.map((_, i) => i)).map((a) => (a < 0 ? a + r : a));
    if (!target) return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => (axes.includes(i) ? ctx.fresh(i) : d)) }];
    if (axes.some((a) => a < 0 || a >= r) || new Set(axes).size !== axes.length) throw new AttributeError(`${ctx.node}: CenterCropPad axes [${ctx.attrs.axes}] must be distinct axes of a rank-${r} input`, ctx.node);
    if (target.length !== axes.length) throw new ShapeError(`${ctx.node}: CenterCropPad shape has ${target.length} values for ${axes.length} axes`, ctx.node);
    if (target.some((v) => v < 0)) throw new ShapeError(`${ctx.node}: CenterCropPad target [${target}] has a negative size`, ctx.node);
    const shape: Dim[] = [...x!.shape];
    axes.forEach((a, i) => (shape[a] = target[i]!));
    return [{ dtype: x!.dtype, shape }];
  },
  cpu([x, s], ctx) {
    const inShape = x!.shape as number[];
    const g = cropPadGeometry(inShape, tensorInts(s!), ctx.attrs.axes, ctx.node);
    const y = new Tensor(x!.dtype, g.shape);
    const r = inShape.length;
    const inStrides = x!.strides;
    for (let o = 0; o < y.size; o++) {
      let rest = o;
      let src = 0;
      let inside = true;
      for (let a = r - 1; a >= 0; a--) {
        const c = (rest % g.shape[a]!) + g.offsets[a]!;
        rest = Math.floor(rest / g.shape[a]!);
        if (c < 0 || c >= inShape[a]!) inside = false;
        src += c * inStrides[a]!;
      }
      if (inside) y.data[o] = x!.data[src]!;
    }
    return [y];
  },
});

/** Col2Im's geometry: channels, kernel size K, per spatial axis the kernel, block counts, strides, dilations and leading pads. */
export interface Col2ImGeometry {
  readonly channels: number;
  readonly kernelSize: number;
  readonly image: number[];
  readonly block: number[];
  readonly blocks: number[];
  readonly strides: number[];
  readonly dilations: number[];
  readonly padBegin: number[];
}

/**
 * Col2Im's geometry for input [N, C·∏block, L]: per spatial axis
 * blocks = floor((image + pb + pe - ((block - 1)·dilation + 1)) / stride) + 1,
 * and L must be their product.
 */
export function col2imGeometry(
  inShape: readonly Dim[], image: readonly number[], block: readonly number[],
  a: { readonly dilations?: readonly number[] | undefined; readonly pads?: readonly number[] | undefined; readonly strides?: readonly number[] | undefined }, node: string,
): Col2ImGeometry {
  const n = image.length;
  if (block.length !== n || n === 0) throw new ShapeError(`${node}: Col2Im image_shape [${image}] and block_shape [${block}] must have the same, non-zero length`, node);
  const per = (v: readonly number[] | undefined, len: number, def: number, name: string): number[] => {
    if (!v || v.length === 0) return new Array<number>(len).fill(def);
    if (v.length !== len) throw new AttributeError(`${node}: Col2Im ${name} has ${v.length} values, expected ${len}`, node);
    return [...v];
  };
  const strides = per(a.strides, n, 1, 'strides');
  const dilations = per(a.dilations, n, 1, 'dilations');
  const pads = per(a.pads, 2 * n, 0, 'pads');
  if ([...strides, ...dilations, ...block, ...image].some((v) => v < 1) || pads.some((v) => v < 0)) throw new AttributeError(`${node}: Col2Im sizes, strides and dilations must be positive and pads non-negative`, node);
  const blocks = image.map((d, i) => Math.floor((d + pads[i]! + pads[i + n]! - ((block[i]! - 1) * dilations[i]! + 1)) / strides[i]!) + 1);
  if (blocks.some((b) => b < 1)) throw new ShapeError(`${node}: Col2Im blocks [${block}] do not fit the padded image [${image}]`, node);
  const K = block.reduce((p, d) => p * d, 1);
  const L = blocks.reduce((p, d) => p * d, 1);
  const [, ck, l] = inShape;
  if (inShape.length !== 3) throw new ShapeError(`${node}: Col2Im input must be [N, C·∏block, L], got [${inShape}]`, node);
  if (typeof ck === 'number' && ck % K !== 0) throw new ShapeError(`${node}: Col2Im input dim 1 (${ck}) is not a multiple of the block size ${K}`, node);
  if (typeof l === 'number' && l !== L) throw new ShapeError(`${node}: Col2Im input has ${l} blocks, the geometry gives ${blocks.join('·')} = ${L}`, node);
  return { channels: typeof ck === 'number' ? ck / K : -1, kernelSize: K, image: [...image], block: [...block], blocks, strides, dilations, padBegin: pads.slice(0, n) };
}

/** Col2Im (opset 18): rearranges columns [N, C·∏block, L] into images [N, C, ...image_shape], summing overlaps. */
export const Col2Im = defineOp({
  name: 'Col2Im',
  inputs: ['input', 'image_shape', 'block_shape'],
  outputs: ['output'],
  attrs: { dilations: attr.optInts(), pads: attr.optInts(), strides: attr.optInts() },
  category: 'opaque',
  shapeInputs: [1, 2],
  doc: 'Combines sliding blocks into an image (the inverse layout of im2col).',
  infer([x, img, blk], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'input');
    const image = knownInts(img!, ctx.node, 'image_shape');
    const block = knownInts(blk!, ctx.node, 'block_shape');
    if (!image || !block) {
      const n = img!.shape[0];
      if (typeof n !== 'number') throw new ShapeError(`${ctx.node}: Col2Im image_shape must have a known length`, ctx.node);
      return [{ dtype: x!.dtype, shape: [x!.shape[0]!, ctx.fresh('c'), ...(image ?? Array.from({ length: n }, (_, i) => ctx.fresh(i)))] }];
    }
    const g = col2imGeometry(x!.shape, image, block, ctx.attrs, ctx.node);
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, g.channels < 0 ? ctx.fresh('c') : g.channels, ...image] }];
  },
  cpu([x, img, blk], ctx) {
    const g = col2imGeometry(x!.shape, tensorInts(img!), tensorInts(blk!), ctx.attrs, ctx.node);
    const N = x!.shape[0]!;
    const sp = g.image.length;
    const L = x!.shape[2]!;
    const imgSize = g.image.reduce((p, d) => p * d, 1);
    const y = new Tensor(x!.dtype, [N, g.channels, ...g.image]);
    const kc = new Array<number>(sp);
    const bc = new Array<number>(sp);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < g.channels; c++) {
        for (let k = 0; k < g.kernelSize; k++) {
          for (let a = sp - 1, rest = k; a >= 0; a--) {
            kc[a] = rest % g.block[a]!;
            rest = Math.floor(rest / g.block[a]!);
          }
          for (let l = 0; l < L; l++) {
            for (let a = sp - 1, rest = l; a >= 0; a--) {
              bc[a] = rest % g.blocks[a]!;
              rest = Math.floor(rest / g.blocks[a]!);
            }
            let pos = 0;
            let inside = true;
            for (let a = 0; a < sp; a++) {
              const p = bc[a]! * g.strides[a]! - g.padBegin[a]! + kc[a]! * g.dilations[a]!;
              if (p < 0 || p >= g.image[a]!) inside = false;
              pos = pos * g.image[a]! + p;
            }
            if (inside) y.data[(n * g.channels + c) * imgSize + pos]! += x!.data[((n * g.channels + c) * g.kernelSize + k) * L + l]!;
          }
        }
      }
    }
    return [y];
  },
});

/**
 * ImageDecoder (opset 20): decodes a 1-D uint8 stream holding a PNG, baseline JPEG,
 * BMP, PNM, TIFF, WebP or JPEG 2000 image into [H, W, 3] (RGB or BGR) or [H, W, 1]
 * (Grayscale) uint8 pixels. H and W are known only once the stream is read.
 * Unsupported variants are an UnsupportedOpError, a corrupt or truncated stream
 * an InputError, a declared size over the limit a LimitError, each naming the node.
 */
export const ImageDecoder = defineOp({
  name: 'ImageDecoder',
  inputs: ['encoded_stream'],
  outputs: ['image'],
  attrs: { pixel_format: attr.string<'RGB' | 'BGR' | 'Grayscale'>('RGB', ['RGB', 'BGR', 'Grayscale']) },
  category: 'opaque',
  doc: 'Decodes an encoded image (PNG, JPEG, BMP, PNM, TIFF) to HWC uint8 pixels.',
  infer([x], ctx) {
    expectDType(x!.dtype, ['uint8'], ctx.node, 'encoded_stream');
    if (x!.shape.length !== 1) throw new ShapeError(`${ctx.node}: ImageDecoder encoded_stream must be 1-D, got shape [${x!.shape}]`, ctx.node);
    return [{ dtype: 'uint8', shape: [ctx.fresh('h'), ctx.fresh('w'), ctx.attrs.pixel_format === 'Grayscale' ? 1 : 3] }];
  },
  cpu([x], ctx) {
    const bytes = x!.data instanceof Uint8Array ? x!.data : Uint8Array.from(x!.data as ArrayLike<number>);
    const { shape, data } = toPixelFormat(decodeImage(bytes, ctx.node), ctx.attrs.pixel_format);
    return [new Tensor('uint8', shape, data)];
  },
});

/** Image-region ops and the image decoder. */
export const imageOps = { CenterCropPad, Col2Im, ImageDecoder } as const;
