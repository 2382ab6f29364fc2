/**
 * Shape-family kernels. Reshape-like ops alias their input (no dispatch); Expand is
 * a broadcast strided copy; ConstantOfShape/Range/EyeLike write their values on the
 * GPU when they were not folded at compile time. Shape and Size are always folded
 * (plan.ts evaluates shape-only ops), so they need no kernel.
 */
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable } from '../kernel.js';
import { broadcastStridesOf, ShaderBuilder, LIGHT_PER_INVOCATION } from '../wgsl.js';
import { contiguous, fill, storageUniform, stridedCopy } from './common.js';

/** Output 0 is input 0's bytes. */
const alias: GpuKernel = { plan: () => ({ aliasOf: 0, dispatches: [] }) };

/** Dropout at inference: alias, and the optional mask output is all true. */
const dropout: GpuKernel = {
  plan(ctx) {
    const mask = ctx.outputs[1];
    return { aliasOf: 0, dispatches: mask && sizeOf(mask.shape) > 0 && mask.dtype === 'bool' ? [fill(ctx, 1, 1, 'Dropout.mask')] : [] };
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

