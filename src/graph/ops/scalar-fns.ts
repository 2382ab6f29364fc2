/**
 * The scalar function table used by elementwise op expressions. Each entry gives the
 * JS and WGSL forms of one scalar function (see expr.ts).
 */
import type { ScalarFn } from '../expr.js';

function fn(name: string, js: ScalarFn['js'], wgsl: ScalarFn['wgsl'], prelude?: string): ScalarFn {
  return prelude ? { name, js, wgsl, prelude } : { name, js, wgsl };
}

/** Scalar functions. */
export const F = {
  add: fn('add', (a, b) => a + b, ([a, b]) => `(${a} + ${b})`),
  max: fn('max', (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), ([a, b]) => `max(${a}, ${b})`),
} as const;
