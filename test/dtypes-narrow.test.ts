/**
 * The narrow dtypes of ONNX 1.17: bfloat16, the four float8 formats and int4/uint4.
 * Bit-level conversions on edge values (largest finite, smallest subnormal, ties to
 * even, NaN/Inf with saturate 0/1); TensorProto raw_data / int32_data packing; and
 * models importing them, run on the CPU and WebGPU, exported and re-imported, compared
 * with onnxruntime-node. onnxruntime-node cannot load a model with bfloat16 or float8
 * graph inputs/outputs, so those models keep float32 I/O (Cast in, Cast out) and
 * carry float8 values inside (initializers, intermediate values).
 */
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { floatFormatOf, formatBits, fromFormatBits, packNibbles, roundToFormat, unpackNibbles, type DType } from '../src/graph/dtype.js';
import { Tensor } from '../src/graph/tensor.js';
import { exportModel } from '../onnx/export.js';
import { importModel } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { tensorFromProto, tensorToProto } from '../onnx/tensor-proto.js';
import { sharedDevice } from './helpers/gpu.js';
import { model, vi } from './onnx-util.js';

const T = onnx.TensorProto.DataType;
const FLOAT8: readonly { dtype: DType; code: number; max: number; minSub: number }[] = [
  { dtype: 'float8e4m3fn', code: 17, max: 448, minSub: 2 ** -9 },
  { dtype: 'float8e4m3fnuz', code: 18, max: 240, minSub: 2 ** -10 },
  { dtype: 'float8e5m2', code: 19, max: 57344, minSub: 2 ** -16 },
  { dtype: 'float8e5m2fnuz', code: 20, max: 57344, minSub: 2 ** -17 },
];

/** Edge inputs of a float8 format: around the largest finite value, the smallest subnormal, ties, specials. */
function edges(max: number, minSub: number): number[] {
  const f32 = (v: number): number => Math.fround(v);
  return [0, -0, 1, -1, 1.0625, 1.1875, 0.1, -3.14159, 1e-3, max, -max, f32(max * 1.03), f32(max * 1.07), f32(max * 1.2), 1e6, -1e6,
    minSub, -minSub, minSub / 2, (minSub * 3) / 2, (minSub * 5) / 2, minSub / 4, f32(minSub * 0.51), Infinity, -Infinity, NaN];
}

const sameValue = (a: number, b: number): boolean => (Number.isNaN(a) && Number.isNaN(b)) || Object.is(a, b) || (a === 0 && b === 0);

function node(op: string, inputs: string[], outputs: string[], attrs: Record<string, number> = {}): pb.INodeProto {
  return { opType: op, input: inputs, output: outputs, attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i })) };
}

/** x: float32[n] → Cast(to, saturate) → Cast(float32) → y (opset 19). */
function castModel(code: number, n: number, saturate: number | undefined): Uint8Array {
  const attrs: Record<string, number> = saturate === undefined ? { to: code } : { to: code, saturate };
  return model({ input: [vi('x', T.FLOAT, [n])], output: [vi('y', T.FLOAT, [n])], node: [node('Cast', ['x'], ['q'], attrs), node('Cast', ['q'], ['y'], { to: T.FLOAT })] }, 19);
}

/** A model of IR version 10 (int4/uint4 need it). */
function model10(parts: pb.IGraphProto, opset: number): Uint8Array {
  return onnx.ModelProto.encode({ irVersion: 10, opsetImport: [{ domain: '', version: opset }], graph: { name: 'g', ...parts } }).finish();
}

