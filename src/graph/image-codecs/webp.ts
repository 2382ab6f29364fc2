/**
 * WebP decoding: the RIFF container (simple `VP8 ` and `VP8L` files, and the
 * extended `VP8X` form with an `ALPH` chunk), lossy VP8 key frames (RFC 6386) and
 * lossless VP8L (RFC 9649, in webp-lossless.ts). Computed as libwebp computes it
 * with its defaults, which Pillow uses: the boolean decoder, intra prediction with
 * libwebp's frame borders (127 above, 129 to the left), the exact inverse DCT/WHT,
 * the simple and normal loop filters, and "fancy" upsampling of the 4:2:0 chroma
 * (libwebp's `UpsampleRgbLinePair`) with its 14-bit YUV → RGB formulas. So a file
 * decodes to the same bytes Pillow gives. Animated files are refused (typed
 * error); truncated or corrupt streams are an InputError, sizes over the limit a
 * LimitError before any plane is allocated.
 */
import { checkSize, corrupt, notSupported, type CodecContext, type DecodedImage } from './common.js';
import { AC_QUANT, BMODE_PROBS, COEFF_PROBS, COEFF_UPDATE_PROBS, DC_QUANT } from './webp-tables.js';
import { decodeVp8l, decodeVp8lImageStream } from './webp-lossless.js';

const tag = (b: Uint8Array, at: number): string => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
const u32le = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 16777216;

/** True when the stream is a RIFF file of form WEBP. */
export function isWebp(b: Uint8Array): boolean {
  return b.length >= 12 && tag(b, 0) === 'RIFF' && tag(b, 8) === 'WEBP';
}

// ---------------------------------------------------------------------------
// Boolean entropy decoder (RFC 6386 section 7), kept the way libwebp keeps it:
// `range` is the range minus one, `bits` the number of buffered bits beyond the
// eight the next comparison needs; reading past the end feeds one zero byte and
// sets `eof`, which the caller turns into an error at the next check.

class BoolDecoder {
  private value = 0;
  private bits = -8;
  private range = 254;
  eof = false;
  constructor(private readonly buf: Uint8Array, private pos: number, private readonly end: number) {
    this.load();
  }
  private load(): void {
    if (this.pos < this.end) {
      this.value = ((this.value << 8) | this.buf[this.pos++]!) >>> 0;
      this.bits += 8;
    } else if (!this.eof) {
      this.value = (this.value << 8) >>> 0;
      this.bits += 8;
      this.eof = true;
    } else {
      this.bits = 0;
    }
  }
  /** One bit whose probability of being 0 is `prob` / 256. */
  bit(prob: number): number {
    if (this.bits < 0) this.load();
    let range = this.range;
    const pos = this.bits;
    const split = (range * prob) >>> 8;
    let bit = 0;
    if (this.value >>> pos > split) {
      range -= split;
      this.value -= (split + 1) << pos;
      bit = 1;
    } else {
      range = split + 1;
    }
    const shift = 7 ^ (31 - Math.clz32(range));
    range <<= shift;
    this.bits -= shift;
    this.range = range - 1;
    return bit;
  }
  /** An `n`-bit unsigned literal, most significant bit first. */
  literal(n: number): number {
    let v = 0;
    while (n-- > 0) v |= this.bit(0x80) << n;
    return v;
  }
  /** An `n`-bit magnitude followed by a sign bit. */
  signed(n: number): number {
    const v = this.literal(n);
    return this.bit(0x80) ? -v : v;
  }
  /** A flag; when set, an `n`-bit signed value, else 0. */
  optionalSigned(n: number): number {
    return this.bit(0x80) ? this.signed(n) : 0;
  }
}

// ---------------------------------------------------------------------------
// Modes and trees.

/** Sub-block modes, numbered as the probability table is: DC, TM, VE, HE, RD, VR, LD, VL, HD, HU. */
const B_DC = 0;
const B_TM = 1;
const B_VE = 2;
const B_HE = 3;
const B_RD = 4;
const B_VR = 5;
const B_LD = 6;
const B_VL = 7;
const B_HD = 8;
const B_HU = 9;
/** Whole-block (16×16 luma, 8×8 chroma) modes share the first four numbers. */
const DC_PRED = B_DC;
const TM_PRED = B_TM;
const V_PRED = B_VE;
const H_PRED = B_HE;

/** The key-frame sub-block mode tree (section 11.2): positive entries index the tree, others are -mode. */
const BMODE_TREE = Int8Array.from([-B_DC, 1, -B_TM, 2, -B_VE, 3, 4, 6, -B_HE, 5, -B_RD, -B_VR, -B_LD, 7, -B_VL, 8, -B_HD, -B_HU]);

const ZIGZAG = Uint8Array.from([0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15]);
/** The band of each coefficient position, and a sentinel for position 16. */
const BANDS = Uint8Array.from([0, 1, 2, 3, 6, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 0]);
/** The extra-bit probabilities of DCT_CAT3 … DCT_CAT6 (section 13.2). */
const CAT_PROBS = [[173, 148, 140], [176, 155, 140, 135], [180, 157, 141, 134, 130], [254, 254, 243, 230, 196, 177, 153, 140, 133, 130, 129]];

/** Coefficient plane types: Y after Y2, Y2, chroma, Y with its DC. */
const TYPE_Y_AC = 0;
const TYPE_Y2 = 1;
const TYPE_UV = 2;
const TYPE_Y = 3;

interface Quant {
  y1: [number, number];
  y2: [number, number];
  uv: [number, number];
}

interface FilterInfo {
  /** Edge limit (0: no filtering), interior limit and high-edge-variance threshold. */
  limit: number;
  ilevel: number;
  hevThresh: number;
}

/** The header state the macroblock loop needs. */
interface Frame {
  useSegment: boolean;
  updateMap: boolean;
  segmentProbs: number[];
  filterType: 0 | 1 | 2;
  /** [segment][is4x4]. */
  filters: FilterInfo[][];
  quant: Quant[];
  /** Token probabilities, [type][band][ctx][node] flattened. */
  probs: Uint8Array;
  skipProb: number;
}

