/**
 * Softmax, LogSoftmax and Hardmax along one axis: one invocation per row (outer ×
 * inner), three passes over the row (max, sum of exp(x - max), write), in f32.
 * A row of all -inf gives NaN, as the CPU reference does.
 */
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable, KernelContext, KernelPlan } from '../kernel.js';
import { rowwiseSplit } from '../chunk.js';
import { axisRow, splitAxis } from '../reduce-nest.js';
import { ShaderBuilder } from '../wgsl.js';
import { infinity } from '../wgsl-constants.js';
import { axisOf } from './common.js';

/** WGSL of the write pass over value `v`, with row max `m`, sum `s`, index `k` and argmax `bi` in scope. */
type RowWrite = (v: string) => string;

/** Scratch buffers a row kernel reads X from and writes Y to, instead of node input 0 and output 0 (the attention kernel). */
export interface RowScratch {
  readonly x: number;
  readonly y: number;
}

/** A row kernel: the max pass, the optional argmax and sum passes, then `write` over each element. */
function rowKernel(name: string, write: RowWrite, needSum: boolean, needArg: boolean): (ctx: KernelContext, scratch?: RowScratch) => KernelPlan {
  return (ctx, scratch) => {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const axis = axisOf(Number(ctx.attrs['axis'] ?? -1), x.shape.length);
    const { outer, inner } = splitAxis(x.shape, axis);
    const sb = new ShaderBuilder(ctx);
    const X = scratch ? sb.scratch(scratch.x, x.storage) : sb.input(0);
    const Y = scratch ? sb.scratch(scratch.y, out.storage) : sb.output(0);
    const row = axisRow(sb, 'i', x.shape, axis);
    const ld = (k: string): string => `f32(${X}[base + ${k} * step])`;
    const lines = [
      row.head,
      `  let n = ${row.n};`,
      `  var m = ${infinity(sb, true)}; var bi = 0u;`,
      `  for (var k = 0u; k < n; k++) { let v = ${ld('k')}; m = select(m, v, v > m || v != v); }`,
    ];
    if (needArg) {
      lines.push(`  var best = ${ld('0u')}; bi = 0u;`, `  for (var k = 1u; k < n; k++) { let v = ${ld('k')}; if (v > best) { best = v; bi = k; } }`);
    }
    if (needSum) lines.push('  var s = 0.0;', `  for (var k = 0u; k < n; k++) { s += exp(${ld('k')} - m); }`);
    lines.push(`  for (var k = 0u; k < n; k++) { let v = ${ld('k')}; ${Y}[base + k * step] = ${out.storage}(${write('v')}); }`);
    return { dispatches: [sb.linear(sizeOf(x.shape) === 0 ? 0 : outer * inner, () => lines.join('\n'), `${name}.row`)] };
  };
}

/** Plans Softmax over `ctx` (attribute `axis`), reading and writing scratch buffers when `scratch` is given. */
export const planSoftmax = rowKernel('Softmax', (v) => `exp(${v} - m) * (1.0 / s)`, true, false);

/** Softmax-family kernels by op. */
export const softmaxKernels: KernelTable = {
  Softmax: { plan: (ctx) => planSoftmax(ctx), split: rowwiseSplit() },
  LogSoftmax: { plan: rowKernel('LogSoftmax', (v) => `${v} - m - log(s)`, true, false), split: rowwiseSplit() },
  Hardmax: { plan: rowKernel('Hardmax', () => 'select(0.0, 1.0, k == bi)', false, true) },
};
