/**
 * A small typed scalar expression tree. Elementwise ops declare their math once as
 * an expression over their inputs; the CPU backend evaluates it, the WebGPU backend
 * renders it to WGSL, and the fusion pass composes expressions of neighbouring ops
 * into one. Each scalar function is a table entry with a JS and a WGSL form, so
 * nothing here branches on op names.
 */
import { coerce, type DType } from './dtype.js';

/** A scalar function usable in expressions. */
export interface ScalarFn {
  /** Unique name (used for hashing and debugging). */
  readonly name: string;
  /** JS implementation over numbers (booleans are 0/1). */
  readonly js: (...args: number[]) => number;
  /**
   * WGSL rendering: receives rendered argument expressions, their WGSL scalar
   * types, and the WGSL scalar type of the result.
   */
  readonly wgsl: (args: readonly string[], argTypes: readonly string[], out: string) => string;
  /** WGSL helper functions this function needs (emitted once per shader). */
  readonly prelude?: string;
}

/** An expression node. Every node carries its dtype. */
export type Expr =
  | { readonly kind: 'input'; readonly index: number; readonly dtype: DType }
  | { readonly kind: 'const'; readonly value: number; readonly dtype: DType }
  | { readonly kind: 'call'; readonly fn: ScalarFn; readonly args: readonly Expr[]; readonly dtype: DType };

/** Expression constructors. */
export const E = {
  /** The `index`-th input of the expression. */
  input: (index: number, dtype: DType): Expr => ({ kind: 'input', index, dtype }),
  /** A constant of the given dtype. */
  const: (value: number, dtype: DType): Expr => ({ kind: 'const', value, dtype }),
  /** Applies a scalar function; the result has `dtype` (defaults to the first argument's). */
  call: (fn: ScalarFn, args: readonly Expr[], dtype?: DType): Expr => ({
    kind: 'call',
    fn,
    args,
    dtype: dtype ?? args[0]?.dtype ?? 'float32',
  }),
};

/** Compiles an expression to a JS function over input values. */
export function compileExprJs(e: Expr): (inputs: ArrayLike<number>) => number {
  switch (e.kind) {
    case 'input': {
      const i = e.index;
      return (xs) => xs[i]!;
    }
    case 'const': {
      const v = coerce(e.dtype, e.value);
      return () => v;
    }
    case 'call': {
      const fs = e.args.map(compileExprJs);
      const f = e.fn.js;
      const dt = e.dtype;
      const exact = dt === 'float64';
      if (fs.length === 1) {
        const a = fs[0]!;
        return exact ? (xs) => f(a(xs)) : (xs) => coerce(dt, f(a(xs)));
      }
      if (fs.length === 2) {
        const a = fs[0]!;
        const b = fs[1]!;
        return exact ? (xs) => f(a(xs), b(xs)) : (xs) => coerce(dt, f(a(xs), b(xs)));
      }
      return (xs) => {
        const v = f(...fs.map((g) => g(xs)));
        return exact ? v : coerce(dt, v);
      };
    }
  }
}

/** A stable text key of an expression's structure (for caching and CSE). */
export function exprKey(e: Expr): string {
  switch (e.kind) {
    case 'input': return `$${e.index}:${e.dtype}`;
    case 'const': return `${Object.is(e.value, -0) ? '-0' : e.value}:${e.dtype}`;
    case 'call': return `${e.fn.name}<${e.dtype}>(${e.args.map(exprKey).join(',')})`;
  }
}

/** Replaces input `i` of `e` by `subs[i]` (used to compose fused expressions). */
export function substitute(e: Expr, subs: readonly Expr[]): Expr {
  switch (e.kind) {
    case 'input': return subs[e.index] ?? e;
    case 'const': return e;
    case 'call': return { ...e, args: e.args.map((a) => substitute(a, subs)) };
  }
}

/** Collects the distinct preludes a set of expressions needs. */
export function exprPreludes(es: readonly Expr[]): string[] {
  const seen = new Set<string>();
  const walk = (e: Expr): void => {
    if (e.kind !== 'call') return;
    if (e.fn.prelude) seen.add(e.fn.prelude);
    e.args.forEach(walk);
  };
  es.forEach(walk);
  return [...seen];
}
