/**
 * Baseline JPEG decoding (SOF0/SOF1: 8-bit, Huffman, sequential; interleaved or
 * one component per scan; restart intervals), computed as libjpeg-turbo computes it
 * with its defaults, which Pillow and OpenCV use: the accurate integer IDCT
 * (`jidctint.c`, 13-bit constants, 2 extra bits between passes, libjpeg's
 * range-limit table), "fancy" triangular upsampling of subsampled chroma (h2v1,
 * h1v2, h2v2; edge samples replicated; other ratios replicate samples), and the
 * fixed-point YCbCr → RGB tables of `jdcolor.c`. So a baseline file decodes to the
 * same bytes as Pillow gives. One component is gray; three are YCbCr, or RGB when
 * an Adobe marker says so (transform 0). Progressive, arithmetic-coded, lossless,
 * 12-bit and CMYK JPEGs are not supported (typed error).
 */
import { checkSize, corrupt, notSupported, type CodecContext, type DecodedImage } from './common.js';

/** True when the stream starts with SOI and a marker. */
export function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/** A Huffman table in libjpeg's decoding form: per code length the largest code and where its symbols start. */
interface HuffTable {
  readonly maxcode: Int32Array;
  readonly valptr: Int32Array;
  readonly mincode: Int32Array;
  readonly values: Uint8Array;
}

interface Component {
  readonly id: number;
  readonly h: number;
  readonly v: number;
  readonly tq: number;
  /** Blocks per row and column, padded to whole MCUs. */
  bw: number;
  bh: number;
  /** Size in samples of the component's real (downsampled) data. */
  readonly dw: number;
  readonly dh: number;
  coefs: Int32Array;
  pred: number;
  dc?: HuffTable;
  ac?: HuffTable;
}

function buildHuff(counts: Uint8Array, values: Uint8Array, ctx: CodecContext): HuffTable {
  const maxcode = new Int32Array(18).fill(-1);
  const mincode = new Int32Array(17);
  const valptr = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1]!;
    if (n) {
      valptr[len] = k;
      mincode[len] = code;
      code += n;
      k += n;
      maxcode[len] = code - 1;
    }
    if (code > 1 << len) corrupt(ctx, 'bad Huffman table');
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { maxcode, valptr, mincode, values };
}

/** The post-IDCT range-limit of libjpeg (`prepare_range_limit_table`), indexed by (x & 1023). */
const IDCT_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) t[i] = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
  return t;
})();

const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/**
 * One 8-point pass of libjpeg's accurate integer IDCT (`jpeg_idct_islow`): inputs
 * x0..x7, the eight undescaled outputs into `r` (scaled by 2^13). Every product fits
 * a double exactly.
 */
function idct8(x0: number, x1: number, x2: number, x3: number, x4: number, x5: number, x6: number, x7: number, r: Float64Array): void {
  const z1e = (x2 + x6) * FIX_0_541196100;
  const t2e = z1e + x6 * -FIX_1_847759065;
  const t3e = z1e + x2 * FIX_0_765366865;
  const t0e = (x0 + x4) * 8192;
  const t1e = (x0 - x4) * 8192;
  const tmp10 = t0e + t3e;
  const tmp13 = t0e - t3e;
  const tmp11 = t1e + t2e;
  const tmp12 = t1e - t2e;
  const z1 = (x7 + x1) * -FIX_0_899976223;
  const z2 = (x5 + x3) * -FIX_2_562915447;
  const z5 = (x7 + x3 + x5 + x1) * FIX_1_175875602;
  const z3 = (x7 + x3) * -FIX_1_961570560 + z5;
  const z4 = (x5 + x1) * -FIX_0_390180644 + z5;
  const tmp0 = x7 * FIX_0_298631336 + z1 + z3;
  const tmp1 = x5 * FIX_2_053119869 + z2 + z4;
  const tmp2 = x3 * FIX_3_072711026 + z2 + z3;
  const tmp3 = x1 * FIX_1_501321110 + z1 + z4;
  r[0] = tmp10 + tmp3;
  r[7] = tmp10 - tmp3;
  r[1] = tmp11 + tmp2;
  r[6] = tmp11 - tmp2;
  r[2] = tmp12 + tmp1;
  r[5] = tmp12 - tmp1;
  r[3] = tmp13 + tmp0;
  r[4] = tmp13 - tmp0;
}

