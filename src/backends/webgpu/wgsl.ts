/**
 * The WGSL helper layer: every kernel builds its module with a {@link ShaderBuilder}.
 *
 * ## API (for kernel authors)
 *
 * ```ts
 * const sb = new ShaderBuilder(ctx);                // ctx: KernelContext (f16, limits)
 * const x = sb.input(0);                            // binds kernel input 0 read-only → WGSL array name 'in0'
 * const y = sb.output(0);                           // binds output 0 read_write → 'out0'
 * const t = sb.scratch(0, 'f32');                   // scratch buffer 0 → 'tmp0'
 * const n = sb.u32(total);                          // a uniform word; returns the WGSL expression reading it
 * const k = sb.f32(alpha); const s = sb.i32(-3);    // f32 / i32 uniforms (bitcast from the same words)
 * const dims = sb.u32s(shape);                      // several words; dims[a] is the expression of word a
 * sb.fn(`fn helper(...) -> f32 { ... }`);           // a helper function, emitted once per module
 * const d = sb.linear(total, (i) => `${y}[${i}] = ${x}[${i}];`, 'Op.copy'); // grid-split per-element dispatch
 * // (pass LIGHT_PER_INVOCATION as 4th argument for light bodies: 4 elements per invocation)
 * // or, for a hand-written kernel body with its own workgroup layout:
 * const src = sb.module(`@compute @workgroup_size(8, 8) fn main(...) { ... }`);
 * const d2 = sb.dispatch(src, [gx, gy, 1], 'MatMul.tiled');
 * ```
 *
 * - **Names.** Every WGSL identifier is Kiln's own (`in0`, `out0`, `tmp0`, `U`); no
 *   node, value or model string ever reaches the shader text.
 * - **Uniforms.** Shapes, strides, sizes and scalar attributes travel as uniform
 *   words (`U.w[k].x`), never as literals, so one pipeline serves every shape of
 *   a given rank (the pipeline cache keys on the source). Loops over axes are
 *   unrolled in TypeScript: rank is part of the source, dims are not.
 * - **Grid splitting.** {@link linearGrid} spreads N invocations over a 1-, 2- or
 *   3-D grid of ≤ maxComputeWorkgroupsPerDimension workgroups; `linearEntry`
 *   (shaders/entry.ts) writes the entry prologue that recovers the linear index
 *   from `num_workgroups` (and the bounds check).
 * - **Storage.** Arrays are typed by {@link GpuStorage}; `enable f16;` is emitted
 *   when an f16 array or the `f16` type appears. Expressions compute in the
 *   storage type ({@link valueType}; bool is u32 0/1 as in scalar-wgsl.ts) and
 *   {@link storeValue} converts where the output storage differs.
 * - **Broadcasting.** {@link broadcastOffsets} walks the output coordinates once and
 *   accumulates the offset of each input from its broadcast strides (uniforms;
 *   0 on broadcast axes), with fast paths for same-shape and scalar inputs.
 *
 * Bindings follow the {@link Dispatch} contract: storage buffers in declaration
 * order, then the uniform buffer (if any uniform was used) last.
 */
import type { DType } from '../../graph/dtype.js';
import { isFloat, isInteger, isUnsigned } from '../../graph/dtype.js';
import type { Expr } from '../../graph/expr.js';
import { sizeOf, stridesOf, type ConcreteShape } from '../../graph/shape.js';
import type { BindingRef, Dispatch, GpuStorage, KernelContext, KernelLimits } from './kernel.js';
import { scalarWgsl } from './scalar-wgsl.js';
import { linearEntry } from '../../../shaders/entry.js';

/** Invocations per workgroup used by per-element kernels (portable: SwiftShader allows 256). */
export const WORKGROUP_SIZE = 256;

/** Elements per invocation of the light per-element kernels (elementwise, copies, gathers). */
export const LIGHT_PER_INVOCATION = 4;

/**
 * WGSL type used to compute on values of a dtype: its storage type. bool is a u32
 * 0/1 in expressions too (the convention of the scalar spellings in scalar-wgsl.ts).
 */
export function valueType(dtype: DType, f16: boolean): string {
  if (dtype === 'float16') return f16 ? 'f16' : 'f32';
  if (isFloat(dtype)) return 'f32';
  return isUnsigned(dtype) ? 'u32' : 'i32';
}

