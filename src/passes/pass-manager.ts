/**
 * The pass manager. A pass is a named function Graph → Graph; a pipeline is a list
 * of passes chosen by optimisation level (O0: none, O1: cleanup, O2: cleanup,
 * recognition, fusion, cleanup). A {@link PassContext} carries the options and the
 * instruments, which are called before and after every pass (TVM's PassInstrument):
 * timing, verification after each pass in debug mode, and dumps for the visualizer.
 *
 * Invariants: passes never mutate their input graph; each returns the input itself
 * when it changed nothing; in debug mode every intermediate graph passes verify().
 */
import type { Graph } from '../graph/graph.js';
import { bodiesOf } from '../graph/ops/control.js';
import { verify } from '../graph/verify.js';
import { KilnError } from '../graph/errors.js';

/** Optimisation level. */
export type OptLevel = 0 | 1 | 2;

/** Options of one optimize() call. */
export interface PassOptions {
  /** 0: nothing, 1: cleanup, 2: everything (default 2). */
  readonly level?: OptLevel;
  /** Verify the graph after each pass and name the pass that broke it. */
  readonly debug?: boolean;
  /** Extra instruments (dumps, logging). */
  readonly instruments?: readonly Instrument[];
  /** Called with the graph before and after each pass (the visualizer writes DOT/JSON from it). */
  readonly dump?: (stage: 'before' | 'after', passName: string, graph: Graph) => void;
  /** Passes to skip by name. */
  readonly disabled?: readonly string[];
  /** Largest number of elements constant folding may create for one value (default 65536). */
  readonly foldLimit?: number;
}

/** A hook run around each pass. */
export interface Instrument {
  /** Name, for messages. */
  readonly name: string;
  /** Called with the graph a pass is about to transform. */
  before?(pass: Pass, graph: Graph, ctx: PassContext): void;
  /** Called with the graph a pass returned. */
  after?(pass: Pass, graph: Graph, ctx: PassContext): void;
}

/** What a pass sees besides the graph. */
export interface PassContext {
  /** The options optimize() was called with. */
  readonly options: PassOptions;
  /** The effective level. */
  readonly level: OptLevel;
  /** Instruments run around every pass, in order. */
  readonly instruments: readonly Instrument[];
}

/** A named graph transformation. */
export interface Pass {
  /** Unique name (reports, dumps, `disabled`). */
  readonly name: string;
  /** Lowest level at which the pass runs when it appears in a pipeline (default 1). */
  readonly level?: OptLevel;
  /** Transforms the graph; returns the input itself when nothing changed. */
  run(graph: Graph, ctx: PassContext): Graph;
  /** True for passes that only run other passes (the subgraph recursion happens in those). */
  readonly composite?: boolean;
}

/** One pass's line in the report. */
export interface PassRecord {
  /** Pass name. */
  readonly name: string;
  /** Wall time in milliseconds (nested pipelines include their passes). */
  readonly ms: number;
  /** Node count before and after the pass. */
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  /** Whether the pass returned a new graph. */
  readonly changed: boolean;
}

/** What optimize() returns besides the graph. */
export interface OptimizeReport {
  /** The level that ran. */
  readonly level: OptLevel;
  /** One record per pass run, in completion order. */
  readonly passes: PassRecord[];
  /** Node counts of the input and the result. */
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  /** Wall time of the whole pipeline in milliseconds. */
  readonly totalMs: number;
}

/** Raised in debug mode when a pass leaves an invalid graph. */
export class PassError extends KilnError {
  constructor(message: string, where?: string) { super('PASS_FAILED', message, where); }
}

/** Instrument: records wall time and node counts per pass. */
export function timingInstrument(records: PassRecord[]): Instrument {
  const starts: { t: number; n: number; g: Graph }[] = [];
  return {
    name: 'timing',
    before(_p, g) { starts.push({ t: performance.now(), n: g.nodes.length, g }); },
    after(p, g) {
      const s = starts.pop()!;
      records.push({ name: p.name, ms: performance.now() - s.t, nodesBefore: s.n, nodesAfter: g.nodes.length, changed: g !== s.g });
    },
  };
}

