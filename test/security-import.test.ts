/**
 * Hostile model files, one deterministic case per attack the fuzzer
 * (scripts/fuzz.ts) also generates at random: each ends quickly in a typed
 * KilnError naming the offending tensor/node, without touching files outside the
 * model's directory and without allocating what the file merely claims.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { importModel, importModelFile } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { KilnError, ModelFormatError, UnsupportedOpError } from '../src/graph/errors.js';
import { Tensor } from '../src/graph/tensor.js';
import { deepGraphModel, deepTypeModel } from '../scripts/fuzz-bytes.js';
import { bigLong, encodeModel, floatInit, int64Init, model, node, valueInfo } from '../scripts/fuzz-models.js';

const T = onnx.TensorProto.DataType;

/** y = x + W, W: float32[4] as given. */
function addModel(w: pb.ITensorProto): pb.IModelProto {
  return model({
    name: 'add',
    input: [valueInfo('x', T.FLOAT, [4])],
    output: [valueInfo('y', T.FLOAT, [4])],
    initializer: [w],
    node: [node('Add', ['x', 'W'], ['y'], 'add')],
  });
}

function external(location: string, extra: Record<string, string> = {}): pb.ITensorProto {
  return {
    name: 'W', dims: [4], dataType: T.FLOAT, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [{ key: 'location', value: location }, ...Object.entries(extra).map(([key, value]) => ({ key, value }))],
  };
}

function typedError(f: () => unknown, cls: typeof KilnError = KilnError, pattern?: RegExp): KilnError {
  const t0 = performance.now();
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(performance.now() - t0, 'took too long').to.be.lessThan(5000);
  expect(err, 'no error').to.be.instanceOf(cls);
  if (pattern) expect((err as Error).message).to.match(pattern);
  return err as KilnError;
}

