/**
 * WebGPU kernels of the signal family: HannWindow, HammingWindow, BlackmanWindow
 * (the window length is the output's concrete size, known when planning) and Det
 * (one invocation per matrix: LU with partial pivoting on a scratch copy, in f32).
 * Semantics are those of src/graph/ops/signal.ts.
 */
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable } from '../kernel.js';
import { literal, ShaderBuilder } from '../wgsl.js';

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
  Det: det,
};
