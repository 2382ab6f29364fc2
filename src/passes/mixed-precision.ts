/**
 * Mixed precision: a float32 graph converted to float16 where it is safe.
 *
 * Safety comes from two sources:
 * - **Range analysis on calibration inputs** ({@link calibrate}): a few batches run
 *   through the CPU reference, recording each float value's largest |x| and, for
 *   reductions, a bound on their partial sums (largest |input| × elements summed).
 * - **Op rules** (the {@link PRECISION} trait): LayerNormalization and Softmax keep
 *   their statistics and sums in f32 inside their kernels, so their storage may be
 *   float16; ops whose numerics need float32 throughout (other normalizations,
 *   quantization scales, signal transforms, running sums, recurrent state) stay float32; ops whose output grows exponentially (Exp, Pow,
 *   Sinh, Cosh, Softplus) need 256× more headroom; some inputs are not of the op's
 *   data type (Resize scales, Dropout ratio, CastLike's target) and keep their dtype.
 *
 * - **An error budget on the graph outputs** ({@link mixedPrecisionPass}, `maxError`):
 *   the converted graph runs on the first calibration batch with float16 rounded as on
 *   the device, and when the outputs' relative rms error against float32 exceeds the
 *   budget, a prefix of the graph (the first nodes in topological order) stays float32,
 *   as short as the budget allows. Rounding error made early is amplified by every later
 *   layer (on mobilenet_v2 the relative error of an activation grows from 3e-4 after the
 *   first convolution to 5e-2 before the pooling, whether the weights or the activations
 *   are rounded), so the first layers are where float32 buys most accuracy; in CNNs they
 *   also hold few weights.
 *
 * A node runs in float16 when every float32 value it reads or writes stays within
 * `limit` (default 65504 / 8, headroom for inputs the calibration did not see), its
 * partial sums stay within float16's range, no rule keeps it in float32, and its
 * type inference accepts float16 (an op whose output dtype comes from an attribute,
 * such as Cast, stays as it is). The result has explicit `Cast` nodes where a value
 * crosses between the two precisions; graph inputs and outputs keep float32
 * (`keep_io_types`), float32 weights read only in float16 become float16 weights.
 * Run it before the O2 pipeline: folding removes casts of constants, and the
 * elementwise fusion absorbs the remaining casts into the kernels around them.
 * Inside MatMul/Conv/reduction kernels the WebGPU backend accumulates float16 in f32.
 *
 * Invariants: the input graph is not changed; node names are kept (casts get fresh
 * names derived from the value); a graph output keeps its name and dtype.
 */
import { DTypeError, KilnError } from '../graph/errors.js';
import type { Graph, Node } from '../graph/graph.js';
import { findOp, getTrait, setTrait, traitKey, type TraitKey, type InferInput, type ValueType } from '../graph/op.js';
import { inferNode } from '../graph/infer.js';
import { runReference } from '../graph/reference.js';
import { Tensor } from '../graph/tensor.js';
import '../graph/ops/index.js'; // every op registered before the traits below are attached
import { isFused } from '../graph/ops/fused.js';
import { GraphEditor } from './editor.js';
import type { Pass } from './pass-manager.js';

/** How an op behaves under mixed precision (attached to ops as the {@link PRECISION} trait). */
export interface PrecisionRule {
  /** The op always computes in float32 (its float16 inputs are cast up). */
  readonly keepF32?: string;
  /** Its output grows exponentially with its input: needs this much more headroom (e.g. 256). */
  readonly headroom?: number;
  /** Inputs that are not of the op's data type: they keep their dtype. */
  readonly fixedInputs?: readonly number[];
  /** Its kernels compute statistics and sums in f32 whatever the storage (documentation; storage may be float16). */
  readonly internalF32?: boolean;
}

/** Trait: the op's mixed-precision rule (absent: an ordinary op). */
export const PRECISION: TraitKey<PrecisionRule> = traitKey<PrecisionRule>('kiln.precision');

