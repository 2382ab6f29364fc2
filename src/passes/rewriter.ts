/**
 * The pattern rewriter. A rule pairs a declarative pattern with a callback:
 *
 *   rule('fold-double-transpose',
 *        P.op('Transpose', [P.op('Transpose', [P.any('x')], { as: 'inner' })], { as: 'outer' }),
 *        (m, rw) => ...)
 *
 * A pattern is an op pattern (op name or names, operand sub-patterns, an optional
 * capture name, predicates on the node, its attributes and types) or a value pattern
 * (any value / a constant, captured by name, with a predicate). Op names here are
 * data in tables, never branches.
 *
 * Algorithm: rules are indexed by root op name. The driver walks the live nodes in
 * topological order; for each node it tries the rules indexed under its op (then the
 * rules with a wildcard root), in order; the first rule whose pattern matches and
 * whose callback returns a replacement wins. The replacement redirects the root's
 * outputs to new values; dead nodes are dropped. Sweeps repeat until one changes
 * nothing (a fixed point) or the iteration cap is reached, which raises a
 * RewriteError naming the rules that kept firing.
 *
 * Invariants: a callback sees a consistent editor; interior (non-root) nodes of a
 * match must have no readers outside the match unless the pattern says `shared`;
 * graph output names never change; node names of untouched nodes are kept.
 */
import { KilnError } from '../graph/errors.js';
import type { Graph, Node } from '../graph/graph.js';
import type { ValueType } from '../graph/op.js';
import type { Tensor } from '../graph/tensor.js';
import { resolveAttrs } from '../graph/attrs.js';
import { opOf } from '../graph/infer.js';
import { topoSort } from '../graph/topo.js';
import { GraphEditor } from './editor.js';

/** Raised when a rewrite does not converge or a rule misbehaves. */
export class RewriteError extends KilnError {
  constructor(message: string, where?: string) { super('REWRITE_FAILED', message, where); }
}

/** A matched subgraph: captured nodes and values. */
export interface Match {
  /** The root node. */
  readonly root: Node;
  /** Captured nodes by capture name. */
  readonly nodes: Readonly<Record<string, Node>>;
  /** Captured values by capture name. */
  readonly values: Readonly<Record<string, string>>;
  /** Every node of the match (root included). */
  readonly all: readonly Node[];
}

/** What predicates see while matching. */
export interface MatchEnv {
  /** The working graph. */
  readonly ed: GraphEditor;
  /** A value's type. */
  typeOf(v: string): ValueType;
  /** A value's constant tensor, if it is a constant. */
  constantOf(v: string): Tensor | undefined;
  /** The node's attributes with defaults filled in. */
  attrsOf(n: Node): Record<string, unknown>;
}

/** A pattern on a value. */
export type Pattern = OpPattern | ValuePattern;

/** Matches a value produced by a node of one of `ops`. */
export interface OpPattern {
  readonly kind: 'op';
  /** Op names the node may have ('*': any). */
  readonly ops: readonly string[] | '*';
  /** Patterns of the node's first inputs (absent: inputs unconstrained). */
  readonly inputs?: readonly Pattern[];
  /** Try both operand orders (for commutative binary ops). */
  readonly commutative?: boolean;
  /** Capture name of the node (a repeated name must be the same node). */
  readonly as?: string;
  /** Which output of the node the value must be (default 0). */
  readonly output?: number;
  /** Allow this (interior) node to have readers outside the match. */
  readonly shared?: boolean;
  /** Predicate on the node (attributes, types, constant operands). */
  readonly where?: (n: Node, env: MatchEnv) => boolean;
}

/** Matches any value (or only constants), optionally with a predicate. */
export interface ValuePattern {
  readonly kind: 'value';
  /** Capture name (a repeated name must be the same value). */
  readonly as?: string;
  /** Only constants (initializers, Constant nodes). */
  readonly constant?: boolean;
  /** Predicate on the value. */
  readonly where?: (v: string, env: MatchEnv) => boolean;
}

/** Options of an op pattern. */
export type OpOptions = Omit<OpPattern, 'kind' | 'ops' | 'inputs'>;

