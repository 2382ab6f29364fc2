/**
 * WebGPU kernels of the signal family: HannWindow, HammingWindow, BlackmanWindow
 * (the window length is the output's concrete size, known when planning), DFT and
 * STFT (a direct transform: one invocation per output bin, summing the samples in
 * f32 with twiddles whose angle is reduced modulo n in integers), MelWeightMatrix
 * (one invocation per weight; the filter edges in f32) and Det (one invocation
 * per matrix: LU with partial pivoting on a scratch copy, in f32).
 * Semantics are those of src/graph/ops/signal.ts.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { dftGeometry, scalarInt, stftGeometry } from '../../../graph/ops/signal.js';
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelContext, KernelTable } from '../kernel.js';
import { literal, ShaderBuilder } from '../wgsl.js';

/** A scalar integer input's value at plan time (it decides the output's shape, so it is bound), or undefined when absent. */
function planInt(ctx: KernelContext, index: number, op: string, what: string): number | undefined {
  const t = ctx.inputs[index];
  if (!t) return undefined;
  if (!t.value) throw new UnsupportedOpError([{ op, nodes: [ctx.node] }], `${what} must be constant for the WebGPU backend`);
  return scalarInt(t.value, ctx.node, what);
}

/**
 * WGSL of ks_dft(): the bin k of an n-point transform of `len` complex samples read
 * by ks_sample(t) (re, im), as vec2f. The twiddle index k·t mod n advances by k per sample.
 */
function dftFn(sign: number): string {
  return `fn ks_dft(base: u32, stride: u32, len: u32, k: u32, n: u32) -> vec2f {
  var acc = vec2f(0.0, 0.0);
  var idx = 0u;
  let m = min(len, n);
  for (var t = 0u; t < m; t++) {
    let v = ks_sample(base, stride, t);
    let ang = 6.283185307179586 * f32(idx) / f32(n);
    let c = cos(ang);
    let s = ${literal(sign, 'f32')} * sin(ang);
    acc += vec2f(v.x * c - v.y * s, v.x * s + v.y * c);
    idx = (idx + k) % n;
  }
  return acc;
}`;
}

/** WGSL of ks_sample(base, stride, t): sample t (re, im) of a real (cin 1) or complex (cin 2) signal at in0[base + t·stride]. */
function sampleFn(cin: number, weighted: boolean): string {
  const w = weighted ? ' * f32(in2[t])' : '';
  return cin === 2
    ? `fn ks_sample(base: u32, stride: u32, t: u32) -> vec2f { let o = base + t * stride; return vec2f(f32(in0[o]), f32(in0[o + 1u]))${w}; }`
    : `fn ks_sample(base: u32, stride: u32, t: u32) -> vec2f { return vec2f(f32(in0[base + t * stride]), 0.0)${w}; }`;
}

const dft: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const shape = x.shape;
    const r = shape.length;
    const axisIn = planInt(ctx, 2, 'DFT', 'axis') ?? (ctx.attrs['axis'] as number | undefined) ?? -2;
    const inverse = Number(ctx.attrs['inverse'] ?? 0) === 1;
    const g = dftGeometry(shape, axisIn, planInt(ctx, 1, 'DFT', 'dft_length'), Number(ctx.attrs['onesided'] ?? 0) === 1, ctx.node);
    const cin = shape[r - 1]!;
    const outer = sizeOf(shape.slice(0, g.axis));
    const inner = sizeOf(shape.slice(g.axis + 1, r - 1));
    const sb = new ShaderBuilder(ctx);
    sb.input(0);
    const y = sb.output(0);
    sb.fn(sampleFn(cin, false));
    sb.fn(dftFn(inverse ? 1 : -1));
    const L = sb.u32(shape[g.axis]!);
    const N = sb.u32(g.n);
    const inn = sb.u32(inner);
    const scale = sb.f32(inverse ? 1 / g.n : 1);
    const d = sb.linear(outer * g.outLen * inner, (i) => `  let q = ${i} % ${inn};
  let k = (${i} / ${inn}) % ${sb.u32(g.outLen)};
  let o = ${i} / (${inn} * ${sb.u32(g.outLen)});
  let v = ks_dft((o * ${L} * ${inn} + q) * ${sb.u32(cin)}, ${inn} * ${sb.u32(cin)}, ${L}, k, ${N}) * ${scale};
  ${y}[2u * ${i}] = ${out.storage}(v.x);
  ${y}[2u * ${i} + 1u] = ${out.storage}(v.y);`, inverse ? 'DFT.inverse' : 'DFT.forward');
    return { dispatches: [d] };
  },
};

const stft: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const [B, L, cin] = x.shape as [number, number, number];
    const step = planInt(ctx, 1, 'STFT', 'frame_step')!;
    const win = ctx.inputs[2];
    const g = stftGeometry(L, step, planInt(ctx, 3, 'STFT', 'frame_length'), win ? sizeOf(win.shape) : undefined, Number(ctx.attrs['onesided'] ?? 1) === 1, ctx.node);
    const sb = new ShaderBuilder(ctx);
    sb.input(0);
    if (win) sb.input(2);
    const y = sb.output(0);
    sb.fn(sampleFn(cin, !!win));
    sb.fn(dftFn(-1));
    const bins = sb.u32(g.bins);
    const frames = sb.u32(g.frames);
    const d = sb.linear(B * g.frames * g.bins, (i) => `  let k = ${i} % ${bins};
  let f = (${i} / ${bins}) % ${frames};
  let b = ${i} / (${bins} * ${frames});
  let v = ks_dft((b * ${sb.u32(L)} + f * ${sb.u32(step)}) * ${sb.u32(cin)}, ${sb.u32(cin)}, ${sb.u32(g.frameLength)}, k, ${sb.u32(g.frameLength)});
  ${y}[2u * ${i}] = ${out.storage}(v.x);
  ${y}[2u * ${i} + 1u] = ${out.storage}(v.y);`, 'STFT.direct');
    return { dispatches: [d] };
  },
};

