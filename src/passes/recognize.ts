/**
 * Recognition of decomposed high-level ops (pattern rewrites):
 * - GELU, erf form x·0.5·(1 + erf(x/√2)) in its three Mul groupings (and x·(1/√2)
 *   for the division), and tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
 *   → the registry's `Gelu` (approximate 'none' / 'tanh');
 * - LayerNorm as exported at opset 13: ReduceMean → Sub → Pow(2) → ReduceMean →
 *   Add(ε) → Sqrt → Div → Mul(γ) → Add(β) over trailing axes → `LayerNormalization`;
 * - scaled-dot-product attention: MatMul(Q, Kᵀ) → elementwise chain (scale, mask,
 *   Where) → Softmax(last axis) → MatMul(·, V) → one `Fused` node of kind 'attention'
 *   holding those nodes, plus the Transposes of Q, K, V that only it reads (and the
 *   Reshapes and Split of a fused QKV projection before them), and a Transpose of its
 *   result that keeps the last axis (the kernel reads and writes them as strided
 *   views, so they cost no dispatch).
 * Invariants: interior nodes of a match have no outside readers (the rewriter checks
 * it), so nothing is computed twice; constants must match within 1e-6 (relative) for
 * scalars and 1e-4 for √2-type constants; a rule declines (returns undefined) when the
 * target op is not registered or rejects the types.
 */
import { KilnError } from '../graph/errors.js';
import { Graph, type Node } from '../graph/graph.js';
import { findOp } from '../graph/op.js';
import { opContext, opOf } from '../graph/infer.js';
import { isFused } from '../graph/ops/fused.js';
import { normalizeAxis } from '../graph/shape.js';
import { tensorInts, type Tensor } from '../graph/tensor.js';
import { buildGroup, isElementwise } from './fusion-util.js';
import type { Pass } from './pass-manager.js';
import { P, rewrite, rule, RuleSet, type Match, type MatchEnv, type OpPattern, type Pattern, type Rewriter } from './rewriter.js';

const near = (t: Tensor, x: number, tol: number): boolean =>
  t.size >= 1 && t.size <= 64 && Array.from(t.data as ArrayLike<number>).every((v) => Math.abs(v - x) <= tol * Math.max(1, Math.abs(x)));
const C = { comm: { commutative: true } } as const;

/** x/√2 or x·(1/√2). */
const scaledX: Pattern = P.op(['Div', 'Mul'], [P.any('x'), P.any('k')], {
  where: (n: Node, env: MatchEnv) => {
    const k = env.constantOf(n.inputs[1]!);
    return !!k && near(k, n.op === 'Div' ? Math.SQRT2 : Math.SQRT1_2, 1e-4);
  },
});
const erfPart: Pattern = P.op('Add', [P.op('Erf', [scaledX]), P.scalar(1)], C.comm);

const cubic: Pattern = P.op('Add', [P.any('x'), P.op('Mul', [P.op('Pow', [P.any('x'), P.scalar(3)]), P.const('c', (t) => near(t, 0.044715, 1e-4))], C.comm)], C.comm);
const tanhPart: Pattern = P.op('Add', [P.op('Tanh', [P.op('Mul', [cubic, P.const('s', (t) => near(t, Math.sqrt(2 / Math.PI), 1e-4))], C.comm)]), P.scalar(1)], C.comm);

/** The three ways an exporter groups x · 0.5 · inner. */
function halfProduct(inner: Pattern): OpPattern[] {
  return [
    P.op('Mul', [P.op('Mul', [P.any('x'), inner], C.comm), P.scalar(0.5)], C.comm),
    P.op('Mul', [P.op('Mul', [P.any('x'), P.scalar(0.5)], C.comm), inner], C.comm),
    P.op('Mul', [P.any('x'), P.op('Mul', [inner, P.scalar(0.5)], C.comm)], C.comm),
  ];
}

function gelu(approximate: 'none' | 'tanh') {
  return (m: Match, rw: Rewriter): readonly string[] | undefined => {
    if (!findOp('Gelu')) return undefined;
    return tryNode(() => rw.node('Gelu', [m.values['x']!], approximate === 'none' ? {} : { approximate }));
  };
}

function tryNode(f: () => string[]): string[] | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof KilnError) return undefined;
    throw e;
  }
}

