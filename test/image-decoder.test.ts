/**
 * ImageDecoder and the pure-TypeScript codecs of src/graph/image-codecs.
 *
 * - The ONNX 1.17 node cases (Pillow's output for a 32 × 32 checkerboard saved as
 *   BMP, baseline 4:2:0 JPEG, PNG, PPM, TIFF, lossy WebP and lossless JPEG 2000)
 *   decode to exactly the expected bytes (uint8, no tolerance), in RGB, BGR and
 *   Grayscale; a JPEG 2000 feature outside Part 1 (HTJ2K) is an UnsupportedOpError
 *   naming the node.
 * - JPEG 2000 files made with opj_compress 2.5.0 (test/fixtures/jpeg2k: JP2 and raw
 *   J2K; lossless 5/3 and lossy 9/7; gray, RGB, 12-bit; tiles, tile-parts, image
 *   offset, precincts, small code-blocks, all five progression orders, POC, ROI,
 *   several layers, SOP/EPH, every code-block style) equal opj_decompress's decode
 *   (the PGM/PPM beside each file; the 12-bit one shifted to 8 bits as Pillow does)
 *   exactly for the reversible files and within 1 for the 9/7 ones (OpenJPEG computes
 *   the 9/7 in float32, this decoder in float64); truncations and corruptions of
 *   them give pixels or a KilnError; oversized SIZ dimensions are a LimitError.
 * - WebP files made with cwebp 1.2.4 (test/fixtures/webp: lossy with the normal and
 *   the simple loop filter, segments, 1 × 1; lossless with palette and alpha; lossy
 *   with ALPH raw and VP8L-coded under each alpha filter) equal dwebp's decode (its
 *   PNG beside each file, read by the PNG decoder here) byte for byte, alpha too;
 *   truncations and corruptions of them give pixels or a KilnError; oversized
 *   VP8/VP8L/VP8X dimensions are a LimitError; an animated file is unsupported.
 * - Images encoded here (PNG through node:zlib, an independent DEFLATE encoder, in
 *   every colour type, bit depths 1–16, every row filter and Adam7; BMP 8/24/32-bit;
 *   PNM P2/P3/P5/P6 with maxval 255 and 65535; TIFF uncompressed, PackBits, Deflate
 *   with the predictor) decode to the pixels they were made from.
 * - Hostile streams: every truncation and seeded byte corruption of each case gives
 *   pixels or a KilnError, never another exception; declared sizes over the limit
 *   are a LimitError before any pixel buffer; a deflate bomb is a LimitError.
 * - The op through ONNX import on the CPU and on WebGPU (a host step), at O0 and O2.
 * Without the 1.17 data, the cases that need it fail under CI=true and skip elsewhere.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { importModel } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { InputError, KilnError, LimitError, UnsupportedOpError } from '../src/graph/errors.js';
import { decodeImage, toPixelFormat, type PixelFormat } from '../src/graph/image-codecs/index.js';
import { crc32 } from '../src/graph/image-codecs/inflate.js';
import { Tensor } from '../src/graph/tensor.js';
import { testDataRoot117 } from '../src/harness/conformance.js';
import { optimize } from '../src/passes/index.js';
import { readOnnxCase } from './helpers/onnx-node.js';
import { deviceOrSkip } from './helpers/gpu.js';

const NODE = path.join(testDataRoot117(), 'node');
const CASES = ['bmp_rgb', 'jpeg_rgb', 'jpeg_bgr', 'jpeg_grayscale', 'jpeg2k_rgb', 'png_rgb', 'pnm_rgb', 'tiff_rgb', 'webp_rgb'] as const;
const FORMAT: Record<string, PixelFormat> = { jpeg_bgr: 'BGR', jpeg_grayscale: 'Grayscale' };

function needData(ctx: Mocha.Context): void {
  if (existsSync(NODE)) return;
  if (process.env.CI === 'true') throw new Error(`ONNX 1.17 test data missing at ${NODE}: run .ci/setup-system.sh`);
  console.log(`    (skipping: no ONNX 1.17 test data at ${NODE})`);
  ctx.skip();
}

const caseData = (name: string): { input: Uint8Array; output: Tensor } => {
  const c = readOnnxCase(path.join(NODE, `test_image_decoder_decode_${name}`));
  return { input: Uint8Array.from(c.ins[0]!.data as Uint8Array), output: c.outs[0]! };
};

const decode = (b: Uint8Array, f: PixelFormat = 'RGB'): { shape: number[]; data: Uint8Array } => toPixelFormat(decodeImage(b, 'dec'), f);

/** A deterministic test image: `w` × `h` pixels of `ch` channels, each sample a hash of its place. */
function pattern(w: number, h: number, ch: number, max = 255): number[] {
  return Array.from({ length: w * h * ch }, (_, i) => ((i * 2654435761) >>> 7) % (max + 1));
}

