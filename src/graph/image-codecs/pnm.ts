/**
 * Netpbm decoding: P1–P6 (plain and raw bitmaps, graymaps and pixmaps), maxval up
 * to 65535 (samples scaled to 0–255, rounded); bitmaps give 0 for black (1) and
 * 255 for white (0).
 */
import { checkSize, corrupt, type CodecContext, type DecodedImage } from './common.js';

/** True when the stream starts with a Netpbm magic number P1–P6. */
export function isPnm(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0x50 && b[1]! >= 0x31 && b[1]! <= 0x36 && (b[2] === 0x20 || (b[2]! >= 9 && b[2]! <= 13) || b[2] === 0x23);
}

/** Decodes a PNM stream. */
export function decodePnm(b: Uint8Array, node: string): DecodedImage {
  const ctx: CodecContext = { node, format: 'PNM' };
  const kind = b[1]! - 0x30;
  let pos = 2;
  const space = (c: number): boolean => c === 0x20 || (c >= 9 && c <= 13);
  const skip = (): void => {
    for (;;) {
      while (pos < b.length && space(b[pos]!)) pos++;
      if (b[pos] !== 0x23) return;
      while (pos < b.length && b[pos] !== 0x0a && b[pos] !== 0x0d) pos++;
    }
  };
  const int = (what: string): number => {
    skip();
    let v = 0;
    let digits = 0;
    while (pos < b.length && b[pos]! >= 0x30 && b[pos]! <= 0x39) {
      v = v * 10 + b[pos++]! - 0x30;
      if (++digits > 9) corrupt(ctx, `${what} has too many digits`);
    }
    if (digits === 0) corrupt(ctx, `expected the ${what}`);
    return v;
  };
  const w = int('width');
  const h = int('height');
  const maxval = kind === 1 || kind === 4 ? 1 : int('maxval');
  if (maxval < 1 || maxval > 65535) corrupt(ctx, `maxval ${maxval}`);
  checkSize(ctx, w, h);
  const ch: 1 | 3 = kind === 3 || kind === 6 ? 3 : 1;
  const n = w * h * ch;
  const out = new Uint8Array(n);
  const scale = (v: number): number => {
    if (v > maxval) corrupt(ctx, `sample ${v} over maxval ${maxval}`);
    return maxval === 255 ? v : Math.round((v * 255) / maxval);
  };
  if (kind <= 3) {
    for (let i = 0; i < n; i++) {
      if (kind === 1) {
        skip();
        const c = b[pos++];
        if (c !== 0x30 && c !== 0x31) corrupt(ctx, 'bitmap sample is not 0 or 1');
        out[i] = c === 0x31 ? 0 : 255;
      } else {
        out[i] = scale(int('sample'));
      }
    }
  } else {
    if (!space(b[pos] ?? -1)) corrupt(ctx, 'no whitespace before the raster');
    pos++;
    if (kind === 4) {
      const rb = Math.ceil(w / 8);
      if (pos + rb * h > b.length) corrupt(ctx, 'raster truncated');
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = (b[pos + y * rb + (x >> 3)]! >> (7 - (x & 7))) & 1 ? 0 : 255;
    } else {
      const wide = maxval > 255;
      if (pos + n * (wide ? 2 : 1) > b.length) corrupt(ctx, 'raster truncated');
      for (let i = 0; i < n; i++) out[i] = scale(wide ? (b[pos + 2 * i]! << 8) | b[pos + 2 * i + 1]! : b[pos + i]!);
    }
  }
  return { width: w, height: h, channels: ch, data: out };
}
