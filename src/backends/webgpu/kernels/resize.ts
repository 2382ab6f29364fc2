/**
 * Resize and Upsample. The per-axis taps (source index, weight, and whether the
 * output coordinate falls outside for tf_crop_and_resize) depend only on shapes
 * and attributes, so they are computed at compile time — with the same rules as
 * the CPU reference (graph/ops/resize-util.ts) — and travel as uniform tables. One
 * invocation per output element sums the product of its axes' taps.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { sizeOf, stridesOf } from '../../../graph/shape.js';
import { tensorInts } from '../../../graph/tensor.js';
import type { GpuKernel, KernelContext } from '../kernel.js';
import { coordsOf, ShaderBuilder } from '../wgsl.js';
import { uniformTable } from '../wgsl-heavy.js';

interface Params {
  readonly mode: 'nearest' | 'linear' | 'cubic';
  readonly coord: string;
  readonly nearest: string;
  readonly cubicA: number;
  readonly excludeOutside: boolean;
  readonly extrapolation: number;
  readonly scales: number[];
  readonly roi: [number, number][];
}

type Transform = (x: number, s: number, inLen: number, outLen: number, roi: readonly [number, number]) => number;

/** Coordinate transforms (same formulas as the CPU reference). */
const TRANSFORMS: Readonly<Record<string, Transform>> = {
  half_pixel: (x, s) => (x + 0.5) / s - 0.5,
  half_pixel_symmetric: (x, s, inLen, outLen) => (inLen / 2) * (1 - outLen / (s * inLen)) + (x + 0.5) / s - 0.5,
  pytorch_half_pixel: (x, s, inLen) => (s * inLen > 1 ? (x + 0.5) / s - 0.5 : 0),
  align_corners: (x, s, inLen) => (s * inLen === 1 ? 0 : (x * (inLen - 1)) / (s * inLen - 1)),
  asymmetric: (x, s) => x / s,
  tf_half_pixel_for_nn: (x, s) => (x + 0.5) / s,
  tf_crop_and_resize: (x, s, inLen, _o, [a, b]) =>
    s * inLen > 1 ? a * (inLen - 1) + (x * (b - a) * (inLen - 1)) / (s * inLen - 1) : 0.5 * (a + b) * (inLen - 1),
};

