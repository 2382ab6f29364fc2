import { expect } from 'chai';
import { CycleError, GraphError, topoSort, type TopoItem } from '../src/graph/index.js';

interface Item extends TopoItem { readonly outputs: readonly string[] }
const item = (name: string, inputs: string[], outputs: string[]): Item => ({ name, op: 'Op', inputs, outputs });
const sortAll = (items: readonly Item[]): string[] => {
  const producer = new Map<string, Item>();
  for (const it of items) for (const o of it.outputs) producer.set(o, it);
  return topoSort(items, (v) => producer.get(v)).map((it) => it.name);
};

describe('graph: topological sort', () => {
  it('returns an already sorted list unchanged', () => {
    expect(sortAll([item('a', ['x'], ['a']), item('b', ['a'], ['b']), item('c', ['x', ''], ['c']), item('d', ['b', 'c'], ['d'])])).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('moves an item only as far as its producers need, taking inputs left to right', () => {
    expect(sortAll([item('d', ['c', 'b'], ['d']), item('a', ['x'], ['a']), item('b', ['a'], ['b']), item('c', ['x'], ['c'])])).to.deep.equal(['c', 'a', 'b', 'd']);
  });

  it('includes producers that are not among the roots', () => {
    const a = item('a', ['x'], ['a']);
    const b = item('b', ['a'], ['b']);
    expect(topoSort([b], (v) => (v === 'a' ? a : undefined)).map((it) => it.name)).to.deep.equal(['a', 'b']);
  });

  it('reports a cycle as a CycleError (a GraphError) naming a node on it', () => {
    const run = () => sortAll([item('first', ['b'], ['a']), item('second', ['a'], ['b']), item('out', ['a'], ['y'])]);
    expect(run).to.throw(CycleError, /cycle: node '(first|second)'/);
    expect(run).to.throw(GraphError);
    expect(() => sortAll([item('self', ['y'], ['y'])])).to.throw(CycleError, /'self' \(Op\) depends on itself through 'y'/);
  });

  it('sorts a chain of 100 000 items without overflowing the stack', () => {
    const n = 100_000;
    const items = Array.from({ length: n }, (_, i) => item(`n${i}`, [i === 0 ? 'x' : `v${i - 1}`], [`v${i}`])).reverse();
    const order = sortAll(items);
    expect(order[0]).to.equal('n0');
    expect(order[n - 1]).to.equal(`n${n - 1}`);
  });
});
