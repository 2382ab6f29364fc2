/**
 * Fuzz-style importer tests: truncated files, flipped bits, invalid wire types and
 * garbage must give a typed KilnError (usually ModelFormatError), never a raw
 * exception. Mutations come from a fixed-seed generator, so runs are repeatable.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { KilnError, ModelFormatError } from '../src/graph/errors.js';
import { importModel } from '../onnx/import.js';
import { decodeTensorBytes, readTensorFile } from '../onnx/tensor-proto.js';
import { SHARED_MODELS } from './onnx-util.js';

/** Imports bytes; returns 'ok' or the error's class name, and fails the test on a non-Kiln error. */
function outcome(bytes: Uint8Array, what: string): string {
  try {
    importModel(bytes, {}, what);
    return 'ok';
  } catch (e) {
    if (!(e instanceof KilnError)) throw new Error(`${what}: raw ${(e as Error)?.constructor?.name} escaped: ${(e as Error)?.message}`);
    return e.name;
  }
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('ONNX import fuzzing: malformed files give typed errors', function () {
  this.timeout(60_000);
  const file = path.join(SHARED_MODELS, 'squeezenet1_1', 'model.onnx');
  const original = new Uint8Array(readFileSync(file));

  it('the unmodified model imports', () => {
    expect(outcome(original, 'original')).to.equal('ok');
  });

  it('truncated at many cut points: ModelFormatError', () => {
    const cuts = [1, 2, 5, 10, 17, 64, 100, 1000, 4096, original.length >> 2, original.length >> 1, original.length - 100, original.length - 1];
    for (const cut of cuts) {
      const r = outcome(original.subarray(0, cut), `cut ${cut}`);
      expect(r, `cut at ${cut}`).to.equal('ModelFormatError');
    }
  });

  it('random bit flips: either imports or throws a KilnError', () => {
    const rnd = lcg(1234);
    // Flips in the structure part (before the bulk of the weights) and anywhere.
    for (let k = 0; k < 60; k++) {
      const buf = original.slice();
      const span = k % 2 === 0 ? Math.min(4096, buf.length) : buf.length;
      const pos = Math.floor(rnd() * span);
      buf[pos]! ^= 1 << Math.floor(rnd() * 8);
      outcome(buf, `flip at ${pos}`);
    }
  });

  it('invalid wire type and garbage: ModelFormatError', () => {
    // Field 7 (graph) with wire type 7, which does not exist.
    expect(outcome(new Uint8Array([0x3f, 0x01, 0x02]), 'wire type 7')).to.equal('ModelFormatError');
    // Field 7 (graph, length-delimited) sent as a varint, then a bogus length.
    expect(outcome(new Uint8Array([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'huge length')).to.equal('ModelFormatError');
    const rnd = lcg(99);
    for (let k = 0; k < 20; k++) {
      const junk = Uint8Array.from({ length: 200 }, () => Math.floor(rnd() * 256));
      const r = outcome(junk, `junk ${k}`);
      expect(r).to.not.equal('ok');
    }
  });

  it('truncated TensorProto files: ModelFormatError', () => {
    const pb = new Uint8Array(readFileSync(path.join(SHARED_MODELS, 'squeezenet1_1', 'test_data_set_0', 'input_0.pb')));
    expect(readTensorFile(path.join(SHARED_MODELS, 'squeezenet1_1', 'test_data_set_0', 'input_0.pb')).tensor.shape).to.deep.equal([1, 3, 224, 224]);
    for (const cut of [3, 20, pb.length >> 1, pb.length - 1]) {
      expect(() => decodeTensorBytes(pb.subarray(0, cut), `cut ${cut}`), `cut ${cut}`).to.throw(ModelFormatError);
    }
  });
});
