/**
 * Op family: GridSample (2-D, and 3-D from opset 20), AffineGrid (its grids) and MaxUnpool. GridSample reads X at the
 * normalized coordinates of `grid` with nearest, bilinear or bicubic interpolation;
 * out-of-range reads follow padding_mode (zeros, border, reflection) as ONNX Runtime
 * does: coordinates are clamped or reflected first, then indices are clamped.
 */
import { attr } from '../attrs.js';
import { expectDType, FLOATS, INTS } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import { tensorInts, Tensor } from '../tensor.js';
import { rint } from './quantize.js';

function reflect(x: number, lo: number, hi: number): number {
  if (x >= lo && x <= hi) return x;
  const rng = hi - lo;
  if (rng <= 0) return lo;
  if (x < lo) {
    const dx = lo - x;
    const n = Math.floor(dx / rng);
    const r = dx - n * rng;
    return n % 2 === 0 ? lo + r : hi - r;
  }
  const dx = x - hi;
  const n = Math.floor(dx / rng);
  const r = dx - n * rng;
  return n % 2 === 0 ? hi - r : lo + r;
}

function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
  const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
  const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
  return [w0, w1, w2, 1 - w0 - w1 - w2];
}

/**
 * GridSample: samples X [N,C,H,W] at grid [N,Ho,Wo,2] (x, y in [-1, 1]), or X
 * [N,C,D,H,W] at grid [N,Do,Ho,Wo,3] (x, y, z; volumetric, opset 20). The grid's
 * last axis lists coordinates innermost axis first (x indexes W). Cubic mode is 2-D
 * only, as in ONNX.
 */
export const GridSample = defineOp({
  name: 'GridSample',
  inputs: ['X', 'grid'],
  outputs: ['Y'],
  attrs: {
    align_corners: attr.int(0),
    mode: attr.string('bilinear', ['bilinear', 'nearest', 'bicubic', 'linear', 'cubic']),
    padding_mode: attr.string('zeros', ['zeros', 'border', 'reflection']),
  },
  category: 'opaque',
  doc: 'Samples the input at grid locations.',
  infer([x, grid], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    const r = x!.shape.length;
    if ((r !== 4 && r !== 5) || grid!.shape.length !== r) {
      throw new ShapeError(`${ctx.node}: GridSample samples 2-D or 3-D: X rank 4 or 5 and grid of the same rank, got [${x!.shape}] and [${grid!.shape}]`, ctx.node);
    }
    const last = grid!.shape[r - 1];
    if (typeof last === 'number' && last !== r - 2) throw new ShapeError(`${ctx.node}: grid's last dim must be ${r - 2} for X of rank ${r}, got ${last}`, ctx.node);
    if (r === 5 && gridMode(ctx.attrs.mode) === 'bicubic') throw new ShapeError(`${ctx.node}: GridSample cubic mode is 2-D only (X has rank 5)`, ctx.node);
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, x!.shape[1]!, ...grid!.shape.slice(1, r - 1)] }];
  },
  cpu([x, grid], ctx) {
    const sp = x!.shape.length - 2;
    const [N, C] = x!.shape as [number, number];
    const inDims = x!.shape.slice(2) as number[];
    const outDims = grid!.shape.slice(1, 1 + sp) as number[];
    const inS = inDims.reduce((p, d) => p * d, 1);
    const outS = outDims.reduce((p, d) => p * d, 1);
    const { align_corners: alignNum, padding_mode: pad } = ctx.attrs;
    const mode = gridMode(ctx.attrs.mode);
    const align = alignNum === 1;
    const y = new Tensor(x!.dtype, [N, C, ...outDims]);
    const denorm = (v: number, len: number) => (align ? ((v + 1) / 2) * (len - 1) : ((v + 1) * len - 1) / 2);
    const coord = (v: number, len: number) => {
      if (mode === 'bicubic') return v;
      if (pad === 'border') return Math.min(Math.max(v, 0), len - 1);
      if (pad === 'reflection') return align ? reflect(v, 0, len - 1) : reflect(v, -0.5, len - 0.5);
      return v;
    };
    const index = (i: number, len: number): number => {
      if (pad === 'zeros') return i >= 0 && i < len ? i : -1;
      const j = pad === 'reflection' && mode === 'bicubic' ? (align ? reflect(i, 0, len - 1) : reflect(i, -0.5, len - 0.5)) : i;
      return Math.min(Math.max(Math.round(j), 0), len - 1);
    };
    // Per spatial axis (outermost first): the taps' first position and their weights.
    const taps = mode === 'nearest' ? 1 : mode === 'bilinear' ? 2 : 4;
    const first = new Array<number>(sp);
    const weights = Array.from({ length: sp }, () => new Array<number>(taps));
    const at = new Array<number>(sp);
    const combos = taps ** sp;
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < outS; o++) {
        const g = (n * outS + o) * sp;
        for (let a = 0; a < sp; a++) {
          const len = inDims[a]!;
          const c = coord(denorm(grid!.data[g + sp - 1 - a]!, len), len);
          if (mode === 'nearest') {
            first[a] = rint(c);
            weights[a]![0] = 1;
          } else {
            const f = Math.floor(c);
            if (mode === 'bilinear') {
              first[a] = f;
              weights[a]![0] = 1 - (c - f);
              weights[a]![1] = c - f;
            } else {
              first[a] = f - 1;
              cubicWeights(c - f).forEach((w, t) => (weights[a]![t] = w));
            }
          }
        }
        for (let ch = 0; ch < C; ch++) {
          const base = (n * C + ch) * inS;
          let v = 0;
          for (let k = 0; k < combos; k++) {
            let w = 1;
            let off = 0;
            let inside = true;
            for (let a = 0, rest = k; a < sp; a++) {
              const t = rest % taps;
              rest = Math.floor(rest / taps);
              w *= weights[a]![t]!;
              const idx = index(first[a]! + t, inDims[a]!);
              if (idx < 0) inside = false;
              at[a] = idx;
            }
            if (!inside) continue;
            for (let a = 0; a < sp; a++) off = off * inDims[a]! + at[a]!;
            v += w * x!.data[base + off]!;
          }
          y.data[(n * C + ch) * outS + o] = v;
        }
      }
    }
    return [y];
  },
});

