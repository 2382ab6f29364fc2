/**
 * File input and output for the CLI: models (.onnx through the ONNX importer, or
 * Kiln's own .json + .weights.bin), input tensors (.pb TensorProto, .npy, .json),
 * random inputs, `output_N.pb` files, the optimizer, and the execution plan that
 * `kiln inspect` and the viewer's memory view show (planned for WebGPU without a
 * device; backends are loaded by src/session/backends.ts).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fromHalfBits, isDType, isFloat, type DType } from '../graph/dtype.js';
import { InputError, KilnError, ModelFormatError } from '../graph/errors.js';
import type { Graph, ValueInfo } from '../graph/graph.js';
import { Rng } from '../graph/random.js';
import { loadGraph, saveGraph } from '../graph/serialize.js';
import { formatShape, type ConcreteShape } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import '../graph/ops/index.js';
import { exportModel } from '../../onnx/export.js';
import { importModel } from '../../onnx/import.js';
import { onnx } from '../../onnx/proto.js';
import { readTensorFile, tensorToProto } from '../../onnx/tensor-proto.js';
import { concreteInputTypes, optimize, planExecution, type ExecutionPlan, type OptimizeReport } from '../passes/index.js';
import { cpuTarget } from '../backends/cpu/index.js';
import { registerAllKernels } from '../backends/webgpu/kernels/index.js';
import { DEFAULT_KERNEL_LIMITS } from '../backends/webgpu/kernel.js';
import { planGraph } from '../backends/webgpu/plan.js';
import { naiveLifetimes, type MemoryBuffer, type MemoryView } from '../viz/memory.js';

function readBytes(file: string, what: string): Buffer {
  if (!existsSync(file)) throw new InputError(`${what} '${file}' does not exist`, file);
  if (statSync(file).isDirectory()) throw new InputError(`${what} '${file}' is a directory, not a file`, file);
  return readFileSync(file);
}

/** The weights file that belongs to a Kiln graph JSON file (`m.json` → `m.weights.bin`). */
export function weightsPathFor(jsonFile: string): string {
  return jsonFile.replace(/\.json$/i, '') + '.weights.bin';
}

/** Writes a graph in Kiln's format: `file` (.json) and its weights file beside it. */
export function writeGraphFile(file: string, g: Graph): void {
  const { json, weights } = saveGraph(g);
  writeFileSync(file, json);
  writeFileSync(weightsPathFor(file), weights);
}

/** Reads a graph written by {@link writeGraphFile}. */
export function readGraphFile(file: string): Graph {
  const json = readBytes(file, 'model').toString('utf8');
  const wfile = weightsPathFor(file);
  const weights = existsSync(wfile) ? new Uint8Array(readFileSync(wfile)) : new Uint8Array(0);
  try {
    return loadGraph(json, weights);
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(`${file}: ${e.message}`, file);
    throw e;
  }
}

/** Loads a model: `.json` in Kiln's format, anything else as ONNX through the importer. */
export async function loadModel(file: string): Promise<Graph> {
  if (extname(file).toLowerCase() === '.json') return readGraphFile(file);
  const bytes = readBytes(file, 'model');
  return importModel(new Uint8Array(bytes), { baseDir: dirname(resolve(file)) }, file);
}

/** Encodes a graph as standard ONNX bytes through the exporter (onnx/export.ts; Fused groups expanded). */
export function exportOnnx(g: Graph): Uint8Array {
  return exportModel(g);
}

/** Parses repeated `name=value` options into a map, with a clear error for a bad one. */
export function parsePairs(list: readonly string[], flag: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const item of list) {
    const i = item.indexOf('=');
    if (i <= 0 || i === item.length - 1) throw new InputError(`bad ${flag} '${item}': expected NAME=VALUE`, item);
    m.set(item.slice(0, i), item.slice(i + 1));
  }
  return m;
}

/** Parses `--dim name=value` options. */
export function parseDims(list: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of parsePairs(list, '--dim')) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new InputError(`bad --dim '${k}=${v}': the value must be a non-negative integer`, k);
    out.set(k, n);
  }
  return out;
}

const NPY_DTYPES: Record<string, DType> = {
  f2: 'float16', f4: 'float32', f8: 'float64', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16',
  i4: 'int32', u4: 'uint32', i8: 'int64', u8: 'uint64', b1: 'bool',
};

