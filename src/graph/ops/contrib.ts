/**
 * Op family: ONNX Runtime contrib ops of domain `com.microsoft` that transformer
 * exports and ORT-optimized models use — the GELU variants (Gelu, FastGelu,
 * BiasGelu, QuickGelu), BiasAdd and FusedMatMul. The elementwise ones are scalar
 * expressions (so every backend and the elementwise fusion get them for free);
 * FusedMatMul has a strided CPU reference. Semantics follow ONNX Runtime's
 * docs/ContribOperators.md. The normalization contrib ops are in contrib-norm.ts.
 */
import { attr } from '../attrs.js';
import { FLOATS, expectDType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { E, type Expr } from '../expr.js';
import { defineOp, type InferInput } from '../op.js';
import { broadcastShapes, formatShape, stridesOf, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expectSameDType, unaryOp } from './elementwise-util.js';
import { contribAttentionOps } from './contrib-attention.js';
import { contribGqaOps } from './contrib-gqa.js';
import { contribNormOps } from './contrib-norm.js';
import { contribQuantOps } from './contrib-quant.js';
import { contribRotaryOps } from './contrib-rotary.js';
import { MS_DOMAIN, expectLastDimVector } from './contrib-util.js';
import { F } from './scalar-fns.js';

const plus = (a: Expr, b: Expr | undefined): Expr => (b ? E.call(F.add, [a, b], a.dtype) : a);

/** com.microsoft Gelu: x/2·(1 + erf(x/√2)). */
export const Gelu = unaryOp({
  name: 'Gelu', domain: MS_DOMAIN, doc: 'Gaussian error linear unit (erf form).', types: FLOATS, attrs: {},
  expr: (x, _a, out) => E.call(F.gelu, [x], out),
});

/** com.microsoft FastGelu: the tanh approximation of GELU of X + bias (bias optional, 1-D over the last axis). */
export const FastGelu = defineOp({
  name: 'FastGelu',
  domain: MS_DOMAIN,
  inputs: ['X', 'bias?'],
  outputs: ['Y'],
  attrs: {},
  category: 'broadcast',
  doc: 'GELU, tanh approximation, of X + bias.',
  infer([x, b], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    if (b) {
      expectSameDType(x!, b, ctx.node, 'FastGelu', 'X and bias');
      expectLastDimVector(x!, b, ctx.node, 'bias');
    }
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  expr: ([x, b], _a, out) => E.call(F.gelutanh, [plus(x!, b)], out),
});

/** com.microsoft BiasGelu: exact (erf) GELU of A + B, B 1-D over the last axis. */
export const BiasGelu = defineOp({
  name: 'BiasGelu',
  domain: MS_DOMAIN,
  inputs: ['A', 'B'],
  outputs: ['C'],
  attrs: {},
  category: 'broadcast',
  doc: 'GELU (erf form) of A + B.',
  infer([a, b], ctx) {
    expectDType(a!.dtype, FLOATS, ctx.node, 'A');
    expectSameDType(a!, b!, ctx.node, 'BiasGelu');
    expectLastDimVector(a!, b!, ctx.node, 'B');
    return [{ dtype: a!.dtype, shape: a!.shape }];
  },
  expr: ([a, b], _a, out) => E.call(F.gelu, [plus(a!, b)], out),
});

/** com.microsoft QuickGelu: x·sigmoid(alpha·x). */
export const QuickGelu = unaryOp({
  name: 'QuickGelu', domain: MS_DOMAIN, doc: 'x · sigmoid(alpha · x).', types: FLOATS, attrs: { alpha: attr.float(1.702) },
  expr: (x, a, out) => E.call(F.mul, [x, E.call(F.sigmoid, [E.call(F.mul, [x, E.const(a.alpha, out)], out)], out)], out),
});

/**
 * com.microsoft BiasSplitGelu: s = X + bias over [N, S, D]; Y [N, S, D/2] is the left
 * half of s times the exact (erf) GELU of its right half.
 */
export const BiasSplitGelu = defineOp({
  name: 'BiasSplitGelu',
  domain: MS_DOMAIN,
  inputs: ['X', 'bias'],
  outputs: ['Y'],
  attrs: {},
  category: 'opaque',
  doc: 'Left half of X + bias times GELU of the right half.',
  infer([x, b], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    expectSameDType(x!, b!, ctx.node, 'BiasSplitGelu', 'X and bias');
    const d = x!.shape[2];
    if (x!.shape.length !== 3 || (typeof d === 'number' && d % 2 !== 0)) {
      throw new ShapeError(`${ctx.node}: X must be 3-D [N, S, D] with D even, got ${formatShape(x!.shape)}`, ctx.node);
    }
    expectLastDimVector(x!, b!, ctx.node, 'bias');
    return [{ dtype: x!.dtype, shape: [x!.shape[0]!, x!.shape[1]!, typeof d === 'number' ? d / 2 : ctx.fresh(0)] }];
  },
  cpu([x, b], ctx) {
    const d = x!.shape[2]!;
    const h = d / 2;
    const out = new Tensor(x!.dtype, ctx.outputs[0]!.shape as number[]);
    for (let i = 0; i < out.size; i++) {
      const row = Math.floor(i / h) * d;
      const k = i % h;
      const left = x!.data[row + k]! + b!.data[k]!;
      const right = x!.data[row + k + h]! + b!.data[k + h]!;
      out.data[i] = left * F.gelu.js(right);
    }
    return [out];
  },
});

/** com.microsoft BiasAdd: X + bias + skip, X and skip [N, S, C], bias [C]. */
export const BiasAdd = defineOp({
  name: 'BiasAdd',
  domain: MS_DOMAIN,
  inputs: ['X', 'bias', 'skip'],
  outputs: ['Y'],
  attrs: {},
  category: 'broadcast',
  doc: 'X + bias + skip.',
  infer([x, b, s], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    expectSameDType(x!, b!, ctx.node, 'BiasAdd', 'X and bias');
    expectSameDType(x!, s!, ctx.node, 'BiasAdd', 'X and skip');
    if (x!.shape.length !== 3) throw new ShapeError(`${ctx.node}: X must be 3-D [N, S, C], got ${formatShape(x!.shape)}`, ctx.node);
    expectLastDimVector(x!, b!, ctx.node, 'bias');
    const same = s!.shape.length === 3 && s!.shape.every((d, i) => typeof d !== 'number' || typeof x!.shape[i] !== 'number' || d === x!.shape[i]);
    if (!same) throw new ShapeError(`${ctx.node}: skip must have X's shape ${formatShape(x!.shape)}, got ${formatShape(s!.shape)}`, ctx.node);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  expr: ([x, b, s]) => plus(plus(x!, b), s),
});

/**
 * The axis permutation FusedMatMul applies to an operand of rank `r`: transBatch
 * moves axis 0 to just before the last axis, then trans swaps the last two axes.
 * Rank 1 is not permuted.
 */
export function fusedMatmulPerm(r: number, transBatch: boolean, trans: boolean): number[] {
  let perm = Array.from({ length: r }, (_, i) => i);
  if (r >= 2) {
    if (transBatch && r > 2) perm = [...perm.slice(1, r - 1), 0, r - 1];
    if (trans) perm = [...perm.slice(0, r - 2), perm[r - 1]!, perm[r - 2]!];
  }
  return perm;
}

/** The permuted view FusedMatMul multiplies for an operand: its logical shape and element strides. */
export function fusedMatmulView(shape: readonly number[], transBatch: boolean, trans: boolean): { shape: number[]; strides: number[] } {
  const strides = stridesOf(shape);
  const perm = fusedMatmulPerm(shape.length, transBatch, trans);
  return { shape: perm.map((i) => shape[i]!), strides: perm.map((i) => strides[i]!) };
}

const permutedDims = (shape: readonly Dim[], transBatch: boolean, trans: boolean): Dim[] =>
  fusedMatmulPerm(shape.length, transBatch, trans).map((i) => shape[i]!);

/** Output shape of FusedMatMul on the permuted views (MatMul rules; rank-1 operands promoted and squeezed). */
function fusedMatmulShape(a: readonly Dim[], b: readonly Dim[], node: string): Dim[] {
  if (a.length === 0 || b.length === 0) throw new ShapeError(`${node}: FusedMatMul operands must have rank >= 1, got ${formatShape(a)} and ${formatShape(b)}`, node);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    throw new ShapeError(`${node}: FusedMatMul inner dims differ after transposition: ${formatShape(a)} x ${formatShape(b)}`, node);
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)], node);
  return [...batch, ...(a.length === 1 ? [] : [a2[a2.length - 2]!]), ...(b.length === 1 ? [] : [b2[b2.length - 1]!])];
}

