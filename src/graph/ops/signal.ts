/**
 * Op family: window functions (HannWindow, HammingWindow, BlackmanWindow), the
 * spectral ops (DFT, STFT, MelWeightMatrix) and Det.
 * Windows are generalized cosine windows w[n] = Σ_k (-1)^k a_k cos(2πkn/N), with
 * N = size (periodic) or size - 1 (symmetric).
 *
 * Complex values are real tensors with a last axis of 2 (re, im); a last axis of 1
 * holds a real signal. DFT's forward transform is X[k] = Σ_t x[t]·e^(-2πikt/n), the
 * inverse (1/n)·Σ_k X[k]·e^(2πikt/n), as numpy.fft.
 */
import { attr } from '../attrs.js';
import { expectDType, FLOATS, INTS, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp, type InferInput } from '../op.js';
import type { Dim } from '../shape.js';
import { Tensor, tensorInts } from '../tensor.js';

/** ONNX TensorProto.DataType codes of the float types a window may produce. */
const WINDOW_DTYPES: Readonly<Record<number, DType>> = { 1: 'float32', 10: 'float16', 11: 'float64', 6: 'int32', 7: 'int64' };

function windowOp(name: string, coeffs: readonly number[]) {
  return defineOp({
    name,
    inputs: ['size'],
    outputs: ['output'],
    attrs: { output_datatype: attr.int(1), periodic: attr.int(1) },
    category: 'opaque',
    shapeInputs: [0],
    doc: `${name}: a generalized cosine window of the given size.`,
    infer([size], ctx) {
      expectDType(size!.dtype, INTS, ctx.node, 'size');
      const dtype = WINDOW_DTYPES[ctx.attrs.output_datatype];
      if (!dtype) throw new ShapeError(`${ctx.node}: unsupported output_datatype ${ctx.attrs.output_datatype}`, ctx.node);
      const n = size!.value?.data[0];
      return [{ dtype, shape: [n === undefined ? ctx.fresh(0) : n] }];
    },
    cpu([size], ctx) {
      const n = size!.data[0]!;
      const denom = ctx.attrs.periodic ? n : n - 1;
      const out = new Tensor(ctx.outputs[0]!.dtype, [n]);
      for (let i = 0; i < n; i++) {
        let v = 0;
        coeffs.forEach((a, k) => {
          v += (k % 2 ? -1 : 1) * a * Math.cos((2 * Math.PI * k * i) / denom);
        });
        out.data[i] = v;
      }
      return [out];
    },
  });
}

/** HannWindow. */
export const HannWindow = windowOp('HannWindow', [0.5, 0.5]);
/** HammingWindow (ONNX's α = 25/46). */
export const HammingWindow = windowOp('HammingWindow', [25 / 46, 21 / 46]);
/** BlackmanWindow. */
export const BlackmanWindow = windowOp('BlackmanWindow', [0.42, 0.5, 0.08]);

/** Det: determinant of square matrices over the last two axes (LU with partial pivoting). */
export const Det = defineOp({
  name: 'Det',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {},
  category: 'opaque',
  doc: 'Determinant of the trailing square matrices.',
  infer([x], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    const r = x!.shape.length;
    if (r < 2 || (typeof x!.shape[r - 1] === 'number' && typeof x!.shape[r - 2] === 'number' && x!.shape[r - 1] !== x!.shape[r - 2])) {
      throw new ShapeError(`${ctx.node}: Det needs square matrices in the last two axes, got [${x!.shape.join(',')}]`, ctx.node);
    }
    return [{ dtype: x!.dtype, shape: x!.shape.slice(0, r - 2) }];
  },
  cpu([x], ctx) {
    const n = x!.shape[x!.rank - 1]!;
    const out = new Tensor(x!.dtype, ctx.outputs[0]!.shape as number[]);
    const m = new Float64Array(n * n);
    for (let b = 0; b < out.size; b++) {
      for (let i = 0; i < n * n; i++) m[i] = x!.data[b * n * n + i]!;
      let det = 1;
      for (let c = 0; c < n; c++) {
        let p = c;
        for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
        if (m[p * n + c] === 0) {
          det = 0;
          break;
        }
        if (p !== c) {
          for (let k = 0; k < n; k++) {
            const t = m[c * n + k]!;
            m[c * n + k] = m[p * n + k]!;
            m[p * n + k] = t;
          }
          det = -det;
        }
        const piv = m[c * n + c]!;
        det *= piv;
        for (let r = c + 1; r < n; r++) {
          const f = m[r * n + c]! / piv;
          for (let k = c; k < n; k++) m[r * n + k]! -= f * m[c * n + k]!;
        }
      }
      out.data[b] = det;
    }
    return [out];
  },
});

