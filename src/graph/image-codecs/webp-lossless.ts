/**
 * WebP lossless (VP8L, RFC 9649 section 3): the LSB-first bit reader, canonical
 * prefix codes (simple and length-coded, with libwebp's checks: lengths at most
 * 15, a complete code unless it has one symbol, which then takes no bits), the
 * entropy image of meta prefix codes, LZ77 backward references with the 2-D
 * distance map, the colour cache, and the four transforms (predictor, colour,
 * subtract-green, colour indexing with pixel bundling), undone in reverse order.
 * Also the headerless image stream of a lossless-compressed ALPH chunk. Every
 * read is bounds-checked; a stream that ends early or codes past the image is an
 * InputError, and the declared size is checked before pixels are allocated.
 */
import { checkSize, corrupt, type CodecContext, type DecodedImage } from './common.js';

/** Reads bits least significant first; reading past the end gives zeros and sets `eos`. */
class BitReader {
  private pos = 0;
  private bit = 0;
  eos = false;
  constructor(private readonly b: Uint8Array) {}
  /** `n` ≤ 24 bits as an unsigned number. */
  read(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      if (this.pos >= this.b.length) {
        this.eos = true;
        return 0;
      }
      v |= ((this.b[this.pos]! >> this.bit) & 1) << i;
      if (++this.bit === 8) {
        this.bit = 0;
        this.pos++;
      }
    }
    return v;
  }
}

/** A canonical prefix code: per length, the first code and where its symbols start in `sorted`. */
interface Code {
  /** The only symbol of a one-symbol code (read with no bits), else -1. */
  readonly single: number;
  readonly count: Int32Array;
  readonly first: Int32Array;
  readonly offset: Int32Array;
  readonly sorted: Int32Array;
}

const MAX_LENGTH = 15;

function buildCode(ctx: CodecContext, lengths: Int32Array): Code {
  const count = new Int32Array(MAX_LENGTH + 1);
  let nonZero = 0;
  let last = -1;
  for (let s = 0; s < lengths.length; s++) {
    const l = lengths[s]!;
    if (l > MAX_LENGTH) corrupt(ctx, `prefix code length ${l}`);
    if (l > 0) {
      count[l]!++;
      nonZero++;
      last = s;
    }
  }
  if (nonZero === 0) corrupt(ctx, 'a prefix code with no symbols');
  const first = new Int32Array(MAX_LENGTH + 2);
  const offset = new Int32Array(MAX_LENGTH + 2);
  const sorted = new Int32Array(nonZero);
  if (nonZero === 1) return { single: last, count, first, offset, sorted };
  // Kraft sum must be exactly one: the code is complete, nothing over-subscribed.
  let open = 1;
  for (let l = 1; l <= MAX_LENGTH; l++) {
    open = 2 * open - count[l]!;
    if (open < 0) corrupt(ctx, 'over-subscribed prefix code');
  }
  if (open !== 0) corrupt(ctx, 'incomplete prefix code');
  let code = 0;
  for (let l = 1; l <= MAX_LENGTH; l++) {
    first[l] = code;
    offset[l + 1] = offset[l]! + count[l]!;
    code = (code + count[l]!) << 1;
  }
  const next = offset.slice();
  for (let s = 0; s < lengths.length; s++) if (lengths[s]! > 0) sorted[next[lengths[s]!]!++] = s;
  return { single: -1, count, first, offset, sorted };
}

function readSymbol(br: BitReader, c: Code): number {
  if (c.single >= 0) return c.single;
  let code = 0;
  for (let l = 1; l <= MAX_LENGTH; l++) {
    code |= br.read(1);
    const i = code - c.first[l]!;
    if (i < c.count[l]!) return c.sorted[c.offset[l]! + i]!;
    code <<= 1;
  }
  return c.sorted[0]!; // unreachable for a complete code
}

