/**
 * Typed errors. Every error Kiln throws on bad input is a {@link KilnError}
 * subclass with a stable `code`, and its message names the node, input or file
 * concerned.
 */

/** Base class of every error Kiln raises on purpose. */
export class KilnError extends Error {
  /** Stable machine-readable code, e.g. `SHAPE_MISMATCH`. */
  readonly code: string;
  /** Name of the node, input or value the error is about, when there is one. */
  readonly where: string | undefined;
  constructor(code: string, message: string, where?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.where = where;
  }
}

/** The graph is malformed: cycle, dangling reference, duplicate name, stale type. */
export class GraphError extends KilnError {
  constructor(message: string, where?: string) { super('GRAPH_INVALID', message, where); }
}

/** Shapes do not fit together (broadcasting, rank, matmul inner dims...). */
export class ShapeError extends KilnError {
  constructor(message: string, where?: string) { super('SHAPE_MISMATCH', message, where); }
}

/**
 * A value's rank depends on the sizes of the graph inputs (an If whose branches give
 * different ranks, chosen by a condition on a symbolic dim). Kiln's types have static
 * ranks, so such a model is typed anew for each set of input sizes (the session does
 * this by itself); importing it with its symbolic dims unbound raises this error.
 */
export class DynamicRankError extends KilnError {
  constructor(message: string, where?: string) { super('DYNAMIC_RANK', message, where); }
}

/** An input has a dtype the op does not accept. */
export class DTypeError extends KilnError {
  constructor(message: string, where?: string) { super('DTYPE_MISMATCH', message, where); }
}

/** An attribute is unknown, missing, or has a bad value. */
export class AttributeError extends KilnError {
  constructor(message: string, where?: string) { super('BAD_ATTRIBUTE', message, where); }
}

/** One or more ops are not supported; `ops` lists every one found. */
export class UnsupportedOpError extends KilnError {
  /** Every unsupported op, with the nodes that use it. */
  readonly ops: { op: string; nodes: string[] }[];
  constructor(ops: { op: string; nodes: string[] }[], detail?: string) {
    const list = ops.map((o) => `${o.op} (${o.nodes.slice(0, 5).join(', ')}${o.nodes.length > 5 ? ', ...' : ''})`).join('; ');
    super('UNSUPPORTED_OP', `unsupported op${ops.length === 1 ? '' : 's'}: ${list}${detail ? ` — ${detail}` : ''}`);
    this.ops = ops;
  }
}

/** A model file could not be parsed or violates the format. */
export class ModelFormatError extends KilnError {
  constructor(message: string, where?: string) { super('BAD_MODEL', message, where); }
}

/** Feeds passed to run() are missing, extra, or have the wrong dtype/shape. */
export class InputError extends KilnError {
  constructor(message: string, where?: string) { super('BAD_INPUT', message, where); }
}

/** A size or device limit would be exceeded. */
export class LimitError extends KilnError {
  constructor(message: string, where?: string) { super('LIMIT_EXCEEDED', message, where); }
}

/** The GPU device was lost. */
export class DeviceLostError extends KilnError {
  constructor(message: string) { super('DEVICE_LOST', message); }
}

/** A failure at run time inside a kernel (reported with the node). */
export class ExecutionError extends KilnError {
  constructor(message: string, where?: string) { super('EXECUTION_FAILED', message, where); }
}
