/**
 * Importer tests on ModelProtos built here with onnx-proto: every initializer
 * encoding, Constant forms, external data, symbolic dims, the op table's
 * migrations, and the error cases (unsupported ops listed at once, bad paths).
 * Expected values are written out by hand.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import Long from 'long';
import { compileCpu } from '../src/backends/cpu/index.js';
import { ModelFormatError, UnsupportedOpError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { importModel, importModelFile } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { model, vi } from './onnx-util.js';

const F = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

function node(op: string, inputs: string[], outputs: string[], attribute: pb.IAttributeProto[] = [], name = ''): pb.INodeProto {
  return { opType: op, input: inputs, output: outputs, attribute, name };
}

function run(g: Graph, feeds: Record<string, Tensor> = {}): Record<string, Tensor> {
  return compileCpu(g).run(feeds);
}

/** Imports `y = Identity(w)` with initializer w and returns y's value. */
function initValue(t: pb.ITensorProto, outType: number): Tensor {
  const g = importModel(model({
    node: [node('Identity', ['w'], ['y'])],
    initializer: [{ name: 'w', ...t }],
    output: [vi('y', outType, t.dims as number[])],
  }));
  return run(g).y!;
}

const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('ONNX import: initializer encodings', () => {
  it('raw_data little-endian for float32, float16, int64, bool, int8', () => {
    expect(initValue({ dims: [3], dataType: F.FLOAT, rawData: bytes(new Float32Array([1.5, -2, 3.25])) }, F.FLOAT).toArray()).to.deep.equal([1.5, -2, 3.25]);
    expect(initValue({ dims: [3], dataType: F.FLOAT16, rawData: bytes(new Uint16Array([0x3c00, 0xc000, 0x3800])) }, F.FLOAT16).toArray()).to.deep.equal([1, -2, 0.5]);
    const i64 = initValue({ dims: [2], dataType: F.INT64, rawData: bytes(new BigInt64Array([-1n, 2n ** 40n])) }, F.INT64);
    expect(i64.dtype).to.equal('int64');
    expect(i64.toArray()).to.deep.equal([-1, 2 ** 40]);
    expect(initValue({ dims: [3], dataType: F.BOOL, rawData: new Uint8Array([1, 0, 1]) }, F.BOOL).toArray()).to.deep.equal([1, 0, 1]);
    expect(initValue({ dims: [2], dataType: F.INT8, rawData: new Uint8Array([0xff, 0x7f]) }, F.INT8).toArray()).to.deep.equal([-1, 127]);
  });

  it('typed fields: float_data, int32_data (int8/uint8/int16/uint16/bool/float16 bits), int64_data, double_data, uint64_data', () => {
    expect(initValue({ dims: [2], dataType: F.FLOAT, floatData: [0.5, -4] }, F.FLOAT).toArray()).to.deep.equal([0.5, -4]);
    expect(initValue({ dims: [3], dataType: F.INT8, int32Data: [-3, 4, 127] }, F.INT8).toArray()).to.deep.equal([-3, 4, 127]);
    expect(initValue({ dims: [2], dataType: F.UINT8, int32Data: [200, 255] }, F.UINT8).toArray()).to.deep.equal([200, 255]);
    expect(initValue({ dims: [1], dataType: F.INT16, int32Data: [-300] }, F.INT16).toArray()).to.deep.equal([-300]);
    expect(initValue({ dims: [1], dataType: F.UINT16, int32Data: [65535] }, F.UINT16).toArray()).to.deep.equal([65535]);
    expect(initValue({ dims: [3], dataType: F.BOOL, int32Data: [1, 0, 1] }, F.BOOL).toArray()).to.deep.equal([1, 0, 1]);
    expect(initValue({ dims: [2], dataType: F.FLOAT16, int32Data: [0x3c00, 0xbc00] }, F.FLOAT16).toArray()).to.deep.equal([1, -1]);
    expect(initValue({ dims: [2], dataType: F.INT32, int32Data: [-7, 2147483647] }, F.INT32).toArray()).to.deep.equal([-7, 2147483647]);
    // int64 through Long; 2^60 + 1 has no exact double and rounds to 2^60 (documented).
    const i64 = initValue({ dims: [3], dataType: F.INT64, int64Data: [Long.fromInt(-5), 7, Long.fromString('1152921504606846977')] }, F.INT64);
    expect(i64.toArray()).to.deep.equal([-5, 7, 2 ** 60]);
    expect(initValue({ dims: [2], dataType: F.DOUBLE, doubleData: [0.1, -1e300] }, F.DOUBLE).toArray()).to.deep.equal([0.1, -1e300]);
    expect(initValue({ dims: [1], dataType: F.UINT32, uint64Data: [4000000000] }, F.UINT32).toArray()).to.deep.equal([4000000000]);
    expect(initValue({ dims: [1], dataType: F.UINT64, uint64Data: [Long.fromString('18446744073709551615', true)] }, F.UINT64).toArray()).to.deep.equal([2 ** 64]);
  });

  it('rejects data of the wrong length with a ModelFormatError naming the tensor', () => {
    expect(() => initValue({ dims: [3], dataType: F.FLOAT, floatData: [1, 2] }, F.FLOAT)).to.throw(ModelFormatError, /w/);
    expect(() => initValue({ dims: [2], dataType: F.FLOAT, rawData: new Uint8Array(7) }, F.FLOAT)).to.throw(ModelFormatError, /7 bytes/);
  });

  it('treats a graph input that is also an initializer as an initializer', () => {
    const g = importModel(model({
      node: [node('Add', ['x', 'w'], ['y'])],
      input: [vi('x', F.FLOAT, [2]), vi('w', F.FLOAT, [2])],
      initializer: [{ name: 'w', dims: [2], dataType: F.FLOAT, floatData: [10, 20] }],
      output: [vi('y', F.FLOAT, [2])],
    }));
    expect(g.inputs.map((i) => i.name)).to.deep.equal(['x']);
    expect(run(g, { x: Tensor.from('float32', [2], [1, 2]) }).y!.toArray()).to.deep.equal([11, 22]);
  });
});