function chunk(type: string, body: Uint8Array): Buffer {
  const t = Buffer.from(type, 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([t, body])));
  return Buffer.concat([len, t, body, crc]);
}

/** A PNG of `samples` (row-major, `ch` samples per pixel at `depth` bits), every row filtered with filter `y % 5`; Adam7 when `interlace`. */
function png(w: number, h: number, color: number, depth: number, samples: number[], opts: { interlace?: boolean; palette?: number[]; level?: number } = {}): Uint8Array {
  const ch = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[color]!;
  const passes = opts.interlace ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
  const bytes: number[] = [];
  const bpp = Math.max(1, (ch * depth) >> 3);
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((w - x0!) / dx!);
    const ph = Math.ceil((h - y0!) / dy!);
    if (pw <= 0 || ph <= 0) continue;
    const rb = Math.ceil((pw * ch * depth) / 8);
    let prev = new Array<number>(rb).fill(0);
    for (let y = 0; y < ph; y++) {
      const row = new Array<number>(rb).fill(0);
      for (let x = 0; x < pw; x++) {
        for (let k = 0; k < ch; k++) {
          const v = samples[((y0! + y * dy!) * w + x0! + x * dx!) * ch + k]!;
          const bit = (x * ch + k) * depth;
          if (depth === 16) {
            row[bit >> 3] = v >> 8;
            row[(bit >> 3) + 1] = v & 255;
          } else if (depth === 8) row[bit >> 3] = v;
          else row[bit >> 3]! |= v << (8 - depth - (bit & 7));
        }
      }
      const f = y % 5;
      const out = row.map((v, i) => {
        const a = i >= bpp ? row[i - bpp]! : 0;
        const b = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const p = a + b - c;
        const pred = [0, a, b, (a + b) >> 1, Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c][f]!;
        return (v - pred) & 255;
      });
      bytes.push(f, ...out);
      prev = row;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([depth, color, 0, 0, opts.interlace ? 1 : 0], 8);
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(opts.palette ? [chunk('PLTE', Uint8Array.from(opts.palette))] : []),
    chunk('IDAT', deflateSync(Uint8Array.from(bytes), { level: opts.level ?? 6 })),
    chunk('IEND', new Uint8Array(0)),
  ]));
}

