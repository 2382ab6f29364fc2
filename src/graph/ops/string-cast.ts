/**
 * Cast to and from string (shared by Cast and CastLike). Numbers become their
 * shortest decimal that reads back as the same value of their dtype (as numpy
 * prints them; the ONNX test data expects these digits), written positionally
 * for decimal exponents -4 to 15 and as `d.ddde±XX` otherwise, without a trailing
 * `.0` ("1", "0.5", "1e+20", "1.2345679e+08"); NaN, +Inf and -Inf are "NaN", "INF"
 * and "-INF" (the literals the Cast spec reserves), bools "1" and "0". Strings
 * parse as decimal literals (surrounding whitespace allowed) or, case-insensitively,
 * "NaN", "INF", "+INF", "-INF", "inf", "infinity"; integer and bool outputs take
 * the parsed number truncated (wrapping as any cast); anything else is an
 * ExecutionError naming the node.
 */
import { coerce, isFloat, type DType } from '../dtype.js';
import { ExecutionError } from '../errors.js';
import { Tensor } from '../tensor.js';

/** The string an element of dtype `d` becomes (see the module comment). */
export function numberToString(v: number, d: DType): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'INF';
  if (v === -Infinity) return '-INF';
  if (!isFloat(d)) return d === 'bool' ? (v ? '1' : '0') : String(v);
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  let digits = '';
  for (let p = 1; p <= 17; p++) {
    digits = v.toExponential(p - 1);
    if (coerce(d, Number(digits)) === v) break;
  }
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(digits)!;
  const sign = m[1]!;
  const mant = m[2]! + (m[3] ?? '');
  const exp = Number(m[4]);
  if (exp < -4 || exp >= 16) {
    const e = Math.abs(exp);
    return `${sign}${mant[0]}${mant.length > 1 ? `.${mant.slice(1)}` : ''}e${exp < 0 ? '-' : '+'}${e < 10 ? `0${e}` : e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${mant}`;
  if (mant.length <= exp + 1) return `${sign}${mant}${'0'.repeat(exp + 1 - mant.length)}`;
  return `${sign}${mant.slice(0, exp + 1)}.${mant.slice(exp + 1)}`;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The number a string element reads as, or an ExecutionError naming the node. */
export function stringToNumber(s: string, node: string): number {
  const t = s.trim();
  if (/^[+]?(inf|infinity)$/i.test(t)) return Infinity;
  if (/^-(inf|infinity)$/i.test(t)) return -Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  if (!DECIMAL.test(t)) throw new ExecutionError(`${node}: cannot cast the string ${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s)} to a number`, node);
  return Number(t);
}

/** Casts a tensor to or from string (one side must be string); undefined when neither is. */
export function castStrings(x: Tensor, to: DType, node: string): Tensor | undefined {
  if (x.strings && to === 'string') return x;
  if (x.strings) return Tensor.from(to, x.shape, x.strings.map((s) => coerce(to, stringToNumber(s, node))));
  if (to === 'string') return Tensor.fromStrings(x.shape, Array.from(x.data as ArrayLike<number>, (v) => numberToString(v, x.dtype)));
  return undefined;
}