const RULES: readonly [readonly string[], PrecisionRule][] = [
  // Kernels that keep their statistics and sums in f32 (float64 on the CPU; ONNX's
  // LayerNormalization stash_type is float32): float16 storage is safe.
  [['LayerNormalization', 'Softmax', 'LogSoftmax'], { internalF32: true }],
  [['InstanceNormalization', 'GroupNormalization', 'LpNormalization', 'MeanVarianceNormalization', 'ReduceLogSumExp'], { keepF32: 'normalization statistics stay float32' }],
  [['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear'], { keepF32: 'quantization scales are float32' }],
  [['DFT', 'STFT', 'MelWeightMatrix', 'CumSum'], { keepF32: 'long running sums stay float32' }],
  [['LSTM', 'GRU', 'RNN'], { keepF32: 'recurrent state stays float32' }],
  [['NonMaxSuppression', 'RoiAlign'], { keepF32: 'box coordinates stay float32' }],
  [['Exp', 'Pow', 'Sinh', 'Cosh', 'Softplus'], { headroom: 256 }],
  [['Resize'], { fixedInputs: [1, 2] }],
  [['Upsample'], { fixedInputs: [1] }],
  [['Dropout'], { fixedInputs: [1] }],
  [['CastLike'], { fixedInputs: [1] }],
];
for (const [names, rule] of RULES) {
  for (const name of names) {
    const def = findOp(name);
    if (def) setTrait(def, PRECISION, rule);
  }
}

/** The largest finite float16 value. */
export const F16_MAX = 65504;

/** What the calibration saw. */
export interface Calibration {
  /**
   * Largest finite |x| seen per float value (graph inputs, weights and node outputs).
   * Infinities and NaN are left out: they are the same in float16 (a -inf mask stays
   * -inf); what the analysis guards against is a finite value that overflows.
   */
  readonly maxAbs: ReadonlyMap<string, number>;
  /** Per reduction node: a bound on any partial sum (largest |input| × elements summed into one output). */
  readonly partialSum: ReadonlyMap<string, number>;
  /** Number of batches run. */
  readonly batches: number;
  /** The float graph outputs on the first batch (the reference of the error budget). */
  readonly firstOutputs: ReadonlyMap<string, Tensor>;
}

/** Raised when calibration cannot run the graph (names the node). */
export class CalibrationError extends KilnError {
  constructor(message: string, node?: string) { super('CALIBRATION', message, node); }
}

function maxAbsOf(t: Tensor): number {
  let m = 0;
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    const x = Math.abs(Number(d[i]));
    if (x > m && x !== Infinity) m = x;
  }
  return m;
}

const isFloat = (t: { dtype: string } | undefined): boolean => t !== undefined && (t.dtype === 'float32' || t.dtype === 'float16' || t.dtype === 'float64');

/**
 * Runs `g` on each calibration batch with the CPU reference, in topological order,
 * freeing each value after its last reader (graph outputs and initializers are kept).
 * `onValue` sees every graph input and every node output; `onNode` sees each node
 * with its first input and first output. A missing input or a node that fails raises
 * a CalibrationError naming it.
 */
export function runCalibration(
  g: Graph,
  batches: readonly ReadonlyMap<string, Tensor>[],
  onValue: (name: string, t: Tensor) => void,
  onNode?: (n: Node, x: Tensor | undefined, y: Tensor | undefined) => void,
): void {
  const order = g.topo;
  const lastUse = new Map<string, number>();
  order.forEach((n, i) => n.inputs.forEach((v) => lastUse.set(v, i)));
  for (const o of g.outputs) lastUse.set(o.name, order.length);
  for (const batch of batches) {
    const values = new Map<string, Tensor>(g.initializers);
    for (const i of g.inputs) {
      const t = batch.get(i.name) ?? g.initializers.get(i.name);
      if (!t) throw new CalibrationError(`calibration batch has no tensor for graph input '${i.name}'`, i.name);
      values.set(i.name, t);
      onValue(i.name, t);
    }
    order.forEach((n, step) => {
      let outs: Tensor[];
      try {
        outs = runReference(n, n.inputs.map((v) => (v === '' ? undefined : values.get(v))));
      } catch (e) {
        if (e instanceof KilnError) throw new CalibrationError(`calibration: node '${n.name}' (${n.op}) failed: ${e.message}`, n.name);
        throw e;
      }
      n.outputs.forEach((o, i) => {
        const t = outs[i];
        if (o === '' || !t) return;
        values.set(o, t);
        onValue(o, t);
      });
      onNode?.(n, values.get(n.inputs[0] ?? ''), outs[0]);
      for (const v of n.inputs) if (lastUse.get(v) === step && !g.initializers.has(v)) values.delete(v);
    });
  }
}