const CODE_LENGTH_ORDER = [17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

function readCode(ctx: CodecContext, br: BitReader, alphabet: number): Code {
  const lengths = new Int32Array(alphabet);
  if (br.read(1)) {
    // Simple code: one or two symbols of length 1.
    const n = br.read(1) + 1;
    const s0 = br.read(br.read(1) ? 8 : 1);
    if (s0 >= alphabet) corrupt(ctx, `prefix code symbol ${s0} of ${alphabet}`);
    lengths[s0] = 1;
    if (n === 2) {
      const s1 = br.read(8);
      if (s1 >= alphabet) corrupt(ctx, `prefix code symbol ${s1} of ${alphabet}`);
      lengths[s1] = 1;
    }
  } else {
    const clLengths = new Int32Array(19);
    const n = br.read(4) + 4;
    for (let i = 0; i < n; i++) clLengths[CODE_LENGTH_ORDER[i]!] = br.read(3);
    const cl = buildCode(ctx, clLengths);
    let max = alphabet;
    if (br.read(1)) {
      max = 2 + br.read(2 + 2 * br.read(3));
      if (max > alphabet) corrupt(ctx, `${max} code lengths for an alphabet of ${alphabet}`);
    }
    let prev = 8;
    let s = 0;
    while (s < alphabet) {
      if (max-- === 0) break;
      const len = readSymbol(br, cl);
      if (len < 16) {
        lengths[s++] = len;
        if (len !== 0) prev = len;
      } else {
        const slot = len - 16;
        const repeat = br.read([2, 3, 7][slot]!) + [3, 3, 11][slot]!;
        if (s + repeat > alphabet) corrupt(ctx, 'code lengths run past the alphabet');
        lengths.fill(len === 16 ? prev : 0, s, s + repeat);
        s += repeat;
      }
      if (br.eos) break;
    }
  }
  if (br.eos) corrupt(ctx, 'truncated prefix code');
  return buildCode(ctx, lengths);
}

const CODE_TO_PLANE = Uint8Array.from([
  0x18, 0x07, 0x17, 0x19, 0x28, 0x06, 0x27, 0x29, 0x16, 0x1a, 0x26, 0x2a, 0x38, 0x05, 0x37, 0x39, 0x15, 0x1b, 0x36, 0x3a,
  0x25, 0x2b, 0x48, 0x04, 0x47, 0x49, 0x14, 0x1c, 0x35, 0x3b, 0x46, 0x4a, 0x24, 0x2c, 0x58, 0x45, 0x4b, 0x34, 0x3c, 0x03,
  0x57, 0x59, 0x13, 0x1d, 0x56, 0x5a, 0x23, 0x2d, 0x44, 0x4c, 0x55, 0x5b, 0x33, 0x3d, 0x68, 0x02, 0x67, 0x69, 0x12, 0x1e,
  0x66, 0x6a, 0x22, 0x2e, 0x54, 0x5c, 0x43, 0x4d, 0x65, 0x6b, 0x32, 0x3e, 0x78, 0x01, 0x77, 0x79, 0x53, 0x5d, 0x11, 0x1f,
  0x64, 0x6c, 0x42, 0x4e, 0x76, 0x7a, 0x21, 0x2f, 0x75, 0x7b, 0x31, 0x3f, 0x63, 0x6d, 0x52, 0x5e, 0x00, 0x74, 0x7c, 0x41,
  0x4f, 0x10, 0x20, 0x62, 0x6e, 0x30, 0x73, 0x7d, 0x51, 0x5f, 0x40, 0x72, 0x7e, 0x61, 0x6f, 0x50, 0x71, 0x7f, 0x60, 0x70,
]);

/** The value of a length or distance prefix symbol and its extra bits. */
function prefixValue(br: BitReader, sym: number): number {
  if (sym < 4) return sym + 1;
  const extra = (sym - 2) >> 1;
  return ((2 + (sym & 1)) << extra) + br.read(extra) + 1;
}

const subSample = (size: number, bits: number): number => (size + (1 << bits) - 1) >> bits;

/**
 * Decodes the entropy-coded ARGB pixels of one (sub-)image: the colour cache,
 * meta prefix codes when `top` (the main image), then the symbols.
 */
function decodePixels(ctx: CodecContext, br: BitReader, w: number, h: number, top: boolean): Uint32Array {
  let cacheBits = 0;
  if (br.read(1)) {
    cacheBits = br.read(4);
    if (cacheBits < 1 || cacheBits > 11) corrupt(ctx, `colour cache of ${cacheBits} bits`);
  }
  let metaBits = 0;
  let meta: Uint32Array | undefined;
  let metaW = 0;
  let groups = 1;
  if (top && br.read(1)) {
    metaBits = br.read(3) + 2;
    metaW = subSample(w, metaBits);
    meta = decodePixels(ctx, br, metaW, subSample(h, metaBits), false);
    for (let i = 0; i < meta.length; i++) {
      meta[i] = (meta[i]! >> 8) & 0xffff;
      if (meta[i]! + 1 > groups) groups = meta[i]! + 1;
    }
  }
  if (br.eos) corrupt(ctx, 'truncated');
  const cacheSize = cacheBits ? 1 << cacheBits : 0;
  const codes: Code[][] = [];
  for (let g = 0; g < groups; g++) {
    codes.push([readCode(ctx, br, 256 + 24 + cacheSize), readCode(ctx, br, 256), readCode(ctx, br, 256), readCode(ctx, br, 256), readCode(ctx, br, 40)]);
  }
  const cache = cacheSize ? new Uint32Array(cacheSize) : undefined;
  const cacheShift = 32 - cacheBits;
  const out = new Uint32Array(w * h);
  const n = w * h;
  let cached = 0; // pixels before this index are in the cache
  const addToCache = (upto: number): void => {
    if (!cache) return;
    for (; cached < upto; cached++) cache[Math.imul(out[cached]!, 0x1e35a7bd) >>> cacheShift] = out[cached]!;
  };
  let i = 0;
  while (i < n) {
    const x = i % w;
    const y = (i - x) / w;
    const c = codes[meta ? meta[(y >> metaBits) * metaW + (x >> metaBits)]! : 0]!;
    const g = readSymbol(br, c[0]!);
    if (g < 256) {
      const r = readSymbol(br, c[1]!);
      const b = readSymbol(br, c[2]!);
      const a = readSymbol(br, c[3]!);
      out[i++] = ((a << 24) | (r << 16) | (g << 8) | b) >>> 0;
    } else if (g < 280) {
      const len = prefixValue(br, g - 256);
      const dc = prefixValue(br, readSymbol(br, c[4]!));
      let dist: number;
      if (dc > 120) dist = dc - 120;
      else {
        const p = CODE_TO_PLANE[dc - 1]!;
        dist = Math.max(1, (p >> 4) * w + 8 - (p & 15));
      }
      if (dist > i || len > n - i) corrupt(ctx, `backward reference (distance ${dist}, length ${len}) outside the image`);
      for (let k = 0; k < len; k++, i++) out[i] = out[i - dist]!;
    } else {
      if (!cache) corrupt(ctx, 'colour cache symbol without a cache');
      addToCache(i);
      out[i++] = cache[g - 280]!;
    }
    if (br.eos) corrupt(ctx, 'truncated pixel data');
  }
  return out;
}

const avg2 = (a: number, b: number): number => ((((a ^ b) & 0xfefefefe) >>> 1) + (a & b)) >>> 0;

function perChannel(f: (a: number, b: number, c: number) => number, a: number, b: number, c: number): number {
  let v = 0;
  for (let s = 0; s < 32; s += 8) v |= f((a >>> s) & 255, (b >>> s) & 255, (c >>> s) & 255) << s;
  return v >>> 0;
}
const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

function predict(mode: number, L: number, T: number, TR: number, TL: number): number {
  switch (mode) {
    case 0: return 0xff000000;
    case 1: return L;
    case 2: return T;
    case 3: return TR;
    case 4: return TL;
    case 5: return avg2(avg2(L, TR), T);
    case 6: return avg2(L, TL);
    case 7: return avg2(L, T);
    case 8: return avg2(TL, T);
    case 9: return avg2(T, TR);
    case 10: return avg2(avg2(L, TL), avg2(T, TR));
    case 11: {
      let d = 0; // Σ|L − TL| − Σ|T − TL|
      for (let s = 0; s < 32; s += 8) d += Math.abs(((L >>> s) & 255) - ((TL >>> s) & 255)) - Math.abs(((T >>> s) & 255) - ((TL >>> s) & 255));
      return d <= 0 ? T : L;
    }
    case 12: return perChannel((a, b, c) => clamp255(a + b - c), L, T, TL);
    case 13: return perChannel((a, _b, c) => clamp255(a + Math.trunc((a - c) / 2)), avg2(L, T), 0, TL);
    default: return 0xff000000; // 14 and 15 predict as libwebp does: opaque black
  }
}

const addPixels = (a: number, b: number): number => ((((a & 0xff00ff00) + (b & 0xff00ff00)) & 0xff00ff00) | (((a & 0x00ff00ff) + (b & 0x00ff00ff)) & 0x00ff00ff)) >>> 0;

type Transform =
  | { kind: 0 | 1; bits: number; data: Uint32Array; w: number }
  | { kind: 2 }
  | { kind: 3; bits: number; palette: Uint32Array; w: number };

function undoPredictor(px: Uint32Array, w: number, h: number, t: { bits: number; data: Uint32Array }): void {
  const tw = subSample(w, t.bits);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let pred: number;
      if (y === 0) pred = x === 0 ? 0xff000000 : px[i - 1]!;
      else if (x === 0) pred = px[i - w]!;
      else {
        const mode = (t.data[(y >> t.bits) * tw + (x >> t.bits)]! >> 8) & 15;
        pred = predict(mode, px[i - 1]!, px[i - w]!, px[i - w + 1]!, px[i - w - 1]!);
      }
      px[i] = addPixels(px[i]!, pred);
    }
  }
}

