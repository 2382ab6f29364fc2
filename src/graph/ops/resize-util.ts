/**
 * The CPU core of Resize and Upsample. Each resized axis maps output coordinate
 * `x` to an input coordinate with the coordinate transformation mode, and turns it
 * into taps (input index, weight): one for nearest, two for linear, four for cubic
 * (edge-clamped, optionally renormalised inside the input with exclude_outside).
 * With antialias, a linear or cubic axis that shrinks (scale s < 1) takes the
 * filter stretched by 1 / s: 2 - 2·(⌊-r/s⌋ + 1) taps (r = 1 linear, 2 cubic) whose
 * weights are the filter at s·(tap - x), normalised to sum 1 (ONNX's reference).
 * Because n-linear and n-cubic weights are products of per-axis weights, the
 * resize runs as one 1-D pass per axis. With tf_crop_and_resize, an output element
 * whose coordinate falls outside the input on any axis takes extrapolation_value.
 */
import { stridesOf } from '../shape.js';
import { Tensor } from '../tensor.js';

/** Interpolation modes. */
export const RESIZE_MODES = ['nearest', 'linear', 'cubic'] as const;
/** Coordinate transformation modes (opset 11-18). */
export const COORD_MODES = [
  'half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn', 'tf_crop_and_resize',
] as const;
/** Nearest rounding modes. */
export const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] as const;

/** Everything the core needs besides the data. */
export interface ResizeParams {
  readonly mode: (typeof RESIZE_MODES)[number];
  readonly coord: (typeof COORD_MODES)[number];
  readonly nearest: (typeof NEAREST_MODES)[number];
  readonly cubicA: number;
  readonly excludeOutside: boolean;
  /** Antialias (opset 18): linear and cubic widen their filter by 1 / scale when downsampling. */
  readonly antialias: boolean;
  readonly extrapolation: number;
  /** Per-axis scale (output / input). */
  readonly scales: readonly number[];
  /** Per-axis region of interest [start, end] in normalised coordinates (tf_crop_and_resize). */
  readonly roi: readonly (readonly [number, number])[];
}

/**
 * Output coordinate to input coordinate. As in the ONNX reference, the resized
 * length in the formulas is the unrounded `scale * inLen` (equal to the requested
 * size when sizes are given); `outLen` is the integer output length.
 */
type Transform = (x: number, scale: number, inLen: number, outLen: number, roi: readonly [number, number]) => number;

const TRANSFORMS: Record<ResizeParams['coord'], Transform> = {
  half_pixel: (x, s) => (x + 0.5) / s - 0.5,
  half_pixel_symmetric: (x, s, inLen, outLen) => {
    const adj = outLen / (s * inLen);
    return (inLen / 2) * (1 - adj) + (x + 0.5) / s - 0.5;
  },
  pytorch_half_pixel: (x, s, inLen) => (s * inLen > 1 ? (x + 0.5) / s - 0.5 : 0),
  align_corners: (x, s, inLen) => (s * inLen === 1 ? 0 : (x * (inLen - 1)) / (s * inLen - 1)),
  asymmetric: (x, s) => x / s,
  tf_half_pixel_for_nn: (x, s) => (x + 0.5) / s,
  tf_crop_and_resize: (x, s, inLen, _o, [a, b]) =>
    s * inLen > 1 ? a * (inLen - 1) + (x * (b - a) * (inLen - 1)) / (s * inLen - 1) : 0.5 * (a + b) * (inLen - 1),
};

const ROUND: Record<ResizeParams['nearest'], (x: number) => number> = {
  round_prefer_floor: (x) => (x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x)),
  round_prefer_ceil: (x) => Math.round(x),
  floor: Math.floor,
  ceil: Math.ceil,
};

function cubicCoeffs(t: number, a: number): number[] {
  const u = 1 - t;
  return [
    ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
    ((a + 2) * t - (a + 3)) * t * t + 1,
    ((a + 2) * u - (a + 3)) * u * u + 1,
    ((a * (u + 1) - 5 * a) * (u + 1) + 8 * a) * (u + 1) - 4 * a,
  ];
}

/** The taps of one resized axis: `count` (index, weight) pairs per output coordinate. */
export interface ResizeTaps {
  readonly count: number;
  readonly index: Int32Array;
  readonly weight: Float64Array;
  /** 1 where the coordinate is outside the input (tf_crop_and_resize only). */
  readonly outside: Uint8Array;
}

/** The filter of an antialiased linear or cubic axis at distance x (in output pixels). */
function antialiasFilter(mode: 'linear' | 'cubic', a: number): (x: number) => number {
  if (mode === 'linear') return (x) => Math.min(Math.max(1 - Math.abs(x), 0), 1);
  return (x) => {
    const t = Math.abs(x);
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
  };
}

