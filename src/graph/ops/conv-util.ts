/**
 * Window geometry shared by Conv, ConvTranspose and the pooling ops: resolving
 * `kernel_shape`, `strides`, `dilations`, `pads` and `auto_pad` into per-axis
 * begin/end pads and output sizes, in exactly one place.
 *
 * For a spatial axis with input size `in`, kernel `k`, stride `s`, dilation `d`
 * the effective kernel is `ek = (k - 1) * d + 1` and
 * - NOTSET: `out = floor((in + pb + pe - ek) / s) + 1` (ceil with `ceil_mode`,
 *   dropping a last window that would start inside the end padding);
 * - SAME_UPPER / SAME_LOWER: `out = ceil(in / s)`, total pad
 *   `max(0, (out - 1) * s + ek - in)` split with the odd unit at the end (UPPER)
 *   or at the beginning (LOWER);
 * - VALID: `out = floor((in - ek) / s) + 1`, no pads.
 * Symbolic input sizes give a fresh symbolic output size unless the window is
 * the identity (k = 1, s = 1, no pads) or SAME with s = 1.
 */
import { AttributeError, ShapeError } from '../errors.js';
import { formatShape, type Dim, type Shape } from '../shape.js';
import { attr } from '../attrs.js';
import type { FloatArray } from './gemm-kernel.js';

/** ONNX `auto_pad` values. */
export const AUTO_PAD = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'] as const;
/** An `auto_pad` value. */
export type AutoPad = (typeof AUTO_PAD)[number];

/** Attribute schema common to Conv, ConvTranspose and the windowed pools. */
export const windowAttrs = {
  auto_pad: attr.string<AutoPad>('NOTSET', AUTO_PAD),
  kernel_shape: attr.optInts(),
  strides: attr.optInts(),
  pads: attr.optInts(),
  dilations: attr.optInts(),
};

/** Raw window attributes as resolved from a node. */
export interface WindowAttrs {
  readonly auto_pad: AutoPad;
  readonly kernel_shape?: readonly number[] | undefined;
  readonly strides?: readonly number[] | undefined;
  readonly pads?: readonly number[] | undefined;
  readonly dilations?: readonly number[] | undefined;
}

/** Resolved per-axis window parameters (length = number of spatial axes). */
export interface Window {
  readonly kernel: number[];
  readonly strides: number[];
  readonly dilations: number[];
  /** Pads at the beginning of each axis. */
  readonly padBegin: number[];
  /** Pads at the end of each axis. */
  readonly padEnd: number[];
  /** Output size of each axis (symbolic when the input size is). */
  readonly out: Dim[];
}

function perAxis(v: readonly number[] | undefined, n: number, def: number, name: string, node: string): number[] {
  if (v === undefined || v.length === 0) return new Array<number>(n).fill(def);
  if (v.length !== n) throw new AttributeError(`${node}: ${name} has ${v.length} values but the input has ${n} spatial axes`, node);
  if (v.some((x) => x < 1)) throw new AttributeError(`${node}: ${name} must be positive, got [${v.join(',')}]`, node);
  return [...v];
}

/**
 * Per-axis strides, dilations and explicit pads (zero unless auto_pad is NOTSET)
 * for `n` spatial axes, validated.
 */
export function windowParams(a: WindowAttrs, n: number, node: string): Pick<Window, 'strides' | 'dilations' | 'padBegin' | 'padEnd'> {
  const strides = perAxis(a.strides, n, 1, 'strides', node);
  const dilations = perAxis(a.dilations, n, 1, 'dilations', node);
  let padBegin = new Array<number>(n).fill(0);
  let padEnd = new Array<number>(n).fill(0);
  if (a.auto_pad === 'NOTSET' && a.pads && a.pads.length > 0) {
    if (a.pads.length !== 2 * n) throw new AttributeError(`${node}: pads has ${a.pads.length} values, expected ${2 * n}`, node);
    padBegin = a.pads.slice(0, n);
    padEnd = a.pads.slice(n);
  }
  return { strides, dilations, padBegin, padEnd };
}

/**
 * Resolves window attributes for spatial input dims `spatial`.
 * `kernel` comes from the weights (Conv) or the `kernel_shape` attribute (pools).
 */
