import { expect } from 'chai';
import { AttributeError, GraphBuilder, Tensor } from '../src/graph/index.js';
import { expectTensor, f32, nodeTests, runNodeTest, runOp } from './ops-conv-onnxdata.js';

const x16 = f32([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i + 1));

describe('ops: MaxPool', () => {
  it('ceil_mode adds a partial window; Indices are flat row-major (or column-major with storage_order)', () => {
    expectTensor(runOp('MaxPool', [x16], { kernel_shape: [3, 3], strides: [2, 2] })[0]!, [1, 1, 1, 1], [11]);
    const [y, idx] = runOp('MaxPool', [x16], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, 2);
    expectTensor(y!, [1, 1, 2, 2], [11, 12, 15, 16]);
    expect(idx!.dtype).to.equal('int64');
    expect(idx!.toArray()).to.deep.equal([10, 11, 14, 15]);
    const [, cm] = runOp('MaxPool', [x16], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1, storage_order: 1 }, 2);
    expect(cm!.toArray()).to.deep.equal([10, 14, 11, 15]);
  });
  it('pads never win, dilations skip taps, Indices count the batch and channel', () => {
    expectTensor(runOp('MaxPool', [f32([1, 1, 3], [-1, -3, -2])], { kernel_shape: [2], pads: [1, 1] })[0]!, [1, 1, 4], [-1, -1, -2, -2]);
    expectTensor(runOp('MaxPool', [f32([1, 1, 5], [5, 1, 2, 9, 3])], { kernel_shape: [2], dilations: [2] })[0]!, [1, 1, 3], [5, 9, 3]);
    const [, idx] = runOp('MaxPool', [f32([2, 1, 2], [1, 2, 4, 3])], { kernel_shape: [2] }, 2);
    expect(idx!.toArray()).to.deep.equal([1, 2]);
  });
  it('works on uint8 and requires kernel_shape', () => {
    const y = runOp('MaxPool', [Tensor.from('uint8', [1, 1, 4], [1, 200, 3, 4])], { kernel_shape: [2], strides: [2] })[0]!;
    expect(y.dtype).to.equal('uint8');
    expect(y.toArray()).to.deep.equal([200, 4]);
    const b = new GraphBuilder();
    expect(() => b.MaxPool(b.input('x', 'float32', [1, 1, 4]), {}, { name: 'mp' })).to.throw(AttributeError, /mp: MaxPool requires attribute 'kernel_shape'/);
  });
  it('keeps symbolic batch dims and gives SAME output sizes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 64, 112, 112]);
    expect(b.MaxPool(x, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }).shape).to.deep.equal(['N', 64, 56, 56]);
    expect(b.MaxPool(x, { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' }).shape).to.deep.equal(['N', 64, 56, 56]);
  });
});

describe('ops: AveragePool and LpPool', () => {
  it('count_include_pad 0 divides by the real taps, 1 by the window', () => {
    const x = f32([1, 1, 3], [1, 2, 3]);
    expectTensor(runOp('AveragePool', [x], { kernel_shape: [3], pads: [1, 1] })[0]!, [1, 1, 3], [1.5, 2, 2.5]);
    expectTensor(runOp('AveragePool', [x], { kernel_shape: [3], pads: [1, 1], count_include_pad: 1 })[0]!, [1, 1, 3], [1, 2, 5 / 3]);
  });
  it('2-D strided average and ceil_mode partial windows', () => {
    expectTensor(runOp('AveragePool', [x16], { kernel_shape: [2, 2], strides: [2, 2] })[0]!, [1, 1, 2, 2], [3.5, 5.5, 11.5, 13.5]);
    expectTensor(runOp('AveragePool', [x16], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 })[0]!, [1, 1, 2, 2], [6, 7.5, 12, 13.5]);
  });
  it('LpPool with p = 2', () => {
    expectTensor(runOp('LpPool', [f32([1, 1, 3], [3, 4, 0])], { kernel_shape: [2], p: 2 })[0]!, [1, 1, 2], [5, 4]);
  });
});

describe('ops: global pools', () => {
  const x = f32([1, 2, 2, 2], [1, 2, 3, 4, -1, -5, 0, 2]);
  it('GlobalAveragePool, GlobalMaxPool, GlobalLpPool', () => {
    expectTensor(runOp('GlobalAveragePool', [x])[0]!, [1, 2, 1, 1], [2.5, -1]);
    expectTensor(runOp('GlobalMaxPool', [x])[0]!, [1, 2, 1, 1], [4, 2]);
    expectTensor(runOp('GlobalLpPool', [x], { p: 1 })[0]!, [1, 2, 1, 1], [10, 8]);
    expectTensor(runOp('GlobalLpPool', [x])[0]!, [1, 2, 1, 1], [Math.sqrt(30), Math.sqrt(30)]);
  });
  it('keeps symbolic N and C', () => {
    const b = new GraphBuilder();
    expect(b.GlobalAveragePool(b.input('x', 'float32', ['N', 'C', 7, 7])).shape).to.deep.equal(['N', 'C', 1, 1]);
  });
});

describe('ops: pooling (ONNX node tests)', () => {
  for (const t of nodeTests('test_maxpool', 'test_averagepool', 'test_globalaveragepool', 'test_globalmaxpool', 'test_lppool', 'test_globallppool')) it(t, () => runNodeTest(t));
});
