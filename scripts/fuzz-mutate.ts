/**
 * Mutations of decoded ONNX models (proto level). Each one edits a ModelProto in
 * place and returns a one-line description of what it did, so a failing case can be
 * read and reproduced. They target what hostile files do: cycles, self-loops,
 * dangling or duplicate names, bad dims, lying tensor sizes, int64 beyond 2^53,
 * unknown dtypes, bad attributes, hostile external-data paths, bad opsets.
 */
import Long from 'long';
import { onnx, type pb } from '../onnx/proto.js';
import { bigLong, node as mkNode, type Rng } from './fuzz-models.js';

/** A proto-level mutation: edits `m`, returns what it did. */
export type Mutation = (m: pb.ModelProto, r: Rng) => string;

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

/** Hostile dim values: negative, zero, huge, beyond 2^31 and 2^53. */
const BAD_DIMS: readonly (number | Long)[] = [
  -1, -7, 0, 1e12, 2 ** 31, 2 ** 32 + 1, 2 ** 40, bigLong(2n ** 62n), bigLong(-(2n ** 63n)), bigLong(2n ** 53n + 1n), 65536, 1 << 30,
];
/** Hostile int64 values for shape tensors, indices and INT attributes. */
const BAD_INTS: readonly (number | Long)[] = [
  -1, -2, 0, 1, 3, 1000, -1000, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, bigLong(2n ** 53n + 1n), bigLong(2n ** 62n), bigLong(-(2n ** 63n)), bigLong(2n ** 63n - 1n), 1e12,
];
/** Data type codes: undefined, string, complex, bfloat16, float8, unassigned, negative. */
const BAD_DTYPES: readonly number[] = [0, 8, 14, 15, 16, 17, 19, 21, 42, 99, -1, 2 ** 30];
/** External-data locations that must never be opened. */
const BAD_LOCATIONS: readonly string[] = [
  '../../../../etc/passwd', '/etc/passwd', 'C:\\Windows\\win.ini', 'c:/x.bin', 'sub/../../weights.bin', '..\\..\\weights.bin',
  '\\\\server\\share\\w.bin', 'file:///etc/passwd', 'weights.bin\0.txt', 'missing.bin', '', '.', 'sub', 'x'.repeat(5000), '/proc/self/mem',
];
/** Strings for STRING attributes and names. */
const BAD_STRINGS: readonly string[] = ['', 'NOTSET', 'SAME_UPPER', '\u0000', '*/ @compute fn evil(){}', 'x'.repeat(10000), '\ud800', 'constant', 'nearest'];
/** Ops for op-type swaps: supported ones (to reach their validation) and garbage. */
const OPS: readonly string[] = [
  'Relu', 'Add', 'MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'Reshape', 'Transpose', 'Concat', 'Split', 'Slice',
  'Gather', 'GatherElements', 'GatherND', 'ScatterND', 'ScatterElements', 'Expand', 'Tile', 'Pad', 'Resize', 'Softmax', 'LayerNormalization',
  'BatchNormalization', 'InstanceNormalization', 'ReduceMean', 'ReduceSum', 'ArgMax', 'TopK', 'Cast', 'Where', 'Range', 'ConstantOfShape',
  'OneHot', 'CumSum', 'Einsum', 'Squeeze', 'Unsqueeze', 'Flatten', 'DepthToSpace', 'SpaceToDepth', 'Trilu', 'NonZero', 'Clip', 'Pow',
  'Mod', 'BitShift', 'Shape', 'Size', 'Identity', 'Dropout', 'If', 'Loop', 'Scan', 'LSTM', 'NoSuchOp', '', 'constructor', '__proto__',
];

function nodes(m: pb.ModelProto): pb.INodeProto[] { return m.graph!.node as pb.INodeProto[]; }

// Decoded messages may share frozen empty arrays for absent repeated fields: always reassign.
function pushOutput(m: pb.ModelProto, ...v: pb.IValueInfoProto[]): void { m.graph!.output = [...(m.graph!.output ?? []), ...v]; }
function pushNode(m: pb.ModelProto, ...v: pb.INodeProto[]): void { m.graph!.node = [...(m.graph!.node ?? []), ...v]; }
function unshiftNode(m: pb.ModelProto, ...v: pb.INodeProto[]): void { m.graph!.node = [...v, ...(m.graph!.node ?? [])]; }
function pushInit(m: pb.ModelProto, ...v: pb.ITensorProto[]): void { m.graph!.initializer = [...(m.graph!.initializer ?? []), ...v]; }

