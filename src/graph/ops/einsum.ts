/**
 * Einsum equation parsing, shape inference and a reference evaluation by index
 * iteration. Each axis of each operand gets a label: a letter, or `.i` for the
 * i-th broadcast (ellipsis) axis counted from the right-aligned ellipsis block.
 * A label repeated within one operand reads its diagonal; labels absent from the
 * output are summed. Without `->` the output is the ellipsis axes followed by the
 * letters that appear exactly once, alphabetically.
 */
import { ShapeError } from '../errors.js';
import { broadcastDim, formatShape, stridesOf, type Dim, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';

/** A parsed Einsum equation: the labels of each operand's axes and of the output. */
export interface EinsumLabels {
  readonly inputs: string[][];
  readonly output: string[];
  /** Size of each label, in order of first appearance. */
  readonly dims: Map<string, Dim>;
}

function parseTerm(term: string, rank: number | undefined, ell: number, node: string): string[] {
  const parts = term.split('...');
  if (parts.length > 2) throw new ShapeError(`${node}: Einsum term '${term}' has more than one ellipsis`, node);
  const letters = parts.join('');
  if (!/^[A-Za-z]*$/.test(letters)) throw new ShapeError(`${node}: Einsum term '${term}' has invalid characters`, node);
  if (parts.length === 1) return [...letters];
  const n = rank === undefined ? ell : rank - letters.length;
  if (n < 0) throw new ShapeError(`${node}: Einsum term '${term}' has more labels than the operand's rank ${rank}`, node);
  const e = Array.from({ length: n }, (_, i) => `.${ell - n + i}`);
  return [...parts[0]!, ...e, ...parts[1]!];
}

/** Parses and checks an Einsum equation against its operands' shapes (ShapeError naming `node`). */
export function parseEinsum(equation: string, shapes: readonly Shape[], node: string): EinsumLabels {
  const eq = equation.replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  if (terms.length !== shapes.length) {
    throw new ShapeError(`${node}: Einsum equation '${equation}' has ${terms.length} operands but ${shapes.length} inputs were given`, node);
  }
  let ell = 0;
  terms.forEach((t, i) => {
    if (t.includes('...')) ell = Math.max(ell, shapes[i]!.length - t.replace('...', '').length);
  });
  const inputs = terms.map((t, i) => parseTerm(t, shapes[i]!.length, ell, node));
  const dims = new Map<string, Dim>();
  inputs.forEach((labels, i) => {
    const s = shapes[i]!;
    if (labels.length !== s.length) {
      throw new ShapeError(`${node}: Einsum term '${terms[i]}' has ${labels.length} labels but input #${i} has shape ${formatShape(s)}`, node);
    }
    labels.forEach((l, ax) => {
      const prev = dims.get(l);
      const d = s[ax]!;
      if (prev === undefined) { dims.set(l, d); return; }
      const r = broadcastDim(prev, d);
      if (r === undefined) {
        throw new ShapeError(`${node}: Einsum label '${l.startsWith('.') ? '...' : l}' has size ${prev} and ${d} (input #${i} ${formatShape(s)})`, node);
      }
      dims.set(l, r);
    });
  });
  let output: string[];
  if (rhs === undefined) {
    const counts = new Map<string, number>();
    for (const labels of inputs) for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const ellLabels = Array.from({ length: ell }, (_, i) => `.${i}`);
    const once = [...counts].filter(([l, c]) => c === 1 && !l.startsWith('.')).map(([l]) => l).sort();
    output = [...ellLabels, ...once];
  } else {
    output = parseTerm(rhs, undefined, ell, node);
    for (const l of output) {
      if (!dims.has(l)) throw new ShapeError(`${node}: Einsum output label '${l}' does not appear in any input of '${equation}'`, node);
    }
    if (new Set(output).size !== output.length) throw new ShapeError(`${node}: Einsum output '${rhs}' repeats a label`, node);
  }
  return { inputs, output, dims };
}

/** Output shape of an Einsum. */
export function einsumInfer(equation: string, shapes: readonly Shape[], node: string): Dim[] {
  const p = parseEinsum(equation, shapes, node);
  return p.output.map((l) => p.dims.get(l)!);
}

/** Evaluates an Einsum on concrete tensors (float64 accumulation). */
export function einsumCpu(equation: string, inputs: readonly Tensor[], node: string): Tensor {
  const p = parseEinsum(equation, inputs.map((t) => t.shape), node);
  const summed = [...p.dims.keys()].filter((l) => !p.output.includes(l));
  const labels = [...p.output, ...summed];
  const sizes = labels.map((l) => p.dims.get(l) as number);
  const outShape = p.output.map((l) => p.dims.get(l) as number);
  const out = new Tensor(inputs[0]!.dtype, outShape);
  const acc = new Float64Array(out.size);
  const outStrides = stridesOf(outShape);
  const strides = inputs.map((t, i) => {
    const st = stridesOf(t.shape);
    return labels.map((l) => p.inputs[i]!.reduce((s, li, ax) => (li === l && t.shape[ax] !== 1 ? s + st[ax]! : s), 0));
  });
  const oStride = labels.map((_, j) => (j < p.output.length ? outStrides[j]! : 0));
  const total = sizes.reduce((a, b) => a * b, 1);
  if (total === 0) return out;
  const nl = labels.length;
  const idx = new Array<number>(nl).fill(0);
  const offs = new Array<number>(inputs.length).fill(0);
  const datas = inputs.map((t) => t.data);
  let o = 0;
  for (let it = 0; it < total; it++) {
    let v = 1;
    for (let k = 0; k < datas.length; k++) v *= datas[k]![offs[k]!]!;
    acc[o] = acc[o]! + v;
    for (let j = nl - 1; j >= 0; j--) {
      idx[j]!++;
      o += oStride[j]!;
      for (let k = 0; k < offs.length; k++) offs[k]! += strides[k]![j]!;
      if (idx[j]! < sizes[j]!) break;
      o -= oStride[j]! * sizes[j]!;
      for (let k = 0; k < offs.length; k++) offs[k]! -= strides[k]![j]! * sizes[j]!;
      idx[j] = 0;
    }
  }
  for (let i = 0; i < acc.length; i++) out.data[i] = acc[i]!;
  return out;
}