/** Parses a NumPy .npy file (format versions 1–3, little-endian, C order). */
export function parseNpy(bytes: Uint8Array, where: string): Tensor {
  const bad = (why: string): never => { throw new InputError(`${where}: not a usable .npy file (${why})`, where); };
  if (bytes.length < 10 || bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY') bad('missing \\x93NUMPY magic');
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) bad('header runs past the end');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) bad(`cannot read header ${JSON.stringify(header.trim().slice(0, 80))}`);
  if (descr![1] === '>') bad('big-endian data is not supported');
  if (fortran![1] === 'True') bad('Fortran-order arrays are not supported; save with np.ascontiguousarray');
  const dtype = NPY_DTYPES[descr![2]!] ?? bad(`dtype '${descr![2]}' is not supported`);
  const shape = shapeM![1]!.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) bad(`bad shape (${shapeM![1]})`);
  const n = shape.reduce((a, b) => a * b, 1);
  const elem = Number(descr![2]!.slice(1));
  const data = bytes.subarray(start + headerLen);
  if (data.length < n * elem) bad(`needs ${n * elem} data bytes, has ${data.length}`);
  const ddv = new DataView(data.buffer, data.byteOffset, n * elem);
  const read: Partial<Record<DType, (i: number) => number>> = {
    float16: (i) => fromHalfBits(ddv.getUint16(i * 2, true)), float32: (i) => ddv.getFloat32(i * 4, true),
    float64: (i) => ddv.getFloat64(i * 8, true), int8: (i) => ddv.getInt8(i), uint8: (i) => ddv.getUint8(i),
    int16: (i) => ddv.getInt16(i * 2, true), uint16: (i) => ddv.getUint16(i * 2, true), int32: (i) => ddv.getInt32(i * 4, true),
    uint32: (i) => ddv.getUint32(i * 4, true), int64: (i) => Number(ddv.getBigInt64(i * 8, true)),
    uint64: (i) => Number(ddv.getBigUint64(i * 8, true)), bool: (i) => ddv.getUint8(i),
  };
  const values = new Array<number>(n);
  const get = read[dtype] ?? bad(`dtype ${dtype} is not supported`);
  for (let i = 0; i < n; i++) values[i] = get(i);
  return Tensor.from(dtype, shape, values);
}

/**
 * Parses a JSON tensor: `{ "dtype": "float32", "shape": [2, 2], "data": [1, 2, 3, 4] }`,
 * or nested arrays (`[[1, 2], [3, 4]]`) whose dtype is the graph input's.
 */