describe('ONNX import: Constant nodes', () => {
  const constant = (attr: pb.IAttributeProto): Tensor => run(importModel(model({ node: [node('Constant', [], ['y'], [attr])], output: [vi('y', F.FLOAT, [])] }))).y!;

  it('accepts value, value_float(s) and value_int(s)', () => {
    const v = constant({ name: 'value', type: A.TENSOR, t: { dims: [2], dataType: F.INT32, int32Data: [3, -4] } });
    expect([v.dtype, v.shape, v.toArray()]).to.deep.equal(['int32', [2], [3, -4]]);
    const f = constant({ name: 'value_float', type: A.FLOAT, f: 2.5 });
    expect([f.dtype, f.shape, f.toArray()]).to.deep.equal(['float32', [], [2.5]]);
    const fs = constant({ name: 'value_floats', type: A.FLOATS, floats: [1, 0.25] });
    expect([fs.dtype, fs.shape, fs.toArray()]).to.deep.equal(['float32', [2], [1, 0.25]]);
    const i = constant({ name: 'value_int', type: A.INT, i: 9 });
    expect([i.dtype, i.shape, i.toArray()]).to.deep.equal(['int64', [], [9]]);
    const is = constant({ name: 'value_ints', type: A.INTS, ints: [1, Long.fromInt(-2)] });
    expect([is.dtype, is.shape, is.toArray()]).to.deep.equal(['int64', [2], [1, -2]]);
  });

  it('reports string values as unsupported', () => {
    expect(() => constant({ name: 'value_string', type: A.STRING, s: new TextEncoder().encode('hi') })).to.throw(UnsupportedOpError, /value_string/);
    expect(() => constant({ name: 'value_strings', type: A.STRINGS, strings: [] })).to.throw(UnsupportedOpError, /value_strings/);
  });
});

describe('ONNX import: external data', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-ext-'));
  const weights = new Float32Array([0, 0, 1.25, -3, 8]);
  writeFileSync(path.join(dir, 'weights.bin'), bytes(weights));
  const ext = (location: string): Uint8Array => model({
    node: [node('Identity', ['w'], ['y'])],
    initializer: [{
      name: 'w', dims: [3], dataType: F.FLOAT, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: location }, { key: 'offset', value: '8' }, { key: 'length', value: '12' }],
    }],
    output: [vi('y', F.FLOAT, [3])],
  });

  it('reads a relative file at an offset', () => {
    writeFileSync(path.join(dir, 'model.onnx'), ext('weights.bin'));
    expect(run(importModelFile(path.join(dir, 'model.onnx'))).y!.toArray()).to.deep.equal([1.25, -3, 8]);
  });

  it('refuses .. components, absolute paths, and a missing base directory', () => {
    expect(() => importModel(ext('../weights.bin'), { baseDir: dir })).to.throw(ModelFormatError, /\.\./);
    expect(() => importModel(ext('sub/../../weights.bin'), { baseDir: dir })).to.throw(ModelFormatError, /\.\./);
    expect(() => importModel(ext('/etc/passwd'), { baseDir: dir })).to.throw(ModelFormatError, /absolute/);
    expect(() => importModel(ext('weights.bin'))).to.throw(ModelFormatError, /base directory/);
    expect(() => importModel(ext('missing.bin'), { baseDir: dir })).to.throw(ModelFormatError, /cannot be read/);
  });
});