const clip = (v: number, m: number): number => (v < 0 ? 0 : v > m ? m : v);
const clip255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/** The frame header in the first partition (section 9.3–9.11): segmentation, loop filter, partitions, quantisers, token probabilities. */
function parseHeader(ctx: CodecContext, br: BoolDecoder): { frame: Frame; parts: number } {
  br.bit(0x80); // colour space
  br.bit(0x80); // clamping type (the decoder always clamps)
  const useSegment = br.bit(0x80) === 1;
  let updateMap = false;
  let absoluteDelta = false;
  const segQuant = [0, 0, 0, 0];
  const segFilter = [0, 0, 0, 0];
  const segmentProbs = [255, 255, 255];
  if (useSegment) {
    updateMap = br.bit(0x80) === 1;
    if (br.bit(0x80)) {
      absoluteDelta = br.bit(0x80) === 1;
      for (let s = 0; s < 4; s++) segQuant[s] = br.optionalSigned(7);
      for (let s = 0; s < 4; s++) segFilter[s] = br.optionalSigned(6);
    }
    if (updateMap) for (let s = 0; s < 3; s++) segmentProbs[s] = br.bit(0x80) ? br.literal(8) : 255;
  }
  const simple = br.bit(0x80) === 1;
  const level = br.literal(6);
  const sharpness = br.literal(3);
  const useLfDelta = br.bit(0x80) === 1;
  const refDelta = [0, 0, 0, 0];
  const modeDelta = [0, 0, 0, 0];
  if (useLfDelta && br.bit(0x80)) {
    for (let i = 0; i < 4; i++) if (br.bit(0x80)) refDelta[i] = br.signed(6);
    for (let i = 0; i < 4; i++) if (br.bit(0x80)) modeDelta[i] = br.signed(6);
  }
  const filterType: 0 | 1 | 2 = level === 0 ? 0 : simple ? 1 : 2;
  if (br.eof) corrupt(ctx, 'truncated frame header');
  const parts = 1 << br.literal(2);

  const baseQ = br.literal(7);
  const dqY1Dc = br.optionalSigned(4);
  const dqY2Dc = br.optionalSigned(4);
  const dqY2Ac = br.optionalSigned(4);
  const dqUvDc = br.optionalSigned(4);
  const dqUvAc = br.optionalSigned(4);
  const quant: Quant[] = [];
  for (let s = 0; s < 4; s++) {
    const q = useSegment ? segQuant[s]! + (absoluteDelta ? 0 : baseQ) : baseQ;
    quant.push({
      y1: [DC_QUANT[clip(q + dqY1Dc, 127)]!, AC_QUANT[clip(q, 127)]!],
      y2: [DC_QUANT[clip(q + dqY2Dc, 127)]! * 2, Math.max(8, (AC_QUANT[clip(q + dqY2Ac, 127)]! * 101581) >> 16)],
      uv: [DC_QUANT[clip(q + dqUvDc, 117)]!, AC_QUANT[clip(q + dqUvAc, 127)]!],
    });
  }

  const filters: FilterInfo[][] = [];
  for (let s = 0; s < 4; s++) {
    const base = useSegment ? segFilter[s]! + (absoluteDelta ? 0 : level) : level;
    const row: FilterInfo[] = [];
    for (let i4 = 0; i4 <= 1; i4++) {
      let lv = base;
      if (useLfDelta) lv += refDelta[0]! + (i4 ? modeDelta[0]! : 0);
      lv = clip(lv, 63);
      if (lv > 0) {
        let ilevel = lv;
        if (sharpness > 0) {
          ilevel >>= sharpness > 4 ? 2 : 1;
          if (ilevel > 9 - sharpness) ilevel = 9 - sharpness;
        }
        if (ilevel < 1) ilevel = 1;
        row.push({ limit: 2 * lv + ilevel, ilevel, hevThresh: lv >= 40 ? 2 : lv >= 15 ? 1 : 0 });
      } else {
        row.push({ limit: 0, ilevel: 0, hevThresh: 0 });
      }
    }
    filters.push(row);
  }

  br.bit(0x80); // refresh_entropy_probs: no later frame to keep them for
  const probs = new Uint8Array(COEFF_PROBS.length);
  for (let i = 0; i < probs.length; i++) probs[i] = br.bit(COEFF_UPDATE_PROBS[i]!) ? br.literal(8) : COEFF_PROBS[i]!;
  const skipProb = br.bit(0x80) ? br.literal(8) : -1;
  if (br.eof) corrupt(ctx, 'truncated frame header');
  return { frame: { useSegment, updateMap, segmentProbs, filterType, filters, quant, probs, skipProb }, parts };
}

// ---------------------------------------------------------------------------
// Residual tokens (section 13).

/**
 * Reads one block's tokens from position `n` into `out` (dequantised, natural
 * order), with the probabilities of plane type `type` and context `ctx`. Returns
 * the position after the last token read (0 when the block ends at once), as
 * libwebp's `GetCoeffs` does.
 */
function readCoeffs(br: BoolDecoder, probs: Uint8Array, type: number, ctx: number, dq: [number, number], n: number, out: Int16Array, at: number): number {
  const base = type * 264;
  let p = base + BANDS[n]! * 33 + ctx * 11;
  for (; n < 16; n++) {
    if (!br.bit(probs[p]!)) return n;
    while (!br.bit(probs[p + 1]!)) {
      if (++n === 16) return 16;
      p = base + BANDS[n]! * 33;
    }
    const next = base + BANDS[n + 1]! * 33;
    let v: number;
    if (!br.bit(probs[p + 2]!)) {
      v = 1;
      p = next + 11;
    } else {
      v = largeValue(br, probs, p);
      p = next + 22;
    }
    if (br.bit(0x80)) v = -v;
    out[at + ZIGZAG[n]!] = v * dq[n > 0 ? 1 : 0];
  }
  return 16;
}

function largeValue(br: BoolDecoder, probs: Uint8Array, p: number): number {
  if (!br.bit(probs[p + 3]!)) {
    if (!br.bit(probs[p + 4]!)) return 2;
    return 3 + br.bit(probs[p + 5]!);
  }
  if (!br.bit(probs[p + 6]!)) {
    if (!br.bit(probs[p + 7]!)) return 5 + br.bit(159);
    return 7 + 2 * br.bit(165) + br.bit(145);
  }
  const b1 = br.bit(probs[p + 8]!);
  const b0 = br.bit(probs[p + 9 + b1]!);
  const cat = 2 * b1 + b0;
  let v = 0;
  for (const prob of CAT_PROBS[cat]!) v = v + v + br.bit(prob);
  return v + 3 + (8 << cat);
}