/**
 * libjpeg's accurate integer IDCT of one block: `coef` (natural order) times
 * `quant`, columns then rows (2 extra bits between the passes, libjpeg's DESCALE
 * as floor division), through the post-IDCT range limit, written as 8 × 8 samples
 * into `out` at `at` with row stride `stride`.
 */
function idctIslow(coef: Int32Array, co: number, quant: Int32Array, ws: Float64Array, r: Float64Array, out: Uint8Array, at: number, stride: number): void {
  for (let c = 0; c < 8; c++) {
    const q = (k: number): number => coef[co + k * 8 + c]! * quant[k * 8 + c]!;
    if (coef[co + 8 + c] === 0 && coef[co + 16 + c] === 0 && coef[co + 24 + c] === 0 && coef[co + 32 + c] === 0 && coef[co + 40 + c] === 0 && coef[co + 48 + c] === 0 && coef[co + 56 + c] === 0) {
      const dc = q(0) * 4;
      for (let k = 0; k < 8; k++) ws[k * 8 + c] = dc;
      continue;
    }
    idct8(q(0), q(1), q(2), q(3), q(4), q(5), q(6), q(7), r);
    for (let k = 0; k < 8; k++) ws[k * 8 + c] = Math.floor((r[k]! + 1024) / 2048);
  }
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    idct8(ws[w]!, ws[w + 1]!, ws[w + 2]!, ws[w + 3]!, ws[w + 4]!, ws[w + 5]!, ws[w + 6]!, ws[w + 7]!, r);
    const o = at + row * stride;
    for (let k = 0; k < 8; k++) out[o + k] = IDCT_LIMIT[Math.floor((r[k]! + 131072) / 262144) & 1023]!;
  }
}

