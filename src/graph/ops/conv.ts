/**
 * Op family: convolution — Conv, ConvTranspose, ConvInteger.
 * CPU reference: Conv lowers each (batch, group) to im2col + the blocked matmul
 * kernel; ConvTranspose multiplies by the transposed weights and scatters with
 * col2im. Spatial ranks 1 to 3 share one loop nest by folding to three axes.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType, type DType } from '../dtype.js';
import { AttributeError, DTypeError, ShapeError } from '../errors.js';
import { defineOp, setTrait, type InferInput, type ValueType } from '../op.js';
import { LOAD_FUSION } from '../load-fusion.js';
import { formatShape, sizeOf, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { fold3, im2col, resolveWindow, windowAttrs, windowParams, type Window, type Window3, type WindowAttrs } from './conv-util.js';
import { matmulAcc, transpose2d, type FloatArray } from './gemm-kernel.js';
import { floatData } from './matmul.js';
import type { Sym } from '../builder.js';
import { declareGradient } from '../gradient.js';
import { ints, outputPadding, staticSpatial } from './grad-util.js';

const convAttrs = { ...windowAttrs, group: attr.int(1, (v) => (v >= 1 ? undefined : 'must be >= 1')) };

/** Resolved window and output shape of a Conv or ConvTranspose node. */
export interface ConvGeom {
  readonly win: Window;
  readonly shape: Dim[];
}

function kernelOf(w: InferInput, a: WindowAttrs, node: string): number[] {
  const ks = w.shape.slice(2);
  if (a.kernel_shape && a.kernel_shape.length > 0 && ks.some((d) => typeof d !== 'number')) return [...a.kernel_shape];
  if (ks.some((d) => typeof d !== 'number')) throw new ShapeError(`${node}: weights ${formatShape(w.shape)} need known spatial dims`, node);
  return ks as number[];
}

function convGeom(x: InferInput, w: InferInput, a: WindowAttrs & { group: number }, node: string, fresh: (t: string | number) => string): ConvGeom {
  if (x.shape.length < 3) throw new ShapeError(`${node}: Conv input X ${formatShape(x.shape)} needs rank >= 3 (N, C, spatial...)`, node);
  if (w.shape.length !== x.shape.length) {
    throw new ShapeError(`${node}: Conv weights W ${formatShape(w.shape)} must have the rank of X ${formatShape(x.shape)}`, node);
  }
  const c = x.shape[1]!;
  const wc = w.shape[1]!;
  const m = w.shape[0]!;
  if (typeof c === 'number' && typeof wc === 'number' && c !== wc * a.group) {
    throw new ShapeError(`${node}: Conv X ${formatShape(x.shape)} has ${c} channels but W ${formatShape(w.shape)} expects ${wc} x group ${a.group}`, node);
  }
  if (typeof m === 'number' && m % a.group !== 0) {
    throw new ShapeError(`${node}: Conv W ${formatShape(w.shape)} has ${m} output channels, not divisible by group ${a.group}`, node);
  }
  const win = resolveWindow(a, x.shape.slice(2), kernelOf(w, a, node), node, fresh);
  return { win, shape: [x.shape[0]!, m, ...win.out] };
}

function checkBias(b: InferInput | undefined, m: Dim, node: string): void {
  if (!b) return;
  if (b.shape.length !== 1 || (typeof m === 'number' && typeof b.shape[0] === 'number' && b.shape[0] !== m)) {
    throw new ShapeError(`${node}: bias B ${formatShape(b.shape)} must be [${m}]`, node);
  }
}

function isPointwise(w: Window3): boolean {
  return w.kernel.every((k) => k === 1) && w.strides.every((s) => s === 1) && w.padBegin.every((p) => p === 0) && w.outDims.every((d, i) => d === w.inDims[i]);
}

/** Conv on float work arrays: y ([N, M, OUT]) must be zeroed. */
function convCore(x: FloatArray, xs: readonly number[], w: FloatArray, ws: readonly number[], group: number, win: Window3, y: FloatArray): void {
  const [n, c] = xs as [number, number];
  const m = ws[0]!;
  const cg = c / group;
  const mg = m / group;
  const k3 = win.kernel[0] * win.kernel[1] * win.kernel[2];
  const kc = cg * k3;
  const inSize = win.inDims[0] * win.inDims[1] * win.inDims[2];
  const outSize = win.outDims[0] * win.outDims[1] * win.outDims[2];
  const direct = isPointwise(win);
  const col = direct ? x : new (x.constructor as { new (n: number): FloatArray })(kc * outSize);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < group; g++) {
      const xOff = (b * c + g * cg) * inSize;
      if (!direct) im2col(x, xOff, cg, win, col);
      matmulAcc(mg, outSize, kc, w, g * mg * kc, col, direct ? xOff : 0, y, (b * m + g * mg) * outSize);
    }
  }
}

