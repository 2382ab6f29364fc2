/**
 * JPEG 2000 Part 1 decoding (ITU-T T.800): the JP2 box container (signature,
 * `jp2h` with `ihdr`/`colr`, `jp2c`) or a raw J2K codestream. The main and
 * tile-part headers (SIZ, COD, COC, QCD, QCC, RGN, POC; TLM/PLM/PLT/CRG/COM are
 * skipped), tiles in several tile-parts, packets (SOP/EPH markers) whose headers
 * carry tag trees, in all five progression orders and with POC changes; precincts;
 * tier-1 in jpeg2k-t1.ts; dequantization (none, scalar derived, scalar expounded;
 * ROI max-shift); the inverse 5/3 (reversible, integer) and 9/7 (irreversible)
 * wavelets; the RCT/ICT component transforms; DC level shift and clipping; then
 * 8-bit samples as Pillow's OpenJPEG plugin makes them (a precision over 8 bits
 * shifted down, under 8 shifted up, signed samples offset to unsigned).
 * Components subsampled on the grid are upsampled by repetition.
 *
 * Packed packet headers (PPM/PPT), palettes (`pclr`), sYCC and other colour
 * spaces, and Part 2/15 features (HTJ2K) are an UnsupportedOpError; a corrupt or
 * truncated stream is an InputError naming the node; declared sizes over the
 * limits are a LimitError before anything sized by them is allocated.
 */
import { LimitError } from '../errors.js';
import { checkSize, corrupt, MAX_IMAGE_PIXELS, notSupported, type CodecContext, type DecodedImage } from './common.js';
import { CB_BYPASS, CB_TERMALL, decodeCodeBlock, type Segment } from './jpeg2k-t1.js';

const JP2_SIGNATURE = [0, 0, 0, 12, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a];

/** True when the stream starts with the JP2 signature box or with SOC followed by SIZ. */
export function isJpeg2k(b: Uint8Array): boolean {
  if (b.length >= 12 && JP2_SIGNATURE.every((v, i) => b[i] === v)) return true;
  return b.length >= 4 && b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51;
}

/** The most packets' worth of precincts (summed over components and resolutions) one tile may declare. */
const MAX_PRECINCTS = 1 << 22;
/** The most samples all components together may declare. */
const MAX_SAMPLES = 4 * MAX_IMAGE_PIXELS;

const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);
const floorLog2 = (n: number): number => 31 - Math.clz32(n);

interface Component {
  readonly signed: boolean;
  readonly prec: number;
  readonly dx: number;
  readonly dy: number;
}

interface Siz {
  readonly x1: number;
  readonly y1: number;
  readonly x0: number;
  readonly y0: number;
  readonly tw: number;
  readonly th: number;
  readonly tx0: number;
  readonly ty0: number;
  readonly comps: readonly Component[];
}

/** SPcod/SPcoc: one component's coding style. */
interface CodingStyle {
  readonly levels: number;
  readonly xcb: number;
  readonly ycb: number;
  readonly cbStyle: number;
  readonly reversible: boolean;
  /** PPx, PPy per resolution (15 when Scod bit 0 is clear). */
  readonly precincts: readonly (readonly [number, number])[];
}

/** The coding-style fields of COD that COC lacks. */
interface Cod {
  readonly sop: boolean;
  readonly eph: boolean;
  readonly order: number;
  readonly layers: number;
  readonly mct: number;
  readonly style: CodingStyle;
}

interface Quant {
  readonly style: number;
  readonly guard: number;
  /** (exponent, mantissa) per sub-band, in QCD order. */
  readonly steps: readonly (readonly [number, number])[];
}

interface Progression {
  readonly rs: number;
  readonly cs: number;
  readonly le: number;
  readonly re: number;
  readonly ce: number;
  readonly order: number;
}

/** Header state: main header, or a tile's (falling back to the main one). */
interface Params {
  cod?: Cod;
  readonly coc: Map<number, CodingStyle>;
  qcd?: Quant;
  readonly qcc: Map<number, Quant>;
  readonly rgn: Map<number, number>;
  poc: Progression[];
}

const newParams = (): Params => ({ coc: new Map(), qcc: new Map(), rgn: new Map(), poc: [] });

/** A reader of big-endian fields inside one marker segment. */
class Seg {
  constructor(readonly b: Uint8Array, public p: number, readonly end: number, readonly ctx: CodecContext, readonly name: string) {}
  u8(): number {
    if (this.p >= this.end) corrupt(this.ctx, `${this.name} marker segment too short`);
    return this.b[this.p++]!;
  }
  u16(): number {
    return this.u8() * 256 + this.u8();
  }
  u32(): number {
    return this.u16() * 65536 + this.u16();
  }
}

