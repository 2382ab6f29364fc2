/**
 * Dynamic batching and run serialization for one loaded model version. Requests wait
 * in a queue; a model whose inputs and outputs all lead with the same symbolic (batch)
 * dim has the queued requests that agree on the other dims concatenated along dim 0
 * (up to `maxBatch` rows, or whatever came within `timeoutMs` of the first), run once,
 * and its outputs split back per request. Every run of a session goes through one
 * lock (one run at a time per session; WebGPU sessions share the server's device lock).
 */
import { ExecutionError } from '../graph/errors.js';
import { Tensor } from '../graph/tensor.js';
import type { ValueMetadata } from '../session/inference-session.js';

/** What the batcher runs: a session's run, metadata and the lock it runs under. */
export interface BatchTarget {
  readonly inputs: readonly ValueMetadata[];
  readonly outputs: readonly ValueMetadata[];
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}

/** A promise chain that runs one task at a time. */
export class RunLock {
  private tail: Promise<unknown> = Promise.resolve();
  /** Runs `task` after every task queued before it. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Batching settings of one model. */
export interface BatchOptions {
  /** Most rows per run (1: no batching). */
  readonly maxBatch: number;
  /** How long the first queued request waits for others, in ms. */
  readonly timeoutMs: number;
}

/** Called after each run with the number of requests and rows it served. */
export type RunObserver = (requests: number, rows: number) => void;

interface Pending {
  readonly feeds: Record<string, Tensor>;
  readonly rows: number;
  readonly key: string;
  /** When it was queued (performance.now()). */
  readonly at: number;
  resolve(out: Record<string, Tensor>): void;
  reject(e: unknown): void;
}

/**
 * True when a model can be batched: it has inputs, and every input and output leads
 * with one and the same symbolic dim.
 */
export function batchable(inputs: readonly ValueMetadata[], outputs: readonly ValueMetadata[]): boolean {
  const lead = inputs[0]?.shape[0];
  if (typeof lead !== 'string') return false;
  return [...inputs, ...outputs].every((v) => v.shape.length >= 1 && v.shape[0] === lead && v.dtype !== 'string');
}

/** The tensors of several requests concatenated along dim 0 (same dtype and trailing dims). */
function concat(parts: readonly Tensor[]): Tensor {
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  const rows = parts.reduce((a, t) => a + t.shape[0]!, 0);
  const data = new (first.data.constructor as new (n: number) => typeof first.data)(parts.reduce((a, t) => a + t.size, 0));
  let at = 0;
  for (const t of parts) { data.set(t.data as never, at); at += t.size; }
  return new Tensor(first.dtype, [rows, ...first.shape.slice(1)], data);
}

/** Rows [from, from + n) of a tensor along dim 0: a view of its storage (no copy). */
function sliceRows(t: Tensor, from: number, n: number): Tensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return new Tensor(t.dtype, [n, ...t.shape.slice(1)], t.data.subarray(from * per, (from + n) * per));
}

/**
 * The queue of one model version. A batched model has at most one batch in flight:
 * requests that arrive while it runs queue up, and when it finishes the next batch is
 * taken at once from what queued meanwhile (so under load batches fill up to
 * `maxBatch` without waiting for the timer); an idle model starts a batch when
 * `maxBatch` rows are queued or `timeoutMs` after the oldest request arrived.
 */
export class Batcher {
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly canBatch: boolean;
  /** A batch is running (or waiting for the device lock). */
  private running = false;

  constructor(
    private readonly target: BatchTarget,
    private readonly lock: RunLock,
    private readonly opts: BatchOptions,
    private readonly onRun: RunObserver,
    private readonly onDepth: (depth: number) => void,
  ) {
    this.canBatch = opts.maxBatch > 1 && batchable(target.inputs, target.outputs);
  }

  /** True when this model's requests are batched. */
  get batching(): boolean { return this.canBatch; }

  /** Requests waiting (queued, not yet in a running batch). */
  get depth(): number { return this.queue.length; }

  /** Runs the feeds of one request (checked before) and returns its outputs. */
  infer(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (!this.canBatch) {
      return this.lock.run(async () => {
        const out = await this.target.run(feeds);
        this.onRun(1, 1);
        return out;
      });
    }
    const lead = this.target.inputs[0]!.name;
    const rows = feeds[lead]!.shape[0]!;
    const key = this.target.inputs.map((i) => `${feeds[i.name]!.dtype}:${feeds[i.name]!.shape.slice(1).join('x')}`).join('|');
    return new Promise((resolve, reject) => {
      this.queue.push({ feeds, rows, key, at: performance.now(), resolve, reject });
      this.onDepth(this.queue.length);
      this.schedule();
    });
  }

  /** Starts a batch now if the model is idle and one is due, else arms the timer of the oldest request. */
  private schedule(): void {
    if (this.running || !this.queue.length) return;
    const oldest = this.queue[0]!;
    const waited = performance.now() - oldest.at;
    let rows = 0;
    for (const p of this.queue) if (p.key === oldest.key) rows += p.rows;
    if (rows >= this.opts.maxBatch || waited >= this.opts.timeoutMs) { this.start(); return; }
    if (!this.timer) this.timer = setTimeout(() => { this.timer = undefined; this.schedule(); }, this.opts.timeoutMs - waited);
  }

  /** Takes the queued requests that batch with the oldest (up to maxBatch rows) and runs them once. */
  private start(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    const key = this.queue[0]!.key;
    const group: Pending[] = [];
    const rest: Pending[] = [];
    let rows = 0;
    for (const p of this.queue) {
      if (p.key === key && (group.length === 0 || rows + p.rows <= this.opts.maxBatch)) { group.push(p); rows += p.rows; } else rest.push(p);
    }
    this.queue.length = 0;
    this.queue.push(...rest);
    this.onDepth(this.queue.length);
    this.running = true;
    void this.lock.run(() => this.runGroup(group, rows)).finally(() => {
      this.running = false;
      this.schedule();
    });
  }

  /** Runs one batch and settles each request with its rows of the outputs. */
  private async runGroup(group: readonly Pending[], rows: number): Promise<void> {
    try {
      const feeds: Record<string, Tensor> = {};
      for (const i of this.target.inputs) feeds[i.name] = concat(group.map((p) => p.feeds[i.name]!));
      const out = await this.target.run(feeds);
      this.onRun(group.length, rows);
      for (const [name, t] of Object.entries(out)) {
        if (t.shape[0] !== rows) throw new ExecutionError(`batched run: output '${name}' has ${t.shape[0]} rows, expected ${rows}`, name);
      }
      let from = 0;
      for (const p of group) {
        const mine: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(out)) mine[name] = group.length === 1 ? t : sliceRows(t, from, p.rows);
        from += p.rows;
        p.resolve(mine);
      }
    } catch (e) {
      for (const p of group) p.reject(e);
    }
  }
}