/** A BMP: 24-bit bottom-up, 8-bit palette top-down, or 32-bit BI_BITFIELDS with alpha. */
function bmp(w: number, h: number, bpp: 8 | 24 | 32, px: number[], palette: number[][] = []): Uint8Array {
  const stride = Math.ceil((w * bpp) / 32) * 4;
  const hdr = bpp === 32 ? 108 : 40;
  const palBytes = bpp === 8 ? palette.length * 4 : 0;
  const off = 14 + hdr + palBytes;
  const b = Buffer.alloc(off + stride * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(off, 10);
  b.writeUInt32LE(hdr, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(bpp === 8 ? -h : h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(bpp, 28);
  b.writeUInt32LE(bpp === 32 ? 3 : 0, 30);
  b.writeUInt32LE(bpp === 8 ? palette.length : 0, 46);
  if (bpp === 32) [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000].forEach((m, i) => b.writeUInt32LE(m >>> 0, 54 + 4 * i));
  palette.forEach(([r, g, bl], i) => b.set([bl!, g!, r!, 0], 14 + hdr + 4 * i));
  for (let y = 0; y < h; y++) {
    const row = off + (bpp === 8 ? y : h - 1 - y) * stride;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (bpp === 8) b[row + x] = px[i]!;
      else if (bpp === 24) b.set([px[i * 3 + 2]!, px[i * 3 + 1]!, px[i * 3]!], row + x * 3);
      else b.set([px[i * 4 + 2]!, px[i * 4 + 1]!, px[i * 4]!, px[i * 4 + 3]!], row + x * 4);
    }
  }
  return new Uint8Array(b);
}

/** A little-endian TIFF, one IFD, RGB 8-bit chunky, in strips of `rps` rows. */
function tiff(w: number, h: number, px: number[], compression: 1 | 8 | 32773, predictor: 1 | 2, rps: number): Uint8Array {
  const strips: Buffer[] = [];
  for (let y = 0; y < h; y += rps) {
    const rows = px.slice(y * w * 3, Math.min(h, y + rps) * w * 3);
    if (predictor === 2) for (let r = rows.length / (w * 3) - 1; r >= 0; r--) for (let i = w * 3 - 1; i >= 3; i--) rows[r * w * 3 + i] = (rows[r * w * 3 + i]! - rows[r * w * 3 + i - 3]!) & 255;
    const raw = Buffer.from(rows);
    if (compression === 8) strips.push(deflateSync(raw));
    else if (compression === 32773) {
      // Greedy PackBits: a repeat run for 2–128 equal bytes, else a literal run of up to 128.
      const parts: number[] = [];
      for (let i = 0; i < raw.length;) {
        let r = 1;
        while (i + r < raw.length && r < 128 && raw[i + r] === raw[i]) r++;
        if (r >= 2) {
          parts.push(257 - r, raw[i]!);
          i += r;
          continue;
        }
        let n = 1;
        while (i + n < raw.length && n < 128 && raw[i + n] !== raw[i + n - 1]) n++;
        parts.push(n - 1, ...raw.subarray(i, i + n));
        i += n;
      }
      strips.push(Buffer.from(parts));
    } else strips.push(raw);
  }
  const nStrips = strips.length;
  const entries: [number, number, number, number[]][] = [
    [256, 4, 1, [w]], [257, 4, 1, [h]], [258, 3, 3, [8, 8, 8]], [259, 3, 1, [compression]], [262, 3, 1, [2]],
    [273, 4, nStrips, []], [277, 3, 1, [3]], [278, 4, 1, [rps]], [279, 4, nStrips, strips.map((s) => s.length)], [317, 3, 1, [predictor]],
  ];
  const ifdAt = 8;
  const extraAt = ifdAt + 2 + entries.length * 12 + 4;
  const extra: Buffer[] = [];
  let extraLen = 0;
  const arrays = new Map<number, number>();
  for (const [tag, type, n] of entries) {
    if (n * (type === 3 ? 2 : 4) > 4) {
      arrays.set(tag, extraAt + extraLen);
      extraLen += n * (type === 3 ? 2 : 4);
    }
  }
  let dataAt = extraAt + extraLen;
  const offsets = strips.map((s) => {
    const o = dataAt;
    dataAt += s.length;
    return o;
  });
  entries[5]![3] = offsets;
  const head = Buffer.alloc(extraAt);
  head.write('II', 0, 'latin1');
  head.writeUInt16LE(42, 2);
  head.writeUInt32LE(ifdAt, 4);
  head.writeUInt16LE(entries.length, ifdAt);
  entries.forEach(([tag, type, n, vals], i) => {
    const e = ifdAt + 2 + i * 12;
    head.writeUInt16LE(tag, e);
    head.writeUInt16LE(type, e + 2);
    head.writeUInt32LE(n, e + 4);
    const buf = Buffer.alloc(n * (type === 3 ? 2 : 4));
    vals.forEach((v, k) => (type === 3 ? buf.writeUInt16LE(v, 2 * k) : buf.writeUInt32LE(v, 4 * k)));
    if (arrays.has(tag)) {
      head.writeUInt32LE(arrays.get(tag)!, e + 8);
      extra.push(buf);
    } else buf.copy(head, e + 8);
  });
  return new Uint8Array(Buffer.concat([head, ...extra, ...strips]));
}

/**
 * Decodes truncations of `input` (every prefix, or with `sparse` about every 64th
 * past the first 64 bytes) and `n` copies with 1–4 bytes from `from` on set at
 * random; each must give pixels or a KilnError, never another exception.
 */
function expectPixelsOrKilnError(label: string, input: Uint8Array, next: () => number, n: number, from = 0, sparse = false): void {
  const tries: Uint8Array[] = [];
  for (let len = 0; len < input.length; len += sparse ? 1 + (len >> 6) : 1) tries.push(input.subarray(0, len));
  for (let k = 0; k < n; k++) {
    const b = Uint8Array.from(input);
    const flips = 1 + Math.floor(next() * 4);
    for (let i = 0; i < flips; i++) b[from + Math.floor(next() * (b.length - from))] = Math.floor(next() * 256);
    tries.push(b);
  }
  for (const b of tries) {
    const e = thrown(() => decode(b));
    if (e !== undefined && !(e instanceof KilnError)) throw new Error(`${label}, ${b.length} bytes: ${(e as Error).stack}`);
  }
}

/** A seeded generator (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Runs `f` and returns what it threw (undefined when it returned). */
function thrown(f: () => unknown): unknown {
  try {
    f();
    return undefined;
  } catch (e) {
    return e;
  }
}

describe('ImageDecoder: the ONNX 1.17 cases, exact', function () {
  before(function () {
    needData(this);
  });

  for (const name of CASES) {
    it(`${name}: equals Pillow's pixels byte for byte`, () => {
      const { input, output } = caseData(name);
      const got = decode(input, FORMAT[name] ?? 'RGB');
      expect(got.shape).to.deep.equal(output.shape);
      const bad = [...got.data].filter((v, i) => v !== output.data[i]).length;
      expect(bad, `${name}: differing samples`).to.equal(0);
    });
  }

  it('a colour JPEG in all three pixel formats agrees with itself (BGR is RGB reversed; gray is Pillow\'s L)', () => {
    const { input } = caseData('jpeg_rgb');
    const rgb = decode(input, 'RGB').data;
    const bgr = decode(input, 'BGR').data;
    const gray = decode(input, 'Grayscale').data;
    for (let i = 0; i < 32 * 32; i++) {
      expect([bgr[i * 3 + 2], bgr[i * 3 + 1], bgr[i * 3]]).to.deep.equal([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]]);
      expect(gray[i]).to.equal((rgb[i * 3]! * 19595 + rgb[i * 3 + 1]! * 38470 + rgb[i * 3 + 2]! * 7471 + 0x8000) >>> 16);
    }
  });

  it('JPEG 2000 with high-throughput (Part 15) code-blocks is an UnsupportedOpError naming the node', () => {
    const b = Uint8Array.from(caseData('jpeg2k_rgb').input);
    const cod = b.findIndex((v, i) => v === 0xff && b[i + 1] === 0x52);
    b[cod + 12] = b[cod + 12]! | 0x40; // SPcod's code-block style byte
    const e = thrown(() => decodeImage(b, 'my_decoder'));
    expect(e).to.be.instanceOf(UnsupportedOpError);
    expect((e as Error).message).to.contain('my_decoder').and.contain('ImageDecoder: JPEG 2000 high-throughput code-blocks not supported');
  });

  it('every truncation and 300 seeded corruptions of each case give pixels or a KilnError, never another exception', function () {
    this.timeout(60_000);
    const next = rng(12345);
    for (const name of CASES) {
      const { input } = caseData(name);
      expectPixelsOrKilnError(name, input, next, 300);
      // A truncation of any format (not merely a corrupt one) is refused.
      expect(thrown(() => decode(input.subarray(0, input.length >> 1)))).to.be.instanceOf(KilnError);
    }
  });

  it('a JPEG whose frame header declares 65535 × 65535 pixels is a LimitError before decoding', () => {
    const { input } = caseData('jpeg_rgb');
    const b = Uint8Array.from(input);
    const sof = b.findIndex((v, i) => v === 0xff && b[i + 1] === 0xc0);
    b.set([0xff, 0xff, 0xff, 0xff], sof + 5);
    expect(thrown(() => decode(b))).to.be.instanceOf(LimitError);
    b[sof + 1] = 0xc2;
    expect((thrown(() => decode(b)) as Error).message).to.contain('progressive JPEG not supported');
  });
});

describe('ImageDecoder codecs on images made here', () => {
  const w = 13;
  const h = 11;

  it('PNG: every colour type, bit depths 1–16, all five row filters, Adam7, stored/fixed/dynamic deflate blocks', () => {
    const rgb = pattern(w, h, 3);
    for (const level of [0, 1, 9]) expect([...decode(png(w, h, 2, 8, rgb, { level })).data], `RGB 8, zlib level ${level}`).to.deep.equal(rgb);
    expect([...decode(png(w, h, 2, 8, rgb, { interlace: true })).data], 'RGB Adam7').to.deep.equal(rgb);
    const rgb16 = pattern(w, h, 3, 65535);
    expect([...decode(png(w, h, 2, 16, rgb16)).data], 'RGB 16 (high byte)').to.deep.equal(rgb16.map((v) => v >> 8));
    const rgba = pattern(w, h, 4);
    expect([...decode(png(w, h, 6, 8, rgba, { interlace: true })).data], 'RGBA, alpha dropped').to.deep.equal(rgba.filter((_, i) => i % 4 !== 3));
    for (const depth of [1, 2, 4, 8, 16]) {
      const max = 2 ** depth - 1;
      const g = pattern(w, h, 1, max);
      const want = g.map((v) => (depth === 16 ? v >> 8 : Math.floor((v * 255) / max)));
      const got = decode(png(w, h, 0, depth, g, { interlace: depth === 2 }), 'Grayscale');
      expect(got.shape).to.deep.equal([h, w, 1]);
      expect([...got.data], `gray ${depth}`).to.deep.equal(want);
      expect([...decode(png(w, h, 0, depth, g)).data].filter((_, i) => i % 3 === 0), `gray ${depth} as RGB`).to.deep.equal(want);
    }
    const ga = pattern(w, h, 2);
    expect([...decode(png(w, h, 4, 8, ga), 'Grayscale').data], 'gray + alpha').to.deep.equal(ga.filter((_, i) => i % 2 === 0).map((v) => (v * 19595 + v * 38470 + v * 7471 + 0x8000) >>> 16));
    const pal = Array.from({ length: 16 * 3 }, (_, i) => (i * 37) % 256);
    for (const depth of [4, 8]) {
      const idx = pattern(w, h, 1, 15);
      expect([...decode(png(w, h, 3, depth, idx, { palette: pal })).data], `palette ${depth}`).to.deep.equal(idx.flatMap((i) => pal.slice(i * 3, i * 3 + 3)));
    }
  });

  it('BMP: 24-bit bottom-up, 8-bit palette top-down, 32-bit bitfields with alpha; BGR output', () => {
    const rgb = pattern(w, h, 3);
    expect([...decode(bmp(w, h, 24, rgb)).data]).to.deep.equal(rgb);
    const bgr = decode(bmp(w, h, 24, rgb), 'BGR').data;
    expect([...bgr].filter((_, i) => i % 3 === 0)).to.deep.equal(rgb.filter((_, i) => i % 3 === 2));
    const palette = Array.from({ length: 20 }, (_, i) => [i * 12, 255 - i * 12, (i * 77) % 256]);
    const idx = pattern(w, h, 1, 19);
    expect([...decode(bmp(w, h, 8, idx, palette)).data]).to.deep.equal(idx.flatMap((i) => palette[i]!));
    const rgba = pattern(w, h, 4);
    expect([...decode(bmp(w, h, 32, rgba)).data]).to.deep.equal(rgba.filter((_, i) => i % 4 !== 3));
  });

  it('PNM: P2, P3 (with comments), P5, P6, and maxval 65535 scaled to 0–255', () => {
    const rgb = pattern(w, h, 3);
    const g = pattern(w, h, 1);
    const text = (magic: string, max: number, v: number[]): Uint8Array => new TextEncoder().encode(`${magic}\n# a comment\n${w} ${h}\n${max}\n${v.join(' ')}\n`);
    expect([...decode(text('P3', 255, rgb)).data]).to.deep.equal(rgb);
    expect([...decode(text('P2', 255, g), 'Grayscale').data]).to.deep.equal(g);
    const raw = (magic: string, max: number, v: number[], wide = false): Uint8Array => {
      const head = Buffer.from(`${magic} ${w} ${h} ${max}\n`, 'latin1');
      const body = wide ? Buffer.from(v.flatMap((x) => [x >> 8, x & 255])) : Buffer.from(v);
      return new Uint8Array(Buffer.concat([head, body]));
    };
    expect([...decode(raw('P6', 255, rgb)).data]).to.deep.equal(rgb);
    expect([...decode(raw('P5', 255, g), 'Grayscale').data]).to.deep.equal(g);
    const wide = pattern(w, h, 3, 65535);
    expect([...decode(raw('P6', 65535, wide, true)).data]).to.deep.equal(wide.map((v) => Math.round((v * 255) / 65535)));
    expect(thrown(() => decode(raw('P6', 255, rgb).subarray(0, 40)))).to.be.instanceOf(InputError);
  });

  it('TIFF: uncompressed, PackBits and Deflate, with and without the horizontal predictor, in several strips', () => {
    // The first rows flat, so PackBits has repeat runs as well as literal ones.
    const rgb = pattern(w, h, 3).map((v, i) => (i < 2 * w * 3 ? 200 : v));
    for (const [c, p, rps] of [[1, 1, h], [1, 2, 4], [32773, 1, 3], [8, 2, 5], [8, 1, h]] as const) {
      expect([...decode(tiff(w, h, [...rgb], c, p, rps)).data], `compression ${c}, predictor ${p}, ${rps} rows per strip`).to.deep.equal(rgb);
    }
  });

  it('declared sizes over the limit are a LimitError (PNG, BMP, PNM, TIFF), a deflate bomb too; unknown bytes an InputError', () => {
    const big = png(1, 1, 2, 8, [1, 2, 3]);
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(100_000, 0);
    ihdr.writeUInt32BE(100_000, 4);
    ihdr.set([8, 2, 0, 0, 0], 8);
    const hugePng = new Uint8Array(Buffer.concat([Buffer.from(big.subarray(0, 8)), chunk('IHDR', ihdr), chunk('IEND', new Uint8Array(0))]));
    expect(thrown(() => decode(hugePng))).to.be.instanceOf(LimitError);
    const b = Buffer.from(bmp(2, 2, 24, pattern(2, 2, 3)));
    b.writeInt32LE(1 << 20, 18);
    b.writeInt32LE(1 << 20, 22);
    expect(thrown(() => decode(new Uint8Array(b)))).to.be.instanceOf(LimitError);
    expect(thrown(() => decode(new TextEncoder().encode('P6 99999 99999 255\n')))).to.be.instanceOf(LimitError);
    const t = Buffer.from(tiff(2, 2, pattern(2, 2, 3), 1, 1, 2));
    t.writeUInt32LE(1 << 20, 8 + 2 + 8);
    t.writeUInt32LE(1 << 20, 8 + 2 + 12 + 8);
    expect(thrown(() => decode(new Uint8Array(t)))).to.be.instanceOf(LimitError);
    // 1 × 1 RGB needs 4 bytes of image data; this IDAT inflates to 16 MiB.
    ihdr.writeUInt32BE(1, 0);
    ihdr.writeUInt32BE(1, 4);
    const bomb = new Uint8Array(Buffer.concat([Buffer.from(big.subarray(0, 8)), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(new Uint8Array(1 << 24))), chunk('IEND', new Uint8Array(0))]));
    expect(thrown(() => decode(bomb))).to.be.instanceOf(LimitError);
    const e = thrown(() => decodeImage(new TextEncoder().encode('hello, world'), 'dec'));
    expect(e).to.be.instanceOf(InputError);
    expect((e as Error).message).to.contain('dec: ImageDecoder');
    expect(thrown(() => decode(new Uint8Array(0)))).to.be.instanceOf(InputError);
  });
});

