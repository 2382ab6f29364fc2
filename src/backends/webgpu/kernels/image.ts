/**
 * WebGPU kernels of the image-region family, one invocation per output element:
 * CenterCropPad (a shifted copy, zeros outside), Col2Im (a gather: each image
 * element sums the block columns that cover it), RoiAlign (the region's bilinear
 * samples, averaged or maxed, in f32) and DeformConv (2-D; every tap sampled
 * bilinearly at its offset, masked, times the weight, in f32). Geometry comes from
 * src/graph/ops/image.ts and bilinear.ts; sizes and attributes are uniforms.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { deformGeometry } from '../../../graph/ops/bilinear.js';
import { col2imGeometry, cropPadGeometry } from '../../../graph/ops/image.js';
import { sizeOf } from '../../../graph/shape.js';
import { tensorInts } from '../../../graph/tensor.js';
import type { GpuKernel, KernelContext, KernelTable } from '../kernel.js';
import { coordsOf, ShaderBuilder } from '../wgsl.js';

/** A shape-deciding int input's value at plan time (bound when the graph is compiled for known shapes). */
function planInts(ctx: KernelContext, index: number, op: string, what: string): number[] {
  const v = ctx.inputs[index]?.value;
  if (!v) throw new UnsupportedOpError([{ op, nodes: [ctx.node] }], `${what} must be constant for the WebGPU backend`);
  return tensorInts(v);
}

const centerCropPad: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const g = cropPadGeometry(x.shape, planInts(ctx, 1, 'CenterCropPad', 'shape'), ctx.attrs['axes'] as readonly number[] | undefined, ctx.node);
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const y = sb.output(0);
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, out.shape);
      const lines = [code, '  var src = 0i; var inside = true;'];
      coords.forEach((c, a) => {
        lines.push(`  { let p = i32(${c}) + ${sb.i32(g.offsets[a]!)}; inside = inside && p >= 0 && p < ${sb.i32(x.shape[a]!)}; src = src * ${sb.i32(x.shape[a]!)} + p; }`);
      });
      lines.push(`  if (inside) { ${y}[${i}] = ${X}[u32(src)]; } else { ${y}[${i}] = ${out.storage}(0); }`);
      return lines.join('\n');
    }, 'CenterCropPad.copy');
    return { dispatches: [d] };
  },
};

const col2Im: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const g = col2imGeometry(x.shape, planInts(ctx, 1, 'Col2Im', 'image_shape'), planInts(ctx, 2, 'Col2Im', 'block_shape'), ctx.attrs as never, ctx.node);
    const sp = g.image.length;
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const y = sb.output(0);
    const L = sb.u32(x.shape[2]!);
    const K = sb.u32(g.kernelSize);
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, [out.shape[0]! * g.channels, ...g.image]);
      const lines = [code, '  var acc = 0.0;', `  for (var k = 0u; k < ${K}; k++) {`, '    var kr = k; var l = 0u; var ok = true;'];
      // Kernel coordinates innermost axis first; block index outermost axis first.
      const per = Array.from({ length: sp }, (_, a) => a);
      for (const a of [...per].reverse()) lines.push(`    let k${a} = i32(kr % ${sb.u32(g.block[a]!)}); kr = kr / ${sb.u32(g.block[a]!)};`);
      for (const a of per) {
        lines.push(`    { let q = i32(${coords[a + 1]}) + ${sb.i32(g.padBegin[a]!)} - k${a} * ${sb.i32(g.dilations[a]!)}; let s = ${sb.i32(g.strides[a]!)};`);
        lines.push(`      ok = ok && q >= 0 && q % s == 0 && q / s < ${sb.i32(g.blocks[a]!)}; l = l * ${sb.u32(g.blocks[a]!)} + u32(max(q, 0) / s); }`);
      }
      lines.push(`    if (ok) { acc += f32(${X}[(${coords[0]} * ${K} + k) * ${L} + l]); }`, '  }', `  ${y}[${i}] = ${out.storage}(acc);`);
      return lines.join('\n');
    }, `Col2Im.${sp}d`);
    return { dispatches: [d] };
  },
};

