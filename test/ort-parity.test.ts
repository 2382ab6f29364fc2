/**
 * ONNX Runtime API parity: one script, typed against onnxruntime-common, runs against
 * onnxruntime-node and against Kiln's ORT entry (src/ort.ts) on the CPU backend and on
 * WebGPU, and every step's outcome is compared: the outputs' names, types, dims,
 * location, data array class and values (exact: the models compute exactly), or
 * that the step threw. The script covers create (path, Uint8Array, ArrayBuffer, a slice
 * of one), names and metadata, every Tensor constructor form (typed arrays, plain
 * number, bigint and boolean arrays, omitted dims, strings, bool as Uint8Array),
 * getData/dispose/reshape/fromPinnedBuffer/fromGpuBuffer, run with fetches as a list or
 * a record (with null, or with pre-allocated tensors written into) and with run options, int64 in and out (BigInt64Array, beyond 32 bits),
 * bool, float16 (bits in a Uint16Array), ORT's session options (graphOptimizationLevel,
 * freeDimensionOverrides, logSeverityLevel), external data (from the model's folder,
 * and as bytes in `externalData`),
 * release, ORT's errors (missing feed, wrong dtype or rank, unknown or empty fetches,
 * run after release), and ONNX node test-data cases with exact outputs (ArgMax, NonZero,
 * Shape, Size, TopK, bool ops, Where, Gather, CumSum, Range, a Cast to string), fed from
 * their input_*.pb. Kiln's errors must be KilnErrors naming the input.
 *
 * Known differences (asserted, so that they stay known): Cast from float to string
 * gives the shortest digits that read back as the same float (as numpy, and as the
 * ONNX test data expects: "0.6048455"), where onnxruntime-node prints 8 significant
 * digits ("0.60484552"); on WebGPU Kiln stores int64 in 32 bits
 * (values beyond fail with a LimitError); Kiln binds freeDimensionOverrides, so it
 * refuses other sizes, which onnxruntime-node runs. Kiln-only WebGPU checks: GPU-buffer feeds
 * and `preferredOutputLocation: 'gpu-buffer'` outputs.
 *
 * Nothing is skipped under CI=true: onnxruntime-node is a devDependency; a missing WebGPU
 * adapter or missing ONNX test data fails (elsewhere they are left out, saying why).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type * as ortCommon from 'onnxruntime-common';
import * as ortNode from 'onnxruntime-node';
import * as kilnOrt from '../src/ort.js';
import { decodeModel } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { tensorFromProto } from '../onnx/tensor-proto.js';
import { toHalfBits } from '../src/graph/dtype.js';
import { testDataRoot } from '../src/harness/conformance.js';
import { sharedDevice } from './helpers/gpu.js';
import { BOOL, FLOAT, INT64, model, node, vi } from './helpers/onnx-model.js';

/** What the script uses of `import * as ort from 'onnxruntime-…'`. */
interface OrtModule {
  readonly InferenceSession: ortCommon.InferenceSessionFactory;
  readonly Tensor: ortCommon.TensorConstructor;
  readonly env: ortCommon.Env;
}
type SessionOptions = ortCommon.InferenceSession.SessionOptions;

/** The outcome of one step: a JSON-able value, or the error it threw. */
type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

const STRING = 8;
const FLOAT16 = 10;

/** x: float32[batch, 3], ids: int64[2], b: bool[3] → y = x + x, g = x[:, ids], s = Shape(x), ids2 = ids + ids, nb = !b. */
function arithModel(): Uint8Array {
  const x: pb.IValueInfoProto = { name: 'x', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 3 }] } } } };
  const y: pb.IValueInfoProto = { name: 'y', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 3 }] } } } };
  const g: pb.IValueInfoProto = { name: 'g', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 2 }] } } } };
  return model({
    name: 'arith',
    input: [x, vi('ids', INT64, [2]), vi('b', BOOL, [3])],
    node: [
      node('Add', ['x', 'x'], ['y']),
      node('Gather', ['x', 'ids'], ['g'], [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }]),
      node('Shape', ['x'], ['s']),
      node('Add', ['ids', 'ids'], ['ids2']),
      node('Not', ['b'], ['nb']),
    ],
    output: [y, g, vi('s', INT64, [2]), vi('ids2', INT64, [2]), vi('nb', BOOL, [3])],
  });
}

