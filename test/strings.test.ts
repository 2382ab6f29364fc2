/**
 * String tensors and the string ops (StringConcat, StringSplit, RegexFullMatch,
 * StringNormalizer, TfIdfVectorizer, Cast/CastLike to and from string, Equal on
 * strings, ai.onnx.ml LabelEncoder): each against onnxruntime-node on hostile inputs
 * (empty strings, non-ASCII UTF-8, long strings), on the CPU and on WebGPU (where
 * string nodes are host steps); typed errors for what Kiln refuses (a catastrophic
 * regex refused before matching, backreferences, lookaround, strings into a numeric
 * op, an unparsable number); import → run → export → re-import; and a mixed graph
 * whose string ops feed a float computation.
 */
import { expect } from 'chai';
import { importModel } from '../onnx/import.js';
import { exportModel } from '../onnx/export.js';
import { onnx, type pb } from '../onnx/proto.js';
import { tensorFromProto, tensorToProto } from '../onnx/tensor-proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { AttributeError, DTypeError, ExecutionError, InputError, KilnError, ModelFormatError } from '../src/graph/errors.js';
import { Tensor as SessionTensor } from '../src/session/tensor.js';
import { loadGraph, saveGraph } from '../src/graph/serialize.js';
import { optimize } from '../src/passes/index.js';
import { Tensor } from '../src/graph/tensor.js';
import { compareTensors } from '../src/harness/compare.js';
import { numberToString } from '../src/graph/ops/string-cast.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { runOrt } from './onnx-util.js';

const STRING = 8;
const FLOAT = 1;
const INT64 = 7;
const BOOL = 9;
const AT = onnx.AttributeProto.AttributeType;

type Port = readonly [name: string, elemType: number, dims?: readonly number[]];
const vi = ([name, t, dims]: Port): pb.IValueInfoProto => ({ name, type: { tensorType: { elemType: t, ...(dims ? { shape: { dim: dims.map((d) => ({ dimValue: d })) } } : {}) } } });
const enc = new TextEncoder();

/** Attribute helpers. */
const aInt = (name: string, i: number): pb.IAttributeProto => ({ name, type: AT.INT, i });
const aInts = (name: string, ints: number[]): pb.IAttributeProto => ({ name, type: AT.INTS, ints });
const aFloats = (name: string, floats: number[]): pb.IAttributeProto => ({ name, type: AT.FLOATS, floats });
const aStr = (name: string, s: string): pb.IAttributeProto => ({ name, type: AT.STRING, s: enc.encode(s) });
const aStrs = (name: string, ss: string[]): pb.IAttributeProto => ({ name, type: AT.STRINGS, strings: ss.map((s) => enc.encode(s)) });

/** A one-node model (default opset 20, ai.onnx.ml 4). */
function oneNode(op: string, inputs: Port[], outputs: Port[], attribute: pb.IAttributeProto[] = [], domain = '', opset = 20): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 9,
    opsetImport: [{ domain: '', version: opset }, { domain: 'ai.onnx.ml', version: 4 }],
    graph: {
      name: op,
      node: [{ name: `${op}_0`, opType: op, domain, input: inputs.map((p) => p[0]), output: outputs.map((p) => p[0]), attribute }],
      input: inputs.map(vi),
      output: outputs.map(vi),
    },
  }).finish();
}

const str = (shape: number[], v: string[]): Tensor => Tensor.fromStrings(shape, v);
const f32 = (shape: number[], v: number[]): Tensor => Tensor.from('float32', shape, v);
const LONG = 'ab的'.repeat(5000);
const HOSTILE = ['', 'monday', 'Ünïcode', 'straße', '的的', ' a  b ', LONG, 'tab\there'];

interface Case { readonly name: string; readonly bytes: Uint8Array; readonly feeds: Record<string, Tensor> }

