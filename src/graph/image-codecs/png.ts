/**
 * PNG decoding: every colour type (gray, RGB, palette, gray + alpha, RGBA), bit
 * depths 1–16 (16-bit samples keep their high byte, as Pillow's 8-bit modes do;
 * gray below 8 bits is scaled to 0–255), Adam7 interlacing, every row filter.
 * Chunk CRCs and the zlib checksum are verified.
 */
import { checkSize, corrupt, notSupported, type CodecContext, type DecodedImage } from './common.js';
import { crc32, inflateZlib } from './inflate.js';

/** True when the stream starts with PNG's signature. */
export function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a;
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** Decodes a PNG stream. */
export function decodePng(b: Uint8Array, node: string): DecodedImage {
  const ctx: CodecContext = { node, format: 'PNG' };
  const be32 = (i: number): number => {
    if (i + 4 > b.length) corrupt(ctx, 'truncated');
    return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  };
  let pos = 8;
  let header: { w: number; h: number; depth: number; color: number; interlace: number } | undefined;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (!ended) {
    const len = be32(pos);
    if (pos + 12 + len > b.length) corrupt(ctx, 'chunk runs past the end of the stream');
    const type = String.fromCharCode(b[pos + 4]!, b[pos + 5]!, b[pos + 6]!, b[pos + 7]!);
    const body = b.subarray(pos + 8, pos + 8 + len);
    if (crc32(b.subarray(pos + 4, pos + 8 + len)) !== be32(pos + 8 + len)) corrupt(ctx, `CRC mismatch in chunk ${JSON.stringify(type)}`);
    pos += 12 + len;
    if (type === 'IHDR') {
      if (len !== 13) corrupt(ctx, 'IHDR length');
      header = { w: be32(pos - 12 - len + 8), h: be32(pos - 12 - len + 12), depth: body[8]!, color: body[9]!, interlace: body[12]! };
      if (body[10] !== 0 || body[11] !== 0) corrupt(ctx, 'unknown compression or filter method');
    } else if (!header) {
      corrupt(ctx, 'first chunk is not IHDR');
    } else if (type === 'PLTE') {
      palette = body;
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      ended = true;
    } else if ((type.charCodeAt(0) & 32) === 0) {
      notSupported(ctx, `PNG critical chunk ${JSON.stringify(type)}`);
    }
  }
  if (!header) corrupt(ctx, 'no IHDR');
  const { w, h, depth, color, interlace } = header;
  checkSize(ctx, w, h);
  const samples = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[color];
  const depths = ({ 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] } as Record<number, number[]>)[color];
  if (samples === undefined || !depths?.includes(depth)) corrupt(ctx, `colour type ${color} with bit depth ${depth}`);
  if (interlace > 1) corrupt(ctx, `interlace method ${interlace}`);
  if (color === 3 && (!palette || palette.length % 3 !== 0)) corrupt(ctx, 'palette image without a valid PLTE');
  const bpp = Math.max(1, (samples * depth) >> 3);
  const passes = interlace ? ADAM7 : ([[0, 0, 1, 1]] as const);
  const sizes = passes.map(([x0, y0, dx, dy]) => [Math.ceil((w - x0) / dx), Math.ceil((h - y0) / dy)] as const);
  const rowBytes = (pw: number): number => Math.ceil((pw * samples * depth) / 8);
  const total = sizes.reduce((s, [pw, ph]) => s + (pw > 0 && ph > 0 ? ph * (1 + rowBytes(pw)) : 0), 0);
  const joined = new Uint8Array(idat.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of idat) {
    joined.set(c, o);
    o += c.length;
  }
  const raw = inflateZlib(joined, total, ctx);
  if (raw.length < total) corrupt(ctx, `image data has ${raw.length} bytes, ${total} expected`);
  const outCh: 1 | 3 | 4 = color === 0 ? 1 : color === 4 || color === 6 ? 4 : 3;
  const out = new Uint8Array(w * h * outCh);
  const maxV = (1 << depth) - 1;
  let src = 0;
  passes.forEach(([x0, y0, dx, dy], p) => {
    const [pw, ph] = sizes[p]!;
    if (pw <= 0 || ph <= 0) return;
    const rb = rowBytes(pw);
    let prev = new Uint8Array(rb);
    for (let y = 0; y < ph; y++) {
      const filter = raw[src++]!;
      const row = raw.slice(src, src + rb);
      src += rb;
      unfilter(filter, row, prev, bpp, ctx);
      prev = row;
      const oy = y0 + y * dy;
      for (let x = 0; x < pw; x++) {
        const d = ((oy * w) + x0 + x * dx) * outCh;
        const sample = (k: number): number => {
          if (depth === 8) return row[x * samples + k]!;
          if (depth === 16) return row[(x * samples + k) * 2]!;
          const bit = (x * samples + k) * depth;
          return (row[bit >> 3]! >> (8 - depth - (bit & 7))) & maxV;
        };
        if (color === 3) {
          const i = sample(0);
          if (i * 3 + 2 >= palette!.length) corrupt(ctx, `palette index ${i} past the ${palette!.length / 3}-entry palette`);
          out[d] = palette![i * 3]!;
          out[d + 1] = palette![i * 3 + 1]!;
          out[d + 2] = palette![i * 3 + 2]!;
        } else if (color === 0) {
          out[d] = depth < 8 ? (sample(0) * 255) / maxV : sample(0);
        } else if (color === 4) {
          out[d] = out[d + 1] = out[d + 2] = sample(0);
          out[d + 3] = sample(1);
        } else {
          for (let k = 0; k < samples; k++) out[d + k] = sample(k);
        }
      }
    }
  });
  return { width: w, height: h, channels: outCh, data: out };
}

function unfilter(filter: number, row: Uint8Array, prev: Uint8Array, bpp: number, ctx: CodecContext): void {
  const n = row.length;
  switch (filter) {
    case 0: return;
    case 1: for (let i = bpp; i < n; i++) row[i] = row[i]! + row[i - bpp]!; return;
    case 2: for (let i = 0; i < n; i++) row[i] = row[i]! + prev[i]!; return;
    case 3: for (let i = 0; i < n; i++) row[i] = row[i]! + (((i >= bpp ? row[i - bpp]! : 0) + prev[i]!) >> 1); return;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? row[i - bpp]! : 0;
        const bb = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const p = a + bb - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - bb);
        const pc = Math.abs(p - c);
        row[i] = row[i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? bb : c);
      }
      return;
    default: corrupt(ctx, `row filter ${filter}`);
  }
}