function pickNode(m: pb.ModelProto, r: Rng): pb.INodeProto | undefined {
  const ns = nodes(m);
  return ns.length ? r.pick(ns) : undefined;
}

function allNames(m: pb.ModelProto): string[] {
  const g = m.graph!;
  return [...(g.input ?? []).map((v) => v.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? ''), ...nodes(m).flatMap((n) => n.output ?? [])];
}

/** Every TensorProto of the model: initializers and Constant/attribute tensors. */
function allTensors(m: pb.ModelProto): pb.ITensorProto[] {
  const out: pb.ITensorProto[] = [...(m.graph!.initializer ?? [])];
  for (const n of nodes(m)) for (const a of n.attribute ?? []) if (a.t) out.push(a.t);
  return out;
}

function int64Tensors(m: pb.ModelProto): pb.ITensorProto[] {
  return allTensors(m).filter((t) => t.dataType === T.INT64);
}

function describeDim(d: number | Long): string { return typeof d === 'number' ? String(d) : d.toString(); }

/** Sets the tensor's int64 payload from plain values, in the typed field or raw_data. */
function setInt64(t: pb.ITensorProto, values: (number | Long)[], raw: boolean): void {
  t.dims = [values.length];
  if (raw) {
    const dv = new DataView(new ArrayBuffer(values.length * 8));
    values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(typeof v === 'number' ? Math.trunc(v) : v.toString()), true));
    t.rawData = new Uint8Array(dv.buffer);
    t.int64Data = [];
  } else {
    t.int64Data = values;
    t.rawData = new Uint8Array();
  }
}