/** a: int64[2] → a2 = a + a, na = -a. */
function bigModel(): Uint8Array {
  return model({ name: 'big', input: [vi('a', INT64, [2])], node: [node('Add', ['a', 'a'], ['a2']), node('Neg', ['a'], ['na'])], output: [vi('a2', INT64, [2]), vi('na', INT64, [2])] });
}

/** h: float16[3] → h2 = h + h. */
function halfModel(): Uint8Array {
  return model({ name: 'half', input: [vi('h', FLOAT16, [3])], node: [node('Add', ['h', 'h'], ['h2'])], output: [vi('h2', FLOAT16, [3])] });
}

/** x: float32[?, 3] (the first dim unnamed) → y = Relu(x), its shape left to inference. */
function unnamedDimModel(): Uint8Array {
  const x: pb.IValueInfoProto = { name: 'x', type: { tensorType: { elemType: FLOAT, shape: { dim: [{}, { dimValue: 3 }] } } } };
  return model({ name: 'unnamed', input: [x], node: [node('Relu', ['x'], ['y'])], output: [{ name: 'y', type: { tensorType: { elemType: FLOAT } } }] });
}

/** s: string[2] → t = Identity(s). */
function stringModel(): Uint8Array {
  return model({ name: 'str', input: [vi('s', STRING, [2])], node: [node('Identity', ['s'], ['t'])], output: [vi('t', STRING, [2])] });
}

/** x: float32[3] → y = x + w, with w = [10, 20, 30] stored in the external file w.bin. */
function externalModel(): { model: Uint8Array; weights: Uint8Array } {
  const weights = new Uint8Array(Float32Array.from([10, 20, 30]).buffer);
  const w: pb.ITensorProto = {
    name: 'w', dataType: FLOAT, dims: [3], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: '12' }],
  };
  return { model: model({ name: 'ext', input: [vi('x', FLOAT, [3])], initializer: [w], node: [node('Add', ['x', 'w'], ['y'])], output: [vi('y', FLOAT, [3])] }), weights };
}

/** Model files of the script; `testData`: folders of ONNX test-data cases (model.onnx, test_data_set_0). */
interface Files {
  readonly arith: string; readonly big: string; readonly half: string; readonly str: string; readonly ext: string; readonly weights: Uint8Array;
  readonly testData: readonly string[];
}

/** ONNX node test-data cases with exact outputs: int64 out (ArgMax, NonZero, Shape, Size, TopK), bool in/out, int32, strings. */
const TEST_DATA_CASES = [
  'test_argmax_default_axis_example', 'test_argmin_keepdims_example_select_last_index', 'test_nonzero_example', 'test_shape', 'test_size',
  'test_top_k', 'test_not_2d', 'test_less_equal_bcast', 'test_where_example', 'test_gather_2d_indices', 'test_cumsum_1d',
  'test_range_int32_type_negative_delta', 'test_cast_FLOAT_to_STRING',
];
/** Those of them whose outputs differ on purpose: Kiln follows the ONNX test data's float → string digits, which onnxruntime-node does not. */
const STRING_DIGIT_CASES = ['test_cast_FLOAT_to_STRING'];

/** An ORT tensor (of the runtime's Tensor class) from a TensorProto of the test data. */
function ortTensor(T: ortCommon.TensorConstructor, t: pb.ITensorProto): ortCommon.Tensor {
  const dims = (t.dims ?? []).map(Number);
  if (t.dataType === STRING) return new T('string', (t.stringData ?? []).map((b) => new TextDecoder().decode(b)), dims);
  const k = tensorFromProto(t);
  switch (k.dtype) {
    case 'int64': return new T('int64', BigInt64Array.from(k.data, (v) => BigInt(v)), dims);
    case 'uint64': return new T('uint64', BigUint64Array.from(k.data, (v) => BigInt(v)), dims);
    case 'float16': return new T('float16', Uint16Array.from(k.data, toHalfBits), dims);
    default: return new T(k.dtype as 'float32', k.data as Float32Array, dims);
  }
}

