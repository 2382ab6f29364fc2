/**
 * Epilogue fusion: an output-fusable anchor (category 'output-fusable' in the
 * registry: MatMul, Gemm, Conv) absorbs the chain of elementwise ops that follows it
 * — bias Add, activation, residual Add, ... — into one `Fused` node of kind
 * 'epilogue'. The sub-graph holds the anchor node itself (attributes unchanged) and
 * the chain, so a kernel computes the anchor's element and applies the chain before
 * writing.
 *
 * Algorithm: for each anchor in topological order, follow its value while it has
 * exactly one reader, that reader is elementwise (op with `expr`), the value is not a
 * graph output, and the reader's output has the anchor's output shape (the epilogue
 * never broadcasts the anchor's result to a larger tensor). The chain's other
 * operands are read from outside.
 * Invariants: no cycle can appear (every chain value has one reader, the next
 * member); the Fused node is named after the anchor and produces the chain's last
 * value under its original name.
 */
import type { Graph, Node } from '../graph/graph.js';
import { shapeEq } from '../graph/shape.js';
import { editGraph } from './editor.js';
import { categoryOf, fuseInPlace, isElementwise } from './fusion-util.js';
import type { Pass } from './pass-manager.js';

/** Fuses epilogues (see file comment). */
export function fuseEpilogues(g: Graph): Graph {
  return editGraph(g, (ed) => {
    for (const anchor of g.topo) {
      if (categoryOf(anchor) !== 'output-fusable' || anchor.outputs.length !== 1 || !ed.nodes.has(anchor.name)) continue;
      const shape = ed.typeOf(anchor.outputs[0]!).shape;
      const chain: Node[] = [];
      let cur = anchor.outputs[0]!;
      for (;;) {
        const readers = ed.consumersOf(cur);
        const next = readers[0];
        if (readers.length !== 1 || !next || ed.isOutput(cur) || !isElementwise(next)) break;
        if (!shapeEq(ed.typeOf(next.outputs[0]!).shape, shape)) break;
        chain.push(next);
        cur = next.outputs[0]!;
      }
      if (chain.length === 0) continue;
      fuseInPlace(ed, [anchor, ...chain], [cur], 'epilogue', anchor.name, new Set([anchor.name]));
    }
  });
}

/** The epilogue-fusion pass (O2). */
export const fuseEpiloguePass: Pass = { name: 'fuse-epilogue', level: 2, run: (g) => fuseEpilogues(g) };