/** The inverse Walsh–Hadamard transform of the Y2 block into the DC of each luma block. */
function inverseWht(inp: Int16Array, out: Int16Array): void {
  const t = new Int32Array(16);
  for (let i = 0; i < 4; i++) {
    const a0 = inp[i]! + inp[12 + i]!;
    const a1 = inp[4 + i]! + inp[8 + i]!;
    const a2 = inp[4 + i]! - inp[8 + i]!;
    const a3 = inp[i]! - inp[12 + i]!;
    t[i] = a0 + a1;
    t[8 + i] = a0 - a1;
    t[4 + i] = a3 + a2;
    t[12 + i] = a3 - a2;
  }
  for (let i = 0; i < 4; i++) {
    const dc = t[i * 4]! + 3;
    const a0 = dc + t[3 + i * 4]!;
    const a1 = t[1 + i * 4]! + t[2 + i * 4]!;
    const a2 = t[1 + i * 4]! - t[2 + i * 4]!;
    const a3 = dc - t[3 + i * 4]!;
    out[(i * 4 + 0) * 16] = (a0 + a1) >> 3;
    out[(i * 4 + 1) * 16] = (a3 + a2) >> 3;
    out[(i * 4 + 2) * 16] = (a0 - a1) >> 3;
    out[(i * 4 + 3) * 16] = (a3 - a2) >> 3;
  }
}

const mul1 = (a: number): number => ((a * 20091) >> 16) + a;
const mul2 = (a: number): number => (a * 35468) >> 16;
const IDCT_TMP = new Int32Array(16);

/** Adds the inverse DCT of the 16 coefficients at `c[at…]` to the 4×4 pixels at `dst[o…]` (row stride `s`). */
function inverseDctAdd(c: Int16Array, at: number, dst: Uint8Array, o: number, s: number): void {
  const t = IDCT_TMP;
  for (let i = 0; i < 4; i++) {
    const a = c[at + i]! + c[at + 8 + i]!;
    const b = c[at + i]! - c[at + 8 + i]!;
    const cc = mul2(c[at + 4 + i]!) - mul1(c[at + 12 + i]!);
    const d = mul1(c[at + 4 + i]!) + mul2(c[at + 12 + i]!);
    t[i * 4] = a + d;
    t[i * 4 + 1] = b + cc;
    t[i * 4 + 2] = b - cc;
    t[i * 4 + 3] = a - d;
  }
  for (let i = 0; i < 4; i++) {
    const dc = t[i]! + 4;
    const a = dc + t[8 + i]!;
    const b = dc - t[8 + i]!;
    const cc = mul2(t[4 + i]!) - mul1(t[12 + i]!);
    const d = mul1(t[4 + i]!) + mul2(t[12 + i]!);
    const r = o + i * s;
    dst[r] = clip255(dst[r]! + ((a + d) >> 3));
    dst[r + 1] = clip255(dst[r + 1]! + ((b + cc) >> 3));
    dst[r + 2] = clip255(dst[r + 2]! + ((b - cc) >> 3));
    dst[r + 3] = clip255(dst[r + 3]! + ((a - d) >> 3));
  }
}

// ---------------------------------------------------------------------------
// Intra prediction into a work buffer of stride BPS: a row above and columns to
// the left of the block hold its neighbours (libwebp's layout, so the frame
// borders and the above-right samples of 4×4 blocks come out as libwebp's).

const BPS = 32;
const ORIGIN = BPS + 8;

const avg3 = (a: number, b: number, c: number): number => (a + 2 * b + c + 2) >> 2;
const avg2 = (a: number, b: number): number => (a + b + 1) >> 1;

function fill(d: Uint8Array, o: number, size: number, v: number): void {
  for (let y = 0; y < size; y++) d.fill(v, o + y * BPS, o + y * BPS + size);
}

function trueMotion(d: Uint8Array, o: number, size: number): void {
  const tl = d[o - BPS - 1]!;
  for (let y = 0; y < size; y++) {
    const l = d[o + y * BPS - 1]! - tl;
    for (let x = 0; x < size; x++) d[o + y * BPS + x] = clip255(d[o - BPS + x]! + l);
  }
}

/** 16×16 luma or 8×8 chroma prediction; DC takes only the edges that exist. */
function predictBlock(d: Uint8Array, o: number, size: number, mode: number, hasTop: boolean, hasLeft: boolean): void {
  if (mode === DC_PRED) {
    const shift = size === 16 ? 4 : 3;
    let sum = 0;
    if (hasTop) for (let i = 0; i < size; i++) sum += d[o - BPS + i]!;
    if (hasLeft) for (let i = 0; i < size; i++) sum += d[o + i * BPS - 1]!;
    const dc = hasTop && hasLeft ? (sum + size) >> (shift + 1) : hasTop || hasLeft ? (sum + (size >> 1)) >> shift : 0x80;
    fill(d, o, size, dc);
  } else if (mode === TM_PRED) {
    trueMotion(d, o, size);
  } else if (mode === V_PRED) {
    for (let y = 0; y < size; y++) d.copyWithin(o + y * BPS, o - BPS, o - BPS + size);
  } else {
    for (let y = 0; y < size; y++) d.fill(d[o + y * BPS - 1]!, o + y * BPS, o + y * BPS + size);
  }
}

