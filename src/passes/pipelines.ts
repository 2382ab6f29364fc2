/**
 * The standard pipelines. O1 (cleanup) repeats constant and shape folding,
 * simplification, BatchNorm folding and CSE until nothing changes. O2 adds
 * recognition of GELU / LayerNorm / attention, then epilogue and elementwise
 * fusion, then a last DCE. QDQ Conv/MatMul/Gemm become integer kernels first
 * (fuse-qdq.ts, before folding), the other Q/DQ elementwise ops after the precision
 * pass. Epilogues are fused before elementwise groups so a
 * bias-activation chain joins its MatMul/Conv instead of forming its own kernel.
 */
import type { Graph } from '../graph/graph.js';
import { csePass, dcePass } from './cse.js';
import { foldBatchNormPass } from './fold-batchnorm.js';
import { foldConstantsPass } from './fold-constants.js';
import { foldIfPass } from './fold-if.js';
import { qdqElementwisePass, qdqPass } from './fuse-qdq.js';
import { fuseElementwisePass } from './fuse-elementwise.js';
import { fuseEpiloguePass } from './fuse-epilogue.js';
import { makeContext, runPipeline, sequential, untilFixed, type OptimizeReport, type Pass, type PassOptions } from './pass-manager.js';
import { attentionPass, recognizePass } from './recognize.js';
import { simplifyPass } from './simplify.js';

/** The O1 cleanup passes, repeated to a fixed point. */
export function cleanupPipeline(): Pass {
  return untilFixed(sequential('cleanup', [foldConstantsPass(), foldIfPass, simplifyPass, foldBatchNormPass, csePass, dcePass], 1));
}

/** Passes that a caller adds to the standard pipeline at their fixed places. */
export interface ExtraPasses {
  /**
   * A precision pass (mixed-precision.ts): it runs after the recognition of GELU and
   * LayerNorm (whose kernels keep f32 statistics) and before attention recognition and
   * fusion (which then see float16 chains and absorb the casts); at every level.
   */
  readonly precision?: Pass;
}

/** Every pass of the O2 pipeline, in order (each pass declares its own level). */
export function defaultPasses(extra: ExtraPasses = {}): Pass[] {
  const precision = extra.precision ? [{ ...extra.precision, level: 0 as const }] : [];
  return [qdqPass, cleanupPipeline(), recognizePass, ...precision, qdqElementwisePass, attentionPass, cleanupPipeline(), fuseEpiloguePass, fuseElementwisePass, dcePass];
}

/** Optimizes a graph at a level (default O2); returns the new graph and a report of every pass. */
export function optimize(graph: Graph, options: PassOptions = {}, extra: ExtraPasses = {}): { graph: Graph; report: OptimizeReport } {
  if (extra.precision && options.level === 0) {
    // Level 0 runs no optimization, but a requested precision conversion still applies.
    return runPipeline(extra.precision.run(graph, makeContext(options)), [], options);
  }
  return runPipeline(graph, defaultPasses(extra), options);
}