/** The feeds of a test-data case's first data set, by the model's input names (initializers excluded). */
function testDataFeeds(T: ortCommon.TensorConstructor, dir: string): ortCommon.InferenceSession.FeedsType {
  const g = decodeModel(new Uint8Array(readFileSync(path.join(dir, 'model.onnx')))).graph!;
  const inits = new Set((g.initializer ?? []).map((i) => i.name));
  const names = (g.input ?? []).map((i) => i.name ?? '').filter((n) => !inits.has(n));
  const set = path.join(dir, 'test_data_set_0');
  const files = readdirSync(set).filter((f) => /^input_\d+\.pb$/.test(f)).sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  return Object.fromEntries(files.map((f, i) => [names[i]!, ortTensor(T, onnx.TensorProto.decode(readFileSync(path.join(set, f))))]));
}

/** A tensor as JSON: type, dims, size, location, data class and values (bigints as 'Nn'). */
function view(t: ortCommon.Tensor): unknown {
  const onCpu = t.location === 'cpu' || t.location === 'cpu-pinned';
  const data: unknown = onCpu ? t.data : undefined;
  const values = data && typeof data === 'object' && 'length' in data ? Array.from(data as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? `${v}n` : v)) : null;
  return { type: t.type, dims: [...t.dims], size: t.size, location: t.location, array: onCpu ? (data as object).constructor.name : null, values };
}

/** Run results as JSON: the keys in order, and each tensor. */
function results(r: ortCommon.InferenceSession.ReturnType): unknown {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, view(v)]));
}