/** Antialiased taps of one axis (linear or cubic; any scale, as the reference clamps it to at most 1). */
function antialiasTaps(p: ResizeParams, axis: number, inLen: number, outLen: number, mode: 'linear' | 'cubic'): ResizeTaps {
  const s = Math.min(p.scales[axis]!, 1);
  const start = Math.floor(-(mode === 'linear' ? 1 : 2) / s) + 1;
  const count = 2 - 2 * start;
  const f = antialiasFilter(mode, p.cubicA);
  const index = new Int32Array(outLen * count);
  const weight = new Float64Array(outLen * count);
  const outside = new Uint8Array(outLen);
  const tf = TRANSFORMS[p.coord];
  for (let x = 0; x < outLen; x++) {
    const xo = tf(x, p.scales[axis]!, inLen, outLen, p.roi[axis]!);
    if (p.coord === 'tf_crop_and_resize' && (xo < 0 || xo > inLen - 1)) outside[x] = 1;
    // The taps sit at base + start + k, with base + ratio = xo and ratio in (0, 1].
    const ratio = Number.isInteger(xo) ? 1 : xo - Math.floor(xo);
    const base = xo - ratio;
    let sum = 0;
    for (let k = 0; k < count; k++) {
      const i = base + start + k;
      const w = p.excludeOutside && (i < 0 || i >= inLen) ? 0 : f(s * (start + k - ratio));
      index[x * count + k] = Math.min(Math.max(i, 0), inLen - 1);
      weight[x * count + k] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < count; k++) weight[x * count + k] = weight[x * count + k]! / sum;
  }
  return { count, index, weight, outside };
}

function axisTaps(p: ResizeParams, axis: number, inLen: number, outLen: number): ResizeTaps {
  if (p.antialias && p.mode !== 'nearest') return antialiasTaps(p, axis, inLen, outLen, p.mode);
  const count = p.mode === 'nearest' ? 1 : p.mode === 'linear' ? 2 : 4;
  const index = new Int32Array(outLen * count);
  const weight = new Float64Array(outLen * count);
  const outside = new Uint8Array(outLen);
  const tf = TRANSFORMS[p.coord];
  const clamp = (i: number) => Math.min(Math.max(i, 0), inLen - 1);
  for (let x = 0; x < outLen; x++) {
    const xo = tf(x, p.scales[axis]!, inLen, outLen, p.roi[axis]!);
    if (p.coord === 'tf_crop_and_resize' && (xo < 0 || xo > inLen - 1)) outside[x] = 1;
    const base = x * count;
    if (p.mode === 'nearest') {
      index[base] = clamp(ROUND[p.nearest](xo));
      weight[base] = 1;
      continue;
    }
    if (p.mode === 'linear') {
      const xc = Math.min(Math.max(xo, 0), inLen - 1);
      const i0 = Math.floor(xc);
      index[base] = i0;
      index[base + 1] = clamp(i0 + 1);
      weight[base] = 1 - (xc - i0);
      weight[base + 1] = xc - i0;
      continue;
    }
    const i0 = Math.floor(xo);
    const c = cubicCoeffs(xo - i0, p.cubicA);
    let sum = 0;
    for (let t = 0; t < 4; t++) {
      const i = i0 - 1 + t;
      const w = p.excludeOutside && (i < 0 || i >= inLen) ? 0 : c[t]!;
      index[base + t] = clamp(i);
      weight[base + t] = w;
      sum += w;
    }
    if (p.excludeOutside && sum !== 0) for (let t = 0; t < 4; t++) weight[base + t] = weight[base + t]! / sum;
  }
  return { count, index, weight, outside };
}

/**
 * Taps of every axis resizing `inShape` to `outShape` (same rank); undefined for an
 * axis that stays as it is (same length, scale 1, not tf_crop_and_resize).
 */
export function resizeTaps(p: ResizeParams, inShape: readonly number[], outShape: readonly number[]): (ResizeTaps | undefined)[] {
  return inShape.map((inLen, ax) =>
    inLen === outShape[ax] && p.scales[ax] === 1 && p.coord !== 'tf_crop_and_resize' ? undefined : axisTaps(p, ax, inLen, outShape[ax]!),
  );
}

/** Resizes `x` to `outShape` (same rank) on the CPU. */
export function resizeCpu(x: Tensor, outShape: readonly number[], p: ResizeParams): Tensor {
  let shape = [...x.shape];
  let data = Float64Array.from(x.data);
  const taps = resizeTaps(p, x.shape, outShape);
  for (let ax = 0; ax < shape.length; ax++) {
    const inLen = shape[ax]!;
    const outLen = outShape[ax]!;
    const t = taps[ax];
    if (!t) continue;
    const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
    const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
    const next = new Float64Array(outer * outLen * inner);
    for (let o = 0; o < outer; o++) {
      const src = o * inLen * inner;
      for (let j = 0; j < outLen; j++) {
        const dst = (o * outLen + j) * inner;
        for (let k = 0; k < t.count; k++) {
          const w = t.weight[j * t.count + k]!;
          if (w === 0) continue;
          const s = src + t.index[j * t.count + k]! * inner;
          for (let i = 0; i < inner; i++) next[dst + i] = next[dst + i]! + w * data[s + i]!;
        }
      }
    }
    data = next;
    shape[ax] = outLen;
  }
  if (taps.some((t) => t && t.outside.some((v) => v))) extrapolate(data, shape, taps, p.extrapolation);
  shape = [...outShape];
  const out = new Tensor(x.dtype, shape);
  const round = !x.isFloat && p.mode !== 'nearest';
  for (let i = 0; i < data.length; i++) out.data[i] = round ? Math.round(data[i]!) : data[i]!;
  return out;
}

function extrapolate(data: Float64Array, shape: readonly number[], taps: readonly (ResizeTaps | undefined)[], value: number): void {
  const st = stridesOf(shape);
  for (let i = 0; i < data.length; i++) {
    for (let ax = 0; ax < shape.length; ax++) {
      const t = taps[ax];
      if (t && t.outside[Math.floor(i / st[ax]!) % shape[ax]!]) { data[i] = value; break; }
    }
  }
}
