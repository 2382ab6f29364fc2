/**
 * Op family: control flow — If, Loop and Scan (opset 9+ form). Each holds its
 * bodies as Graph attributes. A body reads outer-scope values through its
 * `captures`; the node lists those values as extra inputs after the op's own ones,
 * in attribute order (If: then_branch's captures, then else_branch's), so that the
 * enclosing graph's edges see them. The CPU reference runs the bodies with
 * {@link runGraphReference}.
 */
import { attr } from '../attrs.js';
import type { DType } from '../dtype.js';
import { DTypeError, DynamicRankError, ExecutionError, GraphError, KilnError, ShapeError } from '../errors.js';
import { Graph, type Node } from '../graph.js';
import { defineOp, findOp, getTrait, setTrait, traitKey, type InferInput, type TraitKey, type ValueType } from '../op.js';
import { runGraphReference } from '../reference.js';
import { PARTIAL_VALUES } from '../shape-values.js';
import { TypeEnv } from '../type-env.js';
import { formatShape, normalizeAxis, type Dim, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { asTensor, bareType, mergeValueTypes, tensorsOnly, type Value } from '../value.js';

/**
 * Types of a body's inputs, given the types of the node's own inputs and its raw
 * attributes (importers use it to type body inputs the model left untyped).
 */
export type BodyInputTypes = (attr: string, inputs: readonly (ValueType | undefined)[], attrs: Readonly<Record<string, unknown>>) => (ValueType | undefined)[] | undefined;

/** Trait: how an op types its body inputs (Loop, Scan). */
export const BODY_INPUT_TYPES: TraitKey<BodyInputTypes> = traitKey<BodyInputTypes>('control.bodyInputTypes');

/**
 * The one body a node will run, when its inputs decide that statically (If with a
 * constant condition), as the body attribute's name; undefined when not known.
 */
export type LiveBody = (inputs: readonly (InferInput | undefined)[], attrs: Readonly<Record<string, unknown>>) => string | undefined;

/**
 * Trait: which body runs, when known before running (If). The importer types the other
 * bodies too but lets them fail: a branch that cannot run may not type-check for these
 * input sizes (a Squeeze of an axis the condition just found not to be 1).
 */
export const LIVE_BODY: TraitKey<LiveBody> = traitKey<LiveBody>('control.liveBody');

/** Trait: the op holds bodies (control flow) that verify and the passes recurse into. */
export const HOLDS_BODIES: TraitKey<boolean> = traitKey<boolean>('control.holdsBodies');

/**
 * The bodies a control-flow node holds in its graph attributes, with the attribute
 * names (empty for other nodes: a Fused node's graph is its kernel's, not a body).
 */
export function bodiesOf(node: Pick<Node, 'op' | 'domain' | 'attrs'>): { readonly attr: string; readonly graph: Graph }[] {
  const def = findOp(node.op, node.domain);
  if (!def || !getTrait(def, HOLDS_BODIES)) return [];
  return Object.entries(node.attrs).filter((e): e is [string, Graph] => e[1] instanceof Graph).map(([attr, graph]) => ({ attr, graph }));
}

/**
 * Merges two types of one value: same dtype, dims kept where equal, fresh symbols elsewhere.
 * Different ranks are a DynamicRankError (the caller types the graph again once the
 * input sizes, and so the condition, are known).
 */
function mergeTypes(a: ValueType, b: ValueType, node: string, what: string, fresh: (t: string) => string): ValueType {
  return mergeValueTypes(a, b, node, what, fresh, (x, y) => mergeTensorTypes(x, y, node, what, fresh));
}

function mergeTensorTypes(a: ValueType, b: ValueType, node: string, what: string, fresh: (t: string) => string): ValueType {
  if (a.dtype !== b.dtype) throw new DTypeError(`${node}: ${what} is ${a.dtype} in one body and ${b.dtype} in the other`, node);
  if (a.shape.length !== b.shape.length) {
    throw new DynamicRankError(
      `${node}: ${what} has shape ${formatShape(a.shape)} in one branch and ${formatShape(b.shape)} in the other (different ranks), and the condition is not known from the input sizes`,
      node,
    );
  }
  return { dtype: a.dtype, shape: a.shape.map((d, i) => (d === b.shape[i] ? d : fresh(`${what}_${i}`))) };
}

/** Binds a body's captures to the tensors following the node's own inputs, starting at `offset`. */
function captureFeeds(g: Graph, extra: readonly (Value | undefined)[], offset: number, node: string): Map<string, Value> {
  const m = new Map<string, Value>();
  g.captures.forEach((c, i) => {
    const t = extra[offset + i];
    if (!t) throw new ExecutionError(`${node}: captured value '${c.name}' of body '${g.name}' is not bound`, node);
    m.set(c.name, t);
  });
  return m;
}

function boolScalar(v: Value | undefined, node: string, what: string): boolean {
  const t = v === undefined ? undefined : asTensor(v, node, what);
  if (!t || t.size !== 1) throw new ShapeError(`${node}: ${what} must be a single value, got ${t?.toString() ?? 'nothing'}`, node);
  return t.data[0] !== 0;
}

/** Tensor `t` with index `i` of `axis` taken (that axis removed). */
function sliceAxis(t: Tensor, axis: number, i: number): Tensor {
  const outer = t.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = t.shape[axis]!;
  const out = new Tensor(t.dtype, [...t.shape.slice(0, axis), ...t.shape.slice(axis + 1)]);
  for (let o = 0; o < outer; o++) out.data.set(t.data.subarray((o * n + i) * inner, (o * n + i + 1) * inner), o * inner);
  return out;
}

/** Stacks equally shaped parts along a new `axis`. `emptyShape` is the part shape used when there are none. */
function stackAxis(parts: readonly Tensor[], axis: number, dtype: DType, emptyShape: readonly number[], node: string): Tensor {
  const shape = parts[0]?.shape ?? emptyShape;
  for (const p of parts) {
    if (p.shape.join() !== shape.join()) throw new ShapeError(`${node}: scan output parts differ in shape (${formatShape(shape)} vs ${formatShape(p.shape)})`, node);
  }
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis).reduce((a, b) => a * b, 1);
  const n = parts.length;
  const out = new Tensor(dtype, [...shape.slice(0, axis), n, ...shape.slice(axis)]);
  parts.forEach((p, k) => {
    for (let o = 0; o < outer; o++) out.data.set(p.data.subarray(o * inner, (o + 1) * inner), (o * n + k) * inner);
  });
  return out;
}