/** The integer held by a scalar or one-element tensor, or a ShapeError naming the node. */
export function scalarInt(t: Tensor, node: string, what: string): number {
  if (t.size !== 1) throw new ShapeError(`${node}: ${what} must be a scalar, got shape [${t.shape}]`, node);
  return tensorInts(t)[0]!;
}

/** The value of a scalar integer input when inference knows it (undefined when absent or not constant). */
function knownInt(v: InferInput | undefined, node: string, what: string): number | undefined {
  if (!v) return undefined;
  expectDType(v.dtype, INTS, node, what);
  if (v.shape.length > 1 || (v.shape.length === 1 && typeof v.shape[0] === 'number' && v.shape[0] !== 1)) {
    throw new ShapeError(`${node}: ${what} must be a scalar, got shape [${v.shape}]`, node);
  }
  return v.value ? scalarInt(v.value, node, what) : undefined;
}

/** Where a DFT works: the signal axis (non-negative), the transform length n and the output length along the axis. */
export interface DftGeometry {
  readonly axis: number;
  readonly n: number;
  readonly outLen: number;
}

/**
 * The geometry of a DFT over `shape` (last axis 1 or 2): `axis` may be negative
 * (counted over the whole rank, complex axis included) and must not name the last
 * axis; n is dft_length, or the signal's length along the axis; a onesided
 * transform keeps floor(n/2) + 1 bins.
 */