describe('security: hostile model files', function () {
  this.timeout(30000);
  let dir: string;
  let modelDir: string;
  const secret = new Float32Array([13, 13, 13, 13]);

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kiln-sec-'));
    modelDir = path.join(dir, 'model');
    mkdirSync(modelDir);
    writeFileSync(path.join(dir, 'secret.bin'), new Uint8Array(secret.buffer));
    writeFileSync(path.join(modelDir, 'weights.bin'), new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
    symlinkSync(path.join(dir, 'secret.bin'), path.join(modelDir, 'link.bin'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads external data inside the model directory (control case)', () => {
    const g = importModel(encodeModel(addModel(external('weights.bin'))), { baseDir: modelDir });
    const y = compileCpu(g).run({ x: Tensor.from('float32', [4], [1, 1, 1, 1]) }).y!;
    expect(y.toArray()).to.deep.equal([2, 3, 4, 5]);
  });

  for (const loc of ['../secret.bin', path.join(tmpdir(), 'secret.bin'), '/etc/passwd', 'sub/../../secret.bin', '..\\secret.bin', 'C:\\secret.bin', 'c:/secret.bin']) {
    it(`refuses the external-data path ${JSON.stringify(loc)} with a ModelFormatError naming the tensor`, () => {
      const e = typedError(() => importModel(encodeModel(addModel(external(loc))), { baseDir: modelDir }), ModelFormatError);
      expect(e.message).to.include('W');
    });
  }

  it('refuses external data reached through a symlink that leaves the model directory', () => {
    const file = path.join(modelDir, 'm.onnx');
    writeFileSync(file, encodeModel(addModel(external('link.bin'))));
    let loaded: number[] | undefined;
    try {
      const g = importModelFile(file);
      loaded = [...(g.initializers.get('W')?.toArray() ?? [])];
    } catch (e) {
      expect(e).to.be.instanceOf(KilnError);
    }
    expect(loaded, 'the file outside the model directory was read').to.equal(undefined);
  });

  it('refuses external data with a bad offset/length, or without a base directory', () => {
    for (const extra of [{ offset: '-4' }, { length: '1e12' }, { offset: '8', length: '16' }, { offset: 'abc' }] as Record<string, string>[]) {
      typedError(() => importModel(encodeModel(addModel(external('weights.bin', extra))), { baseDir: modelDir }), ModelFormatError);
    }
    typedError(() => importModel(encodeModel(addModel(external('weights.bin')))), ModelFormatError, /base directory/);
  });

  it('rejects raw_data that claims gigabytes without allocating them', () => {
    const rss0 = process.memoryUsage.rss();
    for (const dims of [[65536, 65536], [2 ** 31 - 1], [2 ** 40], [1 << 30, 4]]) {
      const w: pb.ITensorProto = { name: 'W', dims, dataType: T.FLOAT, rawData: new Uint8Array(16) };
      const e = typedError(() => importModel(encodeModel(addModel(w))));
      expect(e.message).to.include('W');
    }
    expect(process.memoryUsage.rss() - rss0).to.be.lessThan(256 * 2 ** 20);
  });

  it('rejects initializers whose declared size disagrees with their data', () => {
    typedError(() => importModel(encodeModel(addModel(floatInit('W', [5], [1, 2, 3, 4])))), ModelFormatError, /W/);
    typedError(() => importModel(encodeModel(addModel({ name: 'W', dims: [4], dataType: T.FLOAT, floatData: [1, 2] }))), ModelFormatError, /W/);
  });

  it('rejects negative, 1e12-sized and beyond-2^53 dims with typed errors', () => {
    for (const d of [-1, 1e12, bigLong(2n ** 62n), bigLong(-(2n ** 63n))]) {
      const m = addModel(floatInit('W', [4], [1, 2, 3, 4]));
      m.graph!.input = [{ name: 'x', type: { tensorType: { elemType: T.FLOAT, shape: { dim: [{ dimValue: d }] } } } }];
      typedError(() => importModel(encodeModel(m)));
      typedError(() => importModel(encodeModel(addModel({ name: 'W', dims: [d], dataType: T.FLOAT, rawData: new Uint8Array(16) }))), KilnError, /W/);
    }
  });

  it('rejects int64 values beyond 2^53 in shape tensors and indices with typed errors', () => {
    const reshape = (v: bigint) => model({
      name: 'r', input: [valueInfo('x', T.FLOAT, [4])], output: [valueInfo('y', T.FLOAT, [4])],
      initializer: [int64Init('shape', [2], [bigLong(v), 2])], node: [node('Reshape', ['x', 'shape'], ['y'], 'reshape')],
    });
    for (const v of [2n ** 53n + 1n, 2n ** 62n, -(2n ** 63n)]) typedError(() => importModel(encodeModel(reshape(v))));
    const gather = model({
      name: 'g', input: [valueInfo('x', T.FLOAT, [4])], output: [valueInfo('y', T.FLOAT, [1])],
      initializer: [int64Init('idx', [1], [bigLong(2n ** 62n)])], node: [node('Gather', ['x', 'idx'], ['y'], 'gather', { axis: 0 })],
    });
    typedError(() => compileCpu(importModel(encodeModel(gather))).run({ x: Tensor.from('float32', [4], [1, 2, 3, 4]) }));
  });

  it('rejects unknown data types with a typed error naming the tensor', () => {
    for (const code of [0, 8, 16, 42, 99]) {
      const e = typedError(() => importModel(encodeModel(addModel({ name: 'W', dims: [4], dataType: code, rawData: new Uint8Array(16) }))));
      expect(e.message).to.include('W');
    }
  });

  it('rejects cycles, self-loops, dangling inputs and duplicate outputs, naming the node', () => {
    const chain = (nodes: pb.INodeProto[]) => model({ name: 'c', input: [valueInfo('x', T.FLOAT, [2])], output: [valueInfo('y', T.FLOAT, [2])], node: nodes });
    typedError(() => importModel(encodeModel(chain([node('Relu', ['y'], ['y'], 'self')]))), ModelFormatError, /self/);
    typedError(() => importModel(encodeModel(chain([node('Relu', ['b'], ['a'], 'first'), node('Neg', ['a'], ['b'], 'second'), node('Relu', ['a'], ['y'], 'out')]))), ModelFormatError, /cycle/);
    typedError(() => importModel(encodeModel(chain([node('Relu', ['nowhere'], ['y'], 'dangling')]))), ModelFormatError, /nowhere/);
    typedError(() => importModel(encodeModel(chain([node('Relu', ['x'], ['y'], 'one'), node('Neg', ['x'], ['y'], 'two')]))), ModelFormatError, /twice/);
  });

  it('rejects graph attributes and types nested 20 000 deep without overflowing the stack', () => {
    for (const bytes of [deepGraphModel(20000, false), deepGraphModel(20000, true), deepTypeModel(20000)]) {
      typedError(() => importModel(bytes));
    }
  });

  it('rejects truncated files and files claiming a 4 GiB field', () => {
    const bytes = encodeModel(addModel(floatInit('W', [4], [1, 2, 3, 4])));
    for (let cut = 1; cut < bytes.length; cut += 7) {
      try {
        importModel(bytes.subarray(0, cut));
      } catch (e) {
        expect(e, `cut at ${cut}`).to.be.instanceOf(KilnError);
      }
    }
    typedError(() => importModel(Uint8Array.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x00])), ModelFormatError);
  });
});
