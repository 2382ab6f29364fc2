/**
 * Op family: resize — Resize (opset 10-18 forms: X, roi?, scales?, sizes?) and
 * Upsample (opset 7-9: scales as attribute or input). Both share the CPU core in
 * resize-util.ts; Upsample is asymmetric-coordinate Resize with floor rounding.
 */
import { attr } from '../attrs.js';
import { ALL, FLOATS, expectDType } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp, type InferInput, type OpContext } from '../op.js';
import { formatShape, normalizeAxis, type Dim } from '../shape.js';
import { Tensor, tensorInts } from '../tensor.js';
import { COORD_MODES, NEAREST_MODES, RESIZE_MODES, resizeCpu, type ResizeParams } from './resize-util.js';

const KEEP_ASPECT = ['stretch', 'not_larger', 'not_smaller'] as const;

/** Output shape, per-axis scales and roi of a Resize or Upsample node. */
export interface ResizePlan {
  readonly shape: Dim[];
  /** Per-axis scales; known when the output shape is. */
  readonly scales: number[];
  readonly roi: [number, number][];
}

/** An optional input that is present and not an empty placeholder tensor. */
function given(v: InferInput | undefined): v is InferInput {
  return v !== undefined && !v.shape.some((d) => d === 0);
}

/** The attributes resizePlan reads. */
export interface ResizePlanAttrs {
  readonly axes?: readonly number[] | undefined;
  readonly keep_aspect_ratio_policy: (typeof KEEP_ASPECT)[number];
}

/**
 * Output shape, scales and roi of a Resize (`op` names it in errors) from X and its
 * optional roi / scales / sizes inputs; axes without a known value get fresh dims.
 */
export function resizePlan(
  x: InferInput, roi: InferInput | undefined, sc: InferInput | undefined, sz: InferInput | undefined,
  a: ResizePlanAttrs, ctx: Pick<OpContext<unknown>, 'node' | 'fresh'>, op: string,
): ResizePlan {
  const rank = x.shape.length;
  const axes = a.axes && a.axes.length ? a.axes.map((v) => normalizeAxis(v, rank, ctx.node)) : Array.from({ length: rank }, (_, i) => i);
  const scales = new Array<number>(rank).fill(1);
  const shape: Dim[] = [...x.shape];
  const roiRanges: [number, number][] = x.shape.map(() => [0, 1]);
  if (given(roi) && roi.value) {
    const r = Array.from(roi.value.data as ArrayLike<number>);
    if (r.length !== 2 * axes.length) throw new ShapeError(`${ctx.node}: ${op} roi has ${r.length} values, expected ${2 * axes.length} for X ${formatShape(x.shape)}`, ctx.node);
    axes.forEach((ax, i) => { roiRanges[ax] = [r[i]!, r[i + axes.length]!]; });
  }
  if (given(sc) && given(sz)) throw new ShapeError(`${ctx.node}: ${op} takes scales or sizes, not both`, ctx.node);
  const src = given(sc) ? sc : given(sz) ? sz : undefined;
  if (!src) throw new ShapeError(`${ctx.node}: ${op} needs a non-empty scales or sizes input`, ctx.node);
  if (!src.value) {
    for (const ax of axes) shape[ax] = ctx.fresh(`r${ax}`);
    return { shape, scales, roi: roiRanges };
  }
  const vals = src === sc ? Array.from(src.value.data as ArrayLike<number>) : tensorInts(src.value);
  if (vals.length !== axes.length) {
    throw new ShapeError(`${ctx.node}: ${op} ${src === sc ? 'scales' : 'sizes'} has ${vals.length} values but X ${formatShape(x.shape)} needs ${axes.length}`, ctx.node);
  }
  if (src === sc) {
    axes.forEach((ax, i) => {
      const s = vals[i]!;
      if (!(s > 0)) throw new ShapeError(`${ctx.node}: ${op} scale ${s} for axis ${ax} must be positive`, ctx.node);
      scales[ax] = s;
      const d = x.shape[ax]!;
      shape[ax] = typeof d === 'number' ? Math.floor(d * s) : s === 1 ? d : ctx.fresh(`r${ax}`);
    });
    return { shape, scales, roi: roiRanges };
  }
  const ins = axes.map((ax) => x.shape[ax]!);
  if (ins.some((d) => typeof d !== 'number')) {
    axes.forEach((ax, i) => { shape[ax] = vals[i]!; });
    return { shape, scales, roi: roiRanges };
  }
  let outs = vals;
  if (a.keep_aspect_ratio_policy !== 'stretch') {
    const ratios = axes.map((_, i) => vals[i]! / (ins[i] as number));
    const r = a.keep_aspect_ratio_policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
    outs = ins.map((d) => Math.round(r * (d as number)));
    axes.forEach((ax) => { scales[ax] = r; });
  } else axes.forEach((ax, i) => { scales[ax] = vals[i]! / (ins[i] as number); });
  axes.forEach((ax, i) => { shape[ax] = outs[i]!; });
  return { shape, scales, roi: roiRanges };
}

/** The Resize attributes that resizeParams reads. */
export interface ResizeModeAttrs {
  readonly mode: ResizeParams['mode'];
  readonly coordinate_transformation_mode: ResizeParams['coord'];
  readonly nearest_mode: ResizeParams['nearest'];
  readonly cubic_coeff_a: number;
  readonly exclude_outside: number;
  readonly extrapolation_value: number;
  /** 1: antialiased linear/cubic downsampling (absent: 0). */
  readonly antialias?: number | undefined;
}

