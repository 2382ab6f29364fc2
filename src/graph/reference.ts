/**
 * Running one op with its CPU reference implementation. Elementwise ops that give
 * only an expression are evaluated here with numpy-style broadcasting. Outputs are
 * coerced to their dtype (float16 rounding, integer truncation).
 */
import { coerce, isWideStorage, storageClass, type DType } from './dtype.js';
import { DTypeError, ExecutionError, KilnError, LimitError } from './errors.js';
import { compileExprJs, E, type Expr } from './expr.js';
import type { Graph, Node } from './graph.js';
import { checkArity, opContext, opOf } from './infer.js';
import type { InferInput, ValueType } from './op.js';
import { runStringProxy, stringProxyOutputs, stringProxyTypes } from './string-movement.js';
import { broadcastShapes, checkDims, isStatic, sizeOf, stridesOf, type ConcreteShape } from './shape.js';
import { Tensor } from './tensor.js';
import { formatType, isTensorType, tensorsOnly, typeOfValue, type Value } from './value.js';

/** Broadcast strides of `shape` inside `out` (0 where broadcast). */
export function broadcastStrides(shape: ConcreteShape, out: ConcreteShape): number[] {
  const st = stridesOf(shape);
  const off = out.length - shape.length;
  return out.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : st[i - off]!));
}

/** Evaluates a scalar function of broadcast inputs elementwise. */
export function mapBroadcast(
  inputs: readonly Tensor[],
  outDtype: DType,
  f: (vals: ArrayLike<number>) => number,
  node = 'elementwise',
): Tensor {
  const outShape = broadcastShapes(inputs.map((t) => t.shape), node) as number[];
  const out = new Tensor(outDtype, outShape);
  const n = out.size;
  const k = inputs.length;
  const vals = new Float64Array(k);
  const datas = inputs.map((t) => t.data);
  if (inputs.every((t) => t.size === n)) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) vals[j] = datas[j]![i]!;
      out.data[i] = f(vals);
    }
    return out;
  }
  const rank = outShape.length;
  const strides = inputs.map((t) => broadcastStrides(t.shape, outShape));
  const idx = new Array<number>(rank).fill(0);
  const offs = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) vals[j] = datas[j]![offs[j]!]!;
    out.data[i] = f(vals);
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      for (let j = 0; j < k; j++) offs[j]! += strides[j]![a]!;
      if (idx[a]! < outShape[a]!) break;
      for (let j = 0; j < k; j++) offs[j]! -= strides[j]![a]! * outShape[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

function coerceAll(t: Tensor): Tensor {
  if (isWideStorage(t.dtype)) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = coerce(t.dtype, d[i]!);
  }
  return t;
}

/** Largest CPU tensor the reference allocates by default (2 GiB). */
export const DEFAULT_MAX_TENSOR_BYTES = 2 ** 31;

/** Options of {@link runReference}. */
export interface ReferenceOptions {
  /** Largest output tensor, in bytes of CPU storage, a node may allocate (LimitError beyond). */
  readonly maxTensorBytes?: number;
}

function checkBudget(node: Node, outputs: readonly ValueType[], maxBytes: number): void {
  for (const o of outputs) {
    if (!isTensorType(o)) continue;
    checkDims(o.shape, node.name);
    if (!isStatic(o.shape)) continue;
    const bytes = sizeOf(o.shape) * storageClass(o.dtype).BYTES_PER_ELEMENT;
    if (bytes > maxBytes) {
      throw new LimitError(`${node.name}: ${node.op} would allocate ${bytes} bytes for a ${o.dtype}[${o.shape.join(',')}] output, more than the limit of ${maxBytes}`, node.name);
    }
  }
}

/**
 * Runs a node on concrete input tensors with the op's CPU reference. Output types
 * are inferred from the actual inputs (so symbolic dims resolve).
 */