/**
 * Runs the graph on each batch with the CPU reference and records, per float value,
 * the largest |x|, and per reduction, a bound on its partial sums. Each value is
 * freed after its last reader. A node that fails raises a CalibrationError naming it.
 */
export function calibrate(g: Graph, batches: readonly ReadonlyMap<string, Tensor>[]): Calibration {
  const maxAbs = new Map<string, number>();
  const partialSum = new Map<string, number>();
  const note = (m: Map<string, number>, k: string, x: number): void => { m.set(k, Math.max(m.get(k) ?? 0, x)); };
  for (const [k, t] of g.initializers) if (isFloat(t)) note(maxAbs, k, maxAbsOf(t));
  const outNames = new Set(g.outputs.map((o) => o.name));
  const firstOutputs = new Map<string, Tensor>();
  runCalibration(g, batches, (name, t) => {
    if (!isFloat(t)) return;
    note(maxAbs, name, maxAbsOf(t));
    if (outNames.has(name) && !firstOutputs.has(name)) firstOutputs.set(name, t);
  }, (n, x, y) => {
    if (findOp(n.op, n.domain)?.category === 'reduction' && x && y && y.size > 0 && isFloat(x)) note(partialSum, n.name, maxAbsOf(x) * Math.max(1, x.size / y.size));
  });
  return { maxAbs, partialSum, batches: batches.length, firstOutputs };
}

/** Options of {@link toMixedPrecision}. */
export interface MixedPrecisionOptions {
  /** What {@link calibrate} saw. */
  readonly calibration: Calibration;
  /** Largest |x| a float16 value may have been seen with (default 65504 / 8). */
  readonly limit?: number;
  /** Names of nodes that stay float32 whatever the analysis says. */
  readonly keep?: readonly string[];
  /**
   * The first this many nodes that compute (have inputs), in topological order, stay
   * float32 (default 0). {@link mixedPrecisionPass} sizes it from the error budget.
   */
  readonly float32Prefix?: number;
}

/** Why a node stayed float32. */
export interface KeptNode { readonly name: string; readonly op: string; readonly why: string }

/** The precision a float value runs in after conversion, and why. */
export interface ValuePrecision {
  /** The value (a node output or graph input of the input graph). */
  readonly value: string;
  /** Its dtype after conversion. */
  readonly precision: 'float16' | 'float32';
  /** The node that writes it ('' for a graph input). */
  readonly node: string;
  /** That node's op ('' for a graph input). */
  readonly op: string;
  /** The reason: the calibrated range against the limit, or why it stays float32. */
  readonly why: string;
}

/** What {@link toMixedPrecision} did. */
export interface MixedPrecisionReport {
  /** Every float32 graph input and node output of the input graph, in topological order: its precision and why. */
  readonly values: readonly ValuePrecision[];
  /** Nodes now computing in float16. */
  readonly f16Nodes: number;
  /** Nodes with float32 values that stay float32, with the reason. */
  readonly kept: readonly KeptNode[];
  /** Cast nodes inserted. */
  readonly casts: number;
  /** Weights converted to float16. */
  readonly halfWeights: number;
  /** Nodes kept float32 as the graph's float32 prefix (see `float32Prefix`). */
  readonly prefix: number;
  /**
   * Relative rms error of the float outputs against float32 on the first calibration
   * batch (float16 rounded as on the device), when {@link mixedPrecisionPass} measured it.
   */
  readonly outputError?: number;
}

type Mode = 'f16' | 'f32' | 'none';

function halfTensor(t: Tensor): Tensor {
  return Tensor.from('float16', t.shape, t.data as ArrayLike<number>);
}

/**
 * Converts a float32 graph to mixed float16/float32 (see the file comment). Returns
 * the new graph and a report; a graph with no float32 values is returned unchanged.
 */
