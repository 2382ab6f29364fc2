/**
 * One fuzz case, end to end, in the current thread: import the bytes, run the graph
 * on the CPU backend with random feeds (when it is small enough to run quickly) both
 * as imported and optimized at level 2, and check the outputs against the declared
 * types and against each other. The outcome is one of
 * - `ok` (ran, or imported when too large to run),
 * - `typed` (a KilnError; `wrapped` when it is a catch-all wrapper around a raw exception),
 * - `untyped` (any other exception: a bug),
 * - `mismatch` (ran, but the outputs are wrong or the two runs disagree: a bug).
 */
import { importModel } from '../onnx/import.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { memoryCap } from './fuzz-host.js';
import { isFloat, type DType } from '../src/graph/dtype.js';
import { KilnError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { Rng } from './fuzz-models.js';

/** A case as sent to the worker. */
export interface WorkerCase {
  readonly id: number;
  readonly caseSeed: number;
  readonly bytes: Uint8Array;
}

/** What the worker reports for a case. */
export interface WorkerResult {
  readonly id: number;
  readonly kind: 'ok' | 'typed' | 'untyped' | 'mismatch';
  /** For `ok`: whether the graph was run (false: imported only, too large to run quickly). */
  readonly ran?: boolean;
  readonly code?: string;
  readonly wrapped?: boolean;
  readonly error?: string;
  readonly stack?: string;
  readonly ms: number;
}

/** Largest estimated work (element operations) of a graph the fuzzer runs. */
const RUN_BUDGET = 2e7;

/** Ops whose work is output elements × the reduced length (input 1's size / output's last dim). */
const CONTRACTIONS: ReadonlySet<string> = new Set(['MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'MatMulInteger', 'ConvInteger', 'Einsum', 'FusedMatMul', 'Attention']);

function concrete(shape: readonly (number | string)[], dims: Map<string, number>): number[] {
  return shape.map((d) => (typeof d === 'number' ? d : dims.get(d) ?? 2));
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Rough work estimate of one run, with symbolic dims bound as in `dims` (unknown ones as 2). */
function estimateWork(g: Graph, dims: Map<string, number>): number {
  let work = 0;
  for (const n of g.nodes) {
    const outs = n.outputs.filter((o) => o !== '').map((o) => g.valueTypes.get(o)?.shape ?? []);
    const outElems = outs.reduce((a, s) => a + count(concrete(s, dims)), 0);
    const ins = n.inputs.map((v) => (v === '' ? 0 : count(concrete(g.initializers.get(v)?.shape ?? g.valueTypes.get(v)?.shape ?? g.inputs.find((i) => i.name === v)?.shape ?? [], dims))));
    work += outElems + ins.reduce((a, b) => a + b, 0);
    if (CONTRACTIONS.has(n.op)) {
      const last = outs[0]?.length ? concrete(outs[0], dims).at(-1)! : 1;
      work += outElems * Math.max(1, (ins[1] ?? 1) / Math.max(1, last));
    }
    if (!Number.isFinite(work) || work > RUN_BUDGET) return Infinity;
  }
  return work;
}

function randomFeeds(g: Graph, r: Rng): { feeds: Record<string, Tensor>; dims: Map<string, number> } {
  const dims = new Map<string, number>();
  for (const i of g.inputs) for (const d of i.shape) if (typeof d === 'string' && !dims.has(d)) dims.set(d, r.int(1, 3));
  const feeds: Record<string, Tensor> = {};
  for (const i of g.inputs) {
    const shape = concrete(i.shape, dims);
    const n = count(shape);
    const dt: DType = i.dtype;
    const vals = Array.from({ length: Math.min(n, 1 << 20) }, () => (dt === 'bool' ? r.int(0, 1) : isFloat(dt) ? r.next() * 4 - 2 : r.int(0, 3)));
    feeds[i.name] = n === vals.length ? Tensor.from(dt, shape, vals) : new Tensor(dt, shape);
  }
  return { feeds, dims };
}

function same(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
}

/** Checks outputs against the graph's declared outputs; returns a problem or undefined. */
function checkOutputs(g: Graph, out: Record<string, Tensor>, dims: Map<string, number>, label: string): string | undefined {
  for (const o of g.outputs) {
    const t = out[o.name];
    if (!t) return `${label}: output '${o.name}' missing`;
    if (t.dtype !== o.dtype) return `${label}: output '${o.name}' has dtype ${t.dtype}, declared ${o.dtype}`;
    if (t.shape.length !== o.shape.length) return `${label}: output '${o.name}' has rank ${t.shape.length}, declared ${o.shape.length}`;
    for (const [a, d] of o.shape.entries()) {
      const want = typeof d === 'number' ? d : dims.get(d);
      if (want !== undefined && t.shape[a] !== want) return `${label}: output '${o.name}' axis ${a} is ${t.shape[a]}, declared ${String(d)}=${want}`;
    }
    if (t.data.length !== count(t.shape)) return `${label}: output '${o.name}' holds ${t.data.length} elements for shape [${t.shape.join(',')}]`;
  }
  return undefined;
}

/** Wrapper messages that hide a raw exception inside a typed error. */
const WRAPPED = /malformed model \(|failed during type inference: |run failed: |Maximum call stack|Cannot read prop|is not a function|is not iterable|Invalid array length|Array buffer allocation|undefined/;

/** Runs one case (see the file comment); `baseDir` holds the external-data files. */
export function runCase(c: WorkerCase, baseDir: string, onStage: (stage: string) => void = () => {}): Omit<WorkerResult, 'id' | 'ms'> {
  let stage = 'import';
  const enter = (s: string): void => {
    stage = s;
    onStage(s);
  };
  onStage(stage);
  try {
    const g = importModel(c.bytes, { baseDir }, 'fuzz-model');
    const r = new Rng(c.caseSeed ^ 0x5bd1e995);
    const { feeds, dims } = randomFeeds(g, r);
    if (estimateWork(g, dims) > RUN_BUDGET) return { kind: 'ok', ran: false };
    enter('run O0');
    const budget = { maxTensorBytes: Math.floor(memoryCap(c.bytes.length) / 4) };
    const out0 = compileCpu(g, budget).run(feeds);
    const bad0 = checkOutputs(g, out0, dims, 'O0');
    if (bad0) return { kind: 'mismatch', error: bad0 };
    enter('optimize O2');
    const g2 = optimize(g, { level: 2 }).graph;
    enter('run O2');
    const out2 = compileCpu(g2, budget).run(feeds);
    const bad2 = checkOutputs(g, out2, dims, 'O2');
    if (bad2) return { kind: 'mismatch', error: bad2 };
    for (const o of g.outputs) {
      const a = out0[o.name]!;
      const b = out2[o.name]!;
      for (let i = 0; i < a.data.length; i++) {
        if (!same(b.data[i]!, a.data[i]!)) return { kind: 'mismatch', error: `output '${o.name}' element ${i}: O2 gives ${b.data[i]}, O0 gives ${a.data[i]}` };
      }
    }
    return { kind: 'ok', ran: true };
  } catch (e) {
    if (e instanceof KilnError) {
      if (stage === 'optimize O2' || stage === 'run O2') {
        return { kind: 'mismatch', code: e.code, error: `${stage} failed after import succeeded: ${e.name}: ${e.message.slice(0, 400)}` };
      }
      return { kind: 'typed', code: e.code, wrapped: WRAPPED.test(e.message), error: `[${stage}] ${e.name}: ${e.message.slice(0, 400)}` };
    }
    const err = e as Error;
    return {
      kind: 'untyped',
      error: `[${stage}] ${err?.name ?? typeof e}: ${String(err?.message ?? e).slice(0, 400)}`,
      stack: String(err?.stack ?? '').split('\n').slice(0, 10).join('\n'),
    };
  }
}