function readSiz(s: Seg): Siz {
  const ctx = s.ctx;
  const rsiz = s.u16();
  if (rsiz & 0x4000) notSupported(ctx, 'JPEG 2000 Part 15 (HTJ2K)');
  const x1 = s.u32();
  const y1 = s.u32();
  const x0 = s.u32();
  const y0 = s.u32();
  const tw = s.u32();
  const th = s.u32();
  const tx0 = s.u32();
  const ty0 = s.u32();
  const n = s.u16();
  if (n < 1 || n > 16384) corrupt(ctx, `SIZ declares ${n} components`);
  if (x0 >= x1 || y0 >= y1) corrupt(ctx, `SIZ image area ${x0}..${x1} × ${y0}..${y1}`);
  if (tw < 1 || th < 1 || tx0 > x0 || ty0 > y0 || tx0 + tw <= x0 || ty0 + th <= y0) corrupt(ctx, 'SIZ tile grid does not cover the image origin');
  checkSize(ctx, x1 - x0, y1 - y0);
  const comps: Component[] = [];
  for (let i = 0; i < n; i++) {
    const ssiz = s.u8();
    const dx = s.u8();
    const dy = s.u8();
    const prec = (ssiz & 0x7f) + 1;
    if (dx < 1 || dy < 1) corrupt(ctx, `component ${i} has subsampling ${dx} × ${dy}`);
    if (prec > 16) notSupported(ctx, `JPEG 2000 samples of ${prec} bits`);
    comps.push({ signed: (ssiz & 0x80) !== 0, prec, dx, dy });
  }
  let samples = 0;
  for (const c of comps) samples += ceilDiv(x1 - x0, c.dx) * ceilDiv(y1 - y0, c.dy);
  if (samples > MAX_SAMPLES) {
    throw new LimitError(`${ctx.node}: ImageDecoder: JPEG 2000 image of ${n} components declares ${samples} samples, over the limit of ${MAX_SAMPLES}`, ctx.node);
  }
  return { x1, y1, x0, y0, tw, th, tx0, ty0, comps };
}

function readStyle(s: Seg, precincts: boolean): CodingStyle {
  const levels = s.u8();
  const xcb = (s.u8() & 0x0f) + 2;
  const ycb = (s.u8() & 0x0f) + 2;
  const cbStyle = s.u8();
  const transform = s.u8();
  if (levels > 32) corrupt(s.ctx, `${levels} decomposition levels`);
  if (xcb > 10 || ycb > 10 || xcb + ycb > 12) corrupt(s.ctx, `code-block size 2^${xcb} × 2^${ycb}`);
  if (cbStyle & 0x40) notSupported(s.ctx, 'JPEG 2000 high-throughput code-blocks');
  if (transform > 1) notSupported(s.ctx, `JPEG 2000 wavelet transform ${transform}`);
  const pp: [number, number][] = [];
  for (let r = 0; r <= levels; r++) {
    if (precincts) {
      const v = s.u8();
      const px = v & 0x0f;
      const py = v >> 4;
      if (r > 0 && (px === 0 || py === 0)) corrupt(s.ctx, `precinct size 2^${px} × 2^${py} at resolution ${r}`);
      pp.push([px, py]);
    } else pp.push([15, 15]);
  }
  return { levels, xcb, ycb, cbStyle, reversible: transform === 1, precincts: pp };
}

function readQuant(s: Seg): Quant {
  const sq = s.u8();
  const style = sq & 0x1f;
  const guard = sq >> 5;
  if (style > 2) corrupt(s.ctx, `quantization style ${style}`);
  const steps: [number, number][] = [];
  while (s.p < s.end) {
    if (style === 0) steps.push([s.u8() >> 3, 0]);
    else {
      const v = s.u16();
      steps.push([v >> 11, v & 0x7ff]);
    }
  }
  if (steps.length === 0) corrupt(s.ctx, 'quantization marker without step sizes');
  return { style, guard, steps };
}

/** Reads the marker segments of a main or tile-part header up to SOT (main) or SOD (tile-part); returns the position after it. */
function readHeader(b: Uint8Array, p: number, ctx: CodecContext, siz: Siz | undefined, params: Params, main: boolean): { p: number; siz?: Siz } {
  const cbytes = (): number => ((siz?.comps.length ?? 0) < 257 ? 1 : 2);
  for (;;) {
    if (p + 2 > b.length) corrupt(ctx, 'truncated header');
    const m = b[p]! * 256 + b[p + 1]!;
    if (main && m === 0xff90) return { p, siz };
    if (!main && m === 0xff93) return { p: p + 2, siz };
    if ((m & 0xff00) !== 0xff00 || m < 0xff30) corrupt(ctx, `expected a marker at byte ${p}, found 0x${m.toString(16)}`);
    if (p + 4 > b.length) corrupt(ctx, 'truncated header');
    const len = b[p + 2]! * 256 + b[p + 3]!;
    if (len < 2 || p + 2 + len > b.length) corrupt(ctx, `marker 0x${m.toString(16)} of length ${len} runs past the end`);
    const s = new Seg(b, p + 4, p + 2 + len, ctx, `0x${m.toString(16)}`);
    if (m === 0xff51) {
      if (!main || siz) corrupt(ctx, 'SIZ out of place');
      siz = readSiz(s);
    } else {
      if (!siz) corrupt(ctx, 'SIZ is not the first marker after SOC');
      const nc = siz.comps.length;
      const comp = (): number => {
        const c = cbytes() === 1 ? s.u8() : s.u16();
        if (c >= nc) corrupt(ctx, `marker names component ${c} of ${nc}`);
        return c;
      };
      if (m === 0xff52) {
        const scod = s.u8();
        const order = s.u8();
        const layers = s.u16();
        const mct = s.u8();
        if (order > 4) corrupt(ctx, `progression order ${order}`);
        if (layers < 1) corrupt(ctx, 'COD declares no quality layers');
        params.cod = { sop: (scod & 2) !== 0, eph: (scod & 4) !== 0, order, layers, mct, style: readStyle(s, (scod & 1) !== 0) };
      } else if (m === 0xff53) {
        const c = comp();
        params.coc.set(c, readStyle(s, (s.u8() & 1) !== 0));
      } else if (m === 0xff5c) params.qcd = readQuant(s);
      else if (m === 0xff5d) {
        const c = comp();
        params.qcc.set(c, readQuant(s));
      } else if (m === 0xff5e) {
        const c = comp();
        if (s.u8() !== 0) notSupported(ctx, 'JPEG 2000 ROI style other than max-shift');
        params.rgn.set(c, s.u8());
      } else if (m === 0xff5f) {
        const n = (len - 2) / (5 + 2 * cbytes());
        if (!Number.isInteger(n) || n < 1) corrupt(ctx, `POC of length ${len}`);
        const list: Progression[] = [];
        for (let i = 0; i < n; i++) {
          const rs = s.u8();
          const cs = cbytes() === 1 ? s.u8() : s.u16();
          const le = s.u16();
          const re = s.u8();
          const ce = cbytes() === 1 ? s.u8() || 256 : s.u16() || 16384;
          const order = s.u8();
          if (order > 4) corrupt(ctx, `POC progression order ${order}`);
          list.push({ rs, cs, le, re, ce, order });
        }
        params.poc = main ? list : [...params.poc, ...list];
      } else if (m === 0xff60 || m === 0xff61) notSupported(ctx, 'JPEG 2000 packed packet headers (PPM/PPT)');
      else if (m === 0xff90 || m === 0xff93 || m === 0xffd9) corrupt(ctx, `marker 0x${m.toString(16)} out of place`);
      // Anything else (TLM, PLM, PLT, CRG, COM, unknown) is skipped.
    }
    p += 2 + len;
  }
}

