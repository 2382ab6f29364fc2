/**
 * Runs @ricky0123/vad-web (written for the browser on onnxruntime-web; its NonRealTimeVAD
 * on the Silero VAD model it ships, `dist/silero_vad_legacy.onnx`) on a 16 kHz mono 16-bit
 * WAV file in Node, through the package's public options only: `modelURL` names the
 * shipped file and `modelFetcher` reads it from disk (the default fetches a URL). Prints
 * one JSON line: the speech segments, the speech probability of every frame, the time of
 * each frame's model call in the last pass, and the times of `runs` passes
 * (test/packages/vad-feed.ts). Which runtime serves `onnxruntime-web` is up to the process:
 * onnxruntime-web itself (its wasm backend in Node), or Kiln under `--import ./src/register-ort.ts`
 * (the package creates its session without options: `KILN_BACKEND` picks Kiln's backend).
 *
 * Usage: tsx test/packages/run-vad-web.ts file.wav [runs]
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { feedVad } from './vad-feed.js';
import { readWav16 } from './wav.js';

const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@ricky0123/vad-web/package.json'));
const { NonRealTimeVAD } = require('@ricky0123/vad-web') as typeof import('@ricky0123/vad-web');

const [file, runsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: run-vad-web.ts file.wav [runs]');
const runs = Number(runsArg ?? 1);
const { samples, sampleRate } = readWav16(readFileSync(file));

const t0 = performance.now();
const vad = await NonRealTimeVAD.new({
  modelURL: path.join(pkgDir, 'dist/silero_vad_legacy.onnx'),
  modelFetcher: async (p) => { const b = await readFile(p); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer; },
});
const createMs = performance.now() - t0;
const pass = await feedVad(vad, samples, sampleRate, runs, () => performance.now());
console.log(JSON.stringify({ ...pass, createMs }));
process.exit(0);