const CASES: Case[] = [
  { name: 'StringConcat (broadcast, UTF-8, empty, long)', bytes: oneNode('StringConcat', [['x', STRING, [8]], ['y', STRING, [1]]], [['z', STRING]]), feeds: { x: str([8], HOSTILE), y: str([1], ['é的']) } },
  { name: 'StringConcat (empty with empty)', bytes: oneNode('StringConcat', [['x', STRING, [2]], ['y', STRING, [2]]], [['z', STRING]]), feeds: { x: str([2], ['', '']), y: str([2], ['', 'x']) } },
  { name: 'StringSplit on a delimiter', bytes: oneNode('StringSplit', [['x', STRING, [5]]], [['y', STRING], ['n', INT64]], [aStr('delimiter', ',')]), feeds: { x: str([5], ['a,,b', ',', 'no', 'ü,ß,的', `${LONG},${LONG}`]) } },
  { name: 'StringSplit on a delimiter, maxsplit 1', bytes: oneNode('StringSplit', [['x', STRING, [3]]], [['y', STRING], ['n', INT64]], [aStr('delimiter', '::'), aInt('maxsplit', 1)]), feeds: { x: str([3], ['a::b::c', '::', '的::的::']) } },
  { name: 'StringSplit on whitespace', bytes: oneNode('StringSplit', [['x', STRING, [2, 2]]], [['y', STRING], ['n', INT64]]), feeds: { x: str([2, 2], ['  a  b ', '', ' 的  x y ', 'ab']) } },
  { name: 'RegexFullMatch', bytes: oneNode('RegexFullMatch', [['x', STRING, [6]]], [['y', BOOL]], [aStr('pattern', '[a-z0-9.]{1,20}@(gmail|yahoo)\\.com')]), feeds: { x: str([6], ['abc@gmail.com', '', '的@gmail.com', 'A@gmail.com', 'a.b@yahoo.com', `${LONG}@gmail.com`]) } },
  { name: 'RegexFullMatch on UTF-8 (. is a code point)', bytes: oneNode('RegexFullMatch', [['x', STRING, [4]]], [['y', BOOL]], [aStr('pattern', '.的.')]), feeds: { x: str([4], ['a的b', '的的的', '的', 'ab的cd']) } },
  { name: 'StringNormalizer UPPER, case-insensitive stopwords', bytes: oneNode('StringNormalizer', [['x', STRING, [8]]], [['y', STRING]], [aStr('case_change_action', 'UPPER'), aStrs('stopwords', ['MONDAY', 'tab\there']), aStr('locale', 'C.UTF-8')], '', 10), feeds: { x: str([8], HOSTILE) } },
  { name: 'StringNormalizer LOWER, case-sensitive, [1, C]', bytes: oneNode('StringNormalizer', [['x', STRING, [1, 8]]], [['y', STRING]], [aStr('case_change_action', 'LOWER'), aInt('is_case_sensitive', 1), aStrs('stopwords', ['Monday', 'straße']), aStr('locale', 'C.UTF-8')], '', 10), feeds: { x: str([1, 8], HOSTILE) } },
  { name: 'StringNormalizer: everything dropped', bytes: oneNode('StringNormalizer', [['x', STRING, [2]]], [['y', STRING]], [aStrs('stopwords', ['a']), aStr('locale', 'C.UTF-8')], '', 10), feeds: { x: str([2], ['a', 'A']) } },
  {
    name: 'TfIdfVectorizer on a string pool (TFIDF, weights, skips)',
    bytes: oneNode('TfIdfVectorizer', [['x', STRING, [2, 6]]], [['y', FLOAT]], [aInt('min_gram_length', 1), aInt('max_gram_length', 2), aInt('max_skip_count', 2), aStr('mode', 'TFIDF'),
      aInts('ngram_counts', [0, 3]), aInts('ngram_indexes', [0, 1, 2, 3, 4]), aStrs('pool_strings', ['a', '的', '', 'a', '的', '', 'a']), aFloats('weights', [0.5, 2, 1, 3, 0.25])], '', 9),
    feeds: { x: str([2, 6], ['a', '的', '', 'a', 'a', 'x', '', '', '的', 'a', '的', '']) },
  },
  {
    name: 'TfIdfVectorizer on int64 (IDF)',
    bytes: oneNode('TfIdfVectorizer', [['x', INT64, [7]]], [['y', FLOAT]], [aInt('min_gram_length', 2), aInt('max_gram_length', 3), aInt('max_skip_count', 1), aStr('mode', 'IDF'),
      aInts('ngram_counts', [0, 2, 6]), aInts('ngram_indexes', [0, 1, 2, 3, 4]), aInts('pool_int64s', [1, 2, 2, 3, 3, 1, 1, 2, 3])], '', 9),
    feeds: { x: Tensor.from('int64', [7], [1, 2, 3, 1, 2, 3, 3]) },
  },
  { name: 'Cast float → string', bytes: oneNode('Cast', [['x', FLOAT, [9]]], [['y', STRING]], [aInt('to', STRING)], '', 21), feeds: { x: f32([9], [1.5, -2, 0.25, 1e20, NaN, Infinity, -Infinity, 0, 100]) } },
  { name: 'Cast string → float', bytes: oneNode('Cast', [['x', STRING, [9]]], [['y', FLOAT]], [aInt('to', FLOAT)], '', 21), feeds: { x: str([9], ['1.5', ' 2', 'inf', '-INF', 'NaN', '1e3', '+INF', '-0.5', '1E-5']) } },
  { name: 'Cast string → int64', bytes: oneNode('Cast', [['x', STRING, [3]]], [['y', INT64]], [aInt('to', INT64)], '', 21), feeds: { x: str([3], ['15', '-3', '100']) } },
  { name: 'CastLike string → float', bytes: oneNode('CastLike', [['x', STRING, [2]], ['t', FLOAT, [1]]], [['y', FLOAT]], [], '', 21), feeds: { x: str([2], ['2.5', '-1e2']), t: f32([1], [0]) } },
  { name: 'Equal on strings (broadcast)', bytes: oneNode('Equal', [['x', STRING, [2, 4]], ['y', STRING, [4]]], [['z', BOOL]], [], '', 19), feeds: { x: str([2, 4], ['', '的', 'a', LONG, 'b', '的', '', LONG]), y: str([4], ['', '的', 'A', LONG]) } },
  { name: 'LabelEncoder string → int64 (default)', bytes: oneNode('LabelEncoder', [['x', STRING, [6]]], [['y', INT64]], [aStrs('keys_strings', ['a', '的', '']), aInts('values_int64s', [1, 2, 3]), aInt('default_int64', 42)], 'ai.onnx.ml'), feeds: { x: str([6], ['a', '的', '', 'b', LONG, 'a']) } },
  { name: 'LabelEncoder int64 → string', bytes: oneNode('LabelEncoder', [['x', INT64, [4]]], [['y', STRING]], [aInts('keys_int64s', [1, 2]), aStrs('values_strings', ['one', '二'])], 'ai.onnx.ml'), feeds: { x: Tensor.from('int64', [4], [1, 2, 3, -1]) } },
  { name: 'LabelEncoder float → float', bytes: oneNode('LabelEncoder', [['x', FLOAT, [4]]], [['y', FLOAT]], [aFloats('keys_floats', [0.5, 1.5]), aFloats('values_floats', [10, 20]), { name: 'default_float', type: AT.FLOAT, f: 7 }], 'ai.onnx.ml'), feeds: { x: f32([4], [0.5, 1.5, 2, 0.1]) } },
];

