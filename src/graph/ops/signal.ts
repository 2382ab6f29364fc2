/**
 * Op family: window functions (HannWindow, HammingWindow, BlackmanWindow) and Det.
 * Windows are generalized cosine windows w[n] = Σ_k (-1)^k a_k cos(2πkn/N), with
 * N = size (periodic) or size - 1 (symmetric).
 */
import { attr } from '../attrs.js';
import { expectDType, FLOATS, INTS, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { defineOp } from '../op.js';
import { Tensor } from '../tensor.js';

/** ONNX TensorProto.DataType codes of the float types a window may produce. */
const WINDOW_DTYPES: Readonly<Record<number, DType>> = { 1: 'float32', 10: 'float16', 11: 'float64', 6: 'int32', 7: 'int64' };

function windowOp(name: string, coeffs: readonly number[]) {
  return defineOp({
    name,
    inputs: ['size'],
    outputs: ['output'],
    attrs: { output_datatype: attr.int(1), periodic: attr.int(1) },
    category: 'opaque',
    shapeInputs: [0],
    doc: `${name}: a generalized cosine window of the given size.`,
    infer([size], ctx) {
      expectDType(size!.dtype, INTS, ctx.node, 'size');
      const dtype = WINDOW_DTYPES[ctx.attrs.output_datatype];
      if (!dtype) throw new ShapeError(`${ctx.node}: unsupported output_datatype ${ctx.attrs.output_datatype}`, ctx.node);
      const n = size!.value?.data[0];
      return [{ dtype, shape: [n === undefined ? ctx.fresh(0) : n] }];
    },
    cpu([size], ctx) {
      const n = size!.data[0]!;
      const denom = ctx.attrs.periodic ? n : n - 1;
      const out = new Tensor(ctx.outputs[0]!.dtype, [n]);
      for (let i = 0; i < n; i++) {
        let v = 0;
        coeffs.forEach((a, k) => {
          v += (k % 2 ? -1 : 1) * a * Math.cos((2 * Math.PI * k * i) / denom);
        });
        out.data[i] = v;
      }
      return [out];
    },
  });
}

/** HannWindow. */
export const HannWindow = windowOp('HannWindow', [0.5, 0.5]);
/** HammingWindow (ONNX's α = 25/46). */
export const HammingWindow = windowOp('HammingWindow', [25 / 46, 21 / 46]);
/** BlackmanWindow. */
export const BlackmanWindow = windowOp('BlackmanWindow', [0.42, 0.5, 0.08]);

/** Det: determinant of square matrices over the last two axes (LU with partial pivoting). */
export const Det = defineOp({
  name: 'Det',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {},
  category: 'opaque',
  doc: 'Determinant of the trailing square matrices.',
  infer([x], ctx) {
    expectDType(x!.dtype, FLOATS, ctx.node, 'X');
    const r = x!.shape.length;
    if (r < 2 || (typeof x!.shape[r - 1] === 'number' && typeof x!.shape[r - 2] === 'number' && x!.shape[r - 1] !== x!.shape[r - 2])) {
      throw new ShapeError(`${ctx.node}: Det needs square matrices in the last two axes, got [${x!.shape.join(',')}]`, ctx.node);
    }
    return [{ dtype: x!.dtype, shape: x!.shape.slice(0, r - 2) }];
  },
  cpu([x], ctx) {
    const n = x!.shape[x!.rank - 1]!;
    const out = new Tensor(x!.dtype, ctx.outputs[0]!.shape as number[]);
    const m = new Float64Array(n * n);
    for (let b = 0; b < out.size; b++) {
      for (let i = 0; i < n * n; i++) m[i] = x!.data[b * n * n + i]!;
      let det = 1;
      for (let c = 0; c < n; c++) {
        let p = c;
        for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
        if (m[p * n + c] === 0) {
          det = 0;
          break;
        }
        if (p !== c) {
          for (let k = 0; k < n; k++) {
            const t = m[c * n + k]!;
            m[c * n + k] = m[p * n + k]!;
            m[p * n + k] = t;
          }
          det = -det;
        }
        const piv = m[c * n + c]!;
        det *= piv;
        for (let r = c + 1; r < n; r++) {
          const f = m[r * n + c]! / piv;
          for (let k = c; k < n; k++) m[r * n + k]! -= f * m[c * n + k]!;
        }
      }
      out.data[b] = det;
    }
    return [out];
  },
});

/** Signal and linear-algebra extras. */
export const signalOps = { HannWindow, HammingWindow, BlackmanWindow, Det } as const;
