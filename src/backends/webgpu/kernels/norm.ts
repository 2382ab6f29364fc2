/**
 * Normalization kernels. LayerNormalization, InstanceNormalization and
 * GroupNormalization normalize contiguous blocks (one invocation per block: mean
 * pass, variance pass, write pass, in f32); MeanVarianceNormalization uses the
 * reduction loop nest over its axes; BatchNormalization (inference), LRN and
 * LpNormalization are per-element / per-row kernels.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { sizeOf, type ConcreteShape } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable, KernelContext } from '../kernel.js';
import { rowwiseSplit } from '../chunk.js';
import { axisRow, reduceNest } from '../reduce-nest.js';
import { broadcastOffsets, ShaderBuilder } from '../wgsl.js';
import { axisOf } from './common.js';

/** WGSL lines computing `mean` and `inv` (1/sqrt(var + eps)) of the `m` contiguous elements of `X` at `base`. */
function blockMoments(X: string, m: string, eps: string): string {
  return [
    `  var sum = 0.0;`,
    `  for (var k = 0u; k < ${m}; k++) { sum += f32(${X}[base + k]); }`,
    `  let mean = sum / f32(${m});`,
    `  var sq = 0.0;`,
    `  for (var k = 0u; k < ${m}; k++) { let d = f32(${X}[base + k]) - mean; sq += d * d; }`,
    `  let inv = 1.0 / sqrt(sq / f32(${m}) + ${eps});`,
  ].join('\n');
}

const layerNorm: GpuKernel = {
  split: rowwiseSplit(true),
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const axis = axisOf(Number(ctx.attrs['axis']), x.shape.length);
    const normShape = x.shape.slice(axis);
    const m = sizeOf(normShape);
    const rows = m === 0 ? 0 : sizeOf(x.shape) / m;
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const S = sb.input(1);
    const B = ctx.inputs[2] ? sb.input(2) : undefined;
    const Y = sb.output(0);
    const stats = ctx.outputs.slice(1).map((_, j) => sb.output(j + 1));
    const mU = sb.u32(m);
    const eps = sb.f32(Number(ctx.attrs['epsilon']));
    const shapes = [ctx.inputs[1]!.shape, ...(ctx.inputs[2] ? [ctx.inputs[2].shape] : [])] as ConcreteShape[];
    const { code, offsets } = broadcastOffsets(sb, 'k', shapes, normShape);
    const y = ctx.outputs[0]!.storage;
    const lines = [
      `  let base = i * ${mU};`,
      blockMoments(X, mU, eps),
      ...stats.map((s, j) => `  ${s}[i] = ${ctx.outputs[j + 1]!.storage}(${j === 0 ? 'mean' : 'inv'});`),
      `  for (var k = 0u; k < ${mU}; k++) {`,
      code,
      `    ${Y}[base + k] = ${y}((f32(${X}[base + k]) - mean) * inv * f32(${S}[${offsets[0]}])${B ? ` + f32(${B}[${offsets[1]}])` : ''});`,
      '  }',
    ];
    return { dispatches: [sb.linear(rows, () => lines.join('\n'), 'LayerNormalization.row')] };
  },
};

/** Instance/Group normalization: blocks of `per` channels × spatial; scale/bias per channel or per group. */
function groupNorm(ctx: KernelContext, groups: number, label: string) {
  const x = ctx.inputs[0]!;
  const [n, c] = x.shape as [number, number];
  const inner = sizeOf(x.shape.slice(2));
  const per = c / groups;
  const sb = new ShaderBuilder(ctx);
  const X = sb.input(0);
  const S = sb.input(1);
  const B = sb.input(2);
  const Y = sb.output(0);
  const block = sb.u32(per * inner);
  const innerU = sb.u32(inner);
  const perU = sb.u32(per);
  const gU = sb.u32(groups);
  const eps = sb.f32(Number(ctx.attrs['epsilon']));
  const perGroup = (k: number): boolean => sizeOf(ctx.inputs[k]!.shape) === groups && per !== 1;
  const pidx = (k: number): string => (perGroup(k) ? 'g' : 'ch');
  const lines = [
    `  let base = i * ${block}; let g = i % ${gU};`,
    blockMoments(X, block, eps),
    `  for (var k = 0u; k < ${block}; k++) {`,
    `    let ch = g * ${perU} + k / ${innerU};`,
    `    ${Y}[base + k] = ${ctx.outputs[0]!.storage}((f32(${X}[base + k]) - mean) * (f32(${S}[${pidx(1)}]) * inv) + f32(${B}[${pidx(2)}]));`,
    '  }',
  ];
  return { dispatches: [sb.linear(n * groups, () => lines.join('\n'), label)] };
}

const instanceNorm: GpuKernel = { plan: (ctx) => groupNorm(ctx, ctx.inputs[0]!.shape[1]!, 'InstanceNormalization.block') };
const groupNormalization: GpuKernel = { plan: (ctx) => groupNorm(ctx, Number(ctx.attrs['num_groups']), 'GroupNormalization.block') };