export function dftGeometry(shape: readonly number[], axisIn: number, dftLength: number | undefined, onesided: boolean, node: string): DftGeometry {
  const r = shape.length;
  const axis = axisIn < 0 ? axisIn + r : axisIn;
  if (!Number.isInteger(axis) || axis < 0 || axis >= r - 1) throw new ShapeError(`${node}: DFT axis ${axisIn} is out of range for an input of rank ${r} (the last axis holds re/im)`, node);
  const n = dftLength ?? shape[axis]!;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${node}: dft_length must be at least 1, got ${n}`, node);
  return { axis, n, outLen: onesided ? Math.floor(n / 2) + 1 : n };
}

function checkComplexInput(x: InferInput, node: string, what: string, minRank: number): void {
  expectDType(x.dtype, FLOATS, node, what);
  const r = x.shape.length;
  const last = x.shape[r - 1];
  if (r < minRank || (typeof last === 'number' && last !== 1 && last !== 2)) {
    throw new ShapeError(`${node}: ${what} must have rank at least ${minRank} and a last axis of 1 (real) or 2 (complex), got [${x.shape}]`, node);
  }
}

/**
 * Adds the DFT of one complex signal: reads `len` complex samples (real when
 * `cin` is 1) at `src(t)`, writes bins 0..outLen-1 at `dst(k)` (re, im).
 * Twiddles use the angle reduced modulo n, in float64.
 */
function dft1d(
  x: ArrayLike<number>, src: (t: number) => number, cin: number, len: number,
  y: { [i: number]: number }, dst: (k: number) => number, n: number, outLen: number, inverse: boolean, weight?: (t: number) => number,
): void {
  const m = Math.min(len, n);
  const sign = inverse ? 1 : -1;
  const scale = inverse ? 1 / n : 1;
  for (let k = 0; k < outLen; k++) {
    let re = 0;
    let im = 0;
    for (let t = 0; t < m; t++) {
      const w = weight ? weight(t) : 1;
      const o = src(t);
      const a = x[o]! * w;
      const b = cin === 2 ? x[o + 1]! * w : 0;
      const ang = (2 * Math.PI * ((k * t) % n)) / n;
      const c = Math.cos(ang);
      const s = sign * Math.sin(ang);
      re += a * c - b * s;
      im += a * s + b * c;
    }
    const d = dst(k);
    y[d] = re * scale;
    y[d + 1] = im * scale;
  }
}

/**
 * DFT (opset 17 and 20): the discrete Fourier transform of a real ([..., 1]) or
 * complex ([..., 2]) signal along one axis, giving a complex [..., 2] tensor.
 * The axis is an input from opset 20 (default -2); the opset-17 attribute `axis`
 * is accepted too (the importer fills opset 17's default 1). dft_length pads with
 * zeros or truncates; `onesided` keeps bins 0..floor(n/2); `inverse` computes
 * the inverse transform (scaled by 1/n), as ONNX's reference.
 */
export const DFT = defineOp({
  name: 'DFT',
  inputs: ['input', 'dft_length?', 'axis?'],
  outputs: ['output'],
  attrs: { inverse: attr.int(0), onesided: attr.int(0), axis: attr.optInt() },
  category: 'opaque',
  shapeInputs: [1, 2],
  doc: 'Discrete Fourier transform along one axis (complex values as a last axis of 2).',
  infer([x, len, axisIn], ctx) {
    checkComplexInput(x!, ctx.node, 'input', 2);
    const n = knownInt(len, ctx.node, 'dft_length');
    if (len && len.value === undefined) return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === x!.shape.length - 1 ? 2 : i === 0 ? d : ctx.fresh(i))) }];
    const axis = axisIn ? knownInt(axisIn, ctx.node, 'axis') : ctx.attrs.axis ?? -2;
    const r = x!.shape.length;
    if (axis === undefined) {
      // The axis is unknown: only the complex axis is sure, unless nothing changes length.
      const same = n === undefined && !ctx.attrs.onesided;
      return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === r - 1 ? 2 : same || i === 0 ? d : ctx.fresh(i))) }];
    }
    const a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= r - 1) throw new ShapeError(`${ctx.node}: DFT axis ${axis} is out of range for an input of rank ${r} (the last axis holds re/im)`, ctx.node);
    const sig = x!.shape[a]!;
    const shape: Dim[] = [...x!.shape];
    shape[r - 1] = 2;
    if (n !== undefined && n < 1) throw new ShapeError(`${ctx.node}: dft_length must be at least 1, got ${n}`, ctx.node);
    const full = n ?? sig;
    shape[a] = typeof full === 'number' ? (ctx.attrs.onesided ? Math.floor(full / 2) + 1 : full) : ctx.attrs.onesided ? ctx.fresh('bins') : full;
    return [{ dtype: x!.dtype, shape }];
  },
  cpu([x, len, axisIn], ctx) {
    const shape = x!.shape as number[];
    const axis = axisIn ? scalarInt(axisIn, ctx.node, 'axis') : ctx.attrs.axis ?? -2;
    const g = dftGeometry(shape, axis, len ? scalarInt(len, ctx.node, 'dft_length') : undefined, ctx.attrs.onesided === 1, ctx.node);
    const r = shape.length;
    const cin = shape[r - 1]!;
    const outer = shape.slice(0, g.axis).reduce((p, d) => p * d, 1);
    const inner = shape.slice(g.axis + 1, r - 1).reduce((p, d) => p * d, 1);
    const L = shape[g.axis]!;
    const outShape = [...shape];
    outShape[g.axis] = g.outLen;
    outShape[r - 1] = 2;
    const y = new Tensor(x!.dtype, outShape);
    for (let o = 0; o < outer; o++) {
      for (let q = 0; q < inner; q++) {
        dft1d(x!.data as ArrayLike<number>, (t) => ((o * L + t) * inner + q) * cin, cin, L, y.data as unknown as number[], (k) => ((o * g.outLen + k) * inner + q) * 2, g.n, g.outLen, ctx.attrs.inverse === 1);
      }
    }
    return [y];
  },
});

/** STFT's frame geometry: frame length (the DFT size), the number of frames and of bins. */
export interface StftGeometry {
  readonly frameLength: number;
  readonly frames: number;
  readonly bins: number;
}

/**
 * The frames of an STFT over a signal of `signalLength` samples: frame_length (or
 * the window's length) samples every `step`, 1 + floor((L - frame_length) / step)
 * frames; onesided keeps floor(frame_length/2) + 1 bins.
 */
export function stftGeometry(signalLength: number, step: number, frameLength: number | undefined, windowLength: number | undefined, onesided: boolean, node: string): StftGeometry {
  if (step < 1) throw new ShapeError(`${node}: STFT frame_step must be at least 1, got ${step}`, node);
  if (frameLength !== undefined && windowLength !== undefined && frameLength !== windowLength) {
    throw new ShapeError(`${node}: STFT window has ${windowLength} samples but frame_length is ${frameLength}`, node);
  }
  const fl = frameLength ?? windowLength ?? signalLength;
  if (fl < 1 || fl > signalLength) throw new ShapeError(`${node}: STFT frame length ${fl} must be in [1, ${signalLength}] (the signal's length)`, node);
  return { frameLength: fl, frames: 1 + Math.floor((signalLength - fl) / step), bins: onesided ? Math.floor(fl / 2) + 1 : fl };
}

/**
 * STFT (opset 17): the short-time Fourier transform of signal [batch, length, 1|2]:
 * frames of frame_length samples every frame_step, each multiplied by `window`
 * (ones when absent) and transformed, giving [batch, frames, bins, 2].
 */
export const STFT = defineOp({
  name: 'STFT',
  inputs: ['signal', 'frame_step', 'window?', 'frame_length?'],
  outputs: ['output'],
  attrs: { onesided: attr.int(1) },
  category: 'opaque',
  shapeInputs: [1, 3],
  doc: 'Short-time Fourier transform of a batch of signals.',
  infer([x, stepIn, win, flIn], ctx) {
    checkComplexInput(x!, ctx.node, 'signal', 3);
    if (x!.shape.length !== 3) throw new ShapeError(`${ctx.node}: STFT signal must be [batch, length, 1|2], got [${x!.shape}]`, ctx.node);
    if (win) {
      expectDType(win.dtype, FLOATS, ctx.node, 'window');
      if (win.shape.length !== 1) throw new ShapeError(`${ctx.node}: STFT window must have rank 1, got [${win.shape}]`, ctx.node);
    }
    const step = knownInt(stepIn, ctx.node, 'frame_step');
    const fl = knownInt(flIn, ctx.node, 'frame_length');
    const wl = win && typeof win.shape[0] === 'number' ? win.shape[0] : undefined;
    const L = x!.shape[1];
    const flKnown = flIn ? fl : win ? wl : typeof L === 'number' ? L : undefined;
    const bins = flKnown === undefined ? ctx.fresh('bins') : ctx.attrs.onesided ? Math.floor(flKnown / 2) + 1 : flKnown;
    if (step === undefined || typeof L !== 'number' || flKnown === undefined) return [{ dtype: x!.dtype, shape: [x!.shape[0]!, ctx.fresh('frames'), bins, 2] }];
    const g = stftGeometry(L, step, flIn ? fl : undefined, wl, ctx.attrs.onesided === 1, ctx.node);
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, g.frames, g.bins, 2] }];
  },
  cpu([x, stepIn, win, flIn], ctx) {
    const [B, L, cin] = x!.shape as [number, number, number];
    const step = scalarInt(stepIn!, ctx.node, 'frame_step');
    const g = stftGeometry(L, step, flIn ? scalarInt(flIn, ctx.node, 'frame_length') : undefined, win?.size, ctx.attrs.onesided === 1, ctx.node);
    const y = new Tensor(x!.dtype, [B, g.frames, g.bins, 2]);
    const w = win ? (t: number) => win.data[t]! : undefined;
    for (let b = 0; b < B; b++) {
      for (let f = 0; f < g.frames; f++) {
        dft1d(x!.data as ArrayLike<number>, (t) => (b * L + f * step + t) * cin, cin, g.frameLength, y.data as unknown as number[], (k) => ((b * g.frames + f) * g.bins + k) * 2, g.frameLength, g.bins, false, w);
      }
    }
    return [y];
  },
});

