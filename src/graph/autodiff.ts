/**
 * Symbolic reverse-mode differentiation as a graph transformation (re-exported by
 * src/passes/autodiff.ts; here in the graph layer so that ONNX import can expand the
 * preview-training Gradient op with it).
 *
 * `gradients(graph, loss, wrt)` returns a new graph that computes the forward graph
 * and, as extra outputs, the gradient of `loss` with respect to each value of `wrt`
 * (graph inputs, initializers or intermediate values). The backward nodes are
 * ordinary graph nodes, so the result is optimized, fused and memory-planned like
 * any other graph.
 *
 * Algorithm: values reachable from `wrt` through floating-point values, and nodes
 * that lie between them and `loss`, are the active part. Walking the active nodes in
 * reverse topological order, each node's output gradients (contributions from every
 * reader, summed with Add) are handed to its op's declared gradient
 * (declared in the op's family file with declareGradient), which emits the input
 * gradients through a GraphBuilder seeded with the forward graph. Ops on the active
 * part without a gradient are collected and reported together in one
 * NoGradientError. The upstream gradient of `loss` is ones (the gradient of the sum
 * of its elements) unless `seed` names a value of the loss's shape.
 */
import { GraphBuilder, type Sym } from './builder.js';
import { FLOATS } from './dtype.js';
import { GraphError } from './errors.js';
import { GradientError, NoGradientError, gradientOf } from './gradient.js';
import type { Graph, Node } from './graph.js';
import { resolveAttrs } from './attrs.js';
import { opOf } from './infer.js';
import { zerosLike } from './ops/grad-util.js';
import { formatShape } from './shape.js';
import { Tensor } from './tensor.js';
import './ops/index.js';

/** A value, by name or by anything that carries its name (a builder Sym, a ValueInfo). */
export type ValueRef = string | { readonly name: string };

/** Options of {@link gradients}. */
export interface GradientsOptions {
  /** Output name of each gradient (default `<name>_grad`, made unique). */
  readonly names?: (wrt: string) => string;
  /** A value (usually a graph input) holding the upstream gradient of `loss`; default ones. */
  readonly seed?: ValueRef;
  /** Keep the forward graph's outputs before the gradients (default true). */
  readonly keepOutputs?: boolean;
}

/** Result of {@link gradients}. */
export interface GradientsResult {
  /** Forward + backward graph: the kept outputs, then one output per `wrt` value. */
  readonly graph: Graph;
  /** Output name of the gradient of each `wrt` value, by the value's name. */
  readonly grads: ReadonlyMap<string, string>;
}

const refName = (r: ValueRef): string => (typeof r === 'string' ? r : r.name);
const isFloat = (s: { dtype: string }): boolean => (FLOATS as readonly string[]).includes(s.dtype);

/**
 * Builds the gradient graph of `loss` with respect to `wrt` (see the file comment).
 * Throws NoGradientError listing every op without a gradient on the path, GraphError
 * for unknown or non-float values, GradientError when an op's gradient cannot handle
 * a node.
 */
export function gradients(graph: Graph, loss: ValueRef, wrt: readonly ValueRef[], opts: GradientsOptions = {}): GradientsResult {
  const lossName = refName(loss);
  const wrtNames = wrt.map(refName);
  const b = GraphBuilder.extend(graph);
  const lossSym = b.sym(lossName);
  if (!isFloat(lossSym)) throw new GraphError(`loss '${lossName}' must be a floating-point tensor, got ${lossSym.dtype}`, lossName);
  for (const w of wrtNames) {
    const s = b.sym(w);
    if (!isFloat(s)) throw new GraphError(`cannot differentiate with respect to '${w}': it is ${s.dtype}, not floating point`, w);
  }
  const order = graph.topo;

  // Values that depend on a wrt value (through float values only).
  const reach = new Set(wrtNames);
  for (const n of order) {
    if (!n.inputs.some((i) => i !== '' && reach.has(i))) continue;
    for (const o of n.outputs) if (o !== '' && isFloat(b.sym(o))) reach.add(o);
  }
  // Values the loss depends on.
  const need = new Set([lossName]);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (n.outputs.some((o) => need.has(o))) for (const i of n.inputs) if (i !== '') need.add(i);
  }

  const contribs = new Map<string, Sym[]>();
  const totals = new Map<string, Sym>();
  const add = (v: string, g: Sym): void => {
    const list = contribs.get(v);
    if (list) list.push(g);
    else contribs.set(v, [g]);
  };
  const total = (v: string): Sym | undefined => {
    const done = totals.get(v);
    if (done) return done;
    const list = contribs.get(v);
    if (!list) return undefined;
    let t = list[0]!;
    for (let i = 1; i < list.length; i++) t = b.Add([t, list[i]!]);
    totals.set(v, t);
    return t;
  };

  add(lossName, seedOf(b, lossSym, opts.seed));

  const active = (n: Node): boolean => n.outputs.some((o) => o !== '' && need.has(o) && reach.has(o));
  const missing = new Map<string, string[]>();
  for (const n of order) {
    const def = opOf(n);
    if (!active(n) || gradientOf(def)) continue;
    const key = def.domain ? `${def.domain}::${def.name}` : def.name;
    const nodes = missing.get(key);
    if (nodes) nodes.push(n.name);
    else missing.set(key, [n.name]);
  }
  if (missing.size) throw new NoGradientError([...missing].map(([op, nodes]) => ({ op, nodes })));

  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (!active(n)) continue;
    const grads = n.outputs.map((o) => (o === '' ? undefined : total(o)));
    if (grads.every((g) => g === undefined)) continue;
    const def = opOf(n);
    const gradient = gradientOf(def)!;
    const wants = (i: number): boolean => {
      const v = n.inputs[i];
      return v !== undefined && v !== '' && reach.has(v);
    };
    const attrs = resolveAttrs(def.attrs, n.attrs, n.name, def.name);
    const res = gradient({
      node: n.name,
      attrs,
      b,
      inputs: n.inputs.map((v) => (v === '' ? undefined : b.sym(v))),
      outputs: n.outputs.map((v) => (v === '' ? undefined : b.sym(v))),
      grads,
      wants,
    });
    n.inputs.forEach((v, i) => {
      const g = res[i];
      if (!g || !wants(i)) return;
      checkGrad(n, b.sym(v), g);
      add(v, g);
    });
  }
  const keep = opts.keepOutputs ?? true;
  const names = new Map<string, string>();
  const taken = new Set([...graph.inputs.map((i) => i.name), ...graph.initializers.keys(), ...order.flatMap((n) => [n.name, ...n.outputs])]);
  const gradSyms: Sym[] = [];
  for (const w of wrtNames) {
    if (names.has(w)) continue;
    let name = opts.names ? opts.names(w) : `${w}_grad`;
    if (!opts.names) for (let i = 1; taken.has(name) || b.isUsed(name); i++) name = `${w}_grad_${i}`;
    const g = total(w) ?? zerosLike(b, b.sym(w));
    b.output(g, name);
    names.set(w, name);
    gradSyms.push(g);
  }
  let out = b.build();
  const gradOutputs = out.outputs.slice(graph.outputs.length);
  out = out.with({ outputs: [...(keep ? out.outputs.slice(0, graph.outputs.length) : []), ...gradOutputs], meta: graph.meta });
  return { graph: out, grads: names };
}

