import { expect } from 'chai';
import { DTypeError, GraphBuilder, ShapeError, Tensor } from '../src/graph/index.js';
import { matmulAcc } from '../src/graph/ops/gemm-kernel.js';
import { expectTensor, f32, nodeTests, runNodeTest, runOp } from './ops-conv-onnxdata.js';

describe('ops: MatMul', () => {
  const a22 = f32([2, 2], [1, 2, 3, 4]);
  const b22 = f32([2, 2], [5, 6, 7, 8]);
  it('2-D, 1-D x 2-D, 2-D x 1-D and 1-D x 1-D (numpy promotion)', () => {
    expectTensor(runOp('MatMul', [a22, b22])[0]!, [2, 2], [19, 22, 43, 50]);
    expectTensor(runOp('MatMul', [f32([2], [1, 2]), b22])[0]!, [2], [19, 22]);
    expectTensor(runOp('MatMul', [a22, f32([2], [5, 6])])[0]!, [2], [17, 39]);
    expectTensor(runOp('MatMul', [f32([3], [1, 2, 3]), f32([3], [4, 5, 6])])[0]!, [], [32]);
  });
  it('broadcasts batch dims', () => {
    const a = f32([2, 1, 1, 2], [1, 2, 3, 4]);
    const b = f32([3, 2, 1], [1, 0, 0, 1, 1, 1]);
    expectTensor(runOp('MatMul', [a, b])[0]!, [2, 3, 1, 1], [1, 2, 3, 3, 4, 7]);
  });
  it('integer matmul', () => {
    const r = runOp('MatMul', [Tensor.from('int32', [1, 2], [2, -3]), Tensor.from('int32', [2, 1], [4, 5])])[0]!;
    expect(r.dtype).to.equal('int32');
    expect(r.toArray()).to.deep.equal([-7]);
  });
  it('infers symbolic batch dims and names both shapes on an inner-dim mismatch', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 'seq', 4]);
    const w = b.input('w', 'float32', [4, 8]);
    expect(b.MatMul([x, w]).shape).to.deep.equal(['batch', 'seq', 8]);
    const bad = b.input('bad', 'float32', [5, 8]);
    expect(() => b.MatMul([x, bad], {}, { name: 'mm1' })).to.throw(ShapeError, /mm1: MatMul inner dims.*\[batch,seq,4\].*\[5,8\]/);
    expect(() => b.MatMul([x, b.input('i', 'int32', [4, 8])])).to.throw(DTypeError);
  });
  it('the packed kernel matches a naive triple loop on ragged sizes', () => {
    for (const [m, k, n] of [[7, 33, 9], [13, 300, 6], [4, 4, 4], [9, 517, 131]] as const) {
      const a = Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 11) - 5);
      const bm = Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 13) - 6);
      const c = new Float32Array(m * n).fill(1);
      matmulAcc(m, n, k, a, 0, bm, 0, c, 0);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let s = 1;
        for (let p = 0; p < k; p++) s += a[i * k + p]! * bm[p * n + j]!;
        expect(c[i * n + j], `${m}x${k}x${n} [${i},${j}]`).to.equal(s);
      }
    }
  });
});

describe('ops: Gemm', () => {
  // A stored [K=2, M=3], B stored [N=2, K=2]: A' = [[1,4],[2,5],[3,6]], B' = [[1,0],[1,1]], A'B' = [[5,4],[7,5],[9,6]].
  const a = f32([2, 3], [1, 2, 3, 4, 5, 6]);
  const b = f32([2, 2], [1, 1, 0, 1]);
  it('transA, transB, alpha, beta with a row-vector C', () => {
    const y = runOp('Gemm', [a, b, f32([2], [1, -1])], { transA: 1, transB: 1, alpha: 2, beta: 0.5 })[0]!;
    expectTensor(y, [3, 2], [10.5, 7.5, 14.5, 9.5, 18.5, 11.5]);
  });
  it('column C, scalar C and no C', () => {
    expectTensor(runOp('Gemm', [a, b, f32([3, 1], [1, 2, 3])], { transA: 1, transB: 1 })[0]!, [3, 2], [6, 5, 9, 7, 12, 9]);
    expectTensor(runOp('Gemm', [a, b, f32([], [10])], { transA: 1, transB: 1 })[0]!, [3, 2], [15, 14, 17, 15, 19, 16]);
    expectTensor(runOp('Gemm', [a, b], { transA: 1, transB: 1 })[0]!, [3, 2], [5, 4, 7, 5, 9, 6]);
  });
  it('rejects a C that does not broadcast and mismatched K', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['M', 4]);
    const w = g.input('w', 'float32', [4, 3]);
    expect(g.Gemm([x, w]).shape).to.deep.equal(['M', 3]);
    expect(() => g.Gemm([x, w, g.input('c', 'float32', [2])])).to.throw(ShapeError, /\[2\] and \[M,3\]/);
    expect(() => g.Gemm([x, w], { transB: 1 }, { name: 'gm' })).to.throw(ShapeError, /gm: Gemm inner dims.*\[M,4\].*\[4,3\]/);
  });
});

