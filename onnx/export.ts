/**
 * Kiln Graph → ONNX ModelProto (opset 17, IR version 8).
 *
 * - Initializers are written as little-endian `raw_data`.
 * - Attribute kinds come from each op's attribute schema (src/graph/attrs.ts).
 * - `Fused` nodes (from the optimizer) are expanded back into the nodes of their
 *   sub-graph (attribute `graph`), with internal values renamed under the node's name.
 * - Ops whose registry form accepts an older attribute form are written in their
 *   opset-17 form, by a declarative table (export-table.ts): attributes that became
 *   inputs are written as constant inputs, opset-18 attributes at their defaults
 *   are left out, deprecated ops are rewritten (Upsample → Resize).
 */
import type { AttrKind, AttrValue } from '../src/graph/attrs.js';
import { GraphError } from '../src/graph/errors.js';
import { Graph, type Node, type ValueInfo } from '../src/graph/graph.js';
import { findOp, type ValueType } from '../src/graph/op.js';
import type { Shape } from '../src/graph/shape.js';
import { Tensor } from '../src/graph/tensor.js';
import '../src/graph/ops/index.js';
import { lowerForExport, type ExportNode } from './export-table.js';
import { onnx, type pb } from './proto.js';
import { ONNX_DTYPE, tensorToProto } from './tensor-proto.js';

/** Options of {@link exportModel}. */
export interface ExportOptions {
  /** Default-domain opset to declare (default 17). */
  readonly opset?: number;
  /** producer_name (default 'kiln'). */
  readonly producer?: string;
}

/** The opset written by default. */
export const EXPORT_OPSET = 17;
/** The IR version written. */
export const EXPORT_IR_VERSION = 8;

const A = onnx.AttributeProto.AttributeType;
const utf8 = new TextEncoder();

function typeProto(dtype: ValueType['dtype'], shape: Shape): pb.ITypeProto {
  return {
    tensorType: {
      elemType: ONNX_DTYPE[dtype],
      shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  };
}

function valueInfo(name: string, t: ValueType): pb.IValueInfoProto {
  return { name, type: typeProto(t.dtype, t.shape) };
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
function attrProto(name: string, v: AttrValue, kind: AttrKind, where: string): pb.IAttributeProto | undefined {
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
      return { name, type: A.GRAPH, g: graphProto(v, `${where}.${name}`) };
  }
}

function nodeProto(n: ExportNode): pb.INodeProto {
  const def = findOp(n.op, n.domain);
  const attribute: pb.IAttributeProto[] = [];
  for (const [k, v] of Object.entries(n.attrs)) {
    const a = attrProto(k, v, def?.attrs[k]?.kind ?? guessKind(v), n.name);
    if (a) attribute.push(a);
  }
  return { name: n.name, opType: n.op, domain: n.domain, input: [...n.inputs], output: [...n.outputs], attribute };
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

function graphProto(g: Graph, where: string): pb.IGraphProto {
  const initializers = new Map(g.initializers);
  const types = new Map(g.valueTypes);
  const expanded = expandFused(g.topo, initializers, types);
  const nodes = lowerForExport(expanded, initializers, (v) => types.get(v) ?? g.inputs.find((i) => i.name === v) ?? initializers.get(v));
  const outputNames = new Set(g.outputs.map((o) => o.name));
  const inputNames = new Set(g.inputs.map((o) => o.name));
  const valueInfos: pb.IValueInfoProto[] = [];
  for (const n of nodes) {
    for (const o of n.outputs) {
      const t = types.get(o);
      if (o !== '' && t && !outputNames.has(o) && !inputNames.has(o)) valueInfos.push(valueInfo(o, t));
    }
  }
  const port = (v: ValueInfo): pb.IValueInfoProto => valueInfo(v.name, v);
  if (nodes.some((n) => n.op === '')) throw new GraphError(`${where}: node without an op`);
  return {
    name: g.name,
    node: nodes.map(nodeProto),
    initializer: [...initializers].map(([k, t]) => tensorToProto(t, k)),
    input: g.inputs.map(port),
    output: g.outputs.map(port),
    valueInfo: valueInfos,
  };
}

/** Builds the ModelProto of a graph. */
export function modelToProto(g: Graph, opts: ExportOptions = {}): pb.ModelProto {
  return onnx.ModelProto.create({
    irVersion: EXPORT_IR_VERSION,
    producerName: opts.producer ?? 'kiln',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: opts.opset ?? EXPORT_OPSET }],
    graph: graphProto(g, g.name),
  });
}

/** Serializes a graph as ONNX model bytes. */
export function exportModel(g: Graph, opts: ExportOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(modelToProto(g, opts)).finish();
}