const roiAlign: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const half = String(ctx.attrs['coordinate_transformation_mode'] ?? 'half_pixel') === 'half_pixel';
    const max = String(ctx.attrs['mode'] ?? 'avg') === 'max';
    const [PH, PW] = [out.shape[2]!, out.shape[3]!];
    const ratio = Number(ctx.attrs['sampling_ratio'] ?? 0);
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const rois = sb.input(1);
    const bi = sb.input(2);
    const y = sb.output(0);
    const [h, w] = [sb.i32(H), sb.i32(W)];
    // ks_tap: roiBilinear in src/graph/ops/image.ts for one sample; the mode's combination of its four corners.
    sb.fn(`fn ks_tap(base: u32, y0: f32, x0: f32) -> f32 {
  if (y0 < -1.0 || y0 > f32(${h}) || x0 < -1.0 || x0 > f32(${w})) { return 0.0; }
  var yy = max(y0, 0.0); var xx = max(x0, 0.0);
  var yl = i32(yy); var xl = i32(xx); var yh = yl + 1; var xh = xl + 1;
  if (yl >= ${h} - 1) { yl = ${h} - 1; yh = yl; yy = f32(yl); }
  if (xl >= ${w} - 1) { xl = ${w} - 1; xh = xl; xx = f32(xl); }
  let ly = yy - f32(yl); let lx = xx - f32(xl); let hy = 1.0 - ly; let hx = 1.0 - lx;
  let v1 = hy * hx * f32(${X}[base + u32(yl * ${w} + xl)]);
  let v2 = hy * lx * f32(${X}[base + u32(yl * ${w} + xh)]);
  let v3 = ly * hx * f32(${X}[base + u32(yh * ${w} + xl)]);
  let v4 = ly * lx * f32(${X}[base + u32(yh * ${w} + xh)]);
  return ${max ? 'max(max(v1, v2), max(v3, v4))' : 'v1 + v2 + v3 + v4'};
}`);
    const scale = sb.f32(Number(ctx.attrs['spatial_scale'] ?? 1));
    const off = sb.f32(half ? 0.5 : 0);
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, out.shape);
      const [r, c, ph, pw] = coords as [string, string, string, string];
      return `${code}
  let b = u32(${bi}[${r}]);
  let x1 = f32(${rois}[${r} * 4u]) * ${scale} - ${off};
  let y1 = f32(${rois}[${r} * 4u + 1u]) * ${scale} - ${off};
  var rw = f32(${rois}[${r} * 4u + 2u]) * ${scale} - ${off} - x1;
  var rh = f32(${rois}[${r} * 4u + 3u]) * ${scale} - ${off} - y1;
  ${half ? '' : 'rw = max(rw, 1.0); rh = max(rh, 1.0);'}
  let bh = rh / f32(${sb.u32(PH)}); let bw = rw / f32(${sb.u32(PW)});
  let gh = ${ratio > 0 ? sb.i32(ratio) : `i32(ceil(rh / f32(${sb.u32(PH)})))`};
  let gw = ${ratio > 0 ? sb.i32(ratio) : `i32(ceil(rw / f32(${sb.u32(PW)})))`};
  let base = (b * ${sb.u32(C)} + ${c}) * ${sb.u32(H * W)};
  var v = 0.0; var first = true;
  for (var iy = 0; iy < gh; iy++) {
    let yy = y1 + f32(${ph}) * bh + (f32(iy) + 0.5) * bh / f32(gh);
    for (var ix = 0; ix < gw; ix++) {
      let t = ks_tap(base, yy, x1 + f32(${pw}) * bw + (f32(ix) + 0.5) * bw / f32(gw));
      ${max ? 'if (first) { v = t; first = false; } else { v = max(v, t); }' : 'v += t;'}
    }
  }
  ${max ? '' : 'v = v / f32(max(gh * gw, 1));'}
  ${y}[${i}] = ${out.storage}(v);`;
    }, max ? 'RoiAlign.max' : 'RoiAlign.avg');
    void N;
    return { dispatches: [d] };
  },
};