export function toMixedPrecision(g: Graph, opts: MixedPrecisionOptions): { graph: Graph; report: MixedPrecisionReport } {
  const limit = opts.limit ?? F16_MAX / 8;
  if (!(limit > 0 && limit <= F16_MAX)) throw new DTypeError(`mixed precision: limit must be in (0, ${F16_MAX}], got ${limit}`);
  const { maxAbs, partialSum } = opts.calibration;
  const keepNames = new Set(opts.keep ?? []);
  const prefixCount = opts.float32Prefix ?? 0;
  if (!(Number.isInteger(prefixCount) && prefixCount >= 0)) throw new DTypeError(`mixed precision: float32Prefix must be a non-negative integer, got ${prefixCount}`);
  const prefix = new Set(g.topo.filter((n) => n.inputs.length > 0).slice(0, prefixCount).map((n) => n.name));
  const ed = new GraphEditor(g);
  const typeOf = (v: string): ValueType | undefined => (v === '' ? undefined : ed.typeOf(v));
  const isF32 = (v: string): boolean => typeOf(v)?.dtype === 'float32';
  const mode = new Map<string, Mode>();
  const kept: KeptNode[] = [];

  const decide = (n: Node): Mode | string => {
    const def = findOp(n.op, n.domain);
    const floatIns = n.inputs.map((v, i) => ({ v, i })).filter(({ v }) => isF32(v));
    const floatOuts = n.outputs.filter(isF32);
    if (floatIns.length === 0 && floatOuts.length === 0) return 'none';
    // Constants (no inputs) stay as they are; readers in float16 get a float16 copy.
    if (n.inputs.length === 0) return 'none';
    if (keepNames.has(n.name)) return 'kept by request';
    if (prefix.has(n.name)) return `in the float32 prefix (the first ${prefix.size} nodes: rounding error made early is amplified by the later layers)`;
    if (!def) return 'unknown op';
    if (isFused(n)) return 'fused kernels are converted before fusion (run the pass before the fusion passes)';
    const rule = getTrait(def, PRECISION);
    if (rule?.keepF32) return rule.keepF32;
    const fixed = new Set(rule?.fixedInputs ?? []);
    const cap = limit / (rule?.headroom ?? 1);
    for (const v of [...floatIns.filter(({ i }) => !fixed.has(i)).map(({ v }) => v), ...floatOuts]) {
      const m = maxAbs.get(v);
      if (m === undefined) return `no calibration range for '${v}'`;
      if (!(m <= cap)) return `'${v}' reaches ${m.toPrecision(4)} (limit ${cap.toPrecision(4)})`;
    }
    const ps = partialSum.get(n.name);
    if (ps !== undefined && !(ps <= F16_MAX)) return `partial sums reach ${ps.toPrecision(4)}`;
    // The op must accept float16 for these inputs and give float16 for its float32 outputs.
    const probe: (InferInput | undefined)[] = n.inputs.map((v, i) => {
      const inp = ed.inferInput(v);
      if (!inp || inp.dtype !== 'float32' || fixed.has(i)) return inp;
      return { dtype: 'float16', shape: inp.shape, ...(inp.value ? { value: halfTensor(inp.value) } : {}) };
    });
    let outs: ValueType[];
    try {
      outs = inferNode(n, probe);
    } catch (e) {
      if (e instanceof KilnError) return `${n.op} does not take float16 here (${e.message})`;
      throw e;
    }
    if (n.outputs.some((o, i) => isF32(o) && outs[i]?.dtype !== 'float16')) return `${n.op}'s output dtype does not follow its inputs`;
    return 'f16';
  };

  const values: ValuePrecision[] = g.inputs.filter((i) => i.dtype === 'float32')
    .map((i) => ({ value: i.name, precision: 'float32' as const, node: '', op: '', why: 'graph inputs keep float32 (keep_io_types)' }));
  const fmt = (x: number): string => x.toPrecision(4);
  for (const n of g.topo) {
    const m = decide(n);
    if (m === 'f16' || m === 'none') mode.set(n.name, m);
    else { mode.set(n.name, 'f32'); kept.push({ name: n.name, op: n.op, why: m }); }
    if (m === 'none') continue;
    const rule = getTrait(findOp(n.op, n.domain)!, PRECISION);
    const cap = limit / (rule?.headroom ?? 1);
    for (const o of n.outputs.filter(isF32)) {
      const why = m !== 'f16' ? m
        : `calibrated max |x| ${fmt(maxAbs.get(o) ?? 0)} ≤ limit ${fmt(cap)}${rule?.headroom ? ` (limit / ${rule.headroom}: ${n.op} grows exponentially)` : ''}${rule?.internalF32 ? `; ${n.op} keeps its statistics in f32 inside the kernel` : ''}${g.outputs.some((go) => go.name === o) ? '; cast back to float32 at the graph output' : ''}`;
      values.push({ value: o, precision: m === 'f16' ? 'float16' : 'float32', node: n.name, op: n.op, why });
    }
  }
  const halfProduced = (v: string): boolean => {
    const p = ed.producerOf(v);
    return p !== undefined && mode.get(p.name) === 'f16' && isF32(v);
  };
  let casts = 0;
  let halfWeights = 0;
  const halfOf = new Map<string, string>();
  const fullOf = new Map<string, string>();
  // Graph outputs computed in float16 keep their name: the producer writes a new
  // name, and a Cast back to float32 writes the output.
  const renamed = new Map<string, string>();
  for (const o of g.outputs) if (halfProduced(o.name)) renamed.set(o.name, ed.fresh(`${o.name}_fp16`));
  const asHalf = (v: string): string => {
    if (halfProduced(v)) return renamed.get(v) ?? v;
    let h = halfOf.get(v);
    if (h) return h;
    // A float16 value cast up to float32 comes back exactly: read the original.
    const p = ed.producerOf(v);
    if (p && p.op === 'Cast' && p.domain === '' && typeOf(p.inputs[0]!)?.dtype === 'float16') return p.inputs[0]!;
    const c = ed.constantOf(v);
    if (c) { h = ed.addConstant(halfTensor(c), `${v}_fp16`); halfWeights++; }
    else { h = ed.addNode('Cast', [v], { to: 10 }, { name: `${v}_to_fp16` })[0]!; casts++; }
    halfOf.set(v, h);
    return h;
  };
  const asFull = (v: string): string => {
    if (!halfProduced(v) || renamed.has(v)) return v;
    let f = fullOf.get(v);
    if (f) return f;
    f = ed.addNode('Cast', [v], { to: 1 }, { name: `${v}_to_fp32`, types: [typeOf(v)!] })[0]!;
    casts++;
    fullOf.set(v, f);
    return f;
  };
  let f16Nodes = 0;
  for (const n of g.topo) {
    const m = mode.get(n.name)!;
    const def = findOp(n.op, n.domain);
    const fixed = new Set((def && getTrait(def, PRECISION)?.fixedInputs) ?? []);
    if (m === 'f16') f16Nodes++;
    const inputs = n.inputs.map((v, i) => {
      if (v === '' || !isF32(v)) return v;
      if (m === 'f16' && !fixed.has(i)) return asHalf(v);
      return asFull(v);
    });
    const outputs = n.outputs.map((o) => renamed.get(o) ?? o);
    const cur = ed.nodes.get(n.name)!;
    if (inputs.some((v, i) => v !== n.inputs[i]) || outputs.some((o, i) => o !== n.outputs[i])) {
      ed.replaceNode(cur, { ...cur, inputs, outputs });
      ed.edits++;
    }
  }
  for (const [out, tmp] of renamed) {
    const t = typeOf(out)!;
    ed.insertNode({ name: ed.fresh(`${out}_to_fp32`), op: 'Cast', domain: '', inputs: [tmp], outputs: [out], attrs: { to: 1 } }, [t]);
    ed.types.set(tmp, { dtype: 'float16', shape: t.shape });
    casts++;
  }
  const report: MixedPrecisionReport = { values, f16Nodes, kept, casts, halfWeights, prefix: prefix.size };
  if (f16Nodes === 0) return { graph: g, report };
  return { graph: ed.finish(), report };
}