/** A strided matrix operand: element strides per axis of the product's batch shape (0 where broadcast), between rows and columns. */
export interface StridedOperand {
  readonly batch: number[];
  readonly rows: number;
  readonly cols: number;
}

/**
 * The product FusedMatMul computes on concrete shapes: M, N, K, the broadcast batch
 * shape, and A and B as strided views of their contiguous data (rank-1 operands
 * promoted as in MatMul).
 */
export function fusedMatmulOperands(
  aShape: readonly number[], bShape: readonly number[],
  attrs: { readonly transA: number; readonly transB: number; readonly transBatchA: number; readonly transBatchB: number }, node: string,
): { M: number; N: number; K: number; batch: number[]; a: StridedOperand; b: StridedOperand } {
  const va = fusedMatmulView(aShape, attrs.transBatchA !== 0, attrs.transA !== 0);
  const vb = fusedMatmulView(bShape, attrs.transBatchB !== 0, attrs.transB !== 0);
  const as = va.shape.length === 1 ? { shape: [1, va.shape[0]!], strides: [0, va.strides[0]!] } : va;
  const bs = vb.shape.length === 1 ? { shape: [vb.shape[0]!, 1], strides: [vb.strides[0]!, 0] } : vb;
  const batch = broadcastShapes([as.shape.slice(0, -2), bs.shape.slice(0, -2)], node) as number[];
  const operand = (v: { shape: number[]; strides: number[] }): StridedOperand => {
    const off = batch.length - (v.shape.length - 2);
    const [rows, cols] = v.strides.slice(-2) as [number, number];
    return { batch: batch.map((_, i) => (i < off || v.shape[i - off] === 1 ? 0 : v.strides[i - off]!)), rows, cols };
  };
  return { M: as.shape[as.shape.length - 2]!, K: as.shape[as.shape.length - 1]!, N: bs.shape[bs.shape.length - 1]!, batch, a: operand(as), b: operand(bs) };
}