/**
 * The triangular filters' edges of MelWeightMatrix: num_mel_bins + 2 DFT bin
 * indices, evenly spaced on the mel scale (mel = 2595·log10(1 + hz/700)) from
 * lower_edge_hertz to upper_edge_hertz in (num_mel_bins + 2) steps, mapped to
 * floor((dft_length + 1)·hz / sample_rate), as ONNX's reference.
 */
export function melEdges(numMelBins: number, dftLength: number, sampleRate: number, lowerHz: number, upperHz: number): number[] {
  const f32 = Math.fround;
  const lowMel = f32(2595 * Math.log10(f32(1 + f32(lowerHz / 700))));
  const highMel = f32(2595 * Math.log10(f32(1 + f32(upperHz / 700))));
  const step = f32((highMel - lowMel) / (numMelBins + 2));
  return Array.from({ length: numMelBins + 2 }, (_, i) => {
    const hz = 700 * (10 ** ((i * step + lowMel) / 2595) - 1);
    return Math.floor(((dftLength + 1) * hz) / sampleRate);
  });
}

/**
 * MelWeightMatrix (opset 17): the [floor(dft_length/2) + 1, num_mel_bins] matrix of
 * triangular mel filters that maps a onesided spectrum to mel bins (see {@link melEdges}).
 */
