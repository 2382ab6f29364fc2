/**
 * Einsum by index iteration: one invocation per output element, a generated loop
 * nest over the summed labels, each operand read at Σ stride · label coordinate (a
 * label repeated in one operand reads its diagonal; size-1 ellipsis axes broadcast
 * with stride 0). Covers every equation the CPU reference accepts — batched
 * matmul, transposes, reductions, traces, outer products — at per-element speed.
 */
import { UnsupportedOpError } from '../../../graph/errors.js';
import { sizeOf, stridesOf } from '../../../graph/shape.js';
import type { GpuKernel, KernelContext } from '../kernel.js';
import { coordsOf, ShaderBuilder } from '../wgsl.js';
import { accOf } from './reduce.js';

interface Labels {
  readonly inputs: string[][];
  readonly output: string[];
  readonly size: Map<string, number>;
}

function labelsOf(ctx: KernelContext): Labels {
  const eq = String(ctx.attrs['equation']).replace(/\s+/g, '');
  const fail = (why: string): never => {
    throw new UnsupportedOpError([{ op: 'Einsum', nodes: [ctx.node] }], `equation '${eq}': ${why}`);
  };
  const [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  const shapes = ctx.inputs.map((t) => t!.shape);
  if (terms.length !== shapes.length) fail(`${terms.length} terms for ${shapes.length} inputs`);
  const ellOf = (term: string, rank: number): number => (term.includes('...') ? rank - term.replace('...', '').length : 0);
  const ell = Math.max(0, ...terms.map((t, i) => ellOf(t, shapes[i]!.length)));
  const expand = (term: string, n: number): string[] => {
    const [a, b] = term.split('...') as [string, string | undefined];
    if (b === undefined) return [...a];
    return [...a, ...Array.from({ length: n }, (_, i) => `.${ell - n + i}`), ...b];
  };
  const inputs = terms.map((t, i) => expand(t, ellOf(t, shapes[i]!.length)));
  const size = new Map<string, number>();
  inputs.forEach((ls, i) => {
    if (ls.length !== shapes[i]!.length) fail(`term '${terms[i]}' does not match rank ${shapes[i]!.length}`);
    ls.forEach((l, a) => size.set(l, Math.max(size.get(l) ?? 1, shapes[i]![a]!)));
  });
  let output: string[];
  if (rhs !== undefined) output = expand(rhs, ell);
  else {
    const count = new Map<string, number>();
    for (const ls of inputs) for (const l of ls) if (!l.startsWith('.')) count.set(l, (count.get(l) ?? 0) + 1);
    const once = [...count].filter(([, c]) => c === 1).map(([l]) => l).sort();
    output = [...Array.from({ length: ell }, (_, i) => `.${i}`), ...once];
  }
  return { inputs, output, size };
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

/** Einsum kernel by op name. */
export const einsumKernels: Readonly<Record<string, GpuKernel>> = { Einsum: einsum };
