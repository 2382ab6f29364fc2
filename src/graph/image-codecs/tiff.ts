/**
 * TIFF decoding (first image of the file): strips, uncompressed, PackBits or
 * Deflate (zlib), with or without the horizontal-differencing predictor; 8-bit
 * samples, chunky or planar; gray (either polarity), RGB (extra samples such as
 * alpha kept as a 4th channel for RGBA) and palette images. Tiles, LZW, JPEG-in-TIFF
 * and other bit depths are not supported (typed error).
 */
import { Bytes, checkSize, corrupt, notSupported, type CodecContext, type DecodedImage } from './common.js';
import { inflateZlib } from './inflate.js';

/** True when the stream starts with a TIFF byte-order mark and 42. */
export function isTiff(b: Uint8Array): boolean {
  return b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 42 && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 42));
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };

/** Decodes a TIFF stream. */
export function decodeTiff(data: Uint8Array, node: string): DecodedImage {
  const ctx: CodecContext = { node, format: 'TIFF' };
  const b = new Bytes(data, ctx);
  const le = data[0] === 0x49;
  const ifd = b.u32(4, le);
  const count = b.u16(ifd, le);
  const tags = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    const tag = b.u16(e, le);
    const type = b.u16(e + 2, le);
    const n = b.u32(e + 4, le);
    const size = TYPE_SIZE[type];
    if (size === undefined || (type !== 3 && type !== 4)) continue;
    if (n > data.length) corrupt(ctx, `tag ${tag} declares ${n} values`);
    const at = n * size <= 4 ? e + 8 : b.u32(e + 8, le);
    tags.set(tag, Array.from({ length: n }, (_, k) => (type === 3 ? b.u16(at + 2 * k, le) : b.u32(at + 4 * k, le))));
  }
  const one = (tag: number, def?: number): number => {
    const v = tags.get(tag)?.[0] ?? def;
    if (v === undefined) corrupt(ctx, `required tag ${tag} missing`);
    return v;
  };
  const w = one(256);
  const h = one(257);
  checkSize(ctx, w, h);
  const spp = one(277, 1);
  const bps = tags.get(258) ?? [1];
  const compression = one(259, 1);
  const photometric = one(262);
  const planar = one(284, 1);
  const predictor = one(317, 1);
  if (tags.has(322)) notSupported(ctx, 'tiled TIFF');
  if (bps.some((v) => v !== 8)) notSupported(ctx, `TIFF with ${bps.join(',')} bits per sample`);
  if (![1, 8, 32946, 32773].includes(compression)) notSupported(ctx, `TIFF compression ${compression}`);
  if (predictor !== 1 && predictor !== 2) notSupported(ctx, `TIFF predictor ${predictor}`);
  if (![0, 1, 2, 3].includes(photometric)) notSupported(ctx, `TIFF photometric interpretation ${photometric}`);
  if (spp < 1 || spp > 8 || (photometric === 2 && spp < 3)) corrupt(ctx, `${spp} samples per pixel`);
  const offsets = tags.get(273);
  const counts = tags.get(279);
  if (!offsets || !counts || offsets.length !== counts.length) corrupt(ctx, 'strip offsets and byte counts missing or mismatched');
  const rps = Math.min(one(278, h), h);
  const planes = planar === 2 ? spp : 1;
  const perPixel = planar === 2 ? 1 : spp;
  const stripsPerPlane = Math.ceil(h / rps);
  if (offsets.length < stripsPerPlane * planes) corrupt(ctx, `${offsets.length} strips for ${stripsPerPlane * planes}`);
  const raw = new Uint8Array(w * h * spp);
  for (let p = 0; p < planes; p++) {
    for (let s = 0; s < stripsPerPlane; s++) {
      const rows = Math.min(rps, h - s * rps);
      const need = rows * w * perPixel;
      const src = b.slice(offsets[p * stripsPerPlane + s]!, counts[p * stripsPerPlane + s]!);
      let strip: Uint8Array;
      if (compression === 1) strip = src;
      else if (compression === 32773) strip = unpackBits(src, need, ctx);
      else strip = inflateZlib(src, need, ctx);
      if (strip.length < need) corrupt(ctx, `strip ${s} has ${strip.length} bytes, ${need} expected`);
      for (let r = 0; r < rows; r++) {
        const row = strip.subarray(r * w * perPixel, (r + 1) * w * perPixel);
        if (predictor === 2) for (let i = perPixel; i < row.length; i++) row[i] = row[i]! + row[i - perPixel]!;
        const y = s * rps + r;
        for (let x = 0; x < w; x++) for (let k = 0; k < perPixel; k++) raw[(y * w + x) * spp + (planar === 2 ? p : k)] = row[x * perPixel + k]!;
      }
    }
  }
  if (photometric === 3) {
    const map = tags.get(320);
    if (!map || map.length !== 3 * 256 || spp !== 1) corrupt(ctx, 'palette image without a 256-entry colour map');
    const out = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) for (let k = 0; k < 3; k++) out[i * 3 + k] = map[k * 256 + raw[i]!]! >> 8;
    return { width: w, height: h, channels: 3, data: out };
  }
  const ch: 1 | 3 | 4 = photometric === 2 ? (spp >= 4 && tags.get(338)?.[0] !== undefined && tags.get(338)![0] !== 0 ? 4 : 3) : 1;
  const out = new Uint8Array(w * h * ch);
  for (let i = 0; i < w * h; i++) for (let k = 0; k < ch; k++) out[i * ch + k] = photometric === 0 ? 255 - raw[i * spp + k]! : raw[i * spp + k]!;
  return { width: w, height: h, channels: ch, data: out };
}

/** PackBits (Apple's run-length scheme, TIFF compression 32773), up to `need` bytes. */
function unpackBits(src: Uint8Array, need: number, ctx: CodecContext): Uint8Array {
  const out = new Uint8Array(need);
  let o = 0;
  for (let i = 0; i < src.length && o < need;) {
    const n = (src[i++]! << 24) >> 24;
    if (n >= 0) {
      if (i + n + 1 > src.length) corrupt(ctx, 'PackBits literal run past the strip');
      for (let k = 0; k <= n && o < need; k++) out[o++] = src[i + k]!;
      i += n + 1;
    } else if (n !== -128) {
      if (i >= src.length) corrupt(ctx, 'PackBits repeat past the strip');
      const v = src[i++]!;
      for (let k = 0; k < 1 - n && o < need; k++) out[o++] = v;
    }
  }
  return out.subarray(0, o);
}