export function parseJsonTensor(text: string, where: string, expected?: ValueInfo): Tensor {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${where}: not valid JSON (${(e as Error).message})`, where);
  }
  const obj = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const dtypeIn = obj?.dtype ?? expected?.dtype ?? 'float32';
  if (typeof dtypeIn !== 'string' || !isDType(dtypeIn)) throw new InputError(`${where}: unknown dtype ${JSON.stringify(dtypeIn)}`, where);
  const body = obj ? obj.data : v;
  const flat: number[] = [];
  const shape: number[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (Array.isArray(x)) {
      if (shape[depth] === undefined) shape[depth] = x.length;
      else if (shape[depth] !== x.length) throw new InputError(`${where}: ragged nested arrays at depth ${depth}`, where);
      for (const y of x) walk(y, depth + 1);
    } else if (typeof x === 'number' || typeof x === 'boolean') {
      if (depth !== shape.length) throw new InputError(`${where}: ragged nested arrays (a number at depth ${depth})`, where);
      flat.push(Number(x));
    } else throw new InputError(`${where}: tensor data must be numbers or nested arrays of numbers`, where);
  };
  walk(body, 0);
  let dims: ConcreteShape = shape;
  if (obj?.shape !== undefined) {
    if (!Array.isArray(obj.shape) || !obj.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new InputError(`${where}: "shape" must be a list of non-negative integers`, where);
    dims = obj.shape as number[];
  }
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== flat.length) throw new InputError(`${where}: shape ${formatShape(dims)} needs ${n} values, got ${flat.length}`, where);
  return Tensor.from(dtypeIn, dims, flat);
}

/** Reads one `--input name=FILE` spec (.pb, .npy or .json). */
export async function readInputSpec(spec: string, g: Graph): Promise<[string, Tensor]> {
  const [[name, file]] = [...parsePairs([spec], '--input')] as [[string, string]];
  const info = g.inputs.find((i) => i.name === name);
  if (!info) throw new InputError(`--input '${spec}': the model has no input '${name}' (inputs: ${g.inputs.map((i) => i.name).join(', ') || 'none'})`, name);
  const ext = extname(file).toLowerCase();
  const readers: Record<string, () => Promise<Tensor>> = {
    '.npy': async () => parseNpy(readBytes(file, 'input file'), file),
    '.json': async () => parseJsonTensor(readBytes(file, 'input file').toString('utf8'), file, info),
    '.pb': async () => {
      readBytes(file, 'input file');
      return readTensorFile(file).tensor;
    },
  };
  const reader = readers[ext];
  if (!reader) throw new InputError(`--input '${spec}': unknown file type '${ext || '(none)'}' (use .pb, .npy or .json)`, name);
  return [name, await reader()];
}

export { randomFeeds } from '../graph/feeds.js';

/** Writes outputs as `output_N.pb` TensorProto files (in graph output order); returns the paths. */
export function writeOutputs(dir: string, outputs: readonly [string, Tensor][]): string[] {
  mkdirSync(dir, { recursive: true });
  return outputs.map(([name, t], i) => {
    const file = join(dir, `output_${i}.pb`);
    writeFileSync(file, onnx.TensorProto.encode(tensorToProto(t, name)).finish());
    return file;
  });
}

/** One-line summary of a tensor: dtype, shape, first values, min/max/mean. */
export function summarize(t: Tensor, first = 6): string {
  const d = t.data;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nan = 0;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (Number.isNaN(v)) { nan++; continue; }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toPrecision(5));
  const head = Array.from(d.subarray(0, first) as ArrayLike<number>, fmt).join(', ');
  const stats = d.length - nan > 0 ? `min ${fmt(min)} max ${fmt(max)} mean ${fmt(sum / (d.length - nan))}` : 'no finite values';
  return `${t.dtype}${formatShape(t.shape)} [${head}${d.length > first ? ', ...' : ''}] ${stats}${nan ? ` (${nan} NaN)` : ''}`;
}

/** What the optimizer gave back. */
export interface Optimized {
  readonly graph: Graph;
  /** The optimizer's report (per-pass timings and node counts); absent at -O0. */
  readonly report?: OptimizeReport;
}

/** Parses `-O` (0, 1 or 2). */
export function parseLevel(v: string | undefined): 0 | 1 | 2 {
  const s = (v ?? '2').replace(/^O/i, '');
  if (s !== '0' && s !== '1' && s !== '2') throw new InputError(`bad -O level '${v}': use 0, 1 or 2`, '-O');
  return Number(s) as 0 | 1 | 2;
}

/** What {@link planForGraph} found. */
export interface GraphPlan {
  /** The execution plan the backend runs. */
  readonly plan: ExecutionPlan;
  /** True when it is the WebGPU plan; false: the CPU plan (the graph cannot be planned for WebGPU, `why`). */
  readonly planned: boolean;
  /** WebGPU dispatches per kernel variant (label), when planned for WebGPU. */
  readonly kernels: Record<string, number>;
  readonly why?: string;
}

/**
 * The execution plan the WebGPU backend runs for a graph (its planner is data only,
 * so no device is needed), under WebGPU's default limits, symbolic dims from `dims`;
 * when the graph cannot be planned for WebGPU, the CPU backend's plan. `kiln
 * inspect` and the viewer's memory view both read this plan.
 */
export function planForGraph(graph: Graph, dims: Readonly<Record<string, number>>): GraphPlan {
  registerAllKernels();
  const types = concreteInputTypes(graph, dims);
  try {
    const p = planGraph(graph, types, { limits: DEFAULT_KERNEL_LIMITS, f16: false, subgroups: false, maxBufferSize: 2 ** 31 });
    const kernels: Record<string, number> = {};
    for (const d of p.dispatches) kernels[d.label] = (kernels[d.label] ?? 0) + 1;
    return { plan: p.plan, planned: true, kernels };
  } catch (e) {
    if (!(e instanceof KilnError)) throw e;
    return { plan: planExecution(graph, types, cpuTarget()), planned: false, kernels: {}, why: e.message };
  }
}

/**
 * The execution plan (see {@link planForGraph}) as the viewer's {@link MemoryView}:
 * one box per storage of the plan (values sharing bytes through aliasing, in-place
 * updates or write-into views; scratch), with its buffer, offset, size and live steps. Symbolic dims
 * take their sizes from `dims`; when no plan can be made (a dim left unknown),
 * returns naive lifetimes with the reason.
 */
export function memoryView(g: Graph, dims: ReadonlyMap<string, number> = new Map()): MemoryView {
  let gp: GraphPlan;
  try {
    gp = planForGraph(g, Object.fromEntries(dims));
  } catch (e) {
    if (!(e instanceof KilnError)) throw e;
    const naive = naiveLifetimes(g);
    return { ...naive, source: `${naive.source}; the memory planner said: ${e.message}` };
  }
  const plan = gp.plan;
  const steps = plan.steps.map((s) => s.node.name);
  const buffers: MemoryBuffer[] = plan.storages.map((st) => ({
    name: st.values[0]!, bytes: st.bytes, start: Math.max(0, st.start), end: Math.min(st.end, steps.length - 1), values: st.values, buffer: st.buffer, offset: st.offset,
  }));
  const pinned = plan.buffers.filter((b) => b.kind === 'pinned').length;
  return {
    source: `${plan.target} execution plan${gp.planned ? '' : ` (not plannable for WebGPU: ${gp.why ?? ''})`}: ${plan.buffers.length - pinned} reused buffer${plan.buffers.length - pinned === 1 ? '' : 's'}` +
      ` of ${plan.intermediateBytes} bytes (one buffer per value would take ${plan.totalBytes}; most bytes live at once ${plan.maxLiveBytes})` +
      `, ${pinned} constant buffer${pinned === 1 ? '' : 's'}; ${plan.dispatchCount} dispatches`,
    steps, buffers, peakBytes: plan.intermediateBytes,
  };
}

/** Optimizes a graph at `level` with the optimizer (src/passes); level 0 returns it unchanged. */
export function optimizeModel(g: Graph, level: 0 | 1 | 2): Optimized {
  const r = level === 0 ? { graph: g } : optimize(g, { level });
  return { graph: r.graph, ...('report' in r ? { report: r.report } : {}) };
}
