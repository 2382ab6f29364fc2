/**
 * Reduce* and ArgMax/ArgMin: one invocation per output element walks its reduced
 * elements with a generated loop nest (reduce-nest.ts). Floats accumulate in f32,
 * integers in their storage type. Axes come from the attribute or a constant input;
 * `noop_with_empty_axes` with empty axes aliases the input.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { resolveAxes, type ReduceAttrs } from '../../../graph/ops/reduce-util.js';
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable, GpuStorage, KernelContext, KernelPlan } from '../kernel.js';
import { leadingSplit, reductionTiles } from '../chunk.js';
import { axisRow, reduceNest } from '../reduce-nest.js';
import { ShaderBuilder } from '../wgsl.js';
import { infinity } from '../wgsl-constants.js';
import { axisOf } from './common.js';

/** WGSL of one reduction: initial value, step, optional finish (over `n`, the count as f32). */
interface ReduceWgsl {
  init(t: string): string;
  step(a: string, x: string, t: string): string;
  finish?(a: string, t: string): string;
  /** Shift by the per-output maximum first (log-sum-exp). */
  shift?: boolean;
  /**
   * Combines a block's accumulator into the one already in the output (reducing a
   * value beyond one binding in row blocks); `finish` is applied after the last
   * block's merge.
   */
  merge?(prev: string, part: string): string;
  /** `merge` combines finished values instead (each block's finish uses its own shift: log-sum-exp). */
  mergesFinished?: boolean;
}

const INT_MIN = (t: string): string => (t === 'u32' ? '0u' : 'i32(-2147483647 - 1)');
const INT_MAX = (t: string): string => (t === 'u32' ? '4294967295u' : 'i32(2147483647)');
const lowest = (t: string): string => (t === 'f32' ? 'kInf(true)' : INT_MIN(t));
const highest = (t: string): string => (t === 'f32' ? 'kInf(false)' : INT_MAX(t));
/** `f(x)` computed in f32 and converted back to `t`. */
const viaF32 = (t: string, f: (x: string) => string, a: string): string => (t === 'f32' ? f(a) : `${t}(${f(`f32(${a})`)})`);
const absT = (t: string, x: string): string => (t === 'u32' ? x : `abs(${x})`);

const add = (p: string, q: string): string => `${p} + ${q}`;
/** The larger / smaller of two (NaN wins), as a step and as the merge of two partial results. */
const max = (p: string, q: string): string => `select(${p}, ${q}, ${q} > ${p} || ${q} != ${q})`;
const min = (p: string, q: string): string => `select(${p}, ${q}, ${q} < ${p} || ${q} != ${q})`;
const KINDS: Readonly<Record<string, ReduceWgsl>> = {
  ReduceSum: { init: (t) => `${t}(0)`, step: (a, x) => `${a} + ${x}`, merge: add },
  ReduceMean: { init: (t) => `${t}(0)`, step: (a, x) => `${a} + ${x}`, finish: (a, t) => `${a} / ${t}(n)`, merge: add },
  ReduceMax: { init: lowest, step: max, merge: max },
  ReduceMin: { init: highest, step: min, merge: min },
  ReduceProd: { init: (t) => `${t}(1)`, step: (a, x) => `${a} * ${x}`, merge: (p, q) => `${p} * ${q}` },
  ReduceL1: { init: (t) => `${t}(0)`, step: (a, x, t) => `${a} + ${absT(t, x)}`, merge: add },
  ReduceL2: { init: (t) => `${t}(0)`, step: (a, x) => `${a} + ${x} * ${x}`, finish: (a, t) => viaF32(t, (v) => `sqrt(${v})`, a), merge: add },
  ReduceLogSum: { init: (t) => `${t}(0)`, step: (a, x) => `${a} + ${x}`, finish: (a, t) => viaF32(t, (v) => `log(${v})`, a), merge: add },
  // Blocks' log-sum-exps merge as log(exp(p) + exp(q)), shifted by the larger (±inf stays itself, NaN propagates).
  ReduceLogSumExp: {
    init: () => 'f32(0)',
    step: (a, x) => `${a} + exp(${x} - m)`,
    finish: (a) => `log(${a}) + m`,
    shift: true,
    merge: (p, q) => `select(max(${p}, ${q}) + log(exp(${p} - max(${p}, ${q})) + exp(${q} - max(${p}, ${q}))), max(${p}, ${q}), abs(max(${p}, ${q})) >= kInf(false))`,
    mergesFinished: true,
  },
  ReduceSumSquare: { init: (t) => `${t}(0)`, step: (a, x) => `${a} + ${x} * ${x}`, merge: add },
};

/** Accumulator type for a storage (f16 accumulates in f32). */
export function accOf(s: GpuStorage): string {
  return s === 'f16' ? 'f32' : s;
}

/**
 * A partial reduction of a block of input rows into an output already holding the
 * earlier blocks' result (`merge`), `count` being the whole reduction's count and
 * `last` marking the block after which the output holds the finished result.
 */
interface Partial {
  readonly merge: boolean;
  readonly last: boolean;
  readonly count: number;
}

