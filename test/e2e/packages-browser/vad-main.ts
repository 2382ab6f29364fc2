/**
 * The voice-activity page of the browser package test: @ricky0123/vad-web, as published
 * (its `NonRealTimeVAD`, the Silero VAD model it ships, `silero_vad_legacy.onnx`, served
 * under `./models/` and named by the package's public `modelURL` option), run over the
 * 16 kHz WAV file `./speech.wav`. Bundled twice by test/e2e/packages-browser.test.ts: with
 * `onnxruntime-web` aliased to Kiln, and against the real onnxruntime-web.
 * The package creates its session without options, so it runs where each runtime puts a
 * session by default: onnxruntime-web on wasm, Kiln on WebGPU where Chromium has an adapter
 * (the console warnings the page collects carry Kiln's notice when it left WebGPU).
 * Probabilities and per-frame times are read as in Node (test/packages/vad-feed.ts).
 * The result lands in `window.kilnVad` (./page.ts):
 * `{ state: 'done', segments, probs, frameMs, notices, createMs, times, adapter }` or
 * `{ state: 'error', error }`.
 */
import { NonRealTimeVAD } from '@ricky0123/vad-web';
import { feedVad, type VadPass } from '../../packages/vad-feed.js';
import { readWav16 } from '../../packages/wav.js';
import { runPageMain, type PageResult } from './page.js';

/** What the page reports. */
export interface VadPageResult extends PageResult, Partial<Omit<VadPass, 'times'>> {
  /** Console warnings during the page's work (Kiln's `kiln: notice: …` when it leaves WebGPU). */
  notices?: string[];
}

runPageMain<VadPageResult>('kilnVad', async ({ runs, report }) => {
  const notices: string[] = [];
  const warn = console.warn.bind(console);
  console.warn = (...a: unknown[]) => { notices.push(a.map(String).join(' ')); warn(...a); };
  const { samples, sampleRate } = readWav16(new Uint8Array(await (await fetch('./speech.wav')).arrayBuffer()));
  const t0 = performance.now();
  const vad = await NonRealTimeVAD.new({ modelURL: './models/silero_vad_legacy.onnx' });
  const createMs = performance.now() - t0;
  report({ createMs });
  const pass = await feedVad(vad, samples, sampleRate, runs, () => performance.now());
  report({ state: 'done', ...pass, notices, createMs });
});
