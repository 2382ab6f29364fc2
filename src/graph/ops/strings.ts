/**
 * Op family: string ops — StringConcat, StringSplit, RegexFullMatch,
 * StringNormalizer, and TfIdfVectorizer (n-gram counts over an int or string pool).
 * They run with their CPU reference (on WebGPU as host steps, see
 * src/backends/webgpu/control.ts).
 *
 * StringNormalizer's case change is the locale-independent Unicode simple case
 * mapping (one code point to one code point, as C's towupper/towlower under a UTF-8
 * locale: a code point whose full mapping has several code points, such as ß, is
 * kept). Its `locale` may be empty or name any locale but the Turkish, Azeri and
 * Lithuanian ones (tr, az, lt), whose case rules differ; those are an AttributeError.
 *
 * RegexFullMatch follows RE2 syntax on JS RegExp (`u` flag, anchored at both ends).
 * Constructs RE2 lacks — backreferences, lookahead and lookbehind — are refused as
 * RE2 refuses them, and so are patterns JS's backtracking engine could take
 * exponential time on (a repeated group holding a quantifier or an alternation,
 * such as `(a+)+` or `(a|aa)*`), which RE2 runs in linear time: typed errors naming
 * the node, raised before any element is matched. `\s` and `\S` mean RE2's ASCII
 * whitespace; `(?P<name>...)` is a named group.
 */
import { attr } from '../attrs.js';
import { expectDType } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp, setTrait, type ValueType } from '../op.js';
import { MOVES_ELEMENTS } from '../string-movement.js';
import { dataDependentOps } from './data-dependent.js';
import { selectOps } from './elementwise-select.js';
import { gatherOps } from './gather.js';
import { movementOps } from './movement.js';
import { rearrangeOps } from './rearrange.js';
import { shapeOps } from './shape.js';
import { formatShape, type Dim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { mapStrings, stringsOf } from './string-util.js';

/** Python's str.isspace() characters (what str.split() with no separator splits on). */
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** Python's `s.split(sep, maxsplit)`: `sep` undefined splits on runs of whitespace (ends stripped); `maxsplit` < 0 is unlimited. */
export function pySplit(s: string, sep: string | undefined, maxsplit: number): string[] {
  const out: string[] = [];
  if (sep !== undefined) {
    let start = 0;
    while (maxsplit < 0 || out.length < maxsplit) {
      const j = s.indexOf(sep, start);
      if (j < 0) break;
      out.push(s.slice(start, j));
      start = j + sep.length;
    }
    out.push(s.slice(start));
    return out;
  }
  const cs = [...s];
  const n = cs.length;
  let i = 0;
  const space = (k: number): boolean => PY_SPACE.test(cs[k]!);
  while (i < n && space(i)) i++;
  while (i < n && (maxsplit < 0 || out.length < maxsplit)) {
    let j = i;
    while (j < n && !space(j)) j++;
    out.push(cs.slice(i, j).join(''));
    i = j;
    while (i < n && space(i)) i++;
  }
  if (i < n) out.push(cs.slice(i).join(''));
  return out;
}

/** StringConcat: elementwise concatenation of two string tensors, with broadcasting. */
export const StringConcat = defineOp({
  name: 'StringConcat',
  inputs: ['X', 'Y'],
  outputs: ['Z'],
  attrs: {},
  category: 'opaque',
  doc: 'Elementwise string concatenation with broadcasting.',
  infer([x, y], ctx): ValueType[] {
    expectDType(x!.dtype, ['string'], ctx.node, 'X');
    expectDType(y!.dtype, ['string'], ctx.node, 'Y');
    return [{ dtype: 'string', shape: broadcastOrThrow(x!.shape, y!.shape, ctx.node) }];
  },
  cpu: ([x, y], ctx) => [mapStrings([x!, y!], 'string', ([a, b]) => a! + b!, ctx.node)],
});

function broadcastOrThrow(a: readonly Dim[], b: readonly Dim[], node: string): Dim[] {
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const p = a[a.length - r + i] ?? 1;
    const q = b[b.length - r + i] ?? 1;
    if (p === 1) out.push(q);
    else if (q === 1 || p === q) out.push(p);
    else if (typeof p === 'number' && typeof q === 'number') throw new ShapeError(`${node}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`, node);
    else out.push(typeof p === 'number' ? p : q);
  }
  return out;
}

