/**
 * ONNX ModelProto → Kiln Graph.
 *
 * 1. Decode with onnx-proto; any protobuf failure is a ModelFormatError.
 * 2. Decode initializers (every encoding, external files relative to `baseDir`),
 *    graph inputs (initializers listed as inputs stay initializers; `dim_param`
 *    becomes a symbolic dim, a missing dim a fresh symbolic one) and attributes.
 * 3. Order the nodes topologically and map each through the op table
 *    (ops-table.ts): a 1:1 registry op, or a short expansion. Every unsupported op is
 *    collected first and reported in one UnsupportedOpError.
 * 4. Infer every value's type with the registry (TypeEnv); the importer has no
 *    shape logic of its own. ONNX value names and node names are kept for display;
 *    empty or duplicate node names get generated unique ones.
 */
import type { AttrValue } from '../src/graph/attrs.js';
import type { DType } from '../src/graph/dtype.js';
import { expandGradientNodes } from '../src/graph/autodiff.js';
import { GraphError, KilnError, ModelFormatError, UnsupportedOpError } from '../src/graph/errors.js';
import { Graph, type Node, type ValueInfo } from '../src/graph/graph.js';
import { findOp, getTrait, type ValueType } from '../src/graph/op.js';
import { BODY_INPUT_TYPES, LIVE_BODY } from '../src/graph/ops/control.js';
import type { Dim, Shape } from '../src/graph/shape.js';
import { Tensor } from '../src/graph/tensor.js';
import { TypeEnv } from '../src/graph/type-env.js';
import { CycleError, topoSort } from '../src/graph/topo.js';
import '../src/graph/ops/index.js';
import { bareType, isTensorType, sequenceType } from '../src/graph/value.js';
import { attrsFromProto, PendingSubgraph } from './attributes.js';
import { containerTypeFromProto, dimsFromProto } from './value-types.js';
import { findMapping, GLOBAL_DROPPED_ATTRS, type Emitter, type OnnxNode, type OpMapping } from './ops-table.js';
import { onnx, type pb } from './proto.js';
import { dtypeFromOnnx, longToNumber, ONNX_DTYPE, tensorFromProto, type TensorDecodeOptions } from './tensor-proto.js';
import { path, readFileSync } from './node-io.js';

/** Options of the importer. */
export interface ImportOptions extends TensorDecodeOptions {
  /** Shapes for graph inputs whose model type has no shape (unknown rank); for a sequence input, its elements' shape. */
  readonly inputShapes?: Readonly<Record<string, Shape>>;
  /**
   * Replace shape-only nodes (Shape, Size) of statically shaped values by Constant
   * nodes (same name and output), so that every consumer, including a backend's
   * own verification, sees static shapes downstream. Default true.
   */
  readonly foldStaticShapes?: boolean;
  /**
   * Values to bind graph inputs to: each becomes an initializer and leaves the
   * input list (used to fix inputs that decide shapes, such as Reshape's shape).
   */
  readonly constantInputs?: Readonly<Record<string, Tensor>>;
  /**
   * Sizes for symbolic dims of the graph inputs (a `dim_param` name, or the
   * `<input>_dim<i>` name Kiln gives a dim the model left unnamed), substituted before
   * types are inferred, so that shape computations, and the conditions of If nodes on
   * them, become static. The session uses it to type a model per set of input sizes.
   */
  readonly dims?: Readonly<Record<string, number>>;
}

/** Decodes ModelProto bytes; protobuf failures become a ModelFormatError naming `where`. */
export function decodeModel(bytes: Uint8Array, where = 'model'): pb.ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ModelFormatError(`${where}: not a valid ONNX model (${(e as Error).message})`, where);
  }
}

/** Imports a model from bytes. Errors are always KilnErrors (never raw exceptions). */
export function importModel(bytes: Uint8Array, opts: ImportOptions = {}, where = 'model'): Graph {
  return guardFormat(where, () => graphFromModel(decodeModel(bytes, where), opts));
}

/** Imports a model file; external data is resolved relative to its directory. */
export function importModelFile(file: string, opts: ImportOptions = {}): Graph {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  return importModel(bytes, { baseDir: path.dirname(file), ...opts }, file);
}

/** Runs `f`, turning any non-Kiln exception into a ModelFormatError naming `where`. */
export function guardFormat<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new ModelFormatError(`${where}: malformed model (${(e as Error).message})`, where);
  }
}

/** Opset version per domain ('' for the default domain). */
export function opsetsOf(model: pb.IModelProto): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of model.opsetImport ?? []) {
    const d = o.domain === 'ai.onnx' ? '' : o.domain ?? '';
    m.set(d, longToNumber(o.version));
  }
  return m;
}