/** The reduced axes of a ReduceMean (attribute or constant input), or undefined. */
function reduceAxes(n: Node, env: { constantOf(v: string): Tensor | undefined }): number[] | undefined {
  const a = n.attrs['axes'] as readonly number[] | undefined;
  if (a) return [...a];
  const t = n.inputs[1] ? env.constantOf(n.inputs[1]) : undefined;
  return t ? tensorInts(t) : undefined;
}

const meanOf = (x: Pattern, as: string): Pattern => P.op('ReduceMean', [x], { as, where: (n) => (n.attrs['keepdims'] ?? 1) === 1 });
const layerNormPattern = P.op('Add', [
  P.op('Mul', [
    P.op('Div', [
      P.op('Sub', [P.any('x'), meanOf(P.any('x'), 'mean1')], { as: 'sub' }),
      P.op('Sqrt', [P.op('Add', [meanOf(P.op('Pow', [P.any('d'), P.scalar(2)]), 'mean2'), P.const('eps', (t) => t.size === 1)], C.comm)]),
    ]),
    P.const('gamma'),
  ], C.comm),
  P.const('beta'),
], C.comm);

function layerNorm(m: Match, rw: Rewriter): readonly string[] | undefined {
  if (!findOp('LayerNormalization') || m.values['d'] !== m.nodes['sub']!.outputs[0]) return undefined;
  const x = m.values['x']!;
  const rank = rw.ed.typeOf(x).shape.length;
  const norm = (axes: number[] | undefined) => axes?.map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q);
  const a1 = norm(reduceAxes(m.nodes['mean1']!, rw.ed));
  const a2 = norm(reduceAxes(m.nodes['mean2']!, rw.ed));
  if (!a1 || !a2 || a1.length === 0 || a1.join() !== a2.join()) return undefined;
  if (!a1.every((a, i) => a === rank - a1.length + i)) return undefined;
  const eps = rw.ed.constantOf(m.values['eps']!)!.data[0]!;
  return tryNode(() => rw.node('LayerNormalization', [x, m.values['gamma']!, m.values['beta']!], { axis: a1[0]!, epsilon: eps }));
}

const attentionPattern = P.op('MatMul', [P.op('Softmax', [P.any('scores')], { as: 'softmax' }), P.any('v')]);

function attention(m: Match, rw: Rewriter): readonly string[] | undefined {
  const sm = m.nodes['softmax']!;
  const rank = rw.ed.typeOf(sm.outputs[0]!).shape.length;
  const axis = (sm.attrs['axis'] as number | undefined) ?? -1;
  if (axis !== -1 && axis !== rank - 1) return undefined;
  const chain: Node[] = [];
  let v = m.values['scores']!;
  let qk: Node | undefined;
  for (;;) {
    const p = rw.ed.producerOf(v);
    if (!p || rw.ed.isOutput(v) || rw.ed.consumersOf(v).length !== 1) return undefined;
    if (p.op === 'MatMul') { qk = p; break; }
    if (!isElementwise(p)) return undefined;
    const private_ = p.inputs.filter((i) => i !== '' && !rw.ed.constantOf(i) && rw.ed.consumersOf(i).length === 1);
    const next = private_.find((i) => rw.ed.producerOf(i)?.op === 'MatMul') ?? private_.find((i) => {
      const q = rw.ed.producerOf(i);
      return !!q && isElementwise(q);
    });
    chain.push(p);
    if (!next) return undefined;
    v = next;
  }
  // Transposes of Q, K or V read only here join the group: the kernel reads them as strided views.
  const pre: Node[] = [];
  for (const x of [qk.inputs[0]!, qk.inputs[1]!, m.root.inputs[1]!]) {
    const t = rw.ed.producerOf(x);
    if (t && t.op === 'Transpose' && soleReader(rw.ed, x) && !pre.includes(t)) pre.push(t);
  }
  const views = [...splitViews(rw.ed, pre), ...pre];
  const members = [...views, qk, ...chain.reverse(), sm, m.root];
  const keep = new Set([qk.name, sm.name, m.root.name, ...views.map((t) => t.name)]);
  const g = buildGroup(rw.ed, members, [m.root.outputs[0]!], m.root.name, keep);
  return rw.node('Fused', g.inputs, { kind: 'attention', graph: g.graph }, { types: g.types });
}