// ---------------------------------------------------------------------------
// Tile structure: components, resolutions, sub-bands, precincts, code-blocks.

interface CodeBlock {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  included: boolean;
  lblock: number;
  zbp: number;
  passes: number;
  readonly segs: { chunks: Uint8Array[]; passes: number; max: number }[];
}

interface Band {
  readonly orient: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  /** Magnitude bit-planes Mb plus the ROI shift. */
  readonly mb: number;
  /** Dequantization step (1 with no quantization). */
  readonly delta: number;
  readonly blocks: CodeBlock[];
}

interface PrecinctBand {
  readonly band: Band;
  readonly cw: number;
  readonly ch: number;
  readonly blocks: CodeBlock[];
  readonly incl: TagTree;
  readonly zbp: TagTree;
}

interface Resolution {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly ppx: number;
  readonly ppy: number;
  readonly pw: number;
  readonly ph: number;
  readonly bands: Band[];
  /** Per precinct (raster order), its code-blocks in each band. */
  readonly precincts: PrecinctBand[][];
}

interface TileComp {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly style: CodingStyle;
  readonly roi: number;
  readonly res: Resolution[];
}

/** A tag tree (T.800 B.10.2) over a w × h grid of leaves. */
class TagTree {
  private readonly levels: { w: number; h: number; value: Int32Array; low: Int32Array }[] = [];
  constructor(w: number, h: number) {
    for (;;) {
      this.levels.push({ w, h, value: new Int32Array(w * h).fill(0x7fffffff), low: new Int32Array(w * h) });
      if (w === 1 && h === 1) break;
      w = ceilDiv(w, 2);
      h = ceilDiv(h, 2);
    }
  }
  /** Reads bits until the leaf's value is known to be below `threshold` or not; true when it is. */
  decode(bits: PacketBits, x: number, y: number, threshold: number): boolean {
    let low = 0;
    for (let l = this.levels.length - 1; l >= 0; l--) {
      const lv = this.levels[l]!;
      const i = (y >> l) * lv.w + (x >> l);
      if (lv.low[i]! > low) low = lv.low[i]!;
      while (low < threshold && low < lv.value[i]!) {
        if (bits.bit()) lv.value[i] = low;
        else low++;
      }
      lv.low[i] = low;
    }
    return this.levels[0]!.value[y * this.levels[0]!.w + x]! < threshold;
  }
  /** The leaf's value, read in full. */
  value(bits: PacketBits, x: number, y: number, limit: number): number {
    let t = 1;
    while (!this.decode(bits, x, y, t)) {
      if (++t > limit) corrupt(bits.ctx, 'tag tree value out of range');
    }
    return this.levels[0]!.value[y * this.levels[0]!.w + x]!;
  }
}

