/**
 * WebGPU kernels of the random family (RandomUniform, RandomNormal, their *Like
 * forms and Bernoulli): one invocation per element, drawing element i from the
 * same counter-based stream as the CPU reference (randomBits in
 * src/graph/ops/random.ts: the integer bits are equal; uniform draws are exact in
 * f32, normal ones differ from the f64 reference by f32 rounding of log/cos).
 */
import { seedKey } from '../../../graph/ops/random.js';
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelContext, KernelTable } from '../kernel.js';
import { ShaderBuilder } from '../wgsl.js';

/** WGSL of the stream: ks_mix (lowbias32), ks_rand(key, i) and ks_u01(key, i) ∈ (0, 1). */
export const RANDOM_WGSL = `fn ks_mix(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du; x ^= x >> 15u; x *= 0x846ca68bu; x ^= x >> 16u;
  return x;
}
fn ks_rand(key: u32, i: u32) -> u32 { return ks_mix(ks_mix(i ^ ks_mix(key)) + key); }
fn ks_u01(key: u32, i: u32) -> f32 { return (f32(ks_rand(key, i) >> 8u) + 0.5) / 16777216.0; }
fn ks_normal(key: u32, i: u32) -> f32 {
  let u1 = ks_u01(key, 2u * i); let u2 = ks_u01(key, 2u * i + 1u);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}`;

/** A kernel writing f(key, i) (a WGSL f32 expression of `key` and `i`) to every output element. */
function generator(label: string, value: (sb: ShaderBuilder, ctx: KernelContext, key: string, i: string) => string): GpuKernel {
  return {
    plan(ctx) {
      const out = ctx.outputs[0]!;
      const sb = new ShaderBuilder(ctx);
      if (label === 'Bernoulli') sb.input(0);
      const y = sb.output(0);
      sb.fn(RANDOM_WGSL);
      const key = sb.u32(seedKey(ctx.attrs['seed'] as number | undefined));
      const d = sb.linear(sizeOf(out.shape), (i) => `  ${y}[${i}] = ${out.storage}(${value(sb, ctx, key, i)});`, `${label}.draw`);
      return { dispatches: [d] };
    },
  };
}

const uniform = (sb: ShaderBuilder, ctx: KernelContext, key: string, i: string): string => {
  const low = Number(ctx.attrs['low'] ?? 0);
  const high = Number(ctx.attrs['high'] ?? 1);
  return `${sb.f32(low)} + ${sb.f32(high - low)} * ks_u01(${key}, ${i})`;
};
const normal = (sb: ShaderBuilder, ctx: KernelContext, key: string, i: string): string =>
  `${sb.f32(Number(ctx.attrs['mean'] ?? 0))} + ${sb.f32(Number(ctx.attrs['scale'] ?? 1))} * ks_normal(${key}, ${i})`;

/** Random-family kernels by op. */
export const randomKernels: KernelTable = {
  RandomUniform: generator('RandomUniform', uniform),
  RandomUniformLike: generator('RandomUniformLike', uniform),
  RandomNormal: generator('RandomNormal', normal),
  RandomNormalLike: generator('RandomNormalLike', normal),
  Bernoulli: generator('Bernoulli', (_sb, _ctx, key, i) => `select(0.0, 1.0, ks_u01(${key}, ${i}) < f32(in0[${i}]))`),
};
