/** Op family: linear algebra — MatMul, Gemm, MatMulInteger, Einsum. */
import { attr } from '../attrs.js';
import { FLOATS, expectDType, type DType } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { defineOp, setTrait, type InferInput } from '../op.js';
import { LOAD_FUSION } from '../load-fusion.js';
import { broadcastStrides } from '../reference.js';
import { broadcastDim, broadcastShapes, formatShape, sizeOf, type Dim, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { einsumCpu, einsumInfer } from './einsum.js';
import { matmulAcc, transpose2d, type FloatArray } from './gemm-kernel.js';
import type { Sym } from '../builder.js';
import { declareGradient } from '../gradient.js';
import { ints, scalar, sumTo } from './grad-util.js';

const MATMUL_TYPES: readonly DType[] = [...FLOATS, 'int32', 'int64', 'uint32', 'uint64'];
const INT8: readonly DType[] = ['int8', 'uint8'];

/** The data of `t` as a float array: shared when already float storage, copied otherwise. */
export function floatData(t: Tensor): FloatArray {
  const d = t.data;
  return d instanceof Float32Array || d instanceof Float64Array ? d : Float64Array.from(d);
}

/** Work buffer for an output of dtype `d`: the output storage itself when it is float, else a Float64Array. */
function workFor(out: Tensor): FloatArray {
  const d = out.data;
  return d instanceof Float32Array || d instanceof Float64Array ? d : new Float64Array(d.length);
}

function finish(out: Tensor, work: FloatArray): Tensor {
  if (work !== out.data) for (let i = 0; i < work.length; i++) out.data[i] = work[i]!;
  return out;
}

/** Shape of numpy matmul of `a` and `b` (1-D promotion, broadcast batch dims); throws naming both shapes. */
export function matmulShape(a: Shape, b: Shape, node: string, op = 'MatMul'): Dim[] {
  if (a.length === 0 || b.length === 0) {
    throw new ShapeError(`${node}: ${op} inputs must have rank >= 1, got A ${formatShape(a)} and B ${formatShape(b)}`, node);
  }
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const ka = a2[a2.length - 1]!;
  const kb = b2[b2.length - 2]!;
  if (broadcastDim(ka, kb) === undefined || (typeof ka === 'number' && typeof kb === 'number' && ka !== kb)) {
    throw new ShapeError(`${node}: ${op} inner dims differ: A ${formatShape(a)} has ${ka} columns but B ${formatShape(b)} has ${kb} rows`, node);
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)], node);
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** Batched numpy matmul over float work arrays; `out` must be zeroed. Shapes are concrete. */
function batchedMatmul(a: FloatArray, as: readonly number[], b: FloatArray, bs: readonly number[], out: FloatArray): void {
  const a2 = as.length === 1 ? [1, as[0]!] : as;
  const b2 = bs.length === 1 ? [bs[0]!, 1] : bs;
  const m = a2[a2.length - 2]!;
  const k = a2[a2.length - 1]!;
  const n = b2[b2.length - 1]!;
  if (b2.length === 2) {
    // One shared right operand: fold A's batch dims into its rows.
    matmulAcc(a.length / k, n, k, a, 0, b, 0, out, 0);
    return;
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)], 'MatMul') as number[];
  const sa = broadcastStrides(a2.slice(0, -2), batch);
  const sb = broadcastStrides(b2.slice(0, -2), batch);
  const nb = sizeOf(batch);
  const idx = new Array<number>(batch.length).fill(0);
  for (let t = 0; t < nb; t++) {
    let ao = 0;
    let bo = 0;
    for (let i = 0; i < batch.length; i++) {
      ao += idx[i]! * sa[i]!;
      bo += idx[i]! * sb[i]!;
    }
    matmulAcc(m, n, k, a, ao * m * k, b, bo * k * n, out, t * m * n);
    for (let i = batch.length - 1; i >= 0; i--) {
      if (++idx[i]! < batch[i]!) break;
      idx[i] = 0;
    }
  }
}