function addBias(y: FloatArray, bias: Tensor | undefined, n: number, m: number, outSize: number): void {
  if (!bias) return;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < m; ch++) {
      const v = bias.data[ch]!;
      const off = (b * m + ch) * outSize;
      for (let i = 0; i < outSize; i++) y[off + i] = y[off + i]! + v;
    }
  }
}

function floatOut(out: Tensor): FloatArray {
  return out.data instanceof Float32Array || out.data instanceof Float64Array ? out.data : new Float64Array(out.size);
}

/** Conv: N-D convolution with groups, strides, dilations, pads/auto_pad and optional bias. */
export const Conv = defineOp({
  name: 'Conv',
  inputs: ['X', 'W', 'B?'],
  outputs: ['Y'],
  attrs: convAttrs,
  category: 'output-fusable',
  doc: 'Convolution (1-D to 3-D) with groups, dilations, strides, padding and bias.',
  infer([x, w, b], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    if (w!.dtype !== x!.dtype || (b && b.dtype !== x!.dtype)) {
      throw new DTypeError(`${ctx.node}: Conv inputs have dtypes ${[x, w, b].filter(Boolean).map((v) => v!.dtype).join(', ')}`, ctx.node);
    }
    const g = convGeom(x!, w!, ctx.attrs, ctx.node, ctx.fresh);
    checkBias(b, w!.shape[0]!, ctx.node);
    return [{ dtype: x!.dtype, shape: g.shape }];
  },
  cpu([x, w, b], ctx) {
    const g = convGeom(x!, w!, ctx.attrs, ctx.node, ctx.fresh);
    const out = new Tensor(x!.dtype, g.shape as number[]);
    const y = floatOut(out);
    const win = fold3(g.win, x!.shape.slice(2), ctx.node);
    convCore(floatData(x!), x!.shape, floatData(w!), w!.shape, ctx.attrs.group, win, y);
    addBias(y, b, x!.shape[0]!, w!.shape[0]!, sizeOf(g.shape.slice(2) as number[]));
    return [out];
  },
});
/**
 * dX = ConvTranspose(g, W) with the forward window (output_padding restores X's size);
 * dW = a Conv of X (batch and channel axes swapped, grouped) with g as the kernel,
 * strides and dilations exchanged, cropped to the kernel size; dB = Σ g over N and space.
 */
declareGradient(Conv, ({ b, inputs: [x, w, bias], grads: [g], attrs, wants, node }) => {
  const spatial = staticSpatial(x!, node, 'Conv');
  const k = w!.shape.slice(2) as number[];
  const win = resolveWindow(attrs, spatial, k, node, (t) => `${node}#${t}`);
  const n = spatial.length;
  const pads = [...win.padBegin, ...win.padEnd];
  const out = win.out as number[];
  const G = attrs.group;
  const sp = Array.from({ length: n }, (_, i) => i + 2);
  let dX: Sym | undefined;
  if (wants(0)) {
    const output_padding = outputPadding(spatial, out, k, win.strides, win.dilations, win.padBegin, win.padEnd);
    dX = b.ConvTranspose([g!, w!], { group: G, strides: win.strides, dilations: win.dilations, pads, output_padding });
  }
  let dW: Sym | undefined;
  if (wants(1)) {
    const cg = w!.shape[1] as number;
    const xs = b.Reshape([x!, ints(b, [0, G, cg, ...spatial])]);
    const xt = b.Reshape([b.Transpose([xs], { perm: [2, 1, 0, ...sp.map((a) => a + 1)] }), ints(b, [cg, -1, ...spatial])]);
    const gt = b.Transpose([g!], { perm: [1, 0, ...sp] });
    const full = b.Conv([xt, gt], { group: G, strides: win.dilations, dilations: win.strides, pads });
    const cropped = b.Slice([full, ints(b, new Array<number>(n).fill(0)), ints(b, k), ints(b, sp)]);
    dW = b.Transpose([cropped], { perm: [1, 0, ...sp] });
  }
  const dB = bias && wants(2) ? b.ReduceSum([g!, ints(b, [0, ...sp])], { keepdims: 0 }) : undefined;
  return [dX, dW, dB];
});

const INT8: readonly DType[] = ['int8', 'uint8'];