/** Instrument: verify() after each pass; the error names the pass. */
export const verifyInstrument: Instrument = {
  name: 'verify',
  after(p, g) {
    try {
      verify(g);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new PassError(`after pass '${p.name}': ${msg}`, e instanceof KilnError ? e.where : undefined);
    }
  },
};

/** Instrument: calls `dump(stage, passName, graph)` before and after each pass. */
export function dumpInstrument(dump: NonNullable<PassOptions['dump']>): Instrument {
  return {
    name: 'dump',
    before(p, g) { dump('before', p.name, g); },
    after(p, g) { dump('after', p.name, g); },
  };
}

/** Runs passes in order under the context's instruments. */
export function runPasses(g: Graph, passes: readonly Pass[], ctx: PassContext): Graph {
  let cur = g;
  const skip = new Set(ctx.options.disabled ?? []);
  for (const p of passes) {
    if (skip.has(p.name) || (p.level ?? 1) > ctx.level) continue;
    for (const i of ctx.instruments) i.before?.(p, cur, ctx);
    cur = p.run(cur, ctx);
    if (!p.composite) cur = runOnBodies(cur, p, ctx);
    for (const i of ctx.instruments) i.after?.(p, cur, ctx);
  }
  return cur;
}

/**
 * Applies `pass` to the bodies of every control-flow node of `g` (If branches, Loop
 * and Scan bodies), innermost first; returns `g` itself when no body changed. A body's
 * captures and outputs are its interface, so folding, DCE and CSE keep them.
 */
export function runOnBodies(g: Graph, pass: Pass, ctx: PassContext): Graph {
  let changed = false;
  const nodes = g.nodes.map((n) => {
    let attrs = n.attrs;
    for (const { attr, graph } of bodiesOf(n)) {
      const next = pass.run(runOnBodies(graph, pass, ctx), ctx);
      if (next !== graph) attrs = { ...attrs, [attr]: next };
    }
    if (attrs === n.attrs) return n;
    changed = true;
    return { ...n, attrs };
  });
  return changed ? g.with({ nodes }) : g;
}

/** A pass that runs a list of passes (a sequential pipeline). */
export function sequential(name: string, passes: readonly Pass[], level: OptLevel = 1): Pass {
  return { name, level, composite: true, run: (g, ctx) => runPasses(g, passes, ctx) };
}

/** A pass that repeats `pass` until it returns its input unchanged (at most `max` times). */
export function untilFixed(pass: Pass, max = 8): Pass {
  return {
    name: pass.name,
    ...(pass.level !== undefined ? { level: pass.level } : {}),
    ...(pass.composite ? { composite: true } : {}),
    run(g, ctx) {
      let cur = g;
      for (let i = 0; i < max; i++) {
        const next = pass.run(cur, ctx);
        if (next === cur) return cur;
        cur = next;
      }
      return cur;
    },
  };
}

/** Builds the context for a set of options. */
export function makeContext(options: PassOptions, records: PassRecord[] = []): PassContext {
  const level = options.level ?? 2;
  const instruments: Instrument[] = [timingInstrument(records)];
  if (options.dump) instruments.push(dumpInstrument(options.dump));
  if (options.debug) instruments.push(verifyInstrument);
  instruments.push(...(options.instruments ?? []));
  return { options, level, instruments };
}

/** Runs a pipeline with the options' level and instruments; returns the graph and a report. */
export function runPipeline(g: Graph, passes: readonly Pass[], options: PassOptions = {}): { graph: Graph; report: OptimizeReport } {
  const records: PassRecord[] = [];
  const ctx = makeContext(options, records);
  const t0 = performance.now();
  const graph = ctx.level === 0 ? g : runPasses(g, passes, ctx);
  return {
    graph,
    report: { level: ctx.level, passes: records, nodesBefore: g.nodes.length, nodesAfter: graph.nodes.length, totalMs: performance.now() - t0 },
  };
}
