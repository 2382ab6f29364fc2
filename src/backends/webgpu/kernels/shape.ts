/**
 * Shape-family kernels. Reshape-like ops alias their input (no dispatch); Expand is
 * a broadcast strided copy; ConstantOfShape/Range/EyeLike write their values on the
 * GPU when they were not folded at compile time. Shape and Size are always folded
 * (plan.ts evaluates shape-only ops), so they need no kernel.
 */
import { seedKey } from '../../../graph/ops/random.js';
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable } from '../kernel.js';
import { broadcastStridesOf, ShaderBuilder, LIGHT_PER_INVOCATION } from '../wgsl.js';
import { contiguous, fill, storageUniform, stridedCopy } from './common.js';
import { RANDOM_WGSL } from './random.js';

/** Output 0 is input 0's bytes. */
const alias: GpuKernel = { plan: () => ({ aliasOf: 0, dispatches: [] }) };

/**
 * Dropout. At inference (training_mode absent or a constant false): an alias, and the
 * optional mask is all true. Otherwise one invocation per element draws the random
 * family's stream (the CPU reference's uniform01 of the seed's key and the index) and
 * keeps the element, scaled by 1 / (1 − ratio), when the draw is ≥ ratio; a
 * training_mode computed at run time is read on the GPU.
 */
const dropout: GpuKernel = {
  plan(ctx) {
    const mask = ctx.outputs[1];
    const wantMask = mask !== undefined && sizeOf(mask.shape) > 0 && mask.dtype === 'bool';
    const tm = ctx.inputs[2];
    if (!tm || (tm.value && !tm.value.data[0])) return { aliasOf: 0, dispatches: wantMask ? [fill(ctx, 1, 1, 'Dropout.mask')] : [] };
    const out = ctx.outputs[0]!;
    const sb = new ShaderBuilder(ctx);
    const x = sb.input(0);
    const ratio = ctx.inputs[1] ? `f32(${sb.input(1)}[0])` : sb.f32(Number(ctx.attrs['ratio'] ?? 0.5));
    const train = `(${sb.input(2)}[0] != 0u)`;
    const y = sb.output(0);
    const m = wantMask ? sb.output(1) : undefined;
    sb.fn(RANDOM_WGSL);
    const key = sb.u32(seedKey(ctx.attrs['seed'] as number | undefined));
    const d = sb.linear(sizeOf(out.shape), (i) => [
      `  let r = ${ratio};`,
      `  let keep = !${train} || ks_u01(${key}, ${i}) >= r;`,
      `  let scale = select(1.0, 1.0 / (1.0 - r), ${train});`,
      `  ${y}[${i}] = select(${out.storage}(0), ${out.storage}(f32(${x}[${i}]) * scale), keep);`,
      ...(m ? [`  ${m}[${i}] = select(0u, 1u, keep);`] : []),
    ].join('\n'), 'Dropout.train');
    return { dispatches: [d] };
  },
};

const expand: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!.shape;
    return { dispatches: [stridedCopy(ctx, 0, 0, { shape: out, strides: broadcastStridesOf(x.shape, out), offset: 0 }, contiguous(out), 'Expand.copy')] };
  },
};

const constantOfShape: GpuKernel = {
  plan(ctx) {
    const v = ctx.attrs['value'] as { data: ArrayLike<number> } | undefined;
    return { dispatches: [fill(ctx, 0, v?.data[0] ?? 0, 'ConstantOfShape.fill')] };
  },
};

const range: GpuKernel = {
  plan(ctx) {
    const out = ctx.outputs[0]!;
    const startV = ctx.inputs[0]?.value?.data[0] ?? 0;
    const deltaV = ctx.inputs[2]?.value?.data[0] ?? 1;
    const sb = new ShaderBuilder(ctx);
    const y = sb.output(0);
    const s = storageUniform(sb, out, startV);
    const d = storageUniform(sb, out, deltaV);
    return { dispatches: [sb.linear(sizeOf(out.shape), (i) => `  ${y}[${i}] = ${s} + ${out.storage}(${i}) * ${d};`, 'Range.fill', LIGHT_PER_INVOCATION)] };
  },
};

const eyeLike: GpuKernel = {
  plan(ctx) {
    const out = ctx.outputs[0]!;
    const [, w] = out.shape as [number, number];
    const sb = new ShaderBuilder(ctx);
    const y = sb.output(0);
    const cols = sb.u32(w);
    const k = sb.i32(Number(ctx.attrs['k'] ?? 0));
    const one = storageUniform(sb, out, 1);
    const zero = storageUniform(sb, out, 0);
    return {
      dispatches: [
        sb.linear(sizeOf(out.shape), (i) => `  let r = i32(${i} / ${cols}); let c = i32(${i} % ${cols});\n  ${y}[${i}] = select(${zero}, ${one}, c == r + ${k});`, 'EyeLike.fill', LIGHT_PER_INVOCATION),
      ],
    };
  },
};

/** Shape-family kernels by op. */
export const shapeKernels: KernelTable = {
  Reshape: alias,
  Flatten: alias,
  Squeeze: alias,
  Unsqueeze: alias,
  Identity: alias,
  Dropout: dropout,
  Expand: expand,
  ConstantOfShape: constantOfShape,
  Range: range,
  EyeLike: eyeLike,
};