/**
 * StringSplit: splits each element at `delimiter` (absent or empty: at runs of
 * whitespace, ends stripped, as Python's str.split()) at most `maxsplit` times. Y has
 * X's shape plus one axis as long as the most pieces, padded with ""; Z counts each
 * element's pieces.
 */
export const StringSplit = defineOp({
  name: 'StringSplit',
  inputs: ['X'],
  outputs: ['Y', 'Z'],
  attrs: { delimiter: attr.optString(), maxsplit: attr.optInt() },
  category: 'opaque',
  multi: true,
  doc: 'Splits strings at a delimiter (or whitespace), padding to the longest split.',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ['string'], ctx.node, 'X');
    return [{ dtype: 'string', shape: [...x!.shape, ctx.fresh('pieces')] }, { dtype: 'int64', shape: x!.shape }];
  },
  cpu([x], ctx) {
    const sep = ctx.attrs.delimiter === undefined || ctx.attrs.delimiter === '' ? undefined : ctx.attrs.delimiter;
    const max = ctx.attrs.maxsplit ?? -1;
    const parts = stringsOf(x!, ctx.node, 'X').map((s) => pySplit(s, sep, max));
    const width = parts.reduce((m, p) => Math.max(m, p.length), 0);
    const flat: string[] = [];
    for (const p of parts) for (let i = 0; i < width; i++) flat.push(p[i] ?? '');
    return [Tensor.fromStrings([...x!.shape, width], flat), Tensor.from('int64', x!.shape, parts.map((p) => p.length))];
  },
});

/** Translates an RE2 pattern to a JS RegExp source, or throws an AttributeError naming the node for what JS cannot run as RE2 would. */
export function re2ToJs(pattern: string, node: string): string {
  const bad = (what: string): never => {
    throw new AttributeError(`${node}: RegexFullMatch pattern ${JSON.stringify(pattern)}: ${what}`, node);
  };
  let out = '';
  // One frame per open group: whether it holds a quantifier or an alternation.
  const stack: { quant: boolean; alt: boolean }[] = [{ quant: false, alt: false }];
  let lastGroup: { quant: boolean; alt: boolean } | undefined;
  const quantAt = (i: number): { len: number; repeats: boolean } | undefined => {
    const c = pattern[i];
    if (c === '*' || c === '+') return { len: pattern[i + 1] === '?' ? 2 : 1, repeats: true };
    if (c === '?') return { len: pattern[i + 1] === '?' ? 2 : 1, repeats: false };
    if (c === '{') {
      const m = /^\{(\d*)(,(\d*))?\}\??/.exec(pattern.slice(i));
      if (!m || m[1] === '') return undefined;
      const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
      if (Number(m[1]) > 1000 || max > 1000 && max !== Infinity) bad('a repetition count above 1000 (RE2 refuses it)');
      return { len: m[0].length, repeats: max > 1 };
    }
    return undefined;
  };
  for (let i = 0; i < pattern.length;) {
    const c = pattern[i]!;
    const q = quantAt(i);
    if (q) {
      if (q.repeats && lastGroup && (lastGroup.quant || lastGroup.alt)) {
        bad('a repeated group that holds a quantifier or an alternation (JS RegExp may backtrack exponentially on it; RE2 would not)');
      }
      stack[stack.length - 1]!.quant = true;
      out += pattern.slice(i, i + q.len);
      i += q.len;
      lastGroup = undefined;
      continue;
    }
    lastGroup = undefined;
    if (c === '\\') {
      const d = pattern[i + 1];
      if (d === undefined) bad('a trailing backslash');
      if (/[1-9]/.test(d!) || d === 'k' || d === 'g') bad('a backreference (RE2 has none)');
      if (d === 'Q' || d === 'C') bad(`\\${d} is not supported`);
      if (d === 's') out += '[\\t\\n\\f\\r ]';
      else if (d === 'S') out += '[^\\t\\n\\f\\r ]';
      else if (d === 'A') out += '^';
      else if (d === 'z') out += '$';
      else out += c + d;
      i += 2;
      continue;
    }
    if (c === '[') {
      let j = i + 1;
      let head = '[';
      if (pattern[j] === '^') { head += '^'; j++; }
      let cls = '';
      if (pattern[j] === ']') { cls += '\\]'; j++; }
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        if (pattern[j] === '[' && pattern[j + 1] === ':') bad('POSIX classes such as [:alpha:] are not supported');
        if (pattern[j] === '\\') {
          const d = pattern[j + 1];
          if (d === 's') { cls += '\\t\\n\\f\\r '; j++; continue; }
          if (d === 'S') bad('\\S inside a character class is not supported');
          cls += pattern[j]! + (d ?? '');
          j++;
          continue;
        }
        cls += pattern[j];
      }
      if (j >= pattern.length) bad('an unterminated character class');
      out += head + cls + ']';
      i = j + 1;
      continue;
    }
    if (c === '(') {
      let len = 1;
      if (pattern[i + 1] === '?') {
        const rest = pattern.slice(i + 2);
        if (/^(=|!|<=|<!)/.test(rest)) bad('a lookahead or lookbehind (RE2 has none)');
        if (rest.startsWith('P<')) { out += '(?<'; i += 4; stack.push({ quant: false, alt: false }); continue; }
        if (rest.startsWith(':')) len = 3;
        else if (rest.startsWith('<')) len = 3;
        else bad('inline flags and other (?...) groups are not supported');
      }
      out += pattern.slice(i, i + len);
      stack.push({ quant: false, alt: false });
      i += len;
      continue;
    }
    if (c === ')') {
      if (stack.length < 2) bad('an unbalanced )');
      const g = stack.pop()!;
      const parent = stack[stack.length - 1]!;
      parent.quant ||= g.quant;
      lastGroup = g;
      out += c;
      i++;
      continue;
    }
    if (c === '|') stack[stack.length - 1]!.alt = true;
    out += c;
    i++;
  }
  if (stack.length !== 1) bad('an unbalanced (');
  return out;
}