/** Decodes a baseline JPEG stream. */
export function decodeJpeg(b: Uint8Array, node: string): DecodedImage {
  const ctx: CodecContext = { node, format: 'JPEG' };
  const quant: (Int32Array | undefined)[] = [];
  const dcTables: (HuffTable | undefined)[] = [];
  const acTables: (HuffTable | undefined)[] = [];
  let frame: { w: number; h: number; comps: Component[]; hmax: number; vmax: number; mcusX: number; mcusY: number } | undefined;
  let restart = 0;
  let adobe: number | undefined;
  let pos = 2;
  const u16 = (i: number): number => {
    if (i + 2 > b.length) corrupt(ctx, 'truncated');
    return (b[i]! << 8) | b[i + 1]!;
  };
  for (;;) {
    if (pos >= b.length) corrupt(ctx, 'no end-of-image marker');
    if (b[pos] !== 0xff) corrupt(ctx, `expected a marker at byte ${pos}`);
    const m = b[pos + 1];
    if (m === undefined) corrupt(ctx, 'truncated marker');
    if (m === 0xff) {
      pos++;
      continue;
    }
    pos += 2;
    if (m === 0xd9) break;
    if (m >= 0xd0 && m <= 0xd7) continue;
    const len = u16(pos);
    if (len < 2 || pos + len > b.length) corrupt(ctx, `marker 0x${m.toString(16)} segment runs past the end`);
    const seg = b.subarray(pos + 2, pos + len);
    pos += len;
    if (m === 0xdb) {
      for (let i = 0; i < seg.length;) {
        const pq = seg[i]! >> 4;
        const tq = seg[i]! & 15;
        if (tq > 3 || pq > 1) corrupt(ctx, 'bad quantization table');
        const n = pq ? 128 : 64;
        if (i + 1 + n > seg.length) corrupt(ctx, 'quantization table truncated');
        const t = new Int32Array(64);
        for (let k = 0; k < 64; k++) t[ZIGZAG[k]!] = pq ? (seg[i + 1 + 2 * k]! << 8) | seg[i + 2 + 2 * k]! : seg[i + 1 + k]!;
        quant[tq] = t;
        i += 1 + n;
      }
    } else if (m === 0xc4) {
      for (let i = 0; i < seg.length;) {
        const tc = seg[i]! >> 4;
        const th = seg[i]! & 15;
        if (tc > 1 || th > 3 || i + 17 > seg.length) corrupt(ctx, 'bad Huffman table');
        const counts = seg.subarray(i + 1, i + 17);
        const n = counts.reduce((s, c) => s + c, 0);
        if (i + 17 + n > seg.length) corrupt(ctx, 'Huffman table truncated');
        const t = buildHuff(counts, seg.slice(i + 17, i + 17 + n), ctx);
        (tc ? acTables : dcTables)[th] = t;
        i += 17 + n;
      }
    } else if (m === 0xdd) {
      if (seg.length < 2) corrupt(ctx, 'bad restart interval');
      restart = (seg[0]! << 8) | seg[1]!;
    } else if (m === 0xee) {
      if (seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe') adobe = seg[11]!;
    } else if (m === 0xc0 || m === 0xc1) {
      if (frame) corrupt(ctx, 'second frame header');
      if (seg.length < 6) corrupt(ctx, 'frame header truncated');
      if (seg[0] !== 8) notSupported(ctx, `${seg[0]}-bit JPEG`);
      const h = (seg[1]! << 8) | seg[2]!;
      const w = (seg[3]! << 8) | seg[4]!;
      if (h === 0) notSupported(ctx, 'JPEG with the height given by a DNL marker');
      checkSize(ctx, w, h);
      const nc = seg[5]!;
      if (nc !== 1 && nc !== 3) notSupported(ctx, `JPEG with ${nc} components`);
      if (seg.length < 6 + 3 * nc) corrupt(ctx, 'frame header truncated');
      const raw = Array.from({ length: nc }, (_, i) => ({ id: seg[6 + 3 * i]!, h: seg[7 + 3 * i]! >> 4, v: seg[7 + 3 * i]! & 15, tq: seg[8 + 3 * i]! }));
      if (raw.some((c) => c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3)) corrupt(ctx, 'bad component sampling or table');
      const hmax = Math.max(...raw.map((c) => c.h));
      const vmax = Math.max(...raw.map((c) => c.v));
      const mcusX = Math.ceil(w / (8 * hmax));
      const mcusY = Math.ceil(h / (8 * vmax));
      const comps = raw.map((c): Component => {
        const bw = mcusX * c.h;
        const bh = mcusY * c.v;
        return { ...c, bw, bh, dw: Math.ceil((w * c.h) / hmax), dh: Math.ceil((h * c.v) / vmax), coefs: new Int32Array(bw * bh * 64), pred: 0 };
      });
      frame = { w, h, comps, hmax, vmax, mcusX, mcusY };
    } else if (m === 0xc2 || m === 0xc6 || m === 0xca || m === 0xce) {
      notSupported(ctx, 'progressive JPEG');
    } else if (m === 0xc3 || m === 0xc7 || m === 0xcb || m === 0xcf) {
      notSupported(ctx, 'lossless JPEG');
    } else if (m >= 0xc5 && m <= 0xcf && m !== 0xc8 && m !== 0xcc) {
      notSupported(ctx, 'arithmetic-coded or hierarchical JPEG');
    } else if (m === 0xda) {
      if (!frame) corrupt(ctx, 'scan before the frame header');
      pos = decodeScan(b, pos, seg, frame, dcTables, acTables, restart, ctx);
    }
  }
  if (!frame) corrupt(ctx, 'no frame header');
  return finish(frame, quant, adobe, ctx);
}

function decodeScan(
  b: Uint8Array, start: number, seg: Uint8Array,
  frame: { comps: Component[]; mcusX: number; mcusY: number; w: number; h: number; hmax: number; vmax: number },
  dcTables: (HuffTable | undefined)[], acTables: (HuffTable | undefined)[], restart: number, ctx: CodecContext,
): number {
  const ns = seg[0]!;
  if (ns < 1 || ns > 4 || seg.length < 1 + 2 * ns + 3) corrupt(ctx, 'bad scan header');
  const comps: Component[] = [];
  for (let i = 0; i < ns; i++) {
    const c = frame.comps.find((k) => k.id === seg[1 + 2 * i]);
    if (!c) corrupt(ctx, `scan names unknown component ${seg[1 + 2 * i]}`);
    c.dc = dcTables[seg[2 + 2 * i]! >> 4];
    c.ac = acTables[seg[2 + 2 * i]! & 15];
    if (!c.dc || !c.ac) corrupt(ctx, 'scan uses an undefined Huffman table');
    c.pred = 0;
    comps.push(c);
  }
  const ss = seg[1 + 2 * ns]!;
  const se = seg[2 + 2 * ns]!;
  const ahal = seg[3 + 2 * ns]!;
  if (ss !== 0 || se !== 63 || ahal !== 0) corrupt(ctx, 'spectral selection in a sequential scan');
  let pos = start;
  let bitBuf = 0;
  let bitCnt = 0;
  const bit = (): number => {
    if (bitCnt === 0) {
      if (pos >= b.length) corrupt(ctx, 'scan data ends early');
      const v = b[pos]!;
      if (v === 0xff) {
        const nx = b[pos + 1];
        if (nx === 0) pos += 2;
        else corrupt(ctx, 'scan data ends early (marker inside the entropy-coded data)');
      } else {
        pos++;
      }
      bitBuf = v;
      bitCnt = 8;
    }
    bitCnt--;
    return (bitBuf >> bitCnt) & 1;
  };
  const receive = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | bit();
    return v;
  };
  const extend = (v: number, n: number): number => (v < 1 << (n - 1) ? v - (1 << n) + 1 : v);
  const decode = (t: HuffTable): number => {
    let code = bit();
    let len = 1;
    while (code > t.maxcode[len]!) {
      code = (code << 1) | bit();
      if (++len > 16) corrupt(ctx, 'invalid Huffman code');
    }
    return t.values[t.valptr[len]! + code - t.mincode[len]!] ?? corrupt(ctx, 'Huffman code past its table');
  };
  const block = (c: Component, br: number, bc: number): void => {
    const o = (br * c.bw + bc) * 64;
    const t = decode(c.dc!);
    if (t > 11) corrupt(ctx, 'DC magnitude over 11 bits');
    c.pred += t ? extend(receive(t), t) : 0;
    c.coefs[o] = c.pred;
    for (let k = 1; k < 64;) {
      const rs = decode(c.ac!);
      const r = rs >> 4;
      const s = rs & 15;
      if (s) {
        k += r;
        if (k > 63) corrupt(ctx, 'AC run past the block');
        c.coefs[o + ZIGZAG[k]!] = extend(receive(s), s);
        k++;
      } else if (r === 15) {
        k += 16;
      } else {
        break;
      }
    }
  };
  const single = ns === 1;
  const c0 = comps[0]!;
  // A one-component scan covers that component's own blocks, not whole MCUs.
  const unitsX = single ? Math.ceil(c0.dw / 8) : frame.mcusX;
  const unitsY = single ? Math.ceil(c0.dh / 8) : frame.mcusY;
  const total = unitsX * unitsY;
  for (let u = 0; u < total; u++) {
    if (restart && u > 0 && u % restart === 0) {
      bitCnt = 0;
      while (pos < b.length && b[pos] === 0xff && b[pos + 1] === 0xff) pos++;
      if (b[pos] !== 0xff || b[pos + 1] === undefined || b[pos + 1]! < 0xd0 || b[pos + 1]! > 0xd7) corrupt(ctx, 'restart marker missing');
      pos += 2;
      for (const c of comps) c.pred = 0;
    }
    const my = Math.floor(u / unitsX);
    const mx = u % unitsX;
    if (single) block(c0, my, mx);
    else for (const c of comps) for (let v = 0; v < c.v; v++) for (let h = 0; h < c.h; h++) block(c, my * c.v + v, mx * c.h + h);
  }
  // Skip to the next marker (past any fill bytes).
  while (pos < b.length && !(b[pos] === 0xff && b[pos + 1] !== 0 && !(b[pos + 1]! >= 0xd0 && b[pos + 1]! <= 0xd7))) pos++;
  return pos;
}

