/**
 * The OCR page of the browser package test: @gutenye/ocr-browser, as published, reading the
 * picture `./text.png` with the models under `./models/`. Bundled twice by
 * test/e2e/packages-browser.test.ts: with `onnxruntime-web` (and `onnxruntime-common`)
 * aliased to Kiln's `src/ort.ts`, and against the real onnxruntime-web. The execution
 * provider comes from the page's query (`?ep=webgpu|cpu|wasm`) and reaches ONNX Runtime
 * (or Kiln) through the package's public `onnxOptions`. The result lands in
 * `window.kilnOcr` (./page.ts): `{ state: 'done', lines, createMs, times, adapter }` or
 * `{ state: 'error', error }`.
 */
import Ocr from '@gutenye/ocr-browser';
import { runPageMain, type PageResult } from './page.js';

interface OcrPageResult extends PageResult { lines?: unknown }

runPageMain<OcrPageResult>('kilnOcr', async ({ ep, runs, report }) => {
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
  report({ createMs });
  let lines: unknown;
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const s = performance.now();
    const out = await ocr.detect('./text.png');
    times.push(performance.now() - s);
    lines ??= out;
  }
  report({ state: 'done', lines, createMs, times });
});
