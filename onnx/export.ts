/**
 * Kiln Graph → ONNX ModelProto (opset 17 unless a node needs a newer one, IR version 8).
 *
 * - Initializers are written as little-endian `raw_data`.
 * - Attribute kinds come from each op's attribute schema (src/graph/attrs.ts).
 * - `Fused` nodes (from the optimizer) are expanded back into the nodes of their
 *   sub-graph (attribute `graph`), with internal values renamed under the node's name.
 * - Ops whose registry form accepts an older attribute form are written in their
 *   opset-17 form, by a declarative table (export-table.ts): attributes that became
 *   inputs are written as constant inputs, opset-18 attributes at their defaults
 *   are left out, deprecated ops are rewritten (Upsample → Resize).
 * - Ops newer than the declared opset are written decomposed (Gelu → Div/Erf/Add/Mul);
 *   one with no older equivalent (BitwiseAnd) raises the declared opset to its own,
 *   unless the caller fixed the opset (then a GraphError names the node).
 * - `value_info` states only what holds for every input the graph accepts: the
 *   types are inferred again on the nodes as written, and a value is described only
 *   where that agrees with the graph's own type (dtype and rank); numeric dims are
 *   written where both agree, the graph inputs' symbolic dims as `dim_param`, and
 *   dims that inference invented (named after a node, which export renames) as
 *   unknown. Graph outputs follow the same rule for their dims.
 */
import type { AttrKind, AttrValue } from '../src/graph/attrs.js';
import { GraphError, KilnError } from '../src/graph/errors.js';
import { Graph, type Node, type ValueInfo } from '../src/graph/graph.js';
import { findOp, type ValueType } from '../src/graph/op.js';
import { bodiesOf } from '../src/graph/ops/control.js';
import type { Dim, Shape } from '../src/graph/shape.js';
import { Tensor } from '../src/graph/tensor.js';
import { TypeEnv } from '../src/graph/type-env.js';
import '../src/graph/ops/index.js';
import { lowerForExport, requiredOpset, type ExportNode } from './export-table.js';
import { onnx, type pb } from './proto.js';
import { tensorToProto } from './tensor-proto.js';
import { tensorTypeProto, typeToProto, type StatedDim } from './value-types.js';
import { isTensorType } from '../src/graph/value.js';
import { onnxSinceOf, type DType } from '../src/graph/dtype.js';

/** Options of {@link exportModel}. */
export interface ExportOptions {
  /**
   * Default-domain opset to declare, 17 to 21 (default: 17, or the opset the
   * newest node without an older equivalent needs). Newer ops are decomposed.
   */
  readonly opset?: number;
  /** producer_name (default 'kiln'). */
  readonly producer?: string;
}

/** The opset written by default. */
export const EXPORT_OPSET = 17;
/** The newest opset the exporter writes the forms of. */
export const MAX_EXPORT_OPSET = 21;
/** The IR version written (or newer where an element type needs it: float8 9, int4/uint4 10). */
export const EXPORT_IR_VERSION = 8;

const A = onnx.AttributeProto.AttributeType;
const utf8 = new TextEncoder();


function valueInfo(name: string, t: { dtype: ValueType['dtype']; shape: readonly StatedDim[] }, full?: ValueType, symbols: ReadonlySet<string> = new Set()): pb.IValueInfoProto {
  if (full && !isTensorType(full)) return { name, type: typeToProto(full, undefined, symbols) };
  return { name, type: tensorTypeProto(t.dtype, t.shape) };
}

/**
 * Types inferred again on the nodes as written (decomposed, lowered), from the
 * graph's inputs and initializers. A node whose inputs are not all typed, or whose
 * inference fails, leaves its outputs untyped.
 */
function reinfer(g: Graph, nodes: readonly Node[], initializers: ReadonlyMap<string, Tensor>): TypeEnv {
  const env = new TypeEnv();
  for (const i of [...g.inputs, ...g.captures]) env.define(i.name, i);
  for (const [k, t] of initializers) env.define(k, { dtype: t.dtype, shape: t.shape }, t);
  for (const n of nodes) {
    if (n.inputs.some((v) => v !== '' && !env.types.has(v))) continue;
    try {
      env.addNode(n);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
    }
  }
  return env;
}