describe('ImageDecoder op: ONNX import, CPU and WebGPU (host step), O0 and O2', () => {
  const AT = onnx.AttributeProto.AttributeType;
  const model = (fmt: PixelFormat): Uint8Array => onnx.ModelProto.encode({
    irVersion: 9,
    opsetImport: [{ domain: '', version: 20 }],
    graph: {
      name: 'decode',
      node: [
        { name: 'decode_0', opType: 'ImageDecoder', input: ['data'], output: ['img'], attribute: [{ name: 'pixel_format', type: AT.STRING, s: new TextEncoder().encode(fmt) } as pb.IAttributeProto] },
        { name: 'cast_0', opType: 'Cast', input: ['img'], output: ['f'], attribute: [{ name: 'to', type: AT.INT, i: 1 }] },
        { name: 'neg_0', opType: 'Neg', input: ['f'], output: ['y'] },
      ],
      input: [{ name: 'data', type: { tensorType: { elemType: 2, shape: { dim: [{ dimParam: 'n' }] } } } }],
      output: [{ name: 'img', type: { tensorType: { elemType: 2 } } }, { name: 'y', type: { tensorType: { elemType: 1 } } }],
    },
  }).finish();
  const w = 9;
  const h = 7;
  const rgb = pattern(w, h, 3);
  const stream = png(w, h, 2, 8, rgb);
  const feed = { data: new Tensor('uint8', [stream.length], stream) };

  it('CPU: pixels, and a float graph after it; O2 gives the same; a corrupt stream is an InputError naming the node', () => {
    for (const level of [0, 2] as const) {
      const g = optimize(importModel(model('RGB')), { level }).graph;
      const out = compileCpu(g).run(feed) as Record<string, Tensor>;
      expect(out.img!.shape).to.deep.equal([h, w, 3]);
      expect([...out.img!.data]).to.deep.equal(rgb);
      expect([...out.y!.data]).to.deep.equal(rgb.map((v) => (v === 0 ? -0 : -v)));
    }
    const g = importModel(model('Grayscale'));
    expect((compileCpu(g).run(feed) as Record<string, Tensor>).img!.shape).to.deep.equal([h, w, 1]);
    const bad = stream.slice(0, 40);
    const e = thrown(() => compileCpu(g).run({ data: new Tensor('uint8', [bad.length], bad) }));
    expect(e).to.be.instanceOf(InputError);
    expect((e as Error).message).to.contain('decode_0');
  });

  it('WebGPU: the decoder runs as a host step and its pixels feed the GPU part; O2 too', async function () {
    const device = await deviceOrSkip(this);
    for (const level of [0, 2] as const) {
      const g = optimize(importModel(model('BGR')), { level }).graph;
      const p = await compileWebGpu(g, { device });
      const out = (await p.run(feed)) as Record<string, Tensor>;
      const want = compileCpu(g).run(feed) as Record<string, Tensor>;
      expect(out.img!.shape).to.deep.equal([h, w, 3]);
      expect([...out.img!.data]).to.deep.equal([...want.img!.data]);
      expect([...out.y!.data]).to.deep.equal([...want.y!.data]);
    }
  });
});

