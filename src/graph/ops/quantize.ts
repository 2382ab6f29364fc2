/**
 * Op family: linear quantization (QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, QLinearMatMul, QLinearConv). Per-tensor or per-axis scales
 * and zero points; rounding is half-to-even and results saturate to the int type.
 * The QLinear ops dequantize, run the float op's own CPU reference (MatMul, Conv),
 * and requantize, so their arithmetic lives in one place.
 */
import { attr } from '../attrs.js';
import { expectDType, dtypeRange, floatFormatOf, FLOATS, roundToFormat, type DType } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import type { Node } from '../graph.js';
import { inferNode } from '../infer.js';
import { defineOp, setTrait, type InferInput } from '../op.js';
import { DEQUANTIZE, RANGE_QUANTIZE } from '../load-fusion.js';
import { runReference } from '../reference.js';
import { normalizeAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { ONNX_DTYPE } from './index-util.js';

/** Quantized types of QuantizeLinear/DequantizeLinear (float8 since opset 19, 16-bit and 4-bit since opset 21). */
const QTYPES: readonly DType[] = ['uint8', 'int8', 'uint16', 'int16', 'uint4', 'int4', 'float8e4m3fn', 'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz'];
/** Quantized types of the QLinear ops. */
const QLINEAR_TYPES: readonly DType[] = ['uint8', 'int8'];

/** Rounds half to even (numpy's rint). */
export function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function saturate(dtype: DType, v: number): number {
  const { min, max } = dtypeRange(dtype);
  return Number.isNaN(v) ? 0 : Math.min(max, Math.max(min, v));
}

/**
 * Index of the scale/zero-point element applying to each flat element of `x`: one
 * per tensor, one per index of `axis`, or (`blockSize` > 0, opset 21) one per block
 * of `blockSize` indices along `axis`, the parameter then having x's rank with
 * ceil(dim / blockSize) at `axis`.
 */
function paramIndex(x: Tensor, param: Tensor | undefined, axis: number, node: string, blockSize = 0): (i: number) => number {
  if (!param || (param.size === 1 && blockSize === 0)) return () => 0;
  const a = normalizeAxis(axis, x.rank, node);
  const dim = x.shape[a]!;
  let inner = 1;
  for (let k = a + 1; k < x.rank; k++) inner *= x.shape[k]!;
  if (blockSize > 0) {
    const blocks = Math.ceil(dim / blockSize);
    const want = x.shape.map((d, k) => (k === a ? blocks : d));
    if (param.rank !== x.rank || param.shape.some((d, k) => d !== want[k])) {
      throw new ShapeError(`${node}: blocked parameter must have shape [${want.join(',')}] (block_size ${blockSize} on axis ${a}), got [${param.shape.join(',')}]`, node);
    }
    return (i) => {
      const r = i % inner;
      const c = Math.floor(i / inner) % dim;
      const outer = Math.floor(i / (inner * dim));
      return (outer * blocks + Math.floor(c / blockSize)) * inner + r;
    };
  }
  if (param.size !== dim) throw new ShapeError(`${node}: per-axis parameter has ${param.size} elements, axis ${a} has ${dim}`, node);
  return (i) => Math.floor(i / inner) % dim;
}

/**
 * y = saturate(round(x / scale) + zp) for integer types; for float8 (opset 19)
 * y = cast(x / scale + zp), rounded to nearest even, clamped to ±the largest finite
 * value when `sat` (the `saturate` attribute), else Inf/NaN beyond the range.
 */
function quantize(x: Tensor, scale: Tensor, zp: Tensor | undefined, out: DType, axis: number, node: string, blockSize = 0, sat = true): Tensor {
  const y = new Tensor(out, x.shape);
  const si = paramIndex(x, scale, axis, node, blockSize);
  const fmt = floatFormatOf(out);
  for (let i = 0; i < x.size; i++) {
    const k = si(i);
    const q = Math.fround(x.data[i]! / scale.data[k]!);
    if (fmt) {
      const v = Math.fround(q + (zp ? zp.data[k]! : 0));
      y.data[i] = roundToFormat(sat && !Number.isNaN(v) ? Math.min(fmt.max, Math.max(-fmt.max, v)) : v, fmt);
    } else {
      y.data[i] = saturate(out, rint(q) + (zp ? zp.data[k]! : 0));
    }
  }
  return y;
}

/** y = (x - zp) * scale in float32, stored as `out` (the scale's dtype; the reference rounds float16 outputs). */
function dequantize(x: Tensor, scale: Tensor, zp: Tensor | undefined, axis: number, node: string, blockSize = 0, out: DType = 'float32'): Tensor {
  const y = new Tensor(out, x.shape);
  const si = paramIndex(x, scale, axis, node, blockSize);
  for (let i = 0; i < x.size; i++) {
    const k = si(i);
    y.data[i] = Math.fround((x.data[i]! - (zp ? zp.data[k]! : 0)) * scale.data[k]!);
  }
  return y;
}

/** QuantizeLinear: y = saturate(round(x / scale) + zero_point). */
export const QuantizeLinear = defineOp({
  name: 'QuantizeLinear',
  inputs: ['x', 'y_scale', 'y_zero_point?'],
  outputs: ['y'],
  attrs: { axis: attr.int(1), saturate: attr.int(1), block_size: attr.int(0), output_dtype: attr.int(0) },
  category: 'elementwise',
  doc: 'Quantizes floats to uint8/int8/uint16/int16/uint4/int4 or a float8 type.',
  infer([x, s, zp], ctx) {
    expectDType(x!.dtype, [...FLOATS, 'int32'], ctx.node, 'x');
    expectDType(s!.dtype, FLOATS, ctx.node, 'y_scale');
    if (zp) expectDType(zp.dtype, QTYPES, ctx.node, 'y_zero_point');
    // Opset 21: output_dtype names y's type (TensorProto code) when no zero point does.
    const named = ctx.attrs.output_dtype ? ONNX_DTYPE[ctx.attrs.output_dtype] : undefined;
    if (ctx.attrs.output_dtype && (!named || !QTYPES.includes(named))) throw new DTypeError(`${ctx.node}: output_dtype ${ctx.attrs.output_dtype} is not a supported quantized type`, ctx.node);
    if (named && zp && named !== zp.dtype) throw new DTypeError(`${ctx.node}: output_dtype ${named} differs from y_zero_point's ${zp.dtype}`, ctx.node);
    return [{ dtype: zp?.dtype ?? named ?? 'uint8', shape: x!.shape }];
  },
  cpu([x, s, zp], ctx) {
    return [quantize(x!, s!, zp, ctx.outputs[0]!.dtype, ctx.attrs.axis, ctx.node, ctx.attrs.block_size, ctx.attrs.saturate !== 0)];
  },
});

/** DequantizeLinear: y = (x - zero_point) * scale. */
export const DequantizeLinear = defineOp({
  name: 'DequantizeLinear',
  inputs: ['x', 'x_scale', 'x_zero_point?'],
  outputs: ['y'],
  attrs: { axis: attr.int(1), block_size: attr.int(0) },
  category: 'elementwise',
  doc: 'Dequantizes uint8/int8/uint16/int16/uint4/int4/int32 or a float8 type to the dtype of x_scale.',
  infer([x, s, zp], ctx) {
    expectDType(x!.dtype, [...QTYPES, 'int32'], ctx.node, 'x');
    expectDType(s!.dtype, FLOATS, ctx.node, 'x_scale');
    if (zp && zp.dtype !== x!.dtype) throw new DTypeError(`${ctx.node}: x_zero_point has dtype ${zp.dtype}, x has ${x!.dtype}`, ctx.node);
    return [{ dtype: s!.dtype, shape: x!.shape }];
  },
  cpu([x, s, zp], ctx) {
    return [dequantize(x!, s!, zp, ctx.attrs.axis, ctx.node, ctx.attrs.block_size, ctx.outputs[0]!.dtype)];
  },
});

/** DynamicQuantizeLinear: uint8 quantization with scale and zero point computed from the data range. */
export const DynamicQuantizeLinear = defineOp({
  name: 'DynamicQuantizeLinear',
  inputs: ['x'],
  outputs: ['y', 'y_scale', 'y_zero_point'],
  attrs: {},
  category: 'opaque',
  multi: true,
  doc: 'Quantizes floats to uint8 using the data range.',
  outputCount: () => 3,
  infer([x], ctx) {
    expectDType(x!.dtype, ['float32'], ctx.node, 'x');
    return [
      { dtype: 'uint8', shape: x!.shape },
      { dtype: 'float32', shape: [] },
      { dtype: 'uint8', shape: [] },
    ];
  },
  cpu([x], ctx) {
    let lo = 0;
    let hi = 0;
    for (const v of x!.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const scale = Math.fround((hi - lo) / 255);
    const zp = scale === 0 ? 0 : saturate('uint8', rint(Math.fround(0 - Math.fround(lo / scale))));
    const s = Tensor.scalar('float32', scale);
    const z = Tensor.scalar('uint8', zp);
    const y = scale === 0 ? new Tensor('uint8', x!.shape) : quantize(x!, s, z, 'uint8', 1, ctx.node);
    return [y, s, z];
  },
});

function innerNode(op: string, name: string, attrs: Node['attrs'], n: number): Node {
  return { name, op, domain: '', inputs: Array.from({ length: n }, (_, i) => `in${i}`), outputs: ['out'], attrs };
}

function floatInfer(op: string, name: string, attrs: Node['attrs'], ins: (InferInput | undefined)[]): InferInput {
  const node = innerNode(op, name, attrs, ins.length);
  return inferNode(node, ins.map((t) => (t ? { dtype: 'float32', shape: t.shape } : undefined)))[0]!;
}

/** QLinearMatMul: quantized matrix product (dequantize, MatMul, requantize). */
export const QLinearMatMul = defineOp({
  name: 'QLinearMatMul',
  inputs: ['a', 'a_scale', 'a_zero_point', 'b', 'b_scale', 'b_zero_point', 'y_scale', 'y_zero_point'],
  outputs: ['y'],
  attrs: {},
  category: 'opaque',
  doc: 'Quantized MatMul.',
  infer(ins, ctx) {
    const [a, , , b, , , , yzp] = ins;
    expectDType(a!.dtype, QLINEAR_TYPES, ctx.node, 'a');
    expectDType(b!.dtype, QLINEAR_TYPES, ctx.node, 'b');
    return [{ dtype: yzp!.dtype, shape: floatInfer('MatMul', ctx.node, {}, [a, b]).shape }];
  },
  cpu([a, as, azp, b, bs, bzp, ys, yzp], ctx) {
    const af = dequantize(a!, as!, azp, 1, ctx.node);
    const bf = dequantize(b!, bs!, bzp, -1, ctx.node);
    const [y] = runReference(innerNode('MatMul', ctx.node, {}, 2), [af, bf]);
    return [quantize(y!, ys!, yzp, yzp!.dtype, 1, ctx.node)];
  },
});

const convAttrs = {
  auto_pad: attr.string('NOTSET', ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']),
  dilations: attr.optInts(),
  group: attr.int(1),
  kernel_shape: attr.optInts(),
  pads: attr.optInts(),
  strides: attr.optInts(),
};

/** QLinearConv: quantized convolution (dequantize, Conv, requantize); w may have per-channel scales. */
export const QLinearConv = defineOp({
  name: 'QLinearConv',
  inputs: ['x', 'x_scale', 'x_zero_point', 'w', 'w_scale', 'w_zero_point', 'y_scale', 'y_zero_point', 'B?'],
  outputs: ['y'],
  attrs: convAttrs,
  category: 'opaque',
  doc: 'Quantized Conv.',
  infer(ins, ctx) {
    const [x, , , w, , , , yzp] = ins;
    expectDType(x!.dtype, QLINEAR_TYPES, ctx.node, 'x');
    expectDType(w!.dtype, QLINEAR_TYPES, ctx.node, 'w');
    const attrs = Object.fromEntries(Object.entries(ctx.attrs).filter(([, v]) => v !== undefined)) as Node['attrs'];
    return [{ dtype: yzp!.dtype, shape: floatInfer('Conv', ctx.node, attrs, [x, w]).shape }];
  },
  cpu([x, xs, xzp, w, ws, wzp, ys, yzp, bias], ctx) {
    const xf = dequantize(x!, xs!, xzp, 1, ctx.node);
    const wf = dequantize(w!, ws!, wzp, 0, ctx.node);
    const ins = [xf, wf];
    if (bias) {
      const bf = new Tensor('float32', bias.shape);
      for (let c = 0; c < bias.size; c++) bf.data[c] = bias.data[c]! * xs!.data[0]! * ws!.data[ws!.size === 1 ? 0 : c]!;
      ins.push(bf);
    }
    const attrs = Object.fromEntries(Object.entries(ctx.attrs).filter(([, v]) => v !== undefined)) as Node['attrs'];
    const [y] = runReference(innerNode('Conv', ctx.node, attrs, ins.length), ins);
    return [quantize(y!, ys!, yzp, yzp!.dtype, 1, ctx.node)];
  },
});

/** Quantization ops. */
setTrait(DynamicQuantizeLinear, RANGE_QUANTIZE, { quantized: 0, scale: 1, zeroPoint: 2 });
// Per-tensor or per-axis (not blocked): a kernel may dequantize constant weights as it loads them.
setTrait(DequantizeLinear, DEQUANTIZE, {
  quantized: 0, scale: 1, zeroPoint: 2,
  axisOf: (n, rank) => {
    if (Number(n.attrs['block_size'] ?? 0) !== 0) return undefined;
    return rank === 0 ? 0 : normalizeAxis(Number(n.attrs['axis'] ?? 1), rank, n.name);
  },
});

export const quantizeOps = { QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, QLinearConv } as const;