export function resolveWindow(
  a: WindowAttrs,
  spatial: Shape,
  kernel: readonly number[],
  node: string,
  fresh: (tag: string | number) => string,
  ceilMode = false,
): Window {
  const n = spatial.length;
  if (a.kernel_shape && a.kernel_shape.length > 0) {
    if (a.kernel_shape.length !== n || a.kernel_shape.some((k, i) => k !== kernel[i])) {
      throw new ShapeError(`${node}: kernel_shape [${a.kernel_shape.join(',')}] does not match the weights' spatial dims [${kernel.join(',')}]`, node);
    }
  }
  if (kernel.length !== n) throw new ShapeError(`${node}: kernel has ${kernel.length} spatial dims but the input ${formatShape(spatial)} has ${n}`, node);
  const { strides, dilations, padBegin, padEnd } = windowParams(a, n, node);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const d = spatial[i]!;
    const k = kernel[i]!;
    const s = strides[i]!;
    const ek = (k - 1) * dilations[i]! + 1;
    if (a.auto_pad === 'SAME_UPPER' || a.auto_pad === 'SAME_LOWER') {
      if (typeof d !== 'number') {
        out.push(s === 1 ? d : fresh(`s${i}`));
        // pads cannot be known yet; resolved again at run time with concrete dims
        continue;
      }
      const o = Math.ceil(d / s);
      const total = Math.max(0, (o - 1) * s + ek - d);
      const small = Math.floor(total / 2);
      padBegin[i] = a.auto_pad === 'SAME_UPPER' ? small : total - small;
      padEnd[i] = total - padBegin[i]!;
      out.push(o);
      continue;
    }
    if (typeof d !== 'number') {
      const identity = ek === 1 && s === 1 && padBegin[i] === 0 && padEnd[i] === 0;
      out.push(identity ? d : fresh(`s${i}`));
      continue;
    }
    if (padBegin[i]! < 0 || padEnd[i]! < 0) throw new AttributeError(`${node}: pads must be non-negative, got [${a.pads?.join(',')}]`, node);
    const span = d + padBegin[i]! + padEnd[i]! - ek;
    if (span < 0) {
      throw new ShapeError(`${node}: window of size ${ek} (kernel ${k}, dilation ${dilations[i]}) is larger than the padded input ${d + padBegin[i]! + padEnd[i]!} on spatial axis ${i} of ${formatShape(spatial)}`, node);
    }
    let o = (ceilMode ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceilMode && (o - 1) * s >= d + padBegin[i]!) o--;
    out.push(o);
  }
  return { kernel: [...kernel], strides, dilations, padBegin, padEnd, out };
}

/** A window folded to exactly three spatial axes (leading axes of size 1), so one loop nest serves 1-D, 2-D and 3-D. */
export interface Window3 {
  readonly inDims: [number, number, number];
  readonly outDims: [number, number, number];
  readonly kernel: [number, number, number];
  readonly strides: [number, number, number];
  readonly dilations: [number, number, number];
  readonly padBegin: [number, number, number];
}

/** Folds a resolved window with concrete dims to three axes; throws for more than three spatial axes. */
export function fold3(w: Window, inDims: readonly number[], node: string): Window3 {
  const n = inDims.length;
  if (n > 3) throw new ShapeError(`${node}: only 1 to 3 spatial axes are supported, got ${n}`, node);
  const f = (v: readonly (number | string)[], def: number): [number, number, number] => {
    const r = [def, def, def] as [number, number, number];
    for (let i = 0; i < n; i++) r[3 - n + i] = Number(v[i]);
    return r;
  };
  return {
    inDims: f(inDims, 1),
    outDims: f(w.out, 1),
    kernel: f(w.kernel, 1),
    strides: f(w.strides, 1),
    dilations: f(w.dilations, 1),
    padBegin: f(w.padBegin, 0),
  };
}

/**
 * im2col for a folded window: fills `col` from float index `colOff` with the
 * [cg · KD·KH·KW] × [OD·OH·OW] matrix of the `cg` channels that start at float index
 * `xOff` of `x` (zero where a tap falls in the padding). `x` and `col` may be views of
 * one buffer (the wasm backend's memory) as long as the two ranges do not overlap.
 */
export function im2col(x: FloatArray, xOff: number, cg: number, w: Window3, col: FloatArray, colOff = 0): void {
  const [ID, IH, IW] = w.inDims;
  const [OD, OH, OW] = w.outDims;
  const [KD, KH, KW] = w.kernel;
  const [sd, sh, sw] = w.strides;
  const [dd, dh, dw] = w.dilations;
  const [pd, ph, pw] = w.padBegin;
  const plane = ID * IH * IW;
  let o = colOff;
  for (let c = 0; c < cg; c++) {
    const cb = xOff + c * plane;
    for (let kd = 0; kd < KD; kd++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      // the run of ow whose input column is inside [0, IW)
      const lo = Math.min(OW, Math.max(0, Math.ceil((pw - kw * dw) / sw)));
      const hi = Math.max(lo, Math.min(OW, Math.floor((IW - 1 + pw - kw * dw) / sw) + 1));
      for (let od = 0; od < OD; od++) {
        const id = od * sd - pd + kd * dd;
        if (id < 0 || id >= ID) { col.fill(0, o, o + OH * OW); o += OH * OW; continue; }
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh - ph + kh * dh;
          if (ih < 0 || ih >= IH) { col.fill(0, o, o + OW); o += OW; continue; }
          const row = cb + (id * IH + ih) * IW - pw + kw * dw;
          if (lo > 0) col.fill(0, o, o + lo);
          if (sw === 1) col.set(x.subarray(row + lo, row + hi), o + lo);
          else for (let ow = lo; ow < hi; ow++) col[o + ow] = x[row + ow * sw]!;
          if (hi < OW) col.fill(0, o + hi, o + OW);
          o += OW;
        }
      }
    }
  }
}
