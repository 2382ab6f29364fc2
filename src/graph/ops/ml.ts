/**
 * Op family: the ONNX-ML (ai.onnx.ml) models and feature transforms other than the
 * tree ensembles (src/graph/ops/ml-tree.ts).
 */
/** The non-tree ONNX-ML ops (by name). */
export const mlOps = {} as const;
