/**
 * Op family: ranking by score — TopK (the K largest or smallest elements along an
 * axis) and NonMaxSuppression (greedy selection of the best-scoring boxes).
 */
import { attr } from '../attrs.js';
import { FLOATS, INTS, NUMERIC, expectDType } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp, type ValueType } from '../op.js';
import { formatShape, normalizeAxis, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { scalarInt } from './index-util.js';
import { splitAround } from './reduce-util.js';

/**
 * TopK: the K largest (or smallest) elements along `axis` and their int64 indices.
 * K comes from the second input (opset ≥ 10) or the `k` attribute (opset 1). Ties keep
 * the lower index first; results are always sorted.
 */
export const TopK = defineOp({
  name: 'TopK',
  inputs: ['X', 'K?'],
  outputs: ['Values', 'Indices'],
  attrs: { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1), k: attr.optInt((v) => (v >= 0 ? undefined : 'must be >= 0')) },
  category: 'opaque',
  multi: true,
  shapeInputs: [1],
  doc: 'K largest or smallest elements along an axis, with indices.',
  infer([x, k], ctx): ValueType[] {
    expectDType(x!.dtype, NUMERIC, ctx.node, 'X');
    const axis = normalizeAxis(ctx.attrs.axis, x!.shape.length, ctx.node);
    if (k && ctx.attrs.k !== undefined) throw new AttributeError(`${ctx.node}: TopK K given both as attribute and as input`, ctx.node);
    if (!k && ctx.attrs.k === undefined) throw new AttributeError(`${ctx.node}: TopK needs K (input or attribute)`, ctx.node);
    if (k) expectDType(k.dtype, ['int64'], ctx.node, 'K');
    let kd: Dim = ctx.attrs.k ?? ctx.fresh('k');
    if (k?.value) kd = scalarInt(k.value, ctx.node, 'K');
    const d = x!.shape[axis]!;
    if (typeof kd === 'number' && (kd < 0 || (typeof d === 'number' && kd > d))) {
      throw new ShapeError(`${ctx.node}: TopK K=${kd} is out of range for axis ${axis} of X ${formatShape(x!.shape)}`, ctx.node);
    }
    const shape = x!.shape.map((s, i) => (i === axis ? kd : s));
    return [{ dtype: x!.dtype, shape }, { dtype: 'int64', shape }];
  },
  cpu([x, kT], ctx) {
    const axis = normalizeAxis(ctx.attrs.axis, x!.rank, ctx.node);
    const k = kT ? scalarInt(kT, ctx.node, 'K') : ctx.attrs.k!;
    const { outer, n, inner } = splitAround(x!.shape, axis);
    if (k < 0 || k > n) throw new ShapeError(`${ctx.node}: TopK K=${k} is out of range for axis ${axis} of X ${x}`, ctx.node);
    const shape = x!.shape.map((s, i) => (i === axis ? k : s));
    const values = new Tensor(x!.dtype, shape);
    const indices = new Tensor('int64', shape);
    const src = x!.data;
    const sign = ctx.attrs.largest ? -1 : 1;
    const idx = new Array<number>(n);
    const row = new Float64Array(n);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * n * inner + i;
        for (let j = 0; j < n; j++) { idx[j] = j; row[j] = src[base + j * inner]!; }
        idx.sort((a, b) => sign * (row[a]! - row[b]!) || a - b);
        const ob = o * k * inner + i;
        for (let j = 0; j < k; j++) {
          values.data[ob + j * inner] = row[idx[j]!]!;
          indices.data[ob + j * inner] = idx[j]!;
        }
      }
    }
    return [values, indices];
  },
});

/** Options of {@link nmsCpu}. */
interface NmsOptions {
  readonly maxPerClass: number;
  readonly iouThreshold: number;
  readonly scoreThreshold: number;
  readonly centerPointBox: boolean;
}

/** Box i of a [batch, boxes, 4] tensor as (y1, x1, y2, x2) with y1 <= y2, x1 <= x2. */
function corners(d: ArrayLike<number>, off: number, center: boolean): [number, number, number, number] {
  const [a, b, c, e] = [d[off]!, d[off + 1]!, d[off + 2]!, d[off + 3]!];
  if (center) return [b - e / 2, a - c / 2, b + e / 2, a + c / 2];
  return [Math.min(a, c), Math.min(b, e), Math.max(a, c), Math.max(b, e)];
}