/** x: string[2,3] → t = Transpose(x) [3,2] → g = Gather(t, [2, 0]) [2,2] → k = Concat(g, t, axis 0) [5,2] → s = Slice(k, [1], [4]) [3,2]; w = Where(c, x, x reversed by Gather) ; e = Expand(x[0:1], [2,3]); Split(x, axis 1) */
function movementModel(): Uint8Array {
  const i64 = (name: string, v: number[]): pb.ITensorProto => ({ name, dataType: INT64, dims: [v.length], int64Data: v });
  return onnx.ModelProto.encode({
    irVersion: 9,
    opsetImport: [{ domain: '', version: 18 }],
    graph: {
      name: 'move',
      node: [
        { name: 't', opType: 'Transpose', input: ['x'], output: ['t'] },
        { name: 'g', opType: 'Gather', input: ['t', 'gi'], output: ['g'] },
        { name: 'k', opType: 'Concat', input: ['g', 't'], output: ['k'], attribute: [aInt('axis', 0)] },
        { name: 's', opType: 'Slice', input: ['k', 'st', 'en'], output: ['s'] },
        { name: 'r', opType: 'Gather', input: ['x', 'ri'], output: ['r'], attribute: [aInt('axis', 1)] },
        { name: 'w', opType: 'Where', input: ['c', 'x', 'r'], output: ['w'] },
        { name: 'x0', opType: 'Slice', input: ['x', 'z', 'one'], output: ['x0'] },
        { name: 'e', opType: 'Expand', input: ['x0', 'sh'], output: ['e'] },
        { name: 'sp', opType: 'Split', input: ['x'], output: ['p', 'q', 'u'], attribute: [aInt('axis', 1), aInt('num_outputs', 3)] },
      ],
      initializer: [i64('gi', [2, 0]), i64('st', [1]), i64('en', [4]), i64('ri', [2, 1, 0]), i64('z', [0]), i64('one', [1]), i64('sh', [2, 3])],
      input: [vi(['x', STRING, [2, 3]]), vi(['c', BOOL, [3]])],
      output: ['s', 'w', 'e', 'p', 'u'].map((n) => vi([n, STRING])),
    },
  }).finish();
}

