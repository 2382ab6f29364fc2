/**
 * Gather-family kernels: Gather, GatherElements, GatherND, ScatterElements (and
 * opset-9 Scatter), ScatterND, OneHot and Compress (when its condition is a
 * compile-time constant). Indices are i32 on the GPU (int64 is range-checked at
 * upload); negative indices count from the end. Out-of-range indices cannot raise
 * an error on the GPU: they are clamped into the axis (the CPU reference throws).
 *
 * Scatters are deterministic and race-free: one invocation owns each output
 * *fiber* and applies its updates in the reference's order, so duplicate indices
 * give the same result as the CPU (last write wins, or the reduction in order).
 * NonZero has a data-dependent output shape and no kernel (UnsupportedOpError).
 */
import { LimitError, ShapeError } from '../../../graph/errors.js';
import { prod } from '../../../graph/ops/index-util.js';
import { sizeOf, stridesOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable, KernelContext } from '../kernel.js';
import { gatherSplit } from '../chunk.js';
import { coordsOf, ShaderBuilder, valueType, LIGHT_PER_INVOCATION } from '../wgsl.js';
import { axisOf, contiguous, stridedCopy } from './common.js';

/** WGSL: index value `v` normalized and clamped into [0, d). */
const normIdx = (v: string, d: string): string => `u32(clamp(select(${v}, ${v} + i32(${d}), ${v} < 0), 0, i32(${d}) - 1))`;

/** The shared opening of the indexed gathers: data `x`, indices, axis and their bindings. */
function gatherBindings(ctx: KernelContext) {
  const x = ctx.inputs[0]!;
  const idx = ctx.inputs[1]!;
  const axis = axisOf(Number(ctx.attrs['axis']), x.shape.length);
  const sb = new ShaderBuilder(ctx);
  return { x, idx, axis, sb, xin: sb.input(0), iin: sb.input(1), y: sb.output(0) };
}

const gather: GpuKernel = {
  split: gatherSplit,
  plan(ctx) {
    const { x, idx, axis, sb, xin, iin, y } = gatherBindings(ctx);
    const inner = sb.u32(prod(x.shape, axis + 1));
    const n = sb.u32(sizeOf(idx.shape));
    const dim = sb.u32(x.shape[axis]!);
    return {
      dispatches: [
        sb.linear(sizeOf(ctx.outputs[0]!.shape), (i) =>
          [
            `  let k = ${i} % ${inner}; let q = ${i} / ${inner};`,
            `  let j = q % ${n}; let o = q / ${n};`,
            `  let t = ${normIdx(`i32(${iin}[j])`, dim)};`,
            `  ${y}[${i}] = ${xin}[(o * ${dim} + t) * ${inner} + k];`,
          ].join('\n'), 'Gather.axis', LIGHT_PER_INVOCATION),
      ],
    };
  },
};

const gatherElements: GpuKernel = {
  plan(ctx) {
    const { x, idx, axis, sb, xin, iin, y } = gatherBindings(ctx);
    const st = sb.u32s(stridesOf(x.shape));
    const dim = sb.u32(x.shape[axis]!);
    return {
      dispatches: [
        sb.linear(sizeOf(idx.shape), (i) => {
          const { code, coords } = coordsOf(sb, i, idx.shape);
          const terms = coords.map((c, a) => (a === axis ? `${normIdx(`i32(${iin}[${i}])`, dim)} * ${st[a]}` : `${c} * ${st[a]}`));
          return `${code}\n  ${y}[${i}] = ${xin}[${terms.join(' + ') || '0u'}];`;
        }, 'GatherElements.axis', LIGHT_PER_INVOCATION),
      ],
    };
  },
};

