/**
 * Epilogue fusion: an output-fusable anchor (category 'output-fusable' in the
 * registry: MatMul, Gemm, Conv, ConvInteger, MatMulInteger, ...) absorbs the chain of
 * elementwise ops that follows it — bias Add, activation, residual Add, ... — into
 * one `Fused` node of kind 'epilogue'. The sub-graph holds the anchor node itself
 * (attributes unchanged) and the chain, so a kernel computes the anchor's element and
 * applies the chain before writing.
 *
 * Load fusion: where the anchor's op has the LOAD_FUSION trait
 * (src/graph/load-fusion.ts), the producers of the operands it names join the group
 * too, before the anchor, and its kernel computes those operands while it loads them:
 * - an elementwise slot takes the elementwise nodes above the operand (e.g. a
 *   QuantizeLinear lowered to Div/Round/Add/Clip/Cast) whose every reader is in the
 *   group, of the operand's shape, reading values of that shape or single elements;
 * - a range-quantize slot takes its producer with the RANGE_QUANTIZE trait
 *   (DynamicQuantizeLinear) when the anchor alone reads its quantized value and zero
 *   point (at the trait's slots) and only the chain reads its scale;
 * - a dequantize slot takes the DequantizeLinear of constant 8-bit weights that
 *   `dequantizeLoad` accepts (the kernel keeps the weights packed).
 * A producer that is already in another group (an earlier anchor's epilogue) stays
 * there: the operand then arrives already computed.
 *
 * Algorithm: for each anchor in topological order, follow its value while it has
 * exactly one reader, that reader is elementwise (op with `expr`), the value is not a
 * graph output, and the reader's output has the anchor's output shape (the epilogue
 * never broadcasts the anchor's result to a larger tensor). The chain's other
 * operands are read from outside. Then collect the load-fused producers as above.
 * Invariants: no cycle can appear (every chain value has one reader, the next
 * member; every absorbed producer's outputs are read inside the group only); the
 * Fused node is named after the anchor and produces the chain's last value under its
 * original name.
 */
import type { Graph, Node } from '../graph/graph.js';
import { dequantizeLoad, LOAD_FUSION, RANGE_QUANTIZE } from '../graph/load-fusion.js';
import { findOp, getTrait } from '../graph/op.js';
import { shapeEq, type Shape } from '../graph/shape.js';
import { editGraph, type GraphEditor } from './editor.js';
import { categoryOf, fuseInPlace, isElementwise } from './fusion-util.js';
import type { Pass } from './pass-manager.js';

/** True for a shape whose every dim is 1 (a single element). */
const single = (s: Shape): boolean => s.every((d) => d === 1);

/**
 * The elementwise nodes above operand `v` that `inGroup` may absorb (added to it):
 * every reader of each absorbed value is in the group, each has v's shape, and each
 * absorbed node reads only values of that shape or single elements.
 */
function elementwiseLoad(ed: GraphEditor, v: string, inGroup: Set<Node>): Node[] {
  const shape = ed.typeOf(v).shape;
  const out: Node[] = [];
  const absorb = (u: string): void => {
    const p = ed.producerOf(u);
    if (!p || inGroup.has(p) || !isElementwise(p) || ed.isOutput(u) || !shapeEq(ed.typeOf(u).shape, shape)) return;
    if (!ed.consumersOf(u).every((c) => inGroup.has(c))) return;
    if (!p.inputs.every((w) => w === '' || shapeEq(ed.typeOf(w).shape, shape) || single(ed.typeOf(w).shape))) return;
    inGroup.add(p);
    out.push(p);
    for (const w of p.inputs) if (w !== '') absorb(w);
  };
  absorb(v);
  return out;
}

/** The range quantization producing operand `v`, if the group may absorb it (see file comment). */
function rangeLoad(ed: GraphEditor, anchor: Node, slot: { input: number; zeroPoint: number }, chain: ReadonlySet<Node>): Node | undefined {
  const v = anchor.inputs[slot.input];
  const p = v ? ed.producerOf(v) : undefined;
  const def = p && findOp(p.op, p.domain);
  const rq = def && getTrait(def, RANGE_QUANTIZE);
  if (!p || !rq || p.outputs[rq.quantized] !== v || !p.inputs[0] || ed.constantOf(p.inputs[0])) return undefined;
  const onlyBy = (o: string | undefined, ok: (n: Node) => boolean): boolean => !o || (!ed.isOutput(o) && ed.consumersOf(o).every(ok));
  const zp = p.outputs[rq.zeroPoint];
  if (!onlyBy(v, (n) => n === anchor) || !onlyBy(zp, (n) => n === anchor)) return undefined;
  // The anchor reads the zero point at its zero-point slot only.
  if (zp && ed.consumersOf(zp).length > 0 && anchor.inputs.some((w, k) => w === zp && k !== slot.zeroPoint)) return undefined;
  if (anchor.inputs.some((w, k) => w === v && k !== slot.input)) return undefined;
  if (!onlyBy(p.outputs[rq.scale], (n) => chain.has(n))) return undefined;
  return p;
}

/** The producers of `anchor`'s operands that its group absorbs (load fusion), in no particular order. */
function loadProducers(ed: GraphEditor, anchor: Node, chain: readonly Node[]): Node[] {
  const def = findOp(anchor.op, anchor.domain);
  const lf = def && getTrait(def, LOAD_FUSION);
  if (!lf) return [];
  const inGroup = new Set<Node>([anchor, ...chain]);
  const out: Node[] = [];
  if (lf.rangeQuantize) {
    const p = rangeLoad(ed, anchor, lf.rangeQuantize, new Set(chain));
    if (p) { inGroup.add(p); out.push(p); }
  }
  for (const d of lf.dequantize ?? []) {
    const p = dequantizeLoad(ed, anchor, d.input);
    if (p && !inGroup.has(p)) { inGroup.add(p); out.push(p); }
  }
  for (const k of lf.elementwise) {
    const v = anchor.inputs[k];
    if (v) out.push(...elementwiseLoad(ed, v, inGroup));
  }
  return out;
}

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
      const prologue = loadProducers(ed, anchor, chain);
      if (chain.length === 0 && prologue.length === 0) continue;
      fuseInPlace(ed, [...prologue, anchor, ...chain], [cur], 'epilogue', anchor.name, new Set([anchor.name]));
    }
  });
}

/** The epilogue-fusion pass (O2). */
export const fuseEpiloguePass: Pass = { name: 'fuse-epilogue', level: 2, run: (g) => fuseEpilogues(g) };
