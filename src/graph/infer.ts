/**
 * Inference of one node's output types, shared by the builder, verify(), the CPU
 * backend and the passes: resolves attributes, checks arity, calls the op's `infer`,
 * and validates the dims it returns.
 */
import { resolveAttrs } from './attrs.js';
import { DTypeError, GraphError, UnsupportedOpError } from './errors.js';
import { formatType, isTensorType } from './value.js';
import type { Node } from './graph.js';
import { findOp, type InferInput, type OpContext, type OpDef, type ValueType } from './op.js';
import { checkDims } from './shape.js';
import { stringProxyOutputs, stringProxyTypes } from './string-movement.js';

/** Finds a node's op or throws UnsupportedOpError. */
export function opOf(node: Pick<Node, 'op' | 'domain' | 'name'>): OpDef {
  const def = findOp(node.op, node.domain);
  if (!def) throw new UnsupportedOpError([{ op: node.domain ? `${node.domain}::${node.op}` : node.op, nodes: [node.name] }]);
  return def;
}

/** Builds the context an op's infer/cpu functions receive. */
export function opContext(def: OpDef, node: Pick<Node, 'name' | 'attrs' | 'outputs'>): OpContext<Record<string, unknown>> {
  const attrs = resolveAttrs(def.attrs, node.attrs, node.name, def.name) as Record<string, unknown>;
  return { node: node.name, attrs, fresh: (tag) => `${node.name}#${tag}`, numOutputs: node.outputs.length };
}

/** Checks the number of inputs against the op signature. */
export function checkArity(def: OpDef, node: Pick<Node, 'name' | 'inputs' | 'outputs'>): void {
  const sig = def.inputSig;
  const variadic = sig.length > 0 && sig[sig.length - 1]!.variadic;
  if (!variadic && node.inputs.length > sig.length) {
    throw new GraphError(`${node.name}: ${def.name} takes at most ${sig.length} inputs, got ${node.inputs.length}`, node.name);
  }
  sig.forEach((p, i) => {
    if (p.variadic) {
      if (!p.optional && node.inputs.length <= i) {
        throw new GraphError(`${node.name}: ${def.name} needs at least one '${p.name}' input`, node.name);
      }
      return;
    }
    if (!p.optional && (node.inputs[i] === undefined || node.inputs[i] === '')) {
      throw new GraphError(`${node.name}: ${def.name} is missing required input '${p.name}' (#${i})`, node.name);
    }
  });
  const osig = def.outputSig;
  const ovariadic = osig.length > 0 && osig[osig.length - 1]!.variadic;
  if (!ovariadic && node.outputs.length > osig.length) {
    throw new GraphError(`${node.name}: ${def.name} has at most ${osig.length} outputs, node declares ${node.outputs.length}`, node.name);
  }
}

/**
 * Infers the types of a node's outputs from its inputs' types (and constant values
 * where known). Returns one type per declared node output.
 */
export function inferNode(node: Node, inputs: readonly (InferInput | undefined)[]): ValueType[] {
  const def = opOf(node);
  checkArity(def, node);
  const ctx = opContext(def, node);
  if (!def.run) {
    const k = inputs.findIndex((t) => t !== undefined && !isTensorType(t));
    if (k >= 0) throw new DTypeError(`${node.name}: ${def.name} takes tensors, but input #${k} '${node.inputs[k]}' is ${formatType(inputs[k]!)}`, node.name);
  }
  const proxy = stringProxyTypes(def, inputs, node.name);
  const out = proxy ? stringProxyOutputs(def.infer(proxy, ctx)) : def.infer(inputs, ctx);
  if (out.length < node.outputs.filter((o) => o !== '').length) {
    throw new GraphError(`${node.name}: ${def.name} produced ${out.length} outputs, node declares ${node.outputs.length}`, node.name);
  }
  for (const t of out) checkDims(t.shape, node.name);
  return out.slice(0, Math.max(node.outputs.length, 1));
}
