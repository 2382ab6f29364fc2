/**
 * Symbolic autodiff, as a pass-level entry point: `gradients(graph, loss, wrt)` returns
 * the forward + backward graph. The transformation lives in src/graph/autodiff.ts (so
 * that ONNX import can use it too); see docs/AUTODIFF.md.
 */
export { gradients, expandGradientNodes, type GradientsOptions, type GradientsResult, type ValueRef } from '../graph/autodiff.js';