export const MelWeightMatrix = defineOp({
  name: 'MelWeightMatrix',
  inputs: ['num_mel_bins', 'dft_length', 'sample_rate', 'lower_edge_hertz', 'upper_edge_hertz'],
  outputs: ['output'],
  attrs: { output_datatype: attr.int(1) },
  category: 'opaque',
  shapeInputs: [0, 1],
  doc: 'Triangular mel filter bank weights.',
  infer([mel, len, rate, lo, hi], ctx) {
    const m = knownInt(mel, ctx.node, 'num_mel_bins');
    const n = knownInt(len, ctx.node, 'dft_length');
    knownInt(rate, ctx.node, 'sample_rate');
    expectDType(lo!.dtype, FLOATS, ctx.node, 'lower_edge_hertz');
    expectDType(hi!.dtype, FLOATS, ctx.node, 'upper_edge_hertz');
    const dtype = WINDOW_DTYPES[ctx.attrs.output_datatype];
    if (!dtype) throw new ShapeError(`${ctx.node}: unsupported output_datatype ${ctx.attrs.output_datatype}`, ctx.node);
    if ((m !== undefined && m < 1) || (n !== undefined && n < 1)) throw new ShapeError(`${ctx.node}: num_mel_bins and dft_length must be at least 1, got ${m} and ${n}`, ctx.node);
    return [{ dtype, shape: [n === undefined ? ctx.fresh(0) : Math.floor(n / 2) + 1, m ?? ctx.fresh(1)] }];
  },
  cpu([mel, len, rate, lo, hi], ctx) {
    const m = scalarInt(mel!, ctx.node, 'num_mel_bins');
    const n = scalarInt(len!, ctx.node, 'dft_length');
    const sr = scalarInt(rate!, ctx.node, 'sample_rate');
    if (sr <= 0) throw new ShapeError(`${ctx.node}: sample_rate must be positive, got ${sr}`, ctx.node);
    const rows = Math.floor(n / 2) + 1;
    const e = melEdges(m, n, sr, lo!.data[0]!, hi!.data[0]!);
    const y = new Tensor(ctx.outputs[0]!.dtype, [rows, m]);
    const put = (j: number, i: number, v: number) => {
      if (j >= 0 && j < rows) y.data[j * m + i] = v;
    };
    for (let i = 0; i < m; i++) {
      const [l, c, h] = [e[i]!, e[i + 1]!, e[i + 2]!];
      if (c === l) put(c, i, 1);
      else for (let j = l; j <= c; j++) put(j, i, (j - l) / (c - l));
      if (h > c) for (let j = c; j < h; j++) put(j, i, (h - j) / (h - c));
    }
    return [y];
  },
});

/** Signal and linear-algebra extras. */
export const signalOps = { HannWindow, HammingWindow, BlackmanWindow, DFT, STFT, MelWeightMatrix, Det } as const;