/** 4×4 sub-block prediction (section 12.3), the edge samples named as there. */
function predict4(d: Uint8Array, o: number, mode: number): void {
  const at = (x: number, y: number, v: number): void => {
    d[o + x + y * BPS] = v;
  };
  const T = (i: number): number => d[o - BPS + i]!; // above row, -1 … 7
  const L = (i: number): number => d[o - 1 + i * BPS]!; // left column, 0 … 3
  switch (mode) {
    case B_DC: {
      let dc = 4;
      for (let i = 0; i < 4; i++) dc += T(i) + L(i);
      fill(d, o, 4, dc >> 3);
      return;
    }
    case B_TM:
      trueMotion(d, o, 4);
      return;
    case B_VE: {
      for (let x = 0; x < 4; x++) {
        const v = avg3(T(x - 1), T(x), T(x + 1));
        for (let y = 0; y < 4; y++) at(x, y, v);
      }
      return;
    }
    case B_HE: {
      const A = T(-1);
      const B = L(0);
      const C = L(1);
      const D = L(2);
      const E = L(3);
      const rows = [avg3(A, B, C), avg3(B, C, D), avg3(C, D, E), avg3(D, E, E)];
      for (let y = 0; y < 4; y++) d.fill(rows[y]!, o + y * BPS, o + y * BPS + 4);
      return;
    }
    case B_RD: {
      // Edge e[0..8] = L3, L2, L1, L0, X, A, B, C, D; pixel (x, y) = avg3 around e[4 - y + x].
      const e = [L(3), L(2), L(1), L(0), T(-1), T(0), T(1), T(2), T(3)];
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) at(x, y, avg3(e[3 - y + x]!, e[4 - y + x]!, e[5 - y + x]!));
      return;
    }
    case B_LD: {
      const t = [T(0), T(1), T(2), T(3), T(4), T(5), T(6), T(7), T(7)];
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) at(x, y, avg3(t[x + y]!, t[x + y + 1]!, t[x + y + 2]!));
      return;
    }
    case B_VR: {
      const I = L(0);
      const J = L(1);
      const K = L(2);
      const X = T(-1);
      const A = T(0);
      const B = T(1);
      const C = T(2);
      const D = T(3);
      at(0, 0, avg2(X, A)); at(1, 2, avg2(X, A));
      at(1, 0, avg2(A, B)); at(2, 2, avg2(A, B));
      at(2, 0, avg2(B, C)); at(3, 2, avg2(B, C));
      at(3, 0, avg2(C, D));
      at(0, 3, avg3(K, J, I));
      at(0, 2, avg3(J, I, X));
      at(0, 1, avg3(I, X, A)); at(1, 3, avg3(I, X, A));
      at(1, 1, avg3(X, A, B)); at(2, 3, avg3(X, A, B));
      at(2, 1, avg3(A, B, C)); at(3, 3, avg3(A, B, C));
      at(3, 1, avg3(B, C, D));
      return;
    }
    case B_VL: {
      const A = T(0);
      const B = T(1);
      const C = T(2);
      const D = T(3);
      const E = T(4);
      const F = T(5);
      const G = T(6);
      const H = T(7);
      at(0, 0, avg2(A, B));
      at(1, 0, avg2(B, C)); at(0, 2, avg2(B, C));
      at(2, 0, avg2(C, D)); at(1, 2, avg2(C, D));
      at(3, 0, avg2(D, E)); at(2, 2, avg2(D, E));
      at(0, 1, avg3(A, B, C));
      at(1, 1, avg3(B, C, D)); at(0, 3, avg3(B, C, D));
      at(2, 1, avg3(C, D, E)); at(1, 3, avg3(C, D, E));
      at(3, 1, avg3(D, E, F)); at(2, 3, avg3(D, E, F));
      at(3, 2, avg3(E, F, G));
      at(3, 3, avg3(F, G, H));
      return;
    }
    case B_HD: {
      const I = L(0);
      const J = L(1);
      const K = L(2);
      const Ll = L(3);
      const X = T(-1);
      const A = T(0);
      const B = T(1);
      const C = T(2);
      at(0, 0, avg2(I, X)); at(2, 1, avg2(I, X));
      at(0, 1, avg2(J, I)); at(2, 2, avg2(J, I));
      at(0, 2, avg2(K, J)); at(2, 3, avg2(K, J));
      at(0, 3, avg2(Ll, K));
      at(3, 0, avg3(A, B, C));
      at(2, 0, avg3(X, A, B));
      at(1, 0, avg3(I, X, A)); at(3, 1, avg3(I, X, A));
      at(1, 1, avg3(J, I, X)); at(3, 2, avg3(J, I, X));
      at(1, 2, avg3(K, J, I)); at(3, 3, avg3(K, J, I));
      at(1, 3, avg3(Ll, K, J));
      return;
    }
    default: {
      // B_HU
      const I = L(0);
      const J = L(1);
      const K = L(2);
      const Ll = L(3);
      at(0, 0, avg2(I, J));
      at(2, 0, avg2(J, K)); at(0, 1, avg2(J, K));
      at(2, 1, avg2(K, Ll)); at(0, 2, avg2(K, Ll));
      at(1, 0, avg3(I, J, K));
      at(3, 0, avg3(J, K, Ll)); at(1, 1, avg3(J, K, Ll));
      at(3, 1, avg3(K, Ll, Ll)); at(1, 2, avg3(K, Ll, Ll));
      at(3, 2, Ll); at(2, 2, Ll); at(0, 3, Ll); at(1, 3, Ll); at(2, 3, Ll); at(3, 3, Ll);
    }
  }
}

// ---------------------------------------------------------------------------
// Loop filter (section 15), on the whole reconstructed frame in macroblock order.

const sclip1 = (v: number): number => (v < -128 ? -128 : v > 127 ? 127 : v);
const sclip2 = (v: number): number => (v < -16 ? -16 : v > 15 ? 15 : v);

function needsFilter(p: Uint8Array, i: number, step: number, t: number): boolean {
  return 4 * Math.abs(p[i - step]! - p[i]!) + Math.abs(p[i - 2 * step]! - p[i + step]!) <= t;
}

function needsFilter2(p: Uint8Array, i: number, step: number, t: number, it: number): boolean {
  const p3 = p[i - 4 * step]!, p2 = p[i - 3 * step]!, p1 = p[i - 2 * step]!, p0 = p[i - step]!;
  const q0 = p[i]!, q1 = p[i + step]!, q2 = p[i + 2 * step]!, q3 = p[i + 3 * step]!;
  if (4 * Math.abs(p0 - q0) + Math.abs(p1 - q1) > t) return false;
  return Math.abs(p3 - p2) <= it && Math.abs(p2 - p1) <= it && Math.abs(p1 - p0) <= it && Math.abs(q3 - q2) <= it && Math.abs(q2 - q1) <= it && Math.abs(q1 - q0) <= it;
}

function hev(p: Uint8Array, i: number, step: number, t: number): boolean {
  return Math.abs(p[i - 2 * step]! - p[i - step]!) > t || Math.abs(p[i + step]! - p[i]!) > t;
}

/** The common adjustment of p0/q0 (the simple filter, and the normal one at high-variance edges). */
function filter2(p: Uint8Array, i: number, step: number): void {
  const p1 = p[i - 2 * step]!, p0 = p[i - step]!, q0 = p[i]!, q1 = p[i + step]!;
  const a = 3 * (q0 - p0) + sclip1(p1 - q1);
  const a1 = sclip2((a + 4) >> 3);
  const a2 = sclip2((a + 3) >> 3);
  p[i - step] = clip255(p0 + a2);
  p[i] = clip255(q0 - a1);
}

