/**
 * Activation quantization of a float32 graph in the two forms ONNX Runtime's
 * quantization tool writes, so that Kiln can make the quantized models it has to run
 * fast (and any ONNX runtime runs them):
 *
 * - static QDQ (`quantize_static`, QDQ format): every float activation read by a
 *   MatMul / Gemm / Conv with a constant weight goes through
 *   `QuantizeLinear → DequantizeLinear` (uint8, asymmetric, per tensor, range from
 *   calibration batches run through the CPU reference), the weight is int8 symmetric
 *   per output channel behind a `DequantizeLinear`, the bias stays float32;
 * - dynamic (`quantize_dynamic`): each MatMul / Gemm with a constant 2-D weight becomes
 *   `DynamicQuantizeLinear(x) → MatMulInteger(xq, w_int8, xz, 0) → Cast → Mul(x_scale ·
 *   w_scale)` (+ the bias), weight int8 symmetric per tensor. Conv stays float32 (ORT's
 *   ConvInteger wants uint8 weights; not made here).
 *
 * Which input is the weight and its channel axis is the op's WEIGHT_CHANNEL trait
 * (quantize-weights.ts). One QuantizeLinear (static) or DynamicQuantizeLinear
 * (dynamic) per activation, shared by all its quantized readers.
 *
 * Invariants: the input graph is unchanged; graph inputs and outputs keep their names
 * and types; weights read by other nodes too are left float32.
 */
import type { Graph, Node } from '../graph/graph.js';
import { findOp, getTrait } from '../graph/op.js';
import { rint } from '../graph/ops/quantize.js';
import { Tensor } from '../graph/tensor.js';
import { GraphEditor } from './editor.js';
import { runCalibration } from './mixed-precision.js';
import { QuantizationError, quantizePerChannel, WEIGHT_CHANNEL } from './quantize-weights.js';

/** A quantizable node: its activation input, constant weight and weight channel axis. */
interface Site { readonly node: Node; readonly x: string; readonly w: string; readonly axis: number }

function sites(g: Graph, ops: ReadonlySet<string>, minElements: number): Site[] {
  const ed = new GraphEditor(g);
  const out: Site[] = [];
  for (const n of g.topo) {
    if (n.domain !== '' || !ops.has(n.op)) continue;
    const def = findOp(n.op, n.domain);
    const where = def && getTrait(def, WEIGHT_CHANNEL);
    const w = g.initializers.get(n.inputs[1] ?? '');
    if (!where || !w || w.dtype !== 'float32' || w.size < minElements || ed.useCount(n.inputs[1]!) !== 1) continue;
    const ch = where(n, w.rank);
    const x = n.inputs[0]!;
    if (!ch || ch.input !== 1 || g.initializers.has(x) || ed.typeOf(x).dtype !== 'float32') continue;
    if (n.op === 'Gemm' && Number(n.attrs['transA'] ?? 0) !== 0) continue;
    out.push({ node: n, x, w: n.inputs[1]!, axis: ch.axis });
  }
  return out;
}

/**
 * Per value in `names`: the smallest and largest finite element over the batches, run
 * through the CPU reference (each value freed after its last reader).
 */
export function valueRanges(g: Graph, batches: readonly ReadonlyMap<string, Tensor>[], names: ReadonlySet<string>): Map<string, [number, number]> {
  const ranges = new Map<string, [number, number]>();
  const note = (v: string, t: Tensor): void => {
    if (!names.has(v)) return;
    const r = ranges.get(v) ?? [Infinity, -Infinity];
    const d = t.data as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) {
      const x = d[i]!;
      if (!Number.isFinite(x)) continue;
      if (x < r[0]) r[0] = x;
      if (x > r[1]) r[1] = x;
    }
    ranges.set(v, r);
  };
  runCalibration(g, batches, note);
  return ranges;
}

/** uint8 asymmetric parameters covering [min(0, lo), max(0, hi)] (ORT's MinMax calibration). */
export function uint8Params(lo: number, hi: number): { scale: number; zero: number } {
  const a = Math.min(0, lo);
  const b = Math.max(0, hi);
  const scale = Math.fround(b > a ? (b - a) / 255 : 1);
  return { scale, zero: Math.max(0, Math.min(255, rint(-a / scale))) };
}

/** Options of {@link quantizeStatic} and {@link quantizeDynamic}. */
export interface QuantizeActivationsOptions {
  /** Weights with fewer elements stay float32 (default 1024). */
  readonly minElements?: number;
}

/** What a quantization did. */
export interface QuantizeActivationsReport {
  /** Nodes quantized. */
  readonly nodes: readonly string[];
  /** Activations quantized (one QuantizeLinear / DynamicQuantizeLinear each). */
  readonly activations: number;
}

/**
 * Static QDQ quantization (see the file comment), calibrated on `batches` with the
 * CPU reference. Throws a CalibrationError when a batch cannot run.
 */