/** Reads a stored element as its dtype's WGSL value type (the storage type; bool stays u32 0/1). */
export function loadValue(_dtype: DType, expr: string): string {
  return expr;
}

/** Converts a value of WGSL type `from` to storage `to` for a store (a WGSL `bool` becomes u32 0/1). */
export function storeValue(from: string, to: GpuStorage, expr: string): string {
  if (from === 'bool') return `select(0u, 1u, ${expr})`;
  return from === to ? expr : `${to}(${expr})`;
}

/** Renders a number as a WGSL literal of the given value type. */
export function literal(value: number, type: string): string {
  if (type === 'bool') return value !== 0 && !Number.isNaN(value) ? 'true' : 'false';
  if (type === 'u32' && Number.isNaN(value)) return '0u';
  if (type === 'u32') return `${Math.max(0, Math.min(4294967295, Math.trunc(value))) >>> 0}u`;
  if (type === 'i32') {
    const v = Math.max(-2147483648, Math.min(2147483647, Math.trunc(value)));
    return v === -2147483648 ? 'i32(-2147483647 - 1)' : `i32(${v})`;
  }
  if (Number.isNaN(value)) return `${type}(bitcast<f32>(${NON_FINITE_BITS.nan}))`;
  if (!Number.isFinite(value)) return `${type}(bitcast<f32>(${value > 0 ? NON_FINITE_BITS.posInf : NON_FINITE_BITS.negInf}))`;
  const f = Math.fround(value);
  let s = String(f);
  if (!/[.eE]/.test(s)) s += '.0';
  return `${type}(${s})`;
}

/**
 * Renders a scalar expression (expr.ts) to WGSL, each function spelled by
 * scalar-wgsl.ts. `leaf(i)` gives the WGSL value of input `i` (already in its
 * dtype's value type).
 */
export function renderExpr(e: Expr, leaf: (index: number) => string, f16: boolean): string {
  switch (e.kind) {
    case 'input':
      return leaf(e.index);
    case 'const':
      return literal(e.value, valueType(e.dtype, f16));
    case 'call': {
      const args = e.args.map((a) => renderExpr(a, leaf, f16));
      return scalarWgsl(e.fn).render(args, e.args.map((a) => valueType(a.dtype, f16)), valueType(e.dtype, f16));
    }
  }
}

/**
 * Private variables holding the bits of NaN and ±Inf. WGSL evaluates
 * `bitcast<f32>(0x7f800000u)` at shader-creation time and rejects it ("value inf
 * cannot be represented"); reading a private variable is a run-time value.
 */
const NON_FINITE_BITS = { nan: 'kiln_nan_bits', posInf: 'kiln_pos_inf_bits', negInf: 'kiln_neg_inf_bits' } as const;
const NON_FINITE_DECLS = [
  `var<private> ${NON_FINITE_BITS.nan}: u32 = 0x7fc00000u;`,
  `var<private> ${NON_FINITE_BITS.posInf}: u32 = 0x7f800000u;`,
  `var<private> ${NON_FINITE_BITS.negInf}: u32 = 0xff800000u;`,
].join('\n');

function hasNonFiniteConst(e: Expr): boolean {
  if (e.kind === 'const') return !Number.isFinite(e.value) && e.dtype !== 'bool' && !isInteger(e.dtype);
  return e.kind === 'call' && e.args.some(hasNonFiniteConst);
}

/** The distinct helper functions of the scalar functions in `es`, in first-use order. */
function scalarPreludes(es: readonly Expr[]): string[] {
  const seen = new Set<string>();
  const walk = (e: Expr): void => {
    if (e.kind !== 'call') return;
    const prelude = scalarWgsl(e.fn).prelude;
    if (prelude) seen.add(prelude);
    e.args.forEach(walk);
  };
  es.forEach(walk);
  return [...seen];
}

/** The helper functions (and non-finite constant bits) an expression needs. */
export function exprPrelude(es: readonly Expr[]): string {
  return exprPreludeParts(es).join('\n');
}

/**
 * {@link exprPrelude} as separate declarations, for a module that renders several
 * expressions (each part added once with `sb.fn`, so shared helpers are not redeclared).
 */
