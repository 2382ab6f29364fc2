/**
 * WebGPU legalization before planning: weights larger than one storage binding.
 *
 * A shader reads a tensor through one binding, at most the device's
 * `maxStorageBufferBindingSize` bytes (128 MiB on many adapters), while buffers may
 * be larger (`maxBufferSize`). A MatMul or Gemm whose weight B is a constant beyond
 * that limit (VGG-19's 411 MB fc6, an LLM's output projection) is rewritten into
 * column blocks that fit: B is sliced along N (Slice nodes on a constant, computed
 * once at plan time, so B itself is never uploaded), each block is its own
 * MatMul/Gemm (Gemm's C is sliced with it when it varies along N), and the blocks
 * are concatenated along the last axis. The result is the same product; only the
 * order of nothing changes (each output element is still one dot product over K).
 *
 * A Gather from a constant table beyond the limit (an LLM's embedding table) reads
 * row blocks the same way: each block gathers the indices that fall inside it (the
 * others read its row 0), and a chain of Where nodes picks, per index, the block that
 * holds it (negative indices are wrapped first, as Gather does).
 *
 * A Fused epilogue whose anchor is such a product is first unfused (its members go
 * back into the graph), since the epilogue is planned with its anchor in one dispatch.
 * Nodes inside control-flow bodies are left alone.
 */
import { Graph, type Node } from '../../graph/graph.js';
import { opOf } from '../../graph/infer.js';
import { getTrait, type ValueType } from '../../graph/op.js';
import { HOLDS_BODIES } from '../../graph/ops/control.js';
import { fusedKind } from '../../graph/ops/fused.js';
import { isStatic, sizeOf } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';

/** Bytes a WebGPU buffer takes per element at most (every dtype is 4 bytes or less on the GPU). */
const GPU_ELEMENT_BYTES = 4;

/** Values of `g` known before running: initializers and what constant-only nodes compute. */
function constantValues(g: Graph): Set<string> {
  const known = new Set<string>(g.initializers.keys());
  for (const n of g.topo) {
    const def = opOf(n);
    if (getTrait(def, HOLDS_BODIES) || (!def.cpu && !def.expr && !def.shapeOnly)) continue;
    if (n.inputs.every((v) => v === '' || known.has(v))) for (const o of n.outputs) if (o !== '') known.add(o);
  }
  return known;
}

/** The weight input of a product node that is too large for one binding, with the axis of N in it. */
function wideWeight(n: Node, g: Graph, constants: ReadonlySet<string>, maxBytes: number): { axis: number; n: number; type: ValueType } | undefined {
  if (n.domain !== '' || (n.op !== 'MatMul' && n.op !== 'Gemm')) return undefined;
  const b = n.inputs[1];
  if (!b || !constants.has(b)) return undefined;
  const t = g.findType(b);
  if (!t || !isStatic(t.shape) || t.shape.length !== 2) return undefined;
  if (sizeOf(t.shape as number[]) * GPU_ELEMENT_BYTES <= maxBytes) return undefined;
  const axis = n.op === 'Gemm' && Number(n.attrs['transB'] ?? 0) !== 0 ? 0 : 1;
  return { axis, n: t.shape[axis] as number, type: t };
}

/** The table of a Gather that is too large for one binding, with the gathered axis. */
function wideTable(n: Node, g: Graph, constants: ReadonlySet<string>, maxBytes: number): { axis: number; rows: number; type: ValueType } | undefined {
  if (n.domain !== '' || n.op !== 'Gather') return undefined;
  const d = n.inputs[0];
  if (!d || !constants.has(d)) return undefined;
  const t = g.findType(d);
  if (!t || !isStatic(t.shape) || t.shape.length === 0 || sizeOf(t.shape as number[]) * GPU_ELEMENT_BYTES <= maxBytes) return undefined;
  const r = t.shape.length;
  const axis = ((Number(n.attrs['axis'] ?? 0) % r) + r) % r;
  return { axis, rows: t.shape[axis] as number, type: t };
}

/** Unique names in `g` from `base`. */
function namer(g: Graph): (base: string) => string {
  const used = new Set<string>([...g.producers.keys(), ...g.nodes.map((n) => n.name), ...g.inputs.map((i) => i.name)]);
  return (base) => {
    let s = base;
    for (let i = 1; used.has(s); i++) s = `${base}_${i}`;
    used.add(s);
    return s;
  };
}

/**
 * Rewrites the MatMul/Gemm nodes of `graph` whose constant weight exceeds
 * `maxBindingBytes` into column blocks that fit (see the module comment). Returns
 * the graph itself when there is none.
 */