describe('ImageDecoder: WebP files made by cwebp equal dwebp\'s decode', () => {
  const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'webp');
  const files = readdirSync(DIR).filter((f) => f.endsWith('.webp')).sort();
  const load = (f: string): Uint8Array => new Uint8Array(readFileSync(path.join(DIR, f)));

  it('the fixtures are all there (lossy, lossless, alpha)', () => {
    expect(files.length).to.equal(12);
  });

  for (const f of files) {
    it(`${f}: every sample equals dwebp's`, () => {
      const got = decodeImage(load(f), 'dec');
      const want = decodeImage(load(f.replace(/\.webp$/, '.png')), 'ref');
      expect([got.width, got.height]).to.deep.equal([want.width, want.height]);
      // dwebp writes RGBA for files with alpha and RGB otherwise; compare the channels both have.
      const ch = Math.min(got.channels, want.channels);
      let bad = 0;
      for (let i = 0; i < got.width * got.height; i++) for (let c = 0; c < ch; c++) if (got.data[i * got.channels + c] !== want.data[i * want.channels + c]) bad++;
      expect(bad, `${f}: differing samples`).to.equal(0);
      if (f.includes('alpha')) expect(got.channels).to.equal(4);
    });
  }

  it('every truncation and 100 seeded corruptions of each file give pixels or a KilnError, never another exception', function () {
    this.timeout(60_000);
    const next = rng(777);
    for (const f of files) {
      const input = load(f);
      expectPixelsOrKilnError(f, input, next, 100, 12);
      expect(thrown(() => decode(input.subarray(0, input.length - 8))), f).to.be.instanceOf(KilnError);
    }
  });

  it('oversized dimensions are a LimitError before any plane is allocated; an animated file is unsupported', () => {
    const lossy = Uint8Array.from(load('lossy-67x45-q75.webp'));
    const at = 20; // the VP8 payload: 3-byte tag, start code, then 14-bit width and height
    lossy.set([0xff, 0x3f, 0xff, 0x3f], at + 6);
    expect(thrown(() => decode(lossy))).to.be.instanceOf(LimitError);
    const lossless = Uint8Array.from(load('lossless-123x7.webp'));
    lossless.set([0xff, 0xff, 0xff, 0x0f], 21); // 14-bit width − 1 and height − 1 after the 0x2f signature
    expect(thrown(() => decode(lossless))).to.be.instanceOf(LimitError);
    const x = Uint8Array.from(load('alpha-raw.webp'));
    expect(String.fromCharCode(...x.subarray(12, 16))).to.equal('VP8X');
    x.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 24);
    expect(thrown(() => decode(x))).to.be.instanceOf(LimitError);
    const anim = Uint8Array.from(load('alpha-raw.webp'));
    anim[20] = anim[20]! | 0x02;
    const e = thrown(() => decodeImage(anim, 'my_decoder'));
    expect(e).to.be.instanceOf(UnsupportedOpError);
    expect((e as Error).message).to.contain('my_decoder').and.contain('animated WebP');
  });
});