/**
 * The dims of a value that hold exactly: where the graph's type `t` and the
 * re-inferred `r` agree, numbers as numbers and the graph inputs' symbols as
 * symbols; anything else unknown. Undefined when dtype or rank disagree.
 */
function statedShape(t: ValueType, r: ValueType | undefined, symbols: ReadonlySet<string>): StatedDim[] | undefined {
  if (!r) return t.shape.map((d) => (typeof d === 'number' || symbols.has(d) ? d : null));
  if (r.dtype !== t.dtype || r.shape.length !== t.shape.length) return undefined;
  return t.shape.map((d, i) => (d === r.shape[i] && (typeof d === 'number' || symbols.has(d)) ? d : null));
}

function guessKind(v: AttrValue): AttrKind {
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'string';
  if (v instanceof Tensor) return 'tensor';
  if (v instanceof Graph) return 'graph';
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return 'strings';
    return v.every((x) => Number.isInteger(x)) ? 'ints' : 'floats';
  }
  return 'graph';
}

/** Encodes one attribute, or undefined when it cannot be written (a non-Graph `graph` value). */
function attrProto(name: string, v: AttrValue, kind: AttrKind, where: string, opset: number): pb.IAttributeProto | undefined {
  switch (kind) {
    case 'int': return { name, type: A.INT, i: v as number };
    case 'float': return { name, type: A.FLOAT, f: v as number };
    case 'string': return { name, type: A.STRING, s: utf8.encode(v as string) };
    case 'ints': return { name, type: A.INTS, ints: [...(v as number[])] };
    case 'floats': return { name, type: A.FLOATS, floats: [...(v as number[])] };
    case 'strings': return { name, type: A.STRINGS, strings: (v as string[]).map((s) => utf8.encode(s)) };
    case 'tensor': return { name, type: A.TENSOR, t: tensorToProto(v as Tensor, '') };
    case 'graph':
      if (!(v instanceof Graph)) return undefined;
      return { name, type: A.GRAPH, g: graphProto(v, `${where}.${name}`, opset) };
    case 'type': return { name, type: A.TYPE_PROTO, tp: typeToProto(v as ValueType, undefined, new Set()) };
  }
}

/**
 * A body whose captures read the outer values `names` (the node's capture inputs):
 * ONNX binds outer references by name, so captures renamed in the enclosing graph
 * are renamed inside the body too.
 */
function bindCaptures(body: Graph, names: readonly string[]): Graph {
  if (body.captures.every((c, i) => c.name === names[i])) return body;
  const m = new Map(body.captures.map((c, i) => [c.name, names[i]!]));
  const r = (v: string): string => m.get(v) ?? v;
  return body.with({
    captures: body.captures.map((c) => ({ ...c, name: r(c.name) })),
    nodes: body.nodes.map((x) => ({ ...x, inputs: x.inputs.map(r) })),
    outputs: body.outputs.map((o) => ({ ...o, name: r(o.name) })),
  });
}

function nodeProto(n: ExportNode, opset: number): pb.INodeProto {
  const def = findOp(n.op, n.domain);
  const attribute: pb.IAttributeProto[] = [];
  // A control-flow node lists its bodies' captures after its own inputs; ONNX reads them by name instead.
  const bodies = bodiesOf(n);
  let offset = n.inputs.length - bodies.reduce((k, b) => k + b.graph.captures.length, 0);
  const own = offset;
  const attrs: Record<string, AttrValue> = { ...n.attrs };
  for (const { attr, graph } of bodies) {
    attrs[attr] = bindCaptures(graph, n.inputs.slice(offset, offset + graph.captures.length));
    offset += graph.captures.length;
  }
  for (const [k, v] of Object.entries(attrs)) {
    const a = attrProto(k, v, def?.attrs[k]?.kind ?? guessKind(v), n.name, opset);
    if (a) attribute.push(a);
  }
  return { name: n.name, opType: n.op, domain: n.domain, input: n.inputs.slice(0, own), output: [...n.outputs], attribute };
}

/**
 * Replaces every `Fused` node by its sub-graph's nodes: sub-graph inputs and
 * outputs become the node's, internal values and sub-graph initializers are
 * renamed `<node>/<name>`. Applied recursively.
 */
