/**
 * Runs @gutenye/ocr-node (PaddleOCR PP-OCRv4 detection and recognition) on an image file, as
 * the package is published, and prints one JSON line: the text lines it recognizes (text,
 * mean confidence, box corners), and the times of `runs` passes over the image.
 * Which runtime serves `onnxruntime-node` is up to the process: onnxruntime-node itself,
 * or Kiln under `--import ./src/register-ort.ts`.
 *
 * Usage: tsx test/packages/run-ocr.ts image.png [runs]
 */
import { performance } from 'node:perf_hooks';
import Ocr from '@gutenye/ocr-node';

const [file, runsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: run-ocr.ts image.png [runs]');
const runs = Number(runsArg ?? 1);

const t0 = performance.now();
const ocr = await Ocr.create();
const createMs = performance.now() - t0;
let lines: unknown;
const times: number[] = [];
for (let r = 0; r < runs; r++) {
  const s = performance.now();
  const out = await ocr.detect(file);
  times.push(performance.now() - s);
  lines ??= out;
}
console.log(JSON.stringify({ lines, createMs, times }));