function minusZero(t: Tensor, z: Tensor | undefined, perChannel: number, node: string, what: string): Float64Array {
  const r = Float64Array.from(t.data);
  if (!z) return r;
  if (z.size === 1) {
    const v = z.data[0]!;
    for (let i = 0; i < r.length; i++) r[i] = r[i]! - v;
    return r;
  }
  if (z.size !== perChannel) throw new ShapeError(`${node}: ${what} ${z} must be a scalar or have ${perChannel} elements`, node);
  const per = r.length / perChannel;
  for (let i = 0; i < r.length; i++) r[i] = r[i]! - z.data[Math.floor(i / per)]!;
  return r;
}

/** ConvInteger: integer convolution with zero points, int32 result. */
export const ConvInteger = defineOp({
  name: 'ConvInteger',
  inputs: ['x', 'w', 'x_zero_point?', 'w_zero_point?'],
  outputs: ['y'],
  attrs: convAttrs,
  category: 'output-fusable',
  doc: 'Convolution of int8/uint8 tensors (x - x_zero_point) * (w - w_zero_point), accumulated in int32.',
  infer([x, w], ctx) {
    expectDType(x!.dtype, INT8, ctx.node, 'x');
    expectDType(w!.dtype, INT8, ctx.node, 'w');
    return [{ dtype: 'int32', shape: convGeom(x!, w!, ctx.attrs, ctx.node, ctx.fresh).shape }];
  },
  cpu([x, w, zx, zw], ctx) {
    const g = convGeom(x!, w!, ctx.attrs, ctx.node, ctx.fresh);
    const out = new Tensor('int32', g.shape as number[]);
    const y = new Float64Array(out.size);
    const xv = minusZero(x!, zx, 1, ctx.node, 'x_zero_point');
    const wv = minusZero(w!, zw, w!.shape[0]!, ctx.node, 'w_zero_point');
    convCore(xv, x!.shape, wv, w!.shape, ctx.attrs.group, fold3(g.win, x!.shape.slice(2), ctx.node), y);
    for (let i = 0; i < y.length; i++) out.data[i] = y[i]!;
    return [out];
  },
});

const convTransposeAttrs = { ...convAttrs, output_padding: attr.optInts(), output_shape: attr.optInts() };
/** The attributes of a ConvTranspose node that its geometry reads. */
export type CTAttrs = WindowAttrs & { group: number; output_padding?: readonly number[] | undefined; output_shape?: readonly number[] | undefined };

/**
 * ConvTranspose geometry. Output size `s*(in-1) + output_padding + ek - pb - pe`;
 * with `output_shape` (or SAME auto_pad, giving `in*s`) the pads are derived from
 * the total padding, the odd unit at the end for SAME_UPPER, else at the start.
 */
export function convTransposeGeom(x: InferInput, w: InferInput, a: CTAttrs, node: string, fresh: (t: string | number) => string): ConvGeom {
  if (x.shape.length < 3 || w.shape.length !== x.shape.length) {
    throw new ShapeError(`${node}: ConvTranspose needs X (N, C, spatial...) and W of the same rank, got X ${formatShape(x.shape)} and W ${formatShape(w.shape)}`, node);
  }
  const c = x.shape[1]!;
  if (typeof c === 'number' && typeof w.shape[0] === 'number' && c !== w.shape[0]) {
    throw new ShapeError(`${node}: ConvTranspose X ${formatShape(x.shape)} has ${c} channels but W ${formatShape(w.shape)} has ${w.shape[0]}`, node);
  }
  const spatial = x.shape.slice(2);
  const n = spatial.length;
  const kernel = kernelOf(w, a, node);
  if (kernel.length !== n) throw new ShapeError(`${node}: ConvTranspose kernel [${kernel.join(',')}] does not match X ${formatShape(x.shape)}`, node);
  const base = { kernel, ...windowParams(a, n, node) };
  const outPad = a.output_padding && a.output_padding.length ? a.output_padding : new Array<number>(n).fill(0);
  if (outPad.length !== n) throw new AttributeError(`${node}: output_padding has ${outPad.length} values, expected ${n}`, node);
  const given = a.output_shape && a.output_shape.length ? a.output_shape.slice(-n) : undefined;
  const padBegin = [...base.padBegin];
  const padEnd = [...base.padEnd];
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const d = spatial[i]!;
    const s = base.strides[i]!;
    const ek = (base.kernel[i]! - 1) * base.dilations[i]! + 1;
    const same = a.auto_pad === 'SAME_UPPER' || a.auto_pad === 'SAME_LOWER';
    if (given || same) {
      if (typeof d !== 'number') { out.push(given ? given[i]! : fresh(`s${i}`)); continue; }
      const o = given ? given[i]! : d * s;
      const total = s * (d - 1) + outPad[i]! + ek - o;
      const half = Math.floor(total / 2);
      padBegin[i] = a.auto_pad === 'SAME_UPPER' ? half : total - half;
      padEnd[i] = total - padBegin[i]!;
      out.push(o);
      continue;
    }
    out.push(typeof d === 'number' ? s * (d - 1) + outPad[i]! + ek - padBegin[i]! - padEnd[i]! : fresh(`s${i}`));
  }
  const m = typeof w.shape[1] === 'number' ? w.shape[1] * a.group : fresh('m');
  return { win: { ...base, padBegin, padEnd, out }, shape: [x.shape[0]!, m, ...out] };
}

