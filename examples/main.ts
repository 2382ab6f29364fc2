/**
 * Kiln's main job (`npm start`): defines a small image classifier with the builder API
 * and layers, optimizes it, runs it on WebGPU when an adapter exists (else on the CPU
 * with a notice), checks the result against the CPU reference at O0, prints outputs
 * and timings, and writes the graph viewer (before/after optimization) and a DOT file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GraphBuilder, KilnError, Tensor } from '../src/graph/index.js';
import { conv2d, dense, sequential, softmax } from '../src/graph/layers.js';
import { Rng } from '../src/graph/random.js';
import { InferenceSession } from '../src/session/index.js';
import { graphToDot, renderHtml } from '../src/viz/index.js';

function buildModel() {
  const b = new GraphBuilder('tiny-cnn');
  const image = b.input('image', 'float32', ['batch', 3, 32, 32]);
  const features = sequential(
    conv2d(16, { kernel: 3, activation: 'relu', seed: 1 }),
    conv2d(32, { kernel: 3, stride: 2, activation: 'relu', seed: 2 }),
    conv2d(32, { kernel: 3, stride: 2, activation: 'relu', seed: 3 }),
  )(b, image);
  const pooled = b.Flatten(b.GlobalAveragePool(features), { axis: 1 });
  b.output(sequential(dense(64, { activation: 'gelu', seed: 4 }), dense(10, { seed: 5 }), softmax())(b, pooled), 'probs');
  return b.build();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const graph = buildModel();
  const rng = new Rng(7);
  const image = new Tensor('float32', [1, 3, 32, 32], rng.floats(3 * 32 * 32, 0, 1));

  const t0 = performance.now();
  const session = await InferenceSession.create(graph, { optimizationLevel: 2 });
  const tCreate = performance.now() - t0;
  const t1 = performance.now();
  const first = await session.run({ image });
  const tFirst = performance.now() - t1;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const s = performance.now();
    await session.run({ image });
    times.push(performance.now() - s);
  }
  const reference = await InferenceSession.create(graph, { backend: 'cpu', optimizationLevel: 0 });
  const ref = (await reference.run({ image })).probs!;
  const probs = first.probs!;
  let maxErr = 0;
  for (let i = 0; i < ref.size; i++) maxErr = Math.max(maxErr, Math.abs(ref.data[i]! - probs.data[i]!));

  const ranked = probs.toArray().map((p, k) => ({ k, p })).sort((a, b) => b.p - a.p);
  console.log(`model: ${graph.name}, ${graph.nodes.length} nodes → ${session.graph.nodes.length} after optimization (O2)`);
  console.log(`backend: ${session.backend}${session.dispatchCount !== undefined ? `, ${session.dispatchCount} dispatches per inference` : ''}`);
  console.log(`output 'probs' ${probs.dtype}[${probs.shape.join(',')}]: top-3 ${ranked.slice(0, 3).map((r) => `class ${r.k} ${r.p.toFixed(4)}`).join(', ')}`);
  console.log(`max |${session.backend} O2 − cpu O0| = ${maxErr.toExponential(2)} (tolerance 1e-4): ${maxErr <= 1e-4 ? 'OK' : 'MISMATCH'}`);
  console.log(`timings: create ${tCreate.toFixed(1)} ms, first run ${tFirst.toFixed(1)} ms, warm median ${median(times).toFixed(2)} ms over ${times.length} runs`);

  const outDir = path.resolve('out');
  mkdirSync(outDir, { recursive: true });
  const html = await renderHtml('tiny-cnn', [
    { label: 'before (O0)', graph },
    { label: 'after (O2)', graph: session.graph },
  ]);
  writeFileSync(path.join(outDir, 'tiny-cnn.html'), html);
  writeFileSync(path.join(outDir, 'tiny-cnn.dot'), graphToDot(session.graph));
  console.log(`wrote ${path.join(outDir, 'tiny-cnn.html')} (graph viewer, before/after) and tiny-cnn.dot`);
  session.release();
  if (maxErr > 1e-4) process.exitCode = 1;
}

try {
  await main();
} catch (e) {
  if (!(e instanceof KilnError)) throw e;
  console.error(`kiln: ${e.name}: ${e.message}`);
  process.exitCode = 2;
}