/** GridSample's mode with the opset-20 names mapped to the opset-16 ones. */
export function gridMode(mode: string): 'nearest' | 'bilinear' | 'bicubic' {
  return mode === 'linear' || mode === 'bilinear' ? 'bilinear' : mode === 'cubic' || mode === 'bicubic' ? 'bicubic' : 'nearest';
}

/**
 * The normalized base coordinate of index i along an axis of length len, as
 * AffineGrid lays it out: -1 + 2i/(len - 1) with align_corners (-1 for len 1),
 * else the pixel centres -1 + (2i + 1)/len.
 */
export function affineBase(i: number, len: number, align: boolean): number {
  if (align) return len === 1 ? -1 : -1 + (2 * i) / (len - 1);
  return -1 + (2 * i + 1) / len;
}

/**
 * AffineGrid (opset 20): the sampling grid of an affine transform for GridSample.
 * theta [N, 2, 3] with size [N, C, H, W] gives [N, H, W, 2]; theta [N, 3, 4] with
 * size [N, C, D, H, W] gives [N, D, H, W, 3]. Each point is theta · (x, y[, z], 1)
 * with x along W.
 */
export const AffineGrid = defineOp({
  name: 'AffineGrid',
  inputs: ['theta', 'size'],
  outputs: ['grid'],
  attrs: { align_corners: attr.int(0) },
  category: 'opaque',
  shapeInputs: [1],
  doc: 'Generates a 2-D or 3-D sampling grid from affine matrices theta.',
  infer([theta, size], ctx) {
    expectDType(theta!.dtype, FLOATS, ctx.node, 'theta');
    expectDType(size!.dtype, ['int64'], ctx.node, 'size');
    const len = size!.value ? size!.value.size : size!.shape[0];
    if (size!.shape.length !== 1 || (len !== 4 && len !== 5)) throw new ShapeError(`${ctx.node}: AffineGrid size must be [N, C, H, W] or [N, C, D, H, W], got shape [${size!.shape}]`, ctx.node);
    const sp = len - 2;
    const [tn, tr, tc] = theta!.shape;
    if (theta!.shape.length !== 3 || (typeof tr === 'number' && tr !== sp) || (typeof tc === 'number' && tc !== sp + 1)) {
      throw new ShapeError(`${ctx.node}: AffineGrid theta must be [N, ${sp}, ${sp + 1}] for a ${sp}-D size, got [${theta!.shape}]`, ctx.node);
    }
    if (!size!.value) return [{ dtype: theta!.dtype, shape: [tn!, ...Array.from({ length: sp }, (_, i) => ctx.fresh(i)), sp] }];
    const dims = tensorInts(size!.value);
    if (typeof tn === 'number' && dims[0] !== tn) throw new ShapeError(`${ctx.node}: AffineGrid size says N = ${dims[0]}, theta has ${tn}`, ctx.node);
    if (dims.some((d) => d < 1)) throw new ShapeError(`${ctx.node}: AffineGrid size [${dims}] has a dim below 1`, ctx.node);
    return [{ dtype: theta!.dtype, shape: [dims[0]!, ...dims.slice(2), sp] }];
  },
  cpu([theta, size], ctx) {
    const dims = tensorInts(size!);
    const sp = dims.length - 2;
    const N = dims[0]!;
    const spatial = dims.slice(2);
    const count = spatial.reduce((p, d) => p * d, 1);
    const align = ctx.attrs.align_corners === 1;
    const y = new Tensor(theta!.dtype, [N, ...spatial, sp]);
    const base = new Array<number>(sp + 1).fill(1);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < count; o++) {
        // base = (x, y[, z], 1): x from the innermost axis.
        for (let a = sp - 1, rest = o; a >= 0; a--) {
          base[sp - 1 - a] = affineBase(rest % spatial[a]!, spatial[a]!, align);
          rest = Math.floor(rest / spatial[a]!);
        }
        for (let j = 0; j < sp; j++) {
          let v = 0;
          for (let k = 0; k <= sp; k++) v += theta!.data[(n * sp + j) * (sp + 1) + k]! * base[k]!;
          y.data[(n * count + o) * sp + j] = v;
        }
      }
    }
    return [y];
  },
});