/** Compiles a RegexFullMatch pattern (see {@link re2ToJs}) anchored at both ends. */
export function compileFullMatch(pattern: string, node: string): RegExp {
  const src = re2ToJs(pattern, node);
  try {
    return new RegExp(`^(?:${src})$`, 'u');
  } catch (e) {
    throw new AttributeError(`${node}: RegexFullMatch pattern ${JSON.stringify(pattern)} is not a valid regular expression (${(e as Error).message})`, node);
  }
}

/** RegexFullMatch: true where the whole element matches `pattern` (RE2 syntax, see the module comment). */
export const RegexFullMatch = defineOp({
  name: 'RegexFullMatch',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: { pattern: attr.string() },
  category: 'opaque',
  doc: 'Whether each string fully matches an RE2 pattern.',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ['string'], ctx.node, 'X');
    compileFullMatch(ctx.attrs.pattern, ctx.node);
    return [{ dtype: 'bool', shape: x!.shape }];
  },
  cpu([x], ctx) {
    const re = compileFullMatch(ctx.attrs.pattern, ctx.node);
    return [Tensor.from('bool', x!.shape, stringsOf(x!, ctx.node, 'X').map((s) => (re.test(s) ? 1 : 0)))];
  },
});

/** One code point mapped by the simple (one-to-one) Unicode case mapping. */
function simpleCase(s: string, upper: boolean): string {
  let out = '';
  for (const ch of s) {
    const m = upper ? ch.toUpperCase() : ch.toLowerCase();
    out += [...m].length === 1 ? m : ch;
  }
  return out;
}

const UNSUPPORTED_LOCALE = /^(tr|az|lt)([_\-.@]|$)/i;

/**
 * StringNormalizer: drops the elements equal to a stopword (compared after
 * lowering both when `is_case_sensitive` = 0), then changes case. X is [C] or
 * [1, C]; when every element is dropped the result is [""] ([1] or [1, 1]).
 */