/** The WGSL stored by a reduction over accumulator `a` (of type `t`): finished, or a block's partial result merged into `prev`. */
function storedValue(kind: ReduceWgsl, t: string, prev: string, partial: Partial | undefined): string {
  const finish = (a: string): string => (kind.finish ? kind.finish(a, t) : a);
  if (!partial || !kind.merge) return finish('a');
  if (kind.mergesFinished) return partial.merge ? kind.merge(prev, finish('a')) : finish('a');
  const acc = partial.merge ? kind.merge(prev, 'a') : 'a';
  return partial.last ? finish(`(${acc})`) : acc;
}

function reduceKernel(name: string, kind: ReduceWgsl): GpuKernel {
  const axesOf = (ctx: KernelContext) => resolveAxes(ctx.inputs[1], ctx.attrs as unknown as ReduceAttrs, ctx.inputs[0]!.shape.length, ctx.node);
  const plan = (ctx: KernelContext, partial?: Partial): KernelPlan => {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const axes = axesOf(ctx);
    if (axes === 'noop') return { dispatches: [], aliasOf: 0 };
    if (axes === 'unknown') throw new UnsupportedOpError([{ op: name, nodes: [ctx.node] }], 'axes input must be constant for the WebGPU backend');
    const t = accOf(x.storage);
    if (kind.shift && t !== 'f32') throw new UnsupportedOpError([{ op: name, nodes: [ctx.node] }], `dtype ${x.dtype}`);
    const sb = new ShaderBuilder(ctx);
    infinity(sb, false);
    const X = sb.input(0);
    const Y = sb.output(0);
    const nest = reduceNest(sb, 'i', x.shape, axes);
    const n = sb.f32(partial?.count ?? nest.count);
    const ld = `${t}(${X}[q])`;
    return {
      dispatches: [
        sb.linear(sizeOf(out.shape), (i) => [
          nest.head,
          `  let n = ${n};`,
          kind.shift ? `  var mx = ${lowest('f32')};\n  ${nest.loops(`  let xv = ${ld}; mx = select(mx, xv, xv > mx || xv != xv);`)}\n  let m = select(0.0, mx, abs(mx) < kInf(false));` : '',
          `  var a = ${kind.init(t)};`,
          `  ${nest.loops(`  a = ${kind.step('a', ld, t)};`)}`,
          `  ${Y}[${i}] = ${out.storage}(${storedValue(kind, t, `${t}(${Y}[${i}])`, partial)});`,
        ].join('\n'), `${name}.${partial ? (partial.merge ? 'merge' : 'part') : 'loop'}`),
      ],
    };
  };
  return {
    split(ctx, a) {
      const axes = axesOf(ctx);
      return Array.isArray(axes) && axes.length > 0 ? leadingSplit(ctx, a, axes[0]!) : undefined;
    },
    plan: (ctx) => plan(ctx),
    tiles(ctx) {
      const axes = axesOf(ctx);
      if (!kind.merge || !Array.isArray(axes)) return undefined;
      return reductionTiles(ctx, axes, (c, shape, merge, last) => plan({ ...c, inputs: [{ ...c.inputs[0]!, shape }, ...c.inputs.slice(1)] }, { merge, last, count: reducedCount(ctx.inputs[0]!.shape, axes) }));
    },
  };
}

/** The number of elements each output element reduces. */
const reducedCount = (shape: readonly number[], axes: readonly number[]): number => axes.reduce((p, a) => p * shape[a]!, 1);

function argKernel(name: string, cmp: string): GpuKernel {
  return {
    split: (ctx, a) => leadingSplit(ctx, a, axisOf(Number(ctx.attrs['axis']), ctx.inputs[0]!.shape.length)),
    plan(ctx) {
      const x = ctx.inputs[0]!;
      const out = ctx.outputs[0]!;
      const axis = axisOf(Number(ctx.attrs['axis']), x.shape.length);
      const last = Number(ctx.attrs['select_last_index']) !== 0;
      const sb = new ShaderBuilder(ctx);
      const X = sb.input(0);
      const Y = sb.output(0);
      const row = axisRow(sb, 'i', x.shape, axis);
      const t = accOf(x.storage);
      const better = `v ${cmp} best${last ? ` || v == best` : ''}`;
      return {
        dispatches: [
          sb.linear(sizeOf(out.shape), (i) => [
            row.head,
            `  var best = ${t}(${X}[base]); var bi = 0u;`,
            `  for (var k = 1u; k < ${row.n}; k++) { let v = ${t}(${X}[base + k * step]); if (${better}) { best = v; bi = k; } }`,
            `  ${Y}[${i}] = ${out.storage}(bi);`,
          ].join('\n'), `${name}.loop`),
        ],
      };
    },
  };
}

/** Reduction kernels by op. */
export const reduceKernels: KernelTable = {
  ...Object.fromEntries(Object.entries(KINDS).map(([name, k]) => [name, reduceKernel(name, k)])),
  ArgMax: argKernel('ArgMax', '>'),
  ArgMin: argKernel('ArgMin', '<'),
};
