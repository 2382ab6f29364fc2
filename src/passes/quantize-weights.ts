/**
 * Weight quantization: the float32 weights of MatMul, Gemm and Conv (plain, or the
 * anchor of a Fused epilogue) stored as int8, one scale per output channel
 * (symmetric: zero point 0, q = round(w / s) with s = max|w| / 127 over the channel),
 * read through a standard `DequantizeLinear(q, s, 0, axis)`. The file is about 4×
 * smaller and any ONNX runtime runs it (opset ≥ 13 for the axis).
 *
 * Which input is the weight, and which of its axes is the output channel, is the
 * op's {@link WEIGHT_CHANNEL} trait. Run it on the optimized graph (after fusion):
 * constant folding would turn a DequantizeLinear of a small constant back into a
 * float32 weight.
 *
 * Invariants: the input graph is unchanged; only float32 initializers read by no
 * other node are replaced; node names are kept; graph inputs and outputs unchanged.
 */
import { KilnError } from '../graph/errors.js';
import type { Graph, Node } from '../graph/graph.js';
import { findOp, getTrait, setTrait, traitKey, type TraitKey } from '../graph/op.js';
import '../graph/ops/index.js'; // every op registered before the traits below are attached
import { isFused } from '../graph/ops/fused.js';
import { Tensor } from '../graph/tensor.js';
import { GraphEditor } from './editor.js';
import { rint } from '../graph/ops/quantize.js';

/** Which input of a node is its weight and which axis of it is the output channel (undefined: none). */
export type WeightChannel = (node: Node, weightRank: number) => { readonly input: number; readonly axis: number } | undefined;

/** Trait: where an op's weight and its output-channel axis are. */
export const WEIGHT_CHANNEL: TraitKey<WeightChannel> = traitKey<WeightChannel>('kiln.weightChannel');

const CHANNELS: readonly [string, WeightChannel][] = [
  ['MatMul', (_n, rank) => (rank === 2 ? { input: 1, axis: 1 } : undefined)],
  ['Gemm', (n, rank) => (rank === 2 ? { input: 1, axis: n.attrs['transB'] === 1 ? 0 : 1 } : undefined)],
  ['Conv', (_n, rank) => (rank >= 3 ? { input: 1, axis: 0 } : undefined)],
];
for (const [name, f] of CHANNELS) {
  const def = findOp(name);
  if (def) setTrait(def, WEIGHT_CHANNEL, f);
}

/** Raised for a quantization request Kiln cannot carry out (names what). */
export class QuantizationError extends KilnError {
  constructor(message: string) { super('QUANTIZATION', message); }
}

/** Options of {@link quantizeWeights}. */
export interface QuantizeWeightsOptions {
  /** Bits per weight: 8 (int8). */
  readonly bits: number;
  /** Weights with fewer elements stay float32 (default 1024). */
  readonly minElements?: number;
}

/** What {@link quantizeWeights} did. */
export interface QuantizeWeightsReport {
  /** Weights quantized, by node. */
  readonly weights: readonly { node: string; weight: string; elements: number; maxError: number }[];
  /** Bytes of float32 weights before and int8 + scales after. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** Per-channel symmetric int8 of `w` along `axis`: the int8 tensor, the scales and the largest |w − dequantized|. */
export function quantizePerChannel(w: Tensor, axis: number): { q: Tensor; scale: Tensor; maxError: number } {
  const channels = w.shape[axis]!;
  const inner = w.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const ch = (i: number): number => Math.floor(i / inner) % channels;
  const maxAbs = new Float64Array(channels);
  const d = w.data as ArrayLike<number>;
  for (let i = 0; i < d.length; i++) maxAbs[ch(i)] = Math.max(maxAbs[ch(i)]!, Math.abs(d[i]!));
  const scales = Array.from(maxAbs, (m) => Math.fround(m > 0 ? m / 127 : 1));
  const q = new Tensor('int8', w.shape);
  let maxError = 0;
  for (let i = 0; i < d.length; i++) {
    const s = scales[ch(i)]!;
    const v = Math.max(-127, Math.min(127, rint(d[i]! / s)));
    q.data[i] = v;
    maxError = Math.max(maxError, Math.abs(d[i]! - v * s));
  }
  return { q, scale: Tensor.from('float32', [channels], scales), maxError };
}

/** The node whose weight is quantized: the node itself, or the anchor inside a Fused epilogue. */
function anchorOf(n: Node): Node | undefined {
  if (!isFused(n)) return n;
  if (!isFused(n, 'epilogue')) return undefined;
  const body = n.attrs['graph'] as Graph;
  return body.nodes.find((m) => { const def = findOp(m.op, m.domain); return def !== undefined && getTrait(def, WEIGHT_CHANNEL) !== undefined; });
}

/**
 * Quantizes the weights of a graph (see the file comment). Returns the new graph and
 * a report; a QuantizationError for an unsupported bit width.
 */
export function quantizeWeights(g: Graph, opts: QuantizeWeightsOptions): { graph: Graph; report: QuantizeWeightsReport } {
  if (opts.bits !== 8) throw new QuantizationError(`weight quantization to ${opts.bits} bits is not supported (int8 is; int4 needs the com.microsoft MatMulNBits layout, not yet written)`);
  const minElements = opts.minElements ?? 1024;
  const ed = new GraphEditor(g);
  const weights: { node: string; weight: string; elements: number; maxError: number }[] = [];
  let bytesBefore = 0;
  let bytesAfter = 0;
  for (const n of g.topo) {
    const anchor = anchorOf(n);
    const def = anchor && findOp(anchor.op, anchor.domain);
    const where = def && getTrait(def, WEIGHT_CHANNEL);
    if (!anchor || !where) continue;
    const wName = anchor.inputs[1] ?? '';
    const w = g.initializers.get(wName);
    if (!w || w.dtype !== 'float32' || w.size < minElements || ed.useCount(wName) !== 1 || !n.inputs.includes(wName)) continue;
    const ch = where(anchor, w.rank);
    if (!ch || ch.input !== 1) continue;
    const { q, scale, maxError } = quantizePerChannel(w, ch.axis);
    const qName = ed.addConstant(q, `${wName}_int8`);
    const sName = ed.addConstant(scale, `${wName}_scale`);
    const zName = ed.addConstant(new Tensor('int8', [scale.size]), `${wName}_zero`);
    const [deq] = ed.addNode('DequantizeLinear', [qName, sName, zName], { axis: ch.axis }, { name: `${wName}_dequantize` });
    const cur = ed.nodes.get(n.name)!;
    ed.replaceNode(cur, { ...cur, inputs: cur.inputs.map((v) => (v === wName ? deq! : v)) });
    if (isFused(n)) {
      // The body reads the weight by its outer name: rename it there too.
      const body = n.attrs['graph'] as Graph;
      const renamed = body.with({
        inputs: body.inputs.map((i) => (i.name === wName ? { ...i, name: deq! } : i)),
        nodes: body.nodes.map((m) => ({ ...m, inputs: m.inputs.map((v) => (v === wName ? deq! : v)) })),
      });
      const again = ed.nodes.get(n.name)!;
      ed.replaceNode(again, { ...again, attrs: { ...again.attrs, graph: renamed } });
    }
    weights.push({ node: n.name, weight: wName, elements: w.size, maxError });
    bytesBefore += w.size * 4;
    bytesAfter += w.size + scale.size * 5;
  }
  if (weights.length === 0) return { graph: g, report: { weights, bytesBefore, bytesAfter } };
  return { graph: ed.finish(), report: { weights, bytesBefore, bytesAfter } };
}
