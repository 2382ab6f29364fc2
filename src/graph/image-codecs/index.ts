/**
 * Image decoding for ONNX's ImageDecoder, in plain TypeScript (no Node or browser
 * codec, so it runs wherever the CPU reference runs). The format is sniffed from
 * the stream's first bytes: PNG, baseline JPEG, BMP, PNM (P1–P6), TIFF, WebP
 * (lossy, lossless, with alpha) and JPEG 2000 (JP2 files and J2K codestreams)
 * decode; anything else is an InputError. Each decoder checks declared sizes against
 * {@link MAX_IMAGE_PIXELS} (LimitError) before it allocates pixels.
 */
import { InputError } from '../errors.js';
import { type DecodedImage } from './common.js';
import { decodeBmp, isBmp } from './bmp.js';
import { decodeJpeg, isJpeg } from './jpeg.js';
import { decodeJpeg2k, isJpeg2k } from './jpeg2k.js';
import { decodePng, isPng } from './png.js';
import { decodePnm, isPnm } from './pnm.js';
import { decodeTiff, isTiff } from './tiff.js';
import { decodeWebp, isWebp } from './webp.js';

export { MAX_IMAGE_PIXELS, type DecodedImage } from './common.js';

/** ImageDecoder's output layouts. */
export type PixelFormat = 'RGB' | 'BGR' | 'Grayscale';

/** Decodes an encoded image stream to its own channels (1 gray, 3 RGB, 4 RGBA). */
export function decodeImage(b: Uint8Array, node: string): DecodedImage {
  if (isPng(b)) return decodePng(b, node);
  if (isJpeg(b)) return decodeJpeg(b, node);
  if (isBmp(b)) return decodeBmp(b, node);
  if (isTiff(b)) return decodeTiff(b, node);
  if (isPnm(b)) return decodePnm(b, node);
  if (isWebp(b)) return decodeWebp(b, node);
  if (isJpeg2k(b)) return decodeJpeg2k(b, node);
  throw new InputError(`${node}: ImageDecoder: the ${b.length}-byte stream is not an image format it knows (PNG, JPEG, BMP, PNM, TIFF, WebP, JPEG 2000)`, node);
}

/**
 * An image in ImageDecoder's layout: [H, W, 3] RGB or BGR, or [H, W, 1] gray.
 * Alpha is dropped; gray becomes RGB by repeating it; colour becomes gray as
 * Pillow's convert('L'): (19595 R + 38470 G + 7471 B + 2^15) >> 16.
 */
export function toPixelFormat(img: DecodedImage, format: PixelFormat): { shape: [number, number, number]; data: Uint8Array } {
  const n = img.width * img.height;
  const c = img.channels;
  const src = img.data;
  if (format === 'Grayscale') {
    if (c === 1) return { shape: [img.height, img.width, 1], data: src };
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (src[i * c]! * 19595 + src[i * c + 1]! * 38470 + src[i * c + 2]! * 7471 + 0x8000) >>> 16;
    return { shape: [img.height, img.width, 1], data: out };
  }
  const out = new Uint8Array(n * 3);
  const [r, bl] = format === 'RGB' ? [0, 2] : [2, 0];
  for (let i = 0; i < n; i++) {
    if (c === 1) {
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = src[i]!;
    } else {
      out[i * 3 + r] = src[i * c]!;
      out[i * 3 + 1] = src[i * c + 1]!;
      out[i * 3 + bl] = src[i * c + 2]!;
    }
  }
  return { shape: [img.height, img.width, 3], data: out };
}
