/**
 * The small graph of the builder example: a 2-layer MLP with layer norm and
 * softmax, built with the builder API and seeded layers (deterministic weights),
 * and its deterministic example input.
 */
import { GraphBuilder, layers, Tensor, type Graph } from '../../src/index.js';

/** Rows and features of the example input. */
export const BATCH = 4;
export const FEATURES = 8;

/** Builds `probs = softmax(dense(4)(layerNorm(dense(16, relu)(x))))`. */
export function buildGraph(): Graph {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', ['batch', FEATURES]);
  const h = layers.dense(16, { activation: 'relu', seed: 1 })(b, x);
  const n = layers.layerNorm({ seed: 2 })(b, h);
  const logits = layers.dense(4, { seed: 3 })(b, n);
  b.output(b.Softmax(logits, { axis: -1 }), 'probs');
  return b.build();
}

/** The example input: `x[i][j] = sin(i * FEATURES + j)`. */
export function exampleInput(): Tensor {
  return new Tensor('float32', Float32Array.from({ length: BATCH * FEATURES }, (_, i) => Math.sin(i)), [BATCH, FEATURES]);
}
