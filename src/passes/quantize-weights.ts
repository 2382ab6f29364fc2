/**
 * Weight quantization: the float32 weights of MatMul, Gemm and Conv (plain, or the
 * anchor of a Fused epilogue) stored as int8, one scale per output channel
 * (symmetric: zero point 0, q = round(w / s) with s = max|w| / 127 over the channel),
 * read through a standard `DequantizeLinear(q, s, 0, axis)`. The file is about 4×
 * smaller and any ONNX runtime runs it (opset ≥ 13 for the axis).
 *
 * With 4 bits, MatMul and Gemm weights become ONNX Runtime's com.microsoft
 * `MatMulNBits` (blocks of `blockSize` along K, one scale each; Conv stays float32):
 * run it before the O2 pipeline (the op is opaque to fusion).
 *
 * Which input is the weight, and which of its axes is the output channel, is the
 * op's {@link WEIGHT_CHANNEL} trait. Run it on the optimized graph (after fusion).
 * Where the anchor's kernels dequantize the weight as they load it (its op's
 * LOAD_FUSION `dequantize` slot, src/graph/load-fusion.ts) the DequantizeLinear is
 * put inside the anchor's Fused epilogue group (a plain anchor becomes one), as
 * epilogue fusion would: the int8 weight then stays packed in GPU memory; elsewhere
 * the DequantizeLinear stays outside (the plan then folds it into float32).
 *
 * Invariants: the input graph is unchanged; only float32 initializers read by no
 * other node are replaced; node names are kept; graph inputs and outputs unchanged.
 */
import { KilnError } from '../graph/errors.js';
import type { Graph, Node, ValueInfo } from '../graph/graph.js';
import { LOAD_FUSION } from '../graph/load-fusion.js';
import { findOp, getTrait, setTrait, traitKey, type TraitKey } from '../graph/op.js';
import '../graph/ops/index.js'; // every op registered before the traits below are attached
import { isFused } from '../graph/ops/fused.js';
import { Tensor } from '../graph/tensor.js';
import { GraphEditor } from './editor.js';
import { fuseInPlace } from './fusion-util.js';
import { rint } from '../graph/ops/quantize.js';
import { correctedBiases, type BiasTarget } from './bias-correction.js';

/**
 * Which input of a node is its weight and which axis of it is the output channel
 * (undefined: none); `product` when the node computes exactly A · W (+ input 2 as a
 * bias over the channels), so a MatMul with packed weights can replace it; `output`
 * is the output's channel axis (negative: from the end), where input 2 adds the bias.
 */
export type WeightChannel = (node: Node, weightRank: number) => { readonly input: number; readonly axis: number; readonly product?: boolean; readonly output: number } | undefined;

/** Trait: where an op's weight and its output-channel axis are. */
export const WEIGHT_CHANNEL: TraitKey<WeightChannel> = traitKey<WeightChannel>('kiln.weightChannel');

const CHANNELS: readonly [string, WeightChannel][] = [
  ['MatMul', (_n, rank) => (rank === 2 ? { input: 1, axis: 1, product: true, output: -1 } : undefined)],
  ['Gemm', (n, rank) => (rank === 2 ? {
    input: 1,
    axis: n.attrs['transB'] === 1 ? 0 : 1,
    product: (n.attrs['transA'] ?? 0) === 0 && (n.attrs['alpha'] ?? 1) === 1 && (n.attrs['beta'] ?? 1) === 1,
    output: -1,
  } : undefined)],
  ['Conv', (_n, rank) => (rank >= 3 ? { input: 1, axis: 0, output: 1 } : undefined)],
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
  /** Bits per weight: 8 (int8 per channel, DequantizeLinear) or 4 (blocks, com.microsoft MatMulNBits). */
  readonly bits: number;
  /** With 4 bits: weights per block along K (a power of 2 ≥ 16; default 32). */
  readonly blockSize?: number;
  /** Weights with fewer elements stay float32 (default 1024). */
  readonly minElements?: number;
  /** With 8 bits: how each channel's step is chosen (see {@link ClipRule}). */
  readonly clip?: ClipRule;
  /** With 8 bits: weights with fewer elements per output channel (products summed into one output) stay float32. */
  readonly minFanIn?: number;
  /**
   * With 8 bits: the smallest weights stay float32 while the bytes this adds stay
   * within this fraction of the weights' float32 bytes (see {@link keptFloat}).
   */
  readonly floatBudget?: number;
  /** Names of nodes whose weights stay float32 whatever the rules say. */
  readonly keep?: readonly string[];
  /** With 8 bits: calibration batches (by graph input) for bias correction (bias-correction.ts); none: no correction. */
  readonly calibration?: readonly ReadonlyMap<string, Tensor>[];
}