describe('ONNX import: graph structure', () => {
  it('keeps dim_param as symbolic dims and names unknown dims', () => {
    const g = importModel(model({
      node: [node('Relu', ['x'], ['y'])],
      input: [vi('x', F.FLOAT, ['batch', 3, null])],
      output: [vi('y', F.FLOAT, ['batch', 3, null])],
    }));
    expect(g.inputs[0]!.shape).to.deep.equal(['batch', 3, 'x_dim2']);
    expect(g.outputs[0]!.shape).to.deep.equal(['batch', 3, 'x_dim2']);
    expect(run(g, { x: Tensor.from('float32', [2, 3, 1], [-1, 2, -3, 4, -5, 6]) }).y!.toArray()).to.deep.equal([0, 2, 0, 4, 0, 6]);
  });

  it('reports every unsupported op and its nodes in one error', () => {
    let err: unknown;
    try {
      importModel(model({
        node: [node('FooOp', ['x'], ['a'], [], 'f1'), node('Relu', ['a'], ['b']), node('FooOp', ['b'], ['c'], [], 'f2'), node('BarOp', ['c'], ['y'], [], 'b1')],
        input: [vi('x', F.FLOAT, [2])],
        output: [vi('y', F.FLOAT, [2])],
      }));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UnsupportedOpError);
    expect((err as UnsupportedOpError).ops).to.deep.equal([{ op: 'FooOp', nodes: ['f1', 'f2'] }, { op: 'BarOp', nodes: ['b1'] }]);
  });

  it('orders nodes topologically, names unnamed and duplicate nodes uniquely, and keeps value names', () => {
    const g = importModel(model({
      node: [node('Neg', ['a'], ['y'], [], 'n'), node('Abs', ['x'], ['a'], [], 'n'), node('Relu', ['y'], ['z'])],
      input: [vi('x', F.FLOAT, [2])],
      output: [vi('z', F.FLOAT, [2])],
    }));
    const names = g.nodes.map((n) => n.name);
    expect(new Set(names).size).to.equal(3);
    expect(g.topo.map((n) => n.op)).to.deep.equal(['Abs', 'Neg', 'Relu']);
    expect(g.topo.map((n) => n.outputs[0])).to.deep.equal(['a', 'y', 'z']);
    expect(run(g, { x: Tensor.from('float32', [2], [-3, 4]) }).z!.toArray()).to.deep.equal([0, 0]);
  });

  it('accepts omitted ("") outputs', () => {
    const g = importModel(model({
      node: [node('TopK', ['x', 'k'], ['', 'idx'], [{ name: 'axis', type: A.INT, i: 0 }])],
      input: [vi('x', F.FLOAT, [4])],
      initializer: [{ name: 'k', dims: [1], dataType: F.INT64, int64Data: [2] }],
      output: [vi('idx', F.INT64, [2])],
    }));
    expect(run(g, { x: Tensor.from('float32', [4], [1, 9, 3, 7]) }).idx!.toArray()).to.deep.equal([1, 3]);
  });

  it('rejects dangling references and cycles with ModelFormatError', () => {
    expect(() => importModel(model({ node: [node('Relu', ['nope'], ['y'])], output: [vi('y', F.FLOAT, [1])] }))).to.throw(ModelFormatError, /nope/);
    expect(() => importModel(model({
      node: [node('Relu', ['b'], ['a']), node('Relu', ['a'], ['b'])], output: [vi('b', F.FLOAT, [1])],
    }))).to.throw(ModelFormatError, /cycle/);
    expect(() => importModel(onnx.ModelProto.encode({ irVersion: 8 }).finish())).to.throw(ModelFormatError, /no graph/);
  });
});