function staticOr0(s: Shape): number[] {
  return s.map((d) => (typeof d === 'number' ? d : 0));
}

/** If: runs then_branch or else_branch on a boolean condition; outputs are the branch's. */
export const If = defineOp({
  name: 'If',
  inputs: ['cond', '...captures'],
  outputs: ['...outputs'],
  attrs: { then_branch: attr.graph(), else_branch: attr.graph() },
  category: 'opaque',
  multi: true,
  doc: 'Runs one of two subgraphs, chosen by a boolean scalar.',
  outputCount: (_ins, attrs) => (attrs.then_branch as Graph).outputs.length,
  infer([cond], ctx): ValueType[] {
    const t = ctx.attrs.then_branch as Graph;
    const e = ctx.attrs.else_branch as Graph;
    if (cond!.dtype !== 'bool') throw new DTypeError(`${ctx.node}: If condition must be bool, got ${cond!.dtype}`, ctx.node);
    if (t.outputs.length !== e.outputs.length) {
      throw new GraphError(`${ctx.node}: then_branch has ${t.outputs.length} outputs, else_branch ${e.outputs.length}`, ctx.node);
    }
    if (cond!.value) return (cond!.value.data[0] ? t : e).outputs.map(bareType);
    return t.outputs.map((o, i) => mergeTypes(o, e.outputs[i]!, ctx.node, `output ${i}`, ctx.fresh));
  },
  cpu(ins, ctx) {
    return tensorsOnly(runIf(ins, ctx.attrs, ctx.node), ctx.node);
  },
  run(ins, ctx) {
    return runIf(ins, ctx.attrs, ctx.node);
  },
});