export function expandFused(nodes: readonly Node[], initializers: Map<string, Tensor>, types: Map<string, ValueType>): Node[] {
  const out: Node[] = [];
  for (const n of nodes) {
    const sub = n.op === 'Fused' ? n.attrs.graph : undefined;
    if (!(sub instanceof Graph)) {
      out.push(n);
      continue;
    }
    const rename = new Map<string, string>();
    sub.inputs.forEach((vi, i) => rename.set(vi.name, n.inputs[i] ?? ''));
    sub.outputs.forEach((vo, i) => rename.set(vo.name, n.outputs[i] ?? ''));
    const local = (v: string): string => {
      if (v === '') return '';
      let r = rename.get(v);
      if (r === undefined) {
        r = `${n.name}/${v}`;
        rename.set(v, r);
      }
      return r;
    };
    for (const [k, t] of sub.initializers) if (!rename.has(k)) initializers.set(local(k), t);
    for (const [k, t] of sub.valueTypes) types.set(local(k), t);
    const inner = sub.topo.map((m) => ({ ...m, name: `${n.name}/${m.name}`, inputs: m.inputs.map(local), outputs: m.outputs.map(local) }));
    out.push(...expandFused(inner, initializers, types));
  }
  return out;
}

/** A graph's nodes as written before lowering: Fused groups expanded; `initializers` and `types` gain their contents. */
function expandedNodes(g: Graph, initializers: Map<string, Tensor>, types: Map<string, ValueType>): { nodes: Node[]; typeOf: (v: string) => ValueType | undefined } {
  const nodes = expandFused(g.topo, initializers, types);
  return { nodes, typeOf: (v) => types.get(v) ?? g.inputs.find((i) => i.name === v) ?? initializers.get(v) };
}

function graphProto(g: Graph, where: string, opset: number): pb.IGraphProto {
  const initializers = new Map(g.initializers);
  const types = new Map(g.valueTypes);
  const { nodes: expanded, typeOf } = expandedNodes(g, initializers, types);
  const nodes = lowerForExport(expanded, initializers, typeOf, opset);
  if (nodes.some((n) => n.op === '')) throw new GraphError(`${where}: node without an op`);
  const outputNames = new Set(g.outputs.map((o) => o.name));
  const inputNames = new Set(g.inputs.map((o) => o.name));
  const symbols = new Set(g.inputs.flatMap((i) => [...i.shape, ...(i.elem?.shape ?? []), ...(i.elem?.elem?.shape ?? [])].filter((d): d is string => typeof d === 'string')));
  const env = reinfer(g, nodes, initializers);
  const valueInfos: pb.IValueInfoProto[] = [];
  for (const n of nodes) {
    for (const o of n.outputs) {
      const t = types.get(o);
      if (o === '' || !t || outputNames.has(o) || inputNames.has(o)) continue;
      if (!isTensorType(t)) {
        valueInfos.push(valueInfo(o, t, t, symbols));
        continue;
      }
      const shape = statedShape(t, env.types.get(o), symbols);
      if (shape) valueInfos.push(valueInfo(o, { dtype: t.dtype, shape }));
    }
  }
  const output = (v: ValueInfo): pb.IValueInfoProto => {
    if (!isTensorType(v)) return valueInfo(v.name, v, v, symbols);
    const r = env.types.get(v.name);
    return valueInfo(v.name, { dtype: v.dtype, shape: statedShape(v, r?.dtype === v.dtype ? r : undefined, symbols) ?? v.shape.map(() => null) });
  };
  return {
    name: g.name,
    node: nodes.map((n) => nodeProto(n, opset)),
    initializer: [...initializers].map(([k, t]) => tensorToProto(t, k)),
    input: g.inputs.map((v) => valueInfo(v.name, v, v, symbols)),
    output: g.outputs.map(output),
    valueInfo: valueInfos,
  };
}

/**
 * The newest element type of a graph's values (inputs, outputs, initializers and
 * inferred values, bodies included): the IR version and opset it needs (float8: IR 9,
 * opset 19; int4/uint4: IR 10, opset 21), and the value that needs them.
 */
