/**
 * 8-bit weights kept packed on the GPU: a Fused 'epilogue' group whose anchor
 * (MatMul, Gemm, Conv) dequantizes constant int8/uint8 weights on load (the
 * 'dequantize' prologue, src/graph/load-fusion.ts) gets them as a
 * {@link PackedWeight}. Its kernel prepares, at plan time, the weights in the layout
 * it reads as u32 words of four 8-bit values (element 4j + t is byte t of word j)
 * and the scale of each output channel as f32; it accumulates Σ x · q in f32 and
 * multiplies the sum by the channel's scale before the epilogue. No float copy of the
 * weights exists on the device (the int8 tensor itself is not uploaded either).
 *
 * Numerics: the reference sums x · (q · s) in f32; this sums x · q and scales once,
 * so results differ by f32 rounding of the sum (a few ulps of the result).
 */
import type { Tensor as TensorT } from '../../graph/tensor.js';
import { Tensor } from '../../graph/tensor.js';
import type { ShaderBuilder } from './wgsl.js';

/** Constant 8-bit weights with one scale per tensor or per index of `axis` (zero point 0). */
export interface PackedWeight {
  /** The int8/uint8 values in the weight's own layout. */
  readonly q: TensorT;
  /** Scales: one, or one per index of `axis`. */
  readonly scale: TensorT;
  /** The axis the scales run along. */
  readonly axis: number;
}

/** u32 words holding `values` four to a word (element 4j + t in byte t of word j), zero-padded. */
export function packBytes(values: ArrayLike<number>): Tensor {
  const n = values.length;
  const words = new Uint32Array(Math.max(1, Math.ceil(n / 4)));
  for (let i = 0; i < n; i++) words[i >> 2]! |= (Number(values[i]) & 255) << (8 * (i & 3));
  return new Tensor('uint32', [words.length], words);
}

/** The scale of each of `channels` output channels as an f32 tensor (a per-tensor scale repeated; padded channels 0). */
export function channelScales(w: PackedWeight, channels: number, padded = channels): Tensor {
  const s = w.scale.data as ArrayLike<number>;
  const out = new Float32Array(Math.max(1, padded));
  for (let m = 0; m < channels; m++) out[m] = Number(s[w.scale.size === 1 ? 0 : m]);
  return new Tensor('float32', [out.length], out);
}

/**
 * Declares the unpacking helpers in `sb` and returns their names: `one(word, t)` is
 * byte t of a word as f32, `two(word, h)` bytes 2h and 2h + 1 as vec2<f32>, `four(word)`
 * its four bytes as vec4<f32>.
 */
export function unpackFns(sb: ShaderBuilder, w: PackedWeight): { one: (word: string, t: string) => string; two: (word: string, h: string) => string; four: (word: string) => string } {
  if (w.q.dtype === 'int8') {
    sb.fn('fn i8at(w: u32, t: u32) -> f32 { return f32(extractBits(bitcast<i32>(w), t * 8u, 8u)); }');
    sb.fn('fn i8x4(w: u32) -> vec4<f32> { return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }');
    sb.fn('fn i8x2(w: u32, h: u32) -> vec2<f32> { let v = i8x4(w); return select(v.xy, v.zw, h == 1u); }');
    return { one: (word, t) => `i8at(${word}, ${t})`, four: (word) => `i8x4(${word})`, two: (word, h) => `i8x2(${word}, ${h})` };
  }
  sb.fn('fn u8at(w: u32, t: u32) -> f32 { return f32(extractBits(w, t * 8u, 8u)); }');
  sb.fn('fn u8x4(w: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u)); }');
  sb.fn('fn u8x2(w: u32, h: u32) -> vec2<f32> { let v = u8x4(w); return select(v.xy, v.zw, h == 1u); }');
  return { one: (word, t) => `u8at(${word}, ${t})`, four: (word) => `u8x4(${word})`, two: (word, h) => `u8x2(${word}, ${h})` };
}

/** WGSL of element `i` (a u32 expression) of packed array `arr`. */
export function packedAt(fns: ReturnType<typeof unpackFns>, arr: string, i: string): string {
  return fns.one(`${arr}[(${i}) >> 2u]`, `((${i}) & 3u)`);
}
