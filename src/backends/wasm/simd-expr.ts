/**
 * Renders the scalar expression trees of src/graph/expr.ts (the ones WGSL is
 * rendered from) as SIMD128 code over four float32 lanes. Each scalar function is
 * spelled from this backend's own table keyed by the function's name; an expression
 * with a function the table lacks, or any value that is not float32, has no SIMD
 * form ({@link simdExprSupported} is false) and its node runs on the reference.
 *
 * exp is Cephes' expf (range reduction by ln 2, degree-5 polynomial, 2^n built in
 * the exponent bits; within ~2 ulp on [-87, 88]); sigmoid and tanh are built on it,
 * erf is Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7).
 */
import type { Expr } from '../../graph/expr.js';
import type { FnBuilder, SimdOp } from './encoder.js';

/** Emits a function's lanes given its argument locals (v128) and argument expressions; leaves one v128 on the stack. */
type Spelling = (f: FnBuilder, args: readonly number[], exprs: readonly Expr[]) => void;

const bin = (o: SimdOp): Spelling => (f, [a, b]) => { f.get(a!).get(b!).simd(o); };
const un = (o: SimdOp): Spelling => (f, [a]) => { f.get(a!).simd(o); };

/** Pushes exp(x) of the v128 local `x`. */
export function emitExp(f: FnBuilder, x: number): void {
  const t = f.local('v128');
  const fx = f.local('v128');
  const z = f.local('v128');
  // t = clamp(x)
  f.get(x).f32x4(88.3762626647949).simd('f32x4.min').f32x4(-88.3762626647949).simd('f32x4.max').set(t);
  // fx = floor(t·log2e + 0.5)
  f.get(t).f32x4(Math.LOG2E).simd('f32x4.mul').f32x4(0.5).simd('f32x4.add').simd('f32x4.floor').set(fx);
  // t -= fx·C1; t -= fx·C2
  f.get(t).get(fx).f32x4(0.693359375).simd('f32x4.mul').simd('f32x4.sub').set(t);
  f.get(t).get(fx).f32x4(-2.12194440e-4).simd('f32x4.mul').simd('f32x4.sub').set(t);
  f.get(t).get(t).simd('f32x4.mul').set(z);
  // y = poly(t)·z + t + 1
  f.f32x4(1.9875691500e-4);
  for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) {
    f.get(t).simd('f32x4.mul').f32x4(c).simd('f32x4.add');
  }
  f.get(z).simd('f32x4.mul').get(t).simd('f32x4.add').f32x4(1).simd('f32x4.add');
  // · 2^fx
  f.get(fx).simd('i32x4.trunc_sat_f32x4_s').i32(127).simd('i32x4.splat').simd('i32x4.add').i32(23).simd('i32x4.shl');
  f.simd('f32x4.mul');
}

/** Pushes 1 / (1 + exp(-x)). */
function emitSigmoid(f: FnBuilder, x: number): void {
  const n = f.local('v128');
  f.get(x).simd('f32x4.neg').set(n);
  f.f32x4(1);
  f.f32x4(1);
  emitExp(f, n);
  f.simd('f32x4.add').simd('f32x4.div');
}

/** Pushes tanh(x) = 2·sigmoid(2x) − 1 (absolute error ~1e-7). */
function emitTanh(f: FnBuilder, x: number): void {
  const t = f.local('v128');
  f.get(x).get(x).simd('f32x4.add').set(t);
  emitSigmoid(f, t);
  f.f32x4(2).simd('f32x4.mul').f32x4(1).simd('f32x4.sub');
}

/** Pushes erf(x) (Abramowitz–Stegun 7.1.26). */
function emitErf(f: FnBuilder, x: number): void {
  const ax = f.local('v128');
  const t = f.local('v128');
  const e = f.local('v128');
  const nx = f.local('v128');
  f.get(x).simd('f32x4.abs').set(ax);
  f.f32x4(1).f32x4(1).get(ax).f32x4(0.3275911).simd('f32x4.mul').simd('f32x4.add').simd('f32x4.div').set(t);
  f.get(ax).get(ax).simd('f32x4.mul').simd('f32x4.neg').set(nx);
  emitExp(f, nx);
  f.set(e);
  f.f32x4(1.061405429);
  for (const c of [-1.453152027, 1.421413741, -0.284496736, 0.254829592]) f.get(t).simd('f32x4.mul').f32x4(c).simd('f32x4.add');
  f.get(t).simd('f32x4.mul').get(e).simd('f32x4.mul');
  const r = f.local('v128');
  f.set(r);
  f.f32x4(1).get(r).simd('f32x4.sub').set(r);
  // copysign(r, x): (x & sign) | (r & ~sign)
  f.get(x).get(r).f32x4(-0).simd('v128.bitselect');
}

/** Pushes `cond ? a : b` lanes; `mask` emits the condition lanes. */
function select(f: FnBuilder, a: () => void, b: () => void, mask: () => void): void {
  a(); b(); mask(); f.simd('v128.bitselect');
}