/** Pattern constructors. */
export const P = {
  /** A node of op `op` (or any of several) with operand patterns. */
  op: (op: string | readonly string[], inputs?: readonly Pattern[], opts: OpOptions = {}): OpPattern => ({
    kind: 'op', ops: typeof op === 'string' ? [op] : op, ...(inputs ? { inputs } : {}), ...opts,
  }),
  /** A node of any op. */
  anyOp: (inputs?: readonly Pattern[], opts: OpOptions = {}): OpPattern => ({ kind: 'op', ops: '*', ...(inputs ? { inputs } : {}), ...opts }),
  /** Any value, captured as `as`. */
  any: (as?: string, where?: ValuePattern['where']): ValuePattern => ({ kind: 'value', ...(as ? { as } : {}), ...(where ? { where } : {}) }),
  /** A constant value (initializer or Constant), captured as `as`. */
  const: (as?: string, where?: (t: Tensor, env: MatchEnv) => boolean): ValuePattern => ({
    kind: 'value', constant: true, ...(as ? { as } : {}),
    ...(where ? { where: (v: string, env: MatchEnv) => where(env.constantOf(v)!, env) } : {}),
  }),
  /** A constant every element of which is (within 1e-6 relative) `x`. */
  scalar: (x: number, as?: string): ValuePattern => P.const(as, (t) => t.size >= 1 && t.size <= 64 && Array.from(t.data as ArrayLike<number>).every((v) => Math.abs(v - x) <= 1e-6 * Math.max(1, Math.abs(x)))),
};

/** Builds new nodes inside a rewrite callback. */
export interface Rewriter {
  /** The working graph. */
  readonly ed: GraphEditor;
  /** Adds a node; returns its outputs. The name defaults to the root's name (kept stable for display). */
  node(op: string, inputs: readonly string[], attrs?: Readonly<Record<string, unknown>>, opts?: { name?: string; outputs?: number; types?: readonly ValueType[] }): string[];
  /** Adds a constant; returns its name. */
  constant(t: Tensor, base?: string): string;
}

/** A rule: a pattern and what to do with a match. Returns the new values of the root's outputs, or undefined to decline. */
export interface Rule {
  /** Name (reports and non-convergence errors). */
  readonly name: string;
  /** Pattern rooted at the node to replace. */
  readonly pattern: OpPattern;
  /** Builds the replacement values of the root's outputs; undefined declines. */
  readonly rewrite: (m: Match, rw: Rewriter) => readonly string[] | undefined;
}

/** Creates a rule. */
export function rule(name: string, pattern: OpPattern, rewrite: Rule['rewrite']): Rule {
  return { name, pattern, rewrite };
}

/** A composable set of rules, indexed by root op. */
export class RuleSet {
  private readonly byOp = new Map<string, Rule[]>();
  private readonly wild: Rule[] = [];
  constructor(readonly rules: readonly Rule[]) {
    for (const r of rules) {
      if (r.pattern.ops === '*') this.wild.push(r);
      else for (const op of r.pattern.ops) {
        const l = this.byOp.get(op) ?? [];
        l.push(r);
        this.byOp.set(op, l);
      }
    }
  }
  /** A rule set with the rules of both. */
  plus(other: RuleSet | readonly Rule[]): RuleSet {
    return new RuleSet([...this.rules, ...(other instanceof RuleSet ? other.rules : other)]);
  }
  /** Rules that may match a node of op `op`. */
  candidates(op: string): readonly Rule[] {
    const l = this.byOp.get(op);
    return l ? (this.wild.length ? [...l, ...this.wild] : l) : this.wild;
  }
}

function makeEnv(ed: GraphEditor): MatchEnv {
  return {
    ed,
    typeOf: (v) => ed.typeOf(v),
    constantOf: (v) => ed.constantOf(v),
    attrsOf: (n) => resolveAttrs(opOf(n).attrs, n.attrs, n.name, n.op) as Record<string, unknown>,
  };
}

interface Acc { nodes: Record<string, Node>; values: Record<string, string>; all: Node[]; interior: Node[] }

function matchValue(p: Pattern, v: string, env: MatchEnv, acc: Acc, root: boolean): boolean {
  if (p.kind === 'value') {
    if (v === '') return false;
    if (p.constant && !env.constantOf(v)) return false;
    if (p.as) {
      const prev = acc.values[p.as];
      if (prev !== undefined && prev !== v) return false;
      acc.values[p.as] = v;
    }
    return !p.where || p.where(v, env);
  }
  const n = env.ed.producerOf(v);
  if (!n) return false;
  if ((p.output ?? 0) !== n.outputs.indexOf(v)) return false;
  return matchNode(p, n, env, acc, root);
}

function matchNode(p: OpPattern, n: Node, env: MatchEnv, acc: Acc, root: boolean): boolean {
  if (p.ops !== '*' && !p.ops.includes(n.op)) return false;
  if (p.as) {
    const prev = acc.nodes[p.as];
    if (prev && prev.name !== n.name) return false;
    acc.nodes[p.as] = n;
  }
  if (!acc.all.some((x) => x.name === n.name)) {
    acc.all.push(n);
    if (!root && !p.shared) acc.interior.push(n);
  }
  if (p.where && !p.where(n, env)) return false;
  if (!p.inputs) return true;
  const orders = p.commutative && p.inputs.length === 2 ? [[0, 1], [1, 0]] : [p.inputs.map((_, i) => i)];
  for (const order of orders) {
    const snap = snapshot(acc);
    if (order.length > n.inputs.length && p.inputs.length > n.inputs.length) return false;
    const ok = order.every((src, i) => {
      const v = n.inputs[src] ?? '';
      return matchValue(p.inputs![i]!, v, env, acc, false);
    });
    if (ok) return true;
    restore(acc, snap);
  }
  return false;
}

