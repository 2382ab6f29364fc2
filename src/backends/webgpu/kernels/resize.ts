/**
 * Resize and Upsample. The per-axis taps (source index, weight, and whether the
 * output coordinate falls outside for tf_crop_and_resize) depend only on shapes
 * and attributes, so they are computed at compile time — by the CPU reference's own
 * resizePlan / resizeTaps (graph/ops/resize.ts, resize-util.ts) — and travel as uniform tables. One
 * invocation per output element sums the product of its axes' taps.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { sizeOf, stridesOf } from '../../../graph/shape.js';
import { resizeParams, resizePlan, upsampleParams, type ResizeModeAttrs, type ResizePlanAttrs } from '../../../graph/ops/resize.js';
import { resizeTaps, type ResizeParams } from '../../../graph/ops/resize-util.js';
import type { GpuKernel, KernelTable, KernelContext } from '../kernel.js';
import { coordsOf, ShaderBuilder } from '../wgsl.js';
import { uniformTable } from '../wgsl-constants.js';

/** Largest uniform table (words) a Resize may use. */
const MAX_TABLE_WORDS = 12000;

function resizeDispatch(ctx: KernelContext, p: ResizeParams, label: string) {
  const x = ctx.inputs[0]!;
  const out = ctx.outputs[0]!;
  const r = x.shape.length;
  const taps = resizeTaps(p, x.shape, out.shape);
  const words = taps.reduce((n, t) => n + (t ? 2 * t.index.length + t.outside.length : 0), 0);
  if (words > MAX_TABLE_WORDS) throw new UnsupportedOpError([{ op: label, nodes: [ctx.node] }], `output too large for the tap tables (${words} words)`);
  const sb = new ShaderBuilder(ctx);
  const X = sb.input(0);
  const Y = sb.output(0);
  const st = sb.u32s(stridesOf(x.shape));
  const tables = taps.map((t) => t && { idx: uniformTable(sb, Array.from(t.index), 'u'), w: uniformTable(sb, Array.from(t.weight), 'f'), out: uniformTable(sb, Array.from(t.outside), 'u') });
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
    const src = present(ctx, 2) ? 2 : 3;
    if (!ctx.inputs[src]!.value) {
      throw new UnsupportedOpError([{ op: 'Resize', nodes: [ctx.node] }], `${src === 2 ? 'scales' : 'sizes'} must be constant for the WebGPU backend`);
    }
    const [x, roi, sc, sz] = ctx.inputs;
    const plan = resizePlan(x!, roi, sc, sz, ctx.attrs as unknown as ResizePlanAttrs, { node: ctx.node, fresh: (t) => `_${t}` }, 'Resize');
    return { dispatches: [resizeDispatch(ctx, resizeParams(ctx.attrs as unknown as ResizeModeAttrs, plan), 'Resize')] };
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
    const p = upsampleParams(String(a['mode']), { shape: [...x.shape], scales: [...scales], roi: x.shape.map(() => [0, 1]) });
    return { dispatches: [resizeDispatch(ctx, p, 'Upsample')] };
  },
};

/** Resize-family kernels by op. */
export const resizeKernels: KernelTable = { Resize: resize, Upsample: upsample };