/** MatMul: numpy matrix product with 1-D promotion and batch broadcasting. */
export const MatMul = defineOp({
  name: 'MatMul',
  inputs: ['A', 'B'],
  outputs: ['Y'],
  attrs: {},
  category: 'output-fusable',
  doc: 'Matrix product (numpy.matmul semantics).',
  infer([a, b], ctx) {
    expectDType(a!.dtype, MATMUL_TYPES, ctx.node, 'A');
    if (a!.dtype !== b!.dtype) throw new DTypeError(`${ctx.node}: MatMul inputs have dtypes ${a!.dtype} and ${b!.dtype}`, ctx.node);
    return [{ dtype: a!.dtype, shape: matmulShape(a!.shape, b!.shape, ctx.node) }];
  },
  cpu([a, b], ctx) {
    const out = new Tensor(a!.dtype, matmulShape(a!.shape, b!.shape, ctx.node) as number[]);
    const work = workFor(out);
    batchedMatmul(floatData(a!), a!.shape, floatData(b!), b!.shape, work);
    return [finish(out, work)];
  },
});
// dA = g·Bᵀ, dB = Aᵀ·g (1-D operands promoted as in the forward op), batch dims reduced where broadcast.
declareGradient(MatMul, ({ b, inputs: [a, c], grads: [g], wants }) => {
  if (a!.rank === 1 && c!.rank === 1) return [wants(0) ? b.Mul([g!, c!]) : undefined, wants(1) ? b.Mul([g!, a!]) : undefined];
  const A = a!.rank === 1 ? b.Unsqueeze([a!, ints(b, [0])]) : a!;
  const B = c!.rank === 1 ? b.Unsqueeze([c!, ints(b, [1])]) : c!;
  let G = g!;
  if (a!.rank === 1) G = b.Unsqueeze([G, ints(b, [-2])]);
  if (c!.rank === 1) G = b.Unsqueeze([G, ints(b, [-1])]);
  const t = (v: Sym): Sym => b.Transpose([v], { perm: [...Array.from({ length: v.rank - 2 }, (_, i) => i), v.rank - 1, v.rank - 2] });
  const back = (d: Sym, to: Sym, orig: Sym): Sym => {
    const r = sumTo(b, d, to);
    return to === orig ? r : b.Reshape([r, b.Shape([orig])]);
  };
  return [
    wants(0) ? back(b.MatMul([G, t(B)]), A, a!) : undefined,
    wants(1) ? back(b.MatMul([t(A), G]), B, c!) : undefined,
  ];
});

function gemmDims(a: InferInput, b: InferInput, transA: number, transB: number, node: string): [Dim, Dim] {
  if (a.shape.length !== 2 || b.shape.length !== 2) {
    throw new ShapeError(`${node}: Gemm needs 2-D A and B, got A ${formatShape(a.shape)} and B ${formatShape(b.shape)}`, node);
  }
  const [m, ka] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
    throw new ShapeError(`${node}: Gemm inner dims differ: A ${formatShape(a.shape)} (transA=${transA}) gives K=${ka} but B ${formatShape(b.shape)} (transB=${transB}) gives K=${kb}`, node);
  }
  return [m, n];
}