/** Runs the branch of an If that its condition picks (the CPU reference, on values of any kind). */
function runIf([cond, ...extra]: readonly (Value | undefined)[], attrs: Readonly<Record<string, unknown>>, node: string): Value[] {
  const t = attrs.then_branch as Graph;
  const e = attrs.else_branch as Graph;
  const take = boolScalar(cond, node, 'cond');
  const g = take ? t : e;
  return runGraphReference(g, captureFeeds(g, extra, take ? 0 : t.captures.length, node));
}

/** Runs a Loop (the CPU reference): carried values may be sequences or optionals, scan outputs are tensors. */
function runLoop(ins: readonly (Value | undefined)[], body: Graph, node: string): Value[] {
  const n = body.inputs.length - 2;
  const [m, cond] = ins;
  const caps = captureFeeds(body, ins, body.inputs.length, node);
  let carried = ins.slice(2, 2 + n) as Value[];
  let go = cond ? boolScalar(cond, node, 'cond') : true;
  const max = m ? Number(asTensor(m, node, 'M').data[0]) : Infinity;
  const scans: Tensor[][] = body.outputs.slice(1 + n).map(() => []);
  for (let i = 0; go && i < max; i++) {
    const feeds = new Map(caps);
    feeds.set(body.inputs[0]!.name, Tensor.from('int64', [], [i]));
    feeds.set(body.inputs[1]!.name, Tensor.from('bool', [], [go ? 1 : 0]));
    body.inputs.slice(2).forEach((v, k) => feeds.set(v.name, carried[k]!));
    const outs = runGraphReference(body, feeds);
    go = boolScalar(outs[0], node, 'body condition');
    carried = outs.slice(1, 1 + n);
    outs.slice(1 + n).forEach((t, k) => scans[k]!.push(asTensor(t, node, `scan output ${k}`)));
  }
  return [
    ...carried.map((t) => (t instanceof Tensor ? new Tensor(t.dtype, t.shape, t.data.slice()) : t)),
    ...scans.map((parts, k) => {
      const o = body.outputs[1 + n + k]!;
      return stackAxis(parts, 0, o.dtype, staticOr0(o.shape), node);
    }),
  ];
}

/**
 * Loop: runs `body` while the trip count `M` is not reached and the condition holds.
 * Body: (iteration, cond, carried...) → (cond, carried..., scan outputs...); the scan
 * outputs are stacked along a new leading axis.
 */
export const Loop = defineOp({
  name: 'Loop',
  inputs: ['M?', 'cond?', '...v_initial'],
  outputs: ['...v_final_and_scan_outputs'],
  attrs: { body: attr.graph() },
  category: 'opaque',
  multi: true,
  doc: 'Runs a subgraph repeatedly, carrying values between iterations.',
  outputCount: (_ins, attrs) => (attrs.body as Graph).outputs.length - 1,
  infer(ins, ctx): ValueType[] {
    const body = ctx.attrs.body as Graph;
    const n = body.inputs.length - 2;
    if (n < 0 || body.outputs.length < n + 1) {
      throw new ShapeError(`${ctx.node}: Loop body needs 2 + N inputs and 1 + N + K outputs, has ${body.inputs.length} and ${body.outputs.length}`, ctx.node);
    }
    const [m, cond] = ins;
    if (m && m.dtype !== 'int64') throw new DTypeError(`${ctx.node}: Loop M must be int64, got ${m.dtype}`, ctx.node);
    if (cond && cond.dtype !== 'bool') throw new DTypeError(`${ctx.node}: Loop cond must be bool, got ${cond.dtype}`, ctx.node);
    const carried = ins.slice(2, 2 + n);
    if (carried.length !== n || carried.some((c) => !c)) throw new ShapeError(`${ctx.node}: Loop needs ${n} initial values for its body's carried inputs`, ctx.node);
    const outs: ValueType[] = carried.map((c, i) => mergeTypes(c!, body.outputs[1 + i]!, ctx.node, `carried ${i}`, ctx.fresh));
    const trips: Dim = m?.value && !cond ? Math.max(0, Number(m.value.data[0])) : ctx.fresh('trips');
    for (const s of body.outputs.slice(1 + n)) outs.push({ dtype: s.dtype, shape: [trips, ...s.shape] });
    return outs;
  },
  cpu(ins, ctx) {
    return tensorsOnly(runLoop(ins, ctx.attrs.body as Graph, ctx.node), ctx.node);
  },
  run(ins, ctx) {
    return runLoop(ins, ctx.attrs.body as Graph, ctx.node);
  },
});

