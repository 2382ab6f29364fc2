/**
 * Trains the Fashion-MNIST MLP of examples/fashion-mnist/train.ts (dense 128 relu,
 * dense 10; Adam, softmax cross-entropy) in the browser with Kiln's layers API and
 * Model, then prints the test accuracy.
 *
 * The page fetches the IDX files (`?data=URL/`, default `./data/`: the files of the
 * Debian package dataset-fashion-mnist, gzip or not; gzip is undone with
 * DecompressionStream, reading only the bytes the asked-for items need).
 * `?train=N&epochs=E&test=M&batch=B&lr=L` size the run; `?backend=webgpu|cpu`
 * (default webgpu) picks the backend: without a WebGPU adapter the page trains on
 * Kiln's CPU backend and says so in a visible notice. Progress (onBatchEnd,
 * onEpochEnd) draws the loss curve and a text line.
 *
 * For tests the page publishes `window.kilnTrain` (see {@link TrainResult}).
 */
import { dense, sequential } from '../../src/graph/layers.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { Model } from '../../src/train/model.js';
import { adam } from '../../src/train/optimizers.js';
import { idxHeaderBytes, parseIdx } from '../fashion-mnist/idx-parse.js';

/** What the page publishes on `window.kilnTrain`. */
export interface TrainResult {
  state: 'loading' | 'training' | 'done' | 'error';
  backend?: 'cpu' | 'webgpu';
  notice?: string;
  nTrain?: number;
  nTest?: number;
  epochs?: number;
  /** Loss of every training step, in order. */
  stepLosses?: number[];
  /** Mean training loss of each epoch. */
  epochLosses?: number[];
  testAccuracy?: number;
  testLoss?: number;
  loadMs?: number;
  trainMs?: number;
  error?: string;
}

declare global {
  interface Window { kilnTrain: TrainResult }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const num = (k: string, d: number): number => { const v = Number(params.get(k) ?? d); return Number.isFinite(v) && v > 0 ? v : d; };
const result: TrainResult = { state: 'loading' };
window.kilnTrain = result;

function status(msg: string): void { $('status').textContent = msg; }

function notice(msg: string): void {
  result.notice = msg;
  $('notice').textContent = msg;
  $('notice').hidden = false;
}

/** Reads a stream until `want` bytes (or its end), then cancels it. */
async function readPrefix(stream: ReadableStream<Uint8Array>, want: (head: Uint8Array) => number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  let need = Infinity;
  while (have < need) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    have += value.byteLength;
    if (need === Infinity && have >= 16) need = want(concat(chunks, have));
  }
  await reader.cancel().catch(() => undefined);
  return concat(chunks, have);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.byteLength; }
  chunks.splice(0, chunks.length, out);
  return out;
}

/** Fetches an IDX file (gzip or plain) and parses its first `limit` items. */
async function fetchIdx(base: string, file: string, limit: number): Promise<Tensor> {
  let res = await fetch(base + file);
  if (!res.ok && file.endsWith('.gz')) res = await fetch(base + file.slice(0, -3));
  if (!res.ok || !res.body) throw new Error(`could not fetch ${base + file}: HTTP ${res.status}`);
  const [probe, body] = res.body.tee();
  const probeReader = probe.getReader();
  const first = (await probeReader.read()).value ?? new Uint8Array();
  void probeReader.cancel(); // else the tee keeps a copy of the whole file for this branch
  const gz = first[0] === 0x1f && first[1] === 0x8b;
  const stream = gz ? body.pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>) : body;
  const bytes = await readPrefix(stream, (head) => {
    const h = idxHeaderBytes(head, file);
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    return h + limit * (h === 16 ? dv.getUint32(8) * dv.getUint32(12) : 1);
  });
  return parseIdx(bytes, limit, file);
}

