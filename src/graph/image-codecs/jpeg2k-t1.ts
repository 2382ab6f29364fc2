/**
 * JPEG 2000 tier-1 decoding (ITU-T T.800 annexes C and D): the MQ arithmetic
 * decoder, the raw (bypass) bit reader, and EBCOT's bit-plane coding of one
 * code-block: significance propagation, magnitude refinement and cleanup passes
 * over stripes of four rows, with the 19 contexts (zero coding by sub-band
 * orientation, sign coding, refinement, run-length, uniform) and the code-block
 * styles (bypass, context reset, termination on each pass, vertically causal
 * contexts, segmentation symbols).
 *
 * Magnitudes are kept at twice their value, so the half of the last decoded
 * bit-plane (the reconstruction point of a truncated code-block) is an integer.
 */

/** Code-block style bits of COD/COC (T.800 table A.19). */
export const CB_BYPASS = 0x01;
export const CB_RESET = 0x02;
export const CB_TERMALL = 0x04;
export const CB_VCAUSAL = 0x08;
export const CB_SEGSYM = 0x20;

// Qe, next state on MPS / LPS, and whether an LPS switches the MPS (T.800 table C.2).
const QE = [
  0x5601, 0x3401, 0x1801, 0x0ac1, 0x0521, 0x0221, 0x5601, 0x5401, 0x4801, 0x3801, 0x3001, 0x2401, 0x1c01, 0x1601, 0x5601, 0x5401,
  0x5101, 0x4801, 0x3801, 0x3401, 0x3001, 0x2801, 0x2401, 0x2201, 0x1c01, 0x1801, 0x1601, 0x1401, 0x1201, 0x1101, 0x0ac1, 0x09c1,
  0x08a1, 0x0521, 0x0441, 0x02a1, 0x0221, 0x0141, 0x0111, 0x0085, 0x0049, 0x0025, 0x0015, 0x0009, 0x0005, 0x0001, 0x5601,
];
const NMPS = [
  1, 2, 3, 4, 5, 38, 7, 8, 9, 10, 11, 12, 13, 29, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
  36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 45, 46,
];
const NLPS = [
  1, 6, 9, 12, 29, 33, 6, 14, 14, 14, 17, 18, 20, 21, 14, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
  32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 46,
];
const SWITCH = [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

const CX_RL = 17;
const CX_UNI = 18;
const NUM_CX = 19;

/** The MQ decoder (T.800 C.3) over one codeword segment; bytes past its end read as 0xFF. */
class MqDecoder {
  private a = 0;
  private c = 0;
  private ct = 0;
  private bp = 0;
  private data: Uint8Array = new Uint8Array(0);
  readonly state = new Uint8Array(NUM_CX);
  readonly mps = new Uint8Array(NUM_CX);

  constructor() {
    this.resetContexts();
  }

  /** Initial context states: all 0 except uniform (46), run-length (3) and the first zero-coding context (4). */
  resetContexts(): void {
    this.state.fill(0);
    this.mps.fill(0);
    this.state[CX_UNI] = 46;
    this.state[CX_RL] = 3;
    this.state[0] = 4;
  }

  private byte(i: number): number {
    return i < this.data.length ? this.data[i]! : 0xff;
  }

  private byteIn(): void {
    if (this.byte(this.bp) === 0xff) {
      if (this.byte(this.bp + 1) > 0x8f) {
        this.c += 0xff00;
        this.ct = 8;
      } else {
        this.bp++;
        this.c += this.byte(this.bp) << 9;
        this.ct = 7;
      }
    } else {
      this.bp++;
      this.c += this.byte(this.bp) << 8;
      this.ct = 8;
    }
    this.c >>>= 0;
  }

  /** INITDEC on a new segment (contexts are kept). */
  init(data: Uint8Array): void {
    this.data = data;
    this.bp = 0;
    this.c = this.byte(0) << 16;
    this.byteIn();
    this.c = (this.c << 7) >>> 0;
    this.ct -= 7;
    this.a = 0x8000;
  }

  /** One decision in context `cx`. */
  decode(cx: number): number {
    const i = this.state[cx]!;
    const qe = QE[i]!;
    let d: number;
    this.a -= qe;
    if (this.c >>> 16 < qe) {
      if (this.a < qe) {
        this.a = qe;
        d = this.mps[cx]!;
        this.state[cx] = NMPS[i]!;
      } else {
        this.a = qe;
        d = 1 - this.mps[cx]!;
        if (SWITCH[i]) this.mps[cx] = d;
        this.state[cx] = NLPS[i]!;
      }
    } else {
      this.c = (this.c - qe * 65536) >>> 0;
      if ((this.a & 0x8000) !== 0) return this.mps[cx]!;
      if (this.a < qe) {
        d = 1 - this.mps[cx]!;
        if (SWITCH[i]) this.mps[cx] = d;
        this.state[cx] = NLPS[i]!;
      } else {
        d = this.mps[cx]!;
        this.state[cx] = NMPS[i]!;
      }
    }
    do {
      if (this.ct === 0) this.byteIn();
      this.a <<= 1;
      this.c = (this.c << 1) >>> 0;
      this.ct--;
    } while ((this.a & 0x8000) === 0);
    return d;
  }
}

/** Raw bits of a bypass segment, MSB first, a 0 bit stuffed after each 0xFF; past the end reads 1s. */
class RawDecoder {
  private c = 0;
  private ct = 0;
  private bp = 0;
  constructor(private readonly data: Uint8Array) {}
  private byte(i: number): number {
    return i < this.data.length ? this.data[i]! : 0xff;
  }
  bit(): number {
    if (this.ct === 0) {
      if (this.c === 0xff) {
        if (this.byte(this.bp) > 0x8f) {
          this.c = 0xff;
          this.ct = 8;
        } else {
          this.c = this.byte(this.bp++);
          this.ct = 7;
        }
      } else {
        this.c = this.byte(this.bp++);
        this.ct = 8;
      }
    }
    this.ct--;
    return (this.c >> this.ct) & 1;
  }
}

// Zero-coding context from the numbers of significant horizontal (0–2), vertical
// (0–2) and diagonal (0–4) neighbours, per orientation (T.800 table D.1).
function zcLlLh(h: number, v: number, d: number): number {
  if (h === 2) return 8;
  if (h === 1) return v >= 1 ? 7 : d >= 1 ? 6 : 5;
  if (v === 2) return 4;
  if (v === 1) return 3;
  return d >= 2 ? 2 : d;
}
function zcHh(h: number, v: number, d: number): number {
  const hv = h + v;
  if (d >= 3) return 8;
  if (d === 2) return hv >= 1 ? 7 : 6;
  if (d === 1) return hv >= 2 ? 5 : hv === 1 ? 4 : 3;
  return hv >= 2 ? 2 : hv;
}
/** ZC[orient][h * 15 + v * 5 + d]; orient 0 LL, 1 HL, 2 LH, 3 HH. */
const ZC: Uint8Array[] = [0, 1, 2, 3].map((o) => {
  const t = new Uint8Array(45);
  for (let h = 0; h < 3; h++) {
    for (let v = 0; v < 3; v++) {
      for (let d = 0; d < 5; d++) t[h * 15 + v * 5 + d] = o === 3 ? zcHh(h, v, d) : o === 1 ? zcLlLh(v, h, d) : zcLlLh(h, v, d);
    }
  }
  return t;
});

const SIG = 1;
const NEG = 2;
const VISIT = 4;
const REFINED = 8;

/** One codeword segment of a code-block: its bytes and how many coding passes it holds. */
export interface Segment {
  readonly data: Uint8Array;
  readonly passes: number;
}

/** True when coding pass `k` of a code-block is a raw (bypass) pass under `style`. */
export function isRawPass(k: number, style: number): boolean {
  return (style & CB_BYPASS) !== 0 && k >= 10 && (k - 10) % 3 < 2;
}

/**
 * Decodes one code-block of `w` × `h` coefficients with `numbps` magnitude
 * bit-planes from its segments (in pass order). Returns signed magnitudes at
 * twice their value (see the file comment), row-major.
 */
export function decodeCodeBlock(w: number, h: number, orient: number, numbps: number, style: number, segments: readonly Segment[]): Int32Array {
  const out = new Int32Array(w * h);
  const s = w + 2;
  const f = new Uint8Array(s * (h + 2));
  const zc = ZC[orient]!;
  const causal = (style & CB_VCAUSAL) !== 0;
  const mq = new MqDecoder();
  let raw: RawDecoder | null = null;
  const at = (x: number, y: number): number => (y + 1) * s + x + 1;
  // Neighbour counts; under vertically causal contexts the row below a stripe is not looked at.
  const context = (i: number, y: number): number => {
    const below = !(causal && (y & 3) === 3);
    const hh = (f[i - 1]! & SIG) + (f[i + 1]! & SIG);
    let v = f[i - s]! & SIG;
    let d = (f[i - s - 1]! & SIG) + (f[i - s + 1]! & SIG);
    if (below) {
      v += f[i + s]! & SIG;
      d += (f[i + s - 1]! & SIG) + (f[i + s + 1]! & SIG);
    }
    return zc[hh * 15 + v * 5 + d]!;
  };
  const anySig = (i: number, y: number): boolean => {
    const below = !(causal && (y & 3) === 3);
    const m = f[i - 1]! | f[i + 1]! | f[i - s]! | f[i - s - 1]! | f[i - s + 1]! | (below ? f[i + s]! | f[i + s - 1]! | f[i + s + 1]! : 0);
    return (m & SIG) !== 0;
  };
  const contrib = (g: number): number => ((g & SIG) === 0 ? 0 : (g & NEG) !== 0 ? -1 : 1);
  const decodeSign = (i: number, y: number): number => {
    const below = !(causal && (y & 3) === 3);
    const hc = Math.max(-1, Math.min(1, contrib(f[i - 1]!) + contrib(f[i + 1]!)));
    const vc = Math.max(-1, Math.min(1, contrib(f[i - s]!) + (below ? contrib(f[i + s]!) : 0)));
    let cx: number;
    let xor = 0;
    if (hc === 0) {
      cx = vc === 0 ? 9 : 10;
      xor = vc < 0 ? 1 : 0;
    } else {
      cx = vc === 1 ? 13 - (hc < 0 ? 2 : 0) : vc === 0 ? 12 : 11 + (hc < 0 ? 2 : 0);
      xor = hc < 0 ? 1 : 0;
    }
    return mq.decode(cx) ^ xor;
  };
  const setSig = (i: number, o: number, neg: number, p: number): void => {
    f[i] = f[i]! | SIG | (neg ? NEG : 0);
    out[o] = 3 << p;
  };

  const sigPass = (p: number): void => {
    for (let y0 = 0; y0 < h; y0 += 4) {
      const y1 = Math.min(y0 + 4, h);
      for (let x = 0; x < w; x++) {
        for (let y = y0; y < y1; y++) {
          const i = at(x, y);
          if ((f[i]! & SIG) !== 0 || !anySig(i, y)) continue;
          const bit = raw ? raw.bit() : mq.decode(context(i, y));
          if (bit) setSig(i, y * w + x, raw ? raw.bit() : decodeSign(i, y), p);
          f[i] = f[i]! | VISIT;
        }
      }
    }
  };
  const refPass = (p: number): void => {
    for (let y0 = 0; y0 < h; y0 += 4) {
      const y1 = Math.min(y0 + 4, h);
      for (let x = 0; x < w; x++) {
        for (let y = y0; y < y1; y++) {
          const i = at(x, y);
          const g = f[i]!;
          if ((g & (SIG | VISIT)) !== SIG) continue;
          const bit = raw ? raw.bit() : mq.decode((g & REFINED) !== 0 ? 16 : anySig(i, y) ? 15 : 14);
          const o = y * w + x;
          out[o] = out[o]! + (bit ? 1 << p : -(1 << p));
          f[i] = g | REFINED;
        }
      }
    }
  };
  const cleanupPass = (p: number): void => {
    for (let y0 = 0; y0 < h; y0 += 4) {
      const y1 = Math.min(y0 + 4, h);
      for (let x = 0; x < w; x++) {
        let y = y0;
        if (y1 - y0 === 4) {
          let runnable = true;
          for (let k = y0; k < y1 && runnable; k++) {
            const i = at(x, k);
            runnable = (f[i]! & (SIG | VISIT)) === 0 && !anySig(i, k);
          }
          if (runnable) {
            if (!mq.decode(CX_RL)) continue;
            y = y0 + ((mq.decode(CX_UNI) << 1) | mq.decode(CX_UNI));
            const i = at(x, y);
            setSig(i, y * w + x, decodeSign(i, y), p);
            y++;
          }
        }
        for (; y < y1; y++) {
          const i = at(x, y);
          if ((f[i]! & (SIG | VISIT)) !== 0) continue;
          if (mq.decode(context(i, y))) setSig(i, y * w + x, decodeSign(i, y), p);
        }
      }
    }
    for (let i = 0; i < f.length; i++) f[i] = f[i]! & ~VISIT;
  };

  let k = 0;
  for (const seg of segments) {
    if (isRawPass(k, style)) raw = new RawDecoder(seg.data);
    else {
      raw = null;
      mq.init(seg.data);
    }
    for (let n = 0; n < seg.passes; n++, k++) {
      const p = numbps - 1 - Math.floor((k + 2) / 3);
      const type = k === 0 ? 2 : (k - 1) % 3;
      if (type === 0) sigPass(p);
      else if (type === 1) refPass(p);
      else {
        cleanupPass(p);
        if (style & CB_SEGSYM) for (let j = 0; j < 4; j++) mq.decode(CX_UNI);
      }
      if (style & CB_RESET) mq.resetContexts();
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) if (f[at(x, y)]! & NEG) out[y * w + x] = -out[y * w + x]!;
  }
  return out;
}
