/**
 * Validation of the feeds passed to a run: every graph input present, no extra
 * names, dtypes and ranks right, concrete dims equal, and each symbolic dim bound to
 * one size across all inputs. Errors are InputErrors naming the input. Also seeded
 * random feeds from the declared input types (kiln run --random, calibration).
 * As in ONNX Runtime, a scalar (rank-0) input also accepts a feed of one element in any
 * shape ([1], [1, 1]); {@link scalarFeedsAsScalars} reshapes such feeds to [].
 */
import { isFloat, type DType } from './dtype.js';
import { InputError } from './errors.js';
import type { Graph, ValueInfo } from './graph.js';
import { Rng } from './random.js';
import { Tensor } from './tensor.js';
import { formatType, isTensorType, kindOf, NoneValue, TensorSequence, type Value } from './value.js';
import { formatShape, type ConcreteShape } from './shape.js';

/** What a feed must provide: dtype and concrete shape. */
export interface FeedLike {
  readonly dtype: DType;
  readonly shape: ConcreteShape;
}

/** Options of {@link checkFeeds}. */
export interface CheckFeedsOptions {
  /** Also require each feed to be a tensor: CPU data of the right length, or a GPU buffer. */
  readonly requireData?: boolean;
}

function checkData(name: string, f: FeedLike): void {
  const { data, buffer } = f as { data?: { length?: unknown }; buffer?: unknown };
  if (data === undefined && buffer === undefined) {
    throw new InputError(`feed '${name}' is not a tensor: it has neither data nor a GPU buffer`, name);
  }
  const n = f.shape.reduce((a, b) => a * b, 1);
  if (data !== undefined && data.length !== n) {
    throw new InputError(`feed '${name}' has ${String(data.length)} elements but its shape ${formatShape(f.shape)} needs ${n}`, name);
  }
}

/** Checks feeds against the graph inputs; returns the binding of each symbolic dim. */
export function checkFeeds(g: Graph, feeds: Readonly<Record<string, FeedLike>>, opts: CheckFeedsOptions = {}): Map<string, number> {
  const dims = new Map<string, number>();
  const where = new Map<string, string>();
  const expected = new Set(g.inputs.map((i) => i.name));
  for (const k of Object.keys(feeds)) {
    if (!expected.has(k)) {
      throw new InputError(`unexpected feed '${k}'; the graph's inputs are: ${[...expected].join(', ') || '(none)'}`, k);
    }
  }
  for (const inp of g.inputs) {
    const f = feeds[inp.name];
    if (!f || typeof f !== 'object') throw new InputError(`missing feed for input '${inp.name}' (${formatType(inp)})`, inp.name);
    if (!isTensorType(inp)) {
      checkContainerFeed(inp, f as unknown as Value);
      continue;
    }
    if (!Array.isArray(f.shape)) throw new InputError(`feed '${inp.name}' is not a tensor: it has no shape`, inp.name);
    if (f.dtype !== inp.dtype) {
      throw new InputError(`input '${inp.name}' expects dtype ${inp.dtype}, got ${f.dtype}`, inp.name);
    }
    if (f.shape.length !== inp.shape.length && !(inp.shape.length === 0 && f.shape.every((d) => d === 1))) {
      throw new InputError(
        `input '${inp.name}' expects rank ${inp.shape.length} ${formatShape(inp.shape)}, got rank ${f.shape.length} ${formatShape(f.shape)}`,
        inp.name,
      );
    }
    inp.shape.forEach((d, a) => {
      const got = f.shape[a]!;
      if (typeof d === 'number') {
        if (d !== got) {
          throw new InputError(`input '${inp.name}' expects shape ${formatShape(inp.shape)}, got ${formatShape(f.shape)} (axis ${a})`, inp.name);
        }
      } else {
        const prev = dims.get(d);
        if (prev !== undefined && prev !== got) {
          throw new InputError(
            `input '${inp.name}' binds dim '${d}' to ${got}, but '${where.get(d)}' bound it to ${prev}`,
            inp.name,
          );
        }
        dims.set(d, got);
        where.set(d, inp.name);
      }
    });
  }
  if (opts.requireData) for (const inp of g.inputs) if (isTensorType(inp)) checkData(inp.name, feeds[inp.name]!);
  return dims;
}

/** Checks the feed of a sequence or optional input: a TensorSequence of its dtype; for an optional also a tensor or a NoneValue. */
function checkContainerFeed(inp: ValueInfo, f: Value): void {
  const want = kindOf(inp) === 'optional' ? inp.elem : inp;
  if (kindOf(inp) === 'optional' && f instanceof NoneValue) return;
  const ok = want && kindOf(want) === 'sequence' ? f instanceof TensorSequence : want ? f instanceof Tensor : f instanceof Tensor || f instanceof TensorSequence;
  if (!ok) throw new InputError(`input '${inp.name}' expects ${formatType(inp)}, got ${String(f)}`, inp.name);
  const dtype = (f as Tensor | TensorSequence).dtype;
  if (dtype !== inp.dtype) throw new InputError(`input '${inp.name}' expects ${formatType(inp)}, got elements of dtype ${dtype}`, inp.name);
}

/**
 * The feeds with each one-element feed of a scalar (rank-0) input reshaped to [], as ONNX
 * Runtime accepts `new Tensor('int64', [16000n])` (shape [1]) for a scalar input. Feeds that
 * need no change are passed through; the object is copied only when one changes.
 *
 * @param g the graph whose inputs the feeds are for.
 * @param feeds feeds already checked by {@link checkFeeds}.
 * @returns the feeds, scalar inputs with shape [].
 */
export function scalarFeedsAsScalars<F extends FeedLike>(g: Graph, feeds: Readonly<Record<string, F>>): Readonly<Record<string, F>> {
  let out: Record<string, F> | undefined;
  for (const inp of g.inputs) {
    const f = feeds[inp.name];
    if (inp.shape.length !== 0 || !f || f.shape.length === 0) continue;
    const reshape = (f as { reshape?: (shape: ConcreteShape) => F }).reshape;
    if (typeof reshape !== 'function') {
      throw new InputError(`input '${inp.name}' is a scalar; feed it with shape [] (this tensor of shape ${formatShape(f.shape)} cannot be reshaped)`, inp.name);
    }
    out ??= { ...feeds };
    out[inp.name] = reshape.call(f, []);
  }
  return out ?? feeds;
}

/**
 * Random feeds from the declared input types: floats uniform in [-1, 1), integers in
 * [0, 10) (valid token ids and indices for small vocabularies), bools 0/1. Symbolic
 * dims come from `dims`; a missing one is an InputError naming it.
 */
export function randomFeeds(g: Graph, dims: ReadonlyMap<string, number>, seed = 1): Record<string, Tensor> {
  const r = new Rng(seed);
  const next = (): number => r.next();
  const feeds: Record<string, Tensor> = {};
  for (const inp of g.inputs) {
    if (g.initializers.has(inp.name)) continue;
    const shape = inp.shape.map((d) => {
      if (typeof d === 'number') return d;
      const v = dims.get(d);
      if (v === undefined) throw new InputError(`input '${inp.name}' ${formatShape(inp.shape)} has symbolic dim '${d}': pass --dim ${d}=N`, inp.name);
      return v;
    });
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      values[i] = isFloat(inp.dtype) ? next() * 2 - 1 : inp.dtype === 'bool' ? (next() < 0.5 ? 0 : 1) : Math.floor(next() * 10);
    }
    feeds[inp.name] = Tensor.from(inp.dtype, shape, values);
  }
  return feeds;
}
