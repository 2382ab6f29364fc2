/**
 * Kiln's own graph format: a JSON document plus one binary blob of weights.
 *
 * The JSON holds the structure — graph name and metadata, inputs and outputs with
 * dtypes and (symbolic) shapes, nodes with their attributes, initializers, and the
 * stored type of every node output. Tensors (initializers and tensor attributes)
 * are references `{ dtype, shape, offset, bytes }` into the weights blob, which
 * holds each tensor's CPU storage (see dtype.ts: float16 as float32, int64 as
 * float64) verbatim, little-endian, each tensor aligned to 8 bytes; a string
 * tensor's elements are inline in its reference (`strings`). Nested graphs
 * (`graph` attributes, e.g. the body of a `Fused` node) are stored inline and share
 * the blob. A tensor object reachable twice is stored once.
 *
 * Attribute values are tagged so that the round trip is exact: numbers that JSON
 * cannot hold (NaN, ±Infinity, -0) are written as strings under tag `num`.
 *
 * Loading validates every field and every blob range and throws a
 * {@link ModelFormatError} naming the JSON path of the first problem.
 */
import type { AttrValue } from './attrs.js';
import { isDType, storageClass, type DType } from './dtype.js';
import { GraphError, ModelFormatError } from './errors.js';
import { Graph, type Node, type ValueInfo } from './graph.js';
import type { ValueKind, ValueType } from './op.js';
import { checkDims, sizeOf, type Dim, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

/** The `format` field of every Kiln graph document. */
export const GRAPH_FORMAT = 'kiln-graph';
/** The current format version; loading rejects any other. */
export const GRAPH_FORMAT_VERSION = 1;

/** A serialized graph: the JSON text and the weights blob it refers to. */
export interface SavedGraph {
  readonly json: string;
  readonly weights: Uint8Array;
}

interface TensorRef { dtype: DType; shape: number[]; offset: number; bytes: number; strings?: string[] }
type JsonNum = number | string;
type AttrJson =
  | { t: 'num'; v: JsonNum }
  | { t: 'nums'; v: JsonNum[] }
  | { t: 'str'; v: string }
  | { t: 'strs'; v: string[] }
  | { t: 'tensor'; v: TensorRef }
  | { t: 'graph'; v: GraphJson }
  | { t: 'type'; v: ValueJson };
interface ValueJson { name: string; dtype: DType; shape: Dim[]; kind?: ValueKind; elem?: ValueJson; length?: number }
interface NodeJson { name: string; op: string; domain: string; inputs: string[]; outputs: string[]; attrs: Record<string, AttrJson> }
interface GraphJson {
  name: string;
  meta: Record<string, string | number>;
  inputs: ValueJson[];
  outputs: ValueJson[];
  nodes: NodeJson[];
  initializers: { name: string; tensor: TensorRef }[];
  valueTypes: ValueJson[];
}
interface DocJson { format: string; version: number; weightsBytes: number; graph: GraphJson }

const ALIGN = 8;

/**
 * True for a Graph. Also accepts a Graph from a second copy of this module (a test
 * runner may load a module once through require and once through import), so it
 * checks the shape of the object rather than `instanceof` alone.
 */
export function isGraph(v: unknown): v is Graph {
  if (v instanceof Graph) return true;
  const o = v as Partial<Graph> | null;
  return typeof o === 'object' && o !== null && Array.isArray(o.nodes) && Array.isArray(o.inputs) && Array.isArray(o.outputs)
    && o.initializers instanceof Map && o.valueTypes instanceof Map && typeof o.name === 'string';
}

/** True for a Tensor (from any copy of tensor.ts; see {@link isGraph}). */
export function isTensor(v: unknown): v is Tensor {
  if (v instanceof Tensor) return true;
  const o = v as Partial<Tensor> | null;
  return typeof o === 'object' && o !== null && typeof o.dtype === 'string' && Array.isArray(o.shape) && ArrayBuffer.isView(o.data);
}

function encodeNum(x: number): JsonNum {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return x;
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

class Writer {
  private readonly chunks: { offset: number; bytes: Uint8Array }[] = [];
  private size = 0;
  private readonly seen = new Map<Tensor, TensorRef>();

  tensor(t: Tensor): TensorRef {
    const known = this.seen.get(t);
    if (known) return known;
    if (t.strings) {
      // String tensors are written inline in the JSON (the blob holds numeric storage only).
      const sref: TensorRef = { dtype: t.dtype, shape: [...t.shape], offset: 0, bytes: 0, strings: [...t.strings] };
      this.seen.set(t, sref);
      return sref;
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const offset = Math.ceil(this.size / ALIGN) * ALIGN;
    this.chunks.push({ offset, bytes });
    this.size = offset + bytes.byteLength;
    const ref: TensorRef = { dtype: t.dtype, shape: [...t.shape], offset, bytes: bytes.byteLength };
    this.seen.set(t, ref);
    return ref;
  }

  blob(): Uint8Array {
    const out = new Uint8Array(this.size);
    for (const c of this.chunks) out.set(c.bytes, c.offset);
    return out;
  }

  value(v: ValueInfo | (ValueType & { name: string })): ValueJson {
    const out: ValueJson = { name: v.name, dtype: v.dtype, shape: [...v.shape] };
    if (v.kind) out.kind = v.kind;
    if (v.elem) out.elem = this.value({ name: '', ...v.elem });
    if (v.length !== undefined) out.length = v.length;
    return out;
  }

  attr(node: string, key: string, v: AttrValue): AttrJson {
    if (typeof v === 'number') return { t: 'num', v: encodeNum(v) };
    if (typeof v === 'string') return { t: 'str', v };
    if (isTensor(v)) return { t: 'tensor', v: this.tensor(v) };
    if (isGraph(v)) return { t: 'graph', v: this.graph(v) };
    if (Array.isArray(v)) {
      if (v.every((x) => typeof x === 'string')) return v.length ? { t: 'strs', v: [...(v as string[])] } : { t: 'nums', v: [] };
      if (v.every((x) => typeof x === 'number')) return { t: 'nums', v: (v as number[]).map(encodeNum) };
    }
    if (typeof v === 'object' && 'dtype' in v && 'shape' in v) return { t: 'type', v: this.value({ name: '', ...(v as ValueType) }) };
    throw new GraphError(`node '${node}': attribute '${key}' holds a value Kiln cannot save (${Object.prototype.toString.call(v)})`, node);
  }

  graph(g: Graph): GraphJson {
    return {
      name: g.name,
      meta: { ...g.meta },
      inputs: g.inputs.map((i) => this.value(i)),
      outputs: g.outputs.map((o) => this.value(o)),
      nodes: g.nodes.map((n) => ({
        name: n.name,
        op: n.op,
        domain: n.domain,
        inputs: [...n.inputs],
        outputs: [...n.outputs],
        attrs: Object.fromEntries(Object.entries(n.attrs).map(([k, a]) => [k, this.attr(n.name, k, a)])),
      })),
      initializers: [...g.initializers].map(([name, t]) => ({ name, tensor: this.tensor(t) })),
      valueTypes: [...g.valueTypes].map(([name, t]) => this.value({ name, ...t })),
    };
  }
}

/**
 * Serializes a graph losslessly: dtypes, symbolic dims, attributes (tensors and
 * nested graphs included), initializers, stored value types and metadata.
 * Throws a GraphError naming the node if an attribute holds an unsupported value.
 */
export function saveGraph(graph: Graph): SavedGraph {
  if (!isLittleEndian()) throw new GraphError('saving graphs needs a little-endian host');
  const w = new Writer();
  const g = w.graph(graph);
  const weights = w.blob();
  const doc: DocJson = { format: GRAPH_FORMAT, version: GRAPH_FORMAT_VERSION, weightsBytes: weights.byteLength, graph: g };
  return { json: JSON.stringify(doc), weights };
}

/** Validating reader of the JSON document; every error names the JSON path. */
class Reader {
  private readonly loaded = new Map<string, Tensor>();
  constructor(private readonly weights: Uint8Array) {}

  fail(path: string, what: string): never {
    throw new ModelFormatError(`graph JSON: ${path}: ${what}`, path);
  }

  obj(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'must be an object');
    return v as Record<string, unknown>;
  }

  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'must be an array');
    return v;
  }

  str(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    return v;
  }

  int(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(path, 'must be a non-negative integer');
    return v;
  }

  num(v: unknown, path: string): number {
    if (typeof v === 'number') return v;
    const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
    if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(special, v)) return special[v]!;
    this.fail(path, 'must be a number');
  }

  dtype(v: unknown, path: string): DType {
    const s = this.str(v, path);
    if (!isDType(s)) this.fail(path, `unknown dtype '${s}'`);
    return s;
  }

  shape(v: unknown, path: string): Dim[] {
    const dims = this.arr(v, path).map((d, i) => (typeof d === 'string' ? d : this.int(d, `${path}[${i}]`)));
    try {
      checkDims(dims, path);
    } catch (e) {
      this.fail(path, (e as Error).message);
    }
    return dims;
  }

  value(v: unknown, path: string): ValueJson {
    const o = this.obj(v, path);
    const out: ValueJson = { name: this.str(o.name, `${path}.name`), dtype: this.dtype(o.dtype, `${path}.dtype`), shape: this.shape(o.shape, `${path}.shape`) };
    if (o.kind !== undefined) {
      if (o.kind !== 'tensor' && o.kind !== 'sequence' && o.kind !== 'optional') this.fail(`${path}.kind`, `unknown value kind '${String(o.kind)}'`);
      out.kind = o.kind;
    }
    if (o.elem !== undefined) out.elem = this.value(o.elem, `${path}.elem`);
    if (o.length !== undefined) out.length = this.num(o.length, `${path}.length`);
    return out;
  }

  /** A ValueJson as a named value info. */
  info(j: ValueJson): ValueInfo {
    return { name: j.name, ...this.type(j) };
  }

  /** A ValueJson as a type (no name; element types likewise). */
  type(j: ValueJson): ValueType {
    const t: ValueType = { dtype: j.dtype, shape: j.shape as Shape };
    if (!j.kind) return t;
    return { ...t, kind: j.kind, elem: j.elem ? this.type(j.elem) : undefined, ...(j.length !== undefined ? { length: j.length } : {}) };
  }

  tensor(v: unknown, path: string): Tensor {
    const o = this.obj(v, path);
    const dtype = this.dtype(o.dtype, `${path}.dtype`);
    const shape = this.shape(o.shape, `${path}.shape`);
    if (shape.some((d) => typeof d !== 'number')) this.fail(`${path}.shape`, 'a tensor needs numeric dims');
    const dims = shape as number[];
    if (dtype === 'string') {
      const list = o.strings;
      if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) this.fail(`${path}.strings`, 'a string tensor needs its elements as a string array');
      if ((list as string[]).length !== sizeOf(dims)) this.fail(`${path}.strings`, `string[${dims.join(',')}] needs ${sizeOf(dims)} elements, got ${(list as string[]).length}`);
      return Tensor.fromStrings(dims, list as string[]);
    }
    const offset = this.int(o.offset, `${path}.offset`);
    const bytes = this.int(o.bytes, `${path}.bytes`);
    const cls = storageClass(dtype) as unknown as { new (b: ArrayBuffer): Tensor['data']; BYTES_PER_ELEMENT: number };
    const want = sizeOf(dims) * cls.BYTES_PER_ELEMENT;
    if (bytes !== want) this.fail(`${path}.bytes`, `${dtype}[${dims.join(',')}] needs ${want} bytes, got ${bytes}`);
    if (offset + bytes > this.weights.byteLength) {
      this.fail(path, `range ${offset}..${offset + bytes} lies outside the ${this.weights.byteLength}-byte weights blob`);
    }
    const key = `${dtype}:${dims.join(',')}@${offset}+${bytes}`;
    const known = this.loaded.get(key);
    if (known) return known;
    const copy = this.weights.slice(offset, offset + bytes);
    const t = new Tensor(dtype, dims, new cls(copy.buffer));
    this.loaded.set(key, t);
    return t;
  }

  attr(v: unknown, path: string): AttrValue {
    const o = this.obj(v, path);
    const t = this.str(o.t, `${path}.t`);
    const readers: Record<string, () => AttrValue> = {
      num: () => this.num(o.v, `${path}.v`),
      nums: () => this.arr(o.v, `${path}.v`).map((x, i) => this.num(x, `${path}.v[${i}]`)),
      str: () => this.str(o.v, `${path}.v`),
      strs: () => this.arr(o.v, `${path}.v`).map((x, i) => this.str(x, `${path}.v[${i}]`)),
      tensor: () => this.tensor(o.v, `${path}.v`),
      graph: () => this.graph(o.v, `${path}.v`),
      type: () => this.type(this.value(o.v, `${path}.v`)),
    };
    const read = Object.prototype.hasOwnProperty.call(readers, t) ? readers[t] : undefined;
    if (!read) this.fail(`${path}.t`, `unknown attribute tag '${t}'`);
    return read();
  }

  strs(v: unknown, path: string): string[] {
    return this.arr(v, path).map((x, i) => this.str(x, `${path}[${i}]`));
  }

  node(v: unknown, path: string): Node {
    const o = this.obj(v, path);
    const attrs = this.obj(o.attrs ?? {}, `${path}.attrs`);
    return {
      name: this.str(o.name, `${path}.name`),
      op: this.str(o.op, `${path}.op`),
      domain: this.str(o.domain ?? '', `${path}.domain`),
      inputs: this.strs(o.inputs, `${path}.inputs`),
      outputs: this.strs(o.outputs, `${path}.outputs`),
      attrs: Object.fromEntries(Object.entries(attrs).map(([k, a]) => [k, this.attr(a, `${path}.attrs.${k}`)])),
    };
  }

  graph(v: unknown, path: string): Graph {
    const o = this.obj(v, path);
    const meta: Record<string, string | number> = {};
    for (const [k, m] of Object.entries(this.obj(o.meta ?? {}, `${path}.meta`))) {
      if (typeof m !== 'string' && typeof m !== 'number') this.fail(`${path}.meta.${k}`, 'must be a string or number');
      meta[k] = m;
    }
    const initializers = new Map<string, Tensor>();
    this.arr(o.initializers, `${path}.initializers`).forEach((e, i) => {
      const p = `${path}.initializers[${i}]`;
      const eo = this.obj(e, p);
      initializers.set(this.str(eo.name, `${p}.name`), this.tensor(eo.tensor, `${p}.tensor`));
    });
    const valueTypes = new Map<string, ValueType>();
    this.arr(o.valueTypes, `${path}.valueTypes`).forEach((e, i) => {
      const vj = this.value(e, `${path}.valueTypes[${i}]`);
      valueTypes.set(vj.name, this.type(vj));
    });
    return Graph.create({
      name: this.str(o.name, `${path}.name`),
      meta,
      inputs: this.arr(o.inputs, `${path}.inputs`).map((x, i) => this.info(this.value(x, `${path}.inputs[${i}]`))),
      outputs: this.arr(o.outputs, `${path}.outputs`).map((x, i) => this.info(this.value(x, `${path}.outputs[${i}]`))),
      nodes: this.arr(o.nodes, `${path}.nodes`).map((x, i) => this.node(x, `${path}.nodes[${i}]`)),
      initializers,
      valueTypes,
    });
  }
}