export function exprPreludeParts(es: readonly Expr[]): string[] {
  const parts = scalarPreludes(es);
  if (es.some(hasNonFiniteConst)) parts.push(NON_FINITE_DECLS);
  return parts;
}

/** A workgroup grid for `groups` workgroups, each dim ≤ the device limit. */
export function splitGroups(groups: number, limits: Pick<KernelLimits, 'maxComputeWorkgroupsPerDimension'>): [number, number, number] {
  const max = limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1, 1];
  const y = Math.ceil(groups / max);
  if (y <= max) return [Math.ceil(groups / y), y, 1];
  const z = Math.ceil(y / max);
  const yy = Math.ceil(groups / (max * z));
  return [max, yy, z];
}

/** The grid for `total` invocations in workgroups of `wg`. Zero total gives [0, 1, 1] (the executor skips it). */
export function linearGrid(total: number, limits: Pick<KernelLimits, 'maxComputeWorkgroupsPerDimension'>, wg = WORKGROUP_SIZE): [number, number, number] {
  return splitGroups(Math.ceil(total / wg), limits);
}

/** Broadcast strides of `shape` inside `out` (0 where broadcast; leading axes 0). */
export function broadcastStridesOf(shape: ConcreteShape, out: ConcreteShape): number[] {
  const st = stridesOf(shape);
  const off = out.length - shape.length;
  return out.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : st[i - off]!));
}

/**
 * Element type of a bound storage array: the tensor's storage, or f32 read as
 * vec2/vec4 blocks (vector loads; the kernel picks the form before binding).
 */
export type ArrayElement = GpuStorage | 'vec2<f32>' | 'vec4<f32>';

/** Builds one WGSL module: bindings, uniforms, helper functions, entry point. */
export class ShaderBuilder {
  private readonly decls: string[] = [];
  private readonly bindingRefs: BindingRef[] = [];
  private readonly fns: string[] = [];
  private readonly words: number[] = [];
  private readonly wordKinds: ('u' | 'i' | 'f')[] = [];
  private usesF16 = false;

  /** @param ctx the kernel context (f16 support, storage of each input/output). */
  constructor(readonly ctx: Pick<KernelContext, 'f16' | 'limits' | 'inputs' | 'outputs'>) {}

  private bind(ref: BindingRef, storage: ArrayElement, access: 'read' | 'read_write', name: string): string {
    const binding = this.bindingRefs.length;
    this.bindingRefs.push(ref);
    if (storage === 'f16') this.usesF16 = true;
    this.decls.push(`@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${storage}>;`);
    return name;
  }

  /**
   * Binds kernel input `index` read-only (storage from the context unless given);
   * returns its array name (`in<index>`, or `name` for a second binding of the same input).
   */
  input(index: number, storage?: ArrayElement, name = `in${index}`): string {
    const s = storage ?? this.ctx.inputs[index]?.storage ?? 'f32';
    return this.bind({ kind: 'input', index }, s, 'read', name);
  }

  /** Binds kernel output `index` read_write; returns its array name. */
  output(index: number, storage?: GpuStorage): string {
    const s = storage ?? this.ctx.outputs[index]?.storage ?? 'f32';
    return this.bind({ kind: 'output', index }, s, 'read_write', `out${index}`);
  }

  /** Binds prepared constant `index` (declared in the plan's `constants`) read-only. */
  constant(index: number, storage: ArrayElement): string {
    return this.bind({ kind: 'constant', index }, storage, 'read', `cst${index}`);
  }

  /** Binds scratch buffer `index` (declared in the plan's `scratch`) read_write. */
  scratch(index: number, storage: ArrayElement): string {
    return this.bind({ kind: 'scratch', index }, storage, 'read_write', `tmp${index}`);
  }

  private word(v: number, kind: 'u' | 'i' | 'f'): string {
    const k = this.words.length;
    this.words.push(v);
    this.wordKinds.push(kind);
    const raw = `U.w[${k >> 2}].${'xyzw'[k & 3]}`;
    return kind === 'u' ? raw : kind === 'i' ? `bitcast<i32>(${raw})` : `bitcast<f32>(${raw})`;
  }

