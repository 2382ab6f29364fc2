/**
 * The heavy-kernel families (matmul/gemm, conv, pooling, reductions, softmax,
 * norms, resize, misc) as one list of kernel tables for kernels/index.ts, and the
 * Fused kinds they plan ('epilogue', 'attention'), registered on import.
 */
import type { GpuKernel } from '../kernel.js';
import { convKernels } from './conv.js';
import { einsumKernels } from './einsum.js';
import './attention.js';
import './epilogue.js';
import { matmulKernels } from './matmul.js';
import { miscKernels } from './misc.js';
import { normKernels } from './norm.js';
import { poolKernels } from './pool.js';
import { reduceKernels } from './reduce.js';
import { resizeKernels } from './resize.js';
import { softmaxKernels } from './softmax.js';

/** Kernel tables of the heavy families, by op name. */
export const heavyKernelTables: readonly Readonly<Record<string, GpuKernel>>[] = [matmulKernels, convKernels, reduceKernels, softmaxKernels, normKernels, poolKernels, miscKernels, einsumKernels, resizeKernels];