/**
 * com.microsoft FusedMatMul: Y = alpha · op(A) · op(B), where op applies transBatch
 * (axis 0 moved to just before the last axis) and then trans (last two axes
 * swapped); batch dims broadcast as in MatMul.
 */
export const FusedMatMul = defineOp({
  name: 'FusedMatMul',
  domain: MS_DOMAIN,
  inputs: ['A', 'B'],
  outputs: ['Y'],
  attrs: { alpha: attr.float(1), transA: attr.int(0), transB: attr.int(0), transBatchA: attr.int(0), transBatchB: attr.int(0) },
  category: 'opaque',
  doc: 'alpha · op(A) · op(B) with optional transposes of the matrix and batch axes.',
  infer([a, b], ctx) {
    expectDType(a!.dtype, FLOATS, ctx.node, 'A');
    expectSameDType(a!, b!, ctx.node, 'FusedMatMul');
    const { transA, transB, transBatchA, transBatchB } = ctx.attrs;
    const pa = permutedDims(a!.shape, transBatchA !== 0, transA !== 0);
    const pb = permutedDims(b!.shape, transBatchB !== 0, transB !== 0);
    return [{ dtype: a!.dtype, shape: fusedMatmulShape(pa, pb, ctx.node) }];
  },
  cpu([a, b], ctx) {
    const { alpha } = ctx.attrs;
    const { M, N, K, batch, a: la, b: lb } = fusedMatmulOperands(a!.shape, b!.shape, ctx.attrs, ctx.node);
    const [sa, ar, ac] = [la.batch, la.rows, la.cols];
    const [sbb, br, bc] = [lb.batch, lb.rows, lb.cols];
    const out = new Tensor(a!.dtype, ctx.outputs[0]!.shape as number[]);
    const nb = batch.reduce((x, y) => x * y, 1);
    const idx = new Array<number>(batch.length).fill(0);
    for (let t = 0; t < nb; t++) {
      let rem = t;
      for (let i = batch.length - 1; i >= 0; i--) { idx[i] = rem % batch[i]!; rem = Math.floor(rem / batch[i]!); }
      const oa = idx.reduce((s, v, i) => s + v * sa[i]!, 0);
      const ob = idx.reduce((s, v, i) => s + v * sbb[i]!, 0);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let acc = 0;
          for (let k = 0; k < K; k++) acc += a!.data[oa + m * ar + k * ac]! * b!.data[ob + k * br + n * bc]!;
          out.data[(t * M + m) * N + n] = alpha * acc;
        }
      }
    }
    return [out];
  },
});

/** The contrib ops by name (com.microsoft domain, plus ORT's default-domain SimplifiedLayerNormalization). */
export const contribOps = { Gelu, FastGelu, BiasGelu, QuickGelu, BiasAdd, BiasSplitGelu, FusedMatMul, ...contribNormOps, ...contribRotaryOps, ...contribQuantOps, ...contribAttentionOps, ...contribGqaOps } as const;