/** The ORT script: every step's outcome, by step name. */
async function script(ort: OrtModule, files: Files, options: SessionOptions, gpu: GPUDevice | null): Promise<Map<string, Outcome>> {
  const out = new Map<string, Outcome>();
  const step = async (name: string, f: () => unknown): Promise<void> => {
    try {
      out.set(name, { ok: true, value: await f() });
    } catch (error) {
      out.set(name, { ok: false, error });
    }
  };
  const T = ort.Tensor;

  // --- Tensor API (no session). ---
  const forms: [string, () => ortCommon.Tensor][] = [
    ['float32 typed array', () => new T('float32', Float32Array.from([1, 2, 3, 4]), [2, 2])],
    ['float32 number array, dims omitted', () => new T('float32', [1.5, 2, 3])],
    ['data first: Float32Array', () => new T(Float32Array.from([1, 2]))],
    ['data first: Int32Array with dims', () => new T(Int32Array.from([1, 2, 3, 4, 5, 6]), [3, 2])],
    ['data first: BigInt64Array', () => new T(BigInt64Array.from([1n, -2n]))],
    ['data first: BigUint64Array', () => new T(BigUint64Array.from([1n, 2n]))],
    ['data first: Uint8Array', () => new T(Uint8Array.from([1, 2]))],
    ['data first: Uint8ClampedArray', () => new T(Uint8ClampedArray.from([1, 255]))],
    ['data first: Float64Array', () => new T(Float64Array.from([0.5]))],
    ['data first: boolean array', () => new T([true, false, true])],
    ['data first: string array', () => new T(['a', 'bc'])],
    ['int64 bigint array', () => new T('int64', [2n ** 40n, -3n])],
    ['int64 number array', () => new T('int64', [1, 2, 3])],
    ['int64 BigInt64Array', () => new T('int64', BigInt64Array.from([5n]), [1, 1])],
    ['uint64 number array', () => new T('uint64', [7])],
    ['bool Uint8Array', () => new T('bool', Uint8Array.from([1, 0]))],
    ['bool boolean array', () => new T('bool', [true, false])],
    ['string tensor', () => new T('string', ['x', 'y', 'z'], [3, 1])],
    ['float16 Uint16Array', () => new T('float16', Uint16Array.from([0x3c00, 0xc000]))],
    ['uint8 Uint8ClampedArray', () => new T('uint8', Uint8ClampedArray.from([3]))],
    ['int8 number array', () => new T('int8', [-1, 2])],
    ['scalar dims []', () => new T('float32', [4], [])],
    ['error: size mismatch', () => new T('float32', [1, 2, 3], [2, 2])],
    ['error: float16 from numbers', () => new T('float16', [1, 2])],
    ['error: wrong typed array', () => new T('float32', Float64Array.from([1]))],
    ['error: empty array, no type', () => new T([] as readonly string[])],
    ['error: int64 from a fraction', () => new T('int64', [1.5])],
  ];
  for (const [name, make] of forms) await step(`tensor: ${name}`, () => view(make()));
  await step('tensor: reshape', () => view(new T('int32', Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]).reshape([3, 2])));
  await step('tensor: reshape to another size', () => view(new T('int32', Int32Array.from([1, 2]), [2]).reshape([3])));
  await step('tensor: getData', async () => Array.from(await new T('float32', [1, 2]).getData()));
  await step('tensor: dispose', () => {
    const t = new T('float32', [1, 2]);
    t.dispose();
    return t.location;
  });
  await step('tensor: data after dispose', () => {
    const t = new T('float32', [1, 2]);
    t.dispose();
    return Array.from(t.data as Float32Array);
  });
  await step('tensor: fromPinnedBuffer', () => view(T.fromPinnedBuffer('float32', Float32Array.from([1, 2, 3]), [3])));
  if (gpu) {
    const buffer = gpu.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    let disposed = 0;
    const t = T.fromGpuBuffer(buffer, { dims: [2, 2], dataType: 'float32', download: () => Promise.resolve(Float32Array.from([1, 2, 3, 4])), dispose: () => { disposed++; } });
    await step('tensor: fromGpuBuffer', () => ({ location: t.location, dims: [...t.dims], type: t.type, size: t.size, same: t.gpuBuffer === buffer }));
    await step('tensor: fromGpuBuffer data (not on the CPU)', () => Array.from(t.data as Float32Array));
    await step('tensor: fromGpuBuffer getData(true)', async () => ({ data: Array.from(await t.getData(true)), location: t.location, disposed }));
    buffer.destroy();
  }

  // --- Sessions. ---
  const bytes = new Uint8Array(readFileSync(files.arith));
  const feeds = (): ortCommon.InferenceSession.FeedsType => ({
    x: new T('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    ids: new T('int64', BigInt64Array.from([2n, 0n]), [2]),
    b: new T('bool', Uint8Array.from([1, 0, 1]), [3]),
  });
  let session: ortCommon.InferenceSession | undefined;
  await step('create from a path', async () => {
    session = await ort.InferenceSession.create(files.arith, options);
    return { inputNames: [...session.inputNames], outputNames: [...session.outputNames] };
  });
  const s = session!;
  await step('metadata', () => ({ inputs: s.inputMetadata, outputs: s.outputMetadata }));
  await step('metadata: an unnamed dim, an output shape left to inference', async () => {
    const su = await ort.InferenceSession.create(unnamedDimModel(), options);
    const r = { inputs: su.inputMetadata, outputs: su.outputMetadata, run: results(await su.run({ x: new T('float32', [1, -2, 3, -4, 5, -6], [2, 3]) })) };
    await su.release();
    return r;
  });
  await step('create from a Uint8Array', async () => [...(await ort.InferenceSession.create(bytes, options)).outputNames]);
  await step('create from an ArrayBuffer', async () => [...(await ort.InferenceSession.create(bytes.slice().buffer, options)).outputNames]);
  await step('create from a slice of an ArrayBuffer', async () => {
    const big = new Uint8Array(bytes.length + 16);
    big.set(bytes, 8);
    return [...(await ort.InferenceSession.create(big.buffer, 8, bytes.length, options)).outputNames];
  });
  await step('create from a bad byte offset', () => ort.InferenceSession.create(bytes.slice().buffer, bytes.length + 1, undefined, options).then(() => 'created'));
  await step('create from a missing file', () => ort.InferenceSession.create(path.join(path.dirname(files.arith), 'none.onnx'), options).then(() => 'created'));
  await step('run: typed arrays', async () => results(await s.run(feeds())));
  await step('run: plain number arrays, dims omitted', async () => results(await s.run({
    x: new T('float32', [1, 2, 3], [1, 3]), ids: new T('int64', [1, 2]), b: new T([true, false, false]),
  })));
  await step('run: bigint arrays, data-first forms', async () => results(await s.run({
    x: new T(Float32Array.from([-1, 0, 1, 2, 3, 4, 5, 6, 7]), [3, 3]), ids: new T('int64', [0n, 1n]), b: new T('bool', [false, true, true]),
  })));
  await step('run: an extra feed is ignored', async () => results(await s.run({ ...feeds(), zzz: new T('float32', [1]) })));
  await step('run: fetches as a list', async () => results(await s.run(feeds(), ['s', 'y'])));
  await step('run: fetches as a record', async () => results(await s.run(feeds(), { nb: null })));
  await step('run: fetches with pre-allocated tensors (written into)', async () => {
    const y = new T('float32', new Float32Array(6), [2, 3]);
    const sh = new T('int64', new BigInt64Array(2), [2]);
    const r = await s.run(feeds(), { y, s: sh });
    return { results: results(r), y: Array.from(y.data), s: Array.from(sh.data, String) };
  });
  await step('error: a pre-allocated output of other dims', async () => results(await s.run(feeds(), { y: new T('float32', new Float32Array(3), [1, 3]) })));
  await step('error: a pre-allocated output of another type', async () => results(await s.run(feeds(), { y: new T('int32', new Int32Array(6), [2, 3]) })));
  await step('run: fetches and run options', async () => results(await s.run(feeds(), ['ids2'], { logSeverityLevel: 3 })));
  await step('run: run options only', async () => results(await s.run(feeds(), { logSeverityLevel: 3, tag: 'parity' })));
  await step('run: output getData and reshape', async () => {
    const r = await s.run(feeds(), ['g']);
    const g = r.g!;
    return { data: Array.from(await g.getData() as Float32Array), reshaped: view(g.reshape([4])) };
  });
  await step('error: unknown fetch name', async () => results(await s.run(feeds(), ['nope'])));
  await step('error: empty fetches', async () => results(await s.run(feeds(), [])));
  await step('error: missing feed', async () => {
    const { x, ids } = feeds();
    return results(await s.run({ x: x!, ids: ids! }));
  });
  await step('error: wrong dtype', async () => results(await s.run({ ...feeds(), ids: new T('int32', Int32Array.from([0, 1]), [2]) })));
  await step('error: wrong rank', async () => results(await s.run({ ...feeds(), x: new T('float32', [1, 2, 3]) })));
  await step('error: wrong size of a static dim', async () => results(await s.run({ ...feeds(), x: new T('float32', [1, 2, 3, 4], [1, 4]) })));
  await step('error: string tensor for a float input', async () => results(await s.run({ ...feeds(), x: new T('string', ['a', 'b', 'c'], [1, 3]) })));
  await step('release', async () => { await s.release(); return 'released'; });
  await step('error: run after release', async () => results(await s.run(feeds())));

  await step('int64 beyond 32 bits', async () => {
    const sb = await ort.InferenceSession.create(files.big, options);
    const r = results(await sb.run({ a: new T('int64', [2n ** 40n + 1n, -(2n ** 35n)]) }));
    await sb.release();
    return r;
  });
  await step('float16 in and out (bits in a Uint16Array)', async () => {
    const sh = await ort.InferenceSession.create(files.half, options);
    const r = results(await sh.run({ h: new T('float16', Uint16Array.from([0x3c00, 0xc000, 0x3800])) }));
    await sh.release();
    return r;
  });
  await step('ORT options: graphOptimizationLevel, freeDimensionOverrides, logSeverityLevel', async () => {
    const so = await ort.InferenceSession.create(files.arith, { ...options, graphOptimizationLevel: 'disabled', freeDimensionOverrides: { batch: 2 }, logSeverityLevel: 3, intraOpNumThreads: 1 });
    return results(await so.run(feeds(), ['y', 's']));
  });
  await step('a feed against freeDimensionOverrides', async () => {
    const so = await ort.InferenceSession.create(files.arith, { ...options, freeDimensionOverrides: { batch: 1 } });
    return results(await so.run(feeds()));
  });
  for (const dir of files.testData) {
    await step(`ONNX test data: ${path.basename(dir)}`, async () => {
      const st = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), options);
      const r = results(await st.run(testDataFeeds(T, dir)));
      await st.release();
      return r;
    });
  }
  await step('string model', async () => {
    const ss = await ort.InferenceSession.create(files.str, options);
    return results(await ss.run({ s: new T('string', ['a', 'b']) }));
  });
  await step('external data next to the model', async () => {
    const se = await ort.InferenceSession.create(files.ext, options);
    return results(await se.run({ x: new T('float32', [1, 2, 3]) }));
  });
  await step('external data given as bytes', async () => {
    const se = await ort.InferenceSession.create(new Uint8Array(readFileSync(files.ext)), { ...options, externalData: [{ path: 'w.bin', data: files.weights }] });
    return results(await se.run({ x: new T('float32', [1, 2, 3]) }));
  });
  await step('external data: a path model, the data given as bytes', async () => {
    const se = await ort.InferenceSession.create(files.ext, { ...options, externalData: [{ path: './w.bin', data: files.weights.slice() }] });
    return results(await se.run({ x: new T('float32', [0, 0, 1]) }));
  });
  return out;
}

