/** Graph optimization: pass manager, pattern rewriter, cleanup and fusion passes, memory planning. */
export * from './pass-manager.js';
export * from './pipelines.js';
export * from './rewriter.js';
export * from './editor.js';
export * from './fold-constants.js';
export * from './cse.js';
export * from './simplify.js';
export * from './fold-batchnorm.js';
export * from './recognize.js';
export * from './fuse-elementwise.js';
export * from './fuse-epilogue.js';
export * from './fusion-util.js';
export { fusedExpr, fusedExprs } from '../graph/ops/fused.js';
export * from './structural.js';
export * from './exec-plan.js';
export * from './plan-reference.js';
export * from './stats.js';
export * from './dump.js';