describe('ops: MatMulInteger', () => {
  it('subtracts zero points and returns int32', () => {
    const y = runOp('MatMulInteger', [Tensor.from('uint8', [1, 2], [2, 3]), Tensor.from('uint8', [2, 1], [4, 5]), Tensor.from('uint8', [], [1]), Tensor.from('uint8', [], [3])])[0]!;
    expect(y.dtype).to.equal('int32');
    expect(y.toArray()).to.deep.equal([5]);
    const y2 = runOp('MatMulInteger', [Tensor.from('int8', [2, 2], [1, -2, 3, 4]), Tensor.from('int8', [2, 2], [1, 0, 0, 1])])[0]!;
    expect(y2.toArray()).to.deep.equal([1, -2, 3, 4]);
  });
});

describe('ops: Einsum', () => {
  const m23 = f32([2, 3], [1, 2, 3, 4, 5, 6]);
  it('transpose, sum, implicit matmul', () => {
    expectTensor(runOp('Einsum', [m23], { equation: 'ij->ji' })[0]!, [3, 2], [1, 4, 2, 5, 3, 6]);
    expectTensor(runOp('Einsum', [m23], { equation: 'ij->' })[0]!, [], [21]);
    expectTensor(runOp('Einsum', [m23], { equation: 'ij->i' })[0]!, [2], [6, 15]);
    expectTensor(runOp('Einsum', [f32([2, 2], [1, 2, 3, 4]), f32([2, 2], [5, 6, 7, 8])], { equation: 'ij,jk' })[0]!, [2, 2], [19, 22, 43, 50]);
    // implicit output is alphabetical: 'ba' -> 'ab' transposes
    expectTensor(runOp('Einsum', [m23], { equation: 'ba' })[0]!, [3, 2], [1, 4, 2, 5, 3, 6]);
  });
  it('trace and diagonal (repeated index)', () => {
    const sq = f32([2, 2], [1, 2, 3, 4]);
    expectTensor(runOp('Einsum', [sq], { equation: 'ii' })[0]!, [], [5]);
    expectTensor(runOp('Einsum', [sq], { equation: 'ii->i' })[0]!, [2], [1, 4]);
  });
  it('batched matmul and ellipsis', () => {
    const a = f32([2, 1, 2], [1, 2, 3, 4]);
    const b = f32([2, 2, 1], [1, 1, 2, 0]);
    expectTensor(runOp('Einsum', [a, b], { equation: 'bij,bjk->bik' })[0]!, [2, 1, 1], [3, 6]);
    expectTensor(runOp('Einsum', [a, b], { equation: '...ij,...jk->...ik' })[0]!, [2, 1, 1], [3, 6]);
    expectTensor(runOp('Einsum', [f32([1, 2, 2], [1, 2, 3, 4])], { equation: '...ij->...ji' })[0]!, [1, 2, 2], [1, 3, 2, 4]);
  });
  it('rejects inconsistent label sizes', () => {
    const g = new GraphBuilder();
    expect(() => g.Einsum([g.input('a', 'float32', [2, 3]), g.input('b', 'float32', [4, 5])], { equation: 'ij,jk->ik' })).to.throw(ShapeError, /label 'j' has size 3 and 4/);
  });
});

describe('ops: linear algebra (ONNX node tests)', () => {
  for (const t of nodeTests('test_matmul', 'test_gemm', 'test_einsum')) it(t, () => runNodeTest(t));
});
