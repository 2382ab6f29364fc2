/**
 * Op family: bilinear-sampling ops — RoiAlign (pooling of regions of interest,
 * opset 16 with coordinate_transformation_mode) and DeformConv (opset 19: a 2-D
 * convolution sampling its taps at learned offsets, optionally masked). The
 * geometry helpers are exported for the WebGPU kernels (kernels/image.ts).
 */
import { attr } from '../attrs.js';
import { expectDType, FLOATS, INTS } from '../dtype.js';
import { AttributeError, DTypeError, ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import type { Dim } from '../shape.js';
import { Tensor } from '../tensor.js';

/** One RoiAlign bilinear sample: the four corner offsets (y·W + x) and weights; all zero outside the map. */
export function roiBilinear(y0: number, x0: number, height: number, width: number): { pos: [number, number, number, number]; w: [number, number, number, number] } {
  if (y0 < -1 || y0 > height || x0 < -1 || x0 > width) return { pos: [0, 0, 0, 0], w: [0, 0, 0, 0] };
  let y = Math.max(y0, 0);
  let x = Math.max(x0, 0);
  let yl = Math.trunc(y);
  let xl = Math.trunc(x);
  let yh: number;
  let xh: number;
  if (yl >= height - 1) {
    yh = yl = height - 1;
    y = yl;
  } else yh = yl + 1;
  if (xl >= width - 1) {
    xh = xl = width - 1;
    x = xl;
  } else xh = xl + 1;
  const ly = y - yl;
  const lx = x - xl;
  const hy = 1 - ly;
  const hx = 1 - lx;
  return { pos: [yl * width + xl, yl * width + xh, yh * width + xl, yh * width + xh], w: [hy * hx, hy * lx, ly * hx, ly * lx] };
}

/** One region's sampling: start (y, x), bin size (h, w) and samples per bin (h, w), as ONNX's reference. */
export interface RoiFrame {
  readonly startH: number;
  readonly startW: number;
  readonly binH: number;
  readonly binW: number;
  readonly gridH: number;
  readonly gridW: number;
}

/**
 * The sampling frame of a region (x1, y1, x2, y2): scaled by spatial_scale and
 * shifted by -0.5 under half_pixel; output_half_pixel forces regions to at least
 * 1×1; sampling_ratio 0 samples ceil(roi / output) points per bin.
 */
export function roiFrame(roi: readonly number[], a: { readonly spatial_scale: number; readonly sampling_ratio: number; readonly output_height: number; readonly output_width: number; readonly coordinate_transformation_mode: string }): RoiFrame {
  const half = a.coordinate_transformation_mode === 'half_pixel';
  const off = half ? 0.5 : 0;
  const [x1, y1, x2, y2] = roi.map((v) => v * a.spatial_scale - off) as [number, number, number, number];
  let rw = x2 - x1;
  let rh = y2 - y1;
  if (!half) {
    rw = Math.max(rw, 1);
    rh = Math.max(rh, 1);
  }
  const binH = rh / a.output_height;
  const binW = rw / a.output_width;
  const gridH = a.sampling_ratio > 0 ? a.sampling_ratio : Math.ceil(rh / a.output_height);
  const gridW = a.sampling_ratio > 0 ? a.sampling_ratio : Math.ceil(rw / a.output_width);
  return { startH: y1, startW: x1, binH, binW, gridH, gridW };
}

/** RoiAlign's attributes (opset 16). */
const roiAlignAttrs = {
  coordinate_transformation_mode: attr.string('half_pixel', ['half_pixel', 'output_half_pixel']),
  mode: attr.string('avg', ['avg', 'max']),
  output_height: attr.int(1, (v) => (v >= 1 ? undefined : 'must be at least 1')),
  output_width: attr.int(1, (v) => (v >= 1 ? undefined : 'must be at least 1')),
  sampling_ratio: attr.int(0, (v) => (v >= 0 ? undefined : 'must be non-negative')),
  spatial_scale: attr.float(1),
};

/**
 * RoiAlign (opset 16): pools each region of `rois` [R, 4] (x1, y1, x2, y2) of
 * image batch_indices[r] of X [N, C, H, W] into [R, C, output_height,
 * output_width]: each bin averages (avg) or takes the largest weighted corner of
 * (max, as ONNX's reference and onnxruntime) bilinear samples on a regular grid.
 */
export const RoiAlign = defineOp({
  name: 'RoiAlign',
  inputs: ['X', 'rois', 'batch_indices'],
  outputs: ['Y'],
  attrs: roiAlignAttrs,
  category: 'opaque',
  doc: 'Region-of-interest align pooling.',
  infer([x, rois, bi], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    if (rois!.dtype !== x!.dtype) throw new DTypeError(`${ctx.node}: RoiAlign rois must have X's dtype ${x!.dtype}, got ${rois!.dtype}`, ctx.node);
    expectDType(bi!.dtype, INTS, ctx.node, 'batch_indices');
    if (x!.shape.length !== 4) throw new ShapeError(`${ctx.node}: RoiAlign X must be [N, C, H, W], got [${x!.shape}]`, ctx.node);
    if (rois!.shape.length !== 2 || (typeof rois!.shape[1] === 'number' && rois!.shape[1] !== 4)) throw new ShapeError(`${ctx.node}: RoiAlign rois must be [R, 4], got [${rois!.shape}]`, ctx.node);
    if (bi!.shape.length !== 1) throw new ShapeError(`${ctx.node}: RoiAlign batch_indices must be 1-D, got [${bi!.shape}]`, ctx.node);
    const [r, n] = [rois!.shape[0]!, bi!.shape[0]!];
    if (typeof r === 'number' && typeof n === 'number' && r !== n) throw new ShapeError(`${ctx.node}: RoiAlign has ${r} rois but ${n} batch indices`, ctx.node);
    return [{ dtype: x!.dtype, shape: [typeof r === 'number' ? r : n, x!.shape[1]!, ctx.attrs.output_height, ctx.attrs.output_width] }];
  },
  cpu([x, rois, bi], ctx) {
    const [N, C, H, W] = x!.shape as [number, number, number, number];
    const R = rois!.shape[0]!;
    const { output_height: PH, output_width: PW } = ctx.attrs;
    const max = ctx.attrs.mode === 'max';
    const y = new Tensor(x!.dtype, [R, C, PH, PW]);
    for (let r = 0; r < R; r++) {
      const b = bi!.data[r]!;
      if (!(b >= 0 && b < N)) throw new ShapeError(`${ctx.node}: RoiAlign batch index ${b} of roi ${r} is outside [0, ${N})`, ctx.node);
      const f = roiFrame(Array.from(rois!.data.subarray(r * 4, r * 4 + 4) as ArrayLike<number>), ctx.attrs);
      const count = Math.max(f.gridH * f.gridW, 1);
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          const samples: ReturnType<typeof roiBilinear>[] = [];
          for (let iy = 0; iy < f.gridH; iy++) {
            const yy = f.startH + ph * f.binH + ((iy + 0.5) * f.binH) / f.gridH;
            for (let ix = 0; ix < f.gridW; ix++) samples.push(roiBilinear(yy, f.startW + pw * f.binW + ((ix + 0.5) * f.binW) / f.gridW, H, W));
          }
          for (let c = 0; c < C; c++) {
            const base = (b * C + c) * H * W;
            let v = 0;
            samples.forEach((s, k) => {
              if (max) {
                const m = Math.max(...s.w.map((w, j) => w * x!.data[base + s.pos[j]!]!));
                v = k === 0 ? m : Math.max(v, m);
              } else v += s.w.reduce((acc, w, j) => acc + w * x!.data[base + s.pos[j]!]!, 0);
            });
            y.data[((r * C + c) * PH + ph) * PW + pw] = max ? v : v / count;
          }
        }
      }
    }
    return [y];
  },
});