/** What {@link quantizeWeights} did. */
export interface QuantizeWeightsReport {
  /** Weights quantized, by node. */
  readonly weights: readonly { node: string; weight: string; elements: number; maxError: number }[];
  /** Bytes of float32 weights before and int8 + scales after. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** With calibration batches: how many biases bias correction changed. */
  readonly biasesCorrected?: number;
}

/** How a channel's int8 step is chosen: `max` covers max|w|; `mse` searches a clipping of it for the least squared error. */
export type ClipRule = 'max' | 'mse';

/**
 * The clipping fraction of max|w| (over `vals`) whose int8 grid (step α·max / 127)
 * gives the least squared rounding-and-clipping error: a grid search over α from 1
 * down to 0.5. A channel with a few large outliers gets a finer step for the bulk of
 * its weights; one without keeps α = 1.
 */
function mseClip(vals: Float64Array, maxAbs: number): number {
  let best = 1;
  let bestErr = Infinity;
  for (let k = 0; k <= 50; k++) {
    const alpha = 1 - k / 100;
    const s = Math.fround((alpha * maxAbs) / 127);
    let err = 0;
    for (let i = 0; i < vals.length; i++) {
      const d = vals[i]! - Math.max(-127, Math.min(127, rint(vals[i]! / s))) * s;
      err += d * d;
      if (err >= bestErr) break;
    }
    if (err < bestErr) { bestErr = err; best = alpha; }
  }
  return best;
}

/**
 * Per-channel symmetric int8 of `w` along `axis`: the int8 tensor, the scales and the
 * largest |w − dequantized|. `clip` chooses each channel's step (default `max`:
 * s = max|w| / 127, nothing clipped).
 */
