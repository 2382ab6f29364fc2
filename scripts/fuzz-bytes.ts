/**
 * Byte-level mutations (truncation, bit flips, overwritten and moved chunks, wrong
 * wire types, lying length prefixes) and synthesized hostile files (garbage,
 * graph attributes nested thousands deep, deeply nested types, very long chains,
 * very wide nodes), for the fuzzer.
 */
import { onnx, type pb } from '../onnx/proto.js';
import { encodeModel, model, node, valueInfo, type Rng } from './fuzz-models.js';

/** A byte-level mutation: returns new bytes and what it did. */
export type ByteMutation = (b: Uint8Array, r: Rng) => { bytes: Uint8Array; detail: string };

function varint(v: number): number[] {
  const out: number[] = [];
  while (v > 127) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

interface FieldPos { key: number; keyLen: number; wire: number; field: number; lenPos?: number; lenLen?: number; start: number; end: number }

/** Reads a varint at `pos`: value and byte length (undefined when malformed). */
function readVarint(b: Uint8Array, pos: number): { v: number; n: number } | undefined {
  let v = 0;
  let mul = 1;
  for (let n = 0; n < 10 && pos + n < b.length; n++) {
    const c = b[pos + n]!;
    v += (c & 127) * mul;
    mul *= 128;
    if (c < 128) return { v, n: n + 1 };
  }
  return undefined;
}

/** Lists the fields of the message in b[start, end), stopping at the first malformed one. */
function fields(b: Uint8Array, start: number, end: number): FieldPos[] {
  const out: FieldPos[] = [];
  let p = start;
  while (p < end) {
    const k = readVarint(b, p);
    if (!k) break;
    const wire = k.v % 8;
    const f: FieldPos = { key: p, keyLen: k.n, wire, field: Math.floor(k.v / 8), start: p + k.n, end: p + k.n };
    let q = p + k.n;
    if (wire === 0) {
      const v = readVarint(b, q);
      if (!v) break;
      q += v.n;
    } else if (wire === 1) q += 8;
    else if (wire === 5) q += 4;
    else if (wire === 2) {
      const l = readVarint(b, q);
      if (!l) break;
      f.lenPos = q;
      f.lenLen = l.n;
      f.start = q + l.n;
      q = f.start + l.v;
    } else break;
    if (q > end) break;
    f.end = q;
    out.push(f);
    p = q;
  }
  return out;
}

/** Fields of ModelProto, its graph (7), and the graph's nodes (1), initializers (5) and inputs (11). */
function modelFields(b: Uint8Array): FieldPos[] {
  const top = fields(b, 0, b.length);
  const all = [...top];
  for (const g of top.filter((f) => f.field === 7 && f.wire === 2)) {
    const gf = fields(b, g.start, g.end);
    all.push(...gf);
    for (const sub of gf.filter((f) => [1, 5, 11].includes(f.field) && f.wire === 2).slice(0, 200)) all.push(...fields(b, sub.start, sub.end));
  }
  return all;
}

function splice(b: Uint8Array, at: number, remove: number, insert: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at), 0);
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