/** DeformConv's geometry (2-D): kernel, strides, dilations, leading pads, output size and channel groups. */
export interface DeformGeometry {
  readonly kernel: [number, number];
  readonly strides: [number, number];
  readonly dilations: [number, number];
  readonly pads: [number, number];
  readonly out: [number, number];
  readonly group: number;
  readonly offsetGroup: number;
}

/**
 * DeformConv's geometry for X [N, C, H, W] and W [M, C/group, kH, kW]: the output
 * is floor((in + pb + pe - ((k - 1)·d + 1)) / s) + 1 per axis; offset must be
 * [N, offset_group·kH·kW·2, oH, oW] and mask [N, offset_group·kH·kW, oH, oW].
 */
export function deformGeometry(
  x: readonly Dim[], w: readonly Dim[], offset: readonly Dim[], mask: readonly Dim[] | undefined,
  a: { readonly dilations?: readonly number[] | undefined; readonly pads?: readonly number[] | undefined; readonly strides?: readonly number[] | undefined; readonly kernel_shape?: readonly number[] | undefined; readonly group: number; readonly offset_group: number },
  node: string,
): DeformGeometry {
  if (x.length !== 4 || w.length !== 4) throw new ShapeError(`${node}: DeformConv is 2-D: X [N, C, H, W] and W [M, C/group, kH, kW], got [${x}] and [${w}]`, node);
  const kernel = (a.kernel_shape ?? w.slice(2)) as number[];
  if (kernel.length !== 2 || kernel.some((k) => typeof k !== 'number')) throw new ShapeError(`${node}: DeformConv needs a known 2-D kernel, got [${kernel}]`, node);
  const two = (v: readonly number[] | undefined, len: number, def: number, name: string): number[] => {
    if (!v || v.length === 0) return new Array<number>(len).fill(def);
    if (v.length !== len) throw new AttributeError(`${node}: DeformConv ${name} has ${v.length} values, expected ${len}`, node);
    return [...v];
  };
  const strides = two(a.strides, 2, 1, 'strides');
  const dilations = two(a.dilations, 2, 1, 'dilations');
  const pads = two(a.pads, 4, 0, 'pads');
  const [C, M] = [x[1], w[0]];
  const { group, offset_group: og } = a;
  if (group < 1 || og < 1) throw new AttributeError(`${node}: DeformConv group and offset_group must be positive`, node);
  if (typeof C === 'number' && (C % og !== 0 || (typeof w[1] === 'number' && w[1] * group !== C))) throw new ShapeError(`${node}: DeformConv X has ${C} channels; W [${w}] with group ${group} and offset_group ${og} do not divide them`, node);
  if (typeof M === 'number' && M % group !== 0) throw new ShapeError(`${node}: DeformConv output channels ${M} are not a multiple of group ${group}`, node);
  const out = [0, 1].map((i) => {
    const d = x[2 + i];
    return typeof d === 'number' ? Math.floor((d + pads[i]! + pads[i + 2]! - ((kernel[i]! - 1) * dilations[i]! + 1)) / strides[i]!) + 1 : -1;
  }) as [number, number];
  const K = kernel[0]! * kernel[1]!;
  const expect = (shape: readonly Dim[], ch: number, what: string): void => {
    const want = [x[0], ch, out[0], out[1]];
    if (shape.length !== 4 || shape.some((d, i) => typeof d === 'number' && typeof want[i] === 'number' && want[i]! >= 0 && d !== want[i])) {
      throw new ShapeError(`${node}: DeformConv ${what} must be [${want.map((d) => (typeof d === 'number' && d >= 0 ? d : '?'))}], got [${shape}]`, node);
    }
  };
  expect(offset, og * K * 2, 'offset');
  if (mask) expect(mask, og * K, 'mask');
  return { kernel: kernel as [number, number], strides: strides as [number, number], dilations: dilations as [number, number], pads: [pads[0]!, pads[1]!], out, group, offsetGroup: og };
}