  /** A u32 uniform; returns the WGSL expression reading it. */
  u32(v: number): string { return this.word(v, 'u'); }
  /** An i32 uniform. */
  i32(v: number): string { return this.word(v, 'i'); }
  /** An f32 uniform. */
  f32(v: number): string { return this.word(v, 'f'); }
  /** Several u32 uniforms. */
  u32s(vs: readonly number[]): string[] { return vs.map((v) => this.u32(v)); }
  /** Several i32 uniforms. */
  i32s(vs: readonly number[]): string[] { return vs.map((v) => this.i32(v)); }

  /** Adds a helper function (or any module-scope declaration) once. */
  fn(code: string): void {
    if (code && !this.fns.includes(code)) this.fns.push(code);
  }

  /** Marks the module as using the f16 type (emits `enable f16;`). */
  needF16(): void { this.usesF16 = true; }

  /** The uniform words packed into an ArrayBuffer (16-byte multiple). */
  uniformData(): ArrayBuffer | undefined {
    if (this.words.length === 0) return undefined;
    const n = Math.ceil(this.words.length / 4) * 4;
    const buf = new ArrayBuffer(n * 4);
    const u = new Uint32Array(buf);
    const i = new Int32Array(buf);
    const f = new Float32Array(buf);
    this.words.forEach((v, k) => {
      const kind = this.wordKinds[k];
      if (kind === 'f') f[k] = v;
      else if (kind === 'i') i[k] = v;
      else u[k] = v >>> 0;
    });
    return buf;
  }

  /** The bindings in order (storage buffers; the uniform buffer is implied last). */
  get bindings(): readonly BindingRef[] { return this.bindingRefs; }

  /** The complete module text around an entry point (or any module-scope code). */
  module(entry: string): string {
    const parts: string[] = [];
    if (this.ctx.f16 && (this.usesF16 || /\bf16\b/.test(entry) || this.fns.some((f) => /\bf16\b/.test(f)))) parts.push('enable f16;');
    parts.push(...this.decls);
    if (this.words.length > 0) {
      const n = Math.ceil(this.words.length / 4);
      parts.push(`struct Uniforms { w: array<vec4<u32>, ${n}> }`);
      parts.push(`@group(0) @binding(${this.bindingRefs.length}) var<uniform> U: Uniforms;`);
    }
    parts.push(...this.fns, entry);
    return parts.join('\n');
  }

  /** A dispatch of a module built with {@link module} over the given grid. */
  dispatch(shader: string, workgroups: readonly [number, number, number], label: string): Dispatch {
    const u = this.uniformData();
    return { shader, bindings: [...this.bindingRefs], workgroups: [...workgroups] as [number, number, number], label, ...(u ? { uniforms: u } : {}) };
  }

  /**
   * A per-element dispatch over `total` elements: `body(i)` is WGSL run with `i`
   * (u32) the linear index, already bounds-checked against `total`.
   *
   * With `perInvocation` > 1 each invocation handles that many consecutive
   * elements in a loop (fewer, fatter invocations: 2–3× faster for light bodies on
   * lavapipe, where per-invocation cost dominates). The body must not `return`.
   */
  linear(total: number, body: (i: string) => string, label: string, perInvocation = 1): Dispatch {
    const wg = WORKGROUP_SIZE;
    const n = this.u32(total);
    const p = Math.max(1, Math.floor(perInvocation));
    const entry =
      p === 1
        ? `${linearEntry(wg, 'i', n)}\n${body('i')}\n}`
        : `${linearEntry(wg, 'tid')}\n` +
          `  for (var lane = 0u; lane < ${p}u; lane++) {\n  let i = tid * ${p}u + lane;\n  if (i >= ${n}) { return; }\n${body('i')}\n  }\n}`;
    return this.dispatch(this.module(entry), linearGrid(Math.ceil(total / p), this.ctx.limits, wg), label);
  }
}

/**
 * WGSL lines that split linear index `idx` into coordinates of `shape` (dims as
 * uniforms of `sb`). Returns the lines and the coordinate names `${prefix}0..`.
 */
export function coordsOf(sb: ShaderBuilder, idx: string, shape: ConcreteShape, prefix = 'c'): { code: string; coords: string[] } {
  const r = shape.length;
  if (r === 0) return { code: '', coords: [] };
  const dims = sb.u32s(shape);
  const lines = [`  var ${prefix}r = ${idx};`];
  for (let a = r - 1; a >= 1; a--) {
    lines.push(`  let ${prefix}${a} = ${prefix}r % ${dims[a]}; ${prefix}r = ${prefix}r / ${dims[a]};`);
  }
  lines.push(`  let ${prefix}0 = ${prefix}r;`);
  return { code: lines.join('\n'), coords: Array.from({ length: r }, (_, a) => `${prefix}${a}`) };
}

