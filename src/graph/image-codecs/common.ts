/**
 * What every image codec shares: the decoded image (8-bit samples, interleaved,
 * 1, 3 or 4 channels), the size limit checked before any pixel buffer is made, and
 * the typed errors a bad stream gets (InputError for a corrupt or truncated stream,
 * LimitError for declared sizes over the limit, UnsupportedOpError for a format or
 * variant no codec here decodes).
 */
import { InputError, LimitError, UnsupportedOpError } from '../errors.js';

/** A decoded image: `channels` interleaved 8-bit samples per pixel, rows top to bottom. */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  /** 1 gray, 3 RGB, 4 RGBA. */
  readonly channels: 1 | 3 | 4;
  readonly data: Uint8Array;
}

/** The most pixels an image may declare (2^26, about 67 million: a 8192 × 8192 image). */
export const MAX_IMAGE_PIXELS = 1 << 26;

/** Where a decode runs: the node (for error messages) and the format name. */
export interface CodecContext {
  readonly node: string;
  readonly format: string;
}

/** Throws the InputError of a corrupt or truncated stream. */
export function corrupt(ctx: CodecContext, why: string): never {
  throw new InputError(`${ctx.node}: ImageDecoder: corrupt ${ctx.format} stream: ${why}`, ctx.node);
}

/** Throws the UnsupportedOpError of a format variant no codec here decodes. */
export function notSupported(ctx: CodecContext, what: string): never {
  throw new UnsupportedOpError([{ op: 'ImageDecoder', nodes: [ctx.node] }], `ImageDecoder: ${what} not supported`);
}

/** Checks declared dimensions: positive integers whose product is at most {@link MAX_IMAGE_PIXELS}. */
export function checkSize(ctx: CodecContext, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) corrupt(ctx, `image size ${width} × ${height}`);
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new LimitError(`${ctx.node}: ImageDecoder: ${ctx.format} image of ${width} × ${height} pixels is over the limit of ${MAX_IMAGE_PIXELS} pixels`, ctx.node);
  }
}

/** Little- and big-endian reads that throw {@link corrupt} past the end instead of returning undefined. */
export class Bytes {
  constructor(readonly data: Uint8Array, private readonly ctx: CodecContext) {}
  /** The byte at `i`. */
  u8(i: number): number {
    if (i < 0 || i >= this.data.length) corrupt(this.ctx, `truncated (read at byte ${i} of ${this.data.length})`);
    return this.data[i]!;
  }
  /** 16-bit value at `i`. */
  u16(i: number, le: boolean): number {
    const a = this.u8(i);
    const b = this.u8(i + 1);
    return le ? a | (b << 8) : (a << 8) | b;
  }
  /** 32-bit unsigned value at `i`. */
  u32(i: number, le: boolean): number {
    const a = this.u16(i, le);
    const b = this.u16(i + 2, le);
    return le ? a + b * 65536 : a * 65536 + b;
  }
  /** 32-bit signed little-endian value at `i`. */
  i32le(i: number): number {
    return this.u32(i, true) | 0;
  }
  /** `n` bytes from `i`, checked to lie inside the stream. */
  slice(i: number, n: number): Uint8Array {
    if (i < 0 || n < 0 || i + n > this.data.length) corrupt(this.ctx, `truncated (${n} bytes at ${i} of ${this.data.length})`);
    return this.data.subarray(i, i + n);
  }
}