/** The normal filter's inner-edge adjustment of p1, p0, q0, q1. */
function filter4(p: Uint8Array, i: number, step: number): void {
  const p1 = p[i - 2 * step]!, p0 = p[i - step]!, q0 = p[i]!, q1 = p[i + step]!;
  const a = 3 * (q0 - p0);
  const a1 = sclip2((a + 4) >> 3);
  const a2 = sclip2((a + 3) >> 3);
  const a3 = (a1 + 1) >> 1;
  p[i - 2 * step] = clip255(p1 + a3);
  p[i - step] = clip255(p0 + a2);
  p[i] = clip255(q0 - a1);
  p[i + step] = clip255(q1 - a3);
}

/** The normal filter's macroblock-edge adjustment of three pixels each side. */
function filter6(p: Uint8Array, i: number, step: number): void {
  const p2 = p[i - 3 * step]!, p1 = p[i - 2 * step]!, p0 = p[i - step]!;
  const q0 = p[i]!, q1 = p[i + step]!, q2 = p[i + 2 * step]!;
  const a = sclip1(3 * (q0 - p0) + sclip1(p1 - q1));
  const a1 = (27 * a + 63) >> 7;
  const a2 = (18 * a + 63) >> 7;
  const a3 = (9 * a + 63) >> 7;
  p[i - 3 * step] = clip255(p2 + a3);
  p[i - 2 * step] = clip255(p1 + a2);
  p[i - step] = clip255(p0 + a1);
  p[i] = clip255(q0 - a1);
  p[i + step] = clip255(q1 - a2);
  p[i + 2 * step] = clip255(q2 - a3);
}

/**
 * Filters `size` pixels along one edge: `step` crosses the edge, `along` moves
 * along it. `mbEdge` picks the 6-tap macroblock-edge filter over the 4-tap one.
 */
function normalEdge(p: Uint8Array, i: number, step: number, along: number, size: number, limit: number, ilevel: number, hevT: number, mbEdge: boolean): void {
  const t = 2 * limit + 1;
  for (let k = 0; k < size; k++, i += along) {
    if (!needsFilter2(p, i, step, t, ilevel)) continue;
    if (hev(p, i, step, hevT)) filter2(p, i, step);
    else if (mbEdge) filter6(p, i, step);
    else filter4(p, i, step);
  }
}

function simpleEdge(p: Uint8Array, i: number, step: number, along: number, limit: number): void {
  const t = 2 * limit + 1;
  for (let k = 0; k < 16; k++, i += along) if (needsFilter(p, i, step, t)) filter2(p, i, step);
}

interface Planes {
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
  ys: number;
  uvs: number;
}

function filterMb(pl: Planes, type: 1 | 2, mx: number, my: number, f: FilterInfo, inner: boolean): void {
  const { limit, ilevel, hevThresh } = f;
  if (limit === 0) return;
  const ys = pl.ys;
  const yo = my * 16 * ys + mx * 16;
  if (type === 1) {
    if (mx > 0) simpleEdge(pl.y, yo, 1, ys, limit + 4);
    if (inner) for (let k = 4; k < 16; k += 4) simpleEdge(pl.y, yo + k, 1, ys, limit);
    if (my > 0) simpleEdge(pl.y, yo, ys, 1, limit + 4);
    if (inner) for (let k = 4; k < 16; k += 4) simpleEdge(pl.y, yo + k * ys, ys, 1, limit);
    return;
  }
  const uvs = pl.uvs;
  const uo = my * 8 * uvs + mx * 8;
  if (mx > 0) {
    normalEdge(pl.y, yo, 1, ys, 16, limit + 4, ilevel, hevThresh, true);
    normalEdge(pl.u, uo, 1, uvs, 8, limit + 4, ilevel, hevThresh, true);
    normalEdge(pl.v, uo, 1, uvs, 8, limit + 4, ilevel, hevThresh, true);
  }
  if (inner) {
    for (let k = 4; k < 16; k += 4) normalEdge(pl.y, yo + k, 1, ys, 16, limit, ilevel, hevThresh, false);
    normalEdge(pl.u, uo + 4, 1, uvs, 8, limit, ilevel, hevThresh, false);
    normalEdge(pl.v, uo + 4, 1, uvs, 8, limit, ilevel, hevThresh, false);
  }
  if (my > 0) {
    normalEdge(pl.y, yo, ys, 1, 16, limit + 4, ilevel, hevThresh, true);
    normalEdge(pl.u, uo, uvs, 1, 8, limit + 4, ilevel, hevThresh, true);
    normalEdge(pl.v, uo, uvs, 1, 8, limit + 4, ilevel, hevThresh, true);
  }
  if (inner) {
    for (let k = 4; k < 16; k += 4) normalEdge(pl.y, yo + k * ys, ys, 1, 16, limit, ilevel, hevThresh, false);
    normalEdge(pl.u, uo + 4 * uvs, uvs, 1, 8, limit, ilevel, hevThresh, false);
    normalEdge(pl.v, uo + 4 * uvs, uvs, 1, 8, limit, ilevel, hevThresh, false);
  }
}

// ---------------------------------------------------------------------------
// The macroblock loop.