/** Steps whose outcome on Kiln differs from ORT on purpose: the step's runtime list. */
const KNOWN_DIFFERENCES: Readonly<Record<string, readonly string[]>> = {
  'int64 beyond 32 bits': ['kiln-webgpu'],
  // Kiln binds the overridden dims (the model becomes static); onnxruntime-node still runs other sizes.
  'a feed against freeDimensionOverrides': ['kiln-cpu', 'kiln-webgpu'],
};

/** Steps where both runtimes give outputs but their values differ on purpose (asserted to differ, so that they stay known). */
const VALUE_DIFFERENCES: ReadonlySet<string> = new Set(STRING_DIGIT_CASES.map((c) => `ONNX test data: ${c}`));

/** Steps whose Kiln error must name something (the input or fetch). */
const NAMED_IN_ERROR: Readonly<Record<string, string>> = {
  'error: unknown fetch name': 'nope',
  'error: missing feed': "'b'",
  'error: wrong dtype': "'ids'",
  'error: wrong rank': "'x'",
  'error: wrong size of a static dim': "'x'",
  'error: string tensor for a float input': "'x'",
  'error: a pre-allocated output of other dims': "'y'",
  'error: a pre-allocated output of another type': "'y'",
};

/** Step outcomes as comparable JSON (errors as 'error'). */
function comparable(o: Outcome): unknown {
  return o.ok ? JSON.parse(JSON.stringify(o.value)) : 'error';
}