const gatherND: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const idx = ctx.inputs[1]!;
    const b = Number(ctx.attrs['batch_dims'] ?? 0);
    const k = idx.shape[idx.shape.length - 1]!;
    const sb = new ShaderBuilder(ctx);
    const xin = sb.input(0);
    const iin = sb.input(1);
    const y = sb.output(0);
    const sliceN = sb.u32(prod(x.shape, b + k));
    const perBatch = sb.u32(prod(idx.shape, b, idx.shape.length - 1));
    const batchStride = sb.u32(prod(x.shape, b));
    const kk = sb.u32(k);
    const st = sb.u32s(stridesOf(x.shape).slice(b, b + k));
    const dims = sb.u32s(x.shape.slice(b, b + k));
    return {
      dispatches: [
        sb.linear(sizeOf(ctx.outputs[0]!.shape), (i) => {
          const lines = [`  let r = ${i} % ${sliceN}; let q = ${i} / ${sliceN};`, `  var off = (q / ${perBatch}) * ${batchStride} + r;`];
          for (let a = 0; a < k; a++) lines.push(`  off += ${normIdx(`i32(${iin}[q * ${kk} + ${a}u])`, dims[a]!)} * ${st[a]};`);
          lines.push(`  ${y}[${i}] = ${xin}[off];`);
          return lines.join('\n');
        }, 'GatherND.rows', LIGHT_PER_INVOCATION),
      ],
    };
  },
};

