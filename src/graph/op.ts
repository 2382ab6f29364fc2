/**
 * The op registry. An op is defined once — attributes, dtype/shape inference,
 * fusion category, CPU reference — with {@link defineOp}. Backends and passes attach
 * their own facts to the same op handle through {@link OpDef.traits}, an open map
 * keyed by typed {@link TraitKey}s (as TVM's op attribute maps); the graph layer
 * never imports a backend.
 */
import type { AttrSchema, AttrsIn, AttrsOf } from './attrs.js';
import type { DType } from './dtype.js';
import { KilnError } from './errors.js';
import type { Expr } from './expr.js';
import type { Shape } from './shape.js';
import type { Tensor } from './tensor.js';
import type { Value } from './value.js';

/** How an op may be fused (TVM's categories). */
export type FusionCategory = 'elementwise' | 'broadcast' | 'injective' | 'reduction' | 'output-fusable' | 'opaque';

/**
 * What a value is: a tensor (the default, `kind` absent), a sequence of tensors, or an
 * optional holding a tensor or a sequence (ONNX's sequence(tensor) and optional(T)).
 */
export type ValueKind = 'tensor' | 'sequence' | 'optional';

/**
 * A value's type: dtype and (possibly symbolic) shape. A sequence or optional
 * (`kind`, see src/graph/value.ts) has its innermost tensor's dtype, shape `[]`, and
 * its element's type in `elem` (undefined where unknown: a sequence whose elements
 * differ in rank, an empty optional read from a file).
 */
export interface ValueType {
  readonly dtype: DType;
  readonly shape: Shape;
  /** 'tensor' when absent. */
  readonly kind?: ValueKind;
  /** Element type of a sequence (a tensor type) or an optional (a tensor or sequence type). */
  readonly elem?: ValueType | undefined;
  /** A sequence's number of elements, where known (0 for SequenceEmpty's: then `elem` constrains nothing). */
  readonly length?: number | undefined;
}

/** What inference knows about an input: its type and, if it is a constant, its value. */
export interface InferInput extends ValueType {
  readonly value?: Tensor | undefined;
}

/** Context passed to inference and CPU implementations. */
export interface OpContext<A> {
  /** Node name, for error messages. */
  readonly node: string;
  /** Resolved attributes (defaults filled in). */
  readonly attrs: A;
  /** A fresh symbolic dim name, deterministic per node and tag. */
  fresh(tag: string | number): string;
  /** Number of outputs the node declares (for ops with a variable count, like Split). */
  readonly numOutputs: number;
}

/** Context of a CPU implementation: also the inferred output types (concrete where inference could tell). */
export interface CpuContext<A> extends OpContext<A> {
  readonly outputs: readonly ValueType[];
}

/** A typed key into an op's open trait map. */
export interface TraitKey<T> {
  readonly name: string;
  /** Phantom field carrying the value type. */
  readonly __type?: T;
}

/** Creates a trait key. */
export function traitKey<T>(name: string): TraitKey<T> {
  return { name };
}