const MUTATIONS: Readonly<Record<string, Mutation>> = {
  selfLoop(m, r) {
    const n = pickNode(m, r);
    if (!n?.output?.length) return 'no node';
    const k = r.int(0, Math.max(0, (n.input?.length ?? 1) - 1));
    n.input = [...(n.input ?? [])];
    n.input[k] = n.output[0]!;
    return `node '${n.name}' input ${k} := its own output '${n.output[0]}'`;
  },
  cycle(m, r) {
    const ns = nodes(m);
    if (ns.length < 2) return 'too few nodes';
    const i = r.int(0, ns.length - 2);
    const j = r.int(i + 1, ns.length - 1);
    const a = ns[i]!;
    a.input = [...(a.input ?? [])];
    if (!a.input.length) a.input.push('');
    a.input[0] = ns[j]!.output![0]!;
    return `node '${a.name}' reads later node '${ns[j]!.name}' output '${ns[j]!.output![0]}' (cycle)`;
  },
  dangling(m, r) {
    const n = pickNode(m, r);
    if (!n) return 'no node';
    n.input = [...(n.input ?? []), ''];
    const k = r.int(0, n.input.length - 1);
    n.input[k] = r.pick(['nowhere', 'x ', '', 'constructor', '__proto__']);
    return `node '${n.name}' input ${k} := '${n.input[k]}'`;
  },
  duplicateOutput(m, r) {
    const ns = nodes(m);
    if (ns.length < 2) return 'too few nodes';
    const a = r.pick(ns);
    const b = r.pick(ns.filter((x) => x !== a));
    b.output = [...(b.output ?? [])];
    b.output[0] = r.chance(0.5) ? a.output![0]! : r.pick(allNames(m));
    return `node '${b.name}' output 0 := '${b.output[0]}' (produced twice)`;
  },
  duplicateInitializer(m, r) {
    const inits = m.graph!.initializer!;
    if (!inits.length) return 'no initializer';
    const t = r.pick(inits);
    const copy = onnx.TensorProto.decode(onnx.TensorProto.encode(t as pb.TensorProto).finish());
    copy.dims = [r.int(1, 4)];
    copy.rawData = new Uint8Array(copy.dims[0] as number * 4);
    copy.dataType = T.FLOAT;
    pushInit(m, copy);
    return `initializer '${t.name}' given twice (second float32[${copy.dims[0]}])`;
  },
  duplicateInput(m, r) {
    const ins = m.graph!.input as pb.IValueInfoProto[];
    if (!ins.length) return 'no input';
    const v = r.pick(ins);
    m.graph!.input = [...ins, { ...v, type: { tensorType: { elemType: T.INT32, shape: { dim: [{ dimValue: 7 }] } } } }];
    return `graph input '${v.name}' declared twice`;
  },
  sameNodeNames(m) {
    for (const n of nodes(m)) n.name = 'same';
    return 'every node named "same"';
  },
  inputDim(m, r) {
    const ins = (m.graph!.input ?? []).filter((v) => v.type?.tensorType?.shape?.dim?.length);
    if (!ins.length) return 'no shaped input';
    const v = r.pick(ins);
    const dims = v.type!.tensorType!.shape!.dim!;
    const a = r.int(0, dims.length - 1);
    const d = r.pick(BAD_DIMS);
    dims[a] = { dimValue: d };
    return `input '${v.name}' dim ${a} := ${describeDim(d)}`;
  },
  inputType(m, r) {
    const ins = m.graph!.input ?? [];
    if (!ins.length) return 'no input';
    const v = r.pick(ins);
    const how = v.type?.tensorType ? r.int(0, 4) : 0;
    if (how === 0) v.type = null;
    else if (how === 1) v.type!.tensorType!.shape = null;
    else if (how === 2) v.type = { sequenceType: { elemType: v.type } };
    else if (how === 3) v.type!.tensorType!.elemType = r.pick(BAD_DTYPES);
    else v.type!.tensorType!.shape!.dim = [...(v.type!.tensorType!.shape!.dim ?? []), { dimParam: '' }, {}];
    return `input '${v.name}' type change #${how}`;
  },
  initDims(m, r) {
    const ts = allTensors(m);
    if (!ts.length) return 'no tensor';
    const t = r.pick(ts);
    t.dims = [...(t.dims ?? [])];
    const d = r.pick(BAD_DIMS);
    if (!t.dims.length || r.chance(0.3)) t.dims.push(d);
    else t.dims[r.int(0, t.dims.length - 1)] = d;
    return `tensor '${t.name}' dims := [${t.dims.map((x) => describeDim(x as number | Long)).join(',')}]`;
  },
  sizeMismatch(m, r) {
    const ts = allTensors(m);
    if (!ts.length) return 'no tensor';
    const t = r.pick(ts);
    const how = r.int(0, 3);
    if (how === 0) t.dims = [...(t.dims ?? []), 2];
    else if (how === 1 && t.rawData?.length) t.rawData = t.rawData.subarray(0, r.int(0, t.rawData.length - 1));
    else if (how === 2) t.floatData = [1, 2, 3];
    else t.dims = [];
    return `tensor '${t.name}' size mismatch #${how}`;
  },
  gigabyteRaw(m, r) {
    const ts = allTensors(m);
    if (!ts.length) return 'no tensor';
    const t = r.pick(ts);
    t.dims = r.pick([[2 ** 28], [65536, 65536], [1 << 30], [2 ** 31 - 1], [46341, 46341], [2 ** 20, 2 ** 11]]);
    t.dataType = r.pick([T.FLOAT, T.DOUBLE, T.INT64, T.UINT8]);
    if (r.chance(0.5)) t.rawData = new Uint8Array(r.int(1, 64));
    return `tensor '${t.name}' claims dims [${t.dims.join(',')}] dtype ${t.dataType} with ${t.rawData?.length ?? 0} raw bytes`;
  },
  bigInt64(m, r) {
    const ts = int64Tensors(m);
    if (!ts.length) {
      const n = pickNode(m, r);
      const a = n?.attribute?.find((x) => x.type === A.INT || x.type === A.INTS);
      if (!a) return 'no int64 tensor or attribute';
      const v = r.pick(BAD_INTS);
      if (a.type === A.INT) a.i = v;
      else a.ints = (a.ints ?? []).map(() => r.pick(BAD_INTS));
      return `node '${n!.name}' attribute '${a.name}' := ${describeDim(v)}`;
    }
    const t = r.pick(ts);
    const len = Math.max(1, (t.int64Data?.length || (t.rawData?.length ?? 0) / 8) | 0);
    const vals = Array.from({ length: len }, () => r.pick(BAD_INTS));
    const raw = r.chance(0.5);
    setInt64(t, vals, raw);
    if (len === 1 && r.chance(0.5)) t.dims = [];
    return `int64 tensor '${t.name}' := [${vals.map(describeDim).join(',')}] (${raw ? 'raw' : 'int64_data'})`;
  },
  unknownDtype(m, r) {
    const how = r.int(0, 2);
    const code = r.pick(BAD_DTYPES);
    if (how === 0) {
      const ts = allTensors(m);
      if (!ts.length) return 'no tensor';
      const t = r.pick(ts);
      t.dataType = code;
      return `tensor '${t.name}' data_type := ${code}`;
    }
    if (how === 1) {
      const vs = [...(m.graph!.input ?? []), ...(m.graph!.output ?? [])];
      if (!vs.length) return 'no port';
      const v = r.pick(vs);
      if (v.type?.tensorType) v.type.tensorType.elemType = code;
      return `port '${v.name}' elem_type := ${code}`;
    }
    pushNode(m, mkNode('Cast', [allNames(m)[0] ?? 'x'], ['cast_out'], 'evil_cast', { to: code }));
    pushOutput(m, { name: 'cast_out' });
    return `Cast to ${code}`;
  },
  externalData(m, r) {
    const inits = m.graph!.initializer ?? [];
    if (!inits.length) return 'no initializer';
    const t = r.pick(inits);
    const loc = r.chance(0.4) ? 'weights.bin' : r.pick(BAD_LOCATIONS);
    const entries: pb.IStringStringEntryProto[] = [{ key: 'location', value: loc }];
    if (r.chance(0.6)) entries.push({ key: 'offset', value: r.pick(['0', '-8', '1e20', 'abc', '4', '9007199254740993', '']) });
    if (r.chance(0.6)) entries.push({ key: 'length', value: r.pick(['0', '-1', '16', '1e12', 'NaN', '64', '12']) });
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = entries;
    t.rawData = new Uint8Array();
    t.floatData = [];
    t.int64Data = [];
    return `initializer '${t.name}' external data ${JSON.stringify(entries.map((e) => `${e.key}=${String(e.value).slice(0, 40)}`))}`;
  },
  attrValue(m, r) {
    const withAttrs = nodes(m).filter((n) => n.attribute?.length);
    if (!withAttrs.length) return 'no attribute';
    const n = r.pick(withAttrs);
    const a = r.pick(n.attribute!);
    const how = r.int(0, 5);
    if (how === 0) a.i = r.pick(BAD_INTS);
    else if (how === 1) a.ints = Array.from({ length: r.int(0, 6) }, () => r.pick(BAD_INTS));
    else if (how === 2) a.f = r.pick([NaN, Infinity, -Infinity, -1, 0, 1e38]);
    else if (how === 3) a.s = new TextEncoder().encode(r.pick(BAD_STRINGS));
    else if (how === 4) a.type = r.pick<number>([A.INT, A.INTS, A.FLOAT, A.STRING, A.TENSOR, A.GRAPH, A.SPARSE_TENSOR, A.TYPE_PROTO, 0, 99]) as pb.AttributeProto.AttributeType;
    else n.attribute = n.attribute!.filter((x) => x !== a);
    return `node '${n.name}' attribute '${a.name}' change #${how}`;
  },
  attrExtra(m, r) {
    const n = pickNode(m, r);
    if (!n) return 'no node';
    const how = r.int(0, 2);
    const list = [...(n.attribute ?? [])];
    if (how === 0 && list.length) list.push({ ...list[0] });
    else if (how === 1) list.push({ name: r.pick(['axis', 'perm', 'axes', 'kernel_shape', 'pads', 'strides', 'dilations', 'group', 'to', 'mode', 'unknown_attr']), type: A.INTS, ints: [r.pick(BAD_INTS), 1] });
    else list.push({ name: 'axis', type: A.STRING, s: new Uint8Array([0x41]) });
    n.attribute = list;
    return `node '${n.name}' extra attribute #${how}`;
  },
  opSwap(m, r) {
    const n = pickNode(m, r);
    if (!n) return 'no node';
    const old = n.opType;
    n.opType = r.pick(OPS);
    if (r.chance(0.15)) n.domain = r.pick(['com.microsoft', 'ai.onnx.ml', 'evil', 'ai.onnx']);
    return `node '${n.name}' op ${old} → ${n.domain ? `${n.domain}::` : ''}${n.opType}`;
  },
  arity(m, r) {
    const n = pickNode(m, r);
    if (!n) return 'no node';
    const how = r.int(0, 3);
    if (how === 0) n.input = (n.input ?? []).slice(0, r.int(0, Math.max(0, (n.input?.length ?? 1) - 1)));
    else if (how === 1) n.input = [...(n.input ?? []), ...Array.from({ length: r.int(1, 4) }, () => r.pick([...allNames(m), '']))];
    else if (how === 2) n.output = [...(n.output ?? []), 'extra_out', ''];
    else n.output = [];
    return `node '${n.name}' arity change #${how}`;
  },
  swapInputs(m, r) {
    const n = pickNode(m, r);
    if (!n || (n.input?.length ?? 0) < 2) return 'no node with 2 inputs';
    n.input = [...n.input!].reverse();
    return `node '${n.name}' inputs reversed`;
  },
  opset(m, r) {
    const v = r.pick<number | Long>([0, 1, 6, 7, 9, 11, 13, 18, 21, 1000, -1, bigLong(2n ** 40n)]);
    const how = r.int(0, 2);
    if (how === 0) m.opsetImport = [{ domain: '', version: v }];
    else if (how === 1) m.opsetImport = [];
    else m.opsetImport = [...m.opsetImport, { domain: 'ai.onnx', version: v }, { domain: '', version: 1 }];
    return `opset change #${how} (${describeDim(v)})`;
  },
  outputs(m, r) {
    const g = m.graph!;
    const how = r.int(0, 3);
    if (how === 0) g.output = [{ name: 'not_produced', type: g.output?.[0]?.type ?? null }];
    else if (how === 1) g.output = [];
    else if (how === 2) g.output = [...(g.output ?? []), ...(g.output ?? [])];
    else g.output = [...(g.output ?? []), { name: (g.input ?? [])[0]?.name ?? 'x' }, { name: (g.initializer ?? [])[0]?.name ?? 'W' }];
    return `graph outputs change #${how}`;
  },
  valueInfoJunk(m, r) {
    const names = allNames(m);
    m.graph!.valueInfo = names.slice(0, 4).map((n) => ({ name: n, type: { tensorType: { elemType: r.pick([T.INT8, T.STRING, 99]), shape: { dim: [{ dimValue: -3 }] } } } }));
    return 'value_info with conflicting types';
  },
  constantForms(m, r) {
    const how = r.int(0, 3);
    const target = allNames(m)[0] ?? 'x';
    const attrs: pb.IAttributeProto[] = [
      [{ name: 'value_string', type: A.STRING, s: new Uint8Array([65]) }],
      [{ name: 'value_float', type: A.FLOAT, f: 1 }, { name: 'value_int', type: A.INT, i: 2 }],
      [],
      [{ name: 'value', type: A.TENSOR, t: { dims: [bigLong(2n ** 40n)], dataType: T.FLOAT } }],
    ][how]!;
    unshiftNode(m, { opType: 'Constant', name: 'evil_const', output: ['evil_c'], attribute: attrs });
    pushNode(m, { opType: 'Add', name: 'evil_add', input: [target, 'evil_c'], output: ['evil_sum'] });
    pushOutput(m, { name: 'evil_sum' });
    return `Constant form #${how} added to '${target}'`;
  },
  subgraphAttr(m, r) {
    const n = pickNode(m, r);
    if (!n) return 'no node';
    const inner: pb.IGraphProto = { name: 'inner', node: [mkNode('Relu', ['outer_value'], ['io'], 'inner_relu')], output: [{ name: 'io' }] };
    n.attribute = [...(n.attribute ?? []), { name: r.pick(['then_branch', 'body', 'axis']), type: r.pick([A.GRAPH, A.GRAPHS]), g: inner, graphs: [inner] }];
    return `node '${n.name}' gets a graph attribute`;
  },
  bigRepeats(m, r) {
    const huge = r.pick<(number | Long)[]>([[65536, 65536], [1, 2 ** 31], [100000, 100000], [bigLong(2n ** 62n), 1], [46340, 46340]]);
    const x = (m.graph!.input ?? [])[0]?.name ?? 'x';
    const op = r.pick(['Tile', 'Expand', 'ConstantOfShape', 'Reshape', 'Range']);
    pushInit(m, { name: 'evil_shape', dims: [huge.length], dataType: T.INT64, int64Data: huge });
    const ins = op === 'ConstantOfShape' ? ['evil_shape'] : op === 'Range' ? ['evil_zero', 'evil_big', 'evil_one'] : [x, 'evil_shape'];
    if (op === 'Range') {
      pushInit(m, 
        { name: 'evil_zero', dims: [], dataType: T.INT64, int64Data: [0] },
        { name: 'evil_big', dims: [], dataType: T.INT64, int64Data: [huge[0]!] },
        { name: 'evil_one', dims: [], dataType: T.INT64, int64Data: [1] },
      );
    }
    pushNode(m, { opType: op, name: 'evil_big_op', input: ins, output: ['evil_big_out'] });
    pushOutput(m, { name: 'evil_big_out' });
    return `${op} to [${huge.map(describeDim).join(',')}]`;
  },
};

/** Names of the proto-level mutations. */
export const MUTATION_NAMES: readonly string[] = Object.keys(MUTATIONS);

/** Applies the named mutation. */
export function mutate(name: string, m: pb.ModelProto, r: Rng): string {
  const f = MUTATIONS[name];
  if (!f) throw new Error(`no mutation '${name}'`);
  return f(m, r);
}