/** Decodes a VP8 key frame (the payload of a `VP8 ` chunk) to its Y, U, V planes, padded to whole macroblocks. */
function decodeVp8Planes(ctx: CodecContext, b: Uint8Array): Planes & { width: number; height: number } {
  if (b.length < 10) corrupt(ctx, 'truncated VP8 frame header');
  const bits = b[0]! | (b[1]! << 8) | (b[2]! << 16);
  if (bits & 1) corrupt(ctx, 'the VP8 frame is not a key frame');
  if (((bits >> 1) & 7) > 3) corrupt(ctx, `VP8 profile ${(bits >> 1) & 7}`);
  if (!((bits >> 4) & 1)) corrupt(ctx, 'the VP8 frame is not shown');
  const firstPart = bits >>> 5;
  if (b[3] !== 0x9d || b[4] !== 0x01 || b[5] !== 0x2a) corrupt(ctx, 'bad VP8 start code');
  const width = (b[6]! | (b[7]! << 8)) & 0x3fff;
  const height = (b[8]! | (b[9]! << 8)) & 0x3fff;
  checkSize(ctx, width, height);
  if (firstPart > b.length - 10) corrupt(ctx, `first partition of ${firstPart} bytes in a ${b.length}-byte frame`);
  const mbw = (width + 15) >> 4;
  const mbh = (height + 15) >> 4;
  const br = new BoolDecoder(b, 10, 10 + firstPart);
  const { frame: f, parts } = parseHeader(ctx, br);

  // Token partitions: sizes of all but the last, 3 bytes each, then the data.
  let at = 10 + firstPart;
  const sizesAt = at;
  if (b.length - at < 3 * (parts - 1)) corrupt(ctx, 'truncated partition sizes');
  at += 3 * (parts - 1);
  const tokens: BoolDecoder[] = [];
  for (let p = 0; p < parts - 1; p++) {
    const s = sizesAt + 3 * p;
    const size = Math.min(b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16), b.length - at);
    tokens.push(new BoolDecoder(b, at, at + size));
    at += size;
  }
  if (at >= b.length) corrupt(ctx, 'the last token partition is empty');
  tokens.push(new BoolDecoder(b, at, b.length));

  const ys = mbw * 16;
  const uvs = mbw * 8;
  const pl: Planes = { y: new Uint8Array(ys * mbh * 16), u: new Uint8Array(uvs * mbh * 8), v: new Uint8Array(uvs * mbh * 8), ys, uvs };
  const wy = new Uint8Array(BPS * 17 + 8);
  const wu = new Uint8Array(BPS * 9 + 8);
  const wv = new Uint8Array(BPS * 9 + 8);
  // Unfiltered bottom rows of the macroblock row above, for prediction.
  const topY = new Uint8Array(ys);
  const topU = new Uint8Array(uvs);
  const topV = new Uint8Array(uvs);
  // Sub-block modes along the top and left edges (the contexts of B_PRED mode parsing).
  const modesTop = new Uint8Array(mbw * 4);
  const modesLeft = new Uint8Array(4);
  // Non-zero flags: per 4×4 column above (4 Y, 2 U, 2 V per macroblock) and along the left; Y2 separately.
  const nzTop = new Uint8Array(mbw * 8);
  const nzLeft = new Uint8Array(8);
  const nzDcTop = new Uint8Array(mbw);
  let nzDcLeft = 0;
  const coeffs = new Int16Array(384);
  const y2 = new Int16Array(16);
  const imodes = new Uint8Array(16);
  // Per macroblock: filter info and whether inner edges are filtered.
  const mbFilter: FilterInfo[] = new Array(mbw * mbh);
  const mbInner = new Uint8Array(mbw * mbh);

  for (let my = 0; my < mbh; my++) {
    const tk = tokens[my & (parts - 1)]!;
    modesLeft.fill(B_DC);
    nzLeft.fill(0);
    nzDcLeft = 0;
    for (let j = 0; j < 16; j++) wy[ORIGIN + j * BPS - 1] = 129;
    for (let j = 0; j < 8; j++) wu[ORIGIN + j * BPS - 1] = wv[ORIGIN + j * BPS - 1] = 129;
    if (my > 0) {
      wy[ORIGIN - BPS - 1] = wu[ORIGIN - BPS - 1] = wv[ORIGIN - BPS - 1] = 129;
    } else {
      wy.fill(127, ORIGIN - BPS - 1, ORIGIN - BPS + 20);
      wu.fill(127, ORIGIN - BPS - 1, ORIGIN - BPS + 8);
      wv.fill(127, ORIGIN - BPS - 1, ORIGIN - BPS + 8);
    }
    for (let mx = 0; mx < mbw; mx++) {
      // Modes, from the first partition.
      const segment = f.updateMap ? (!br.bit(f.segmentProbs[0]!) ? br.bit(f.segmentProbs[1]!) : 2 + br.bit(f.segmentProbs[2]!)) : 0;
      const skipFlag = f.skipProb >= 0 ? br.bit(f.skipProb) === 1 : false;
      const is4x4 = !br.bit(145);
      let ymode = DC_PRED;
      if (!is4x4) {
        ymode = br.bit(156) ? (br.bit(128) ? TM_PRED : H_PRED) : br.bit(163) ? V_PRED : DC_PRED;
        modesTop.fill(ymode, mx * 4, mx * 4 + 4);
        modesLeft.fill(ymode);
      } else {
        for (let y = 0; y < 4; y++) {
          let left = modesLeft[y]!;
          for (let x = 0; x < 4; x++) {
            const pr = (modesTop[mx * 4 + x]! * 10 + left) * 9;
            let i = BMODE_TREE[br.bit(BMODE_PROBS[pr]!)]!;
            while (i > 0) i = BMODE_TREE[2 * i + br.bit(BMODE_PROBS[pr + i]!)]!;
            left = -i;
            modesTop[mx * 4 + x] = left;
            imodes[y * 4 + x] = left;
          }
          modesLeft[y] = left;
        }
      }
      const uvmode = !br.bit(142) ? DC_PRED : !br.bit(114) ? V_PRED : br.bit(183) ? TM_PRED : H_PRED;
      if (br.eof) corrupt(ctx, `first partition ends early (macroblock ${mx}, ${my})`);

      // Residuals, from this row's token partition.
      coeffs.fill(0);
      let anyNonZero = false;
      const q = f.quant[segment]!;
      if (!skipFlag) {
        let first = 0;
        let acType = TYPE_Y;
        if (!is4x4) {
          y2.fill(0);
          const nz = readCoeffs(tk, f.probs, TYPE_Y2, nzDcTop[mx]! + nzDcLeft, q.y2, 0, y2, 0);
          nzDcTop[mx] = nzDcLeft = nz > 0 ? 1 : 0;
          if (nz > 1) inverseWht(y2, coeffs);
          else {
            const dc0 = (y2[0]! + 3) >> 3;
            for (let i = 0; i < 256; i += 16) coeffs[i] = dc0;
          }
          first = 1;
          acType = TYPE_Y_AC;
        }
        for (let y = 0; y < 4; y++) {
          let l = nzLeft[y]!;
          for (let x = 0; x < 4; x++) {
            const blk = (y * 4 + x) * 16;
            const nz = readCoeffs(tk, f.probs, acType, l + nzTop[mx * 8 + x]!, q.y1, first, coeffs, blk);
            l = nz > first ? 1 : 0;
            nzTop[mx * 8 + x] = l;
            if (nz > 1 || coeffs[blk] !== 0) anyNonZero = true;
          }
          nzLeft[y] = l;
        }
        for (let ch = 0; ch < 2; ch++) {
          for (let y = 0; y < 2; y++) {
            let l = nzLeft[4 + ch * 2 + y]!;
            for (let x = 0; x < 2; x++) {
              const blk = 256 + ch * 64 + (y * 2 + x) * 16;
              const nz = readCoeffs(tk, f.probs, TYPE_UV, l + nzTop[mx * 8 + 4 + ch * 2 + x]!, q.uv, 0, coeffs, blk);
              l = nz > 0 ? 1 : 0;
              nzTop[mx * 8 + 4 + ch * 2 + x] = l;
              if (nz > 1 || coeffs[blk] !== 0) anyNonZero = true;
            }
            nzLeft[4 + ch * 2 + y] = l;
          }
        }
        if (tk.eof) corrupt(ctx, `token partition ends early (macroblock ${mx}, ${my})`);
      } else {
        nzTop.fill(0, mx * 8, mx * 8 + 8);
        nzLeft.fill(0);
        if (!is4x4) nzDcTop[mx] = nzDcLeft = 0;
      }
      mbFilter[my * mbw + mx] = f.filters[segment]![is4x4 ? 1 : 0]!;
      mbInner[my * mbw + mx] = is4x4 || anyNonZero ? 1 : 0;

      // Reconstruction in the work buffers.
      if (mx > 0) {
        for (let j = -1; j < 16; j++) wy.copyWithin(ORIGIN + j * BPS - 4, ORIGIN + j * BPS + 12, ORIGIN + j * BPS + 16);
        for (let j = -1; j < 8; j++) {
          wu.copyWithin(ORIGIN + j * BPS - 4, ORIGIN + j * BPS + 4, ORIGIN + j * BPS + 8);
          wv.copyWithin(ORIGIN + j * BPS - 4, ORIGIN + j * BPS + 4, ORIGIN + j * BPS + 8);
        }
      }
      if (my > 0) {
        wy.set(topY.subarray(mx * 16, mx * 16 + 16), ORIGIN - BPS);
        wu.set(topU.subarray(mx * 8, mx * 8 + 8), ORIGIN - BPS);
        wv.set(topV.subarray(mx * 8, mx * 8 + 8), ORIGIN - BPS);
      }
      if (is4x4) {
        const tr = ORIGIN - BPS + 16;
        if (my > 0) {
          if (mx === mbw - 1) wy.fill(topY[mx * 16 + 15]!, tr, tr + 4);
          else wy.set(topY.subarray(mx * 16 + 16, mx * 16 + 20), tr);
        }
        for (const r of [4, 8, 12]) wy.copyWithin(tr + r * BPS, tr, tr + 4);
        for (let n = 0; n < 16; n++) {
          const o = ORIGIN + (n >> 2) * 4 * BPS + (n & 3) * 4;
          predict4(wy, o, imodes[n]!);
          inverseDctAdd(coeffs, n * 16, wy, o, BPS);
        }
      } else {
        predictBlock(wy, ORIGIN, 16, ymode, my > 0, mx > 0);
        for (let n = 0; n < 16; n++) inverseDctAdd(coeffs, n * 16, wy, ORIGIN + (n >> 2) * 4 * BPS + (n & 3) * 4, BPS);
      }
      predictBlock(wu, ORIGIN, 8, uvmode, my > 0, mx > 0);
      predictBlock(wv, ORIGIN, 8, uvmode, my > 0, mx > 0);
      for (let n = 0; n < 4; n++) {
        const o = ORIGIN + (n >> 1) * 4 * BPS + (n & 1) * 4;
        inverseDctAdd(coeffs, 256 + n * 16, wu, o, BPS);
        inverseDctAdd(coeffs, 320 + n * 16, wv, o, BPS);
      }
      if (my < mbh - 1) {
        topY.set(wy.subarray(ORIGIN + 15 * BPS, ORIGIN + 15 * BPS + 16), mx * 16);
        topU.set(wu.subarray(ORIGIN + 7 * BPS, ORIGIN + 7 * BPS + 8), mx * 8);
        topV.set(wv.subarray(ORIGIN + 7 * BPS, ORIGIN + 7 * BPS + 8), mx * 8);
      }
      for (let j = 0; j < 16; j++) pl.y.set(wy.subarray(ORIGIN + j * BPS, ORIGIN + j * BPS + 16), (my * 16 + j) * ys + mx * 16);
      for (let j = 0; j < 8; j++) {
        pl.u.set(wu.subarray(ORIGIN + j * BPS, ORIGIN + j * BPS + 8), (my * 8 + j) * uvs + mx * 8);
        pl.v.set(wv.subarray(ORIGIN + j * BPS, ORIGIN + j * BPS + 8), (my * 8 + j) * uvs + mx * 8);
      }
    }
  }
  if (f.filterType !== 0) {
    for (let my = 0; my < mbh; my++) {
      for (let mx = 0; mx < mbw; mx++) filterMb(pl, f.filterType, mx, my, mbFilter[my * mbw + mx]!, mbInner[my * mbw + mx] === 1);
    }
  }
  return { ...pl, width, height };
}