const SUPPORTED_CODES = new Set(Object.values(ONNX_DTYPE));

/** Why a graph input/output cannot be represented (sequence, optional, map, string tensor...), or undefined. */
export function portProblem(v: pb.IValueInfoProto): string | undefined {
  const t = v.type as pb.TypeProto | null | undefined;
  if (!t) return undefined;
  // An empty TypeProto (no kind set) is a value the model left untyped: it is inferred.
  if (!t.tensorType) {
    try {
      if (containerTypeFromProto(t, v.name ?? '')) return undefined;
    } catch (e) {
      if (e instanceof UnsupportedOpError) return e.ops[0]!.op;
      throw e;
    }
    return t.value ? `graph value of type ${t.value}` : undefined;
  }
  const code = t.tensorType.elemType ?? 0;
  if (!SUPPORTED_CODES.has(code)) {
    try {
      dtypeFromOnnx(code, v.name ?? '');
    } catch (e) {
      if (e instanceof UnsupportedOpError) return e.ops[0]!.op;
      throw e;
    }
  }
  return undefined;
}

/** Every graph input and output that is not a supported tensor, as unsupported-op entries. */
export function nonTensorPorts(model: pb.IModelProto): { op: string; nodes: string[] }[] {
  const out: { op: string; nodes: string[] }[] = [];
  for (const v of [...(model.graph?.input ?? []), ...(model.graph?.output ?? [])]) {
    const p = portProblem(v);
    if (p) out.push({ op: p, nodes: [v.name ?? ''] });
  }
  return out;
}

/** The type with each symbolic dim named in `dims` replaced by its size. */
function bindInputDims(t: ValueType, dims: Readonly<Record<string, number>> | undefined): ValueType {
  if (!dims || !isTensorType(t)) return t;
  return { dtype: t.dtype, shape: t.shape.map((d) => (typeof d === 'string' && dims[d] !== undefined ? dims[d]! : d)) };
}

/**
 * The graph inputs and outputs a model declares (inputs that are initializers left out),
 * typed as {@link importModel} types them, without importing its nodes. Outputs the model
 * left without a shape get rank 0 here.
 *
 * @param bytes the serialized ModelProto.
 * @param opts `inputShapes` for inputs without a shape.
 * @param where the model's name in error messages.
 * @returns the declared inputs and outputs.
 */
export function modelSignature(bytes: Uint8Array, opts: ImportOptions = {}, where = 'model'): { inputs: ValueInfo[]; outputs: ValueInfo[] } {
  return guardFormat(where, () => {
    const g = decodeModel(bytes, where).graph;
    if (!g) throw new ModelFormatError('model has no graph');
    const inits = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
    const inputs = (g.input ?? []).filter((v) => !inits.has(v.name ?? '')).map((v) => ({ name: v.name ?? '', ...valueInfoType(v, opts.inputShapes?.[v.name ?? '']) }));
    const outputs = (g.output ?? []).map((v) => ({ name: v.name ?? '', ...valueInfoType(v, []) }));
    return { inputs, outputs };
  });
}

function valueInfoType(v: pb.IValueInfoProto, override: Shape | undefined): ValueType {
  const name = v.name ?? '';
  const container = v.type ? containerTypeFromProto(v.type, name) : undefined;
  // A sequence whose element shape the model leaves out takes `override` as its elements' shape.
  if (container) return isTensorType(container) || container.kind !== 'sequence' || container.elem || !override ? container : sequenceType(container.dtype, override);
  const tt = v.type?.tensorType;
  if (!tt) throw new ModelFormatError(`graph input '${name}' has no type`, name);
  const dtype: DType = dtypeFromOnnx(tt.elemType ?? 0, name);
  if (!tt.shape) {
    if (override) return { dtype, shape: override };
    throw new ModelFormatError(`graph input '${name}' has no shape (unknown rank); pass inputShapes`, name);
  }
  return { dtype, shape: dimsFromProto(tt.shape, name) };
}

/**
 * A TypeEnv that also records the shape-only nodes (Shape, Size) whose values it
 * computed from static input shapes (foldShapeOnly), so that the importer can
 * replace them by Constant nodes (option `foldStaticShapes`).
 */
class ImportEnv extends TypeEnv {
  /** Shape-only nodes whose value was computed from static shapes alone. */
  readonly folded = new Map<string, Tensor[]>();