const deformConv: GpuKernel = {
  plan(ctx) {
    const [x, w, off, b, mask] = ctx.inputs;
    const out = ctx.outputs[0]!;
    const g = deformGeometry(x!.shape, w!.shape, off!.shape, mask?.shape, ctx.attrs as never, ctx.node);
    const [, C, H, Wd] = x!.shape as [number, number, number, number];
    const M = w!.shape[0]!;
    const [kH, kW] = g.kernel;
    const K = kH * kW;
    const cpg = C / g.group;
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const Wt = sb.input(1);
    const O = sb.input(2);
    const B = b ? sb.input(3) : '';
    const Mk = mask ? sb.input(4) : '';
    const y = sb.output(0);
    const [h, wd] = [sb.i32(H), sb.i32(Wd)];
    sb.fn(`fn ks_px(base: u32, yy: i32, xx: i32) -> f32 {
  if (yy < 0 || yy >= ${h} || xx < 0 || xx >= ${wd}) { return 0.0; }
  return f32(${X}[base + u32(yy * ${wd} + xx)]);
}
fn ks_bilinear(base: u32, py: f32, px: f32) -> f32 {
  let y0 = floor(py); let x0 = floor(px); let dy = py - y0; let dx = px - x0;
  let iy = i32(y0); let ix = i32(x0);
  return (1.0 - dy) * (1.0 - dx) * ks_px(base, iy, ix) + (1.0 - dy) * dx * ks_px(base, iy, ix + 1)
    + dy * (1.0 - dx) * ks_px(base, iy + 1, ix) + dy * dx * ks_px(base, iy + 1, ix + 1);
}`);
    const plane = sb.u32(g.out[0] * g.out[1]);
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, out.shape);
      const [n, m, oi, oj] = coords as [string, string, string, string];
      return `${code}
  let grp = ${m} / ${sb.u32(M / g.group)};
  let pos = ${oi} * ${sb.u32(g.out[1])} + ${oj};
  var acc = ${b ? `f32(${B}[${m}])` : '0.0'};
  for (var cc = 0u; cc < ${sb.u32(cpg)}; cc++) {
    let c = grp * ${sb.u32(cpg)} + cc;
    let og = c / ${sb.u32(C / g.offsetGroup)};
    let xb = (${n} * ${sb.u32(C)} + c) * ${sb.u32(H * Wd)};
    for (var k = 0u; k < ${sb.u32(K)}; k++) {
      let kh = k / ${sb.u32(kW)}; let kw = k % ${sb.u32(kW)};
      let ok = (${n} * ${sb.u32(g.offsetGroup)} + og) * ${sb.u32(K)} + k;
      let py = f32(i32(${oi}) * ${sb.i32(g.strides[0])} - ${sb.i32(g.pads[0])} + i32(kh) * ${sb.i32(g.dilations[0])}) + f32(${O}[(ok * 2u) * ${plane} + pos]);
      let px = f32(i32(${oj}) * ${sb.i32(g.strides[1])} - ${sb.i32(g.pads[1])} + i32(kw) * ${sb.i32(g.dilations[1])}) + f32(${O}[(ok * 2u + 1u) * ${plane} + pos]);
      let mk = ${mask ? `f32(${Mk}[ok * ${plane} + pos])` : '1.0'};
      acc += f32(${Wt}[(${m} * ${sb.u32(cpg)} + cc) * ${sb.u32(K)} + k]) * mk * ks_bilinear(xb, py, px);
    }
  }
  ${y}[${i}] = ${out.storage}(acc);`;
    }, 'DeformConv.direct');
    return { dispatches: [d] };
  },
};

/** Image-region kernels by op. */
export const imageKernels: KernelTable = { CenterCropPad: centerCropPad, Col2Im: col2Im, RoiAlign: roiAlign, DeformConv: deformConv };