export const StringNormalizer = defineOp({
  name: 'StringNormalizer',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {
    case_change_action: attr.string<'LOWER' | 'UPPER' | 'NONE'>('NONE', ['LOWER', 'UPPER', 'NONE']),
    is_case_sensitive: attr.int(0),
    locale: attr.string(''),
    stopwords: attr.strings([]),
  },
  category: 'opaque',
  doc: 'Removes stopwords and changes case.',
  infer([x], ctx): ValueType[] {
    expectDType(x!.dtype, ['string'], ctx.node, 'X');
    if (UNSUPPORTED_LOCALE.test(ctx.attrs.locale)) {
      throw new AttributeError(`${ctx.node}: StringNormalizer locale '${ctx.attrs.locale}' has its own case rules, which Kiln does not implement`, ctx.node);
    }
    const s = x!.shape;
    if (!(s.length === 1 || (s.length === 2 && (s[0] === 1 || typeof s[0] !== 'number')))) {
      throw new ShapeError(`${ctx.node}: StringNormalizer takes [C] or [1, C], got ${formatShape(s)}`, ctx.node);
    }
    return [{ dtype: 'string', shape: s.length === 1 ? [ctx.fresh('C')] : [1, ctx.fresh('C')] }];
  },
  cpu([x], ctx) {
    const a = ctx.attrs;
    if (x!.rank === 2 && x!.shape[0] !== 1) throw new ShapeError(`${ctx.node}: StringNormalizer takes [C] or [1, C], got ${formatShape(x!.shape)}`, ctx.node);
    const sensitive = a.is_case_sensitive !== 0;
    const key = (w: string): string => (sensitive ? w : simpleCase(w, false));
    const stops = new Set(a.stopwords.map(key));
    let kept = stringsOf(x!, ctx.node, 'X').filter((w) => !stops.has(key(w)));
    if (a.case_change_action !== 'NONE') kept = kept.map((w) => simpleCase(w, a.case_change_action === 'UPPER'));
    if (kept.length === 0) kept = [''];
    return [Tensor.fromStrings(x!.rank === 1 ? [kept.length] : [1, kept.length], kept)];
  },
});

/**
 * TfIdfVectorizer: counts the pool's n-grams (lengths min_gram_length to
 * max_gram_length, items up to max_skip_count apart; unigrams once) in each row of
 * X ([C] or [B, C]; int32, int64 or string against pool_int64s or pool_strings), at
 * the output positions ngram_indexes gives, then weights them (TF: counts; IDF:
 * the weight, or 1, where the count is non-zero; TFIDF: weight × count).
 */
