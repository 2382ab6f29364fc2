/**
 * Comparing an output tensor with the expected one, as the ONNX backend tests do:
 * floats within `atol + rtol * |expected|` (NaN equals NaN, infinities must match),
 * integers, bools and strings exactly. Shape and dtype must match.
 */
import { isFloat } from '../graph/dtype.js';
import { formatShape } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import { NoneValue, TensorSequence, type Value } from '../graph/value.js';

/** Tolerances for float comparisons. */
export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/** The default tolerances (atol 1e-4, rtol 1e-3). */
export const DEFAULT_TOLERANCE: Tolerance = { atol: 1e-4, rtol: 1e-3 };

/** Result of comparing one output. */
export interface Comparison {
  readonly pass: boolean;
  /** Largest |actual - expected| (Infinity where NaN/inf disagree or shapes differ). */
  readonly maxAbsErr: number;
  /** Largest |actual - expected| / |expected| over non-zero expected values. */
  readonly maxRelErr: number;
  /** Why it failed, when it did. */
  readonly detail?: string;
}

/** Compares `actual` with `expected`. */
export function compareTensors(expected: Tensor, actual: Tensor, tol: Tolerance = DEFAULT_TOLERANCE): Comparison {
  if (expected.dtype !== actual.dtype) {
    return { pass: false, maxAbsErr: Infinity, maxRelErr: Infinity, detail: `dtype ${actual.dtype}, expected ${expected.dtype}` };
  }
  if (expected.shape.length !== actual.shape.length || expected.shape.some((d, i) => d !== actual.shape[i])) {
    return { pass: false, maxAbsErr: Infinity, maxRelErr: Infinity, detail: `shape ${formatShape(actual.shape)}, expected ${formatShape(expected.shape)}` };
  }
  if (expected.strings && actual.strings) {
    const bad = expected.strings.findIndex((x, i) => x !== actual.strings![i]);
    const n = expected.strings.filter((x, i) => x !== actual.strings![i]).length;
    if (bad < 0) return { pass: true, maxAbsErr: 0, maxRelErr: 0 };
    return { pass: false, maxAbsErr: Infinity, maxRelErr: Infinity, detail: `${n} of ${expected.size} strings differ; first at flat index ${bad}: got ${JSON.stringify(actual.strings[bad])}, expected ${JSON.stringify(expected.strings[bad])}` };
  }
  const exact = !isFloat(expected.dtype);
  const e = expected.data;
  const a = actual.data;
  let maxAbs = 0;
  let maxRel = 0;
  let bad = -1;
  let badCount = 0;
  for (let i = 0; i < e.length; i++) {
    const x = e[i]!;
    const y = a[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const diff = Number.isFinite(x) && Number.isFinite(y) ? Math.abs(y - x) : Infinity;
    if (diff > maxAbs) maxAbs = diff;
    if (x !== 0) maxRel = Math.max(maxRel, diff / Math.abs(x));
    const ok = !exact && diff <= tol.atol + tol.rtol * Math.abs(x);
    if (!ok) {
      badCount++;
      if (bad < 0) bad = i;
    }
  }
  if (bad < 0) return { pass: true, maxAbsErr: maxAbs, maxRelErr: maxRel };
  return {
    pass: false,
    maxAbsErr: maxAbs,
    maxRelErr: maxRel,
    detail: `${badCount} of ${e.length} elements differ; first at flat index ${bad}: got ${a[bad]}, expected ${e[bad]}`,
  };
}

/**
 * Compares runtime values of any kind: tensors with {@link compareTensors}; sequences
 * by length, then element by element; an absent optional only equals another.
 */
export function compareValues(expected: Value, actual: Value, tol: Tolerance = DEFAULT_TOLERANCE): Comparison {
  const fail = (detail: string): Comparison => ({ pass: false, maxAbsErr: Infinity, maxRelErr: Infinity, detail });
  if (expected instanceof Tensor) return actual instanceof Tensor ? compareTensors(expected, actual, tol) : fail(`${actual.toString()}, expected a tensor ${expected}`);
  if (expected instanceof NoneValue) return actual instanceof NoneValue ? { pass: true, maxAbsErr: 0, maxRelErr: 0 } : fail(`${actual.toString()}, expected an empty optional`);
  if (!(actual instanceof TensorSequence)) return fail(`${actual.toString()}, expected ${expected.toString()}`);
  if (actual.length !== expected.length) return fail(`a sequence of ${actual.length}, expected ${expected.length}`);
  let maxAbsErr = 0;
  let maxRelErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const c = compareTensors(expected.items[i]!, actual.items[i]!, tol);
    if (!c.pass) return { ...c, detail: `element ${i}: ${c.detail ?? ''}` };
    maxAbsErr = Math.max(maxAbsErr, c.maxAbsErr);
    maxRelErr = Math.max(maxRelErr, c.maxRelErr);
  }
  return { pass: true, maxAbsErr, maxRelErr };
}

/** A float32 tensor of `shape` with values in [-1, 1] from a linear congruential generator seeded by `seed` (the same for the same seed). */
export function seededInput(shape: readonly number[], seed: number): Tensor {
  const t = new Tensor('float32', shape);
  let s = seed >>> 0;
  for (let i = 0; i < t.size; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    t.data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return t;
}
