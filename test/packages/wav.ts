/** A reader of the WAV files the package tests make (PCM, 16-bit, mono or interleaved). */

/**
 * Decodes a 16-bit PCM WAV file into mono float samples in [-1, 1) (channels averaged).
 *
 * @param bytes the file.
 * @returns the samples and their rate.
 */
export function readWav16(bytes: Uint8Array): { samples: Float32Array; sampleRate: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number): string => String.fromCharCode(...bytes.subarray(o, o + 4));
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a WAV file');
  let channels = 1;
  let sampleRate = 0;
  for (let o = 12; o + 8 <= bytes.length;) {
    const id = tag(o);
    const size = v.getUint32(o + 4, true);
    if (id === 'fmt ') {
      if (v.getUint16(o + 8, true) !== 1 || v.getUint16(o + 22, true) !== 16) throw new Error('WAV is not 16-bit PCM');
      channels = v.getUint16(o + 10, true);
      sampleRate = v.getUint32(o + 12, true);
    } else if (id === 'data') {
      const n = Math.floor(Math.min(size, bytes.length - o - 8) / (2 * channels));
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < channels; c++) s += v.getInt16(o + 8 + 2 * (i * channels + c), true);
        samples[i] = s / channels / 32768;
      }
      return { samples, sampleRate };
    }
    o += 8 + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}
