/**
 * Algebraic simplification rules (pattern rewrites, driven to a fixed point):
 * - no-ops forward their input: Identity; Dropout (inference: no training_mode, or a
 *   constant false one; its mask unread);
 *   Cast to the same dtype; Transpose with the identity permutation; and the layout
 *   ops listed in SAME_SHAPE_NOOP (Reshape, Flatten, Squeeze, Unsqueeze, Expand,
 *   Tile) when their output type equals their input type;
 * - Transpose∘Transpose becomes one Transpose with the composed permutation
 *   (or nothing, when the composition is the identity);
 * - MatMul of a 2-D A and a Transpose of a 2-D B becomes Gemm with transB;
 * - Reshape of a layout-only op (Reshape/Flatten/Squeeze/Unsqueeze) becomes one
 *   Reshape of the original data, with the final static shape as a new constant
 *   (or the outer shape constant when it has no 0 entries).
 * Invariants: values keep their dtype and shape; a graph output is never forwarded
 * to a graph input or initializer (the Identity that would keep its name is needed).
 */
import type { Node } from '../graph/graph.js';
import { isStatic, shapeEq } from '../graph/shape.js';
import { Tensor, tensorInts } from '../graph/tensor.js';
import type { GraphEditor } from './editor.js';
import type { Pass } from './pass-manager.js';
import { P, rewrite, rule, RuleSet, type MatchEnv, type Rule } from './rewriter.js';

/** Layout ops that are the identity when their output type equals their input type. */
export const SAME_SHAPE_NOOP = ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Expand', 'Tile'] as const;
/** Layout ops that never move data (a Reshape of one can start from their input). */
export const LAYOUT_ONLY = ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze'] as const;

/** True if the root's first output may be replaced by `x` without an extra Identity. */
export function canForward(ed: GraphEditor, root: Node, x: string): boolean {
  const out = root.outputs[0]!;
  if (!ed.isOutput(out)) return true;
  return !(ed.isInput(x) || ed.isOutput(x) || ed.producerOf(x) === undefined);
}

function sameType(env: MatchEnv, a: string, b: string): boolean {
  const ta = env.typeOf(a);
  const tb = env.typeOf(b);
  return ta.dtype === tb.dtype && shapeEq(ta.shape, tb.shape);
}

function permOf(n: Node, env: MatchEnv): number[] {
  const p = n.attrs['perm'] as readonly number[] | undefined;
  const r = env.typeOf(n.inputs[0]!).shape.length;
  return p ? [...p] : Array.from({ length: r }, (_, i) => r - 1 - i);
}

const isIdentityPerm = (p: readonly number[]): boolean => p.every((v, i) => v === i);

function forward(name: string, op: string | readonly string[], ok: (n: Node, env: MatchEnv) => boolean): Rule {
  return rule(name, P.op(op, [P.any('x')], { where: ok }), (m, rw) => (canForward(rw.ed, m.root, m.values['x']!) ? [m.values['x']!] : undefined));
}

/** A Dropout at inference: no training_mode input, or a constant false one. */
function inferenceDropout(n: Node, env: MatchEnv): boolean {
  const tm = n.inputs[2];
  if (!tm) return true;
  const v = env.ed.constantOf(tm);
  return v !== undefined && !v.data[0];
}

/** The simplification rules. */
export const simplifyRules: RuleSet = new RuleSet([
  forward('remove-identity', 'Identity', () => true),
  forward('remove-dropout', 'Dropout', (n, env) => inferenceDropout(n, env) && (n.outputs.length < 2 || n.outputs[1] === '' || env.ed.useCount(n.outputs[1]!) === 0)),
  forward('remove-same-cast', ['Cast', 'CastLike'], (n, env) => env.typeOf(n.inputs[0]!).dtype === env.typeOf(n.outputs[0]!).dtype),
  forward('remove-identity-transpose', 'Transpose', (n, env) => isIdentityPerm(permOf(n, env))),
  forward('remove-noop-layout', SAME_SHAPE_NOOP, (n, env) => isStatic(env.typeOf(n.outputs[0]!).shape) && sameType(env, n.inputs[0]!, n.outputs[0]!)),
  rule('merge-transposes', P.op('Transpose', [P.op('Transpose', [P.any('x')], { as: 'inner' })], { as: 'outer' }), (m, rw) => {
    const env = { typeOf: (v: string) => rw.ed.typeOf(v) } as MatchEnv;
    const p1 = permOf(m.nodes['inner']!, env);
    const p2 = permOf(m.nodes['outer']!, env);
    const perm = p2.map((i) => p1[i]!);
    const x = m.values['x']!;
    if (isIdentityPerm(perm)) return canForward(rw.ed, m.root, x) ? [x] : undefined;
    return rw.node('Transpose', [x], { perm });
  }),
  // MatMul of 2-D operands whose B is a Transpose: a Gemm reading B transposed (no
  // Transpose dispatch; a dense layer's input gradient is G·Wᵀ). A transposed A is left
  // alone: Aᵀ·B kernels read A by columns, slower than a Transpose and a row-major product.
  rule('transpose-into-gemm', P.op('MatMul', [P.any('a'), P.op('Transpose', [P.any('bt')], { as: 't' })]), (m, rw) => {
    const a = m.values['a']!;
    const bt = m.values['bt']!;
    const env = { typeOf: (v: string) => rw.ed.typeOf(v) } as MatchEnv;
    if (m.nodes['t']!.domain !== '' || rw.ed.typeOf(a).shape.length !== 2 || rw.ed.typeOf(bt).shape.length !== 2 || permOf(m.nodes['t']!, env).join() !== '1,0') return undefined;
    return rw.node('Gemm', [a, bt], { transB: 1 });
  }),
  rule('merge-reshapes', P.op('Reshape', [P.op(LAYOUT_ONLY, [P.any('x')], { as: 'inner' }), P.any('s')]), (m, rw) => {
    const out = rw.ed.typeOf(m.root.outputs[0]!);
    const s = rw.ed.constantOf(m.values['s']!);
    let shape: string | undefined;
    if (isStatic(out.shape)) shape = rw.constant(Tensor.from('int64', [out.shape.length], out.shape), `${m.root.name}_shape`);
    else if (s && !tensorInts(s).includes(0)) shape = m.values['s']!;
    if (!shape) return undefined;
    return rw.node('Reshape', [m.values['x']!, shape]);
  }),
]);

/** The simplification pass. */
export const simplifyPass: Pass = { name: 'simplify', level: 1, run: (g) => rewrite(g, simplifyRules) };