/** The one node reading `v`, when `v` is not a graph output and has exactly one reader. */
function soleReader(ed: Rewriter['ed'], v: string): Node | undefined {
  const c = ed.consumersOf(v);
  return !ed.isOutput(v) && c.length === 1 ? c[0] : undefined;
}

/**
 * A Split (of the fused QKV projection) whose every output is read only by a
 * Reshape that only regroups the dims from the split axis on and feeds one of the
 * group's Transposes: returns [Split, Reshapes...] for each such Split, so that the
 * kernel reads Q, K and V at offsets of the projection instead of a Split dispatch.
 */
function splitViews(ed: Rewriter['ed'], transposes: readonly Node[]): Node[] {
  const sole = (v: string): Node | undefined => soleReader(ed, v);
  const reshapes = transposes.map((t) => ed.producerOf(t.inputs[0]!)).filter((r): r is Node => !!r && r.op === 'Reshape' && sole(r.outputs[0]!) !== undefined);
  const out: Node[] = [];
  for (const sp of new Set(reshapes.map((r) => ed.producerOf(r.inputs[0]!)))) {
    if (!sp || sp.op !== 'Split') continue;
    const rank = ed.typeOf(sp.inputs[0]!).shape.length;
    const axis = normalizeAxis(Number(opContext(opOf(sp), sp).attrs['axis'] ?? 0), rank, sp.name);
    const mine = sp.outputs.map((o) => (o === '' ? undefined : sole(o)));
    const ok = mine.every((r) => {
      if (!r || !reshapes.includes(r)) return false;
      const a = ed.typeOf(r.inputs[0]!).shape;
      const b = ed.typeOf(r.outputs[0]!).shape;
      return b.length >= axis && a.slice(0, axis).every((d, i) => d === b[i]);
    });
    if (ok) out.push(sp, ...(mine as Node[]));
  }
  return out;
}

/** A Transpose (keeping the last axis) of an attention group's result, which has no other reader. */
const attentionTransposePattern = P.op('Transpose', [P.op('Fused', undefined, { as: 'att', where: (n) => isFused(n, 'attention') })], {
  where: (n, env) => {
    const rank = env.typeOf(n.outputs[0]!).shape.length;
    const perm = env.attrsOf(n)['perm'] as readonly number[] | undefined;
    return rank >= 2 && !!perm && Number(perm[rank - 1]) === rank - 1;
  },
});

/** Moves a Transpose of an attention result into the group: the kernel writes the transposed layout directly. */
function attentionTranspose(m: Match, rw: Rewriter): readonly string[] | undefined {
  const att = m.nodes['att']!;
  const old = att.attrs['graph'];
  if (!(old instanceof Graph) || old.outputs.length !== 1) return undefined;
  const last = old.producerNode(old.outputs[0]!.name);
  if (!last || last.op !== 'MatMul' || old.typeOf(last.inputs[1]!).shape.length < 2) return undefined;
  const out = m.root.outputs[0]!;
  const type = rw.ed.typeOf(out);
  const t: Node = { ...m.root, inputs: [old.outputs[0]!.name], outputs: [out] };
  const g = Graph.create({
    name: old.name,
    inputs: old.inputs,
    outputs: [{ name: out, ...type }],
    nodes: [...old.nodes, t],
    initializers: old.initializers,
    valueTypes: new Map([...old.valueTypes, [out, type]]),
  });
  return rw.node('Fused', att.inputs, { kind: 'attention', graph: g.with({ nodes: g.topo }) }, { types: [type] });
}

/** GELU and LayerNorm recognition rules. */
export const recognizeRules: RuleSet = new RuleSet([
  ...halfProduct(erfPart).map((p, i) => rule(`gelu-erf-${i}`, p, gelu('none'))),
  ...halfProduct(tanhPart).map((p, i) => rule(`gelu-tanh-${i}`, p, gelu('tanh'))),
  rule('layernorm', layerNormPattern, layerNorm),
]);

/** The attention recognition rule. */
export const attentionRules: RuleSet = new RuleSet([rule('attention', attentionPattern, attention), rule('attention-transpose', attentionTransposePattern, attentionTranspose)]);

/** Recognition of GELU and LayerNorm (O2). */
export const recognizePass: Pass = { name: 'recognize', level: 2, run: (g) => rewrite(g, recognizeRules) };
/** Recognition of scaled-dot-product attention (O2). */
export const attentionPass: Pass = { name: 'fuse-attention', level: 2, run: (g) => rewrite(g, attentionRules) };
