/**
 * Registers every WebGPU kernel on its op handle (kernel.ts). Each family module
 * exports a {@link KernelTable} `{ OpName: GpuKernel }` keyed by the registry's op
 * names (a key that is not an op fails the type check); each entry is registered
 * on the handle `OPS[name]`. Ops with an `expr` and no explicit kernel get the
 * generic elementwise kernel. The Fused kinds 'epilogue' and 'attention' register
 * themselves with the Fused kernel on import. Registration is idempotent.
 */
import { allOps } from '../../../graph/op.js';
import { OPS } from '../../../graph/ops/index.js';
import { kernelOf, registerKernel, type GpuKernel, type KernelTable, type OpName } from '../kernel.js';
import './attention.js';
import { contribKernels } from './contrib.js';
import { optimizerKernels } from './optimizers.js';
import { mlKernels } from './ml.js';
import { convKernels } from './conv.js';
import { cumSumKernels } from './cumsum.js';
import { einsumKernels } from './einsum.js';
import { exprKernel } from './elementwise.js';
import './epilogue.js';
import { fusedKernel } from './fused.js';
import { gatherKernels } from './gather.js';
import { imageKernels } from './image.js';
import { matmulKernels } from './matmul.js';
import { movementKernels } from './movement.js';
import { normKernels } from './norm.js';
import { poolKernels } from './pool.js';
import { quantizeKernels } from './quantize.js';
import { randomKernels } from './random.js';
import { reduceKernels } from './reduce.js';
import { resizeKernels } from './resize.js';
import { rnnKernels } from './rnn.js';
import { sampleKernels } from './sample.js';
import { shapeKernels } from './shape.js';
import { signalKernels } from './signal.js';
import { softmaxKernels } from './softmax.js';
import { topKKernels } from './top-k.js';

/** Every family's kernel table. */
export const KERNEL_TABLES: readonly KernelTable[] = [
  shapeKernels, movementKernels, gatherKernels, { Fused: fusedKernel },
  matmulKernels, convKernels, reduceKernels, softmaxKernels, normKernels, poolKernels, cumSumKernels, topKKernels, einsumKernels, resizeKernels,
  quantizeKernels, signalKernels, rnnKernels, sampleKernels, imageKernels, randomKernels,
];

let done = false;

/** Registers all kernels (once). */
export function registerAllKernels(): void {
  if (done) return;
  done = true;
  for (const table of KERNEL_TABLES) {
    for (const [name, kernel] of Object.entries(table) as [OpName, GpuKernel][]) registerKernel(OPS[name], kernel);
  }
  for (const [op, kernel] of [...contribKernels, ...optimizerKernels, ...mlKernels]) registerKernel(op, kernel);
  for (const op of allOps()) {
    if (op.expr && !kernelOf(op)) registerKernel(op, exprKernel(op));
  }
}