/** IDCT of every component, libjpeg-turbo's upsampling, and colour conversion. */
function finish(frame: { w: number; h: number; comps: Component[]; hmax: number; vmax: number }, quant: (Int32Array | undefined)[], adobe: number | undefined, ctx: CodecContext): DecodedImage {
  const { w, h, hmax, vmax } = frame;
  if (frame.comps.some((c) => hmax % c.h !== 0 || vmax % c.v !== 0)) notSupported(ctx, 'JPEG with fractional chroma sampling ratios');
  const ws = new Float64Array(64);
  const r8 = new Float64Array(8);
  const planes = frame.comps.map((c) => {
    const q = quant[c.tq];
    if (!q) corrupt(ctx, `quantization table ${c.tq} undefined`);
    const stride = c.bw * 8;
    const plane = new Uint8Array(stride * c.bh * 8);
    for (let br = 0; br < c.bh; br++) for (let bc = 0; bc < c.bw; bc++) idctIslow(c.coefs, (br * c.bw + bc) * 64, q, ws, r8, plane, br * 8 * stride + bc * 8, stride);
    return upsample(plane, stride, c.dw, c.dh, hmax / c.h, vmax / c.v, w, h);
  });
  if (planes.length === 1) return { width: w, height: h, channels: 1, data: planes[0]! };
  const out = new Uint8Array(w * h * 3);
  const [p0, p1, p2] = planes as [Uint8Array, Uint8Array, Uint8Array];
  const ids = frame.comps.map((c) => c.id);
  const rgb = adobe === 0 || (adobe === undefined && ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42);
  const clamp = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : x);
  for (let i = 0; i < w * h; i++) {
    if (rgb) {
      out[i * 3] = p0[i]!;
      out[i * 3 + 1] = p1[i]!;
      out[i * 3 + 2] = p2[i]!;
      continue;
    }
    const y = p0[i]!;
    const cb = p1[i]! - 128;
    const cr = p2[i]! - 128;
    out[i * 3] = clamp(y + Math.floor((91881 * cr + 32768) / 65536));
    out[i * 3 + 1] = clamp(y + Math.floor((-22554 * cb + 32768 - 46802 * cr) / 65536));
    out[i * 3 + 2] = clamp(y + Math.floor((116130 * cb + 32768) / 65536));
  }
  return { width: w, height: h, channels: 3, data: out };
}

