/** The graph layer: IR, op registry, builder, reference semantics. */
export * from './attrs.js';
export * from './builder.js';
export * from './dtype.js';
export * from './errors.js';
export * from './expr.js';
export * from './feeds.js';
export * from './graph.js';
export * from './infer.js';
export * from './op.js';
export { OPS } from './ops/index.js';
export * from './reference.js';
export * from './shape.js';
export * from './tensor.js';
export * from './topo.js';
export * from './type-env.js';
export * from './verify.js';
export * from './bind-dims.js';