  override addNode(node: Node): ValueType[] {
    const outs = super.addNode(node);
    if (!findOp(node.op, node.domain)?.shapeOnly) return outs;
    const values = node.outputs.map((o) => this.values.get(o));
    if (values.every((v) => v !== undefined)) this.folded.set(node.name, values as Tensor[]);
    return outs;
  }
}

/** Collects unsupported ops (op label → node names) so they can all be reported at once. */
class UnsupportedList {
  private readonly byOp = new Map<string, string[]>();
  add(op: string, node: string): void {
    const l = this.byOp.get(op);
    if (l) l.push(node);
    else this.byOp.set(op, [node]);
  }
  addError(e: UnsupportedOpError): void {
    for (const o of e.ops) for (const n of o.nodes) this.add(o.op, n);
  }
  throwIfAny(): void {
    if (this.byOp.size) throw new UnsupportedOpError([...this.byOp].map(([op, nodes]) => ({ op, nodes })));
  }
}

function uniqueNamer(taken: Set<string>): (base: string) => string {
  return (base) => {
    let n = base;
    for (let k = 1; taken.has(n); k++) n = `${base}_${k}`;
    taken.add(n);
    return n;
  };
}

/** Orders nodes so that each comes after the producers of its inputs (stable). */
function topoOrder(nodes: readonly OnnxNode[], defined: ReadonlySet<string>): OnnxNode[] {
  const producer = new Map<string, OnnxNode>();
  nodes.forEach((n) => n.outputs.forEach((o) => {
    if (o === '') return;
    if (producer.has(o) || defined.has(o)) throw new ModelFormatError(`value '${o}' is produced twice (node '${n.name}')`, n.name);
    producer.set(o, n);
  }));
  try {
    return topoSort(nodes, (v, reader) => {
      if (defined.has(v)) return undefined;
      const p = producer.get(v);
      if (p === undefined) throw new ModelFormatError(`node '${reader.name}' (${reader.op}) reads '${v}', which no input, initializer or node defines`, reader.name);
      return p;
    });
  } catch (e) {
    if (e instanceof CycleError) throw new ModelFormatError(`cycle through node '${e.node.name}' (${e.node.op})`, e.node.name);
    throw e;
  }
}

function applyAttrRules(m: OpMapping | undefined, attrs: Readonly<Record<string, AttrValue>>): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = { ...(m?.defaults ?? {}) };
  for (const [k, v] of Object.entries(attrs)) {
    if (GLOBAL_DROPPED_ATTRS.includes(k) || m?.drop?.includes(k)) continue;
    out[m?.rename?.[k] ?? k] = v;
  }
  return out;
}

/** Types and known values of an enclosing graph, for resolving a subgraph's outer references. */
interface Scope {
  readonly types: ReadonlyMap<string, ValueType>;
  readonly values: ReadonlyMap<string, Tensor>;
  readonly outer: Scope | undefined;
}

function lookupScope(scope: Scope | undefined, name: string): { type: ValueType; value: Tensor | undefined } | undefined {
  for (let s = scope; s; s = s.outer) {
    const type = s.types.get(name);
    if (type) return { type, value: s.values.get(name) };
  }
  return undefined;
}

function scopeNames(scope: Scope | undefined): Set<string> {
  const out = new Set<string>();
  for (let s = scope; s; s = s.outer) for (const k of s.types.keys()) out.add(k);
  return out;
}

/** Converts a decoded ModelProto into a Graph. */
export function graphFromModel(model: pb.IModelProto, opts: ImportOptions = {}): Graph {
  const g = model.graph;
  if (!g) throw new ModelFormatError('model has no graph');
  const opsets = opsetsOf(model);
  // ONNX's Gradient op (preview training domain) becomes the backward nodes of the graph.
  return expandGradientNodes(convertGraph(g, opsets, opts, undefined, undefined)).with({
    meta: {
      producer: `${model.producerName ?? ''}${model.producerVersion ? ` ${model.producerVersion}` : ''}`.trim(),
      opset: opsets.get('') ?? 0,
      irVersion: longToNumber(model.irVersion),
    },
  });
}

/**
 * Converts one GraphProto: the model's main graph (`outer` undefined) or a subgraph of a
 * node, whose reads of values it does not define resolve by name in `outer` and become
 * its captures. `hints` types subgraph inputs the model left without a shape.
 */