export const TfIdfVectorizer = defineOp({
  name: 'TfIdfVectorizer',
  inputs: ['X'],
  outputs: ['Y'],
  attrs: {
    max_gram_length: attr.int(),
    max_skip_count: attr.int(),
    min_gram_length: attr.int(),
    mode: attr.string<'TF' | 'IDF' | 'TFIDF'>(undefined, ['TF', 'IDF', 'TFIDF']),
    ngram_counts: attr.ints(),
    ngram_indexes: attr.ints(),
    pool_int64s: attr.optInts(),
    pool_strings: attr.optStrings(),
    weights: attr.optFloats(),
  },
  category: 'opaque',
  doc: 'N-gram counts (TF, IDF or TF-IDF) of a pool of int or string n-grams.',
  infer([x], ctx): ValueType[] {
    const a = ctx.attrs;
    expectDType(x!.dtype, a.pool_strings ? ['string'] : ['int32', 'int64'], ctx.node, 'X');
    if ((a.pool_strings === undefined) === (a.pool_int64s === undefined)) {
      throw new AttributeError(`${ctx.node}: TfIdfVectorizer needs exactly one of pool_int64s and pool_strings`, ctx.node);
    }
    if (a.min_gram_length < 1 || a.max_gram_length < a.min_gram_length || a.max_skip_count < 0) {
      throw new AttributeError(`${ctx.node}: TfIdfVectorizer needs 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0`, ctx.node);
    }
    const pool = (a.pool_strings ?? a.pool_int64s)!.length;
    const counts = a.ngram_counts;
    if (counts.some((c, i) => c < 0 || c > pool || (i > 0 && c < counts[i - 1]!))) {
      throw new AttributeError(`${ctx.node}: TfIdfVectorizer ngram_counts must be non-decreasing offsets into the pool`, ctx.node);
    }
    const grams = counts.reduce((s, c, i) => s + Math.floor(((counts[i + 1] ?? pool) - c) / (i + 1)), 0);
    if (a.ngram_indexes.length !== grams || a.ngram_indexes.some((v) => v < 0)) {
      throw new AttributeError(`${ctx.node}: TfIdfVectorizer needs one non-negative ngram_indexes entry per pool n-gram (${grams})`, ctx.node);
    }
    const size = Math.max(-1, ...a.ngram_indexes) + 1;
    if (a.weights && a.weights.length !== 0 && a.weights.length < size) {
      throw new AttributeError(`${ctx.node}: TfIdfVectorizer weights must have an entry per output (${size})`, ctx.node);
    }
    if (x!.shape.length > 2) throw new ShapeError(`${ctx.node}: TfIdfVectorizer takes [C] or [B, C], got ${formatShape(x!.shape)}`, ctx.node);
    return [{ dtype: 'float32', shape: x!.shape.length === 2 ? [x!.shape[0]!, size] : [size] }];
  },
  cpu([x], ctx) {
    const a = ctx.attrs;
    const poolKeys: string[] = a.pool_strings ? a.pool_strings.map((s) => JSON.stringify(s)) : a.pool_int64s!.map((v) => String(v));
    const itemKeys: string[] = x!.strings ? x!.strings.map((s) => JSON.stringify(s)) : x!.toArray().map((v) => String(v));
    // n-gram key (items joined by ',') → output index, only for the sizes counted.
    const index = new Map<string, number>();
    let id = 0;
    a.ngram_counts.forEach((start, i) => {
      const n = i + 1;
      const end = a.ngram_counts[i + 1] ?? poolKeys.length;
      for (let p = start; p + n <= end; p += n, id++) {
        if (n >= a.min_gram_length && n <= a.max_gram_length) index.set(poolKeys.slice(p, p + n).join(','), a.ngram_indexes[id]!);
      }
    });
    const size = Math.max(-1, ...a.ngram_indexes) + 1;
    const rows = x!.rank === 2 ? x!.shape[0]! : 1;
    const C = x!.rank === 2 ? x!.shape[1]! : x!.rank === 1 ? x!.shape[0]! : 1;
    const freq = new Float64Array(rows * size);
    for (let r = 0; r < rows; r++) {
      let minN = a.min_gram_length;
      for (let skip = 1; skip <= a.max_skip_count + 1; skip++) {
        for (let s = 0; s < C && s + skip * (minN - 1) < C; s++) {
          let key = '';
          for (let n = 1, k = s; n <= a.max_gram_length && k < C; n++, k += skip) {
            key = n === 1 ? itemKeys[r * C + k]! : `${key},${itemKeys[r * C + k]!}`;
            const hit = index.get(key);
            if (n >= minN && hit !== undefined) freq[r * size + hit]!++;
          }
        }
        if (minN === 1) {
          minN = 2;
          if (minN > a.max_gram_length) break;
        }
      }
    }
    const w = a.weights ?? [];
    const y = freq.map((f, p) => (a.mode === 'TF' ? f : a.mode === 'IDF' ? (f > 0 ? (w.length ? w[p % size]! : 1) : 0) : w.length ? w[p % size]! * f : f));
    return [Tensor.from('float32', x!.rank === 2 ? [rows, size] : [size], y)];
  },
});

// Ops that only move elements carry strings through index tensors (src/graph/string-movement.ts).
for (const op of [movementOps.Transpose, movementOps.Split, movementOps.Slice, movementOps.Tile, gatherOps.Gather, gatherOps.GatherElements, gatherOps.GatherND,
  shapeOps.Squeeze, shapeOps.Expand, dataDependentOps.Compress, rearrangeOps.ReverseSequence]) setTrait(op, MOVES_ELEMENTS, [0]);
setTrait(movementOps.Concat, MOVES_ELEMENTS, 'all');
setTrait(selectOps.Where, MOVES_ELEMENTS, [1, 2]);

/** The string ops. */
export const stringOps = { StringConcat, StringSplit, RegexFullMatch, StringNormalizer, TfIdfVectorizer } as const;