export function quantizePerChannel(w: Tensor, axis: number, clip: ClipRule = 'max'): { q: Tensor; scale: Tensor; maxError: number } {
  const channels = w.shape[axis]!;
  const inner = w.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const ch = (i: number): number => Math.floor(i / inner) % channels;
  const maxAbs = new Float64Array(channels);
  const d = w.data as ArrayLike<number>;
  for (let i = 0; i < d.length; i++) maxAbs[ch(i)] = Math.max(maxAbs[ch(i)]!, Math.abs(d[i]!));
  let alphas = new Float64Array(channels).fill(1);
  if (clip === 'mse') {
    const per = d.length / channels;
    const vals = Array.from({ length: channels }, () => new Float64Array(per));
    const fill = new Int32Array(channels);
    for (let i = 0; i < d.length; i++) { const c = ch(i); vals[c]![fill[c]!++] = d[i]!; }
    alphas = Float64Array.from(vals, (v, c) => (maxAbs[c]! > 0 ? mseClip(v, maxAbs[c]!) : 1));
  }
  const scales = Array.from(maxAbs, (m, c) => Math.fround(m > 0 ? (alphas[c]! * m) / 127 : 1));
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

/** True when `anchor`'s kernels dequantize an int8 weight (input 1, channels along `axis`) as they load it (LOAD_FUSION). */
function loadsPacked(anchor: Node, axis: number, rank: number): boolean {
  const def = findOp(anchor.op, anchor.domain);
  return !!def && !!getTrait(def, LOAD_FUSION)?.dequantize?.some((d) => d.input === 1 && d.axisOf(anchor, rank) === axis);
}

/**
 * Which weights stay float32 under a byte budget: the smallest first (by elements),
 * while the 3 bytes each kept element costs over int8 stay within `budget` × the 4
 * bytes of every candidate element. Small weights are the few-channel layers near the
 * input and the depthwise convolutions, whose rounding errors reach every later layer
 * and average over few products; they are a small share of a model's bytes.
 */
export function keptFloat(weights: readonly { node: string; elements: number }[], budget: number): Set<string> {
  const total = weights.reduce((s, w) => s + 4 * w.elements, 0);
  const kept = new Set<string>();
  let extra = 0;
  for (const w of [...weights].sort((a, b) => a.elements - b.elements)) {
    if (extra + 3 * w.elements > budget * total) break;
    extra += 3 * w.elements;
    kept.add(w.node);
  }
  return kept;
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
  if (opts.bits === 4) return quantizeWeights4(g, opts.blockSize ?? 32, opts.minElements ?? 1024);
  if (opts.bits !== 8) throw new QuantizationError(`weight quantization to ${opts.bits} bits is not supported (8: int8 per channel, 4: MatMulNBits blocks)`);
  const minElements = opts.minElements ?? 1024;
  const clip = opts.clip ?? 'max';
  const minFanIn = opts.minFanIn ?? 0;
  const keep = new Set(opts.keep ?? []);
  const floatBudget = opts.floatBudget ?? 0;
  const targets: BiasTarget[] = [];
  const ed = new GraphEditor(g);
  const weights: { node: string; weight: string; elements: number; maxError: number }[] = [];
  let bytesBefore = 0;
  let bytesAfter = 0;
  const candidate = (n: Node): { anchor: Node; wName: string; w: Tensor; ch: NonNullable<ReturnType<WeightChannel>> } | undefined => {
    const anchor = anchorOf(n);
    const def = anchor && findOp(anchor.op, anchor.domain);
    const where = def && getTrait(def, WEIGHT_CHANNEL);
    if (!anchor || !where) return undefined;
    const wName = anchor.inputs[1] ?? '';
    const w = g.initializers.get(wName);
    if (!w || w.dtype !== 'float32' || w.size < minElements || ed.useCount(wName) !== 1 || !n.inputs.includes(wName)) return undefined;
    const ch = where(anchor, w.rank);
    if (!ch || ch.input !== 1 || w.size / w.shape[ch.axis]! < minFanIn || keep.has(n.name)) return undefined;
    return { anchor, wName, w, ch };
  };
  const float = keptFloat(g.topo.flatMap((n) => { const c = candidate(n); return c ? [{ node: n.name, elements: c.w.size }] : []; }), floatBudget);
  for (const n of g.topo) {
    const c = float.has(n.name) ? undefined : candidate(n);
    if (!c) continue;
    const { anchor, wName, w, ch } = c;
    const { q, scale, maxError } = quantizePerChannel(w, ch.axis, clip);
    const qName = ed.addConstant(q, `${wName}_int8`);
    const sName = ed.addConstant(scale, `${wName}_scale`);
    const zName = ed.addConstant(new Tensor('int8', [scale.size]), `${wName}_zero`);
    const deqName = `${wName}_dequantize`;
    const packed = loadsPacked(anchor, ch.axis, w.rank);
    if (isFused(n) && packed) {
      // The anchor's kernel dequantizes on load: the DequantizeLinear joins the group
      // (before the anchor, as epilogue fusion puts it), reading q, scale and zero point.
      const body = n.attrs['graph'] as Graph;
      const dqNode: Node = { name: deqName, op: 'DequantizeLinear', domain: '', inputs: [qName, sName, zName], outputs: [deqName], attrs: { axis: ch.axis } };
      const valueTypes = new Map(body.valueTypes);
      valueTypes.set(deqName, { dtype: 'float32', shape: w.shape });
      const info = (name: string, t: Tensor): ValueInfo => ({ name, dtype: t.dtype, shape: t.shape });
      const renamed = body.with({
        inputs: [...body.inputs.map((i) => (i.name === wName ? info(qName, q) : i)), info(sName, scale), info(zName, ed.constantOf(zName)!)],
        nodes: [dqNode, ...body.nodes.map((m) => ({ ...m, inputs: m.inputs.map((v) => (v === wName ? deqName : v)) }))],
        valueTypes,
      });
      const cur = ed.nodes.get(n.name)!;
      ed.replaceNode(cur, { ...cur, inputs: [...cur.inputs.map((v) => (v === wName ? qName : v)), sName, zName], attrs: { ...cur.attrs, graph: renamed } });
    } else {
      const [deq] = ed.addNode('DequantizeLinear', [qName, sName, zName], { axis: ch.axis }, { name: deqName });
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
      } else if (packed) {
        // A plain anchor becomes the group epilogue fusion makes of it: [DequantizeLinear, anchor].
        const again = ed.nodes.get(n.name)!;
        fuseInPlace(ed, [ed.producerOf(deq!)!, again], again.outputs, 'epilogue', n.name, new Set([n.name]));
      }
    }
    weights.push({ node: n.name, weight: wName, elements: w.size, maxError });
    if (opts.calibration && ed.useCount(anchor.inputs[2] ?? '') === 1) targets.push({ anchor, error: weightError(w, q, scale, ch.axis), outputAxis: ch.output });
    bytesBefore += w.size * 4;
    bytesAfter += w.size + scale.size * 5;
  }
  if (weights.length === 0) return { graph: g, report: { weights, bytesBefore, bytesAfter } };
  const out = ed.finish();
  const biases = opts.calibration && targets.length ? correctedBiases(g, opts.calibration, targets) : new Map<string, Tensor>();
  if (biases.size === 0) return { graph: out, report: { weights, bytesBefore, bytesAfter } };
  // Each corrected bias is read only by its node (checked above): its value changes in place.
  return { graph: out.with({ initializers: new Map([...out.initializers, ...biases]) }), report: { weights, bytesBefore, bytesAfter, biasesCorrected: biases.size } };
}

