/**
 * Building blocks shared by the elementwise, shape, movement and gather kernels:
 * the strided copy (one kernel behind Transpose, Slice, Expand, Tile, Concat,
 * Split, DepthToSpace, SpaceToDepth), fills, and reading constant inputs.
 */
import { sizeOf, stridesOf, type ConcreteShape } from '../../../graph/shape.js';
import { tensorInts } from '../../../graph/tensor.js';
import type { Dispatch, GpuTensorInfo, KernelContext } from '../kernel.js';
import { DataDependentShapeError } from '../plan.js';
import { coordsOf, dotStrides, ShaderBuilder, LIGHT_PER_INVOCATION } from '../wgsl.js';

/** A strided view: element `c` of `shape` is at `offset + Σ c[a]·strides[a]` (strides may be 0 or negative). */
export interface View {
  readonly shape: ConcreteShape;
  readonly strides: readonly number[];
  readonly offset: number;
}

/** The contiguous view of a shape. */
export function contiguous(shape: ConcreteShape, offset = 0): View {
  return { shape, strides: stridesOf(shape), offset };
}

/**
 * One dispatch copying `src` view of input `input` to `dst` view of output `output`
 * (both over `src.shape`). When `dst` is the output's contiguous layout the store is `out[i]`.
 */
export function stridedCopy(ctx: KernelContext, input: number, output: number, src: View, dst: View, label: string): Dispatch {
  const sb = new ShaderBuilder(ctx);
  const x = sb.input(input);
  const y = sb.output(output);
  const total = sizeOf(src.shape);
  const straight = dst.offset === 0 && dst.strides.every((s, a) => s === stridesOf(dst.shape)[a]);
  return sb.linear(
    total,
    (i) => {
      const { code, coords } = coordsOf(sb, i, src.shape);
      const from = dotStrides(sb, coords, src.strides, src.offset);
      const to = straight ? i : `u32(${dotStrides(sb, coords, dst.strides, dst.offset)})`;
      return `${code}\n  ${y}[${to}] = ${x}[u32(${from})];`;
    },
    label,
    LIGHT_PER_INVOCATION,
  );
}

/**
 * The integer values of a constant input (undefined when the input is omitted).
 * When the value is not known, throws a {@link DataDependentShapeError}: the program
 * then plans again with the values of its small feeds known (program.ts), so an
 * axis or a `k` fed from an input still works.
 */
export function constInts(ctx: KernelContext, index: number, what: string): number[] | undefined {
  const t = ctx.inputs[index];
  if (!t) return undefined;
  if (!t.value) {
    throw new DataDependentShapeError([{ op: what, nodes: [ctx.node] }], `${what} must be known when the WebGPU plan is made`);
  }
  return tensorInts(t.value);
}

/** The WGSL expression of a uniform holding `v` in the storage type of `info`. */
export function storageUniform(sb: ShaderBuilder, info: GpuTensorInfo, v: number): string {
  if (info.storage === 'f32') return sb.f32(v);
  if (info.storage === 'f16') return `f16(${sb.f32(v)})`;
  if (info.storage === 'i32') return sb.i32(v);
  return sb.u32(info.dtype === 'bool' ? (v !== 0 ? 1 : 0) : v);
}

/** A dispatch filling output `output` with the value `v`. */
export function fill(ctx: KernelContext, output: number, v: number, label: string): Dispatch {
  const sb = new ShaderBuilder(ctx);
  const y = sb.output(output);
  const info = ctx.outputs[output]!;
  const val = storageUniform(sb, info, v);
  return sb.linear(sizeOf(info.shape), (i) => `  ${y}[${i}] = ${val};`, label, LIGHT_PER_INVOCATION);
}

/** Normalizes an axis attribute against a rank. */
export function axisOf(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