const HALF = 10;
const FLOAT = 1;
const DTYPE_ATTRS = new Set(['to', 'dtype', 'output_dtype']);

/**
 * The same graph computed in float32: float16 weights, constants and attribute
 * tensors become float32, dtype attributes (`to`, `dtype`, `output_dtype`) naming
 * float16 name float32; float16 graph inputs are cast up after entry and float16
 * outputs cast down before exit, so the interface is unchanged. Exact: every float16
 * value is a float32 value. Returns the graph itself when it has no float16.
 */
export function toFloat32(g: Graph): Graph {
  const hasHalf = [...g.inputs, ...g.outputs, ...g.initializers.values(), ...g.valueTypes.values()].some((t) => t.dtype === 'float16');
  if (!hasHalf) return g;
  const ed = new GraphEditor(g);
  for (const [k, t] of ed.initializers) if (t.dtype === 'float16') ed.initializers.set(k, Tensor.from('float32', t.shape, t.data as ArrayLike<number>));
  const up = new Map<string, string>();
  for (const i of g.inputs) {
    if (i.dtype !== 'float16' || g.initializers.has(i.name)) continue;
    up.set(i.name, ed.addNode('Cast', [i.name], { to: FLOAT }, { name: `${i.name}_to_fp32` })[0]!);
  }
  const renamed = new Map<string, string>();
  for (const o of g.outputs) if (o.dtype === 'float16' && ed.producerOf(o.name)) renamed.set(o.name, ed.fresh(`${o.name}_fp32`));
  for (const n of g.topo) {
    const attrs: Record<string, unknown> = { ...n.attrs };
    for (const [k, v] of Object.entries(n.attrs)) {
      if (v instanceof Tensor && v.dtype === 'float16') attrs[k] = Tensor.from('float32', v.shape, v.data as ArrayLike<number>);
      else if (DTYPE_ATTRS.has(k) && v === HALF) attrs[k] = FLOAT;
    }
    const cur = ed.nodes.get(n.name)!;
    ed.replaceNode(cur, { ...cur, attrs: attrs as Node['attrs'], inputs: n.inputs.map((v) => up.get(v) ?? v), outputs: n.outputs.map((o) => renamed.get(o) ?? o) });
  }
  for (const [out, tmp] of renamed) {
    const t = ed.typeOf(out);
    ed.types.set(tmp, { dtype: 'float32', shape: t.shape });
    ed.insertNode({ name: ed.fresh(`${out}_to_fp16`), op: 'Cast', domain: '', inputs: [tmp], outputs: [out], attrs: { to: HALF } }, [t]);
  }
  ed.edits++;
  return ed.finish();
}