/** MaxUnpool: scatters X into a zero tensor at the flat positions given by MaxPool's Indices. */
export const MaxUnpool = defineOp({
  name: 'MaxUnpool',
  inputs: ['X', 'I', 'output_shape?'],
  outputs: ['output'],
  attrs: { kernel_shape: attr.ints(), pads: attr.optInts(), strides: attr.optInts() },
  category: 'opaque',
  shapeInputs: [2],
  doc: 'Partial inverse of MaxPool.',
  infer([x, ind, os], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    expectDType(ind!.dtype, INTS, ctx.node, 'I');
    if (os) {
      const v = os.value;
      const r = os.shape[0];
      if (v) return [{ dtype: x!.dtype, shape: tensorInts(v) }];
      if (typeof r !== 'number') throw new ShapeError(`${ctx.node}: output_shape must have a known length`, ctx.node);
      return [{ dtype: x!.dtype, shape: Array.from({ length: r }, (_, i) => ctx.fresh(i)) }];
    }
    return [{ dtype: x!.dtype, shape: unpoolShape(x!.shape, ctx.attrs, ctx.fresh) }];
  },
  cpu([x, ind], ctx) {
    const y = new Tensor(x!.dtype, ctx.outputs[0]!.shape as number[]);
    // Indices address the default output shape; place each value at the same coordinates of the given shape.
    const dflt = unpoolShape(x!.shape, ctx.attrs, ctx.fresh) as number[];
    const dSize = dflt.reduce((a, b) => a * b, 1);
    for (let i = 0; i < x!.size; i++) {
      let at = ind!.data[i]!;
      if (at < 0 || at >= dSize) throw new ShapeError(`${ctx.node}: index ${at} is outside the unpooled shape [${dflt}]`, ctx.node);
      let flat = 0;
      let stride = 1;
      for (let a = dflt.length - 1; a >= 0; a--) {
        const c = at % dflt[a]!;
        at = Math.floor(at / dflt[a]!);
        if (c >= y.shape[a]!) throw new ShapeError(`${ctx.node}: output_shape [${y.shape}] is smaller than the unpooled shape [${dflt}]`, ctx.node);
        flat += c * stride;
        stride *= y.shape[a]!;
      }
      y.data[flat] = x!.data[i]!;
    }
    return [y];
  },
});

function unpoolShape(
  shape: readonly (number | string)[],
  attrs: { readonly kernel_shape: readonly number[]; readonly strides: readonly number[] | undefined; readonly pads: readonly number[] | undefined },
  fresh: (t: number) => string,
): (number | string)[] {
  const k = attrs.kernel_shape;
  const sp = k.length;
  const strides = attrs.strides ?? k.map(() => 1);
  const pads = attrs.pads ?? new Array<number>(2 * sp).fill(0);
  return shape.map((d, a) => {
    if (a < shape.length - sp) return d;
    const s = a - (shape.length - sp);
    return typeof d === 'number' ? (d - 1) * strides[s]! + k[s]! - pads[s]! - pads[s + sp]! : fresh(a);
  });
}

/** Sampling ops. */
export const sampleOps = { GridSample, AffineGrid, MaxUnpool } as const;
