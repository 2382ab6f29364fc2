/**
 * File dumps of the graph before and after each pass, for the visualizer and for
 * debugging a pipeline: `<dir>/<NNN>-<stage>-<pass>.json` holds the graph structure
 * in Kiln's graph format (serialize.ts; the weights blob is not written), and
 * `<NNN>-<stage>-<pass>.dot` the caller's DOT rendering when a `dot` function is
 * given. NNN counts dumps in order, so a directory listing is the pipeline.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Graph } from '../graph/graph.js';
import { saveGraph } from '../graph/serialize.js';
import type { ExecutionPlan } from './exec-plan.js';
import type { Instrument } from './pass-manager.js';

/** Options of {@link fileDumpInstrument}. */
export interface FileDumpOptions {
  /** Renders a graph as DOT (the visualizer's function); no .dot files without it. */
  readonly dot?: (g: Graph) => string;
  /** Write JSON dumps (default true). */
  readonly json?: boolean;
}

/** An instrument that writes the graph before and after every pass into `dir`. */
export function fileDumpInstrument(dir: string, opts: FileDumpOptions = {}): Instrument {
  let count = 0;
  const write = (stage: string, pass: string, g: Graph): void => {
    mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `${String(count++).padStart(3, '0')}-${stage}-${pass.replace(/[^A-Za-z0-9_-]/g, '_')}`);
    if (opts.json !== false) writeFileSync(`${base}.json`, saveGraph(g).json);
    if (opts.dot) writeFileSync(`${base}.dot`, opts.dot(g));
  };
  return {
    name: 'file-dump',
    before: (p, g) => write('before', p.name, g),
    after: (p, g) => write('after', p.name, g),
  };
}

/** A memory plan as plain JSON data (maps become objects). */
export function memoryPlanJson(plan: ExecutionPlan): Record<string, unknown> {
  return {
    target: plan.target,
    steps: plan.steps.map((s) => ({ node: s.node.name, op: s.node.op, dispatches: s.dispatches, ...(s.writtenInto ? { writtenInto: true } : {}) })),
    buffers: plan.buffers,
    assignments: Object.fromEntries(plan.assignments),
    lifetimes: plan.lifetimes,
    aliases: Object.fromEntries(plan.aliases),
    inPlace: Object.fromEntries(plan.inPlace),
    views: Object.fromEntries(plan.views),
    peakBytes: plan.peakBytes,
    intermediateBytes: plan.intermediateBytes,
    dispatchCount: plan.dispatchCount,
    totalBytes: plan.totalBytes,
    maxLiveBytes: plan.maxLiveBytes,
  };
}