/** Where a graph first produces a non-finite value from finite inputs. */
export interface NonFinite {
  /** The node. */
  readonly node: string;
  readonly op: string;
  /** Its output that holds the non-finite values. */
  readonly output: string;
  /** How many elements of it are ±Infinity or NaN, of how many. */
  readonly count: number;
  readonly size: number;
  /** Largest finite |x| among its inputs. */
  readonly inputMaxAbs: number;
}

/**
 * Runs the graph with the CPU reference (float16 rounded as on the device) and
 * returns the first node, in execution order, whose output holds ±Infinity or NaN
 * while all its inputs were finite — the node where an overflow starts — or
 * undefined when every value is finite (or non-finite values only flow on).
 */
export function firstNonFinite(g: Graph, feeds: ReadonlyMap<string, Tensor>): NonFinite | undefined {
  const values = new Map<string, Tensor>(g.initializers);
  for (const i of g.inputs) {
    const t = feeds.get(i.name) ?? g.initializers.get(i.name);
    if (!t) throw new CalibrationError(`no tensor for graph input '${i.name}'`, i.name);
    values.set(i.name, t);
  }
  const finite = (t: Tensor): number => { let bad = 0; for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(Number(t.data[i]))) bad++; return bad; };
  for (const n of g.topo) {
    const ins = n.inputs.map((v) => (v === '' ? undefined : values.get(v)));
    let outs: Tensor[];
    try {
      outs = runReference(n, ins);
    } catch (e) {
      if (e instanceof KilnError) throw new CalibrationError(`node '${n.name}' (${n.op}) failed: ${e.message}`, n.name);
      throw e;
    }
    n.outputs.forEach((o, i) => { if (o !== '' && outs[i]) values.set(o, outs[i]!); });
    const floatsIn = ins.filter((t): t is Tensor => t !== undefined && isFloat(t));
    if (floatsIn.some((t) => finite(t) > 0)) continue;
    for (let i = 0; i < outs.length; i++) {
      const t = outs[i]!;
      const bad = isFloat(t) ? finite(t) : 0;
      if (bad > 0) return { node: n.name, op: n.op, output: n.outputs[i]!, count: bad, size: t.size, inputMaxAbs: Math.max(0, ...floatsIn.map(maxAbsOf)) };
    }
  }
  return undefined;
}