// ---------------------------------------------------------------------------
// YUV 4:2:0 → RGB as libwebp's fancy upsampler and `VP8YuvToRgb` compute it.

const mulHi = (v: number, c: number): number => (v * c) >> 8;
const clip8 = (v: number): number => ((v & ~16383) === 0 ? v >> 6 : v < 0 ? 0 : 255);

function putRgb(out: Uint8Array, o: number, y: number, u: number, v: number): void {
  const yy = mulHi(y, 19077);
  out[o] = clip8(yy + mulHi(v, 26149) - 14234);
  out[o + 1] = clip8(yy - mulHi(u, 6419) - mulHi(v, 13320) + 8708);
  out[o + 2] = clip8(yy + mulHi(u, 33050) - 17685);
}

/**
 * One output row from luma row `yRow` and the chroma rows `near` (weight 3) and
 * `far` (weight 1), interpolated horizontally as libwebp's `UpsampleRgbLinePair`
 * (including its rounding through the diagonal averages).
 */
function upsampleRow(pl: Planes, width: number, yRow: number, near: number, far: number, out: Uint8Array, o: number, ch: number): void {
  const Y = pl.y;
  const yo = yRow * pl.ys;
  const no = near * pl.uvs;
  const fo = far * pl.uvs;
  const line = (c: Uint8Array, dst: number[]): void => {
    // For each output pixel, the chroma sample (3·near + far and the horizontal interpolation).
    let tl = c[no]!;
    let l = c[fo]!;
    dst[0] = (3 * tl + l + 2) >> 2;
    const last = (width - 1) >> 1;
    for (let x = 1; x <= last; x++) {
      const t = c[no + x]!;
      const uv = c[fo + x]!;
      const avg = tl + t + l + uv + 8;
      const d12 = (avg + 2 * (t + l)) >> 3;
      const d03 = (avg + 2 * (tl + uv)) >> 3;
      dst[2 * x - 1] = (d12 + tl) >> 1;
      dst[2 * x] = (d03 + t) >> 1;
      tl = t;
      l = uv;
    }
    if (!(width & 1)) dst[width - 1] = (3 * tl + l + 2) >> 2;
  };
  const us: number[] = new Array(width);
  const vs: number[] = new Array(width);
  line(pl.u, us);
  line(pl.v, vs);
  for (let x = 0; x < width; x++) putRgb(out, o + x * ch, Y[yo + x]!, us[x]!, vs[x]!);
}

