/**
 * A small typed scalar expression tree. Elementwise ops declare their math once as
 * an expression over their inputs; the CPU backend evaluates it, the WebGPU backend
 * renders it, and the fusion pass composes expressions of neighbouring ops into one.
 * A scalar function here is its name and JS semantics only; each backend spells it
 * from a table of its own keyed by the name, so nothing here branches on op names
 * or carries backend text.
 */
import { coerce, type DType } from './dtype.js';

/** A scalar function usable in expressions. */
export interface ScalarFn<N extends string = string> {
  /** Unique name: the key of the function in the table and in every backend's table. */
  readonly name: N;
  /** JS implementation over numbers (booleans are 0/1). */
  readonly js: (...args: number[]) => number;
}

/** Builds a scalar function entry. */
export function scalarFn<N extends string>(name: N, js: ScalarFn['js']): ScalarFn<N> {
  return { name, js };
}

/** A table of scalar functions, each stored under its own name. */
export type ScalarFnTable<T> = { readonly [K in keyof T]: ScalarFn<K & string> };

/** Returns `table` unchanged; the type check rejects an entry stored under a name other than its own. */
export function scalarFns<T extends ScalarFnTable<T>>(table: T): T {
  return table;
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