const BYTE_MUTATIONS: Readonly<Record<string, ByteMutation>> = {
  truncate(b, r) {
    const at = r.chance(0.3) ? Math.max(0, b.length - r.int(1, 16)) : r.int(0, Math.max(0, b.length - 1));
    return { bytes: b.slice(0, at), detail: `truncated to ${at} of ${b.length} bytes` };
  },
  bitflip(b, r) {
    const out = b.slice();
    const k = r.int(1, 8);
    const at: number[] = [];
    for (let i = 0; i < k; i++) {
      const p = r.int(0, out.length - 1);
      const bit = r.int(0, 7);
      out[p]! ^= 1 << bit;
      at.push(p * 8 + bit);
    }
    return { bytes: out, detail: `flipped bits ${at.join(',')}` };
  },
  overwrite(b, r) {
    const out = b.slice();
    const p = r.int(0, Math.max(0, out.length - 1));
    const n = Math.min(r.int(1, 12), out.length - p);
    const fill = r.pick([0x00, 0xff, 0x80, -1]);
    for (let i = 0; i < n; i++) out[p + i] = fill === -1 ? r.int(0, 255) : fill;
    return { bytes: out, detail: `overwrote ${n} bytes at ${p} with ${fill === -1 ? 'random' : `0x${fill.toString(16)}`}` };
  },
  chunk(b, r) {
    const p = r.int(0, Math.max(0, b.length - 1));
    const n = Math.min(r.int(1, 64), b.length - p);
    const how = r.int(0, 2);
    if (how === 0) return { bytes: splice(b, p, n, []), detail: `deleted ${n} bytes at ${p}` };
    const q = r.int(0, b.length);
    if (how === 1) return { bytes: splice(b, q, 0, b.slice(p, p + n)), detail: `copied ${n} bytes from ${p} to ${q}` };
    return { bytes: splice(b, q, 0, Array.from({ length: n }, () => r.int(0, 255))), detail: `inserted ${n} random bytes at ${q}` };
  },
  wireType(b, r) {
    const fs = modelFields(b).filter((f) => f.keyLen >= 1);
    if (!fs.length) return { bytes: b, detail: 'no field found' };
    const f = r.pick(fs);
    const wire = r.pick([0, 1, 2, 3, 4, 5, 6, 7].filter((w) => w !== f.wire));
    const out = b.slice();
    out[f.key] = (out[f.key]! & ~7) | wire;
    return { bytes: out, detail: `field ${f.field} at ${f.key}: wire type ${f.wire} → ${wire}` };
  },
  lengthLie(b, r) {
    const fs = modelFields(b).filter((f) => f.lenPos !== undefined);
    if (!fs.length) return { bytes: b, detail: 'no length-delimited field' };
    const f = r.pick(fs);
    const claim = r.pick([2 ** 31 - 1, 2 ** 32 - 1, 2 ** 30, f.end - f.start + 1, 0, 2 ** 35]);
    return { bytes: splice(b, f.lenPos!, f.lenLen!, varint(claim)), detail: `field ${f.field} at ${f.key}: length ${f.end - f.start} → ${claim}` };
  },
};

/** Names of the byte-level mutations. */
export const BYTE_MUTATION_NAMES: readonly string[] = Object.keys(BYTE_MUTATIONS);

/** Applies the named byte-level mutation. */
export function mutateBytes(name: string, b: Uint8Array, r: Rng): { bytes: Uint8Array; detail: string } {
  const f = BYTE_MUTATIONS[name];
  if (!f) throw new Error(`no byte mutation '${name}'`);
  return f(b, r);
}

const utf8 = new TextEncoder();

function ld(field: number, payloadLen: number): number[] { return [(field << 3) | 2, ...varint(payloadLen)]; }
function str(field: number, s: string): number[] { const e = utf8.encode(s); return [...ld(field, e.length), ...e]; }

/**
 * A model whose graph holds an If node whose then_branch graph holds an If node...
 * `depth` levels deep. Written directly (prefixes computed inside-out), so any depth
 * costs O(depth) and never recurses.
 */
export function deepGraphModel(depth: number, graphs: boolean): Uint8Array {
  const attrHead = [...str(1, graphs ? 'branches' : 'then_branch'), 0xa0, 0x01, graphs ? 10 : 5];
  const nodeHead = [...str(1, 'c'), ...str(2, 'o'), ...str(4, 'If')];
  const prefixes: number[][] = [];
  let size = 0;
  for (let i = 0; i < depth; i++) {
    const attr = [...attrHead, ...ld(graphs ? 11 : 6, size)];
    const attrSize = attr.length + size;
    const nd = [...nodeHead, ...ld(5, attrSize)];
    const nodeSize = nd.length + attrSize;
    const gr = ld(1, nodeSize);
    size = gr.length + nodeSize;
    prefixes.push([...gr, ...nd, ...attr]);
  }
  const head = [0x08, 8, ...ld(8, 2), 0x10, 17, ...ld(7, size)];
  return nest(head, prefixes, size);
}

/** The head, then the nesting prefixes outermost first (they were built innermost first), in `size` bytes after the head. */
function nest(head: readonly number[], prefixes: readonly number[][], size: number): Uint8Array {
  const out = new Uint8Array(head.length + size);
  out.set(head, 0);
  let p = head.length;
  for (let i = prefixes.length - 1; i >= 0; i--) {
    out.set(prefixes[i]!, p);
    p += prefixes[i]!.length;
  }
  return out;
}