function snapshot(a: Acc): Acc {
  return { nodes: { ...a.nodes }, values: { ...a.values }, all: [...a.all], interior: [...a.interior] };
}
function restore(a: Acc, s: Acc): void {
  a.nodes = s.nodes; a.values = s.values; a.all = s.all; a.interior = s.interior;
}

/** Tries to match `p` with root node `n`; checks that interior nodes are private to the match. */
export function matchAt(p: OpPattern, n: Node, ed: GraphEditor, env: MatchEnv = makeEnv(ed)): Match | undefined {
  const acc: Acc = { nodes: {}, values: {}, all: [], interior: [] };
  if (!matchNode(p, n, env, acc, true)) return undefined;
  const inMatch = new Set(acc.all.map((x) => x.name));
  for (const x of acc.interior) {
    for (const o of x.outputs) {
      if (o === '') continue;
      if (ed.isOutput(o)) return undefined;
      if (ed.consumersOf(o).some((c) => !inMatch.has(c.name))) return undefined;
    }
  }
  return { root: n, nodes: acc.nodes, values: acc.values, all: acc.all };
}

/** Options of {@link applyRules}. */
export interface RewriteOptions {
  /** Maximum number of sweeps before giving up (default 50). */
  readonly maxIterations?: number;
  /** Called after each successful rewrite (for debug logging). */
  readonly onRewrite?: (rule: string, root: Node) => void;
}

/** Applies rules to one editor until a fixed point. Returns the number of rewrites. */
export function rewriteEditor(ed: GraphEditor, rules: RuleSet, opts: RewriteOptions = {}): number {
  const cap = opts.maxIterations ?? 50;
  const env = makeEnv(ed);
  let total = 0;
  for (let iter = 0; ; iter++) {
    const fired = new Map<string, number>();
    const order = topoSort(ed.nodes.values(), (v) => ed.producerOf(v));
    for (const n of order) {
      if (ed.nodes.get(n.name) !== n) continue;
      for (const r of rules.candidates(n.op)) {
        const m = matchAt(r.pattern, n, ed, env);
        if (!m) continue;
        const created = new Set<string>();
        const rw: Rewriter = {
          ed,
          node: (op, inputs, attrs = {}, o = {}) => track(created, ed, ed.addNode(op, inputs, attrs as never, { name: o.name ?? n.name, ...(o.outputs ? { outputs: o.outputs } : {}), ...(o.types ? { types: o.types } : {}) })),
          constant: (t, base) => ed.addConstant(t, base ?? `${n.name}_const`),
        };
        const repl = r.rewrite(m, rw);
        if (!repl) continue;
        const missing = n.outputs.find((o, i) => o !== '' && repl[i] === undefined && ed.useCount(o) > 0);
        if (missing !== undefined) {
          throw new RewriteError(`rule '${r.name}' gave no replacement for output '${missing}' of node '${n.name}', which is still read`, n.name);
        }
        n.outputs.forEach((o, i) => { if (o !== '' && repl[i] !== undefined) ed.replaceUses(o, repl[i]!); });
        ed.removeNode(n);
        const made = repl[0] === undefined ? undefined : ed.producerOf(repl[0]);
        if (made && created.has(made.name) && !ed.nodes.has(n.name)) ed.renameNode(made.name, n.name);
        fired.set(r.name, (fired.get(r.name) ?? 0) + 1);
        total++;
        opts.onRewrite?.(r.name, n);
        break;
      }
    }
    if (fired.size === 0) return total;
    ed.removeDead();
    if (iter + 1 >= cap) {
      const list = [...fired].map(([k, v]) => `${k} ×${v}`).join(', ');
      throw new RewriteError(`rewrite did not converge after ${cap} sweeps; still firing: ${list}`);
    }
  }
}

/** Applies rules to a graph until a fixed point; returns a new graph (or `g` when nothing matched). */
export function rewrite(g: Graph, rules: RuleSet | readonly Rule[], opts: RewriteOptions = {}): Graph {
  const ed = new GraphEditor(g);
  const n = rewriteEditor(ed, rules instanceof RuleSet ? rules : new RuleSet(rules), opts);
  return n === 0 && ed.edits === 0 ? g : ed.finish();
}

function track(created: Set<string>, ed: GraphEditor, outs: string[]): string[] {
  const p = outs[0] === undefined ? undefined : ed.producerOf(outs[0]);
  if (p) created.add(p.name);
  return outs;
}
