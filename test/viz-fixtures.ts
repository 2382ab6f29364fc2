/** Graphs shared by the viz and CLI tests. */
import { Graph, GraphBuilder, Tensor, type Node } from '../src/graph/index.js';
import type { ValueType } from '../src/graph/op.js';

/** x[batch,4] → Add(Constant node) → Mul(initializer) → Relu → Softmax → y. 4 ops drawn, 1 Constant collapsed. */
export function smallGraph(name = 'small'): Graph {
  const b = new GraphBuilder(name);
  const x = b.input('x', 'float32', ['batch', 4]);
  const c = b.Constant([], { value: Tensor.from('float32', [4], [1, 2, 3, 4]) });
  const w = b.constant([0.5, -1, 2, 0.25], { name: 'scale' });
  const y = b.Softmax(b.Relu(b.Mul([b.Add([x, c]), w])), { axis: -1 });
  b.output(y, 'y');
  return b.build();
}

/** The small graph with Add+Mul+Relu replaced by one `Fused` node holding them (as the optimizer does). */
export function fusedGraph(): Graph {
  const g = smallGraph('fused');
  const [cnode, add, mul, relu, ...rest] = g.nodes as Node[];
  const bodyTypes = new Map<string, ValueType>([add!, mul!, relu!].map((n) => [n.outputs[0]!, g.typeOf(n.outputs[0]!)]));
  const body = Graph.create({
    name: 'fused_body',
    inputs: [{ name: 'x', ...g.typeOf('x') }, { name: cnode!.outputs[0]!, ...g.typeOf(cnode!.outputs[0]!) }, { name: 'scale', ...g.typeOf('scale') }],
    outputs: [{ name: relu!.outputs[0]!, ...g.typeOf(relu!.outputs[0]!) }],
    nodes: [add!, mul!, relu!],
    initializers: new Map(),
    valueTypes: bodyTypes,
  });
  const fused: Node = { name: 'fused_add_mul_relu', op: 'Fused', domain: '', inputs: ['x', cnode!.outputs[0]!, 'scale'], outputs: [relu!.outputs[0]!], attrs: { kind: 'elementwise', graph: body } };
  return g.with({ nodes: [cnode!, fused, ...rest] });
}

/** Hostile strings used as node, value and attribute names. */
export const HOSTILE = ['<img src=x onerror=window.__pwned=1>', '</script><script>window.__pwned=1;alert(1)</script>', '"\\\'><svg onload=window.__pwned=1>'];

/** A graph whose names, op type and attributes carry HTML/script injection attempts. */
export function hostileGraph(): Graph {
  const g = smallGraph(HOSTILE[1]!);
  const nodes = g.nodes.map((n, i) => ({ ...n, name: `${HOSTILE[i % HOSTILE.length]!} #${i}` }));
  const extra: Node = { name: HOSTILE[0]!, op: HOSTILE[2]!, domain: HOSTILE[1]!, inputs: ['y'], outputs: [HOSTILE[0]!], attrs: { note: HOSTILE[1]!, list: HOSTILE } };
  return g.with({
    nodes: [...nodes, extra],
    valueTypes: new Map([...g.valueTypes, [HOSTILE[0]!, { dtype: 'float32', shape: [HOSTILE[2]!, 4] }]]),
    outputs: [...g.outputs, { name: HOSTILE[0]!, dtype: 'float32', shape: [HOSTILE[2]!, 4] }],
  });
}

/** A chain of `n` Add nodes, each reading its own Constant node: 2n nodes, n drawn. */
export function largeGraph(n: number): Graph {
  const b = new GraphBuilder('large');
  let x = b.input('x', 'float32', [1, 8]);
  for (let i = 0; i < n; i++) {
    const c = b.Constant([], { value: Tensor.full('float32', [8], i) });
    x = b.Add([x, c]);
  }
  b.output(x, 'y');
  return b.build();
}
