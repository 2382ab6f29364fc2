/**
 * Einsum by index iteration: one invocation per output element, a generated loop
 * nest over the summed labels, each operand read at Σ stride · label coordinate (a
 * label repeated in one operand reads its diagonal; size-1 ellipsis axes broadcast
 * with stride 0). Covers every equation the CPU reference accepts — batched
 * matmul, transposes, reductions, traces, outer products — at per-element speed.
 */
import { parseEinsum } from '../../../graph/ops/einsum.js';
import { sizeOf, stridesOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelTable, KernelContext } from '../kernel.js';
import { coordsOf, ShaderBuilder } from '../wgsl.js';
import { accOf } from './reduce.js';

/** The equation's labels (parsed by the CPU reference) with concrete sizes. */
function labelsOf(ctx: KernelContext): { inputs: string[][]; output: string[]; size: Map<string, number> } {
  const { inputs, output, dims } = parseEinsum(String(ctx.attrs['equation']), ctx.inputs.map((t) => t!.shape), ctx.node);
  return { inputs, output, size: dims as Map<string, number> };
}

const einsum: GpuKernel = {
  plan(ctx) {
    const { inputs, output, size } = labelsOf(ctx);
    const out = ctx.outputs[0]!;
    const summed = [...size.keys()].filter((l) => !output.includes(l));
    const sb = new ShaderBuilder(ctx);
    const names = inputs.map((_, i) => sb.input(i));
    const Y = sb.output(0);
    const t = accOf(out.storage);
    const { code, coords } = coordsOf(sb, 'i', output.map((l) => size.get(l)!), 'c');
    const coord = new Map<string, string>(output.map((l, j) => [l, coords[j]!]));
    summed.forEach((l, j) => coord.set(l, `s${j}`));
    const offsets = inputs.map((ls, i) => {
      const shape = ctx.inputs[i]!.shape;
      const st = stridesOf(shape);
      const terms = ls.map((l, a) => (shape[a] === 1 ? '' : `${coord.get(l)} * ${sb.u32(st[a]!)}`)).filter((s) => s !== '');
      return terms.length ? terms.join(' + ') : '0u';
    });
    const product = names.map((n, i) => `${t}(${n}[${offsets[i]}])`).join(' * ');
    let body = `acc += ${product};`;
    for (let j = summed.length - 1; j >= 0; j--) body = `for (var s${j} = 0u; s${j} < ${sb.u32(size.get(summed[j]!)!)}; s${j}++) {\n  ${body}\n}`;
    const lines = [code, `  var acc = ${t}(0);`, `  ${body}`, `  ${Y}[i] = ${out.storage}(acc);`];
    return { dispatches: [sb.linear(sizeOf(out.shape), () => lines.join('\n'), 'Einsum.loop')] };
  },
};

/** Einsum kernels by op. */
export const einsumKernels: KernelTable = { Einsum: einsum };
