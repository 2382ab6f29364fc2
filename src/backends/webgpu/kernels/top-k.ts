/**
 * TopK: one invocation per row along the axis, k selection passes — each pass
 * picks the best element that comes after the previous pick in the order
 * (value, index), ties resolved by the lower index, as the CPU reference's stable
 * sort does.
 */
import { ShapeError } from '../../../graph/errors.js';
import type { GpuKernel, KernelTable } from '../kernel.js';
import { axisRow, splitAxis } from '../reduce-nest.js';
import { ShaderBuilder } from '../wgsl.js';
import { axisOf } from './common.js';
import { accOf } from './reduce.js';

const topK: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const axis = axisOf(Number(ctx.attrs['axis']), x.shape.length);
    const k = ctx.outputs[0]!.shape[axis]!;
    const { outer, n, inner } = splitAxis(x.shape, axis);
    if (k > n) throw new ShapeError(`${ctx.node}: TopK K=${k} is larger than axis ${axis} (${n})`, ctx.node);
    const largest = Number(ctx.attrs['largest'] ?? 1) !== 0;
    const sb = new ShaderBuilder(ctx);
    const X = sb.input(0);
    const V = sb.output(0);
    const I = sb.output(1);
    const row = axisRow(sb, 'i', x.shape, axis);
    const kU = sb.u32(k);
    const t = accOf(x.storage);
    const cmp = largest ? '>' : '<';
    // a before b in the output order
    sb.fn(`fn before(va: ${t}, ia: u32, vb: ${t}, ib: u32) -> bool { return va ${cmp} vb || (va == vb && ia < ib); }`);
    const lines = [
      row.head,
      `  let ob = (i / step) * ${kU} * step + i % step;`,
      `  var lv = ${t}(0); var li = 0u;`,
      `  for (var j = 0u; j < ${kU}; j++) {`,
      `    var bv = ${t}(0); var bi = 0u; var found = false;`,
      `    for (var e = 0u; e < ${row.n}; e++) {`,
      `      let v = ${t}(${X}[base + e * step]);`,
      '      if ((j == 0u || before(lv, li, v, e)) && (!found || before(v, e, bv, bi))) { bv = v; bi = e; found = true; }',
      '    }',
      `    ${V}[ob + j * step] = ${ctx.outputs[0]!.storage}(bv); ${I}[ob + j * step] = ${ctx.outputs[1]!.storage}(bi);`,
      '    lv = bv; li = bi;',
      '  }',
    ];
    return { dispatches: [sb.linear(k === 0 ? 0 : outer * inner, () => lines.join('\n'), `TopK.select`)] };
  },
};

/** The TopK kernel by op. */
export const topKKernels: KernelTable = { TopK: topK };