function convertGraph(g: pb.IGraphProto, opsets: ReadonlyMap<string, number>, opts: ImportOptions, outer: Scope | undefined, hints: readonly (ValueType | undefined)[] | undefined): Graph {
  const unsupported = new UnsupportedList();
  const top = outer === undefined;

  const initializers = new Map<string, Tensor>();
  // Initializers Kiln cannot decode (e.g. an unknown dtype) are reported as unsupported,
  // and still count as defined so their readers are not reported as dangling.
  const undecodable = new Set<string>();
  for (const t of g.initializer ?? []) {
    if (!t.name) throw new ModelFormatError('an initializer has no name');
    try {
      initializers.set(t.name, tensorFromProto(t, t.name, opts));
    } catch (e) {
      if (!(e instanceof UnsupportedOpError)) throw e;
      unsupported.addError(e);
      undecodable.add(t.name);
    }
  }
  if (top) for (const [name, t] of Object.entries(opts.constantInputs ?? {})) initializers.set(name, t);
  if ((g.sparseInitializer ?? []).length) unsupported.add('sparse initializer', g.name ?? 'graph');

  const inputs: ValueInfo[] = [];
  for (const v of g.input ?? []) {
    const name = v.name ?? '';
    if (name === '') throw new ModelFormatError('a graph input has no name');
    if (initializers.has(name)) continue;
    const problem = portProblem(v);
    const hint = hints?.[inputs.length];
    if (problem) unsupported.add(problem, name);
    else if (!top && hint && !v.type?.tensorType?.shape) inputs.push({ name, ...bareType(hint) });
    else inputs.push({ name, ...bindInputDims(valueInfoType(v, top ? opts.inputShapes?.[name] : hint?.shape), top ? opts.dims : undefined) });
  }
  for (const v of g.output ?? []) {
    const problem = portProblem(v);
    if (problem) unsupported.add(problem, v.name ?? '');
  }

  const outerNames = scopeNames(outer);
  const taken = new Set<string>([...inputs.map((i) => i.name), ...initializers.keys(), ...outerNames]);
  for (const n of g.node ?? []) for (const o of [...(n.output ?? []), ...(n.input ?? [])]) if (o) taken.add(o);
  const valueName = uniqueNamer(taken);
  const nodeName = uniqueNamer(new Set<string>());

  const onnxNodes: OnnxNode[] = [];
  for (const [i, n] of (g.node ?? []).entries()) {
    const op = n.opType ?? '';
    if (op === '') throw new ModelFormatError(`node #${i} has no op type`);
    const name = nodeName(n.name || `${op}_${i}`);
    const domain = n.domain === 'ai.onnx' ? '' : n.domain ?? '';
    let attrs: Record<string, AttrValue> = {};
    try {
      attrs = attrsFromProto(n.attribute ?? [], name, op, opts);
    } catch (e) {
      if (!(e instanceof UnsupportedOpError)) throw e;
      unsupported.addError(e);
    }
    const outputs = [...(n.output ?? [])];
    while (outputs.length && outputs[outputs.length - 1] === '') outputs.pop();
    onnxNodes.push({ name, op, domain, inputs: [...(n.input ?? [])], outputs, attrs });
  }
  const defined = new Set<string>([...inputs.map((i) => i.name), ...initializers.keys()]);
  for (const v of g.input ?? []) if (v.name) defined.add(v.name);
  for (const name of undecodable) defined.add(name);
  for (const name of outerNames) defined.add(name);
  const order = topoOrder(onnxNodes, defined);

  const kilnNodes: Node[] = [];
  for (const n of order) {
    const opset = opsets.get(n.domain) ?? 1;
    const m = findMapping(n.op, n.domain, opset);
    const reason = m?.unsupported?.(n);
    if (reason) {
      unsupported.add(reason, n.name);
      continue;
    }
    const emitted: Node[] = [];
    const emitter: Emitter = {
      opset,
      node(op, ins, attrs = {}, outs, count = 1) {
        const outputs = outs ? [...outs] : Array.from({ length: count }, () => valueName(`${n.name}/${op}`));
        const domain = op === n.op ? n.domain : '';
        emitted.push({ name: emitted.length === 0 && !m?.emit ? n.name : nodeName(`${n.name}/${op}`), op, domain, inputs: [...ins], outputs, attrs: { ...attrs } });
        return outputs;
      },
      constant(t, hint) {
        const name = valueName(hint ?? `${n.name}/const`);
        initializers.set(name, t);
        return name;
      },
    };
    try {
      const attrs = applyAttrRules(m, n.attrs);
      if (m?.emit) m.emit({ ...n, attrs }, emitter);
      else emitter.node(m?.as ?? n.op, n.inputs, attrs, n.outputs);
    } catch (e) {
      if (!(e instanceof UnsupportedOpError)) throw e;
      unsupported.addError(e);
      continue;
    }
    const missing = [...new Set(emitted.filter((k) => !findOp(k.op, k.domain)).map((k) => (k.domain ? `${k.domain}::${k.op}` : k.op)))];
    if (missing.length) {
      const label = n.domain ? `${n.domain}::${n.op}` : n.op;
      unsupported.add(missing.length === 1 && missing[0] === label ? label : `${label} (needs ${missing.join(', ')})`, n.name);
      continue;
    }
    if (emitted.length === 1 && m?.emit) emitted[0] = { ...emitted[0]!, name: n.name };
    kilnNodes.push(...emitted);
  }
  unsupported.throwIfAny();

  const env = new ImportEnv();
  for (const i of inputs) env.define(i.name, i);
  for (const [name, t] of initializers) env.define(name, { dtype: t.dtype, shape: t.shape }, t);
  const valueTypes = new Map<string, ValueType>();
  const captures: ValueInfo[] = [];
  const capture = (name: string): ValueType | undefined => {
    const found = lookupScope(outer, name);
    if (!found) return undefined;
    captures.push({ name, ...bareType(found.type) });
    env.define(name, found.type, found.value);
    return found.type;
  };
  for (const [k, plain] of kilnNodes.entries()) {
    const node = convertSubgraphs(plain, env, outer, opsets, opts);
    kilnNodes[k] = node;
    for (const i of node.inputs) if (i !== '' && !env.types.has(i)) capture(i);
    let outs: ValueType[];
    try {
      outs = env.addNode(node);
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw new GraphError(`${node.name}: ${node.op} failed during type inference: ${(e as Error).message}`, node.name);
    }
    node.outputs.forEach((o, k) => {
      if (o !== '' && outs[k]) valueTypes.set(o, outs[k]!);
    });
  }

  const nodes = opts.foldStaticShapes === false
    ? kilnNodes
    : kilnNodes.map((n) => {
      const v = env.folded.get(n.name);
      return v && n.outputs.length === 1 ? { ...n, op: 'Constant', domain: '', inputs: [], attrs: { value: v[0]! } } : n;
    });

  const outputs: ValueInfo[] = (g.output ?? []).map((v) => {
    const name = v.name ?? '';
    const t = env.types.get(name) ?? capture(name);
    if (!t) throw new ModelFormatError(`graph output '${name}' is not produced by any node, input or initializer`, name);
    return { name, ...bareType(t) };
  });

  return Graph.create({ name: g.name || (top ? 'model' : 'subgraph'), inputs, outputs, nodes, initializers, valueTypes, captures });
}