export function splitWideWeights(graph: Graph, maxBindingBytes: number): Graph {
  let g = graph;
  // Unfuse epilogues around a wide product first.
  const c0 = constantValues(g);
  const flat: Node[] = [];
  const flatInits = new Map(g.initializers);
  const flatTypes = new Map(g.valueTypes);
  let changed = false;
  for (const n of g.nodes) {
    const sub = n.attrs['graph'];
    if (n.op === 'Fused' && fusedKind(n) === 'epilogue' && sub instanceof Graph && sub.nodes.some((m) => wideWeight(m, sub, new Set([...c0, ...sub.initializers.keys()]), maxBindingBytes))) {
      flat.push(...sub.nodes);
      for (const [k, t] of sub.initializers) if (!flatInits.has(k)) flatInits.set(k, t);
      for (const [k, t] of sub.valueTypes) flatTypes.set(k, t);
      changed = true;
    } else {
      flat.push(n);
    }
  }
  if (changed) g = g.with({ nodes: flat, initializers: flatInits, valueTypes: flatTypes });
  const constants = constantValues(g);
  if (!g.nodes.some((n) => wideWeight(n, g, constants, maxBindingBytes) || wideTable(n, g, constants, maxBindingBytes))) return graph;

  const fresh = namer(g);
  const nodes: Node[] = [];
  const inits = new Map(g.initializers);
  const types = new Map(g.valueTypes);
  const ints = (base: string, v: number[]): string => {
    const name = fresh(base);
    inits.set(name, Tensor.from('int64', [v.length], v));
    return name;
  };
  for (const n of g.nodes) {
    const table = wideTable(n, g, constants, maxBindingBytes);
    if (table) {
      splitGather(n, table, g, maxBindingBytes, { nodes, types, fresh, inits, ints });
      continue;
    }
    const w = wideWeight(n, g, constants, maxBindingBytes);
    if (!w) {
      nodes.push(n);
      continue;
    }
    const out = n.outputs[0]!;
    const outType = g.findType(out)!;
    const blocks = Math.ceil((sizeOf(w.type.shape as number[]) * GPU_ELEMENT_BYTES) / maxBindingBytes);
    // Columns per block, a multiple of 4 (vector loads) where N allows.
    let per = Math.ceil(w.n / blocks);
    if (w.n >= 4 * blocks) per = Math.ceil(per / 4) * 4;
    const c = n.op === 'Gemm' ? n.inputs[2] : undefined;
    const cType = c ? g.findType(c) : undefined;
    const cAlongN = cType !== undefined && cType.shape.length > 0 && cType.shape[cType.shape.length - 1] === w.n && w.n > 1;
    const parts: string[] = [];
    for (let j = 0, n0 = 0; n0 < w.n; j++, n0 += per) {
      const n1 = Math.min(w.n, n0 + per);
      const bj = fresh(`${n.inputs[1]}_cols${j}`);
      nodes.push({ name: fresh(`${n.name}_slice_b${j}`), op: 'Slice', domain: '', attrs: {}, inputs: [n.inputs[1]!, ints(`${n.name}_b${j}_starts`, [n0]), ints(`${n.name}_b${j}_ends`, [n1]), ints(`${n.name}_b${j}_axes`, [w.axis])], outputs: [bj] });
      types.set(bj, { dtype: w.type.dtype, shape: w.type.shape.map((d, a) => (a === w.axis ? n1 - n0 : d)) });
      const ins = [n.inputs[0]!, bj];
      if (c) {
        if (cAlongN) {
          const cj = fresh(`${c}_cols${j}`);
          const last = cType!.shape.length - 1;
          nodes.push({ name: fresh(`${n.name}_slice_c${j}`), op: 'Slice', domain: '', attrs: {}, inputs: [c, ints(`${n.name}_c${j}_starts`, [n0]), ints(`${n.name}_c${j}_ends`, [n1]), ints(`${n.name}_c${j}_axes`, [last])], outputs: [cj] });
          types.set(cj, { dtype: cType!.dtype, shape: cType!.shape.map((d, a) => (a === last ? n1 - n0 : d)) });
          ins.push(cj);
        } else {
          ins.push(c);
        }
      }
      const yj = fresh(`${out}_cols${j}`);
      nodes.push({ ...n, name: fresh(`${n.name}_cols${j}`), inputs: ins, outputs: [yj] });
      types.set(yj, { dtype: outType.dtype, shape: outType.shape.map((d, a) => (a === outType.shape.length - 1 ? n1 - n0 : d)) });
      parts.push(yj);
    }
    nodes.push({ name: fresh(`${n.name}_concat`), op: 'Concat', domain: '', attrs: { axis: -1 }, inputs: parts, outputs: [out] });
  }
  return g.with({ nodes, initializers: inits, valueTypes: types });
}