async function ortRun(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** onnxruntime-node's outputs of Kiln's export of model bytes (its IR version and opset must fit the types it holds). */
async function ortOnExport(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  return ortRun(exportModel(importModel(bytes)), feeds);
}

/** Kiln's outputs of model bytes on the CPU, after export and re-import on the CPU, and on WebGPU when there is a device. */
async function kilnRuns(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<[string, Record<string, Tensor>][]> {
  const g = importModel(bytes);
  const runs: [string, Record<string, Tensor>][] = [['cpu', compileCpu(g).run(feeds)]];
  const again = importModel(exportModel(g));
  runs.push(['cpu, exported and re-imported', compileCpu(again).run(feeds)]);
  const device = await sharedDevice();
  if (device) {
    const prog = await compileWebGpu(g, { device });
    runs.push(['webgpu', (await prog.run(feeds)) as Record<string, Tensor>]);
  } else if (process.env.CI === 'true') {
    throw new Error('no WebGPU adapter');
  }
  return runs;
}

function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, inputs: ArrayLike<number>, what: string): void {
  expect(got.length, what).to.equal(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(sameValue(got[i]!, want[i]!), `${what}: element ${i} (input ${inputs[i]}): got ${got[i]}, want ${want[i]}`).to.equal(true);
  }
}

describe('narrow dtypes: bfloat16, float8, int4/uint4', function () {
  this.timeout(120_000);

  describe('bit patterns', () => {
    it('float8 E4M3FN: max 448 = 0x7e, NaN 0x7f/0xff, 464 ties to 448, beyond is NaN (no Inf), -0 kept', () => {
      const f = floatFormatOf('float8e4m3fn')!;
      expect(f.max).to.equal(448);
      expect(formatBits(448, f)).to.equal(0x7e);
      expect(fromFormatBits(0x7f, f)).to.be.NaN;
      expect(fromFormatBits(0xff, f)).to.be.NaN;
      expect(fromFormatBits(0x01, f)).to.equal(2 ** -9);
      expect(roundToFormat(464, f)).to.equal(448);
      expect(roundToFormat(465, f)).to.be.NaN;
      expect(roundToFormat(Infinity, f)).to.be.NaN;
      expect(Object.is(roundToFormat(-0, f), -0)).to.equal(true);
      expect(formatBits(-0, f)).to.equal(0x80);
    });
    it('float8 E4M3FNUZ / E5M2FNUZ: 0x80 is the only NaN, no -0, max 240 / 57344', () => {
      for (const [d, max] of [['float8e4m3fnuz', 240], ['float8e5m2fnuz', 57344]] as const) {
        const f = floatFormatOf(d)!;
        expect(f.max).to.equal(max);
        expect(fromFormatBits(0x80, f)).to.be.NaN;
        expect(formatBits(NaN, f)).to.equal(0x80);
        expect(formatBits(-0, f)).to.equal(0);
        expect(Object.is(roundToFormat(-1e-30, f), 0)).to.equal(true);
        expect(fromFormatBits(0x7f, f)).to.equal(max);
        expect(roundToFormat(Infinity, f)).to.be.NaN;
      }
    });
    it('float8 E5M2 is IEEE-like: 0x7c is Inf, 0x7b = 57344 is the largest, 61440 ties up to Inf', () => {
      const f = floatFormatOf('float8e5m2')!;
      expect(fromFormatBits(0x7c, f)).to.equal(Infinity);
      expect(fromFormatBits(0xfc, f)).to.equal(-Infinity);
      expect(fromFormatBits(0x7b, f)).to.equal(57344);
      expect(fromFormatBits(0x7d, f)).to.be.NaN;
      expect(roundToFormat(61439, f)).to.equal(57344);
      expect(roundToFormat(61440, f)).to.equal(Infinity);
      expect(fromFormatBits(0x01, f)).to.equal(2 ** -16);
    });
    it('bfloat16 rounds to nearest even: 1 + 2^-8 → 1, 1 + 3·2^-8 → 1 + 2^-6, bits of 1 are 0x3f80', () => {
      const f = floatFormatOf('bfloat16')!;
      expect(formatBits(1, f)).to.equal(0x3f80);
      expect(roundToFormat(1 + 2 ** -8, f)).to.equal(1);
      expect(roundToFormat(1 + 3 * 2 ** -8, f)).to.equal(1 + 2 ** -6);
      expect(fromFormatBits(0x7f80, f)).to.equal(Infinity);
      expect(fromFormatBits(0x0001, f)).to.equal(2 ** -133);
    });
    it('every float8 bit pattern decodes and re-encodes to itself (NaN patterns to the canonical NaN)', () => {
      for (const { dtype } of FLOAT8) {
        const f = floatFormatOf(dtype)!;
        for (let b = 0; b < 256; b++) {
          const v = fromFormatBits(b, f);
          if (Number.isNaN(v)) expect(fromFormatBits(formatBits(v, f), f), `${dtype} 0x${b.toString(16)}`).to.be.NaN;
          else expect(formatBits(v, f), `${dtype} 0x${b.toString(16)}`).to.equal(b);
        }
      }
    });
    it('int4/uint4 pack two per byte, low nibble first', () => {
      expect([...packNibbles([1, -2, 7])]).to.deep.equal([0xe1, 0x07]);
      expect([...unpackNibbles([0xe1, 0x07], 3, new Int8Array(3))]).to.deep.equal([1, -2, 7]);
      expect([...unpackNibbles([0xe1, 0x07], 3, new Uint8Array(3))]).to.deep.equal([1, 14, 7]);
    });
  });

  describe('Tensor API', () => {
    it('Tensor.fromBits / toBits: bit patterns of bfloat16 and float8, packed int4/uint4; Tensor.from rounds', () => {
      const e5 = Tensor.fromBits('float8e5m2', [3], Uint8Array.from([0x3c, 0x7c, 0x01]));
      expect(e5.toArray()).to.deep.equal([1, Infinity, 2 ** -16]);
      expect([...e5.toBits()]).to.deep.equal([0x3c, 0x7c, 0x01]);
      const bf = Tensor.fromBits('bfloat16', [2], Uint16Array.from([0x3f80, 0xff80]));
      expect(bf.toArray()).to.deep.equal([1, -Infinity]);
      expect(bf.toBits()).to.be.instanceOf(Uint16Array);
      const u4 = Tensor.fromBits('uint4', [3], [0xf1, 0x02]);
      expect(u4.toArray()).to.deep.equal([1, 15, 2]);
      expect([...u4.toBits()]).to.deep.equal([0xf1, 0x02]);
      expect(Tensor.from('float8e4m3fn', [3], [1.0625, 500, 3 * 2 ** -10]).toArray()).to.deep.equal([1, NaN, 2 ** -8].map((v, i) => (i === 1 ? NaN : v)));
      expect(Tensor.from('int4', [2], [9, -9]).toArray()).to.deep.equal([-7, 7]);
      expect(() => Tensor.fromBits('float32', [1], [0])).to.throw(/float32/);
      expect(() => Tensor.fromBits('int4', [3], [0])).to.throw(/needs 2/);
    });
  });

  describe('TensorProto', () => {
    it('raw_data: float8/bfloat16 as bits, int4/uint4 packed (odd count); int32_data likewise; round trip', () => {
      const int4 = tensorFromProto({ name: 'w', dataType: 22, dims: [3], rawData: Uint8Array.from([0xe1, 0x07]) });
      expect(int4.dtype).to.equal('int4');
      expect(int4.toArray()).to.deep.equal([1, -2, 7]);
      expect([...tensorToProto(int4, 'w').rawData]).to.deep.equal([0xe1, 0x07]);
      const uint4 = tensorFromProto({ name: 'u', dataType: 21, dims: [3], int32Data: [0xe1, 0x07] });
      expect(uint4.toArray()).to.deep.equal([1, 14, 7]);
      const e4 = tensorFromProto({ name: 'f', dataType: 17, dims: [4], rawData: Uint8Array.from([0x7e, 0x01, 0x80, 0x38]) });
      expect(e4.dtype).to.equal('float8e4m3fn');
      expect(e4.toArray()).to.deep.equal([448, 2 ** -9, -0, 1]);
      expect([...tensorToProto(e4, 'f').rawData]).to.deep.equal([0x7e, 0x01, 0x80, 0x38]);
      const bf = tensorFromProto({ name: 'b', dataType: 16, dims: [2], int32Data: [0x3f80, 0xc000] });
      expect(bf.toArray()).to.deep.equal([1, -2]);
      expect([...tensorToProto(bf, 'b').rawData]).to.deep.equal([0x80, 0x3f, 0x00, 0xc0]);
      expect(() => tensorFromProto({ name: 'bad4', dataType: 22, dims: [3], rawData: Uint8Array.from([1, 2, 3]) })).to.throw(/bad4/);
    });
  });

  describe('models vs onnxruntime-node (CPU, exported, WebGPU)', () => {
    for (const { dtype, code, max, minSub } of FLOAT8) {
      for (const saturate of [undefined, 1, 0]) {
        it(`Cast float32 → ${dtype} → float32, saturate ${saturate ?? 'default'}`, async () => {
          const xs = Float32Array.from(edges(max, minSub));
          const bytes = castModel(code, xs.length, saturate);
          const want = (await ortRun(bytes, { x: new ort.Tensor('float32', xs, [xs.length]) })).y!.data as Float32Array;
          for (const [label, out] of await kilnRuns(bytes, { x: new Tensor('float32', [xs.length], xs) })) {
            expectSame(out.y!.data, want, xs, `${dtype} saturate ${saturate} (${label})`);
          }
          const exported = await ortOnExport(bytes, { x: new ort.Tensor('float32', xs, [xs.length]) });
          expectSame(exported.y!.data as Float32Array, want, xs, `${dtype} saturate ${saturate} (onnxruntime-node on Kiln's export)`);
        });
      }
    }

    it('Cast float32 → bfloat16 → float32 (and the inputs of test_cast_FLOAT_to_BFLOAT16, where the 1.17 data truncates)', async () => {
      const xs = Float32Array.from([0, -0, 1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 0.47892547, 0.48033667, 0.48949873, 0.7812, 3.4e38, -3.4e38, 3.39e38, 1e-39, 2 ** -126, Infinity, -Infinity, NaN, 0.1, 65504]);
      const bytes = castModel(T.BFLOAT16, xs.length, undefined);
      const want = (await ortRun(bytes, { x: new ort.Tensor('float32', xs, [xs.length]) })).y!.data as Float32Array;
      for (const [label, out] of await kilnRuns(bytes, { x: new Tensor('float32', [xs.length], xs) })) {
        // GPUs may flush f32 subnormals (bfloat16 subnormals are f32 subnormals): compare those on the CPU only.
        const keep = label === 'webgpu' ? (i: number) => !(Math.abs(xs[i]!) < 2 ** -126 && xs[i] !== 0) : () => true;
        const idx = [...xs.keys()].filter(keep);
        expectSame(idx.map((i) => out.y!.data[i]!), idx.map((i) => want[i]!), idx.map((i) => xs[i]!), `bfloat16 (${label})`);
      }
    });

    it('float8 initializers (raw_data) dequantized and requantized: DequantizeLinear / QuantizeLinear with float8 zero points', async () => {
      for (const { dtype, code } of FLOAT8) {
        const f = floatFormatOf(dtype)!;
        const bits = Uint8Array.from([0x00, 0x01, 0x38, 0x3c, 0x40, 0x55, 0x7b, 0x81, 0xb8, 0xc8]);
        const vals = [...bits].map((b) => fromFormatBits(b, f));
        const n = bits.length;
        const bytes = model({
          input: [vi('x', T.FLOAT, [n])],
          output: [vi('d', T.FLOAT, [n]), vi('y', T.FLOAT, [n])],
          initializer: [
            { name: 'w', dataType: code, dims: [n], rawData: bits },
            { name: 's', dataType: T.FLOAT, dims: [], floatData: [0.5] },
            { name: 'z', dataType: code, dims: [], rawData: Uint8Array.from([0]) },
          ],
          node: [
            node('DequantizeLinear', ['w', 's', 'z'], ['d']),
            node('QuantizeLinear', ['x', 's', 'z'], ['q']),
            node('Cast', ['q'], ['y'], { to: T.FLOAT }),
          ],
        }, 19);
        const xs = Float32Array.from([0, 0.3, -1.7, 100, 1e5, -1e5, 2 ** -12, NaN, 7.25, -0.001]);
        const want = await ortRun(bytes, { x: new ort.Tensor('float32', xs, [n]) });
        expectSame(want.d!.data as Float32Array, vals.map((v) => v * 0.5), bits, `${dtype}: onnxruntime dequantizes the initializer bits`);
        for (const [label, out] of await kilnRuns(bytes, { x: new Tensor('float32', [n], xs) })) {
          expectSame(out.d!.data, want.d!.data as Float32Array, bits, `${dtype} DequantizeLinear (${label})`);
          expectSame(out.y!.data, want.y!.data as Float32Array, xs, `${dtype} QuantizeLinear (${label})`);
        }
        const exported = await ortOnExport(bytes, { x: new ort.Tensor('float32', xs, [n]) });
        expectSame(exported.d!.data as Float32Array, want.d!.data as Float32Array, bits, `${dtype} DequantizeLinear (onnxruntime-node on Kiln's export)`);
        expectSame(exported.y!.data as Float32Array, want.y!.data as Float32Array, xs, `${dtype} QuantizeLinear (onnxruntime-node on Kiln's export)`);
      }
    });

    for (const [dtype, code, lo, hi] of [['int4', 22, -8, 7], ['uint4', 21, 0, 15]] as const) {
      it(`${dtype}: QuantizeLinear → ${dtype} → DequantizeLinear, DequantizeLinear of a packed ${dtype} initializer with an odd count; Cast to ${dtype}`, async () => {
        const n = 7;
        const w = dtype === 'int4' ? [-8, -1, 0, 3, 7, 5, -3] : [0, 1, 8, 15, 7, 2, 9];
        const zp = dtype === 'int4' ? 1 : 3;
        const parts = (withCast: boolean): pb.IGraphProto => ({
          input: [vi('x', T.FLOAT, [n])],
          output: [vi('r', T.FLOAT, [n]), vi('d', T.FLOAT, [n]), ...(withCast ? [vi('q', code, [n]), vi('c', T.FLOAT, [n])] : [])],
          initializer: [
            { name: 'w', dataType: code, dims: [n], rawData: packNibbles(w) },
            { name: 's', dataType: T.FLOAT, dims: [], floatData: [0.25] },
            { name: 'z', dataType: code, dims: [], rawData: packNibbles([zp]) },
          ],
          node: [
            node('QuantizeLinear', ['x', 's', 'z'], ['q']),
            node('DequantizeLinear', ['q', 's', 'z'], ['r']),
            node('DequantizeLinear', ['w', 's', 'z'], ['d']),
            ...(withCast ? [node('Cast', ['x'], ['c4'], { to: code }), node('Cast', ['c4'], ['c'], { to: T.FLOAT })] : []),
          ],
        });
        const xs = Float32Array.from([-10, -1.125, -0.375, 0.125, 0.375, 2.5, 100]);
        // onnxruntime-node 1.30 cannot return an int4/uint4 output (its binding runs out of memory): it checks the float outputs.
        const rint = (v: number): number => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v)) + 0;
        const wantQ = [...xs].map((v) => Math.min(hi, Math.max(lo, rint(v / 0.25) + zp)));
        const wantC = [...xs].map((v) => Math.min(hi, Math.max(lo, rint(v))));
        const want = await ortRun(model10(parts(false), 21), { x: new ort.Tensor('float32', xs, [n]) });
        expectSame(want.r!.data as Float32Array, wantQ.map((q) => (q - zp) * 0.25), xs, `${dtype}: onnxruntime-node quantizes as the spec says`);
        expectSame(want.d!.data as Float32Array, w.map((q) => (q - zp) * 0.25), w, `${dtype}: onnxruntime-node unpacks the initializer`);
        const exported = await ortOnExport(model10(parts(false), 21), { x: new ort.Tensor('float32', xs, [n]) });
        expectSame(exported.r!.data as Float32Array, want.r!.data as Float32Array, xs, `${dtype} (onnxruntime-node on Kiln's export)`);
        expectSame(exported.d!.data as Float32Array, want.d!.data as Float32Array, w, `${dtype} (onnxruntime-node on Kiln's export)`);
        for (const [label, out] of await kilnRuns(model10(parts(true), 21), { x: new Tensor('float32', [n], xs) })) {
          expectSame(out.r!.data, want.r!.data as Float32Array, xs, `${dtype} Quantize/DequantizeLinear (${label})`);
          expectSame(out.d!.data, want.d!.data as Float32Array, w, `${dtype} DequantizeLinear (${label})`);
          expect(out.q!.dtype, label).to.equal(dtype);
          expect(out.q!.toArray(), `${dtype} QuantizeLinear (${label})`).to.deep.equal(wantQ);
          expect(out.c!.toArray(), `${dtype} Cast (${label})`).to.deep.equal(wantC);
        }
        // Export packs the int4 output two per byte, low nibble first.
        const q = compileCpu(importModel(model10(parts(true), 21))).run({ x: new Tensor('float32', [n], xs) }).q!;
        expect([...tensorToProto(q, 'q').rawData]).to.deep.equal([...packNibbles(wantQ)]);
      });
    }
  });
});