const melWeightMatrix: GpuKernel = {
  plan(ctx) {
    const out = ctx.outputs[0]!;
    const [rows, m] = out.shape as [number, number];
    const n = planInt(ctx, 1, 'MelWeightMatrix', 'dft_length')!;
    const sb = new ShaderBuilder(ctx);
    sb.input(2);
    sb.input(3);
    sb.input(4);
    const y = sb.output(0);
    // ks_edge(e): filter edge e (melEdges in src/graph/ops/signal.ts), in f32.
    sb.fn(`fn ks_mel(hz: f32) -> f32 { return 2595.0 * log2(1.0 + hz / 700.0) / log2(10.0); }
fn ks_edge(e: u32) -> i32 {
  let lo = ks_mel(f32(in3[0])); let hi = ks_mel(f32(in4[0]));
  let step = (hi - lo) / f32(${sb.u32(m + 2)});
  let hz = 700.0 * (pow(10.0, (f32(e) * step + lo) / 2595.0) - 1.0);
  return i32(floor(f32(${sb.u32(n + 1)}) * hz / f32(in2[0])));
}`);
    const d = sb.linear(rows * m, (idx) => `  let bin = ${idx} % ${sb.u32(m)};
  let j = i32(${idx} / ${sb.u32(m)});
  let l = ks_edge(bin); let c = ks_edge(bin + 1u); let h = ks_edge(bin + 2u);
  var v = 0.0;
  if (c == l) { if (j == c) { v = 1.0; } } else if (j >= l && j <= c) { v = f32(j - l) / f32(c - l); }
  if (h > c && j >= c && j < h) { v = f32(h - j) / f32(h - c); }
  ${y}[${idx}] = ${out.storage === 'i32' || out.storage === 'u32' ? `${out.storage}(trunc(v))` : `${out.storage}(v)`};`, 'MelWeightMatrix.weights');
    return { dispatches: [d] };
  },
};

function windowKernel(name: string, coeffs: readonly number[]): GpuKernel {
  return {
    plan(ctx) {
      const out = ctx.outputs[0]!;
      const n = out.shape[0]!;
      const periodic = Number(ctx.attrs['periodic'] ?? 1) !== 0;
      const sb = new ShaderBuilder(ctx);
      const y = sb.output(0);
      const denom = sb.u32(Math.max(1, periodic ? n : n - 1));
      const d = sb.linear(n, (i) => {
        // The angle 2πk·i/N is reduced modulo N in integers first, so cos() sees an argument in [0, 2π).
        const terms = coeffs.map((a, k) => {
          const sign = k % 2 ? '-' : '+';
          const arg = k === 0 ? '0.0' : `6.283185307179586 * f32((${k}u * ${i}) % ${denom}) / f32(${denom})`;
          return ` ${sign} ${literal(a, 'f32')} * cos(${arg})`;
        });
        const v = `0.0${terms.join('')}`;
        const store = out.storage === 'i32' || out.storage === 'u32' ? `${out.storage}(trunc(${v}))` : `${out.storage}(${v})`;
        return `  ${y}[${i}] = ${store};`;
      }, `${name}.window`);
      return { dispatches: [d] };
    },
  };
}

const det: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const r = x.shape.length;
    const n = x.shape[r - 1]!;
    const batch = sizeOf(out.shape);
    const sb = new ShaderBuilder(ctx);
    sb.input(0);
    const y = sb.output(0);
    const m = sb.scratch(0, 'f32');
    const N = sb.u32(n);
    const d = sb.linear(batch, (i) => `  let nn = ${N} * ${N};
  let base = ${i} * nn;
  for (var k = 0u; k < nn; k++) { ${m}[base + k] = f32(in0[base + k]); }
  var det = 1.0;
  for (var c = 0u; c < ${N}; c++) {
    var p = c;
    for (var rr = c + 1u; rr < ${N}; rr++) { if (abs(${m}[base + rr * ${N} + c]) > abs(${m}[base + p * ${N} + c])) { p = rr; } }
    if (${m}[base + p * ${N} + c] == 0.0) { det = 0.0; break; }
    if (p != c) {
      for (var k = 0u; k < ${N}; k++) { let t = ${m}[base + c * ${N} + k]; ${m}[base + c * ${N} + k] = ${m}[base + p * ${N} + k]; ${m}[base + p * ${N} + k] = t; }
      det = -det;
    }
    let piv = ${m}[base + c * ${N} + c];
    det *= piv;
    for (var rr = c + 1u; rr < ${N}; rr++) {
      let f = ${m}[base + rr * ${N} + c] / piv;
      for (var k = c; k < ${N}; k++) { ${m}[base + rr * ${N} + k] -= f * ${m}[base + c * ${N} + k]; }
    }
  }
  ${y}[${i}] = ${out.storage}(det);`, 'Det.lu');
    return { scratch: [Math.max(4, batch * n * n * 4)], dispatches: [d] };
  },
};

/** Signal-family kernels by op. */
export const signalKernels: KernelTable = {
  HannWindow: windowKernel('HannWindow', [0.5, 0.5]),
  HammingWindow: windowKernel('HammingWindow', [25 / 46, 21 / 46]),
  BlackmanWindow: windowKernel('BlackmanWindow', [0.42, 0.5, 0.08]),
  DFT: dft,
  STFT: stft,
  MelWeightMatrix: melWeightMatrix,
  Det: det,
};