/** Gemm: `alpha * A' · B' + beta * C`, with optional transposes and C broadcast to [M, N]. */
export const Gemm = defineOp({
  name: 'Gemm',
  inputs: ['A', 'B', 'C?'],
  outputs: ['Y'],
  attrs: { alpha: attr.float(1), beta: attr.float(1), transA: attr.int(0), transB: attr.int(0), broadcast: attr.optInt() },
  category: 'output-fusable',
  doc: 'General matrix multiply: alpha * op(A) op(B) + beta * C.',
  infer([a, b, c], ctx) {
    expectDType(a!.dtype, MATMUL_TYPES, ctx.node, 'A');
    if (a!.dtype !== b!.dtype || (c && c.dtype !== a!.dtype)) {
      throw new DTypeError(`${ctx.node}: Gemm inputs have dtypes ${[a, b, c].filter(Boolean).map((x) => x!.dtype).join(', ')}`, ctx.node);
    }
    const [m, n] = gemmDims(a!, b!, ctx.attrs.transA, ctx.attrs.transB, ctx.node);
    if (c) {
      const bc = broadcastShapes([c.shape, [m, n]], ctx.node);
      if (bc.length !== 2 || (typeof bc[0] === 'number' && typeof m === 'number' && bc[0] !== m) || (typeof bc[1] === 'number' && typeof n === 'number' && bc[1] !== n)) {
        throw new ShapeError(`${ctx.node}: Gemm C ${formatShape(c.shape)} cannot be broadcast to [${m},${n}]`, ctx.node);
      }
    }
    return [{ dtype: a!.dtype, shape: [m, n] }];
  },
  cpu([a, b, c], ctx) {
    const { alpha, beta, transA, transB } = ctx.attrs;
    const [m, n] = gemmDims(a!, b!, transA, transB, ctx.node) as [number, number];
    const k = transA ? a!.shape[0]! : a!.shape[1]!;
    const out = new Tensor(a!.dtype, [m, n]);
    const work = workFor(out);
    const av = transA ? transpose2d(floatData(a!), 0, k, m) : floatData(a!);
    const bv = transB ? transpose2d(floatData(b!), 0, n, k) : floatData(b!);
    matmulAcc(m, n, k, av, 0, bv, 0, work, 0);
    if (alpha !== 1) for (let i = 0; i < work.length; i++) work[i] = work[i]! * alpha;
    if (c && beta !== 0) {
      const st = broadcastStrides(c.shape, [m, n]);
      const cd = c.data;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) work[i * n + j] = work[i * n + j]! + beta * cd[i * st[0]! + j * st[1]!]!;
      }
    }
    return [finish(out, work)];
  },
});
// With A' = op(A), B' = op(B): dA' = alpha·g·B'ᵀ, dB' = alpha·A'ᵀ·g, each written as one Gemm; dC = beta·g reduced to C's shape.
declareGradient(Gemm, ({ b, inputs: [a, c, bias], grads: [g], attrs, wants }) => {
  const { alpha, beta, transA, transB } = attrs;
  const dA = (): Sym => (transA ? b.Gemm([c!, g!], { alpha, transA: transB, transB: 1 }) : b.Gemm([g!, c!], { alpha, transB: transB ? 0 : 1 }));
  const dB = (): Sym => (transB ? b.Gemm([g!, a!], { alpha, transA: 1, transB: transA }) : b.Gemm([a!, g!], { alpha, transA: transA ? 0 : 1 }));
  return [
    wants(0) ? dA() : undefined,
    wants(1) ? dB() : undefined,
    bias && wants(2) ? sumTo(b, beta === 1 ? g! : b.Mul([g!, scalar(b, beta, g!)]), bias) : undefined,
  ];
});

function zeroPoint(z: Tensor | undefined, len: number, node: string, what: string): Float64Array {
  const r = new Float64Array(len);
  if (!z) return r;
  if (z.size === 1) return r.fill(z.data[0]!);
  if (z.size !== len) throw new ShapeError(`${node}: ${what} ${z} must be a scalar or have ${len} elements`, node);
  for (let i = 0; i < len; i++) r[i] = z.data[i]!;
  return r;
}

