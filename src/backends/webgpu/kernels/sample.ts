/**
 * WebGPU kernels of GridSample (2-D: nearest, bilinear, bicubic; zeros, border and
 * reflection padding; one invocation per output element) and MaxUnpool (a zero
 * fill, then one invocation per input element scattering to its index; indices
 * outside the unpooled shape are skipped, where the CPU reference raises).
 * Semantics are those of src/graph/ops/sample.ts.
 */
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable } from '../kernel.js';
import { CUBIC, REFLECT } from '../../../../shaders/sample.js';
import { coordsOf, ShaderBuilder, LIGHT_PER_INVOCATION } from '../wgsl.js';
import { fill } from './common.js';

const gridSample: GpuKernel = {
  plan(ctx) {
    const X = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const [, C, H, W] = X.shape as [number, number, number, number];
    const align = Number(ctx.attrs['align_corners'] ?? 0) === 1;
    const raw = String(ctx.attrs['mode'] ?? 'bilinear');
    const mode = raw === 'linear' ? 'bilinear' : raw === 'cubic' ? 'bicubic' : raw;
    const pad = String(ctx.attrs['padding_mode'] ?? 'zeros');
    const sb = new ShaderBuilder(ctx);
    sb.input(0);
    sb.input(1);
    const y = sb.output(0);
    sb.fn(REFLECT);
    sb.fn(CUBIC);
    const [Hu, Wu] = sb.u32s([H, W]) as [string, string];
    const refl = (v: string, len: string): string => (align ? `ks_reflect(${v}, 0.0, f32(${len}) - 1.0)` : `ks_reflect(${v}, -0.5, f32(${len}) - 0.5)`);
    const coord = (v: string, len: string): string => {
      if (mode === 'bicubic') return v;
      if (pad === 'border') return `clamp(${v}, 0.0, f32(${len}) - 1.0)`;
      if (pad === 'reflection') return refl(v, len);
      return v;
    };
    const denorm = (v: string, len: string): string => (align ? `((${v} + 1.0) / 2.0 * (f32(${len}) - 1.0))` : `(((${v} + 1.0) * f32(${len}) - 1.0) / 2.0)`);
    // ks_index: the reference's index(): -1 outside for zeros padding, else clamped (reflected first for bicubic).
    const idxBody =
      pad === 'zeros'
        ? 'if (i >= 0.0 && i < f32(len)) { return i32(i); } return -1;'
        : `let j = ${pad === 'reflection' && mode === 'bicubic' ? refl('i', 'len') : 'i'}; return i32(clamp(floor(j + 0.5), 0.0, f32(len) - 1.0));`;
    sb.fn(`fn ks_index(i: f32, len: u32) -> i32 { ${idxBody} }`);
    sb.fn(`fn ks_px(base: u32, xi: f32, yi: f32) -> f32 {
  let a = ks_index(xi, ${Wu}); let b = ks_index(yi, ${Hu});
  if (a < 0 || b < 0) { return 0.0; }
  return f32(in0[base + u32(b) * ${Wu} + u32(a)]);
}`);
    const [, , Ho, Wo] = out.shape as [number, number, number, number];
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, out.shape);
      const [n, c, oi, oj] = coords as [string, string, string, string];
      let body: string;
      if (mode === 'nearest') body = '  let v = ks_px(base, round(gx), round(gy));';
      else if (mode === 'bilinear') {
        body = `  let x0 = floor(gx); let y0 = floor(gy); let dx = gx - x0; let dy = gy - y0;
  let v = (1.0 - dy) * ((1.0 - dx) * ks_px(base, x0, y0) + dx * ks_px(base, x0 + 1.0, y0)) + dy * ((1.0 - dx) * ks_px(base, x0, y0 + 1.0) + dx * ks_px(base, x0 + 1.0, y0 + 1.0));`;
      } else {
        body = `  let x0 = floor(gx); let y0 = floor(gy); let wx = ks_cubic(gx - x0); let wy = ks_cubic(gy - y0);
  var v = 0.0;
  for (var a = 0; a < 4; a++) {
    var row = 0.0;
    for (var q = 0; q < 4; q++) { row += wx[q] * ks_px(base, x0 - 1.0 + f32(q), y0 - 1.0 + f32(a)); }
    v += wy[a] * row;
  }`;
      }
      return `${code}
  let base = (${n} * ${sb.u32(C)} + ${c}) * ${Hu} * ${Wu};
  let g = ((${n} * ${sb.u32(Ho)} + ${oi}) * ${sb.u32(Wo)} + ${oj}) * 2u;
  let gx = ${coord(denorm('f32(in1[g])', Wu), Wu)};
  let gy = ${coord(denorm('f32(in1[g + 1u])', Hu), Hu)};
${body}
  ${y}[${i}] = ${out.storage}(v);`;
    }, `GridSample.${mode}`);
    return { dispatches: [d] };
  },
};

const maxUnpool: GpuKernel = {
  plan(ctx) {
    const X = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const k = ctx.attrs['kernel_shape'] as readonly number[];
    const sp = k.length;
    const strides = (ctx.attrs['strides'] as readonly number[] | undefined) ?? k.map(() => 1);
    const pads = (ctx.attrs['pads'] as readonly number[] | undefined) ?? new Array<number>(2 * sp).fill(0);
    const dflt = X.shape.map((dim, a) => {
      if (a < X.shape.length - sp) return dim;
      const s = a - (X.shape.length - sp);
      return (dim - 1) * strides[s]! + k[s]! - pads[s]! - pads[s + sp]!;
    });
    const zero = fill(ctx, 0, 0, 'MaxUnpool.zero');
    const sb = new ShaderBuilder(ctx);
    sb.input(0);
    sb.input(1);
    const y = sb.output(0);
    const dSize = sb.i32(sizeOf(dflt));
    const scatter = sb.linear(sizeOf(X.shape), (i) => {
      const lines = [`  var at = in1[${i}];`, `  if (i32(at) < 0 || i32(at) >= ${dSize}) { continue; }`, '  var flat = 0u; var ok = true;'];
      let stride = 1;
      for (let a = dflt.length - 1; a >= 0; a--) {
        lines.push(`  { let c = u32(at) % ${sb.u32(dflt[a]!)}; at = at / ${ctx.inputs[1]!.storage}(${sb.u32(dflt[a]!)}); ok = ok && c < ${sb.u32(out.shape[a]!)}; flat += c * ${sb.u32(stride)}; }`);
        stride *= out.shape[a]!;
      }
      lines.push(`  if (ok) { ${y}[flat] = in0[${i}]; }`);
      return lines.join('\n');
    }, 'MaxUnpool.scatter', LIGHT_PER_INVOCATION);
    return { dispatches: [zero, scatter] };
  },
};

/** Sampling kernels by op. */
export const sampleKernels: KernelTable = { GridSample: gridSample, MaxUnpool: maxUnpool };
