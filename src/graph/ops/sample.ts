/**
 * Op family: GridSample (opset 16, 2-D) and MaxUnpool. GridSample reads X at the
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

/** GridSample: samples X [N,C,H,W] at grid [N,Ho,Wo,2] (x, y in [-1, 1]). */
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
    if (x!.shape.length !== 4 || grid!.shape.length !== 4) {
      throw new ShapeError(`${ctx.node}: GridSample supports 2-D sampling: X rank 4 and grid rank 4, got [${x!.shape}] and [${grid!.shape}]`, ctx.node);
    }
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, x!.shape[1]!, grid!.shape[1]!, grid!.shape[2]!] }];
  },
  cpu([x, grid], ctx) {
    const [N, C, H, W] = x!.shape as [number, number, number, number];
    const [, Ho, Wo] = grid!.shape as [number, number, number, number];
    const { align_corners: alignNum, padding_mode: pad } = ctx.attrs;
    const mode = ctx.attrs.mode === 'linear' ? 'bilinear' : ctx.attrs.mode === 'cubic' ? 'bicubic' : ctx.attrs.mode;
    const align = alignNum === 1;
    const y = new Tensor(x!.dtype, [N, C, Ho, Wo]);
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
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * H * W;
        const px = (xi: number, yi: number) => {
          const a = index(xi, W);
          const b = index(yi, H);
          return a < 0 || b < 0 ? 0 : x!.data[base + b * W + a]!;
        };
        for (let i = 0; i < Ho; i++) {
          for (let j = 0; j < Wo; j++) {
            const g = ((n * Ho + i) * Wo + j) * 2;
            const gx = coord(denorm(grid!.data[g]!, W), W);
            const gy = coord(denorm(grid!.data[g + 1]!, H), H);
            let v: number;
            if (mode === 'nearest') {
              v = px(rint(gx), rint(gy));
            } else if (mode === 'bilinear') {
              const x0 = Math.floor(gx);
              const y0 = Math.floor(gy);
              const dx = gx - x0;
              const dy = gy - y0;
              v = (1 - dy) * ((1 - dx) * px(x0, y0) + dx * px(x0 + 1, y0)) + dy * ((1 - dx) * px(x0, y0 + 1) + dx * px(x0 + 1, y0 + 1));
            } else {
              const x0 = Math.floor(gx);
              const y0 = Math.floor(gy);
              const wx = cubicWeights(gx - x0);
              const wy = cubicWeights(gy - y0);
              v = 0;
              for (let a = 0; a < 4; a++) {
                let row = 0;
                for (let b = 0; b < 4; b++) row += wx[b]! * px(x0 - 1 + b, y0 - 1 + a);
                v += wy[a]! * row;
              }
            }
            y.data[((n * C + c) * Ho + i) * Wo + j] = v;
          }
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
export const sampleOps = { GridSample, MaxUnpool } as const;