/** MatMulInteger: int8/uint8 matmul with optional zero points, int32 result. */
export const MatMulInteger = defineOp({
  name: 'MatMulInteger',
  inputs: ['A', 'B', 'a_zero_point?', 'b_zero_point?'],
  outputs: ['Y'],
  attrs: {},
  category: 'output-fusable',
  doc: 'Integer matrix product (A - a_zero_point)(B - b_zero_point) accumulated in int32.',
  infer([a, b, za, zb], ctx) {
    expectDType(a!.dtype, INT8, ctx.node, 'A');
    expectDType(b!.dtype, INT8, ctx.node, 'B');
    if (za && za.dtype !== a!.dtype) throw new DTypeError(`${ctx.node}: a_zero_point has dtype ${za.dtype}, A has ${a!.dtype}`, ctx.node);
    if (zb && zb.dtype !== b!.dtype) throw new DTypeError(`${ctx.node}: b_zero_point has dtype ${zb.dtype}, B has ${b!.dtype}`, ctx.node);
    return [{ dtype: 'int32', shape: matmulShape(a!.shape, b!.shape, ctx.node, 'MatMulInteger') }];
  },
  cpu([a, b, za, zb], ctx) {
    const as = a!.shape;
    const bs = b!.shape;
    const m = as.length === 1 ? 1 : as[as.length - 2]!;
    const k = as[as.length - 1]!;
    const n = bs.length === 1 ? 1 : bs[bs.length - 1]!;
    const zA = zeroPoint(za, m, ctx.node, 'a_zero_point');
    const zB = zeroPoint(zb, n, ctx.node, 'b_zero_point');
    const av = Float64Array.from(a!.data);
    for (let i = 0; i < av.length; i++) av[i] = av[i]! - zA[Math.floor(i / k) % m]!;
    const bv = Float64Array.from(b!.data);
    for (let i = 0; i < bv.length; i++) bv[i] = bv[i]! - zB[i % n]!;
    const out = new Tensor('int32', matmulShape(as, bs, ctx.node, 'MatMulInteger') as number[]);
    const work = new Float64Array(out.size);
    batchedMatmul(av, as, bv, bs, work);
    return [finish(out, work)];
  },
});

/** Einsum: Einstein summation over an equation such as `bij,bjk->bik`. */
export const Einsum = defineOp({
  name: 'Einsum',
  inputs: ['...Inputs'],
  outputs: ['Output'],
  attrs: { equation: attr.string() },
  category: 'opaque',
  doc: 'Einstein summation (implicit output, ellipsis, diagonals, reductions).',
  infer(inputs, ctx) {
    const present = inputs.map((x, i) => {
      if (!x) throw new ShapeError(`${ctx.node}: Einsum input #${i} is missing`, ctx.node);
      return x;
    });
    const d = present[0]!.dtype;
    expectDType(d, MATMUL_TYPES, ctx.node, 'Inputs[0]');
    if (present.some((x) => x.dtype !== d)) {
      throw new DTypeError(`${ctx.node}: Einsum inputs have dtypes ${present.map((x) => x.dtype).join(', ')}`, ctx.node);
    }
    return [{ dtype: d, shape: einsumInfer(ctx.attrs.equation, present.map((x) => x.shape), ctx.node) }];
  },
  cpu(inputs, ctx) {
    return [einsumCpu(ctx.attrs.equation, inputs as Tensor[], ctx.node)];
  },
});

/** Linear algebra ops. */
// A (a QuantizeLinear's or DynamicQuantizeLinear's output) can be quantized while it is loaded.
setTrait(MatMulInteger, LOAD_FUSION, { elementwise: [0], rangeQuantize: { input: 0, zeroPoint: 2 } });
// A 2-D B (constant int8 weights behind a DequantizeLinear, scale per output column) stays packed.
setTrait(MatMul, LOAD_FUSION, { elementwise: [], dequantize: [{ input: 1, axisOf: (_n, rank) => (rank === 2 ? 1 : undefined) }] });
setTrait(Gemm, LOAD_FUSION, { elementwise: [], dequantize: [{ input: 1, axisOf: (n, rank) => (rank === 2 ? (Number(n.attrs['transB'] ?? 0) !== 0 ? 0 : 1) : undefined) }] });

export const matmulOps = { MatMul, Gemm, MatMulInteger, Einsum } as const;