setTrait(Loop, BODY_INPUT_TYPES, (_a, ins) => [{ dtype: 'int64', shape: [] }, { dtype: 'bool', shape: [] }, ...ins.slice(2)]);

function axesOf(given: readonly number[] | undefined, count: number, ranks: readonly number[], node: string): number[] {
  return Array.from({ length: count }, (_, i) => normalizeAxis(given?.[i] ?? 0, ranks[i]!, node));
}

/**
 * Scan (opset 9+): iterates `body` over slices of the scan inputs along their scan
 * axes, carrying N state values; body outputs past the states are stacked.
 */
export const Scan = defineOp({
  name: 'Scan',
  inputs: ['...initial_state_and_scan_inputs'],
  outputs: ['...final_state_and_scan_outputs'],
  attrs: {
    body: attr.graph(),
    num_scan_inputs: attr.int(undefined, (v) => (v >= 1 ? undefined : 'must be at least 1')),
    scan_input_axes: attr.optInts(),
    scan_input_directions: attr.optInts(),
    scan_output_axes: attr.optInts(),
    scan_output_directions: attr.optInts(),
  },
  category: 'opaque',
  multi: true,
  doc: 'Iterates a subgraph over slices of tensors, carrying state.',
  outputCount: (_ins, attrs) => (attrs.body as Graph).outputs.length,
  infer(ins, ctx): ValueType[] {
    const body = ctx.attrs.body as Graph;
    const m = ctx.attrs.num_scan_inputs;
    const n = body.inputs.length - m;
    const own = ins.slice(0, n + m) as InferInput[];
    if (n < 0 || own.length !== n + m || own.some((x) => !x)) throw new ShapeError(`${ctx.node}: Scan needs ${n + m} inputs for its body`, ctx.node);
    const scanIns = own.slice(n);
    const inAxes = axesOf(ctx.attrs.scan_input_axes, m, scanIns.map((s) => s.shape.length), ctx.node);
    const len: Dim = scanIns[0]!.shape[inAxes[0]!]!;
    const k = body.outputs.length - n;
    const outs: ValueType[] = own.slice(0, n).map((s, i) => mergeTypes(s, body.outputs[i]!, ctx.node, `state ${i}`, ctx.fresh));
    const outAxes = axesOf(ctx.attrs.scan_output_axes, k, body.outputs.slice(n).map((o) => o.shape.length + 1), ctx.node);
    body.outputs.slice(n).forEach((o, j) => {
      outs.push({ dtype: o.dtype, shape: [...o.shape.slice(0, outAxes[j]!), len, ...o.shape.slice(outAxes[j]!)] });
    });
    return outs;
  },
  cpu(ins, ctx) {
    const body = ctx.attrs.body as Graph;
    const m = ctx.attrs.num_scan_inputs;
    const n = body.inputs.length - m;
    const k = body.outputs.length - n;
    const caps = captureFeeds(body, ins, n + m, ctx.node);
    const scanIns = ins.slice(n, n + m) as Tensor[];
    const inAxes = axesOf(ctx.attrs.scan_input_axes, m, scanIns.map((s) => s.rank), ctx.node);
    const inDirs = ctx.attrs.scan_input_directions ?? [];
    const len = scanIns[0]!.shape[inAxes[0]!]!;
    scanIns.forEach((s, j) => {
      if (s.shape[inAxes[j]!] !== len) throw new ShapeError(`${ctx.node}: scan input ${j} has ${s.shape[inAxes[j]!]} steps, input 0 has ${len}`, ctx.node);
    });
    let state = ins.slice(0, n) as Tensor[];
    const run = (feeds: Map<string, Value>): Tensor[] => tensorsOnly(runGraphReference(body, feeds), ctx.node);
    const parts: Tensor[][] = Array.from({ length: k }, () => []);
    for (let t = 0; t < len; t++) {
      const feeds = new Map(caps);
      state.forEach((s, i) => feeds.set(body.inputs[i]!.name, s));
      scanIns.forEach((s, j) => feeds.set(body.inputs[n + j]!.name, sliceAxis(s, inAxes[j]!, inDirs[j] ? len - 1 - t : t)));
      const outs = run(feeds);
      state = outs.slice(0, n);
      outs.slice(n).forEach((o, j) => parts[j]!.push(o));
    }
    const outAxes = axesOf(ctx.attrs.scan_output_axes, k, body.outputs.slice(n).map((o) => o.shape.length + 1), ctx.node);
    const outDirs = ctx.attrs.scan_output_directions ?? [];
    return [
      ...state.map((t) => new Tensor(t.dtype, t.shape, t.data.slice())),
      ...parts.map((p, j) => {
        const o = body.outputs[n + j]!;
        return stackAxis(outDirs[j] ? [...p].reverse() : p, outAxes[j]!, o.dtype, staticOr0(o.shape), ctx.node);
      }),
    ];
  },
});

