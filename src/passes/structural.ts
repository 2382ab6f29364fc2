/**
 * Structural form of a graph, for before/expected pass tests: two graphs are
 * structurally equal when they compute the same expressions from the same inputs
 * (by position), regardless of node and value names and of node order.
 *
 * Algorithm: a depth-first walk from the outputs gives every value a canonical key:
 * inputs by position and type, constants by dtype, shape and data (rounded to 6
 * significant digits), node outputs by op, attributes (Fused sub-graphs by their own
 * structural form) and the keys of their inputs. Each distinct node gets a number in
 * order of first visit, so shared sub-expressions are written once.
 */
import { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';

const num = (v: number): string => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString());

function tensorText(t: Tensor): string {
  const data = Array.from(t.data as ArrayLike<number>);
  const body = data.length <= 4096 ? data.map(num).join(',') : `n=${data.length},sum=${num(data.reduce((a, b) => a + b, 0))}`;
  return `${t.dtype}[${t.shape.join(',')}]{${body}}`;
}

function attrText(v: unknown): string {
  if (v instanceof Tensor) return tensorText(v);
  if (v instanceof Graph) return `graph(${structuralForm(v).replace(/\n/g, '; ')})`;
  if (Array.isArray(v)) return `[${v.map(attrText).join(',')}]`;
  if (typeof v === 'number') return num(v);
  return JSON.stringify(v);
}

/** The structural form of a graph as text (one line per node, then the outputs). */
export function structuralForm(g: Graph): string {
  const lines: string[] = [];
  const nodeIds = new Map<string, number>();
  const inputIdx = new Map(g.inputs.map((i, k) => [i.name, `in${k}:${i.dtype}[${i.shape.join(',')}]`]));
  const keyOf = (v: string): string => {
    if (v === '') return '_';
    const inp = inputIdx.get(v);
    if (inp) return inp;
    const p = g.producers.get(v);
    if (!p) return `?${v}`;
    if (p.kind === 'initializer') return `c:${tensorText(p.tensor)}`;
    if (p.kind === 'input') return `in:${v}`;
    let id = nodeIds.get(p.node.name);
    if (id === undefined) {
      const n = p.node;
      const ins = n.inputs.map(keyOf);
      const attrs = Object.keys(n.attrs).sort().map((k) => `${k}=${attrText(n.attrs[k])}`).join(' ');
      id = lines.length;
      nodeIds.set(n.name, id);
      lines.push(`%${id} = ${n.domain ? `${n.domain}::` : ''}${n.op}(${ins.join(', ')})${attrs ? ` {${attrs}}` : ''}`);
    }
    return `%${id}.${p.index}`;
  };
  const outs = g.outputs.map((o) => keyOf(o.name));
  lines.push(`return ${outs.join(', ')}`);
  return lines.join('\n');
}

/** True if two graphs are structurally equal (see file comment). */
export function structurallyEqual(a: Graph, b: Graph): boolean {
  return structuralForm(a) === structuralForm(b);
}