const ROUND: Readonly<Record<string, (x: number) => number>> = {
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

interface Taps {
  readonly count: number;
  readonly index: number[];
  readonly weight: number[];
  readonly outside: number[];
}

/** Taps of one axis (index clamped into the input, weights, outside flags). */
function axisTaps(p: Params, axis: number, inLen: number, outLen: number): Taps {
  const count = p.mode === 'nearest' ? 1 : p.mode === 'linear' ? 2 : 4;
  const index: number[] = [];
  const weight: number[] = [];
  const outside: number[] = [];
  const tf = TRANSFORMS[p.coord]!;
  const clamp = (i: number): number => Math.min(Math.max(i, 0), inLen - 1);
  for (let x = 0; x < outLen; x++) {
    const xo = tf(x, p.scales[axis]!, inLen, outLen, p.roi[axis]!);
    outside.push(p.coord === 'tf_crop_and_resize' && (xo < 0 || xo > inLen - 1) ? 1 : 0);
    if (p.mode === 'nearest') {
      index.push(clamp(ROUND[p.nearest]!(xo)));
      weight.push(1);
    } else if (p.mode === 'linear') {
      const xc = Math.min(Math.max(xo, 0), inLen - 1);
      const i0 = Math.floor(xc);
      index.push(i0, clamp(i0 + 1));
      weight.push(1 - (xc - i0), xc - i0);
    } else {
      const i0 = Math.floor(xo);
      const c = cubicCoeffs(xo - i0, p.cubicA);
      const ws = c.map((w, t) => (p.excludeOutside && (i0 - 1 + t < 0 || i0 - 1 + t >= inLen) ? 0 : w));
      const sum = ws.reduce((a, b) => a + b, 0);
      ws.forEach((w, t) => {
        index.push(clamp(i0 - 1 + t));
        weight.push(p.excludeOutside && sum !== 0 ? w / sum : w);
      });
    }
  }
  return { count, index, weight, outside };
}

/** Largest uniform table (words) a Resize may use. */
const MAX_TABLE_WORDS = 12000;

function resizeDispatch(ctx: KernelContext, p: Params, label: string) {
  const x = ctx.inputs[0]!;
  const out = ctx.outputs[0]!;
  const r = x.shape.length;
  const taps = x.shape.map((inLen, a) =>
    inLen === out.shape[a] && p.scales[a] === 1 && p.coord !== 'tf_crop_and_resize' ? undefined : axisTaps(p, a, inLen, out.shape[a]!),
  );
  const words = taps.reduce((n, t) => n + (t ? 2 * t.index.length + t.outside.length : 0), 0);
  if (words > MAX_TABLE_WORDS) throw new UnsupportedOpError([{ op: label, nodes: [ctx.node] }], `output too large for the tap tables (${words} words)`);
  const sb = new ShaderBuilder(ctx);
  const X = sb.input(0);
  const Y = sb.output(0);
  const st = sb.u32s(stridesOf(x.shape));
  const tables = taps.map((t) => t && { idx: uniformTable(sb, t.index, 'u'), w: uniformTable(sb, t.weight, 'f'), out: uniformTable(sb, t.outside, 'u') });
  const extra = sb.f32(p.extrapolation);
  const round = out.storage !== 'f32' && out.storage !== 'f16' && p.mode !== 'nearest';
  return sb.linear(sizeOf(out.shape), (i) => {
    const { code, coords } = coordsOf(sb, i, out.shape);
    const lines = [code, '  var outside = false;'];
    const terms: string[] = [];
    let body = '';
    const loops: string[] = [];
    for (let a = 0; a < r; a++) {
      const t = taps[a];
      const tb = tables[a];
      if (!t || !tb) {
        terms.push(`${coords[a]} * ${st[a]}`);
        continue;
      }
      lines.push(`  if (${tb.out(coords[a]!)} != 0u) { outside = true; }`);
      const j = `(${coords[a]} * ${t.count}u + t${a})`;
      loops.push(`for (var t${a} = 0u; t${a} < ${t.count}u; t${a}++) { let w${a} = ${tb.w(j)}; let i${a} = ${tb.idx(j)};`);
      terms.push(`i${a} * ${st[a]}`);
    }
    const ws = taps.map((t, a) => (t ? `w${a}` : '')).filter((s) => s !== '');
    body = `acc += ${ws.length ? ws.join(' * ') + ' * ' : ''}f32(${X}[${terms.length ? terms.join(' + ') : '0u'}]);`;
    lines.push('  var acc = 0.0;', `  ${loops.join(' ')} ${body} ${loops.map(() => '}').join(' ')}`);
    const value = round ? 'floor(acc + 0.5)' : 'acc';
    lines.push(`  ${Y}[${i}] = ${out.storage}(select(${value}, ${extra}, outside));`);
    return lines.join('\n');
  }, `${label}.${p.mode}`);
}

function present(ctx: KernelContext, k: number): boolean {
  const t = ctx.inputs[k];
  return t !== undefined && !t.shape.some((d) => d === 0);
}

const resize: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const r = x.shape.length;
    const a = ctx.attrs;
    const axesAttr = a['axes'] as number[] | undefined;
    const axes = axesAttr && axesAttr.length ? axesAttr.map((v) => (v < 0 ? v + r : v)) : Array.from({ length: r }, (_, i) => i);
    const scales = new Array<number>(r).fill(1);
    const roi: [number, number][] = x.shape.map(() => [0, 1]);
    const need = (k: number, what: string): number[] => {
      const v = ctx.inputs[k]!.value;
      if (!v) throw new UnsupportedOpError([{ op: 'Resize', nodes: [ctx.node] }], `${what} must be constant for the WebGPU backend`);
      return k === 3 ? tensorInts(v) : Array.from(v.data as ArrayLike<number>);
    };
    if (present(ctx, 1) && ctx.inputs[1]!.value) {
      const v = need(1, 'roi');
      axes.forEach((ax, i) => (roi[ax] = [v[i]!, v[i + axes.length]!]));
    }
    if (present(ctx, 2)) {
      const v = need(2, 'scales');
      axes.forEach((ax, i) => (scales[ax] = v[i]!));
    } else {
      const v = need(3, 'sizes');
      const policy = String(a['keep_aspect_ratio_policy'] ?? 'stretch');
      const ratios = axes.map((ax, i) => v[i]! / x.shape[ax]!);
      const pick = policy === 'not_larger' ? Math.min(...ratios) : policy === 'not_smaller' ? Math.max(...ratios) : undefined;
      axes.forEach((ax, i) => (scales[ax] = pick ?? ratios[i]!));
    }
    const p: Params = {
      mode: a['mode'] as Params['mode'],
      coord: String(a['coordinate_transformation_mode']),
      nearest: String(a['nearest_mode']),
      cubicA: Number(a['cubic_coeff_a']),
      excludeOutside: Number(a['exclude_outside']) !== 0,
      extrapolation: Number(a['extrapolation_value']),
      scales,
      roi,
    };
    return { dispatches: [resizeDispatch(ctx, p, 'Resize')] };
  },
};

const upsample: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const a = ctx.attrs;
    let scales = a['scales'] as number[] | undefined;
    if (!scales && a['height_scale'] !== undefined && a['width_scale'] !== undefined) {
      scales = [...x.shape.slice(0, -2).map(() => 1), Number(a['height_scale']), Number(a['width_scale'])];
    }
    if (!scales) {
      const v = ctx.inputs[1]?.value;
      if (!v) throw new UnsupportedOpError([{ op: 'Upsample', nodes: [ctx.node] }], 'scales must be constant for the WebGPU backend');
      scales = Array.from(v.data as ArrayLike<number>);
    }
    const p: Params = {
      mode: a['mode'] === 'nearest' ? 'nearest' : 'linear', coord: 'asymmetric', nearest: 'floor', cubicA: -0.75,
      excludeOutside: false, extrapolation: 0, scales: [...scales], roi: x.shape.map(() => [0, 1]),
    };
    return { dispatches: [resizeDispatch(ctx, p, 'Upsample')] };
  },
};

/** Resize-family kernels by op name. */
export const resizeKernels: Readonly<Record<string, GpuKernel>> = { Resize: resize, Upsample: upsample };