export function dtypeNeeds(g: Graph): { ir: number; opset: number; value?: string } {
  let need: { ir: number; opset: number; value?: string } = { ir: 3, opset: 1 };
  const see = (name: string, dtype: DType | undefined): void => {
    if (dtype === undefined) return;
    const s = onnxSinceOf(dtype);
    if (s.opset > need.opset || s.ir > need.ir) need = { ir: Math.max(s.ir, need.ir), opset: Math.max(s.opset, need.opset), value: name };
  };
  const walk = (h: Graph): void => {
    for (const v of [...h.inputs, ...h.outputs]) if (isTensorType(v)) see(v.name, v.dtype);
    for (const [name, t] of h.initializers) see(name, t.dtype);
    for (const [name, t] of h.valueTypes) if (isTensorType(t)) see(name, t.dtype);
    for (const n of h.nodes) for (const b of bodiesOf(n)) walk(b.graph);
  };
  walk(g);
  return need;
}

/**
 * The default-domain opset a graph is written at: `opts.opset` when given (17 to
 * {@link MAX_EXPORT_OPSET}), else 17 or what its newest node without an older
 * equivalent, or its newest element type (float8: 19, int4/uint4: 21), needs.
 * A given opset older than an element type throws a GraphError naming the value.
 */
export function exportOpset(g: Graph, opts: ExportOptions = {}): number {
  const types = dtypeNeeds(g);
  if (opts.opset !== undefined) {
    if (!Number.isInteger(opts.opset) || opts.opset < EXPORT_OPSET || opts.opset > MAX_EXPORT_OPSET) {
      throw new GraphError(`${g.name}: cannot export at opset ${opts.opset}; Kiln writes opsets ${EXPORT_OPSET} to ${MAX_EXPORT_OPSET}`);
    }
    if (opts.opset < types.opset) throw new GraphError(`${g.name}: cannot export at opset ${opts.opset}: value '${types.value}' has a type introduced in opset ${types.opset}`, types.value);
    return opts.opset;
  }
  const { nodes, typeOf } = expandedNodes(g, new Map(g.initializers), new Map(g.valueTypes));
  return Math.max(requiredOpset(nodes, typeOf, EXPORT_OPSET), types.opset);
}

/**
 * The opset an op of a non-default domain needs when written in Kiln's (newest)
 * attribute form; ops not listed need version 1. The domain is declared at the
 * largest version its written nodes need.
 */
const DOMAIN_OP_OPSET: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  // ai.onnx.ml: the tree ensembles' *_as_tensor attributes came in ml opset 3; TreeEnsemble in 5;
  // LabelEncoder's tensor attributes (and non-string key/value pairs) in 4.
  'ai.onnx.ml': { TreeEnsembleRegressor: 3, TreeEnsembleClassifier: 3, TreeEnsemble: 5, LabelEncoder: 4 },
};

/** The non-default domains the written nodes use, sub-graphs included, with the opset each needs. */
function domainsOf(gp: pb.IGraphProto, out = new Map<string, number>()): Map<string, number> {
  for (const n of gp.node ?? []) {
    if (n.domain && n.domain !== 'ai.onnx') out.set(n.domain, Math.max(out.get(n.domain) ?? 1, DOMAIN_OP_OPSET[n.domain]?.[n.opType ?? ''] ?? 1));
    for (const a of n.attribute ?? []) if (a.g) domainsOf(a.g, out);
  }
  return out;
}

/** Builds the ModelProto of a graph. Non-default domains are declared at the version their nodes need (com.microsoft: 1; ai.onnx.ml: see DOMAIN_OP_OPSET). */
export function modelToProto(g: Graph, opts: ExportOptions = {}): pb.ModelProto {
  const opset = exportOpset(g, opts);
  const graph = graphProto(g, g.name, opset);
  return onnx.ModelProto.create({
    irVersion: Math.max(EXPORT_IR_VERSION, dtypeNeeds(g).ir),
    producerName: opts.producer ?? 'kiln',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: opset }, ...[...domainsOf(graph)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([domain, version]) => ({ domain, version }))],
    graph,
  });
}

/** Serializes a graph as ONNX model bytes. */
export function exportModel(g: Graph, opts: ExportOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(modelToProto(g, opts)).finish();
}