/**
 * DeformConv (opset 19, 2-D): out[n, m, i, j] = B[m] + Σ_c Σ_k W[m, c, k] ·
 * mask[n, g, k, i, j] · X[n, c](p), p = (i·sH - pH + kh·dH + Δh, j·sW - pW + kw·dW + Δw)
 * with Δ from offset [N, G, kH, kW, 2, oH, oW] of the channel's offset group g,
 * read bilinearly with zeros outside.
 */
export const DeformConv = defineOp({
  name: 'DeformConv',
  inputs: ['X', 'W', 'offset', 'B?', 'mask?'],
  outputs: ['Y'],
  attrs: { dilations: attr.optInts(), group: attr.int(1), kernel_shape: attr.optInts(), offset_group: attr.int(1), pads: attr.optInts(), strides: attr.optInts() },
  category: 'opaque',
  doc: 'Deformable 2-D convolution.',
  infer([x, w, off, b, mask], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    for (const [v, what] of [[w, 'W'], [off, 'offset'], [b, 'B'], [mask, 'mask']] as const) {
      if (v && v.dtype !== x!.dtype) throw new DTypeError(`${ctx.node}: DeformConv ${what} must have X's dtype ${x!.dtype}, got ${v.dtype}`, ctx.node);
    }
    const g = deformGeometry(x!.shape, w!.shape, off!.shape, mask?.shape, ctx.attrs, ctx.node);
    if (b && (b.shape.length !== 1 || (typeof b.shape[0] === 'number' && typeof w!.shape[0] === 'number' && b.shape[0] !== w!.shape[0]))) throw new ShapeError(`${ctx.node}: DeformConv B must be [${w!.shape[0]}], got [${b.shape}]`, ctx.node);
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, w!.shape[0]!, g.out[0] >= 0 ? g.out[0] : ctx.fresh(2), g.out[1] >= 0 ? g.out[1] : ctx.fresh(3)] }];
  },
  cpu([x, w, off, b, mask], ctx) {
    const g = deformGeometry(x!.shape, w!.shape, off!.shape, mask?.shape, ctx.attrs, ctx.node);
    const [N, C, H, Wd] = x!.shape as [number, number, number, number];
    const M = w!.shape[0]!;
    const [kH, kW] = g.kernel;
    const K = kH * kW;
    const [oH, oW] = g.out;
    const cpg = C / g.group;
    const mpg = M / g.group;
    const cpo = C / g.offsetGroup;
    const y = new Tensor(x!.dtype, [N, M, oH, oW]);
    const at = (base: number, py: number, px: number): number => {
      // Bilinear with zeros outside (GridSample, align_corners=1, zeros padding).
      const y0 = Math.floor(py);
      const x0 = Math.floor(px);
      const dy = py - y0;
      const dx = px - x0;
      let v = 0;
      for (const [yy, xx, wt] of [[y0, x0, (1 - dy) * (1 - dx)], [y0, x0 + 1, (1 - dy) * dx], [y0 + 1, x0, dy * (1 - dx)], [y0 + 1, x0 + 1, dy * dx]] as const) {
        if (yy >= 0 && yy < H && xx >= 0 && xx < Wd) v += wt * x!.data[base + yy * Wd + xx]!;
      }
      return v;
    };
    const plane = oH * oW;
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        const grp = Math.floor(m / mpg);
        for (let i = 0; i < oH; i++) {
          for (let j = 0; j < oW; j++) {
            let acc = b ? b.data[m]! : 0;
            for (let cc = 0; cc < cpg; cc++) {
              const c = grp * cpg + cc;
              const og = Math.floor(c / cpo);
              for (let k = 0; k < K; k++) {
                const kh = Math.floor(k / kW);
                const kw = k % kW;
                const ob = (((n * g.offsetGroup + og) * K + k) * 2) * plane + i * oW + j;
                const py = i * g.strides[0] - g.pads[0] + kh * g.dilations[0] + off!.data[ob]!;
                const px = j * g.strides[1] - g.pads[1] + kw * g.dilations[1] + off!.data[ob + plane]!;
                const mk = mask ? mask.data[((n * g.offsetGroup + og) * K + k) * plane + i * oW + j]! : 1;
                acc += w!.data[(m * cpg + cc) * K + k]! * mk * at((n * C + c) * H * Wd, py, px);
              }
            }
            y.data[((n * M + m) * oH + i) * oW + j] = acc;
          }
        }
      }
    }
    return [y];
  },
});

/** Bilinear-sampling ops. */
export const bilinearOps = { RoiAlign, DeformConv } as const;