function seedOf(b: GraphBuilder, loss: Sym, seed: ValueRef | undefined): Sym {
  if (seed !== undefined) {
    const s = b.sym(refName(seed));
    if (s.dtype !== loss.dtype || s.rank !== loss.rank) {
      throw new GraphError(`seed '${s.name}' must be ${loss.dtype}${formatShape(loss.shape)} like the loss, got ${s.dtype}${formatShape(s.shape)}`, s.name);
    }
    return s;
  }
  if (loss.shape.every((d) => typeof d === 'number')) {
    const shape = loss.shape as number[];
    return b.constant(Tensor.full(loss.dtype, shape, 1), { name: 'grad_seed' });
  }
  return b.ConstantOfShape([b.Shape([loss])], { value: Tensor.from(loss.dtype, [1], [1]) });
}

function checkGrad(n: Node, x: Sym, g: Sym): void {
  const ok = g.dtype === x.dtype && g.rank === x.rank
    && x.shape.every((d, i) => typeof d !== 'number' || typeof g.shape[i] !== 'number' || d === g.shape[i]);
  if (!ok) {
    throw new GradientError(`${n.name}: ${n.op}'s gradient for '${x.name}' is ${g.dtype}${formatShape(g.shape)}, expected ${x.dtype}${formatShape(x.shape)}`, n.name);
  }
}

/** The domain of ONNX's training ops (Gradient, the optimizers). */
const TRAINING = 'ai.onnx.preview.training';

/**
 * Replaces each ONNX `Gradient` node (domain ai.onnx.preview.training; attributes `xs`,
 * `y`) by the backward nodes of {@link gradients}: its outputs become the gradients of
 * `y` with respect to the values named in `xs`. The graph's outputs keep their order.
 */
export function expandGradientNodes(graph: Graph): Graph {
  let g = graph;
  for (;;) {
    const n = g.nodes.find((k) => k.op === 'Gradient' && k.domain === TRAINING);
    if (!n) return g;
    const xs = (n.attrs['xs'] as readonly string[] | undefined) ?? [];
    const y = n.attrs['y'] as string | undefined;
    if (!y || xs.length !== n.outputs.length) throw new GradientError(`${n.name}: Gradient needs attribute y and one output per name in xs`, n.name);
    const outs = new Set(n.outputs);
    if (g.nodes.some((k) => k !== n && k.inputs.some((i) => outs.has(i)))) {
      throw new GradientError(`${n.name}: Gradient outputs read by other nodes are not supported yet (only graph outputs)`, n.name);
    }
    const forward = g.with({ nodes: g.nodes.filter((k) => k !== n), outputs: g.outputs.filter((o) => !outs.has(o.name)) });
    const named = new Map(xs.map((x, i) => [x, n.outputs[i]!]));
    const { graph: withGrads } = gradients(forward, y, xs, { names: (w) => named.get(w)! });
    const byName = new Map(withGrads.outputs.map((o) => [o.name, o]));
    g = withGrads.with({ outputs: g.outputs.map((o) => byName.get(o.name) ?? o) });
  }
}