/** Scatters col ([Mg * K3] x IN) into y channels at `yOff` (col2im). */
function col2im(col: FloatArray, mg: number, w: Window3, y: FloatArray, yOff: number): void {
  const [ID, IH, IW] = w.inDims;
  const [OD, OH, OW] = w.outDims;
  const [KD, KH, KW] = w.kernel;
  const [sd, sh, sw] = w.strides;
  const [dd, dh, dw] = w.dilations;
  const [pd, ph, pw] = w.padBegin;
  const outSize = OD * OH * OW;
  let o = 0;
  for (let m = 0; m < mg; m++) {
    const mBase = yOff + m * outSize;
    for (let kd = 0; kd < KD; kd++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      for (let id = 0; id < ID; id++) {
        const od = id * sd - pd + kd * dd;
        if (od < 0 || od >= OD) { o += IH * IW; continue; }
        for (let ih = 0; ih < IH; ih++) {
          const oh = ih * sh - ph + kh * dh;
          if (oh < 0 || oh >= OH) { o += IW; continue; }
          const row = mBase + (od * OH + oh) * OW;
          let ow = -pw + kw * dw;
          for (let iw = 0; iw < IW; iw++, ow += sw, o++) if (ow >= 0 && ow < OW) y[row + ow] = y[row + ow]! + col[o]!;
        }
      }
    }
  }
}

/** ConvTranspose: the gradient of Conv with respect to its input (a "deconvolution"). */
export const ConvTranspose = defineOp({
  name: 'ConvTranspose',
  inputs: ['X', 'W', 'B?'],
  outputs: ['Y'],
  attrs: convTransposeAttrs,
  category: 'output-fusable',
  doc: 'Transposed convolution with output_padding / output_shape, groups, dilations and auto_pad.',
  infer([x, w, b], ctx): ValueType[] {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    if (w!.dtype !== x!.dtype || (b && b.dtype !== x!.dtype)) {
      throw new DTypeError(`${ctx.node}: ConvTranspose inputs have dtypes ${[x, w, b].filter(Boolean).map((v) => v!.dtype).join(', ')}`, ctx.node);
    }
    const g = convTransposeGeom(x!, w!, ctx.attrs, ctx.node, ctx.fresh);
    checkBias(b, g.shape[1]!, ctx.node);
    return [{ dtype: x!.dtype, shape: g.shape }];
  },
  cpu([x, w, b], ctx) {
    const g = convTransposeGeom(x!, w!, ctx.attrs, ctx.node, ctx.fresh);
    const out = new Tensor(x!.dtype, g.shape as number[]);
    const y = floatOut(out);
    const [n, c] = x!.shape as [number, number];
    const group = ctx.attrs.group;
    const cg = c / group;
    const mg = w!.shape[1]!;
    const m = mg * group;
    const win = fold3(g.win, x!.shape.slice(2), ctx.node);
    const inSize = sizeOf(x!.shape.slice(2));
    const outSize = sizeOf(g.shape.slice(2) as number[]);
    const k3 = win.kernel[0] * win.kernel[1] * win.kernel[2];
    const xv = floatData(x!);
    const wv = floatData(w!);
    const col = new (xv.constructor as { new (n: number): FloatArray })(mg * k3 * inSize);
    for (let gi = 0; gi < group; gi++) {
      const wt = transpose2d(wv, gi * cg * mg * k3, cg, mg * k3);
      for (let bi = 0; bi < n; bi++) {
        col.fill(0);
        matmulAcc(mg * k3, inSize, cg, wt, 0, xv, (bi * c + gi * cg) * inSize, col, 0);
        col2im(col, mg, win, y, (bi * m + gi * mg) * outSize);
      }
    }
    addBias(y, b, n, m, outSize);
    return [out];
  },
});

/** Convolution ops. */
// x (a QuantizeLinear's output) can be quantized while it is loaded.
setTrait(ConvInteger, LOAD_FUSION, { elementwise: [0] });
// W (constant int8 weights behind a DequantizeLinear, scale per output channel) stays packed.
setTrait(Conv, LOAD_FUSION, { elementwise: [], dequantize: [{ input: 1, axisOf: (_n, rank) => (rank >= 3 ? 0 : undefined) }] });

export const convOps = { Conv, ConvTranspose, ConvInteger } as const;
