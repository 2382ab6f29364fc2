/**
 * Shared definitions of the elementwise op families: constructors for unary
 * ('elementwise') and broadcasting binary ('broadcast') ops, so each op states only
 * its dtypes, attributes and scalar expression.
 */
import type { AttrSchema, AttrsOf } from '../attrs.js';
import { expectDType, type DType } from '../dtype.js';
import { DTypeError } from '../errors.js';
import { compileExprJs, E, type Expr, type ScalarFn } from '../expr.js';
import { defineOp, type CpuContext, type InferInput, type OpDef } from '../op.js';
import { mapBroadcast } from '../reference.js';
import { broadcastShapes } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** Declaration of a unary elementwise op. */
export interface UnarySpec<S extends AttrSchema> {
  readonly name: string;
  /** ONNX domain (default: the default domain). */
  readonly domain?: string;
  readonly doc: string;
  /** Accepted input dtypes. */
  readonly types: readonly DType[];
  readonly attrs: S;
  /** Output dtype (default: the input's). */
  readonly out?: DType;
  /** Input and output port names (default X, Y). */
  readonly ports?: readonly [string, string];
  /** The scalar formula of the input element `x`. */
  readonly expr: (x: Expr, attrs: AttrsOf<S>, out: DType) => Expr;
}

/** Defines a unary elementwise op. */
export function unaryOp<S extends AttrSchema>(spec: UnarySpec<S>): OpDef<S, false> {
  const [inName, outName] = spec.ports ?? ['X', 'Y'];
  return defineOp<S, false>({
    name: spec.name,
    ...(spec.domain ? { domain: spec.domain } : {}),
    inputs: [inName],
    outputs: [outName],
    attrs: spec.attrs,
    category: 'elementwise',
    doc: spec.doc,
    infer([x], ctx) {
      expectDType(x!.dtype, spec.types, ctx.node, inName);
      return [{ dtype: spec.out ?? x!.dtype, shape: x!.shape }];
    },
    expr: ([x], attrs, out) => spec.expr(x!, attrs, out),
  });
}

/** A unary op that is one scalar function of its input. */
export function unaryFn(name: string, f: ScalarFn, types: readonly DType[], doc: string, out?: DType): OpDef<Record<string, never>, false> {
  return unaryOp({ name, doc, types, attrs: {}, ...(out ? { out } : {}), expr: (x, _a, o) => E.call(f, [x], o) });
}

/** Declaration of a broadcasting binary op. */
export interface BinarySpec<S extends AttrSchema> {
  readonly name: string;
  readonly doc: string;
  /** Accepted dtypes of A (B must have the same dtype). */
  readonly types: readonly DType[];
  readonly attrs: S;
  /** Output dtype (default: the inputs'). */
  readonly out?: DType;
  /** Called after the dtype checks (e.g. attribute checks depending on dtype). */
  readonly check?: (a: InferInput, attrs: AttrsOf<S>, node: string) => void;
  /** The scalar formula of the (broadcast) elements `a`, `b`; `dtype` is the inputs' dtype. */
  readonly expr: (a: Expr, b: Expr, attrs: AttrsOf<S>, out: DType) => Expr;
  /** CPU reference for inputs the expression cannot take (string tensors); undefined elsewhere to use the expression. */
  readonly cpuOther?: (a: Tensor, b: Tensor, node: string) => Tensor | undefined;
}

/** Throws a DTypeError naming the node unless both inputs have the same dtype. */
export function expectSameDType(a: InferInput, b: InferInput, node: string, op: string, names = 'A and B'): void {
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`${node}: ${op} inputs ${names} must have the same dtype, got ${a.dtype} and ${b.dtype}`, node);
  }
}

/** Defines a broadcasting binary op with inputs A, B and output C. */
export function binaryOp<S extends AttrSchema>(spec: BinarySpec<S>): OpDef<S, false> {
  return defineOp<S, false>({
    name: spec.name,
    inputs: ['A', 'B'],
    outputs: ['C'],
    attrs: spec.attrs,
    category: 'broadcast',
    doc: spec.doc,
    infer([a, b], ctx) {
      expectDType(a!.dtype, spec.types, ctx.node, 'A');
      expectSameDType(a!, b!, ctx.node, spec.name);
      spec.check?.(a!, ctx.attrs, ctx.node);
      return [{ dtype: spec.out ?? a!.dtype, shape: broadcastShapes([a!.shape, b!.shape], ctx.node) }];
    },
    expr: ([a, b], attrs, out) => spec.expr(a!, b!, attrs, out),
    ...(spec.cpuOther ? { cpu: ([a, b]: readonly (Tensor | undefined)[], ctx: CpuContext<AttrsOf<S>>) => {
      const other = spec.cpuOther!(a!, b!, ctx.node);
      if (other) return [other];
      const e = spec.expr(E.input(0, a!.dtype), E.input(1, b!.dtype), ctx.attrs, ctx.outputs[0]!.dtype);
      return [mapBroadcast([a!, b!], ctx.outputs[0]!.dtype, compileExprJs(e), ctx.node)];
    } } : {}),
  });
}

/** A binary op that is one scalar function of its inputs. */
export function binaryFn(name: string, f: ScalarFn, types: readonly DType[], doc: string, out?: DType): OpDef<Record<string, never>, false> {
  return binaryOp({ name, doc, types, attrs: {}, ...(out ? { out } : {}), expr: (a, b, _s, o) => E.call(f, [a, b], o) });
}