/** Sum of `coords[a] * strides[a]` with strides as i32 uniforms (negative allowed); an i32 expression. */
export function dotStrides(sb: ShaderBuilder, coords: readonly string[], strides: readonly number[], offset = 0): string {
  const terms = [sb.i32(offset)];
  const st = sb.i32s(strides);
  coords.forEach((c, a) => terms.push(`i32(${c}) * ${st[a]}`));
  return terms.join(' + ');
}

/** How an input of a broadcast op is addressed. */
export type BroadcastMode = 'same' | 'scalar' | 'strided';

/** Addressing mode of an input of shape `shape` inside output `out`. */
export function broadcastMode(shape: ConcreteShape, out: ConcreteShape): BroadcastMode {
  if (sizeOf(shape) === sizeOf(out)) return 'same';
  if (sizeOf(shape) === 1) return 'scalar';
  return 'strided';
}

/**
 * Merges neighbouring axes that every stride list walks contiguously (stride[a] =
 * stride[a+1]·dim[a+1], or both 0), and drops size-1 axes, so index math runs over
 * as few axes as possible ([B,S,H] + [H] becomes [B·S, H]).
 */
export function coalesceAxes(shape: ConcreteShape, strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((d, a) => (d !== 1 ? a : -1)).filter((a) => a >= 0);
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (const a of keep) {
    const last = outShape.length - 1;
    const mergeable = last >= 0 && strides.every((st, k) => outStrides[k]![last] === st[a]! * shape[a]!);
    if (mergeable) {
      outShape[last] = outShape[last]! * shape[a]!;
      strides.forEach((st, k) => (outStrides[k]![last] = st[a]!));
    } else {
      outShape.push(shape[a]!);
      strides.forEach((st, k) => outStrides[k]!.push(st[a]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * WGSL computing the element offset of each input of a broadcast op at output
 * index `idx`. Returns the code and one u32 offset expression per input.
 */
export function broadcastOffsets(sb: ShaderBuilder, idx: string, shapes: readonly ConcreteShape[], out: ConcreteShape): { code: string; offsets: string[] } {
  const modes = shapes.map((s) => broadcastMode(s, out));
  const offsets = modes.map((m, k) => (m === 'same' ? idx : m === 'scalar' ? '0u' : `o${k}`));
  const strided = modes.map((m, k) => (m === 'strided' ? k : -1)).filter((k) => k >= 0);
  if (strided.length === 0) return { code: '', offsets };
  const { code } = stridedOffsets(sb, idx, out, strided.map((k) => broadcastStridesOf(shapes[k]!, out)), strided.map((k) => `o${k}`));
  return { code, offsets };
}

/**
 * WGSL declaring `names[k]` (u32) = `bases[k]` + Σ coordinate(idx over `shape`) ×
 * `strides[k]` for each stride vector: element offsets of several strided views
 * walked by one linear index (axes that every view walks contiguously are merged first).
 */
export function stridedOffsets(sb: ShaderBuilder, idx: string, shape: ConcreteShape, strides: readonly (readonly number[])[], names: readonly string[], bases?: readonly number[]): { code: string } {
  const base = (k: number): string => (bases?.[k] ? sb.u32(bases[k]!) : '0u');
  if (strides.every((st) => st.every((x) => x === 0))) return { code: names.map((n, k) => `  let ${n} = ${base(k)};`).join('\n') };
  const merged = coalesceAxes(shape, strides);
  const r = merged.shape.length;
  const dims = sb.u32s(merged.shape);
  const st = merged.strides.map((v) => sb.u32s(v));
  const lines = [`  var br = ${idx};`, ...names.map((n, k) => `  var ${n} = ${base(k)};`)];
  for (let a = r - 1; a >= 0; a--) {
    lines.push(`  { let c = br % ${dims[a]}; br = br / ${dims[a]};${names.map((n, j) => ` ${n} += c * ${st[j]![a]};`).join('')} }`);
  }
  return { code: lines.join('\n') };
}