/** Dequantized minus float weight (`q` · scale along `axis`, minus `w`). */
function weightError(w: Tensor, q: Tensor, scale: Tensor, axis: number): Tensor {
  const channels = w.shape[axis]!;
  const inner = w.shape.slice(axis + 1).reduce((x, y) => x * y, 1);
  const e = new Tensor('float32', w.shape);
  const s = scale.data as ArrayLike<number>;
  for (let i = 0; i < e.size; i++) e.data[i] = Number(q.data[i]) * s[Math.floor(i / inner) % channels]! - Number(w.data[i]);
  return e;
}

/**
 * Block-wise 4-bit quantization of a [K, N] weight in ONNX Runtime's MatMulNBits
 * layout: B is [N, ceil(K/block), block/2] uint8 (two weights a byte, low nibble
 * first), one float32 scale per (column, block), symmetric around the default zero
 * point 8: q = clamp(round(w / s), −8, 7) + 8 with s = max|w| / 7 over the block.
 */
export function quantizeBlocks4(w: Tensor, blockSize: number): { b: Tensor; scales: Tensor; maxError: number } {
  const [K, N] = w.shape as [number, number];
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const b = new Tensor('uint8', [N, kBlocks, blob]);
  const scales = new Tensor('float32', [N * kBlocks]);
  const d = w.data as ArrayLike<number>;
  let maxError = 0;
  for (let n = 0; n < N; n++) {
    for (let kb = 0; kb < kBlocks; kb++) {
      const k0 = kb * blockSize;
      let m = 0;
      for (let k = k0; k < Math.min(K, k0 + blockSize); k++) m = Math.max(m, Math.abs(d[k * N + n]!));
      const s = Math.fround(m > 0 ? m / 7 : 1);
      scales.data[n * kBlocks + kb] = s;
      const base = (n * kBlocks + kb) * blob;
      for (let e = 0; e < blockSize; e++) {
        const k = k0 + e;
        const q = k < K ? Math.max(-8, Math.min(7, rint(d[k * N + n]! / s))) : 0;
        if (k < K) maxError = Math.max(maxError, Math.abs(d[k * N + n]! - q * s));
        b.data[base + (e >> 1)] = Number(b.data[base + (e >> 1)]) | ((q + 8) << ((e & 1) * 4));
      }
    }
  }
  return { b, scales, maxError };
}