/** Declaration passed to {@link defineOp}. */
export interface OpSpec<S extends AttrSchema, M extends boolean> {
  /** ONNX op type, e.g. `Conv`. */
  readonly name: string;
  /** ONNX domain ('' for the default domain). */
  readonly domain?: string;
  /** Input names; suffix `?` marks optional, prefix `...` variadic (last only). */
  readonly inputs: readonly string[];
  /** Output names; suffix `?` marks optional, prefix `...` variadic (last only). */
  readonly outputs: readonly string[];
  /** Attribute schema. */
  readonly attrs: S;
  /** Fusion category. */
  readonly category: FusionCategory;
  /** True if the builder returns several outputs (an array). */
  readonly multi?: M;
  /** One-line description for docs and the viewer. */
  readonly doc?: string;
  /**
   * Infers output types. Receives `undefined` for omitted optional inputs.
   * Must throw ShapeError/DTypeError/AttributeError naming `ctx.node` on bad input.
   */
  infer(inputs: readonly (InferInput | undefined)[], ctx: OpContext<AttrsOf<S>>): ValueType[];
  /**
   * CPU reference implementation. May be omitted for elementwise ops that give `expr`;
   * the CPU backend then evaluates the expression with broadcasting.
   */
  cpu?(inputs: readonly (Tensor | undefined)[], ctx: CpuContext<AttrsOf<S>>): Tensor[];
  /**
   * CPU reference on values of any kind (sequences and optionals as well as tensors;
   * see src/graph/value.ts), for the ops that take or give them. Used instead of
   * `cpu` when an input is not a tensor, or when the op has no `cpu`.
   */
  run?(inputs: readonly (Value | undefined)[], ctx: CpuContext<AttrsOf<S>>): Value[];
  /**
   * Scalar form for elementwise/broadcast ops: the output element as an expression
   * of the input elements (already broadcast). `out` is the output dtype. Inputs are
   * positional: an omitted optional input is `undefined` at its index.
   */
  expr?(inputs: readonly Expr[], attrs: AttrsOf<S>, out: DType): Expr;
  /**
   * Number of outputs a builder call creates when the caller does not say (ops with a
   * variable output count, such as Split). Default: the required outputs of the signature.
   */
  outputCount?(inputs: readonly (InferInput | undefined)[], attrs: AttrsOf<S>): number | undefined;
  /** Indices of inputs whose values (not just shapes) decide the output shape. */
  readonly shapeInputs?: readonly number[];
  /** True if the op reads only its inputs' shapes, never their data (Shape, Size). */
  readonly shapeOnly?: boolean;
}

/** A registered op. */
export interface OpDef<S extends AttrSchema = AttrSchema, M extends boolean = boolean> extends OpSpec<S, M> {
  readonly domain: string;
  /** Open map of facts attached by other layers (kernels, fusion rules, ONNX mappings). */
  readonly traits: Map<string, unknown>;
  /** Parsed input signature. */
  readonly inputSig: readonly PortSig[];
  /** Parsed output signature. */
  readonly outputSig: readonly PortSig[];
}

/** One input or output port of an op signature. */
export interface PortSig {
  readonly name: string;
  readonly optional: boolean;
  readonly variadic: boolean;
}

/** Builder call argument type for an op. */
export type OpAttrsIn<D> = D extends OpDef<infer S, boolean> ? AttrsIn<S> : never;

function parsePorts(ports: readonly string[]): PortSig[] {
  return ports.map((p) => ({
    name: p.replace(/^\.\.\./, '').replace(/\?$/, ''),
    optional: p.endsWith('?') || p.startsWith('...'),
    variadic: p.startsWith('...'),
  }));
}

const registry = new Map<string, OpDef>();

/** Raised when an op is defined twice. */
export class RegistryError extends KilnError {
  constructor(message: string) { super('REGISTRY', message); }
}

function key(domain: string, name: string): string {
  return domain ? `${domain}::${name}` : name;
}

/** Defines and registers an op. Returns its handle. */
export function defineOp<S extends AttrSchema, M extends boolean = false>(spec: OpSpec<S, M>): OpDef<S, M> {
  const domain = spec.domain ?? '';
  const k = key(domain, spec.name);
  if (registry.has(k)) throw new RegistryError(`op ${k} is defined twice`);
  const def: OpDef<S, M> = {
    ...spec,
    domain,
    traits: new Map(),
    inputSig: parsePorts(spec.inputs),
    outputSig: parsePorts(spec.outputs),
  };
  registry.set(k, def as unknown as OpDef);
  return def;
}

/** Looks up an op by name (and domain); undefined if not registered. */
export function findOp(name: string, domain = ''): OpDef | undefined {
  return registry.get(key(domain === 'ai.onnx' ? '' : domain, name));
}

/** Every registered op. */
export function allOps(): OpDef[] {
  return [...registry.values()];
}

/** Reads a trait of an op. */
export function getTrait<T>(op: OpDef, k: TraitKey<T>): T | undefined {
  return op.traits.get(k.name) as T | undefined;
}

/** Attaches a trait to an op (e.g. a backend kernel). */
export function setTrait<T>(op: OpDef, k: TraitKey<T>, value: T): void {
  op.traits.set(k.name, value);
}