/** Default error budget of {@link mixedPrecisionPass}: relative rms error of the float outputs. */
export const DEFAULT_MAX_ERROR = 3e-3;

/**
 * Relative rms error of `converted`'s float outputs against `reference` (float outputs
 * by name, e.g. {@link Calibration.firstOutputs}) on one batch, run with the CPU
 * reference (float16 rounded as on the device): sqrt(Σ (y − r)² / Σ r²) over all of
 * them together; 0 when the reference is all zeros and so is the result, Infinity
 * when a result is not finite.
 */
export function outputError(converted: Graph, batch: ReadonlyMap<string, Tensor>, reference: ReadonlyMap<string, Tensor>): number {
  let e2 = 0;
  let r2 = 0;
  runCalibration(converted, [batch], (name, t) => {
    const r = reference.get(name);
    if (!r || !isFloat(t) || r.size !== t.size) return;
    for (let i = 0; i < r.size; i++) {
      const a = Number(r.data[i]);
      const d = Number(t.data[i]) - a;
      if (!Number.isFinite(a)) continue; // a -inf mask stays -inf
      e2 += d * d;
      r2 += a * a;
    }
  });
  if (Number.isNaN(e2)) return Infinity;
  return e2 === 0 ? 0 : Math.sqrt(e2 / r2);
}

/** Options of {@link mixedPrecisionPass}. */
export interface MixedPrecisionPassOptions extends Omit<MixedPrecisionOptions, 'calibration'> {
  /** Called with the conversion's report. */
  readonly onReport?: (r: MixedPrecisionReport, calibration: Calibration) => void;
  /**
   * Error budget: the largest relative rms error of the float outputs against float32
   * on the first calibration batch (default {@link DEFAULT_MAX_ERROR}; Infinity turns
   * the check off). When the conversion exceeds it, the pass keeps a float32 prefix of
   * 2/16, 4/16, 6/16, 8/16, 12/16 of the computing nodes, the first that
   * meets the budget (all of them, i.e. float32, when none does). Ignored when
   * `float32Prefix` is given.
   */
  readonly maxError?: number;
}

/** Prefix lengths the error budget tries, as sixteenths of the computing nodes. */
const PREFIX_STEPS = [2, 4, 6, 8, 12, 16];

/**
 * The conversion as a pass: calibrates the graph it is given on `batches` (feeds by
 * graph input name) and converts it. A graph with float16 values is first computed
 * in float32 ({@link toFloat32}), so a model that arrives in float16 gets the same
 * analysis: values that overflow run in float32, the others stay float16. Place it with `optimize(g, opts, { precision })`.
 */
export function mixedPrecisionPass(batches: readonly ReadonlyMap<string, Tensor>[], opts: MixedPrecisionPassOptions = {}): Pass {
  if (batches.length === 0) throw new CalibrationError('mixed precision needs at least one calibration batch');
  return {
    name: 'mixed-precision',
    run(input: Graph): Graph {
      // A model that is already float16 (in part or whole) is analysed in float32 first:
      // its values that overflow float16 stay float32, the rest return to float16.
      const g = toFloat32(input);
      const calibration = calibrate(g, batches);
      const budget = opts.maxError ?? DEFAULT_MAX_ERROR;
      if (!(budget >= 0)) throw new DTypeError(`mixed precision: maxError must be ≥ 0, got ${budget}`);
      let { graph, report } = toMixedPrecision(g, { ...opts, calibration });
      if (opts.float32Prefix === undefined && budget !== Infinity && report.f16Nodes > 0) {
        // The error budget: measure, then grow the float32 prefix until the outputs meet it.
        let err = outputError(graph, batches[0]!, calibration.firstOutputs);
        const computing = g.topo.filter((n) => n.inputs.length > 0).length;
        for (const step of PREFIX_STEPS) {
          if (err <= budget) break;
          const k = Math.ceil((computing * step) / 16);
          if (k <= report.prefix) continue;
          ({ graph, report } = toMixedPrecision(g, { ...opts, calibration, float32Prefix: k }));
          err = report.f16Nodes > 0 ? outputError(graph, batches[0]!, calibration.firstOutputs) : 0;
        }
        report = { ...report, outputError: err };
      }
      opts.onReport?.(report, calibration);
      return graph;
    },
  };
}