const s8 = (v: number): number => ((v & 255) << 24) >> 24;
const delta = (t: number, c: number): number => (s8(t) * s8(c)) >> 5;

function undoColor(px: Uint32Array, w: number, h: number, t: { bits: number; data: Uint32Array }): void {
  const tw = subSample(w, t.bits);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const m = t.data[(y >> t.bits) * tw + (x >> t.bits)]!;
      const i = y * w + x;
      const argb = px[i]!;
      const green = (argb >> 8) & 255;
      const red = (((argb >> 16) & 255) + delta(m, green)) & 255;
      const blue = ((argb & 255) + delta(m >> 8, green) + delta(m >> 16, red)) & 255;
      px[i] = ((argb & 0xff00ff00) | (red << 16) | blue) >>> 0;
    }
  }
}

/** Decodes an image stream (transforms, then pixels) of `w` × `h`, undoing the transforms. */
function decodeStream(ctx: CodecContext, br: BitReader, w: number, h: number): Uint32Array {
  const transforms: Transform[] = [];
  const seen = new Set<number>();
  let cw = w; // coded width: colour indexing may bundle pixels
  while (br.read(1)) {
    const kind = br.read(2);
    if (seen.has(kind)) corrupt(ctx, `transform ${kind} used twice`);
    seen.add(kind);
    if (kind === 0 || kind === 1) {
      const bits = br.read(3) + 2;
      const data = decodePixels(ctx, br, subSample(cw, bits), subSample(h, bits), false);
      transforms.push({ kind, bits, data, w: cw });
    } else if (kind === 2) {
      transforms.push({ kind });
    } else {
      const colors = br.read(8) + 1;
      const bits = colors > 16 ? 0 : colors > 4 ? 1 : colors > 2 ? 2 : 3;
      const raw = decodePixels(ctx, br, colors, 1, false);
      const palette = new Uint32Array(256); // indices past the palette give transparent black
      for (let i = 0; i < colors; i++) palette[i] = i === 0 ? raw[0]! : addPixels(raw[i]!, palette[i - 1]!);
      transforms.push({ kind: 3, bits, palette, w: cw });
      cw = subSample(cw, bits);
    }
    if (br.eos) corrupt(ctx, 'truncated transform');
  }
  let px = decodePixels(ctx, br, cw, h, true);
  for (let k = transforms.length - 1; k >= 0; k--) {
    const t = transforms[k]!;
    if (t.kind === 0) undoPredictor(px, t.w, h, t);
    else if (t.kind === 1) undoColor(px, t.w, h, t);
    else if (t.kind === 2) {
      for (let i = 0; i < px.length; i++) {
        const g = (px[i]! >> 8) & 255;
        px[i] = ((px[i]! & 0xff00ff00) | ((((px[i]! >> 16) + g) & 255) << 16) | ((px[i]! + g) & 255)) >>> 0;
      }
    } else if (t.kind === 3) {
      const out = new Uint32Array(t.w * h);
      const packedW = subSample(t.w, t.bits);
      const per = 1 << t.bits;
      const bpp = 8 >> t.bits;
      const mask = (1 << bpp) - 1;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < t.w; x++) {
          const g = (px[y * packedW + (x >> t.bits)]! >> 8) & 255;
          out[y * t.w + x] = t.palette[(g >> ((x & (per - 1)) * bpp)) & mask]!;
        }
      }
      px = out;
    }
  }
  return px;
}

