/**
 * DEFLATE (RFC 1951) and zlib (RFC 1950) decompression in plain TypeScript, for PNG
 * and TIFF streams, so the image codecs run in the browser as well as in Node.
 * Canonical Huffman codes are decoded length by length (as zlib's `puff`); output
 * is bounded by the caller's `maxOut` (a LimitError past it: no decompression bomb
 * grows memory without end), and a stream that ends early is an InputError.
 */
import { LimitError } from '../errors.js';
import { corrupt, type CodecContext } from './common.js';

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  readonly counts: Uint16Array;
  readonly symbols: Uint16Array;
}

function huffman(lengths: ArrayLike<number>, n: number, ctx: CodecContext): Huffman {
  const counts = new Uint16Array(16);
  for (let i = 0; i < n; i++) counts[lengths[i]!]!++;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - counts[len]!;
    if (left < 0) corrupt(ctx, 'over-subscribed Huffman code');
  }
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + counts[len]!;
  const symbols = new Uint16Array(n);
  for (let i = 0; i < n; i++) if (lengths[i]) symbols[offs[lengths[i]!]!++] = i;
  return { counts, symbols };
}

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

let fixedCodes: { lit: Huffman; dist: Huffman } | undefined;

/** Inflates a raw DEFLATE stream starting at `start`; returns the bytes and where the stream ended. */
export function inflateRaw(src: Uint8Array, start: number, maxOut: number, ctx: CodecContext): { out: Uint8Array; end: number } {
  let pos = start;
  let bitBuf = 0;
  let bitCnt = 0;
  let out = new Uint8Array(Math.min(maxOut, Math.max(1024, src.length * 4)));
  let outLen = 0;
  const bits = (need: number): number => {
    let v = bitBuf;
    while (bitCnt < need) {
      if (pos >= src.length) corrupt(ctx, 'deflate data ends early');
      v |= src[pos++]! << bitCnt;
      bitCnt += 8;
    }
    bitBuf = v >>> need;
    bitCnt -= need;
    return v & ((1 << need) - 1);
  };
  const ensure = (extra: number): void => {
    if (outLen + extra <= out.length) return;
    if (outLen + extra > maxOut) throw new LimitError(`${ctx.node}: ImageDecoder: ${ctx.format} data inflates past the ${maxOut} bytes its header allows`, ctx.node);
    const grown = new Uint8Array(Math.min(maxOut, Math.max(out.length * 2, outLen + extra)));
    grown.set(out.subarray(0, outLen));
    out = grown;
  };
  const decode = (h: Huffman): number => {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const count = h.counts[len]!;
      if (code - count < first) return h.symbols[index + (code - first)]!;
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    return corrupt(ctx, 'invalid Huffman code');
  };
  const codes = (lit: Huffman, dist: Huffman): void => {
    for (;;) {
      let sym = decode(lit);
      if (sym < 256) {
        ensure(1);
        out[outLen++] = sym;
      } else if (sym === 256) {
        return;
      } else {
        sym -= 257;
        if (sym >= 29) corrupt(ctx, 'invalid length code');
        const len = LEN_BASE[sym]! + bits(LEN_EXTRA[sym]!);
        const ds = decode(dist);
        if (ds >= 30) corrupt(ctx, 'invalid distance code');
        const d = DIST_BASE[ds]! + bits(DIST_EXTRA[ds]!);
        if (d > outLen) corrupt(ctx, 'distance too far back');
        ensure(len);
        for (let i = 0; i < len; i++, outLen++) out[outLen] = out[outLen - d]!;
      }
    }
  };
  let last = 0;
  while (!last) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      bitBuf = 0;
      bitCnt = 0;
      if (pos + 4 > src.length) corrupt(ctx, 'stored block header ends early');
      const len = src[pos]! | (src[pos + 1]! << 8);
      const nlen = src[pos + 2]! | (src[pos + 3]! << 8);
      if (len !== (~nlen & 0xffff)) corrupt(ctx, 'stored block length check');
      pos += 4;
      if (pos + len > src.length) corrupt(ctx, 'stored block ends early');
      ensure(len);
      out.set(src.subarray(pos, pos + len), outLen);
      outLen += len;
      pos += len;
    } else if (type === 1) {
      if (!fixedCodes) {
        const l = new Uint8Array(288);
        l.fill(8, 0, 144);
        l.fill(9, 144, 256);
        l.fill(7, 256, 280);
        l.fill(8, 280, 288);
        fixedCodes = { lit: huffman(l, 288, ctx), dist: huffman(new Uint8Array(30).fill(5), 30, ctx) };
      }
      codes(fixedCodes.lit, fixedCodes.dist);
    } else if (type === 2) {
      const nlen = bits(5) + 257;
      const ndist = bits(5) + 1;
      const ncode = bits(4) + 4;
      if (nlen > 286 || ndist > 30) corrupt(ctx, 'bad dynamic block counts');
      const cl = new Uint8Array(19);
      for (let i = 0; i < ncode; i++) cl[CL_ORDER[i]!] = bits(3);
      const clh = huffman(cl, 19, ctx);
      const lengths = new Uint8Array(nlen + ndist);
      for (let i = 0; i < nlen + ndist;) {
        const sym = decode(clh);
        if (sym < 16) {
          lengths[i++] = sym;
          continue;
        }
        let rep = 0;
        let val = 0;
        if (sym === 16) {
          if (i === 0) corrupt(ctx, 'repeat with no previous length');
          val = lengths[i - 1]!;
          rep = 3 + bits(2);
        } else if (sym === 17) rep = 3 + bits(3);
        else rep = 11 + bits(7);
        if (i + rep > nlen + ndist) corrupt(ctx, 'too many code lengths');
        lengths.fill(val, i, i + rep);
        i += rep;
      }
      if (lengths[256] === 0) corrupt(ctx, 'no end-of-block code');
      codes(huffman(lengths.subarray(0, nlen), nlen, ctx), huffman(lengths.subarray(nlen), ndist, ctx));
    } else {
      corrupt(ctx, 'invalid deflate block type');
    }
  }
  return { out: out.subarray(0, outLen), end: pos };
}

/** Inflates a zlib stream (2-byte header, DEFLATE data, Adler-32 checked). */
export function inflateZlib(src: Uint8Array, maxOut: number, ctx: CodecContext): Uint8Array {
  if (src.length < 6) corrupt(ctx, 'zlib stream too short');
  const cmf = src[0]!;
  const flg = src[1]!;
  if ((cmf & 15) !== 8 || (cmf * 256 + flg) % 31 !== 0) corrupt(ctx, 'bad zlib header');
  if (flg & 32) corrupt(ctx, 'zlib preset dictionary');
  const { out, end } = inflateRaw(src, 2, maxOut, ctx);
  if (end + 4 > src.length) corrupt(ctx, 'zlib checksum missing');
  const want = ((src[end]! << 24) | (src[end + 1]! << 16) | (src[end + 2]! << 8) | src[end + 3]!) >>> 0;
  if (adler32(out) !== want) corrupt(ctx, 'zlib checksum mismatch');
  return out;
}

/** Adler-32 of `data`. */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length;) {
    const end = Math.min(data.length, i + 3800);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (PNG's chunk checksum) of `data`. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 255]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
