import { expect } from 'chai';
import { runReference, Tensor, type Node } from '../src/graph/index.js';
import '../src/graph/ops/index.js';

const node = (op: string, n: number, attrs: Node['attrs'] = {}): Node => ({
  name: `${op}_t`, op, domain: '', attrs, inputs: Array.from({ length: n }, (_, i) => `i${i}`), outputs: ['o'],
});

describe('ops: GridSample and MaxUnpool', () => {
  const x = Tensor.from('float32', [1, 1, 2, 2], [1, 2, 3, 4]);

  it('GridSample bilinear with align_corners: corners and the center', () => {
    const grid = Tensor.from('float32', [1, 1, 3, 2], [-1, -1, 1, 1, 0, 0]);
    const [y] = runReference(node('GridSample', 2, { align_corners: 1 }), [x, grid]);
    expect(y!.toArray()).to.deep.equal([1, 4, 2.5]);
  });

  it('GridSample zeros padding halves a border sample without align_corners', () => {
    // x = -1 maps to pixel -0.5: half pixel 0, half padding zero.
    const grid = Tensor.from('float32', [1, 1, 1, 2], [-1, -0.5]);
    const [y] = runReference(node('GridSample', 2), [x, grid]);
    // y = -0.5 → pixel row 0 exactly; x → 0.5·0 + 0.5·x[0,0] = 0.5
    expect(y!.data[0]).to.be.closeTo(0.5, 1e-6);
    const [b] = runReference(node('GridSample', 2, { padding_mode: 'border' }), [x, grid]);
    expect(b!.data[0]).to.be.closeTo(1, 1e-6);
  });

  it('GridSample nearest picks the closest pixel', () => {
    const grid = Tensor.from('float32', [1, 1, 1, 2], [0.6, 0.6]);
    const [y] = runReference(node('GridSample', 2, { mode: 'nearest', align_corners: 1 }), [x, grid]);
    expect(y!.data[0]).to.equal(4);
  });

  it('MaxUnpool places values at their indices and honours output_shape', () => {
    const v = Tensor.from('float32', [1, 1, 1, 1], [9]);
    const i = Tensor.from('int64', [1, 1, 1, 1], [3]);
    const [y] = runReference(node('MaxUnpool', 2, { kernel_shape: [2, 2], strides: [2, 2] }), [v, i]);
    expect(y!.shape).to.deep.equal([1, 1, 2, 2]);
    expect(y!.toArray()).to.deep.equal([0, 0, 0, 9]);
    const [z] = runReference(node('MaxUnpool', 3, { kernel_shape: [2, 2], strides: [2, 2] }), [v, i, Tensor.from('int64', [4], [1, 1, 3, 3])]);
    expect(z!.toArray()).to.deep.equal([0, 0, 0, 0, 9, 0, 0, 0, 0]);
  });
});