function iouOf(p: readonly number[], q: readonly number[]): number {
  const areaP = (p[2]! - p[0]!) * (p[3]! - p[1]!);
  const areaQ = (q[2]! - q[0]!) * (q[3]! - q[1]!);
  if (areaP <= 0 || areaQ <= 0) return 0;
  const ih = Math.min(p[2]!, q[2]!) - Math.max(p[0]!, q[0]!);
  const iw = Math.min(p[3]!, q[3]!) - Math.max(p[1]!, q[1]!);
  if (ih <= 0 || iw <= 0) return 0;
  const inter = ih * iw;
  return inter / (areaP + areaQ - inter);
}

/** Greedy NMS; returns flat [batch, class, box] triples in batch, class, selection order. */
function nmsCpu(boxes: Tensor, scores: Tensor, o: NmsOptions): number[] {
  const [nb, nbox] = [boxes.shape[0]!, boxes.shape[1]!];
  const ncls = scores.shape[1]!;
  const out: number[] = [];
  if (o.maxPerClass <= 0) return out;
  for (let b = 0; b < nb; b++) {
    const bx = Array.from({ length: nbox }, (_, i) => corners(boxes.data, (b * nbox + i) * 4, o.centerPointBox));
    for (let c = 0; c < ncls; c++) {
      const sb = (b * ncls + c) * nbox;
      const cand: number[] = [];
      for (let i = 0; i < nbox; i++) if (scores.data[sb + i]! > o.scoreThreshold) cand.push(i);
      cand.sort((p, q) => scores.data[sb + q]! - scores.data[sb + p]! || p - q);
      const kept: number[] = [];
      for (const i of cand) {
        if (kept.length >= o.maxPerClass) break;
        if (kept.every((j) => iouOf(bx[i]!, bx[j]!) <= o.iouThreshold)) {
          kept.push(i);
          out.push(b, c, i);
        }
      }
    }
  }
  return out;
}

/**
 * NonMaxSuppression: per batch and class, greedily selects boxes by descending score,
 * dropping those whose IoU with a selected box exceeds `iou_threshold`. Output rows are
 * [batch, class, box] (int64); their count is known only at run time.
 */
export const NonMaxSuppression = defineOp({
  name: 'NonMaxSuppression',
  inputs: ['boxes', 'scores', 'max_output_boxes_per_class?', 'iou_threshold?', 'score_threshold?'],
  outputs: ['selected_indices'],
  attrs: { center_point_box: attr.int(0, (v) => (v === 0 || v === 1 ? undefined : 'must be 0 or 1')) },
  category: 'opaque',
  doc: 'Greedy non-maximum suppression of boxes.',
  infer([boxes, scores, maxOut, iou, thr], ctx): ValueType[] {
    expectDType(boxes!.dtype, FLOATS, ctx.node, 'boxes');
    expectDType(scores!.dtype, FLOATS, ctx.node, 'scores');
    if (maxOut) expectDType(maxOut.dtype, INTS, ctx.node, 'max_output_boxes_per_class');
    if (iou) expectDType(iou.dtype, FLOATS, ctx.node, 'iou_threshold');
    if (thr) expectDType(thr.dtype, FLOATS, ctx.node, 'score_threshold');
    const [b, s] = [boxes!.shape, scores!.shape];
    if (b.length !== 3 || b[2] !== 4 || s.length !== 3) {
      throw new ShapeError(`${ctx.node}: NonMaxSuppression needs boxes [batch,boxes,4] and scores [batch,classes,boxes], got ${formatShape(b)} and ${formatShape(s)}`, ctx.node);
    }
    return [{ dtype: 'int64', shape: [ctx.fresh('selected'), 3] }];
  },
  cpu([boxes, scores, maxOut, iou, thr], ctx) {
    const rows = nmsCpu(boxes!, scores!, {
      maxPerClass: maxOut && maxOut.size ? scalarInt(maxOut, ctx.node, 'max_output_boxes_per_class') : 0,
      iouThreshold: iou && iou.size ? iou.data[0]! : 0,
      scoreThreshold: thr && thr.size ? thr.data[0]! : -Infinity,
      centerPointBox: ctx.attrs.center_point_box === 1,
    });
    return [Tensor.from('int64', [rows.length / 3, 3], rows)];
  },
});

/** The ranking ops. */
export const rankingOps = { TopK, NonMaxSuppression } as const;