export function runReference(node: Node, inputs: readonly (Tensor | undefined)[], opts: ReferenceOptions = {}): Tensor[] {
  const def = opOf(node);
  checkArity(def, node);
  const ctx = opContext(def, node);
  const infoOf = (ts: readonly (Tensor | undefined)[]): (InferInput | undefined)[] => ts.map((t) => (t ? { dtype: t.dtype, shape: t.shape, value: t } : undefined));
  const infos = infoOf(inputs);
  // Strings through an element-moving op run on index tensors (string-movement.ts).
  const proxy = stringProxyTypes(def, infos, node.name);
  const outputs: ValueType[] = proxy ? stringProxyOutputs(def.infer(proxy, ctx)) : def.infer(infos, ctx);
  checkBudget(node, outputs, opts.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES);
  const compute = (ins: readonly (Tensor | undefined)[], outs: readonly ValueType[]): Tensor[] => {
    if (def.cpu) return def.cpu(ins, { ...ctx, outputs: outs });
    // An op on sequences/optionals, here given tensors only: its results must be tensors too.
    if (def.run && !def.expr) return tensorsOnly(def.run(ins, { ...ctx, outputs: outs }), node.name);
    if (def.expr) {
      const present = ins.filter((t): t is Tensor => t !== undefined);
      const outT = outs[0]!;
      let k = 0;
      const positional = ins.map((t) => (t ? E.input(k++, t.dtype) : undefined)) as Expr[];
      const e = def.expr(positional, ctx.attrs, outT.dtype);
      return [mapBroadcast(present, outT.dtype, compileExprJs(e), node.name)];
    }
    throw new ExecutionError(`${node.name}: ${def.name} has no CPU implementation`, node.name);
  };
  return checkedResults(node, def.name, outputs, () =>
    (proxy ? runStringProxy(def, inputs, (ins) => compute(ins, def.infer(infoOf(ins), ctx))) : undefined) ?? compute(inputs, outputs));
}

/**
 * Runs `compute` for a node and checks each tensor it returns against the inferred
 * output type (size) before coercing it; an error that is not a KilnError becomes an
 * ExecutionError naming the node.
 */
function checkedResults<T extends Value>(node: Node, op: string, outputs: readonly ValueType[], compute: () => T[]): T[] {
  try {
    const result = compute();
    result.forEach((t, i) => {
      if (!(t instanceof Tensor)) return;
      const want = outputs[i];
      if (want && isTensorType(want) && isStatic(want.shape) && sizeOf(want.shape) !== t.size) {
        throw new ExecutionError(`${node.name}: ${op} produced ${t} but inference said ${want.dtype}[${want.shape.join(',')}]`, node.name);
      }
      coerceAll(t);
    });
    return result;
  } catch (e) {
    // A tensor refusing string elements the op cannot carry: name the node.
    if (e instanceof DTypeError && e.where === undefined) throw new DTypeError(`${node.name}: ${op}: ${e.message}`, node.name);
    if (e instanceof KilnError) throw e;
    throw new ExecutionError(`${node.name}: ${op} failed: ${(e as Error).message}`, node.name);
  }
}

/**
 * Runs a node on runtime values of any kind (tensors, sequences, absent optionals):
 * with the op's `run` when it has one, else with {@link runReference}, which takes
 * tensors only (a sequence given to a tensor op is an ExecutionError naming the node).
 */
export function runValueReference(node: Node, inputs: readonly (Value | undefined)[], opts: ReferenceOptions = {}): Value[] {
  const def = opOf(node);
  if (!def.run) {
    const bad = inputs.find((v) => v !== undefined && !(v instanceof Tensor));
    if (bad) throw new ExecutionError(`${node.name}: ${def.name} takes tensors, got ${formatType(typeOfValue(bad))}`, node.name);
    return runReference(node, inputs as readonly (Tensor | undefined)[], opts);
  }
  checkArity(def, node);
  const ctx = opContext(def, node);
  const infos = inputs.map((v) => (v === undefined ? undefined : v instanceof Tensor ? { dtype: v.dtype, shape: v.shape, value: v } : typeOfValue(v)));
  const outputs: ValueType[] = def.infer(infos, ctx);
  checkBudget(node, outputs, opts.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES);
  const run = def.run;
  return checkedResults(node, def.name, outputs, () => run(inputs, { ...ctx, outputs }));
}

/**
 * Runs a whole graph (typically a subgraph of If, Loop, Scan or SequenceMap) with the
 * CPU reference, node by node in topological order. `feeds` maps the graph's input and
 * capture names to values; initializers are its own. Returns its outputs in order.
 */
export function runGraphReference(g: Graph, feeds: ReadonlyMap<string, Value>, opts: ReferenceOptions = {}): Value[] {
  const env = new Map<string, Value>(g.initializers);
  for (const [k, t] of feeds) env.set(k, t);
  for (const v of [...g.inputs, ...g.captures]) {
    if (!env.has(v.name)) throw new ExecutionError(`subgraph '${g.name}': no value bound to '${v.name}'`, v.name);
  }
  for (const node of g.topo) {
    const ins = node.inputs.map((v) => {
      if (v === '') return undefined;
      const t = env.get(v);
      if (!t) throw new ExecutionError(`${node.name}: input '${v}' is not available`, node.name);
      return t;
    });
    const outs = runValueReference(node, ins, opts);
    node.outputs.forEach((o, k) => {
      if (o !== '' && outs[k]) env.set(o, outs[k]!);
    });
  }
  return g.outputs.map((o) => {
    const t = env.get(o.name);
    if (!t) throw new ExecutionError(`subgraph '${g.name}': output '${o.name}' was not computed`, o.name);
    return t;
  });
}