describe('ONNX import: opset migrations', () => {
  it('Softmax before opset 13 normalizes over the flattened trailing axes', () => {
    const x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const g = importModel(model({
      node: [node('Softmax', ['x'], ['y'], [{ name: 'axis', type: A.INT, i: 1 }])],
      input: [vi('x', F.FLOAT, [1, 3, 4])],
      output: [vi('y', F.FLOAT, [1, 3, 4])],
    }, 11));
    const y = run(g, { x: Tensor.from('float32', [1, 3, 4], x) }).y!;
    const denom = x.reduce((s, v) => s + Math.exp(v), 0);
    expect(y.shape).to.deep.equal([1, 3, 4]);
    y.toArray().forEach((v, i) => expect(v).to.be.closeTo(Math.exp(x[i]!) / denom, 1e-6));
  });

  it('opset-6 Add with broadcast=1, axis=1 aligns B with axis 1', () => {
    const g = importModel(model({
      node: [node('Add', ['a', 'b'], ['y'], [{ name: 'broadcast', type: A.INT, i: 1 }, { name: 'axis', type: A.INT, i: 1 }])],
      input: [vi('a', F.FLOAT, [2, 3, 2]), vi('b', F.FLOAT, [3])],
      output: [vi('y', F.FLOAT, [2, 3, 2])],
    }, 6));
    const y = run(g, { a: Tensor.full('float32', [2, 3, 2], 0), b: Tensor.from('float32', [3], [1, 2, 3]) }).y!;
    expect(y.toArray()).to.deep.equal([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
  });

  it('Resize opset 10 (X, scales) is nearest with asymmetric coordinates', () => {
    const g = importModel(model({
      node: [node('Resize', ['x', 's'], ['y'], [{ name: 'mode', type: A.STRING, s: new TextEncoder().encode('nearest') }])],
      input: [vi('x', F.FLOAT, [1, 1, 2, 2])],
      initializer: [{ name: 's', dims: [4], dataType: F.FLOAT, floatData: [1, 1, 2, 2] }],
      output: [vi('y', F.FLOAT, [1, 1, 4, 4])],
    }, 10));
    const y = run(g, { x: Tensor.from('float32', [1, 1, 2, 2], [1, 2, 3, 4]) }).y!;
    expect(y.toArray()).to.deep.equal([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });

  it('TopK opset 1 (k attribute) and Pad opset 1 (paddings)', () => {
    const topk = importModel(model({
      node: [node('TopK', ['x'], ['v', 'i'], [{ name: 'k', type: A.INT, i: 1 }])],
      input: [vi('x', F.FLOAT, [3])],
      output: [vi('v', F.FLOAT, [1]), vi('i', F.INT64, [1])],
    }, 1));
    expect(run(topk, { x: Tensor.from('float32', [3], [2, 8, 5]) }).v!.toArray()).to.deep.equal([8]);
    const pad = importModel(model({
      node: [node('Pad', ['x'], ['y'], [{ name: 'paddings', type: A.INTS, ints: [1, 2] }, { name: 'value', type: A.FLOAT, f: 7 }])],
      input: [vi('x', F.FLOAT, [1])],
      output: [vi('y', F.FLOAT, [4])],
    }, 1));
    expect(run(pad, { x: Tensor.from('float32', [1], [5]) }).y!.toArray()).to.deep.equal([7, 5, 7, 7]);
  });

  it('drops legacy attributes (consumed_inputs, is_test, spatial)', () => {
    const g = importModel(model({
      node: [node('Relu', ['x'], ['y'], [{ name: 'consumed_inputs', type: A.INTS, ints: [0] }])],
      input: [vi('x', F.FLOAT, [2])],
      output: [vi('y', F.FLOAT, [2])],
    }, 1));
    expect(g.nodes[0]!.attrs).to.deep.equal({});
  });

  it('NegativeLogLikelihoodLoss is expanded into registry ops (weights, ignore_index, reductions)', () => {
    const nll = (attrs: pb.IAttributeProto[], outDims: number[]): Tensor => run(importModel(model({
      node: [node('NegativeLogLikelihoodLoss', ['x', 't', 'w'], ['loss'], attrs)],
      input: [vi('x', F.FLOAT, [2, 3]), vi('t', F.INT64, [2])],
      initializer: [{ name: 'w', dims: [3], dataType: F.FLOAT, floatData: [1, 2, 3] }],
      output: [vi('loss', F.FLOAT, outDims)],
    }, 13)), { x: Tensor.from('float32', [2, 3], [-1, -2, -3, -4, -5, -6]), t: Tensor.from('int64', [2], [2, 0]) }).loss!;
    const str = (s: string): pb.IAttributeProto => ({ name: 'reduction', type: A.STRING, s: new TextEncoder().encode(s) });
    const ignore0: pb.IAttributeProto = { name: 'ignore_index', type: A.INT, i: 0 };
    // loss[n] = -x[n, t[n]] * w[t[n]]: [-(-3)*3, -(-4)*1] = [9, 4]; mean divides by the weights used (3 + 1).
    expect(nll([str('none')], [2]).toArray()).to.deep.equal([9, 4]);
    expect(nll([str('sum')], []).toArray()).to.deep.equal([13]);
    expect(nll([], []).toArray()).to.deep.equal([3.25]);
    // ignore_index 0 drops the second sample: [9, 0], mean 9 / 3.
    expect(nll([str('none'), ignore0], [2]).toArray()).to.deep.equal([9, 0]);
    expect(nll([ignore0], []).toArray()).to.deep.equal([3]);
  });
});
