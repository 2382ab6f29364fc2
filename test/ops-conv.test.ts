import { expect } from 'chai';
import { GraphBuilder, ShapeError, Tensor } from '../src/graph/index.js';
import { expectTensor, f32, nodeTests, runNodeTest, runOp } from './ops-conv-onnxdata.js';

const x5 = f32([1, 1, 5, 5], Array.from({ length: 25 }, (_, i) => i));
const ones3 = f32([1, 1, 3, 3], new Array(9).fill(1));

describe('ops: Conv', () => {
  it('3x3 ones kernel with and without pads, with stride 2 (ONNX doc example)', () => {
    expectTensor(runOp('Conv', [x5, ones3], { pads: [1, 1, 1, 1] })[0]!, [1, 1, 5, 5],
      [12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84]);
    expectTensor(runOp('Conv', [x5, ones3])[0]!, [1, 1, 3, 3], [54, 63, 72, 99, 108, 117, 144, 153, 162]);
    expectTensor(runOp('Conv', [x5, ones3], { pads: [1, 1, 1, 1], strides: [2, 2] })[0]!, [1, 1, 3, 3], [12, 27, 24, 63, 108, 81, 72, 117, 84]);
  });
  it('dilations: a 2x2 ones kernel dilated by 2 sums x[i,j], x[i,j+2], x[i+2,j], x[i+2,j+2]', () => {
    const y = runOp('Conv', [x5, f32([1, 1, 2, 2], [1, 1, 1, 1])], { dilations: [2, 2] })[0]!;
    expectTensor(y, [1, 1, 3, 3], [6, 7, 8, 11, 12, 13, 16, 17, 18].map((v) => 4 * v));
  });
  it('groups with bias', () => {
    const x = f32([1, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const y = runOp('Conv', [x, f32([2, 1, 1, 1], [2, 3]), f32([2], [1, -1])], { group: 2 })[0]!;
    expectTensor(y, [1, 2, 2, 2], [3, 5, 7, 9, 14, 17, 20, 23]);
  });
  it('depthwise 3x3 with pads (group = channels)', () => {
    const x = f32([1, 2, 3, 3], [...new Array(9).fill(1), 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const y = runOp('Conv', [x, f32([2, 1, 3, 3], new Array(18).fill(1))], { group: 2, pads: [1, 1, 1, 1] })[0]!;
    expectTensor(y, [1, 2, 3, 3], [4, 6, 4, 6, 9, 6, 4, 6, 4, 8, 15, 12, 21, 36, 27, 20, 33, 24]);
  });
  it('1-D conv, auto_pad SAME_UPPER / SAME_LOWER / VALID', () => {
    expectTensor(runOp('Conv', [f32([1, 1, 3], [1, 2, 3]), f32([1, 1, 2], [1, 2])])[0]!, [1, 1, 2], [5, 8]);
    const x = f32([1, 1, 4], [1, 2, 3, 4]);
    const w = f32([1, 1, 3], [1, 1, 1]);
    // in 4, k 3, s 2: out 2, total pad 1 -> UPPER pads the end, LOWER the start
    expectTensor(runOp('Conv', [x, w], { auto_pad: 'SAME_UPPER', strides: [2] })[0]!, [1, 1, 2], [6, 7]);
    expectTensor(runOp('Conv', [x, w], { auto_pad: 'SAME_LOWER', strides: [2] })[0]!, [1, 1, 2], [3, 9]);
    expectTensor(runOp('Conv', [x, w], { auto_pad: 'VALID' })[0]!, [1, 1, 2], [6, 9]);
  });
  it('3-D conv', () => {
    const y = runOp('Conv', [f32([1, 1, 2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]), f32([1, 1, 2, 2, 2], new Array(8).fill(1))])[0]!;
    expectTensor(y, [1, 1, 1, 1, 1], [28]);
  });
  it('a bigger conv (packed kernel path) matches a direct loop', () => {
    const [c, h, m, k] = [5, 9, 6, 3];
    const xv = Array.from({ length: c * h * h }, (_, i) => ((i * 7) % 13) - 6);
    const wv = Array.from({ length: m * c * k * k }, (_, i) => ((i * 5) % 11) - 5);
    const y = runOp('Conv', [f32([1, c, h, h], xv), f32([m, c, k, k], wv)], { pads: [1, 1, 1, 1], strides: [2, 2] })[0]!;
    const o = 5;
    const want: number[] = [];
    for (let mm = 0; mm < m; mm++) for (let oy = 0; oy < o; oy++) for (let ox = 0; ox < o; ox++) {
      let s = 0;
      for (let cc = 0; cc < c; cc++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
        const iy = oy * 2 - 1 + ky;
        const ix = ox * 2 - 1 + kx;
        if (iy >= 0 && iy < h && ix >= 0 && ix < h) s += xv[(cc * h + iy) * h + ix]! * wv[((mm * c + cc) * k + ky) * k + kx]!;
      }
      want.push(s);
    }
    expectTensor(y, [1, m, o, o], want);
  });
  it('infers symbolic batch and rejects channel mismatches naming node and shapes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 3, 224, 224]);
    const w = b.constant(new Tensor('float32', [64, 3, 7, 7]));
    expect(b.Conv([x, w], { strides: [2, 2], pads: [3, 3, 3, 3] }).shape).to.deep.equal(['N', 64, 112, 112]);
    expect(b.Conv([x, w], { auto_pad: 'SAME_UPPER' }).shape).to.deep.equal(['N', 64, 224, 224]);
    const w4 = b.constant(new Tensor('float32', [8, 4, 3, 3]));
    expect(() => b.Conv([x, w4], {}, { name: 'c1' })).to.throw(ShapeError, /c1: Conv X \[N,3,224,224\] has 3 channels but W \[8,4,3,3\]/);
    const y = b.input('y', 'float32', ['N', 3, 'H', 'W']);
    const s = b.Conv([y, w], { strides: [2, 2] }).shape;
    expect(s[1]).to.equal(64);
    expect(typeof s[2]).to.equal('string');
  });
});

describe('ops: ConvTranspose', () => {
  it('3x3 ones kernel, two output channels (ONNX doc example)', () => {
    const x = f32([1, 1, 3, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const ch = [0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8];
    expectTensor(runOp('ConvTranspose', [x, f32([1, 2, 3, 3], new Array(18).fill(1))])[0]!, [1, 2, 5, 5], [...ch, ...ch]);
  });
  it('1-D: stride, output_padding, pads, output_shape and bias', () => {
    const x = f32([1, 1, 2], [1, 2]);
    const w = f32([1, 1, 3], [1, 1, 1]);
    expectTensor(runOp('ConvTranspose', [x, w])[0]!, [1, 1, 4], [1, 3, 3, 2]);
    expectTensor(runOp('ConvTranspose', [x, w], { strides: [2] })[0]!, [1, 1, 5], [1, 1, 3, 2, 2]);
    expectTensor(runOp('ConvTranspose', [x, w], { strides: [2], output_padding: [1] })[0]!, [1, 1, 6], [1, 1, 3, 2, 2, 0]);
    expectTensor(runOp('ConvTranspose', [x, w], { strides: [2], pads: [1, 1] })[0]!, [1, 1, 3], [1, 3, 2]);
    // output_shape 6 = 5 + 1 extra: total padding -1, start gets 0 and the end the extra zero
    expectTensor(runOp('ConvTranspose', [x, w], { strides: [2], output_shape: [6] })[0]!, [1, 1, 6], [1, 1, 3, 2, 2, 0]);
    expectTensor(runOp('ConvTranspose', [x, w, f32([1], [10])])[0]!, [1, 1, 4], [11, 13, 13, 12]);
  });
  it('groups: each group maps its own input channels', () => {
    const x = f32([1, 2, 1], [1, 2]);
    const w = f32([2, 1, 2], [1, 1, 3, 3]);
    expectTensor(runOp('ConvTranspose', [x, w], { group: 2 })[0]!, [1, 2, 2], [1, 1, 6, 6]);
  });
});

describe('ops: ConvInteger', () => {
  it('subtracts the zero point (also in the padding) and returns int32', () => {
    const x = Tensor.from('uint8', [1, 1, 2, 2], [2, 3, 4, 5]);
    const w = Tensor.from('uint8', [1, 1, 1, 1], [2]);
    const y = runOp('ConvInteger', [x, w, Tensor.from('uint8', [], [1])], { pads: [0, 0, 0, 1] })[0]!;
    expect(y.dtype).to.equal('int32');
    expect(y.shape).to.deep.equal([1, 1, 2, 3]);
    expect(y.toArray()).to.deep.equal([2, 4, 0, 6, 8, 0]);
  });
});

describe('ops: convolution (ONNX node tests)', () => {
  for (const t of nodeTests('test_conv', 'test_basic_conv', 'test_convinteger', 'test_convtranspose')) it(t, () => runNodeTest(t));
});