export function quantizeStatic(g: Graph, batches: readonly ReadonlyMap<string, Tensor>[], opts: QuantizeActivationsOptions = {}): { graph: Graph; report: QuantizeActivationsReport } {
  if (batches.length === 0) throw new QuantizationError('static quantization needs at least one calibration batch');
  const found = sites(g, new Set(['MatMul', 'Gemm', 'Conv']), opts.minElements ?? 1024);
  const ranges = valueRanges(g, batches, new Set(found.map((s) => s.x)));
  const ed = new GraphEditor(g);
  const dq = new Map<string, string>();
  for (const s of found) {
    let x = dq.get(s.x);
    if (!x) {
      const [lo, hi] = ranges.get(s.x) ?? [0, 0];
      const p = uint8Params(lo, hi);
      const sc = ed.addConstant(Tensor.from('float32', [], [p.scale]), `${s.x}_scale`);
      const zp = ed.addConstant(Tensor.from('uint8', [], [p.zero]), `${s.x}_zero_point`);
      const [q] = ed.addNode('QuantizeLinear', [s.x, sc, zp], {}, { name: `${s.x}_QuantizeLinear` });
      [x] = ed.addNode('DequantizeLinear', [q!, sc, zp], {}, { name: `${s.x}_DequantizeLinear` });
      dq.set(s.x, x!);
    }
    const w = g.initializers.get(s.w)!;
    const { q, scale } = quantizePerChannel(w, s.axis);
    const qn = ed.addConstant(q, `${s.w}_quantized`);
    const sn = ed.addConstant(scale, `${s.w}_scale`);
    const zn = ed.addConstant(new Tensor('int8', [scale.size]), `${s.w}_zero_point`);
    const [wd] = ed.addNode('DequantizeLinear', [qn, sn, zn], { axis: s.axis }, { name: `${s.w}_DequantizeLinear` });
    const cur = ed.nodes.get(s.node.name)!;
    ed.replaceNode(cur, { ...cur, inputs: cur.inputs.map((v, i) => (i === 0 ? x! : i === 1 ? wd! : v)) });
  }
  return { graph: found.length ? ed.finish() : g, report: { nodes: found.map((s) => s.node.name), activations: dq.size } };
}

/** Symmetric per-tensor int8 of a 2-D weight, transposed to [K, N] when `trans`. */
function int8PerTensor(w: Tensor, trans: boolean): { q: Tensor; scale: number } {
  const [r, c] = w.shape as [number, number];
  const d = w.data as Float32Array;
  let m = 0;
  for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]!));
  const scale = Math.fround(m > 0 ? m / 127 : 1);
  const q = new Tensor('int8', trans ? [c, r] : [r, c]);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) q.data[trans ? j * r + i : i * c + j] = Math.max(-127, Math.min(127, rint(d[i * c + j]! / scale)));
  return { q, scale };
}

/**
 * Dynamic quantization (see the file comment): MatMul and Gemm with a constant 2-D
 * float32 weight as DynamicQuantizeLinear + MatMulInteger + float rescale.
 */
export function quantizeDynamic(g: Graph, opts: QuantizeActivationsOptions = {}): { graph: Graph; report: QuantizeActivationsReport } {
  const found = sites(g, new Set(['MatMul', 'Gemm']), opts.minElements ?? 1024).filter((s) => g.initializers.get(s.w)!.rank === 2);
  const ed = new GraphEditor(g);
  const dql = new Map<string, string[]>();
  const done: string[] = [];
  for (const s of found) {
    const n = s.node;
    if (n.op === 'Gemm' && ed.typeOf(s.x).shape.length !== 2) continue;
    let xs = dql.get(s.x);
    if (!xs) {
      xs = ed.addNode('DynamicQuantizeLinear', [s.x], {}, { name: `${s.x}_QuantizeLinear`, outputs: 3 });
      dql.set(s.x, xs);
    }
    const trans = n.op === 'Gemm' && Number(n.attrs['transB'] ?? 0) !== 0;
    const alpha = n.op === 'Gemm' ? Number(n.attrs['alpha'] ?? 1) : 1;
    const { q, scale } = int8PerTensor(g.initializers.get(s.w)!, trans);
    const qn = ed.addConstant(q, `${s.w}_quantized`);
    const zn = ed.addConstant(new Tensor('int8', []), `${s.w}_zero_point`);
    const [acc] = ed.addNode('MatMulInteger', [xs[0]!, qn, xs[2]!, zn], {}, { name: `${n.name}_MatMulInteger` });
    const [f] = ed.addNode('Cast', [acc!], { to: 1 }, { name: `${n.name}_cast` });
    const [sc] = ed.addNode('Mul', [xs[1]!, ed.addConstant(Tensor.from('float32', [], [Math.fround(scale * alpha)]), `${s.w}_scale`)], {}, { name: `${n.name}_scales_mul` });
    let [y] = ed.addNode('Mul', [f!, sc!], {}, { name: `${n.name}_output_scale_mul` });
    if (n.op === 'Gemm' && n.inputs[2]) {
      const beta = Number(n.attrs['beta'] ?? 1);
      let c: string = n.inputs[2];
      if (beta !== 1) c = ed.addNode('Mul', [c, ed.addConstant(Tensor.from('float32', [], [beta]), `${n.name}_beta`)], {}, { name: `${n.name}_beta_mul` })[0]!;
      [y] = ed.addNode('Add', [y!, c], {}, { name: `${n.name}_bias_add` });
    }
    ed.replaceUses(n.outputs[0]!, y!);
    ed.removeNode(ed.nodes.get(n.name)!);
    done.push(n.name);
  }
  return { graph: done.length ? ed.finish() : g, report: { nodes: done, activations: dql.size } };
}