/** Draws the step losses as a curve on the canvas. */
function drawCurve(losses: readonly number[], totalSteps: number): void {
  const c = $<HTMLCanvasElement>('curve');
  const g = c.getContext('2d')!;
  g.clearRect(0, 0, c.width, c.height);
  g.strokeStyle = '#ccc';
  g.strokeRect(0.5, 0.5, c.width - 1, c.height - 1);
  if (losses.length === 0) return;
  const max = Math.max(...losses) * 1.05;
  g.strokeStyle = '#c0392b';
  g.lineWidth = 1.5;
  g.beginPath();
  losses.forEach((l, i) => {
    const x = 4 + (i / Math.max(1, totalSteps - 1)) * (c.width - 8);
    const y = c.height - 4 - (l / max) * (c.height - 8);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  g.fillStyle = '#222';
  g.fillText(`loss (max ${max.toFixed(2)})`, 8, 14);
}

async function main(): Promise<void> {
  const nTrain = Math.floor(num('train', 2000));
  const nTest = Math.floor(num('test', 1000));
  const epochs = Math.floor(num('epochs', 1));
  const batchSize = Math.floor(num('batch', 64));
  const lr = num('lr', 0.002);
  const base = params.get('data') ?? './data/';
  let backend: 'cpu' | 'webgpu' = params.get('backend') === 'cpu' ? 'cpu' : 'webgpu';
  if (backend === 'webgpu') {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (!adapter) {
      backend = 'cpu';
      notice(`No WebGPU adapter in this browser (${gpu ? 'requestAdapter() gave none' : 'no navigator.gpu'}), so this page trains on Kiln's CPU backend.`);
    }
  }
  Object.assign(result, { backend, nTrain, nTest, epochs });
  $('backend-used').textContent = backend;

  status(`loading ${nTrain} training and ${nTest} test images…`);
  const t0 = performance.now();
  const [x, y, xt, yt] = await Promise.all([
    fetchIdx(base, 'train-images-idx3-ubyte.gz', nTrain),
    fetchIdx(base, 'train-labels-idx1-ubyte.gz', nTrain),
    fetchIdx(base, 't10k-images-idx3-ubyte.gz', nTest),
    fetchIdx(base, 't10k-labels-idx1-ubyte.gz', nTest),
  ]);
  result.loadMs = performance.now() - t0;

  const model = new Model(sequential(dense(128, { activation: 'relu', seed: 1 }), dense(10, { seed: 2 })), { inputShape: [784], name: 'fashion_mlp' });
  model.compile({ optimizer: adam({ lr }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend });
  const stepsPerEpoch = Math.floor(x.shape[0]! / batchSize); // fit drops the last partial batch
  const total = stepsPerEpoch * epochs;
  const stepLosses: number[] = [];
  const epochLosses: number[] = [];
  result.stepLosses = stepLosses;
  result.epochLosses = epochLosses;
  result.state = 'training';
  status(`training on ${backend}: compiling…`);
  drawCurve(stepLosses, total);
  const t1 = performance.now();
  await model.fit(x, y, {
    epochs,
    batchSize,
    callbacks: [{
      onBatchEnd: (s) => {
        stepLosses.push(s.loss);
        drawCurve(stepLosses, Math.max(total, stepLosses.length));
        status(`epoch ${s.epoch + 1}/${epochs} · step ${stepLosses.length}/${total} · loss ${s.loss.toFixed(4)}`);
      },
      onEpochEnd: (e) => {
        epochLosses.push(e.loss);
        const li = document.createElement('li');
        li.textContent = `epoch ${e.epoch + 1}: mean loss ${e.loss.toFixed(4)}${e.accuracy !== undefined ? `, accuracy ${(100 * e.accuracy).toFixed(2)} %` : ''} (${(e.timeMs / 1000).toFixed(1)} s)`;
        $('epochs').append(li);
      },
    }],
  });
  result.trainMs = performance.now() - t1;
  const test = await model.evaluate(xt, yt, { batchSize: 500 });
  model.release();
  result.testAccuracy = test.accuracy;
  result.testLoss = test.loss;
  $('accuracy').textContent = `test accuracy ${(100 * (test.accuracy ?? 0)).toFixed(2)} % on ${xt.shape[0]} images (loss ${test.loss.toFixed(4)})`;
  status(`done: ${x.shape[0]} images × ${epochs} epoch(s) on ${backend} in ${(result.trainMs / 1000).toFixed(1)} s (data ${(result.loadMs / 1000).toFixed(1)} s)`);
  result.state = 'done';
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  result.state = 'error';
  result.error = msg;
  $('error').textContent = msg;
  $('error').hidden = false;
  status('failed');
});