/** Asserts that two output records agree (strings exactly, floats within the default tolerance). */
function expectSame(got: Record<string, Tensor>, want: Record<string, Tensor>, what: string): void {
  expect(Object.keys(got).sort(), what).to.deep.equal(Object.keys(want).sort());
  for (const [k, w] of Object.entries(want)) {
    const c = compareTensors(w, got[k]!);
    const short = (t: Tensor): string => JSON.stringify(t.strings ? t.strings.map((v) => (v.length > 12 ? `${v.slice(0, 6)}…(${v.length})` : v)) : t.toArray());
    expect(c.pass, `${what} ${k}: got ${short(got[k]!)}, expected ${short(w)}`).to.equal(true);
  }
}

describe('string tensors and ops', function () {
  this.timeout(120_000);

  it('TensorProto string_data round-trips UTF-8 (empty, non-ASCII, long); invalid UTF-8 and raw data are ModelFormatErrors', () => {
    const t = str([2, 4], HOSTILE);
    const back = tensorFromProto(onnx.TensorProto.decode(onnx.TensorProto.encode(tensorToProto(t, 's')).finish()));
    expect(back.dtype).to.equal('string');
    expect(back.shape).to.deep.equal([2, 4]);
    expect(back.toStrings()).to.deep.equal(HOSTILE);
    expect(() => tensorFromProto({ name: 'bad', dataType: STRING, dims: [1], stringData: [new Uint8Array([0xff, 0xfe])] })).to.throw(ModelFormatError, /bad.*UTF-8/);
    expect(() => tensorFromProto({ name: 'raw', dataType: STRING, dims: [1], rawData: new Uint8Array([1]) })).to.throw(ModelFormatError, /raw.*string_data/);
    expect(() => tensorFromProto({ name: 'n', dataType: STRING, dims: [2], stringData: [enc.encode('a')] })).to.throw(ModelFormatError, /n: string_data holds 1/);
  });

  it('Tensor APIs: fromStrings/toStrings, reshape keeps strings, numeric accessors refuse', () => {
    const t = str([2], ['a', '的']);
    expect(t.reshape([1, 2]).toStrings()).to.deep.equal(['a', '的']);
    expect(() => t.toArray()).to.throw(DTypeError);
    expect(() => f32([1], [1]).toStrings()).to.throw(DTypeError);
    expect(() => Tensor.from('string', [1], [1])).to.throw(DTypeError);
    expect(() => Tensor.fromStrings([1], [3 as unknown as string])).to.throw(DTypeError);
    expect(() => new Tensor('string', [1])).to.throw(DTypeError);
    // The public ORT-style constructor.
    expect(new SessionTensor('string', ['x', '的'], [2, 1]).toStrings()).to.deep.equal(['x', '的']);
    expect(() => new SessionTensor('string', [1, 2])).to.throw(InputError);
    expect(() => new SessionTensor('float32', ['a'])).to.throw(InputError);
  });

  it('element-moving ops carry strings (Transpose, Gather, Concat, Slice, Where, Expand, Split) on CPU and WebGPU', async function () {
    // Checked against values worked by hand: onnxruntime-node 1.2x loses elements of a transposed string tensor read by several nodes.
    const L = 'a long string, beyond 16 bytes';
    const feeds = { x: str([2, 3], ['', 'a', '的', L, 'é', 'x']), c: Tensor.from('bool', [3], [0, 1, 0]) };
    const g = importModel(movementModel());
    const cpu = compileCpu(g).run(feeds) as Record<string, Tensor>;
    expectSame(compileCpu(optimize(g, { level: 2 }).graph).run(feeds) as Record<string, Tensor>, cpu, 'CPU at O2');
    expect(cpu.s!.shape).to.deep.equal([3, 2]);
    expect(cpu.s!.toStrings()).to.deep.equal(['', L, '', L, 'a', 'é']);
    expect(cpu.w!.toStrings()).to.deep.equal(['的', 'a', '', 'x', 'é', L]);
    expect(cpu.e!.toStrings()).to.deep.equal(['', 'a', '的', '', 'a', '的']);
    expect(cpu.p!.toStrings()).to.deep.equal(['', L]);
    expect(cpu.u!.toStrings()).to.deep.equal(['的', 'x']);
    const device = await deviceOrSkip(this);
    const p = await compileWebGpu(g, { device });
    try {
      expectSame(await p.run(feeds) as Record<string, Tensor>, cpu, 'WebGPU');
    } finally {
      p.release();
    }
  });

  it('an op that cannot carry strings is a DTypeError naming the node (not lost elements); reshapes keep them', () => {
    const t = oneNode('DepthToSpace', [['x', STRING, [1, 4, 1, 1]]], [['y', STRING]], [aInt('blocksize', 2)], '', 13);
    expect(() => compileCpu(importModel(t)).run({ x: str([1, 4, 1, 1], ['a', 'b', 'c', 'd']) })).to.throw(DTypeError, /DepthToSpace_0/);
    const mixed = oneNode('Concat', [['x', STRING, [1]], ['y', INT64, [1]]], [['z', STRING]], [aInt('axis', 0)], '', 13);
    expect(() => importModel(mixed)).to.throw(DTypeError, /Concat_0.*mixes/);
    const r = onnx.ModelProto.encode({
      irVersion: 9, opsetImport: [{ domain: '', version: 20 }],
      graph: { name: 'r', node: [{ name: 'r', opType: 'Reshape', input: ['x', 's'], output: ['y'] }], initializer: [{ name: 's', dataType: INT64, dims: [1], int64Data: [4] }], input: [vi(['x', STRING, [2, 2]])], output: [vi(['y', STRING, [4]])] },
    }).finish();
    expect((compileCpu(importModel(r)).run({ x: str([2, 2], ['a', '', '的', 'd']) }).y as Tensor).toStrings()).to.deep.equal(['a', '', '的', 'd']);
  });

  it('every op agrees with onnxruntime-node on the CPU', async () => {
    for (const c of CASES) {
      const want = await runOrt(c.bytes, c.feeds);
      const got = compileCpu(importModel(c.bytes)).run(c.feeds) as Record<string, Tensor>;
      expectSame(got, want, c.name);
    }
  });

  it('every op gives the CPU results on WebGPU (string nodes as host steps)', async function () {
    const device = await deviceOrSkip(this);
    for (const c of CASES) {
      const g = importModel(c.bytes);
      const want = compileCpu(g).run(c.feeds) as Record<string, Tensor>;
      const p = await compileWebGpu(g, { device });
      try {
        expectSame(await p.run(c.feeds) as Record<string, Tensor>, want, `${c.name} (WebGPU)`);
      } finally {
        p.release();
      }
    }
  });

  it('StringSplit of an empty string at a delimiter gives one empty piece (Python str.split, as ONNX\'s reference); onnxruntime gives none (a known difference)', async () => {
    const bytes = oneNode('StringSplit', [['x', STRING, [2]]], [['y', STRING], ['n', INT64]], [aStr('delimiter', ',')]);
    const feeds = { x: str([2], ['', 'a,b']) };
    const got = compileCpu(importModel(bytes)).run(feeds) as Record<string, Tensor>;
    expect(got.n!.toArray()).to.deep.equal([1, 2]);
    expect(got.y!.toStrings()).to.deep.equal(['', '', 'a', 'b']);
    const ort = await runOrt(bytes, feeds);
    expect(ort.n!.toArray(), 'onnxruntime still counts no piece').to.deep.equal([0, 2]);
  });

  it('StringSplit without a delimiter splits at any whitespace (Python str.split, as ONNX\'s reference and spec); onnxruntime splits at spaces only (a known difference)', async () => {
    const bytes = oneNode('StringSplit', [['x', STRING, [1]]], [['y', STRING], ['n', INT64]]);
    const feeds = { x: str([1], ['\t x\ny\u3000z ']) };
    const got = compileCpu(importModel(bytes)).run(feeds) as Record<string, Tensor>;
    expect(got.y!.toStrings()).to.deep.equal(['x', 'y', 'z']);
    const ort = await runOrt(bytes, feeds);
    expect(ort.y!.toStrings(), 'onnxruntime').to.not.deep.equal(['x', 'y', 'z']);
  });

  it('float → string gives the shortest round-trip digits (the ONNX data), NaN/INF literals', () => {
    expect(numberToString(Math.fround(0.6048455238342285), 'float32')).to.equal('0.6048455');
    expect(numberToString(Math.fround(0.03918779268860817), 'float32')).to.equal('0.039187793');
    expect(numberToString(Math.fround(1e-7), 'float32')).to.equal('1e-07');
    expect(numberToString(Math.fround(123456789), 'float32')).to.equal('123456790');
    expect(numberToString(Math.fround(1e16), 'float32')).to.equal('1e+16');
    expect(numberToString(100, 'float32')).to.equal('100');
    expect(numberToString(1 / 3, 'float64')).to.equal('0.3333333333333333');
    expect(numberToString(-0, 'float32')).to.equal('-0');
    expect([NaN, Infinity, -Infinity].map((v) => numberToString(v, 'float32'))).to.deep.equal(['NaN', 'INF', '-INF']);
  });

  it('a catastrophic regex is refused quickly, before matching; backreferences and lookaround are refused as RE2 does', () => {
    const refused = (pattern: string, re: RegExp): void => {
      const bytes = oneNode('RegexFullMatch', [['x', STRING, [1]]], [['y', BOOL]], [aStr('pattern', pattern)]);
      const t0 = performance.now();
      let err: unknown;
      try {
        compileCpu(importModel(bytes)).run({ x: str([1], [`${'a'.repeat(40)}!`]) });
      } catch (e) {
        err = e;
      }
      expect(performance.now() - t0, pattern).to.be.lessThan(1000);
      expect(err, pattern).to.be.instanceOf(AttributeError);
      expect((err as Error).message, pattern).to.match(/RegexFullMatch_0/).and.match(re);
    };
    refused('(a+)+', /exponential/);
    refused('(a|aa)*b', /exponential/);
    refused('((ab)*)*', /exponential/);
    refused('(a)\\1', /backreference/);
    refused('a(?=b)', /lookahead/);
    refused('(?<!x)a', /lookbehind/);
    refused('[', /unterminated|not a valid/);
  });

  it('typed errors naming the node: strings into a numeric op, an unparsable number, a bad locale', () => {
    const add = oneNode('Add', [['x', STRING, [1]], ['y', STRING, [1]]], [['z', STRING]], [], '', 14);
    expect(() => importModel(add)).to.throw(DTypeError, /Add_0/);
    const cast = oneNode('Cast', [['x', STRING, [1]]], [['y', FLOAT]], [aInt('to', FLOAT)], '', 21);
    expect(() => compileCpu(importModel(cast)).run({ x: str([1], ['hello']) })).to.throw(ExecutionError, /Cast_0.*hello/);
    const norm = oneNode('StringNormalizer', [['x', STRING, [1]]], [['y', STRING]], [aStr('locale', 'tr_TR.UTF-8'), aStr('case_change_action', 'UPPER')], '', 10);
    expect(() => importModel(norm)).to.throw(AttributeError, /StringNormalizer_0.*tr_TR/);
  });

  it('import → run → export → re-import (string initializer, string output) runs the same, and onnxruntime agrees', async () => {
    const bytes = onnx.ModelProto.encode({
      irVersion: 9,
      opsetImport: [{ domain: '', version: 20 }],
      graph: {
        name: 'rt',
        node: [{ name: 'cat', opType: 'StringConcat', input: ['x', 'suffix'], output: ['y'] }, { name: 'split', opType: 'StringSplit', input: ['y'], output: ['parts', 'n'], attribute: [aStr('delimiter', '的')] }],
        initializer: [{ name: 'suffix', dataType: STRING, dims: [1], stringData: [enc.encode('的尾')] }],
        input: [vi(['x', STRING, [3]])],
        output: [vi(['y', STRING, [3]]), vi(['parts', STRING]), vi(['n', INT64, [3]])],
      },
    }).finish();
    const feeds = { x: str([3], ['', 'a的b', LONG]) };
    const g = importModel(bytes);
    const first = compileCpu(g).run(feeds) as Record<string, Tensor>;
    const exported = exportModel(g);
    const again = compileCpu(importModel(exported)).run(feeds) as Record<string, Tensor>;
    expectSame(again, first, 're-imported');
    expectSame(await runOrt(exported, feeds), first, 'onnxruntime on the export');
    // Kiln's own format keeps string initializers (inline in the JSON).
    const saved = saveGraph(g);
    expectSame(compileCpu(loadGraph(saved.json, saved.weights)).run(feeds) as Record<string, Tensor>, first, 'saveGraph → loadGraph');
    const doc = JSON.parse(saved.json) as unknown;
    const bad = JSON.stringify(doc).replace('"strings":["的尾"]', '"strings":[1]');
    expect(() => loadGraph(bad, saved.weights)).to.throw(ModelFormatError, /strings/);
  });

  it('a mixed graph (string ops feeding a float computation) gives the same on CPU, WebGPU and onnxruntime', async function () {
    // words → LabelEncoder → float scores; numbers as strings → Cast → float; y = sum(scores * w) + nums.
    const bytes = onnx.ModelProto.encode({
      irVersion: 9,
      opsetImport: [{ domain: '', version: 20 }, { domain: 'ai.onnx.ml', version: 4 }],
      graph: {
        name: 'mixed',
        node: [
          { name: 'norm', opType: 'StringSplit', input: ['text'], output: ['words', 'count'] },
          { name: 'enc', opType: 'LabelEncoder', domain: 'ai.onnx.ml', input: ['words'], output: ['scores'], attribute: [aStrs('keys_strings', ['good', '好', 'bad']), aFloats('values_floats', [1, 2, -1]), { name: 'default_float', type: AT.FLOAT, f: 0 }] },
          { name: 'mul', opType: 'Mul', input: ['scores', 'w'], output: ['weighted'] },
          { name: 'sum', opType: 'ReduceSum', input: ['weighted', 'axes'], output: ['total'], attribute: [aInt('keepdims', 0)] },
          { name: 'num', opType: 'Cast', input: ['nums'], output: ['numf'], attribute: [aInt('to', FLOAT)] },
          { name: 'add', opType: 'Add', input: ['total', 'numf'], output: ['y'] },
          { name: 'cf', opType: 'Cast', input: ['count'], output: ['countf'], attribute: [aInt('to', FLOAT)] },
          { name: 'mulc', opType: 'Mul', input: ['y', 'countf'], output: ['z'] },
          { name: 'back', opType: 'Cast', input: ['z'], output: ['zs'], attribute: [aInt('to', STRING)] },
        ],
        initializer: [{ name: 'axes', dataType: INT64, dims: [1], int64Data: [1] }],
        input: [vi(['text', STRING, [2]]), vi(['w', FLOAT, [1, 1]]), vi(['nums', STRING, [2]])],
        output: [vi(['z', FLOAT, [2]]), vi(['zs', STRING, [2]])],
      },
    }).finish();
    const feeds = { text: str([2], ['good 好 bad good', '好 unknown']), w: f32([1, 1], [0.5]), nums: str([2], ['10', '-2.5']) };
    const g = importModel(bytes);
    const cpu = compileCpu(g).run(feeds) as Record<string, Tensor>;
    expect(cpu.z!.toArray()).to.deep.equal([4 * (0.5 * 3 + 10), 2 * (1 - 2.5)]);
    expect(cpu.zs!.toStrings()).to.deep.equal(['46', '-3']);
    expectSame(await runOrt(bytes, feeds), cpu, 'onnxruntime');
    const o2 = optimize(g, { level: 2 }).graph;
    expectSame(compileCpu(o2).run(feeds) as Record<string, Tensor>, cpu, 'CPU at O2');
    const device = await deviceOrSkip(this);
    for (const graph of [g, o2]) {
      const p = await compileWebGpu(graph, { device });
      try {
        expectSame(await p.run(feeds) as Record<string, Tensor>, cpu, graph === g ? 'WebGPU' : 'WebGPU at O2');
        expect(p.controlStats?.hostNodes ?? 0, 'string nodes ran as host steps').to.be.greaterThan(0);
      } finally {
        p.release();
      }
    }
  });

  it('errors are KilnErrors', () => {
    expect(new DTypeError('x')).to.be.instanceOf(KilnError);
  });
});