/** Interpolation parameters of a Resize node (resolved attributes) for its plan. */
export function resizeParams(a: ResizeModeAttrs, plan: ResizePlan): ResizeParams {
  return {
    mode: a.mode, coord: a.coordinate_transformation_mode, nearest: a.nearest_mode, cubicA: a.cubic_coeff_a,
    excludeOutside: a.exclude_outside !== 0, antialias: a.antialias === 1, extrapolation: a.extrapolation_value, scales: plan.scales, roi: plan.roi,
  };
}

/** Interpolation parameters of an Upsample node (asymmetric coordinates, nearest uses floor). */
export function upsampleParams(mode: string, plan: ResizePlan): ResizeParams {
  return {
    mode: mode === 'nearest' ? 'nearest' : 'linear', coord: 'asymmetric', nearest: 'floor', cubicA: -0.75,
    excludeOutside: false, antialias: false, extrapolation: 0, scales: plan.scales, roi: plan.roi,
  };
}

/** Resize: nearest / n-linear / n-cubic resampling with ONNX coordinate transformation modes. */
export const Resize = defineOp({
  name: 'Resize',
  inputs: ['X', 'roi?', 'scales?', 'sizes?'],
  outputs: ['Y'],
  attrs: {
    mode: attr.string<(typeof RESIZE_MODES)[number]>('nearest', RESIZE_MODES),
    coordinate_transformation_mode: attr.string<(typeof COORD_MODES)[number]>('half_pixel', COORD_MODES),
    nearest_mode: attr.string<(typeof NEAREST_MODES)[number]>('round_prefer_floor', NEAREST_MODES),
    cubic_coeff_a: attr.float(-0.75),
    exclude_outside: attr.int(0),
    extrapolation_value: attr.float(0),
    antialias: attr.int(0, (v) => (v === 0 || v === 1 ? undefined : 'must be 0 or 1')),
    axes: attr.optInts(),
    keep_aspect_ratio_policy: attr.string<(typeof KEEP_ASPECT)[number]>('stretch', KEEP_ASPECT),
  },
  category: 'injective',
  shapeInputs: [1, 2, 3],
  doc: 'Resizes X by scales or to sizes (nearest, linear, cubic).',
  infer([x, roi, sc, sz], ctx) {
    expectDType(x!.dtype, ALL, ctx.node, 'X');
    if (given(sc)) expectDType(sc.dtype, FLOATS, ctx.node, 'scales');
    if (given(sz) && sz.dtype !== 'int64') throw new ShapeError(`${ctx.node}: Resize sizes must be int64, got ${sz.dtype}`, ctx.node);
    return [{ dtype: x!.dtype, shape: resizePlan(x!, roi, sc, sz, ctx.attrs, ctx, 'Resize').shape }];
  },
  cpu([x, roi, sc, sz], ctx) {
    const info = (t: Tensor | undefined) => (t ? { dtype: t.dtype, shape: t.shape, value: t } : undefined);
    const a = ctx.attrs;
    const plan = resizePlan(info(x)!, info(roi), info(sc), info(sz), a, ctx, 'Resize');
    return [resizeCpu(x!, plan.shape as number[], resizeParams(a, plan))];
  },
});

/** Upsample (deprecated since opset 10): nearest or linear upsampling by per-axis scales. */
export const Upsample = defineOp({
  name: 'Upsample',
  inputs: ['X', 'scales?'],
  outputs: ['Y'],
  attrs: {
    mode: attr.string<'nearest' | 'linear' | 'bilinear'>('nearest', ['nearest', 'linear', 'bilinear']),
    scales: attr.optFloats(),
    height_scale: attr.optFloat(),
    width_scale: attr.optFloat(),
  },
  category: 'injective',
  shapeInputs: [1],
  doc: 'Upsamples X by scales (asymmetric coordinates; nearest uses floor).',
  infer([x, sc], ctx) {
    expectDType(x!.dtype, ALL, ctx.node, 'X');
    return [{ dtype: x!.dtype, shape: upsamplePlan(x!, sc, ctx).shape }];
  },
  cpu([x, sc], ctx) {
    const plan = upsamplePlan({ dtype: x!.dtype, shape: x!.shape }, sc ? { dtype: sc.dtype, shape: sc.shape, value: sc } : undefined, ctx);
    return [resizeCpu(x!, plan.shape as number[], upsampleParams(ctx.attrs.mode, plan))];
  },
});

/** The attributes upsamplePlan reads. */
export interface UpsamplePlanAttrs {
  readonly scales?: readonly number[] | undefined;
  readonly height_scale?: number | undefined;
  readonly width_scale?: number | undefined;
}

/** Output shape, scales and roi of an Upsample: scales from the attributes or the scales input. */
export function upsamplePlan(x: InferInput, sc: InferInput | undefined, ctx: Pick<OpContext<UpsamplePlanAttrs>, 'node' | 'fresh' | 'attrs'>): ResizePlan {
  const a = ctx.attrs;
  let scales = a.scales;
  if (!scales && a.height_scale !== undefined && a.width_scale !== undefined) {
    scales = [...x.shape.slice(0, -2).map(() => 1), a.height_scale, a.width_scale];
  }
  if (scales && given(sc)) throw new AttributeError(`${ctx.node}: Upsample has both a scales attribute and a scales input`, ctx.node);
  const scalesIn = scales ? { dtype: 'float32' as const, shape: [scales.length], value: Tensor.from('float32', [scales.length], scales) } : sc;
  return resizePlan(x, undefined, scalesIn, undefined, { keep_aspect_ratio_policy: 'stretch' }, ctx, 'Upsample');
}

/** Resize ops. */
export const resizeOps = { Resize, Upsample } as const;
