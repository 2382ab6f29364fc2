/**
 * CumSum: one invocation per row along the axis, a sequential scan (exclusive
 * and reverse variants).
 */
import { sizeOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable } from '../kernel.js';
import { axisRow, splitAxis } from '../reduce-nest.js';
import { ShaderBuilder } from '../wgsl.js';
import { axisOf, constInts } from './common.js';
import { accOf } from './reduce.js';

const cumSum: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const axis = axisOf(constInts(ctx, 1, 'CumSum axis')![0]!, x.shape.length);
    const excl = Number(ctx.attrs['exclusive']) !== 0;
    const rev = Number(ctx.attrs['reverse']) !== 0;
    const { outer, inner } = splitAxis(x.shape, axis);
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const Y = sb.output(0);
    const row = axisRow(sb, 'i', x.shape, axis);
    const t = accOf(x.storage);
    const lines = [
      row.head,
      `  let n = ${row.n};`,
      `  var s = ${t}(0);`,
      '  for (var j = 0u; j < n; j++) {',
      `    let p = base + ${rev ? '(n - 1u - j)' : 'j'} * step;`,
      `    let v = ${t}(${X}[p]);`,
      excl ? `    ${Y}[p] = ${x.storage}(s); s += v;` : `    s += v; ${Y}[p] = ${x.storage}(s);`,
      '  }',
    ];
    return { dispatches: [sb.linear(sizeOf(x.shape) === 0 ? 0 : outer * inner, () => lines.join('\n'), 'CumSum.scan')] };
  },
};

/** The CumSum kernel by op. */
export const cumSumKernels: KernelTable = { CumSum: cumSum };
