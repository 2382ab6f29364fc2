/**
 * Constants a kernel needs in WGSL that a literal cannot give: ±infinity, and small
 * lookup tables travelling with the uniforms.
 */
import type { ShaderBuilder } from './wgsl.js';

/**
 * A WGSL expression of ±infinity (f32). WGSL rejects a constant-evaluated infinity
 * (`bitcast<f32>(0x7f800000u)` as a literal), so it is read from a function variable.
 */
export function infinity(sb: ShaderBuilder, negative: boolean): string {
  sb.fn('fn kInf(neg: bool) -> f32 { var b = 0x7f800000u; if (neg) { b = 0xff800000u; } return bitcast<f32>(b); }');
  return `kInf(${negative})`;
}

/**
 * Appends `values` as consecutive uniform words and returns an accessor of element
 * `idx` (a u32 WGSL expression) — a small lookup table travelling with the uniforms.
 */
export function uniformTable(sb: ShaderBuilder, values: readonly number[], kind: 'u' | 'i' | 'f'): (idx: string) => string {
  if (values.length === 0) return () => (kind === 'f' ? '0.0' : kind === 'i' ? '0' : '0u');
  const put = (v: number): string => (kind === 'u' ? sb.u32(v) : kind === 'i' ? sb.i32(v) : sb.f32(v));
  const first = put(values[0]!);
  for (const v of values.slice(1)) put(v);
  const m = /U\.w\[(\d+)\]\.([xyzw])/.exec(first);
  if (!m) throw new Error('uniformTable: unexpected uniform expression');
  const base = 4 * Number(m[1]) + 'xyzw'.indexOf(m[2]!);
  const raw = (idx: string): string => `U.w[(${base}u + ${idx}) / 4u][(${base}u + ${idx}) % 4u]`;
  return kind === 'u' ? raw : kind === 'i' ? (idx) => `bitcast<i32>(${raw(idx)})` : (idx) => `bitcast<f32>(${raw(idx)})`;
}
