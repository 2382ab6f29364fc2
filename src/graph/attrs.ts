/**
 * Attribute schemas. Each op declares its attributes once, with ONNX names, types,
 * defaults and validation; {@link resolveAttrs} checks what a node was given.
 */
import { AttributeError } from './errors.js';
import type { Tensor } from './tensor.js';

/** Attribute kinds, as in ONNX's AttributeProto. */
export type AttrKind = 'int' | 'float' | 'string' | 'ints' | 'floats' | 'strings' | 'tensor' | 'graph' | 'type';

/** A value an attribute may hold. `graph` attributes hold a Graph (typed as unknown here to avoid a cycle). */
export type AttrValue = number | string | readonly number[] | readonly string[] | Tensor | object;

/** One attribute's declaration. */
export interface AttrSpec<T = unknown, Opt extends boolean = boolean> {
  readonly kind: AttrKind;
  /** Default when absent; `undefined` means optional without default (or required, see `required`). */
  readonly default: T | undefined;
  /** True if the attribute must be given. */
  readonly required: boolean;
  /** Returns an error text if the value is invalid. */
  readonly check?: (v: T) => string | undefined;
  /** Phantom marker: true when the resolved value may be undefined. */
  readonly optional?: Opt;
}

/** A map from attribute name to spec. */
export type AttrSchema = Readonly<Record<string, AttrSpec<any, boolean>>>;

/** The resolved attribute object type for a schema. */
export type AttrsOf<S extends AttrSchema> = {
  readonly [K in keyof S]: S[K] extends AttrSpec<infer T, infer O> ? (O extends true ? T | undefined : T) : never;
};

/** The attribute object a builder call accepts: every attribute optional. */
export type AttrsIn<S extends AttrSchema> = {
  readonly [K in keyof S]?: S[K] extends AttrSpec<infer T, boolean> ? T : never;
};

function spec<T>(kind: AttrKind, def: T | undefined, check?: (v: T) => string | undefined): AttrSpec<T, false> {
  return { kind, default: def, required: def === undefined, ...(check ? { check } : {}) };
}
function opt<T>(kind: AttrKind, check?: (v: T) => string | undefined): AttrSpec<T, true> {
  return { kind, default: undefined, required: false, ...(check ? { check } : {}) };
}

/** Attribute spec constructors. `attr.int(0)` has a default; `attr.int()` is required; `attr.optInt()` may be absent. */
export const attr = {
  int: (def?: number, check?: (v: number) => string | undefined) => spec<number>('int', def, check),
  float: (def?: number, check?: (v: number) => string | undefined) => spec<number>('float', def, check),
  string: <S extends string = string>(def?: S, oneOf?: readonly S[]) =>
    spec<S>('string', def, oneOf ? (v) => (oneOf.includes(v) ? undefined : `must be one of ${oneOf.join(', ')}`) : undefined),
  ints: (def?: readonly number[], check?: (v: readonly number[]) => string | undefined) => spec<readonly number[]>('ints', def, check),
  floats: (def?: readonly number[]) => spec<readonly number[]>('floats', def),
  strings: (def?: readonly string[]) => spec<readonly string[]>('strings', def),
  tensor: () => spec<Tensor>('tensor', undefined),
  optInt: (check?: (v: number) => string | undefined) => opt<number>('int', check),
  optFloat: () => opt<number>('float'),
  optString: () => opt<string>('string'),
  optInts: (check?: (v: readonly number[]) => string | undefined) => opt<readonly number[]>('ints', check),
  optFloats: () => opt<readonly number[]>('floats'),
  optStrings: () => opt<readonly string[]>('strings'),
  optTensor: () => opt<Tensor>('tensor'),
  optGraph: () => opt<object>('graph'),
  /** An optional type attribute (ONNX TYPE_PROTO; a ValueType, typed as object here to avoid a cycle). */
  optType: () => opt<object>('type'),
  /** A required subgraph attribute (a Graph, typed as object here to avoid a cycle). */
  graph: () => spec<object>('graph', undefined),
};

function kindOk(kind: AttrKind, v: unknown): boolean {
  switch (kind) {
    case 'int': return typeof v === 'number' && Number.isInteger(v);
    case 'float': return typeof v === 'number';
    case 'string': return typeof v === 'string';
    case 'ints': return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x));
    case 'floats': return Array.isArray(v) && v.every((x) => typeof x === 'number');
    case 'strings': return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'tensor': return typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v;
    case 'graph': return typeof v === 'object' && v !== null;
    case 'type': return typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v;
  }
}

/**
 * Validates the attributes given to a node against its op's schema and fills in
 * defaults. Unknown names, wrong kinds, missing required attributes and failed
 * checks raise an {@link AttributeError} naming the node and attribute.
 */
export function resolveAttrs<S extends AttrSchema>(
  schema: S,
  given: Readonly<Record<string, unknown>>,
  node: string,
  op: string,
): AttrsOf<S> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(schema, name)) {
      const known = Object.keys(schema);
      throw new AttributeError(
        `${node}: ${op} has no attribute '${name}'${known.length ? ` (known: ${known.join(', ')})` : ''}`,
        node,
      );
    }
  }
  for (const [name, s] of Object.entries(schema)) {
    const v = given[name];
    if (v === undefined) {
      if (s.required) throw new AttributeError(`${node}: ${op} requires attribute '${name}'`, node);
      out[name] = s.default;
      continue;
    }
    if (!kindOk(s.kind, v)) {
      throw new AttributeError(`${node}: ${op} attribute '${name}' must be of kind ${s.kind}, got ${JSON.stringify(v)?.slice(0, 80)}`, node);
    }
    const err = s.check?.(v);
    if (err) throw new AttributeError(`${node}: ${op} attribute '${name}' ${err} (got ${JSON.stringify(v)?.slice(0, 80)})`, node);
    out[name] = v;
  }
  return out as AttrsOf<S>;
}