/** A model whose single input has a type nested `depth` deep (sequence of sequence of ...). */
export function deepTypeModel(depth: number): Uint8Array {
  let size = 0;
  const prefixes: number[][] = [];
  for (let i = 0; i < depth; i++) {
    const seqMsg = ld(1, size);
    const seqSize = seqMsg.length + size;
    const typ = ld(4, seqSize);
    size = typ.length + seqSize;
    prefixes.push([...typ, ...seqMsg]);
  }
  const vi = [...str(1, 'x'), ...ld(2, size)];
  const viSize = vi.length + size;
  const graph = ld(11, viSize);
  const graphSize = graph.length + viSize;
  const head = [0x08, 8, ...ld(8, 2), 0x10, 17, ...ld(7, graphSize), ...graph, ...vi];
  return nest(head, prefixes, size);
}

const F = onnx.TensorProto.DataType.FLOAT;

const memo = new Map<string, Uint8Array>();
/** Big hostile files depend only on their parameters: build each once per process. */
function cached(key: string, build: () => Uint8Array): Uint8Array {
  let b = memo.get(key);
  if (!b) {
    b = build();
    memo.set(key, b);
  }
  return b;
}

/** Synthesized hostile files. */
const HOSTILE: Readonly<Record<string, (r: Rng) => { bytes: Uint8Array; detail: string }>> = {
  empty: () => ({ bytes: new Uint8Array(), detail: 'zero bytes' }),
  garbage(r) {
    const n = r.int(1, 4096);
    return { bytes: Uint8Array.from({ length: n }, () => r.int(0, 255)), detail: `${n} random bytes` };
  },
  hugeLength(r) {
    const claim = r.pick([2 ** 31 - 1, 2 ** 32 - 1, 2 ** 34, 2 ** 53]);
    return { bytes: Uint8Array.from([0x3a, ...varint(claim), 0x0a, 0x00]), detail: `graph field claims ${claim} bytes` };
  },
  deepGraph(r) {
    const depth = r.pick([16, 100, 1000, 5000, 20000, 100000]);
    const graphs = r.chance(0.3);
    return { bytes: cached(`g${depth}${graphs}`, () => deepGraphModel(depth, graphs)), detail: `If ${graphs ? 'GRAPHS' : 'GRAPH'} attribute nested ${depth} deep` };
  },
  deepType(r) {
    const depth = r.pick([16, 1000, 20000, 100000]);
    return { bytes: cached(`t${depth}`, () => deepTypeModel(depth)), detail: `sequence type nested ${depth} deep` };
  },
  longChain(r) {
    const n = r.pick([1000, 5000, 20000]);
    const bytes = cached(`c${n}`, () => {
      const nodes = Array.from({ length: n }, (_, i) => node(i % 3 ? 'Relu' : 'Neg', [i ? `v${i - 1}` : 'x'], [i === n - 1 ? 'y' : `v${i}`], `n${i}`));
      return encodeModel(model({ name: 'chain', input: [valueInfo('x', F, [2])], output: [valueInfo('y', F, [2])], node: nodes }));
    });
    return { bytes, detail: `chain of ${n} unary nodes` };
  },
  wideNode(r) {
    const n = r.pick([1000, 10000, 50000]);
    const op = r.pick(['Sum', 'Concat', 'Max']);
    const bytes = cached(`w${n}${op}`, () => encodeModel(model({
      name: 'wide',
      input: [valueInfo('x', F, [1])],
      output: [valueInfo('y', F, [])],
      node: [node(op, Array.from({ length: n }, () => 'x'), ['y'], 'wide', op === 'Concat' ? { axis: 0 } : {})],
    })));
    return { bytes, detail: `${op} with ${n} inputs` };
  },
  manyInitializers(r) {
    const n = r.pick([1000, 20000]);
    const bytes = cached(`i${n}`, () => encodeModel(model({
      name: 'many',
      input: [valueInfo('x', F, [1])],
      output: [valueInfo('y', F, [1])],
      initializer: Array.from({ length: n }, (_, i): pb.ITensorProto => ({ name: `c${i}`, dims: [1], dataType: F, floatData: [i] })),
      node: [node('Add', ['x', `c${n - 1}`], ['y'], 'add')],
    })));
    return { bytes, detail: `${n} initializers` };
  },
};

/** Names of the synthesized hostile files. */
export const HOSTILE_NAMES: readonly string[] = Object.keys(HOSTILE);

/** Builds the named hostile file. */
export function hostile(name: string, r: Rng): { bytes: Uint8Array; detail: string } {
  const f = HOSTILE[name];
  if (!f) throw new Error(`no hostile generator '${name}'`);
  return f(r);
}