describe('ONNX Runtime API parity (onnxruntime-node vs kiln/ort)', function () {
  this.timeout(180_000);
  let dir: string;
  let files: Files;
  let ort: Map<string, Outcome>;

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'kiln-ort-parity-'));
    const ext = externalModel();
    files = {
      arith: path.join(dir, 'arith.onnx'), big: path.join(dir, 'big.onnx'), half: path.join(dir, 'half.onnx'), str: path.join(dir, 'str.onnx'), ext: path.join(dir, 'ext.onnx'), weights: ext.weights,
      testData: TEST_DATA_CASES.map((c) => path.join(testDataRoot(), 'node', c)).filter((d) => existsSync(path.join(d, 'model.onnx'))),
    };
    writeFileSync(files.arith, arithModel());
    writeFileSync(files.big, bigModel());
    writeFileSync(files.half, halfModel());
    writeFileSync(files.str, stringModel());
    writeFileSync(files.ext, ext.model);
    writeFileSync(path.join(dir, 'w.bin'), ext.weights);
    const missing = TEST_DATA_CASES.filter((c) => !existsSync(path.join(testDataRoot(), 'node', c, 'model.onnx')));
    if (missing.length > 0) {
      if (process.env.CI === 'true') throw new Error(`ONNX test data missing under ${testDataRoot()}/node: ${missing.join(', ')} (install libonnx-testdata)`);
      console.log(`      (without the ONNX test data cases ${missing.join(', ')}: not under ${testDataRoot()}/node)`);
    }
    ort = await script(ortNode, files, { executionProviders: ['cpu'], logSeverityLevel: 3 }, await sharedDevice());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Compares Kiln's outcomes with ORT's, step by step. */
  function compare(runtime: string, kiln: Map<string, Outcome>): void {
    expect([...kiln.keys()]).to.deep.equal([...ort.keys()]);
    const mismatches: string[] = [];
    for (const [name, ref] of ort) {
      const k = kiln.get(name)!;
      if (!k.ok) {
        expect(k.error, `${runtime} '${name}': ${String(k.error)}`).to.be.instanceOf(kilnOrt.KilnError);
        const named = NAMED_IN_ERROR[name];
        if (named) expect((k.error as Error).message, `${runtime} '${name}'`).to.include(named);
      }
      if (KNOWN_DIFFERENCES[name]?.includes(runtime)) {
        expect(ref.ok, `ORT '${name}'`).to.equal(true);
        expect(k.ok, `${runtime} '${name}' (a known difference: Kiln throws)`).to.equal(false);
        continue;
      }
      const a = comparable(ref);
      const b = comparable(k);
      if (VALUE_DIFFERENCES.has(name)) {
        expect(ref.ok && k.ok, `'${name}' runs on both`).to.equal(true);
        expect(JSON.stringify(a), `${runtime} '${name}' (a known difference in digits)`).to.not.equal(JSON.stringify(b));
        continue;
      }
      if (JSON.stringify(a) !== JSON.stringify(b)) mismatches.push(`'${name}':\n  ORT:  ${JSON.stringify(a)}${ref.ok ? '' : ` (${String(ref.error)})`}\n  Kiln: ${JSON.stringify(b)}${k.ok ? '' : ` (${String(k.error)})`}`);
    }
    expect(mismatches, `${runtime} differs from onnxruntime-node:\n${mismatches.join('\n')}`).to.deep.equal([]);
    console.log(`      ${ort.size} steps, ${[...ort.values()].filter((o) => !o.ok).length} of them errors in both`);
  }

  it('the script itself ran on onnxruntime-node (ORT gives outputs and errors where expected)', () => {
    expect(comparable(ort.get('run: typed arrays')!)).to.have.property('s').that.deep.includes({ type: 'int64', array: 'BigInt64Array', values: ['2n', '3n'] });
    expect(ort.get('error: missing feed')!.ok).to.equal(false);
    expect(ort.get('string model')!.ok).to.equal(true);
  });

  it('Kiln on the CPU backend gives the same outcomes', async () => {
    compare('kiln-cpu', await script(kilnOrt, files, { executionProviders: ['cpu'], logSeverityLevel: 3 }, await sharedDevice()));
  });

  it('Kiln on WebGPU gives the same outcomes', async function () {
    const device = await sharedDevice();
    if (!device) this.skip();
    compare('kiln-webgpu', await script(kilnOrt, files, { executionProviders: [{ name: 'webgpu', device }], logSeverityLevel: 3 }, device));
  });

  it('kiln/ort: execution providers pick the backend; Kiln\'s own session keeps int64 as doubles', async () => {
    const backendOf = async (executionProviders: SessionOptions['executionProviders']): Promise<string> => {
      const s = await kilnOrt.InferenceSession.create(files.arith, { executionProviders });
      const b = s.kiln.backend;
      await s.release();
      return b;
    };
    expect(await backendOf(['wasm'])).to.equal('wasm');
    expect(await backendOf(['cuda', { name: 'cpu' }])).to.equal('cpu');
    const device = await sharedDevice();
    if (device) expect(await backendOf([{ name: 'webgpu', device }, 'cpu'])).to.equal('webgpu');
    // The same model through Kiln's own API: int64 stays in Kiln's Float64Array storage.
    const own = await kilnOrt.KilnInferenceSession.create(files.big, { backend: 'cpu' });
    const r = await own.run({ a: new kilnOrt.KilnTensor('int64', [5, -6], [2]) });
    expect(r.a2!.data).to.deep.equal(Float64Array.from([10, -12]));
    own.release();
  });

  it('kiln/ort: external data given as a file path (as onnxruntime-web takes it; onnxruntime-node wants bytes)', async () => {
    const se = await kilnOrt.InferenceSession.create(new Uint8Array(readFileSync(files.ext)), { executionProviders: ['cpu'], externalData: [{ path: 'w.bin', data: path.join(path.dirname(files.ext), 'w.bin') }] });
    const r = await se.run({ x: new kilnOrt.Tensor('float32', [0, 1, 0]) });
    expect(r.y!.data).to.deep.equal(Float32Array.from([10, 21, 30]));
    let err: unknown;
    await kilnOrt.InferenceSession.create(new Uint8Array(readFileSync(files.ext)), { executionProviders: ['cpu'] }).catch((e: unknown) => { err = e; });
    expect(err, 'without externalData, a model from bytes has no folder to read w.bin from').to.be.instanceOf(kilnOrt.ModelFormatError);
  });

  it('kiln/ort: the parts of ORT\'s API Kiln lacks throw NotSupportedError', async () => {
    const t = new kilnOrt.Tensor('float32', [1, 2, 3]);
    expect(() => t.texture).to.throw(kilnOrt.NotSupportedError);
    expect(() => t.mlTensor).to.throw(kilnOrt.NotSupportedError);
    expect(() => t.toDataURL()).to.throw(kilnOrt.NotSupportedError);
    expect(() => t.toImageData()).to.throw(kilnOrt.NotSupportedError);
    let err: unknown;
    await kilnOrt.Tensor.fromImage('picture.png').catch((e: unknown) => { err = e; });
    expect(err).to.be.instanceOf(kilnOrt.NotSupportedError);
    expect(() => kilnOrt.env.webgl.context).to.throw(kilnOrt.NotSupportedError);
    expect(() => kilnOrt.env.webgpu.adapter).to.throw(kilnOrt.NotSupportedError);
    const device = await sharedDevice();
    if (device) expect(() => { kilnOrt.env.webgpu.device = device; }).to.throw(kilnOrt.NotSupportedError, /executionProviders/);
    expect(kilnOrt.env.versions.common).to.equal(kilnOrt.ORT_API_VERSION);
    err = undefined;
    await kilnOrt.InferenceSession.create(files.arith, { preferredOutputLocation: 'texture' }).catch((e: unknown) => { err = e; });
    expect(err).to.be.instanceOf(kilnOrt.NotSupportedError);
  });

  it('Kiln on WebGPU: GPU-buffer feeds and preferredOutputLocation gpu-buffer (ORT semantics, Kiln only)', async function () {
    const device = await sharedDevice();
    if (!device) this.skip();
    const s = await kilnOrt.InferenceSession.create(files.arith, { executionProviders: [{ name: 'webgpu', device }], preferredOutputLocation: { y: 'gpu-buffer', s: 'gpu-buffer' } });
    const xs = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const buffer = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, xs);
    const x = kilnOrt.Tensor.fromGpuBuffer(buffer, { dims: [2, 3], dataType: 'float32' });
    const r = await s.run({ x, ids: new kilnOrt.Tensor('int64', [2n, 0n]), b: new kilnOrt.Tensor([true, false, true]) });
    expect(r.y!.location).to.equal('gpu-buffer');
    expect(r.y!.gpuBuffer.size).to.be.at.least(24);
    expect(() => r.y!.data).to.throw(kilnOrt.KilnError, /getData/);
    expect(await r.y!.getData(true)).to.deep.equal(Float32Array.from([2, 4, 6, 8, 10, 12]));
    expect(r.y!.location).to.equal('cpu');
    // int64 has another layout on Kiln's GPU than in ORT's GPU buffers: it comes back on the CPU.
    expect(r.s!.location).to.equal('cpu');
    expect(r.s!.data).to.deep.equal(BigInt64Array.from([2n, 3n]));
    expect(r.g!.location).to.equal('cpu');
    expect(r.g!.data).to.deep.equal(Float32Array.from([3, 1, 6, 4]));
    // A GPU buffer in a layout Kiln's GPU storage does not share is refused, naming the input.
    const ids = kilnOrt.Tensor.fromGpuBuffer(buffer, { dims: [2], dataType: 'int64' });
    let err: unknown;
    await s.run({ x, ids, b: new kilnOrt.Tensor([true, false, true]) }).catch((e: unknown) => { err = e; });
    expect(err).to.be.instanceOf(kilnOrt.NotSupportedError);
    expect((err as Error).message).to.include("'ids'");
    await s.release();
    buffer.destroy();
    // The device ORT programs create buffers on.
    expect(await kilnOrt.env.webgpu.device).to.have.property('queue');
  });
});