/** 4-bit quantization: every A · W node (WEIGHT_CHANNEL `product`) with a 2-D constant W becomes a MatMulNBits. */
function quantizeWeights4(g: Graph, blockSize: number, minElements: number): { graph: Graph; report: QuantizeWeightsReport } {
  if (!(blockSize >= 16 && (blockSize & (blockSize - 1)) === 0)) throw new QuantizationError(`--block must be a power of 2 >= 16, got ${blockSize}`);
  if (!findOp('MatMulNBits', 'com.microsoft')) throw new QuantizationError('4-bit weights need the com.microsoft MatMulNBits op, which is not registered');
  const ed = new GraphEditor(g);
  const weights: { node: string; weight: string; elements: number; maxError: number }[] = [];
  let bytesBefore = 0;
  let bytesAfter = 0;
  for (const n of g.topo) {
    const def = findOp(n.op, n.domain);
    const where = def && getTrait(def, WEIGHT_CHANNEL);
    const wName = n.inputs[1] ?? '';
    let w = g.initializers.get(wName);
    if (!where || !w || w.dtype !== 'float32' || w.rank !== 2 || w.size < minElements || ed.useCount(wName) !== 1) continue;
    const ch = where(n, 2);
    if (!ch?.product || ch.input !== 1 || ed.typeOf(n.inputs[0]!).dtype !== 'float32') continue;
    if (ch.axis === 0) {
      // W is stored [N, K] (Gemm transB): MatMulNBits wants it as [K, N] to pack.
      const [r, c] = w.shape as [number, number];
      const t = new Tensor('float32', [c, r]);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t.data[j * r + i] = w.data[i * c + j]!;
      w = t;
    }
    const bias = n.inputs[2] ? g.initializers.get(n.inputs[2]) : undefined;
    if (n.inputs[2] && (!bias || bias.size !== w.shape[1])) continue;
    const [K, N] = w.shape as [number, number];
    const { b, scales, maxError } = quantizeBlocks4(w, blockSize);
    const bName = ed.addConstant(b, `${wName}_q4`);
    const sName = ed.addConstant(scales, `${wName}_scales`);
    const biasName = bias ? ed.addConstant(Tensor.from('float32', [N], bias.data as ArrayLike<number>), `${wName}_bias`) : '';
    const inputs = [n.inputs[0]!, bName, sName, '', '', ...(biasName ? [biasName] : [])];
    const cur = ed.nodes.get(n.name)!;
    ed.replaceNode(cur, { ...cur, op: 'MatMulNBits', domain: 'com.microsoft', inputs: biasName ? inputs : inputs.slice(0, 3), attrs: { K, N, bits: 4, block_size: blockSize } });
    weights.push({ node: n.name, weight: wName, elements: w.size, maxError });
    bytesBefore += w.size * 4;
    bytesAfter += b.size + scales.size * 4;
  }
  if (weights.length === 0) return { graph: g, report: { weights, bytesBefore, bytesAfter } };
  return { graph: ed.finish(), report: { weights, bytesBefore, bytesAfter } };
}
