/**
 * Pooling kernels: MaxPool (with Indices, storage_order), AveragePool
 * (count_include_pad), LpPool — one invocation per output element walking its
 * window (shaders/pool.ts) — and the global pools, one invocation per channel.
 */
import { fold3, resolveWindow, type Window, type WindowAttrs } from '../../../graph/ops/conv-util.js';
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable, KernelContext } from '../kernel.js';
import { poolBody, type PoolBody, type PoolGeometry } from '../../../../shaders/pool.js';
import { ShaderBuilder } from '../wgsl.js';
import { infinity } from '../wgsl-constants.js';

function geometry(ctx: KernelContext, sb: ShaderBuilder): { geo: PoolGeometry; dims: [number, number, number] } {
  const x = ctx.inputs[0]!;
  const a = ctx.attrs as unknown as WindowAttrs & { kernel_shape: number[] };
  const w: Window = resolveWindow(a, x.shape.slice(2), a.kernel_shape, ctx.node, (t) => `_${t}`, Number(ctx.attrs['ceil_mode'] ?? 0) !== 0);
  const w3 = fold3(w, x.shape.slice(2), ctx.node);
  const n = w.padEnd.length;
  const padEnd = [0, 0, 0].map((_, i) => (i < 3 - n ? 0 : w.padEnd[i - (3 - n)]!));
  return {
    geo: {
      inDims: sb.i32s(w3.inDims),
      outDims: sb.i32s(w3.outDims),
      kernel: sb.i32s(w3.kernel),
      strides: sb.i32s(w3.strides),
      dilations: sb.i32s(w3.dilations),
      padBegin: sb.i32s(w3.padBegin),
      padEnd: sb.i32s(padEnd),
    },
    dims: w3.inDims,
  };
}

function windowKernel(label: string, body: (ctx: KernelContext, sb: ShaderBuilder, X: string, dims: [number, number, number]) => PoolBody): GpuKernel {
  return {
    plan(ctx) {
      const sb = new ShaderBuilder(ctx);
      const X = sb.input(0);
      const { geo, dims } = geometry(ctx, sb);
      const b = body(ctx, sb, X, dims);
      return { dispatches: [sb.linear(sizeOf(ctx.outputs[0]!.shape), (i) => poolBody(i, geo, b), label)] };
    },
  };
}

const maxPool = windowKernel('MaxPool.window', (ctx, sb, X, [ID, IH, IW]) => {
  const Y = sb.output(0);
  const I = ctx.outputs[1] ? sb.output(1) : undefined;
  const colMajor = Number(ctx.attrs['storage_order'] ?? 0) === 1;
  const idU = sb.u32(ID);
  const ihU = sb.u32(IH);
  const iwU = sb.u32(IW);
  const index = colMajor
    ? `select(cBase + at, cBase + at / (${iwU} * ${ihU}) + ${idU} * ((at / ${iwU}) % ${ihU} + ${ihU} * (at % ${iwU})), found)`
    : 'cBase + at';
  return {
    start: `  var best = ${infinity(sb, true)}; var at = 0u; var found = false;`,
    tap: `if (inside) { let v = f32(${X}[cBase + off]); if ((v > best) | !found) { best = v; at = off; found = true; } }`,
    emit: [
      `  ${Y}[o] = ${ctx.outputs[0]!.storage}(best);`,
      I ? `  ${I}[o] = ${ctx.outputs[1]!.storage}(select(i32(cBase) - 1, i32(${index}), found));` : '',
    ].join('\n'),
  };
});

const averagePool = windowKernel('AveragePool.window', (ctx, sb, X) => {
  const Y = sb.output(0);
  const include = Number(ctx.attrs['count_include_pad'] ?? 0) !== 0;
  return {
    start: '  var sum = 0.0; var count = 0u;',
    tap: `if (inside) { sum += f32(${X}[cBase + off]); count++; }${include ? ' else { count++; }' : ''}`,
    emit: `  ${Y}[o] = ${ctx.outputs[0]!.storage}(select(0.0, sum / f32(count), count > 0u));`,
  };
});

const lpPool = windowKernel('LpPool.window', (ctx, sb, X) => {
  const Y = sb.output(0);
  const p = sb.f32(Number(ctx.attrs['p'] ?? 2));
  return {
    start: '  var sum = 0.0;',
    tap: `if (inside) { sum += pow(abs(f32(${X}[cBase + off])), ${p}); }`,
    emit: `  ${Y}[o] = ${ctx.outputs[0]!.storage}(pow(sum, 1.0 / ${p}));`,
  };
});

/** A global pool: one invocation per (N, C) channel over its contiguous spatial block. */
function globalPool(label: string, start: (sb: ShaderBuilder) => string, step: string, finish: string): GpuKernel {
  return {
    plan(ctx) {
      const x = ctx.inputs[0]!;
      const inner = sizeOf(x.shape.slice(2));
      const sb = new ShaderBuilder(ctx);
      const X = sb.input(0);
      const Y = sb.output(0);
      const n = sb.u32(inner);
      const p = sb.f32(Number(ctx.attrs['p'] ?? 2));
      const lines = [
        `  let n = ${n}; let p = ${p}; let base = i * n;`,
        `  var a = ${start(sb)};`,
        `  for (var k = 0u; k < n; k++) { let v = f32(${X}[base + k]); a = ${step}; }`,
        `  ${Y}[i] = ${ctx.outputs[0]!.storage}(${finish});`,
      ];
      return { dispatches: [sb.linear(x.shape[0]! * x.shape[1]!, () => lines.join('\n'), label)] };
    },
  };
}

/** Pooling kernels by op. */
export const poolKernels: KernelTable = {
  MaxPool: maxPool,
  AveragePool: averagePool,
  LpPool: lpPool,
  GlobalAveragePool: globalPool('GlobalAveragePool.loop', () => '0.0', 'a + v', 'a / f32(n)'),
  GlobalMaxPool: globalPool('GlobalMaxPool.loop', (sb) => infinity(sb, true), 'select(a, v, v > a || v != v)', 'a'),
  GlobalLpPool: globalPool('GlobalLpPool.loop', () => '0.0', 'a + pow(abs(v), p)', 'pow(a, 1.0 / p)'),
};