/**
 * Loads a graph saved by {@link saveGraph}. Checks the format name and version,
 * every field's type, dtypes, dims and each tensor's byte range in `weights`;
 * throws a ModelFormatError naming the JSON path of the first problem. The graph
 * is not verified against the op registry (call verify() for that).
 */
export function loadGraph(json: string, weights: Uint8Array = new Uint8Array(0)): Graph {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ModelFormatError(`graph JSON does not parse: ${(e as Error).message}`);
  }
  const r = new Reader(weights);
  const o = r.obj(doc, '$');
  if (o.format !== GRAPH_FORMAT) r.fail('$.format', `must be '${GRAPH_FORMAT}', got ${JSON.stringify(o.format)?.slice(0, 40)}`);
  if (o.version !== GRAPH_FORMAT_VERSION) {
    r.fail('$.version', `version ${JSON.stringify(o.version)?.slice(0, 20)} is not supported (this Kiln reads version ${GRAPH_FORMAT_VERSION})`);
  }
  const declared = r.int(o.weightsBytes, '$.weightsBytes');
  if (declared !== weights.byteLength) {
    r.fail('$.weightsBytes', `the document expects a ${declared}-byte weights blob, got ${weights.byteLength} bytes`);
  }
  return r.graph(o.graph, '$.graph');
}
