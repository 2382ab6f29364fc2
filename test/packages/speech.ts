/**
 * Spoken inputs of the package tests (test/packages.test.ts in Node, test/e2e/packages-browser.test.ts
 * in Chromium), made at test time with espeak-ng and sox.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Whether `cmd` is on PATH.
 *
 * @param cmd a program name.
 * @returns true when `command -v` finds it.
 */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes espeak-ng saying "hey, jarvis" (en-us, 90 words/min, pitch 30) with 1 s of silence
 * before and 1.5 s after, as 16 kHz mono 16-bit WAV without dither, into `dir`.
 *
 * @param dir a writable folder (it also receives espeak-ng's own `j.wav`).
 * @returns the path of `jarvis.wav`.
 */
export function writeJarvis(dir: string): string {
  const out = join(dir, 'jarvis.wav');
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '90', '-p', '30', '-w', join(dir, 'j.wav'), 'hey, jarvis']);
  execFileSync('sox', [join(dir, 'j.wav'), '-D', '-r', '16000', '-c', '1', '-b', '16', out, 'pad', '1', '1.5']);
  return out;
}

/**
 * Writes espeak-ng saying two sentences ("The quick brown fox jumps over the lazy dog.",
 * "Kiln runs this model on the processor.") with 0.4 s of silence before, 1.5 s between
 * and 0.5 s after, as 16 kHz mono 16-bit WAV, into `dir`: a recording with two speech segments.
 *
 * @param dir a writable folder (it also receives the intermediate s1, s2, p1, p2 WAV files).
 * @returns the path of `speech.wav`.
 */
export function writeSentences(dir: string): string {
  const s = (n: string): string => join(dir, n);
  execFileSync('espeak-ng', ['-w', s('s1.wav'), 'The quick brown fox jumps over the lazy dog.']);
  execFileSync('espeak-ng', ['-w', s('s2.wav'), 'Kiln runs this model on the processor.']);
  execFileSync('sox', [s('s1.wav'), '-r', '16000', '-c', '1', '-b', '16', s('p1.wav'), 'pad', '0.4', '1.5']);
  execFileSync('sox', [s('s2.wav'), '-r', '16000', '-c', '1', '-b', '16', s('p2.wav'), 'pad', '0', '0.5']);
  execFileSync('sox', [s('p1.wav'), s('p2.wav'), s('speech.wav')]);
  return s('speech.wav');
}