/**
 * The bottom row of a pair in libwebp's upsampler weights the chroma rows the
 * other way and swaps the diagonals; with `near`/`far` swapped the same
 * arithmetic gives it, because the formulas are symmetric in (top, current) up
 * to that exchange.
 */
function yuvToRgb(pl: Planes, width: number, height: number, out: Uint8Array, ch: number): void {
  const rowBytes = width * ch;
  upsampleRow(pl, width, 0, 0, 0, out, 0, ch);
  let k = 1;
  for (; 2 * k <= height - 1; k++) {
    upsampleRow(pl, width, 2 * k - 1, k - 1, k, out, (2 * k - 1) * rowBytes, ch);
    upsampleRow(pl, width, 2 * k, k, k - 1, out, 2 * k * rowBytes, ch);
  }
  if (!(height & 1) && height > 1) upsampleRow(pl, width, height - 1, k - 1, k - 1, out, (height - 1) * rowBytes, ch);
}

// ---------------------------------------------------------------------------
// Alpha (the ALPH chunk).

function decodeAlpha(ctx: CodecContext, a: Uint8Array, width: number, height: number): Uint8Array {
  if (a.length < 1) corrupt(ctx, 'empty ALPH chunk');
  const method = a[0]! & 3;
  const filter = (a[0]! >> 2) & 3;
  if (((a[0]! >> 6) & 3) !== 0) corrupt(ctx, 'ALPH reserved bits set');
  if (method > 1) corrupt(ctx, `ALPH compression method ${method}`);
  let alpha: Uint8Array;
  if (method === 0) {
    if (a.length - 1 < width * height) corrupt(ctx, 'truncated ALPH data');
    alpha = a.slice(1, 1 + width * height);
  } else {
    const argb = decodeVp8lImageStream(ctx, a.subarray(1), width, height);
    alpha = new Uint8Array(width * height);
    for (let i = 0; i < alpha.length; i++) alpha[i] = (argb[i]! >>> 8) & 0xff;
  }
  // Unfiltering: each sample is a delta from its predictor (left, above, or the clamped gradient).
  if (filter !== 0) {
    for (let y = 0; y < height; y++) {
      const r = y * width;
      for (let x = 0; x < width; x++) {
        let pred: number;
        if (y === 0) pred = x === 0 ? 0 : alpha[r + x - 1]!;
        else if (x === 0) pred = alpha[r - width]!;
        else if (filter === 1) pred = alpha[r + x - 1]!;
        else if (filter === 2) pred = alpha[r - width + x]!;
        else pred = clip255(alpha[r + x - 1]! + alpha[r - width + x]! - alpha[r - width + x - 1]!);
        alpha[r + x] = (alpha[r + x]! + pred) & 0xff;
      }
    }
  }
  return alpha;
}

// ---------------------------------------------------------------------------
// The container.

interface Chunk {
  readonly tag: string;
  readonly data: Uint8Array;
}

function chunks(ctx: CodecContext, b: Uint8Array): Chunk[] {
  const riffSize = u32le(b, 4);
  if (riffSize < 4 || riffSize + 8 > b.length) corrupt(ctx, `RIFF size ${riffSize} in a ${b.length}-byte stream`);
  const end = riffSize + 8;
  const out: Chunk[] = [];
  let at = 12;
  while (at + 8 <= end) {
    const size = u32le(b, at + 4);
    if (size > end - at - 8) corrupt(ctx, `chunk '${tag(b, at).replace(/[^ -~]/g, '?')}' of ${size} bytes runs past the end`);
    out.push({ tag: tag(b, at), data: b.subarray(at + 8, at + 8 + size) });
    at += 8 + size + (size & 1);
  }
  if (out.length === 0) corrupt(ctx, 'no chunks');
  return out;
}

/** Decodes a WebP file to RGB (or RGBA when it has alpha). */
export function decodeWebp(b: Uint8Array, node: string): DecodedImage {
  const ctx: CodecContext = { node, format: 'WebP' };
  const list = chunks(ctx, b);
  const first = list[0]!;
  let image: Chunk | undefined;
  let alph: Chunk | undefined;
  let canvas: [number, number] | undefined;
  if (first.tag === 'VP8X') {
    if (first.data.length < 10) corrupt(ctx, 'truncated VP8X chunk');
    const flags = first.data[0]!;
    if (flags & 0x02) notSupported(ctx, 'animated WebP');
    canvas = [1 + (first.data[4]! | (first.data[5]! << 8) | (first.data[6]! << 16)), 1 + (first.data[7]! | (first.data[8]! << 8) | (first.data[9]! << 16))];
    checkSize(ctx, canvas[0], canvas[1]);
    for (const c of list.slice(1)) {
      if (c.tag === 'ANIM' || c.tag === 'ANMF') notSupported(ctx, 'animated WebP');
      if (c.tag === 'ALPH' && !image && !alph) alph = c;
      if ((c.tag === 'VP8 ' || c.tag === 'VP8L') && !image) image = c;
    }
  } else {
    image = first;
  }
  if (!image || (image.tag !== 'VP8 ' && image.tag !== 'VP8L')) corrupt(ctx, `no VP8 or VP8L image chunk (first chunk '${first.tag.replace(/[^ -~]/g, '?')}')`);
  let result: DecodedImage;
  if (image.tag === 'VP8L') {
    result = decodeVp8l(ctx, image.data);
  } else {
    const pl = decodeVp8Planes(ctx, image.data);
    const ch = alph ? 4 : 3;
    const data = new Uint8Array(pl.width * pl.height * ch);
    yuvToRgb(pl, pl.width, pl.height, data, ch);
    if (alph) {
      const alpha = decodeAlpha(ctx, alph.data, pl.width, pl.height);
      for (let i = 0; i < alpha.length; i++) data[i * 4 + 3] = alpha[i]!;
    }
    result = { width: pl.width, height: pl.height, channels: ch, data };
  }
  if (canvas && (canvas[0] !== result.width || canvas[1] !== result.height)) {
    corrupt(ctx, `canvas ${canvas[0]} × ${canvas[1]} but image ${result.width} × ${result.height}`);
  }
  return result;
}