const batchNorm: GpuKernel = {
  plan(ctx) {
    if (Number(ctx.attrs['training_mode'] ?? 0) !== 0) throw new UnsupportedOpError([{ op: 'BatchNormalization', nodes: [ctx.node] }], 'training_mode is not supported');
    if (ctx.outputs.length > 1) throw new UnsupportedOpError([{ op: 'BatchNormalization', nodes: [ctx.node] }], 'running statistics outputs are not supported');
    const x = ctx.inputs[0]!;
    const c = x.shape[1]!;
    const inner = sizeOf(x.shape.slice(2));
    const sb = new ShaderBuilder(ctx);
    const [X, S, B, M, V] = [0, 1, 2, 3, 4].map((k) => sb.input(k));
    const Y = sb.output(0);
    const cU = sb.u32(c);
    const innerU = sb.u32(inner);
    const eps = sb.f32(Number(ctx.attrs['epsilon']));
    return {
      dispatches: [
        sb.linear(sizeOf(x.shape), (i) =>
          [
            `  let ch = (${i} / ${innerU}) % ${cU};`,
            `  let a = f32(${S}[ch]) / sqrt(f32(${V}[ch]) + ${eps});`,
            `  ${Y}[${i}] = ${ctx.outputs[0]!.storage}(f32(${X}[${i}]) * a + (f32(${B}[ch]) - f32(${M}[ch]) * a));`,
          ].join('\n'), 'BatchNormalization.inference'),
      ],
    };
  },
};

const lrn: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const c = x.shape[1]!;
    const inner = sizeOf(x.shape.slice(2));
    const size = Number(ctx.attrs['size']);
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const Y = sb.output(0);
    const cU = sb.i32(c);
    const innerU = sb.u32(inner);
    const lo = sb.i32(Math.floor((size - 1) / 2));
    const hi = sb.i32(Math.ceil((size - 1) / 2));
    const alpha = sb.f32(Number(ctx.attrs['alpha']) / size);
    const beta = sb.f32(Number(ctx.attrs['beta']));
    const bias = sb.f32(Number(ctx.attrs['bias']));
    return {
      dispatches: [
        sb.linear(sizeOf(x.shape), (i) =>
          [
            `  let ch = i32((${i} / ${innerU}) % u32(${cU})); let k = ${i} % ${innerU}; let nb = ${i} / (${innerU} * u32(${cU}));`,
            '  var sq = 0.0;',
            `  for (var cc = max(0, ch - ${lo}); cc <= min(${cU} - 1, ch + ${hi}); cc++) { let v = f32(${X}[(nb * u32(${cU}) + u32(cc)) * ${innerU} + k]); sq += v * v; }`,
            `  ${Y}[${i}] = ${ctx.outputs[0]!.storage}(f32(${X}[${i}]) / pow(${bias} + ${alpha} * sq, ${beta}));`,
          ].join('\n'), 'LRN.window'),
      ],
    };
  },
};

const mvn: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const r = x.shape.length;
    const axes = [...new Set((ctx.attrs['axes'] as number[]).map((a) => axisOf(a, r)))].sort((p, q) => p - q);
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const Y = sb.output(0);
    const nest = reduceNest(sb, 'i', x.shape, axes);
    const outputs = sizeOf(x.shape) / Math.max(1, nest.count);
    const lines = [
      nest.head,
      `  let n = ${sb.f32(nest.count)};`,
      '  var s = 0.0; var s2 = 0.0;',
      nest.loops(`  let v = f32(${X}[q]); s += v; s2 += v * v;`),
      '  let mean = s / n; let sd = sqrt(max(0.0, s2 / n - mean * mean)) + 1e-9;',
      nest.loops(`  ${Y}[q] = ${ctx.outputs[0]!.storage}((f32(${X}[q]) - mean) / sd);`),
    ];
    return { dispatches: [sb.linear(sizeOf(x.shape) === 0 ? 0 : outputs, () => lines.join('\n'), 'MeanVarianceNormalization.loop')] };
  },
};

const lpNorm: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const axis = axisOf(Number(ctx.attrs['axis']), x.shape.length);
    const l2 = Number(ctx.attrs['p']) === 2;
    const n = x.shape[axis]!;
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const Y = sb.output(0);
    const row = axisRow(sb, 'i', x.shape, axis);
    const rows = n === 0 ? 0 : sizeOf(x.shape) / n;
    const lines = [
      row.head,
      '  var s = 0.0;',
      `  for (var k = 0u; k < ${row.n}; k++) { let v = f32(${X}[base + k * step]); s += ${l2 ? 'v * v' : 'abs(v)'}; }`,
      `  let norm = ${l2 ? 'sqrt(s)' : 's'};`,
      `  for (var k = 0u; k < ${row.n}; k++) { let j = base + k * step; ${Y}[j] = ${ctx.outputs[0]!.storage}(select(f32(${X}[j]) / norm, 0.0, norm == 0.0)); }`,
    ];
    return { dispatches: [sb.linear(rows, () => lines.join('\n'), `LpNormalization.p${l2 ? 2 : 1}`)] };
  },
};

/** Normalization kernels by op. */
export const normKernels: KernelTable = {
  LayerNormalization: layerNorm,
  InstanceNormalization: instanceNorm,
  GroupNormalization: groupNormalization,
  BatchNormalization: batchNorm,
  LRN: lrn,
  MeanVarianceNormalization: mvn,
  LpNormalization: lpNorm,
};
