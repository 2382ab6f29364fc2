/**
 * Bias correction for quantized weights (the empirical form of Nagel et al. 2019,
 * "Data-Free Quantization through Weight Equalization and Bias Correction", §4.2):
 * rounding a layer's weights to int8 shifts the mean of each output channel by
 * E[(Ŵ − W) · x], which the following layers see as a systematic offset (after a
 * ReLU6 the inputs x are all positive, so per-weight rounding errors do not average
 * out). Running calibration batches through the float graph with the CPU reference,
 * each quantized node's input x is fed to its anchor op with the weight error Ŵ − W
 * alone (the op is linear in its weight, so that is the output's error) and the mean
 * over every axis but the output channel is subtracted from the bias.
 *
 * The op's output-channel axis is its {@link WEIGHT_CHANNEL} trait's `output`; a node
 * whose bias is not a float32 constant read only by it is left as it is.
 */
import type { Graph, Node } from '../graph/graph.js';
import { runReference } from '../graph/reference.js';
import { Tensor } from '../graph/tensor.js';
import { runCalibration } from './mixed-precision.js';

/** One quantized weight to correct for: its anchor op (plain node or inside a Fused group) and the weight error. */
export interface BiasTarget {
  /** The anchor node (MatMul/Gemm/Conv) as in the float graph; input 0 is its data, input 2 its bias. */
  readonly anchor: Node;
  /** Dequantized minus float weight, shaped like the weight. */
  readonly error: Tensor;
  /** The output-channel axis of the anchor's output (negative: from the end). */
  readonly outputAxis: number;
}

/**
 * The corrected biases, by initializer name: for each target whose bias is a float32
 * constant of `g`, bias − mean over the calibration batches of anchor(x, Ŵ − W).
 * Values are freed as calibration goes (see runCalibration).
 */
export function correctedBiases(g: Graph, batches: readonly ReadonlyMap<string, Tensor>[], targets: readonly BiasTarget[]): Map<string, Tensor> {
  const byInput = new Map<string, { t: BiasTarget; bias: Tensor; sum: Float64Array; count: number }[]>();
  for (const t of targets) {
    const biasName = t.anchor.inputs[2] ?? '';
    const bias = g.initializers.get(biasName);
    const x = t.anchor.inputs[0] ?? '';
    if (!bias || bias.dtype !== 'float32' || x === '') continue;
    const list = byInput.get(x) ?? [];
    list.push({ t, bias, sum: new Float64Array(bias.size), count: 0 });
    byInput.set(x, list);
  }
  if (byInput.size === 0) return new Map();
  runCalibration(g, batches, (name, x) => {
    for (const e of byInput.get(name) ?? []) {
      const { anchor, error, outputAxis } = e.t;
      const [dy] = runReference({ ...anchor, inputs: anchor.inputs.slice(0, 2) }, [x, error]);
      if (!dy) continue;
      const axis = outputAxis < 0 ? dy.rank + outputAxis : outputAxis;
      const channels = dy.shape[axis]!;
      if (channels !== e.bias.size) continue;
      const inner = dy.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const d = dy.data as ArrayLike<number>;
      for (let i = 0; i < d.length; i++) e.sum[Math.floor(i / inner) % channels]! += d[i]!;
      e.count += dy.size / channels;
    }
  });
  const out = new Map<string, Tensor>();
  for (const list of byInput.values()) {
    for (const e of list) {
      if (e.count === 0) continue;
      const b = e.bias.data as ArrayLike<number>;
      out.set(e.t.anchor.inputs[2]!, Tensor.from('float32', [...e.bias.shape], Array.from(b, (v, c) => v - e.sum[c]! / e.count)));
    }
  }
  return out;
}
