/**
 * The newest op families (quantization, signal, recurrent, sampling) as one list
 * of kernel tables for kernels/index.ts.
 */
import type { GpuKernel } from '../kernel.js';
import { quantizeKernels } from './quantize.js';
import { rnnKernels } from './rnn.js';
import { sampleKernels } from './sample.js';
import { signalKernels } from './signal.js';

/** Kernel tables of the quantize, signal, rnn and sample families, by op name. */
export const extraKernelTables: readonly Readonly<Record<string, GpuKernel>>[] = [quantizeKernels, signalKernels, rnnKernels, sampleKernels];
