/**
 * Command-line twin of the classify page: loads MobileNetV2, classifies the same
 * procedural picture (same seed → same pixels as the page), prints the top 5
 * ImageNet class indices and the latency.
 *
 *   npx tsx examples/classify-node.ts [--model FILE] [--seed N] [--backend auto|webgpu|cpu] [--runs N] [--json]
 *
 * In Node, WebGPU is Dawn (the optional `webgpu` package); `auto` falls back to
 * the CPU backend when there is no adapter or when the WebGPU backend lacks a
 * kernel the model needs (with a notice on stderr).
 */
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor, UnsupportedOpError, type BackendName } from '../src/index.js';
import { drawPicture, SIZE } from './classify/picture.js';
import { toNchw, topK } from './classify/preprocess.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: resolve(repoRoot, '../shared/models/mobilenet_v2/model.onnx') },
    seed: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'auto' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});

const backend = values.backend as BackendName | 'auto';
const warn = (m: string): void => { process.stderr.write(`${m}\n`); };
let t0 = performance.now();
let session: InferenceSession;
try {
  session = await InferenceSession.create(values.model, { backend, onNotice: warn });
} catch (e) {
  if (backend !== 'auto' || !(e instanceof UnsupportedOpError)) throw e;
  warn(`kiln: the WebGPU backend cannot run this model (${e.message}); running on the CPU backend`);
  session = await InferenceSession.create(values.model, { backend: 'cpu' });
}
const createMs = performance.now() - t0;

const input = new Tensor('float32', toNchw(drawPicture(Number(values.seed)), SIZE), [1, 3, SIZE, SIZE]);
const feeds = { [session.inputNames[0]!]: input };
const times: number[] = [];
let logits: ArrayLike<number> = [];
for (let i = 0; i < Math.max(1, Number(values.runs)); i++) {
  t0 = performance.now();
  logits = (await session.run(feeds))[session.outputNames[0]!]!.data;
  times.push(performance.now() - t0);
}
const steady = times.length > 1 ? times.slice(1) : times;
const median = [...steady].sort((a, b) => a - b)[Math.floor(steady.length / 2)]!;
const top5 = topK(logits, 5);
session.release();

if (values.json) {
  console.log(JSON.stringify({ backend: session.backend, createMs, firstRunMs: times[0], medianMs: median, top5 }));
} else {
  console.log(`model ${values.model}\nbackend ${session.backend}; load + compile ${createMs.toFixed(0)} ms; first run ${times[0]!.toFixed(1)} ms; latency (median of ${steady.length}) ${median.toFixed(1)} ms`);
  top5.forEach((s, i) => console.log(`${i + 1}. class ${String(s.index).padStart(3)}  p=${(s.prob * 100).toFixed(2)} %  logit=${s.logit.toFixed(4)}`));
}
