/** Helpers shared by the contrib op files (contrib.ts, contrib-norm.ts). */
import { ShapeError } from '../errors.js';
import type { InferInput } from '../op.js';
import { formatShape } from '../shape.js';

/** The ONNX Runtime contrib domain. */
export const MS_DOMAIN = 'com.microsoft';

/** Throws a ShapeError naming the node unless `b` is 1-D with the last dim of `x`. */
export function expectLastDimVector(x: InferInput, b: InferInput, node: string, what: string): void {
  const c = x.shape[x.shape.length - 1];
  const ok = b.shape.length === 1 && (typeof b.shape[0] !== 'number' || typeof c !== 'number' || b.shape[0] === c);
  if (!ok || x.shape.length === 0) {
    throw new ShapeError(`${node}: ${what} must be 1-D with the last dim of the input ${formatShape(x.shape)}, got ${formatShape(b.shape)}`, node);
  }
}
