/**
 * ImageNet preprocessing and postprocessing for MobileNetV2 (torchvision
 * convention): RGBA bytes → float32 NCHW normalized by the ImageNet mean/std;
 * logits → softmax top-k.
 */

/** ImageNet channel means (RGB). */
export const MEAN = [0.485, 0.456, 0.406] as const;
/** ImageNet channel standard deviations (RGB). */
export const STD = [0.229, 0.224, 0.225] as const;

/** RGBA bytes of a `size`×`size` picture → `[1, 3, size, size]` float32 data. */
export function toNchw(rgba: ArrayLike<number>, size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = (rgba[p * 4 + c]! / 255 - MEAN[c]!) / STD[c]!;
  }
  return out;
}

/** One entry of a top-k list. */
export interface Scored {
  /** ImageNet class index (0..999). */
  readonly index: number;
  /** The raw logit. */
  readonly logit: number;
  /** Softmax probability over all classes. */
  readonly prob: number;
}

/** The `k` largest logits with their softmax probabilities, best first. */
export function topK(logits: ArrayLike<number>, k = 5): Scored[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const idx = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  return idx.slice(0, k).map((index) => ({ index, logit: logits[index]!, prob: Math.exp(logits[index]! - max) / sum }));
}
