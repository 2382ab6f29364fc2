/**
 * The page of the browser package test: @gutenye/ocr-browser, as published, reading the
 * picture `./text.png` with the models under `./models/`. Bundled twice by
 * test/e2e/packages-browser.test.ts: with `onnxruntime-web` (and `onnxruntime-common`)
 * aliased to Kiln's `src/ort.ts`, and against the real onnxruntime-web. The execution
 * provider comes from the page's query (`?ep=webgpu|cpu|wasm`) and reaches ONNX Runtime
 * (or Kiln) through the package's public `onnxOptions`. The result lands in
 * `window.kilnOcr`: `{ state: 'done', lines, createMs, times }` or `{ state: 'error', error }`.
 */
import Ocr from '@gutenye/ocr-browser';

interface OcrPageResult {
  /** 'running' (with `createMs` once the sessions exist), then 'done' or 'error'. */
  state: 'running' | 'done' | 'error';
  ep?: string;
  lines?: unknown;
  createMs?: number;
  times?: number[];
  error?: string;
}

const w = window as unknown as { kilnOcr: OcrPageResult };
w.kilnOcr = { state: 'running' };

/** Runs the package on the picture, `runs` times, and records what it read. */
async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const ep = q.get('ep') ?? 'wasm';
  const runs = Number(q.get('runs') ?? 1);
  const t0 = performance.now();
  const ocr = await Ocr.create({
    models: {
      detectionPath: './models/ch_PP-OCRv4_det_infer.onnx',
      recognitionPath: './models/ch_PP-OCRv4_rec_infer.onnx',
      dictionaryPath: './models/ppocr_keys_v1.txt',
    },
    onnxOptions: { executionProviders: [ep] },
  });
  const createMs = performance.now() - t0;
  w.kilnOcr = { state: 'running', ep, createMs };
  let lines: unknown;
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const s = performance.now();
    const out = await ocr.detect('./text.png');
    times.push(performance.now() - s);
    lines ??= out;
  }
  w.kilnOcr = { state: 'done', ep, lines, createMs, times };
}

main().catch((e: unknown) => {
  w.kilnOcr = { state: 'error', error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e) };
});