/**
 * One component upsampled to the image size as libjpeg-turbo does by default:
 * fancy (triangular) h2v1, h1v2 and h2v2 where the component is over 2 samples
 * wide, else sample replication; rows and columns past the component's real size
 * replicate its last ones.
 */
function upsample(plane: Uint8Array, stride: number, dw: number, dh: number, fx: number, fy: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  const at = (x: number, y: number): number => plane[Math.min(Math.max(y, 0), dh - 1) * stride + Math.min(Math.max(x, 0), dw - 1)]!;
  // As jinit_upsampler: h1v2 is fancy at any width, h2v1 and h2v2 only over 2 samples wide.
  const fancy = (fx === 1 && fy === 2) || (dw > 2 && fx === 2 && (fy === 1 || fy === 2));
  for (let y = 0; y < h; y++) {
    const sy = Math.floor(y / fy);
    for (let x = 0; x < w; x++) {
      const sx = Math.floor(x / fx);
      let v: number;
      if (!fancy) {
        v = at(sx, sy);
      } else if (fy === 1) {
        // h2v1: 3/4 of the nearer sample, 1/4 of the farther; rounding biases 1 and 2.
        v = x % 2 === 0 ? (sx === 0 ? at(0, sy) : (at(sx, sy) * 3 + at(sx - 1, sy) + 1) >> 2) : sx === dw - 1 ? at(sx, sy) : (at(sx, sy) * 3 + at(sx + 1, sy) + 2) >> 2;
      } else {
        const ny = y % 2 === 0 ? sy - 1 : sy + 1;
        const col = (cx: number): number => at(cx, sy) * 3 + at(cx, ny);
        if (fx === 1) {
          v = (col(sx) + (y % 2 === 0 ? 1 : 2)) >> 2;
        } else {
          const c = col(sx);
          if (x % 2 === 0) v = sx === 0 ? (c * 4 + 8) >> 4 : (c * 3 + col(sx - 1) + 8) >> 4;
          else v = sx === dw - 1 ? (c * 4 + 7) >> 4 : (c * 3 + col(sx + 1) + 7) >> 4;
        }
      }
      out[y * w + x] = v;
    }
  }
  return out;
}
