/**
 * Registers every WebGPU kernel on its op handle (kernel.ts). Each family module
 * exports a table `{ OpName: GpuKernel }`; ops with an `expr` and no explicit
 * kernel get the generic elementwise kernel. Registration is idempotent and runs
 * after the op registry is loaded. Families added later (matmul, conv, pool,
 * reduce, softmax, norm, resize, misc) append their table to {@link KERNEL_TABLES}.
 */
import { allOps, findOp } from '../../../graph/op.js';
import '../../../graph/ops/index.js';
import { kernelOf, registerKernel, type GpuKernel } from '../kernel.js';
import { exprKernel } from './elementwise.js';
import { extraKernelTables } from './extra.js';
import { fusedKernel } from './fused.js';
import { gatherKernels } from './gather.js';
import { heavyKernelTables } from './heavy.js';
import { movementKernels } from './movement.js';
import { shapeKernels } from './shape.js';

/** Every family's kernel table. */
export const KERNEL_TABLES: Readonly<Record<string, GpuKernel>>[] = [shapeKernels, movementKernels, gatherKernels, { Fused: fusedKernel }, ...heavyKernelTables, ...extraKernelTables];

let done = false;

/** Registers all kernels (once). */
export function registerAllKernels(): void {
  if (done) return;
  done = true;
  for (const table of KERNEL_TABLES) {
    for (const [name, kernel] of Object.entries(table)) {
      const op = findOp(name);
      if (op) registerKernel(op, kernel);
    }
  }
  for (const op of allOps()) {
    if (op.expr && !kernelOf(op)) registerKernel(op, exprKernel(op));
  }
}