/** Decodes the headerless VP8L image stream of a lossless ALPH chunk: ARGB pixels whose green is the alpha. */
export function decodeVp8lImageStream(ctx: CodecContext, b: Uint8Array, width: number, height: number): Uint32Array {
  return decodeStream(ctx, new BitReader(b), width, height);
}

/** Decodes a VP8L bitstream (the payload of a `VP8L` chunk) to RGBA, or RGB when the header says alpha is unused. */
export function decodeVp8l(ctx: CodecContext, b: Uint8Array): DecodedImage {
  if (b.length < 5 || b[0] !== 0x2f) corrupt(ctx, 'bad VP8L signature');
  const br = new BitReader(b.subarray(1));
  const width = br.read(14) + 1;
  const height = br.read(14) + 1;
  const alpha = br.read(1) === 1;
  const version = br.read(3);
  if (version !== 0) corrupt(ctx, `VP8L version ${version}`);
  checkSize(ctx, width, height);
  const px = decodeStream(ctx, br, width, height);
  const ch = alpha ? 4 : 3;
  const data = new Uint8Array(width * height * ch);
  for (let i = 0; i < px.length; i++) {
    const p = px[i]!;
    data[i * ch] = (p >> 16) & 255;
    data[i * ch + 1] = (p >> 8) & 255;
    data[i * ch + 2] = p & 255;
    if (alpha) data[i * ch + 3] = p >>> 24;
  }
  return { width, height, channels: ch, data };
}