describe('ImageDecoder: JPEG 2000 files made by opj_compress equal opj_decompress\'s decode', () => {
  const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'jpeg2k');
  const files = readdirSync(DIR).filter((f) => /\.(jp2|j2k)$/.test(f)).sort();
  const load = (f: string): Uint8Array => new Uint8Array(readFileSync(path.join(DIR, f)));
  const reference = (f: string): Uint8Array => load(f.replace(/\.(jp2|j2k)$/, f.startsWith('gray') ? '.pgm' : '.ppm'));

  it('the fixtures are all there (JP2 and J2K, lossless and lossy, gray and RGB, tiled)', () => {
    expect(files.length).to.equal(7);
  });

  for (const f of files) {
    const tolerance = f.includes('lossy') ? 1 : 0;
    it(`${f}: every sample ${tolerance ? 'within 1 of' : 'equals'} opj_decompress's`, () => {
      const got = decodeImage(load(f), 'dec');
      const want = decodeImage(reference(f), 'ref');
      expect([got.width, got.height, got.channels]).to.deep.equal([want.width, want.height, want.channels]);
      let worst = 0;
      for (let i = 0; i < got.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - want.data[i]!));
      expect(worst, `${f}: largest difference`).to.be.at.most(tolerance);
    });
  }

  it('truncations and 60 seeded corruptions of each file give pixels or a KilnError, never another exception', function () {
    this.timeout(60_000);
    const next = rng(4242);
    for (const f of files) {
      const input = load(f);
      expectPixelsOrKilnError(f, input, next, 60, 0, true);
      expect(thrown(() => decode(input.subarray(0, input.length - 3))), f).to.be.instanceOf(KilnError);
    }
  });

  it('SIZ dimensions over the limit are a LimitError; a corrupt marker is an InputError naming the node', () => {
    const b = Uint8Array.from(load('rgb-tileparts-rlcp-30x20.j2k'));
    expect([b[2], b[3]]).to.deep.equal([0xff, 0x51]);
    const big = Uint8Array.from(b);
    big.set([0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00], 8); // Xsiz, Ysiz = 65536
    expect(thrown(() => decode(big))).to.be.instanceOf(LimitError);
    const bad = Uint8Array.from(b);
    const cod = bad.findIndex((v, i) => v === 0xff && bad[i + 1] === 0x52);
    bad[cod + 5] = 9; // progression order 9
    const e = thrown(() => decodeImage(bad, 'my_decoder'));
    expect(e).to.be.instanceOf(InputError);
    expect((e as Error).message).to.contain('my_decoder: ImageDecoder: corrupt JPEG 2000 stream: progression order 9');
  });
});