/** Packet-header bits: MSB first, a 0 bit stuffed after each 0xFF byte. */
class PacketBits {
  private buf = 0;
  private ct = 0;
  constructor(private readonly b: Uint8Array, public p: number, readonly ctx: CodecContext) {}
  bit(): number {
    if (this.ct === 0) {
      if (this.p >= this.b.length) corrupt(this.ctx, 'truncated packet header');
      this.ct = this.buf === 0xff ? 7 : 8;
      this.buf = this.b[this.p++]!;
    }
    this.ct--;
    return (this.buf >> this.ct) & 1;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  /** Ends the header on a byte boundary (skipping the stuffed byte after a final 0xFF); returns the next byte's position. */
  align(): number {
    if (this.buf === 0xff) {
      if (this.p >= this.b.length) corrupt(this.ctx, 'truncated packet header');
      this.p++;
    }
    this.ct = 0;
    this.buf = 0;
    return this.p;
  }
}

/** The maximum passes of a new codeword segment starting at pass `k`. */
function segmentCapacity(k: number, style: number): number {
  if (style & CB_TERMALL) return 1;
  if (style & CB_BYPASS) return k < 10 ? 10 - k : (k - 10) % 3 === 0 ? 2 : 1;
  return 164 * 65535;
}

function buildTileComp(siz: Siz, c: number, tx0: number, ty0: number, tx1: number, ty1: number, style: CodingStyle, q: Quant, roi: number, ctx: CodecContext, budget: { precincts: number }): TileComp {
  const comp = siz.comps[c]!;
  const x0 = ceilDiv(tx0, comp.dx);
  const y0 = ceilDiv(ty0, comp.dy);
  const x1 = ceilDiv(tx1, comp.dx);
  const y1 = ceilDiv(ty1, comp.dy);
  const nl = style.levels;
  const res: Resolution[] = [];
  for (let r = 0; r <= nl; r++) {
    const sc = 2 ** (nl - r);
    const rx0 = ceilDiv(x0, sc);
    const ry0 = ceilDiv(y0, sc);
    const rx1 = ceilDiv(x1, sc);
    const ry1 = ceilDiv(y1, sc);
    const [ppx, ppy] = style.precincts[r]!;
    const pw = rx1 > rx0 ? ceilDiv(rx1, 2 ** ppx) - Math.floor(rx0 / 2 ** ppx) : 0;
    const ph = ry1 > ry0 ? ceilDiv(ry1, 2 ** ppy) - Math.floor(ry0 / 2 ** ppy) : 0;
    budget.precincts += pw * ph;
    if (budget.precincts > MAX_PRECINCTS) {
      throw new LimitError(`${ctx.node}: ImageDecoder: JPEG 2000 tile declares over ${MAX_PRECINCTS} precincts`, ctx.node);
    }
    const bands: Band[] = [];
    const orients = r === 0 ? [0] : [1, 2, 3];
    const nb = r === 0 ? nl : nl - r + 1;
    for (const orient of orients) {
      const xob = orient & 1;
      const yob = orient >> 1;
      const bs = 2 ** nb;
      const off = r === 0 ? 0 : 2 ** (nb - 1);
      const bx0 = ceilDiv(x0 - off * xob, bs);
      const by0 = ceilDiv(y0 - off * yob, bs);
      const bx1 = ceilDiv(x1 - off * xob, bs);
      const by1 = ceilDiv(y1 - off * yob, bs);
      const qi = r === 0 ? 0 : 3 * (r - 1) + orient;
      let eps: number;
      let mu: number;
      if (q.style === 1) {
        [eps, mu] = q.steps[0]!;
        eps = eps - nl + nb;
      } else {
        if (qi >= q.steps.length) corrupt(ctx, `quantization gives ${q.steps.length} step sizes for ${3 * nl + 1} sub-bands`);
        [eps, mu] = q.steps[qi]!;
      }
      const mb = q.guard + eps - 1 + roi;
      if (mb > 30) notSupported(ctx, `JPEG 2000 sub-bands of ${mb} bit-planes`);
      const gain = orient === 0 ? 0 : orient === 3 ? 2 : 1;
      const delta = q.style === 0 ? 1 : 2 ** (comp.prec + gain - eps) * (1 + mu / 2048);
      bands.push({ orient, x0: bx0, y0: by0, x1: bx1, y1: by1, mb, delta, blocks: [] });
    }
    const precincts: PrecinctBand[][] = [];
    const bpx = r === 0 ? ppx : ppx - 1;
    const bpy = r === 0 ? ppy : ppy - 1;
    const xcb = Math.min(style.xcb, bpx);
    const ycb = Math.min(style.ycb, bpy);
    const gx0 = Math.floor(rx0 / 2 ** ppx);
    const gy0 = Math.floor(ry0 / 2 ** ppy);
    for (let j = 0; j < ph; j++) {
      for (let i = 0; i < pw; i++) {
        const list: PrecinctBand[] = [];
        for (const band of bands) {
          const px0 = Math.max(band.x0, (gx0 + i) * 2 ** bpx);
          const py0 = Math.max(band.y0, (gy0 + j) * 2 ** bpy);
          const px1 = Math.min(band.x1, (gx0 + i + 1) * 2 ** bpx);
          const py1 = Math.min(band.y1, (gy0 + j + 1) * 2 ** bpy);
          const blocks: CodeBlock[] = [];
          let cw = 0;
          let ch = 0;
          if (px1 > px0 && py1 > py0) {
            const cx0 = Math.floor(px0 / 2 ** xcb);
            const cy0 = Math.floor(py0 / 2 ** ycb);
            cw = ceilDiv(px1, 2 ** xcb) - cx0;
            ch = ceilDiv(py1, 2 ** ycb) - cy0;
            for (let v = 0; v < ch; v++) {
              for (let u = 0; u < cw; u++) {
                const cb: CodeBlock = {
                  x0: Math.max(px0, (cx0 + u) * 2 ** xcb),
                  y0: Math.max(py0, (cy0 + v) * 2 ** ycb),
                  x1: Math.min(px1, (cx0 + u + 1) * 2 ** xcb),
                  y1: Math.min(py1, (cy0 + v + 1) * 2 ** ycb),
                  included: false,
                  lblock: 3,
                  zbp: 0,
                  passes: 0,
                  segs: [],
                };
                blocks.push(cb);
                band.blocks.push(cb);
              }
            }
          }
          list.push({ band, cw, ch, blocks, incl: new TagTree(Math.max(cw, 1), Math.max(ch, 1)), zbp: new TagTree(Math.max(cw, 1), Math.max(ch, 1)) });
        }
        precincts.push(list);
      }
    }
    res.push({ x0: rx0, y0: ry0, x1: rx1, y1: ry1, ppx, ppy, pw, ph, bands, precincts });
  }
  return { x0, y0, x1, y1, style, roi, res };
}

/** Reads one packet's header and body at `p`; returns the position after it. */
function readPacket(b: Uint8Array, p: number, layer: number, prec: PrecinctBand[], cod: Cod, cbStyle: number, ctx: CodecContext): number {
  if (cod.sop && p + 6 <= b.length && b[p] === 0xff && b[p + 1] === 0x91) p += 6;
  const bits = new PacketBits(b, p, ctx);
  const body: { seg: { chunks: Uint8Array[] }; len: number }[] = [];
  if (bits.bit()) {
    for (const pb of prec) {
      for (let v = 0; v < pb.ch; v++) {
        for (let u = 0; u < pb.cw; u++) {
          const cb = pb.blocks[v * pb.cw + u]!;
          let firstTime = false;
          if (!cb.included) {
            if (!pb.incl.decode(bits, u, v, layer + 1)) continue;
            firstTime = true;
          } else if (!bits.bit()) continue;
          if (firstTime) {
            cb.zbp = pb.zbp.value(bits, u, v, 64);
            cb.included = true;
          }
          let n: number;
          if (!bits.bit()) n = 1;
          else if (!bits.bit()) n = 2;
          else {
            n = bits.bits(2);
            if (n < 3) n += 3;
            else {
              n = bits.bits(5);
              n = n < 31 ? n + 6 : 37 + bits.bits(7);
            }
          }
          while (bits.bit()) {
            if (++cb.lblock > 32) corrupt(ctx, 'code-block length indicator out of range');
          }
          const numbps = pb.band.mb - cb.zbp;
          if (cb.passes + n > 3 * numbps - 2) corrupt(ctx, `code-block declares ${cb.passes + n} coding passes for ${numbps} bit-planes`);
          let left = n;
          let seg = cb.segs[cb.segs.length - 1];
          if (!seg || seg.passes === seg.max) {
            seg = { chunks: [], passes: 0, max: segmentCapacity(cb.passes, cbStyle) };
            cb.segs.push(seg);
          }
          for (;;) {
            const k = Math.min(seg.max - seg.passes, left);
            const len = bits.bits(cb.lblock + floorLog2(k));
            body.push({ seg, len });
            seg.passes += k;
            cb.passes += k;
            left -= k;
            if (left === 0) break;
            seg = { chunks: [], passes: 0, max: segmentCapacity(cb.passes, cbStyle) };
            cb.segs.push(seg);
          }
        }
      }
    }
  }
  p = bits.align();
  if (cod.eph && p + 2 <= b.length && b[p] === 0xff && b[p + 1] === 0x92) p += 2;
  for (const { seg, len } of body) {
    if (p + len > b.length) corrupt(ctx, `truncated packet body (${len} bytes at ${p} of ${b.length})`);
    seg.chunks.push(b.subarray(p, p + len));
    p += len;
  }
  return p;
}

/**
 * The packets of a tile in stream order as [layer, component, resolution, precinct]
 * (T.800 B.12), POC changes included; each packet once, layers of a precinct in turn.
 * Produced lazily: the reader stops when the tile's data ends.
 */
function* packetOrder(tcs: TileComp[], siz: Siz, tx0: number, ty0: number, layers: number, order: number, poc: Progression[]): Generator<[number, number, number, number]> {
  const nc = tcs.length;
  const maxRes = Math.max(...tcs.map((t) => t.res.length));
  const next = tcs.map((t) => t.res.map((rs) => new Int32Array(rs.pw * rs.ph)));
  // Each precinct's position on the reference grid (its top-left corner, the tile's origin for the first).
  const pos = (c: number, r: number, k: number): [number, number] => {
    const t = tcs[c]!;
    const rs = t.res[r]!;
    const sc = 2 ** (t.res.length - 1 - r);
    const gx = (Math.floor(rs.x0 / 2 ** rs.ppx) + (k % rs.pw)) * 2 ** rs.ppx * sc * siz.comps[c]!.dx;
    const gy = (Math.floor(rs.y0 / 2 ** rs.ppy) + Math.floor(k / rs.pw)) * 2 ** rs.ppy * sc * siz.comps[c]!.dy;
    return [Math.max(gx, tx0), Math.max(gy, ty0)];
  };
  const fresh = (l: number, c: number, r: number, k: number): boolean => {
    const n = next[c]![r]!;
    if (n[k] !== l) return false;
    n[k] = l + 1;
    return true;
  };
  const progressions = poc.length > 0 ? poc : [{ rs: 0, cs: 0, le: layers, re: maxRes, ce: nc, order }];
  for (const pg of progressions) {
    const le = Math.min(pg.le, layers);
    const ce = Math.min(pg.ce, nc);
    const re = Math.min(pg.re, maxRes);
    const items: { c: number; r: number; k: number; x: number; y: number }[] = [];
    for (let c = pg.cs; c < ce; c++) {
      for (let r = pg.rs; r < Math.min(re, tcs[c]!.res.length); r++) {
        const rs = tcs[c]!.res[r]!;
        for (let k = 0; k < rs.pw * rs.ph; k++) {
          const [x, y] = pg.order >= 2 ? pos(c, r, k) : [0, 0];
          items.push({ c, r, k, x, y });
        }
      }
    }
    if (pg.order === 0 || pg.order === 1) {
      // By resolution: the (component, precinct) pairs in component order.
      const byRes = new Map<number, typeof items>();
      for (const it of items) {
        const list = byRes.get(it.r) ?? [];
        list.push(it);
        byRes.set(it.r, list);
      }
      const rs = [...byRes.keys()].sort((a, b) => a - b);
      if (pg.order === 0) {
        for (let l = 0; l < le; l++) for (const r of rs) for (const it of byRes.get(r)!) if (fresh(l, it.c, r, it.k)) yield [l, it.c, r, it.k];
      } else {
        for (const r of rs) for (let l = 0; l < le; l++) for (const it of byRes.get(r)!) if (fresh(l, it.c, r, it.k)) yield [l, it.c, r, it.k];
      }
      continue;
    }
    // Position-driven orders: sort every (c, r, precinct) by the order's keys, layers innermost.
    const keys = (it: (typeof items)[number]): number[] =>
      pg.order === 2 ? [it.r, it.y, it.x, it.c] : pg.order === 3 ? [it.y, it.x, it.c, it.r] : [it.c, it.y, it.x, it.r];
    items.sort((p, q) => {
      const a = keys(p);
      const b = keys(q);
      for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return 0;
    });
    for (const it of items) for (let l = 0; l < le; l++) if (fresh(l, it.c, it.r, it.k)) yield [l, it.c, it.r, it.k];
  }
}

// ---------------------------------------------------------------------------
// Inverse wavelet transforms (T.800 annex F), on one line with whole-sample
// symmetric extension; `i0` is the line's first coordinate (its parity says
// whether the first sample is low- or high-pass).

function mirror(i: number, n: number): number {
  const period = 2 * (n - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m >= n ? period - m : m;
}

function idwt53Line(x: Int32Array | Float32Array, n: number, i0: number): void {
  if (n === 1) {
    if (i0 & 1) x[0] = Math.trunc(x[0]! / 2);
    return;
  }
  const odd0 = i0 & 1;
  for (let i = odd0; i < n; i += 2) x[i] = x[i]! - Math.floor((x[mirror(i - 1, n)]! + x[mirror(i + 1, n)]! + 2) / 4);
  for (let i = 1 - odd0; i < n; i += 2) x[i] = x[i]! + Math.floor((x[mirror(i - 1, n)]! + x[mirror(i + 1, n)]!) / 2);
}

const ALPHA = -1.586134342059924;
const BETA = -0.052980118572961;
const GAMMA = 0.882911075530934;
const DELTA = 0.443506852043971;
const K = 1.230174104914001;

function idwt97Line(x: Float32Array, n: number, i0: number): void {
  if (n === 1) {
    if (i0 & 1) x[0] = x[0]! / 2;
    return;
  }
  const ev = i0 & 1;
  const od = 1 - ev;
  for (let i = ev; i < n; i += 2) x[i] = x[i]! * K;
  for (let i = od; i < n; i += 2) x[i] = x[i]! / K;
  const lift = (start: number, c: number): void => {
    for (let i = start; i < n; i += 2) x[i] = x[i]! - c * (x[mirror(i - 1, n)]! + x[mirror(i + 1, n)]!);
  };
  lift(ev, DELTA);
  lift(od, GAMMA);
  lift(ev, BETA);
  lift(od, ALPHA);
}

/** Reconstructs a tile-component's samples from its decoded sub-bands. */
function inverseDwt(tc: TileComp, bands: Map<Band, Float32Array | Int32Array>): Float32Array | Int32Array {
  const rev = tc.style.reversible;
  const make = (n: number): Float32Array | Int32Array => (rev ? new Int32Array(n) : new Float32Array(n));
  let cur = bands.get(tc.res[0]!.bands[0]!)!;
  for (let r = 1; r < tc.res.length; r++) {
    const rs = tc.res[r]!;
    const prev = tc.res[r - 1]!;
    const w = rs.x1 - rs.x0;
    const h = rs.y1 - rs.y0;
    const out = make(w * h);
    const lw = prev.x1 - prev.x0;
    const [hl, lh, hh] = rs.bands;
    const hw = hl!.x1 - hl!.x0;
    const lx0 = Math.ceil(rs.x0 / 2);
    const hx0 = Math.floor(rs.x0 / 2);
    const ly0 = Math.ceil(rs.y0 / 2);
    const hy0 = Math.floor(rs.y0 / 2);
    const dHl = bands.get(hl!)!;
    const dLh = bands.get(lh!)!;
    const dHh = bands.get(hh!)!;
    for (let v = 0; v < h; v++) {
      const y = rs.y0 + v;
      const low = (y & 1) === 0;
      const row = low ? y / 2 - ly0 : (y - 1) / 2 - hy0;
      for (let u = 0; u < w; u++) {
        const x = rs.x0 + u;
        let val: number;
        if ((x & 1) === 0) val = low ? cur[row * lw + x / 2 - lx0]! : dLh[row * lw + x / 2 - lx0]!;
        else val = low ? dHl[row * hw + (x - 1) / 2 - hx0]! : dHh[row * hw + (x - 1) / 2 - hx0]!;
        out[v * w + u] = val;
      }
    }
    const line = make(Math.max(w, h));
    for (let v = 0; v < h; v++) {
      for (let u = 0; u < w; u++) line[u] = out[v * w + u]!;
      if (rev) idwt53Line(line, w, rs.x0);
      else idwt97Line(line as Float32Array, w, rs.x0);
      for (let u = 0; u < w; u++) out[v * w + u] = line[u]!;
    }
    for (let u = 0; u < w; u++) {
      for (let v = 0; v < h; v++) line[v] = out[v * w + u]!;
      if (rev) idwt53Line(line, h, rs.y0);
      else idwt97Line(line as Float32Array, h, rs.y0);
      for (let v = 0; v < h; v++) out[v * w + u] = line[v]!;
    }
    cur = out;
  }
  return cur;
}

/** Tier-1 and dequantization of every code-block of a tile-component; returns each sub-band's coefficients. */
function decodeBands(tc: TileComp): Map<Band, Float32Array | Int32Array> {
  const map = new Map<Band, Float32Array | Int32Array>();
  const rev = tc.style.reversible;
  for (const rs of tc.res) {
    for (const band of rs.bands) {
      const bw = band.x1 - band.x0;
      const bh = band.y1 - band.y0;
      const arr = rev ? new Int32Array(Math.max(bw * bh, 0)) : new Float32Array(Math.max(bw * bh, 0));
      for (const cb of band.blocks) {
        if (cb.passes === 0) continue;
        const w = cb.x1 - cb.x0;
        const h = cb.y1 - cb.y0;
        const segs: Segment[] = cb.segs.map((s) => ({ data: concat(s.chunks), passes: s.passes }));
        const v = decodeCodeBlock(w, h, band.orient, band.mb - cb.zbp, tc.style.cbStyle, segs);
        const shift = tc.roi;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            let m = v[y * w + x]!;
            const neg = m < 0;
            if (neg) m = -m;
            if (shift > 0 && m >> 1 >= 1 << shift) m >>= shift;
            const o = (cb.y0 - band.y0 + y) * bw + cb.x0 - band.x0 + x;
            if (rev) arr[o] = neg ? -(m >> 1) : m >> 1;
            else arr[o] = ((neg ? -m : m) * band.delta) / 2;
          }
        }
      }
      map.set(band, arr);
    }
  }
  return map;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const out = new Uint8Array(n);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

// ---------------------------------------------------------------------------

/** The codestream inside a JP2 file (and its colour space), or the stream itself when it is a raw codestream. */
function unwrap(b: Uint8Array, ctx: CodecContext): Uint8Array {
  if (b[0] === 0xff) return b;
  let p = 0;
  let header = false;
  while (p + 8 <= b.length) {
    let len = ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!;
    const type = String.fromCharCode(b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
    let body = p + 8;
    if (len === 1) {
      if (p + 16 > b.length) corrupt(ctx, 'truncated box header');
      len = (((b[p + 8]! << 24) >>> 0) + (b[p + 9]! << 16) + (b[p + 10]! << 8) + b[p + 11]!) * 2 ** 32 + ((b[p + 12]! << 24) >>> 0) + (b[p + 13]! << 16) + (b[p + 14]! << 8) + b[p + 15]!;
      body = p + 16;
    } else if (len === 0) len = b.length - p;
    if (len < body - p || p + len > b.length) corrupt(ctx, `box '${type}' of ${len} bytes runs past the end`);
    const end = p + len;
    if (type === 'jp2h') {
      header = true;
      for (let q = body; q + 8 <= end; ) {
        const l = ((b[q]! << 24) >>> 0) + (b[q + 1]! << 16) + (b[q + 2]! << 8) + b[q + 3]!;
        const t = String.fromCharCode(b[q + 4]!, b[q + 5]!, b[q + 6]!, b[q + 7]!);
        if (l < 8 || q + l > end) corrupt(ctx, `box '${t}' runs past its header box`);
        if (t === 'pclr') notSupported(ctx, 'JPEG 2000 palette images (pclr)');
        if (t === 'colr' && l >= 15 && b[q + 8] === 1) {
          const cs = ((b[q + 11]! << 24) >>> 0) + (b[q + 12]! << 16) + (b[q + 13]! << 8) + b[q + 14]!;
          if (cs !== 16 && cs !== 17) notSupported(ctx, `JPEG 2000 colour space ${cs}`);
        }
        q += l;
      }
    } else if (type === 'jp2c') {
      if (!header) corrupt(ctx, "codestream box before the 'jp2h' header box");
      return b.subarray(body, end);
    }
    p = end;
  }
  return corrupt(ctx, "no 'jp2c' codestream box");
}

/** Decodes a JP2 file or J2K codestream to 8-bit gray, RGB or RGBA. */
export function decodeJpeg2k(data: Uint8Array, node: string): DecodedImage {
  const ctx: CodecContext = { node, format: 'JPEG 2000' };
  const b = unwrap(data, ctx);
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0x4f || b[2] !== 0xff || b[3] !== 0x51) corrupt(ctx, 'the codestream does not start with SOC and SIZ');
  const main = newParams();
  const hdr = readHeader(b, 2, ctx, undefined, main, true);
  const siz = hdr.siz!;
  if (!main.cod || !main.qcd) corrupt(ctx, 'main header lacks COD or QCD');
  const ntx = ceilDiv(siz.x1 - siz.tx0, siz.tw);
  const nty = ceilDiv(siz.y1 - siz.ty0, siz.th);
  if (ntx * nty > 65535) corrupt(ctx, `${ntx * nty} tiles`);
  const tiles = new Map<number, { params: Params; chunks: Uint8Array[] }>();
  let p = hdr.p;
  while (p + 2 <= b.length) {
    const m = b[p]! * 256 + b[p + 1]!;
    if (m === 0xffd9) break;
    if (m !== 0xff90) corrupt(ctx, `expected SOT at byte ${p}, found 0x${m.toString(16)}`);
    if (p + 12 > b.length) corrupt(ctx, 'truncated SOT');
    const isot = b[p + 4]! * 256 + b[p + 5]!;
    const psot = ((b[p + 6]! << 24) >>> 0) + (b[p + 7]! << 16) + (b[p + 8]! << 8) + b[p + 9]!;
    if (isot >= ntx * nty) corrupt(ctx, `tile index ${isot} of ${ntx * nty}`);
    let end = psot === 0 ? b.length : p + psot;
    if (psot === 0 && b.length >= 2 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9) end = b.length - 2;
    if (end > b.length) corrupt(ctx, `truncated tile-part (${psot} bytes at ${p} of ${b.length})`);
    let tile = tiles.get(isot);
    if (!tile) {
      tile = { params: newParams(), chunks: [] };
      tiles.set(isot, tile);
    }
    const sod = readHeader(b.subarray(0, end), p + 12, ctx, siz, tile.params, false).p;
    tile.chunks.push(b.subarray(sod, end));
    p = end;
  }

  const nc = siz.comps.length;
  const iw = siz.x1 - siz.x0;
  const ih = siz.y1 - siz.y0;
  const planes = siz.comps.map((c) => ({ w: ceilDiv(siz.x1, c.dx) - ceilDiv(siz.x0, c.dx), h: ceilDiv(siz.y1, c.dy) - ceilDiv(siz.y0, c.dy) }));
  // Samples stored offset to unsigned (0 .. 2^prec − 1), so 16 bits hold them.
  const samples = planes.map((pl) => new Uint16Array(pl.w * pl.h));
  let work = 0;
  for (const [t, tile] of tiles) {
    const tp = tile.params;
    work += nc * ((tp.cod ?? main.cod).style.levels + 1);
    if (work > MAX_PRECINCTS) throw new LimitError(`${ctx.node}: ImageDecoder: JPEG 2000 stream of ${tiles.size} tiles × ${nc} components is over the limit`, ctx.node);
    const cod = tp.cod ?? main.cod;
    const tx = t % ntx;
    const ty = Math.floor(t / ntx);
    const tx0 = Math.max(siz.tx0 + tx * siz.tw, siz.x0);
    const ty0 = Math.max(siz.ty0 + ty * siz.th, siz.y0);
    const tx1 = Math.min(siz.tx0 + (tx + 1) * siz.tw, siz.x1);
    const ty1 = Math.min(siz.ty0 + (ty + 1) * siz.th, siz.y1);
    const budget = { precincts: 0 };
    const tcs: TileComp[] = [];
    for (let c = 0; c < nc; c++) {
      const style = tp.coc.get(c) ?? tp.cod?.style ?? main.coc.get(c) ?? main.cod.style;
      const q = tp.qcc.get(c) ?? tp.qcd ?? main.qcc.get(c) ?? main.qcd;
      if (style.reversible && q.style !== 0) notSupported(ctx, 'JPEG 2000 5/3 wavelet with quantization');
      tcs.push(buildTileComp(siz, c, tx0, ty0, tx1, ty1, style, q, tp.rgn.get(c) ?? main.rgn.get(c) ?? 0, ctx, budget));
    }
    const data = concat(tile.chunks);
    const order = packetOrder(tcs, siz, tx0, ty0, cod.layers, cod.order, tp.poc.length > 0 ? tp.poc : main.poc);
    let q = 0;
    for (const [l, c, r, k] of order) {
      if (q >= data.length) break;
      q = readPacket(data, q, l, tcs[c]!.res[r]!.precincts[k]!, cod, tcs[c]!.style.cbStyle, ctx);
    }
    const recon = tcs.map((tc) => inverseDwt(tc, decodeBands(tc)));
    if (cod.mct && nc >= 3) {
      const [a, bb, cc] = recon as [Float32Array | Int32Array, Float32Array | Int32Array, Float32Array | Int32Array];
      if (a.length !== bb.length || a.length !== cc.length) corrupt(ctx, 'component transform over components of different sizes');
      if (tcs[0]!.style.reversible) {
        for (let i = 0; i < a.length; i++) {
          const y = a[i]!;
          const u = bb[i]!;
          const v = cc[i]!;
          const g = y - Math.floor((u + v) / 4);
          a[i] = v + g;
          bb[i] = g;
          cc[i] = u + g;
        }
      } else {
        for (let i = 0; i < a.length; i++) {
          const y = a[i]!;
          const u = bb[i]!;
          const v = cc[i]!;
          a[i] = y + 1.402 * v;
          bb[i] = y - 0.344136 * u - 0.714136 * v;
          cc[i] = y + 1.772 * u;
        }
      }
    }
    for (let c = 0; c < nc; c++) {
      const tc = tcs[c]!;
      const comp = siz.comps[c]!;
      const src = recon[c]!;
      const pl = planes[c]!;
      const dst = samples[c]!;
      // DC level shift for unsigned samples; signed ones are offset to unsigned as Pillow does.
      const shift = 1 << (comp.prec - 1);
      const hi = (1 << comp.prec) - 1;
      const ox = tc.x0 - ceilDiv(siz.x0, comp.dx);
      const oy = tc.y0 - ceilDiv(siz.y0, comp.dy);
      const w = tc.x1 - tc.x0;
      for (let y = 0; y < tc.y1 - tc.y0; y++) {
        for (let x = 0; x < w; x++) {
          const v = Math.round(src[y * w + x]!) + shift;
          dst[(oy + y) * pl.w + ox + x] = v < 0 ? 0 : v > hi ? hi : v;
        }
      }
    }
  }

  const channels: 1 | 3 | 4 = nc >= 4 ? 4 : nc >= 3 ? 3 : 1;
  const out = new Uint8Array(iw * ih * channels);
  for (let c = 0; c < channels; c++) {
    const comp = siz.comps[c]!;
    const pl = planes[c]!;
    const src = samples[c]!;
    const sh = 8 - comp.prec;
    const cx0 = ceilDiv(siz.x0, comp.dx);
    const cy0 = ceilDiv(siz.y0, comp.dy);
    for (let y = 0; y < ih; y++) {
      const sy = Math.min(pl.h - 1, Math.floor((siz.y0 + y) / comp.dy) - cy0);
      for (let x = 0; x < iw; x++) {
        const sx = Math.min(pl.w - 1, Math.floor((siz.x0 + x) / comp.dx) - cx0);
        const v = src[Math.max(sy, 0) * pl.w + Math.max(sx, 0)]!;
        out[(y * iw + x) * channels + c] = sh >= 0 ? v << sh : v >> -sh;
      }
    }
  }
  return { width: iw, height: ih, channels, data: out };
}