/**
 * Converts a node's pending GRAPH attributes (in its op's attribute order) into
 * Graphs in the scope of `env`, and appends each body's captures to the node's
 * inputs, so the enclosing graph sees those reads.
 */
function convertSubgraphs(node: Node, env: TypeEnv, outer: Scope | undefined, opsets: ReadonlyMap<string, number>, opts: ImportOptions): Node {
  const pending = Object.entries(node.attrs).filter((e): e is [string, PendingSubgraph] => e[1] instanceof PendingSubgraph);
  if (!pending.length) return node;
  const def = findOp(node.op, node.domain);
  const order = def ? Object.keys(def.attrs) : [];
  pending.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
  const scope: Scope = { types: env.types, values: env.values, outer };
  const hintsOf = def ? getTrait(def, BODY_INPUT_TYPES) : undefined;
  const attrs: Record<string, AttrValue> = { ...node.attrs };
  const inputs = [...node.inputs];
  const ins = node.inputs.map((i) => env.input(i));
  const convert = (name: string, p: PendingSubgraph): Graph => convertGraph(p.proto, opsets, opts, scope, hintsOf?.(name, ins, node.attrs));
  // A body that cannot run here (the other branch of an If whose condition is known) may
  // not type-check for these sizes; it then stands in as a copy of the body that runs,
  // which leaves the node's result unchanged (and fold-if inlines that body anyway).
  const liveName = def ? getTrait(def, LIVE_BODY)?.(ins, node.attrs) : undefined;
  const livePending = pending.find(([name]) => name === liveName);
  const live = livePending ? convert(livePending[0], livePending[1]) : undefined;
  for (const [name, p] of pending) {
    let body: Graph;
    if (name === liveName && live) body = live;
    else if (!live) body = convert(name, p);
    else {
      try {
        body = convert(name, p);
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        body = live;
      }
    }
    attrs[name] = body;
    inputs.push(...body.captures.map((c) => c.name));
  }
  return { ...node, attrs, inputs };
}
