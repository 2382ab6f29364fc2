/**
 * Constant folding and shape-arithmetic folding.
 *
 * Algorithm: one walk in topological order over a working copy of the graph.
 * - A Constant node becomes an initializer of the same name.
 * - A node whose inputs are all constants is run with its CPU reference
 *   (runReference) and its outputs become initializers of the same names — unless
 *   its outputs have more than `foldLimit` elements together and more bytes than the
 *   constant inputs that folding frees (those read by this node alone): folding must
 *   never inflate the model (Expand/Tile/ConstantOfShape/Range of a large size, a
 *   Transpose of a weight that another node still reads, or a DequantizeLinear of
 *   int8 weights, which would store them as float32 again). A dequantization of
 *   constant 8-bit weights whose reader dequantizes them on load (LOAD_FUSION's
 *   `dequantize`, src/graph/load-fusion.ts) is never folded: its kernel keeps them packed.
 * - A shape-only op (op flag `shapeOnly`: Shape, Size) whose data input has a static
 *   shape is evaluated from the shape alone (foldShapeOnly), so Shape→Gather→Concat→Reshape chains
 *   collapse into constants as the walk goes on (each folded value feeds the next).
 * - A node that carries shape values (SHAPE_VALUE trait: Shape, Gather, Slice, ...)
 *   whose result type inference knows in full although its inputs are not all
 *   constant — `Shape(x)[1]` where dim 1 of x is static and others are symbolic —
 *   becomes that constant (src/graph/shape-values.ts), so conditions on such dims
 *   fold and fold-if can inline the branch.
 * Invariants: value names are kept (readers are untouched); ops without a CPU
 * reference and Fused nodes are left alone; errors from a reference leave the node
 * unfolded (the graph must still run and report the error at run time).
 */
import { dtypeBytes } from '../graph/dtype.js';
import { KilnError } from '../graph/errors.js';
import type { Graph } from '../graph/graph.js';
import { opOf } from '../graph/infer.js';
import { runReference } from '../graph/reference.js';
import { isStatic, sizeOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import { foldShapeOnly, TypeEnv } from '../graph/type-env.js';
import { getTrait } from '../graph/op.js';
import { SHAPE_VALUE } from '../graph/shape-values.js';
import { DEQUANTIZE, dequantizeLoad } from '../graph/load-fusion.js';
import type { Node } from '../graph/graph.js';
import { GraphEditor } from './editor.js';
import type { Pass } from './pass-manager.js';

/** Default cap on the element count of a folded value that is larger than its inputs. */
export const DEFAULT_FOLD_LIMIT = 65536;

/** A dequantization of constant weights whose one reader dequantizes them as it loads them (LOAD_FUSION): kept, so the weights stay 8-bit. */
function dequantizedOnLoad(ed: GraphEditor, n: Node): boolean {
  const def = opOf(n);
  const out = n.outputs[0];
  if (!getTrait(def, DEQUANTIZE) || !out) return false;
  const readers = ed.consumersOf(out);
  return readers.length === 1 && dequantizeLoad(ed, readers[0]!, readers[0]!.inputs.indexOf(out))?.name === n.name;
}

/** Folds constants in a graph (see file comment). */
export function foldConstants(g: Graph, foldLimit = DEFAULT_FOLD_LIMIT): Graph {
  const ed = new GraphEditor(g);
  const known = knownValues(g);
  for (const n of g.topo) {
    const def = opOf(n);
    if (n.op === 'Fused' || (!def.cpu && !def.expr)) continue;
    if (dequantizedOnLoad(ed, n)) continue;
    const outs = n.outputs.map((o) => (o === '' ? undefined : ed.typeOf(o)));
    const outElems = outs.reduce((sum, t) => sum + (t && isStatic(t.shape) ? sizeOf(t.shape) : Infinity), 0);
    const outBytes = outs.reduce((sum, t) => sum + (t && isStatic(t.shape) ? sizeOf(t.shape) * dtypeBytes(t.dtype) : Infinity), 0);
    let freed = 0;
    let results: Tensor[] | undefined;
    try {
      if (def.shapeOnly) {
        results = foldShapeOnly(n, n.inputs.map((v) => (v === '' ? undefined : ed.typeOf(v))));
      } else {
        const ins = n.inputs.map((v) => (v === '' ? undefined : ed.constantOf(v)));
        if (n.inputs.some((v, i) => v !== '' && !ins[i])) {
          const v = n.outputs.length === 1 && getTrait(def, SHAPE_VALUE) ? known.values.get(n.outputs[0]!) : undefined;
          if (!v) continue;
          results = [v];
        }
        if (!results) {
          freed = n.inputs.reduce((sum, v, i) => sum + (v !== '' && ed.useCount(v) === 1 ? ins[i]!.size * dtypeBytes(ins[i]!.dtype) : 0), 0);
          if (outElems > foldLimit && outBytes > freed) continue;
          results = runReference(n, ins);
        }
      }
    } catch (e) {
      if (e instanceof KilnError) continue;
      throw e;
    }
    if (!results) continue;
    const made = results.reduce((sum, t, i) => sum + (n.outputs[i] ? t.size : 0), 0);
    const madeBytes = results.reduce((sum, t, i) => sum + (n.outputs[i] ? t.size * dtypeBytes(t.dtype) : 0), 0);
    if (made > foldLimit && madeBytes > freed) continue;
    ed.removeNode(n);
    n.outputs.forEach((o, i) => {
      if (o !== '' && results[i]) ed.initializers.set(o, results[i]!);
    });
  }
  if (ed.edits === 0) return g;
  return ed.finish();
}

/** The values inference knows in `g` (constants, and shape values known in full); a graph it cannot type gives what it had. */
function knownValues(g: Graph): TypeEnv {
  const env = new TypeEnv();
  for (const i of [...g.inputs, ...g.captures]) env.define(i.name, i);
  for (const [k, t] of g.initializers) if (!env.types.has(k)) env.define(k, { dtype: t.dtype, shape: t.shape }, t);
  try {
    for (const n of g.topo) env.addNode(n);
  } catch (e) {
    if (!(e instanceof KilnError)) throw e;
  }
  return env;
}

/** The constant-folding pass. */
export function foldConstantsPass(): Pass {
  return { name: 'fold-constants', level: 1, run: (g, ctx) => foldConstants(g, ctx.options.foldLimit ?? DEFAULT_FOLD_LIMIT) };
}
