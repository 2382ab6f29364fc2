/**
 * WebGPU kernels of GridSample (2-D and 3-D: nearest, (tri)linear; 2-D bicubic; zeros, border and
 * reflection padding; one invocation per output element), AffineGrid (one invocation
 * per grid component) and MaxUnpool (a zero
 * fill, then one invocation per input element scattering to its index; indices
 * outside the unpooled shape are skipped, where the CPU reference raises).
 * Semantics are those of src/graph/ops/sample.ts.
 */
import { gridMode } from '../../../graph/ops/sample.js';
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable } from '../kernel.js';
import { CUBIC, REFLECT } from '../../../../shaders/sample.js';
import { coordsOf, ShaderBuilder, LIGHT_PER_INVOCATION } from '../wgsl.js';
import { fill } from './common.js';

const gridSample: GpuKernel = {
  plan(ctx) {
    const X = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const sp = X.shape.length - 2;
    const C = X.shape[1]!;
    const inDims = X.shape.slice(2);
    const outDims = out.shape.slice(2);
    const align = Number(ctx.attrs['align_corners'] ?? 0) === 1;
    const mode = gridMode(String(ctx.attrs['mode'] ?? 'bilinear'));
    const pad = String(ctx.attrs['padding_mode'] ?? 'zeros');
    const sb = new ShaderBuilder(ctx);
    sb.input(0);
    sb.input(1);
    const y = sb.output(0);
    sb.fn(REFLECT);
    sb.fn(CUBIC);
    const lens = sb.u32s(inDims);
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
    // ks_px(base, p): the element at position p (outermost spatial axis first), 0 outside.
    const axes = Array.from({ length: sp }, (_, a) => a);
    const pt = `vec${sp}f`;
    sb.fn(`fn ks_px(base: u32, p: ${pt}) -> f32 {
${axes.map((a) => `  let i${a} = ks_index(p[${a}], ${lens[a]});`).join('\n')}
  if (${axes.map((a) => `i${a} < 0`).join(' || ')}) { return 0.0; }
  return f32(in0[base + ${axes.reduce((acc, a) => (a === 0 ? 'u32(i0)' : `(${acc}) * ${lens[a]} + u32(i${a})`), '')}]);
}`);
    const outS = sb.u32(sizeOf(outDims));
    const inS = sb.u32(sizeOf(inDims));
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, [out.shape[0]!, C, sizeOf(outDims)]);
      const [n, c, o] = coords as [string, string, string];
      const gs = axes.map((a) => coord(denorm(`f32(in1[g + ${sp - 1 - a}u])`, lens[a]!), lens[a]!));
      let body: string;
      if (mode === 'nearest') body = '  let v = ks_px(base, round(gp));';
      else if (mode === 'bilinear') {
        // Every corner of the cell: weight (1 - d) or d per axis.
        const corners = Array.from({ length: 2 ** sp }, (_, k) => {
          const bits = axes.map((a) => (k >> (sp - 1 - a)) & 1);
          const w = bits.map((bit, a) => (bit ? `d[${a}]` : `(1.0 - d[${a}])`)).join(' * ');
          return `${w} * ks_px(base, p0 + ${pt}(${bits.map((bit) => `${bit}.0`).join(', ')}))`;
        });
        body = `  let p0 = floor(gp); let d = gp - p0;
  let v = ${corners.join('\n    + ')};`;
      } else {
        body = `  let p0 = floor(gp); let wy = ks_cubic(gp[0] - p0[0]); let wx = ks_cubic(gp[1] - p0[1]);
  var v = 0.0;
  for (var a = 0; a < 4; a++) {
    for (var q = 0; q < 4; q++) { v += wy[a] * wx[q] * ks_px(base, p0 + vec2f(f32(a) - 1.0, f32(q) - 1.0)); }
  }`;
      }
      return `${code}
  let base = (${n} * ${sb.u32(C)} + ${c}) * ${inS};
  let g = (${n} * ${outS} + ${o}) * ${sb.u32(sp)};
  let gp = ${pt}(${gs.join(', ')});
${body}
  ${y}[${i}] = ${out.storage}(v);`;
    }, `GridSample.${mode}${sp}d`);
    return { dispatches: [d] };
  },
};

const affineGrid: GpuKernel = {
  plan(ctx) {
    const out = ctx.outputs[0]!;
    const sp = out.shape.length - 2;
    const spatial = out.shape.slice(1, 1 + sp);
    const align = Number(ctx.attrs['align_corners'] ?? 0) === 1;
    const sb = new ShaderBuilder(ctx);
    const T = sb.input(0);
    const y = sb.output(0);
    const lens = sb.u32s(spatial);
    // ks_base(i, len): the normalized coordinate of index i (affineBase in src/graph/ops/sample.ts).
    sb.fn(align
      ? 'fn ks_base(i: u32, len: u32) -> f32 { if (len == 1u) { return -1.0; } return -1.0 + 2.0 * f32(i) / f32(len - 1u); }'
      : 'fn ks_base(i: u32, len: u32) -> f32 { return -1.0 + (2.0 * f32(i) + 1.0) / f32(len); }');
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, out.shape);
      const n = coords[0]!;
      const j = coords[sp + 1]!;
      // base = (x, y[, z], 1): component k reads spatial axis sp - 1 - k.
      const terms = Array.from({ length: sp }, (_, k) => `f32(${T}[row + ${k}u]) * ks_base(${coords[sp - k]}, ${lens[sp - 1 - k]})`);
      return `${code}
  let row = (${n} * ${sb.u32(sp)} + ${j}) * ${sb.u32(sp + 1)};
  let v = ${terms.join(' + ')} + f32(${T}[row + ${sb.u32(sp)}]);
  ${y}[${i}] = ${out.storage}(v);`;
    }, `AffineGrid.${sp}d`);
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
export const sampleKernels: KernelTable = { GridSample: gridSample, AffineGrid: affineGrid, MaxUnpool: maxUnpool };
