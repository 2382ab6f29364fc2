/**
 * BMP decoding: Windows bitmaps with a BITMAPCOREHEADER or BITMAPINFOHEADER (and
 * its V4/V5 extensions), 1/4/8-bit palettes, 16-bit 5-5-5, 24-bit, and 32-bit
 * (BI_RGB as BGRX; BI_BITFIELDS with its masks, alpha when a mask names one),
 * bottom-up or top-down. RLE-compressed bitmaps are not supported (typed error).
 */
import { Bytes, checkSize, corrupt, notSupported, type CodecContext, type DecodedImage } from './common.js';

/** True when the stream starts with "BM". */
export function isBmp(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d;
}

/** A bit mask's shift and width, to scale a masked field to 0–255. */
function maskField(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

/** Decodes a BMP stream. */
export function decodeBmp(data: Uint8Array, node: string): DecodedImage {
  const ctx: CodecContext = { node, format: 'BMP' };
  const b = new Bytes(data, ctx);
  const pixelsAt = b.u32(10, true);
  const hdr = b.u32(14, true);
  let w: number;
  let hRaw: number;
  let bpp: number;
  let compression = 0;
  let colors = 0;
  if (hdr === 12) {
    w = b.u16(18, true);
    hRaw = b.u16(20, true);
    bpp = b.u16(24, true);
  } else if (hdr >= 40) {
    w = b.i32le(18);
    hRaw = b.i32le(22);
    bpp = b.u16(28, true);
    compression = b.u32(30, true);
    colors = b.u32(46, true);
  } else {
    return corrupt(ctx, `DIB header size ${hdr}`);
  }
  const topDown = hRaw < 0;
  const h = Math.abs(hRaw);
  checkSize(ctx, w, h);
  if (compression === 1 || compression === 2) notSupported(ctx, 'RLE-compressed BMP');
  if (compression !== 0 && compression !== 3 && compression !== 6) notSupported(ctx, `BMP compression ${compression}`);
  let masks: number[] | undefined;
  if (compression === 3 || compression === 6) {
    if (bpp !== 16 && bpp !== 32) corrupt(ctx, `bitfields with ${bpp} bits per pixel`);
    const at = hdr >= 52 ? 54 : 14 + hdr;
    masks = [b.u32(at, true), b.u32(at + 4, true), b.u32(at + 8, true), hdr >= 56 || compression === 6 ? b.u32(at + 12, true) : 0];
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0];
  }
  let palette: number[][] | undefined;
  if (bpp <= 8) {
    if (![1, 4, 8].includes(bpp)) corrupt(ctx, `${bpp} bits per pixel`);
    const n = colors || 1 << bpp;
    if (n > 1 << bpp) corrupt(ctx, `${n} palette entries for ${bpp} bits per pixel`);
    const entry = hdr === 12 ? 3 : 4;
    palette = Array.from({ length: n }, (_, i) => {
      const at = 14 + hdr + i * entry;
      return [b.u8(at + 2), b.u8(at + 1), b.u8(at)];
    });
  } else if (![16, 24, 32].includes(bpp)) {
    corrupt(ctx, `${bpp} bits per pixel`);
  }
  const alpha = masks !== undefined && masks[3] !== 0 && bpp === 32;
  const ch: 3 | 4 = alpha ? 4 : 3;
  const stride = Math.ceil((w * bpp) / 32) * 4;
  const rows = b.slice(pixelsAt, stride * h);
  const fields = masks?.map(maskField);
  const out = new Uint8Array(w * h * ch);
  for (let y = 0; y < h; y++) {
    const r = (topDown ? y : h - 1 - y) * stride;
    for (let x = 0; x < w; x++) {
      const d = (y * w + x) * ch;
      if (palette) {
        const bit = x * bpp;
        const i = (rows[r + (bit >> 3)]! >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        const c = palette[i];
        if (!c) corrupt(ctx, `palette index ${i} past the ${palette.length}-entry palette`);
        out[d] = c[0]!;
        out[d + 1] = c[1]!;
        out[d + 2] = c[2]!;
      } else if (fields) {
        const at = r + x * (bpp >> 3);
        const v = bpp === 16 ? rows[at]! | (rows[at + 1]! << 8) : (rows[at]! | (rows[at + 1]! << 8) | (rows[at + 2]! << 16) | (rows[at + 3]! << 24)) >>> 0;
        for (let k = 0; k < ch; k++) {
          const f = fields[k]!;
          out[d + k] = f.max === 0 ? 0 : Math.round((((v >>> f.shift) & f.max) * 255) / f.max);
        }
      } else {
        const at = r + x * (bpp >> 3);
        out[d] = rows[at + 2]!;
        out[d + 1] = rows[at + 1]!;
        out[d + 2] = rows[at]!;
      }
    }
  }
  return { width: w, height: h, channels: ch, data: out };
}