/** Where the rewrite writes: the new node list, value types, names and initializers. */
interface Out {
  readonly nodes: Node[];
  readonly types: Map<string, ValueType>;
  readonly fresh: (base: string) => string;
  readonly inits: Map<string, Tensor>;
  /** Adds an int64 vector initializer named from `base`; returns its name. */
  readonly ints: (base: string, v: number[]) => string;
}

/** Rewrites one Gather from a wide constant table into row-block Gathers picked by Where (see the module comment). */
function splitGather(n: Node, t: { axis: number; rows: number; type: ValueType }, g: Graph, maxBytes: number, out: Out): void {
  const { nodes, types, fresh, inits, ints } = out;
  const idx = n.inputs[1]!;
  const idxType = g.findType(idx)!;
  const outType = g.findType(n.outputs[0]!)!;
  const scalar = (base: string, v: number): string => {
    const name = fresh(base);
    inits.set(name, Tensor.from(idxType.dtype, [], [v]));
    return name;
  };
  const node = (op: string, inputs: string[], type: ValueType, attrs: Node['attrs'] = {}): string => {
    const o = fresh(`${n.name}_${op.toLowerCase()}`);
    nodes.push({ name: fresh(`${n.name}_${op}`), op, domain: '', attrs, inputs, outputs: [o] });
    types.set(o, type);
    return o;
  };
  const boolIdx: ValueType = { dtype: 'bool', shape: idxType.shape };
  // Negative indices count from the end, as Gather does.
  const zero = scalar(`${n.name}_zero`, 0);
  const wrapped = node('Add', [idx, scalar(`${n.name}_rows`, t.rows)], idxType);
  const idxN = node('Where', [node('Less', [idx, zero], boolIdx), wrapped, idx], idxType);
  const blocks = Math.ceil((sizeOf(t.type.shape as number[]) * GPU_ELEMENT_BYTES) / maxBytes);
  const per = Math.ceil(t.rows / blocks);
  const r = t.type.shape.length;
  const k = idxType.shape.length;
  // The mask of an index, broadcast over the gathered slice: axes before `axis` and after the index dims.
  const maskAxes = [...Array.from({ length: t.axis }, (_, a) => a), ...Array.from({ length: r - t.axis - 1 }, (_, a) => t.axis + k + a)];
  const picks: { inside: string; value: string }[] = [];
  for (let j = 0, r0 = 0; r0 < t.rows; j++, r0 += per) {
    const r1 = Math.min(t.rows, r0 + per);
    const block = fresh(`${n.inputs[0]}_rows${j}`);
    nodes.push({ name: fresh(`${n.name}_slice${j}`), op: 'Slice', domain: '', attrs: {}, inputs: [n.inputs[0]!, ints(`${n.name}_r${j}_starts`, [r0]), ints(`${n.name}_r${j}_ends`, [r1]), ints(`${n.name}_r${j}_axes`, [t.axis])], outputs: [block] });
    types.set(block, { dtype: t.type.dtype, shape: t.type.shape.map((d, a) => (a === t.axis ? r1 - r0 : d)) });
    const lo = scalar(`${n.name}_r${j}_lo`, r0);
    const inside = node('And', [node('GreaterOrEqual', [idxN, lo], boolIdx), node('Less', [idxN, scalar(`${n.name}_r${j}_hi`, r1)], boolIdx)], boolIdx);
    const safe = node('Where', [inside, node('Sub', [idxN, lo], idxType), zero], idxType);
    const value = node('Gather', [block, safe], outType, { axis: t.axis });
    const maskShape = [...Array.from({ length: t.axis }, () => 1), ...idxType.shape, ...Array.from({ length: r - t.axis - 1 }, () => 1)];
    const mask = maskAxes.length ? node('Unsqueeze', [inside, ints(`${n.name}_r${j}_mask_axes`, maskAxes)], { dtype: 'bool', shape: maskShape }) : inside;
    picks.push({ inside: mask, value });
  }
  // The last block is the default; each earlier one takes the indices inside it.
  let acc = picks[picks.length - 1]!.value;
  for (let j = picks.length - 2; j >= 0; j--) {
    const o = j === 0 ? n.outputs[0]! : fresh(`${n.outputs[0]}_pick${j}`);
    nodes.push({ name: fresh(`${n.name}_pick${j}`), op: 'Where', domain: '', attrs: {}, inputs: [picks[j]!.inside, picks[j]!.value, acc], outputs: [o] });
    types.set(o, outType);
    acc = o;
  }
  if (picks.length === 1) nodes.push({ name: fresh(`${n.name}_one`), op: 'Identity', domain: '', attrs: {}, inputs: [acc], outputs: [n.outputs[0]!] });
}