/** WGSL combining the current value `a` with an update `b`, by reduction. */
const COMBINE: Readonly<Record<string, (a: string, b: string) => string>> = {
  none: (_a, b) => b,
  add: (a, b) => `${a} + ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
  min: (a, b) => `min(${a}, ${b})`,
};

function combineFor(ctx: KernelContext): (a: string, b: string) => string {
  const red = String(ctx.attrs['reduction'] ?? 'none');
  const f = COMBINE[red];
  if (!f) throw new ShapeError(`${ctx.node}: unknown scatter reduction '${red}'`, ctx.node);
  if (ctx.outputs[0]!.dtype === 'bool' && red !== 'none') throw new ShapeError(`${ctx.node}: scatter reduction '${red}' on bool`, ctx.node);
  return f;
}

const scatterElements: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const idx = ctx.inputs[1]!;
    const axis = axisOf(Number(ctx.attrs['axis']), x.shape.length);
    const combine = combineFor(ctx);
    const copy = stridedCopy(ctx, 0, 0, contiguous(x.shape), contiguous(x.shape), 'Scatter.copy');
    // One invocation per fiber of `indices` along the axis (coordinates with the axis removed).
    const fiber = idx.shape.map((d, a) => (a === axis ? 1 : d));
    const sb = new ShaderBuilder(ctx);
    const iin = sb.input(1);
    const uin = sb.input(2);
    const y = sb.output(0);
    const ist = sb.u32s(stridesOf(idx.shape));
    const xst = sb.u32s(stridesOf(x.shape));
    const len = sb.u32(idx.shape[axis]!);
    const dim = sb.u32(x.shape[axis]!);
    const scatter = sb.linear(sizeOf(fiber), (i) => {
      const { code, coords } = coordsOf(sb, i, fiber);
      const ibase = coords.map((c, a) => (a === axis ? '0u' : `${c} * ${ist[a]}`)).join(' + ') || '0u';
      const obase = coords.map((c, a) => (a === axis ? '0u' : `${c} * ${xst[a]}`)).join(' + ') || '0u';
      return [
        code,
        `  let ib = ${ibase}; let ob = ${obase};`,
        `  for (var j = 0u; j < ${len}; j++) {`,
        `    let s = ib + j * ${ist[axis]};`,
        `    let t = ob + ${normIdx(`i32(${iin}[s])`, dim)} * ${xst[axis]};`,
        `    ${y}[t] = ${combine(`${y}[t]`, `${uin}[s]`)};`,
        '  }',
      ].join('\n');
    }, 'Scatter.fibers');
    return { dispatches: sizeOf(idx.shape) > 0 ? [copy, scatter] : [copy] };
  },
};

const scatterND: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const idx = ctx.inputs[1]!;
    const k = idx.shape[idx.shape.length - 1]!;
    const combine = combineFor(ctx);
    const copy = stridedCopy(ctx, 0, 0, contiguous(x.shape), contiguous(x.shape), 'ScatterND.copy');
    const rows = prod(idx.shape, 0, idx.shape.length - 1);
    const slice = prod(x.shape, k);
    // One invocation per element of the update slice; rows applied in order.
    const sb = new ShaderBuilder(ctx);
    const iin = sb.input(1);
    const uin = sb.input(2);
    const y = sb.output(0);
    const nRows = sb.u32(rows);
    const sliceN = sb.u32(slice);
    const kk = sb.u32(k);
    const st = sb.u32s(stridesOf(x.shape).slice(0, k));
    const dims = sb.u32s(x.shape.slice(0, k));
    const scatter = sb.linear(slice, (i) => {
      const offs = Array.from({ length: k }, (_, a) => ` + ${normIdx(`i32(${iin}[q * ${kk} + ${a}u])`, dims[a]!)} * ${st[a]}`).join('');
      return [
        `  for (var q = 0u; q < ${nRows}; q++) {`,
        `    let t = ${i}${offs};`,
        `    ${y}[t] = ${combine(`${y}[t]`, `${uin}[q * ${sliceN} + ${i}]`)};`,
        '  }',
      ].join('\n');
    }, 'ScatterND.slices');
    return { dispatches: rows > 0 && slice > 0 ? [copy, scatter] : [copy] };
  },
};

const oneHot: GpuKernel = {
  plan(ctx) {
    const out = ctx.outputs[0]!;
    const axis = axisOf(Number(ctx.attrs['axis']), out.shape.length);
    const depth = out.shape[axis]!;
    const sb = new ShaderBuilder(ctx);
    const iin = sb.input(0);
    const vin = sb.input(2);
    const y = sb.output(0);
    const inner = sb.u32(prod(out.shape, axis + 1));
    const d = sb.i32(depth);
    const idxT = valueType(ctx.inputs[0]!.dtype, ctx.f16);
    const load = idxT === 'bool' ? `select(0, 1, ${iin}[src] != 0u)` : `i32(${iin}[src])`;
    return {
      dispatches: [
        sb.linear(sizeOf(out.shape), (i) =>
          [
            `  let k = ${i} % ${inner}; let q = ${i} / ${inner};`,
            `  let j = i32(q % u32(${d})); let o = q / u32(${d});`,
            `  let src = o * ${inner} + k;`,
            `  var v = ${load}; if (v < 0) { v += ${d}; }`,
            `  ${y}[${i}] = select(${vin}[0], ${vin}[1], v == j);`,
          ].join('\n'), 'OneHot.fill', LIGHT_PER_INVOCATION),
      ],
    };
  },
};

/** Most slices a Compress kernel keeps (its index table lives in the 64 KiB uniform buffer). */
const MAX_COMPRESS_KEPT = 4096;

const compress: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const cond = ctx.inputs[1]!;
    if (!cond.value) {
      throw new ShapeError(`${ctx.node}: Compress needs a compile-time constant condition on WebGPU (its output shape depends on it)`, ctx.node);
    }
    const flat = ctx.attrs['axis'] === undefined;
    const shape = flat ? [sizeOf(x.shape)] : x.shape;
    const axis = flat ? 0 : axisOf(Number(ctx.attrs['axis']), shape.length);
    const keep: number[] = [];
    for (let j = 0; j < cond.value.size; j++) if (cond.value.data[j]) keep.push(j);
    if (keep.length > MAX_COMPRESS_KEPT) {
      throw new LimitError(`${ctx.node}: Compress keeps ${keep.length} slices; the WebGPU kernel passes them as uniforms and allows ${MAX_COMPRESS_KEPT}`, ctx.node);
    }
    const sb = new ShaderBuilder(ctx);
    const xin = sb.input(0);
    const y = sb.output(0);
    const inner = sb.u32(prod(shape, axis + 1));
    const dim = sb.u32(shape[axis]!);
    const n = sb.u32(Math.max(keep.length, 1));
    const table = sb.u32s(keep.length ? keep : [0]);
    sb.fn(`fn kept(j: u32) -> u32 {\n  switch (j) {\n${table.map((t, m) => `    case ${m}u: { return ${t}; }`).join('\n')}\n    default: { return 0u; }\n  }\n}`);
    return {
      dispatches: [
        sb.linear(sizeOf(ctx.outputs[0]!.shape), (i) =>
          `  let k = ${i} % ${inner}; let q = ${i} / ${inner};\n  let j = q % ${n}; let o = q / ${n};\n  ${y}[${i}] = ${xin}[(o * ${dim} + kept(j)) * ${inner} + k];`,
          'Compress.rows', LIGHT_PER_INVOCATION),
      ],
    };
  },
};

/** Gather-family kernels by op. */
export const gatherKernels: KernelTable = {
  Gather: gather,
  GatherElements: gatherElements,
  GatherND: gatherND,
  ScatterElements: scatterElements,
  Scatter: scatterElements,
  ScatterND: scatterND,
  OneHot: oneHot,
  Compress: compress,
};