setTrait(Scan, BODY_INPUT_TYPES, (_a, ins, attrs) => {
  const m = Number(attrs.num_scan_inputs ?? 0);
  const n = ins.length - m;
  if (n < 0) return undefined;
  const axes = (attrs.scan_input_axes as readonly number[] | undefined) ?? [];
  return ins.map((t, i) => {
    if (!t || i < n) return t;
    const a = axes[i - n] ?? 0;
    const ax = a < 0 ? a + t.shape.length : a;
    return { dtype: t.dtype, shape: [...t.shape.slice(0, ax), ...t.shape.slice(ax + 1)] };
  });
});

for (const op of [If, Loop, Scan]) setTrait(op, HOLDS_BODIES, true);
setTrait(If, LIVE_BODY, ([cond]) => (cond?.value && cond.value.size === 1 ? (cond.value.data[0] ? 'then_branch' : 'else_branch') : undefined));
// With a known condition, the chosen branch's outputs that its known captures (and its
// own constants) decide are known too: a dim picked by an If on the input's rank
// (ONNX function expansions) keeps folding after it.
setTrait(If, PARTIAL_VALUES, (node, ins) => {
  const cond = ins[0]?.value;
  if (!cond || cond.size !== 1) return undefined;
  const then = node.attrs.then_branch as Graph;
  const take = cond.data[0] !== 0;
  const g = take ? then : (node.attrs.else_branch as Graph);
  const offset = take ? 1 : 1 + then.captures.length;
  const env = new TypeEnv();
  g.captures.forEach((c, i) => {
    const t = ins[offset + i];
    env.define(c.name, t ?? c, t?.value);
  });
  for (const i of g.inputs) env.define(i.name, i);
  for (const [k, t] of g.initializers) if (!env.types.has(k)) env.define(k, { dtype: t.dtype, shape: t.shape }, t);
  for (const n of g.topo) {
    if (n.inputs.some((v) => v !== '' && !env.types.has(v))) continue;
    try {
      env.addNode(n);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
    }
  }
  return g.outputs.map((o) => env.values.get(o.name));
});

/** The control-flow ops. */
export const controlOps = { If, Loop, Scan } as const;
