/**
 * The image-classification example page: loads MobileNetV2 with Kiln
 * (`?model=URL`, default ./model.onnx), draws a procedural picture into the canvas
 * (`?seed=N`) or takes an image file, classifies the canvas pixels, and shows
 * the top 5 (ImageNet class indices), the latency and the graph viewer.
 *
 * `?backend=auto|webgpu|wasm|cpu` picks the backend, `?runs=N` the runs per picture; with `auto` and no WebGPU
 * adapter the page runs on the wasm backend and says so in a visible notice.
 *
 * For tests the page publishes `window.kilnResult` (see {@link PageResult}).
 */
import { InferenceSession, Tensor, UnsupportedOpError, type BackendName } from '../../src/index.js';
import { drawPicture, SIZE } from './picture.js';
import { toNchw, topK, type Scored } from './preprocess.js';
import { viewerHtml } from './viewer.js';

/** What the page publishes on `window.kilnResult` once it has classified a picture. */
export interface PageResult {
  state: 'loading' | 'done' | 'error';
  backend?: BackendName;
  notice?: string;
  seed?: number;
  /** The canvas pixels that were classified (RGBA, SIZE×SIZE). */
  pixels?: number[];
  logits?: number[];
  top5?: Scored[];
  createMs?: number;
  firstRunMs?: number;
  runMs?: number;
  viewer?: 'ready' | string;
  error?: string;
}

declare global {
  interface Window { kilnResult: PageResult }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
const params = new URLSearchParams(location.search);
const result: PageResult = { state: 'loading' };
window.kilnResult = result;

let session: InferenceSession | undefined;
let seed = Number(params.get('seed') ?? 1);
/** Runs per classification (`?runs=N`, default 2): the first, then the latency (best of the rest). */
const RUNS = Math.max(1, Number(params.get('runs') ?? 2));

function ms(v: number): string { return `${v.toFixed(1)} ms`; }

function showError(e: unknown): void {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  result.state = 'error';
  result.error = msg;
  $('error').textContent = msg;
  $('error').hidden = false;
  $('status').textContent = 'failed';
}

function notice(msg: string): void {
  result.notice = msg;
  $('notice').textContent = msg;
  $('notice').hidden = false;
}

/** Draws the procedural picture for `s` into the canvas. */
function drawSeed(s: number): void {
  ctx.putImageData(new ImageData(drawPicture(s), SIZE, SIZE), 0, 0);
  result.seed = s;
}

/** Draws an image file into the canvas, center-cropped to a square. */
async function drawFile(file: File): Promise<void> {
  const bmp = await createImageBitmap(file);
  const side = Math.min(bmp.width, bmp.height);
  ctx.drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, SIZE, SIZE);
  delete result.seed;
}

async function load(): Promise<void> {
  const url = params.get('model') ?? $<HTMLInputElement>('model-url').value;
  $<HTMLInputElement>('model-url').value = url;
  const backend = (params.get('backend') ?? $<HTMLSelectElement>('backend').value) as BackendName | 'auto';
  $<HTMLSelectElement>('backend').value = backend;
  $('status').textContent = `loading ${url}…`;
  session?.release();
  const t0 = performance.now();
  try {
    session = await InferenceSession.create(url, {
      backend,
      onNotice: notice, // e.g. no WebGPU adapter: the session says it runs on wasm
    });
  } catch (e) {
    // 'auto' also falls back when the WebGPU backend lacks a kernel the model needs.
    if (backend !== 'auto' || !(e instanceof UnsupportedOpError)) throw e;
    notice(`The WebGPU backend cannot run this model yet, so this page runs on Kiln's CPU backend (${e.message})`);
    session = await InferenceSession.create(url, { backend: 'cpu' });
  }
  result.createMs = performance.now() - t0;
  result.backend = session.backend;
  $('backend-used').textContent = backend === 'auto' ? session.backend : `${session.backend} (as asked by ?backend=${backend})`;
  $('t-create').textContent = ms(result.createMs);
}

async function classify(): Promise<void> {
  if (!session) return;
  result.state = 'loading';
  $('status').textContent = 'classifying…';
  const pixels = ctx.getImageData(0, 0, SIZE, SIZE).data;
  const input = new Tensor('float32', toNchw(pixels, SIZE), [1, 3, SIZE, SIZE]);
  const feeds = { [session.inputNames[0]!]: input };
  // The first run includes one-time work (GPU pipelines, uploads); later runs are the latency.
  let out: Record<string, Tensor> = {};
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    out = await session.run(feeds);
    times.push(performance.now() - t0);
  }
  result.firstRunMs = times[0]!;
  result.runMs = times.length > 1 ? Math.min(...times.slice(1)) : times[0]!;
  const logits = Array.from(out[session.outputNames[0]!]!.data);
  const top5 = topK(logits, 5);
  Object.assign(result, { pixels: Array.from(pixels), logits, top5 });
  $('t-first').textContent = ms(result.firstRunMs);
  $('t-run').textContent = ms(result.runMs);
  const body = $('top5').querySelector('tbody')!;
  body.replaceChildren(
    ...top5.map((s, i) => {
      const tr = document.createElement('tr');
      for (const [text, cls] of [[`${i + 1}`, ''], [`class ${s.index}`, ''], [`${(s.prob * 100).toFixed(2)} %`, 'num'], [s.logit.toFixed(3), 'num']] as const) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }),
  );
  $('status').textContent = `top class: ${top5[0]!.index}`;
  result.state = 'done';
}

async function showViewer(): Promise<void> {
  if (!session) return;
  try {
    $<HTMLIFrameElement>('viewer').srcdoc = await viewerHtml('./viewer-template.html', 'MobileNetV2 (optimized)', session.graph);
    result.viewer = 'ready';
  } catch (e) {
    result.viewer = `unavailable: ${(e as Error).message}`;
  }
}

async function start(): Promise<void> {
  try {
    drawSeed(seed);
    await load();
    await classify();
    await showViewer();
  } catch (e) {
    showError(e);
  }
}

$('draw').addEventListener('click', () => {
  drawSeed(++seed);
  classify().catch(showError);
});
$('file').addEventListener('change', () => {
  const f = $<HTMLInputElement>('file').files?.[0];
  if (f) drawFile(f).then(classify).catch(showError);
});
for (const id of ['model-url', 'backend']) {
  $(id).addEventListener('change', () => {
    params.delete('model');
    params.delete('backend');
    load().then(classify).then(showViewer).catch(showError);
  });
}
void start();