/** Spellings keyed by scalar-function name (src/graph/ops/scalar-fns.ts). */
const SPELL: Readonly<Record<string, Spelling>> = {
  add: bin('f32x4.add'), sub: bin('f32x4.sub'), mul: bin('f32x4.mul'), div: bin('f32x4.div'),
  max: bin('f32x4.max'), min: bin('f32x4.min'),
  neg: un('f32x4.neg'), abs: un('f32x4.abs'), sqrt: un('f32x4.sqrt'), floor: un('f32x4.floor'), ceil: un('f32x4.ceil'),
  round: un('f32x4.nearest'),
  reciprocal: (f, [a]) => { f.f32x4(1).get(a!).simd('f32x4.div'); },
  cast: (f, [a]) => { f.get(a!); },
  exp: (f, [a]) => emitExp(f, a!),
  sigmoid: (f, [a]) => emitSigmoid(f, a!),
  tanh: (f, [a]) => emitTanh(f, a!),
  erf: (f, [a]) => emitErf(f, a!),
  gelu: (f, [a]) => {
    const s = f.local('v128');
    f.get(a!).f32x4(Math.SQRT1_2).simd('f32x4.mul').set(s);
    emitErf(f, s);
    f.f32x4(1).simd('f32x4.add').get(a!).simd('f32x4.mul').f32x4(0.5).simd('f32x4.mul');
  },
  gelutanh: (f, [a]) => {
    const s = f.local('v128');
    f.get(a!).get(a!).simd('f32x4.mul').get(a!).simd('f32x4.mul').f32x4(0.044715).simd('f32x4.mul').get(a!).simd('f32x4.add')
      .f32x4(Math.sqrt(2 / Math.PI)).simd('f32x4.mul').set(s);
    emitTanh(f, s);
    f.f32x4(1).simd('f32x4.add').get(a!).simd('f32x4.mul').f32x4(0.5).simd('f32x4.mul');
  },
  leakyrelu: (f, [x, al]) => select(f, () => f.get(x!), () => f.get(x!).get(al!).simd('f32x4.mul'), () => f.get(x!).f32x4(0).simd('f32x4.ge')),
  prelu: (f, [x, s]) => select(f, () => f.get(x!).get(s!).simd('f32x4.mul'), () => f.get(x!), () => f.get(x!).f32x4(0).simd('f32x4.lt')),
  hardsigmoid: (f, [x, al, be]) => { f.get(x!).get(al!).simd('f32x4.mul').get(be!).simd('f32x4.add').f32x4(1).simd('f32x4.min').f32x4(0).simd('f32x4.max'); },
  hardswish: (f, [x]) => { f.get(x!).f32x4(1 / 6).simd('f32x4.mul').f32x4(0.5).simd('f32x4.add').f32x4(1).simd('f32x4.min').f32x4(0).simd('f32x4.max').get(x!).simd('f32x4.mul'); },
  softsign: (f, [x]) => { f.get(x!).f32x4(1).get(x!).simd('f32x4.abs').simd('f32x4.add').simd('f32x4.div'); },
  pow: (f, [a], exprs) => {
    const p = exprs[1]!.kind === 'const' ? exprs[1]!.value : NaN;
    if (p === 1) f.get(a!);
    else if (p === 2) f.get(a!).get(a!).simd('f32x4.mul');
    else if (p === 3) f.get(a!).get(a!).simd('f32x4.mul').get(a!).simd('f32x4.mul');
    else if (p === 0.5) f.get(a!).simd('f32x4.sqrt');
    else f.f32x4(1).get(a!).simd('f32x4.div').simd('f32x4.sqrt'); // unreachable: powSupported rejects it
  },
};

/** Constant exponents of `pow` with an exact lane form. */
const POW_EXPONENTS = new Set([1, 2, 3, 0.5]);

/** True when `e` (and every sub-expression) is float32 and every function has a SIMD spelling. */
export function simdExprSupported(e: Expr): boolean {
  if (e.dtype !== 'float32') return false;
  if (e.kind !== 'call') return true;
  if (!Object.hasOwn(SPELL, e.fn.name)) return false;
  if (e.fn.name === 'pow') {
    const p = e.args[1];
    if (!p || p.kind !== 'const' || !POW_EXPONENTS.has(p.value)) return false;
  }
  return e.args.every(simdExprSupported);
}

/** Emits `e` over inputs held in v128 locals `inputs[i]`; leaves one v128 on the stack. */
export function emitSimdExpr(f: FnBuilder, e: Expr, inputs: readonly number[]): void {
  switch (e.kind) {
    case 'input': f.get(inputs[e.index]!); return;
    case 'const': f.f32x4(e.value); return;
    case 'call': {
      const locals = e.args.map((a) => {
        if (a.kind === 'input') return inputs[a.index]!;
        emitSimdExpr(f, a, inputs);
        const l = f.local('v128');
        f.set(l);
        return l;
      });
      SPELL[e.fn.name]!(f, locals, e.args);
    }
  }
}
