/**
 * Runs fuzz cases in worker threads so that a hang, a crash or runaway memory is
 * observed instead of taking the fuzzer down. One worker per file-size class is
 * reused for many cases; its V8 heap limit is derived from the class's file size,
 * and the process RSS is watched while a case runs (cap derived from the case's
 * file size). A worker that dies, exceeds a cap or runs past the time bound is
 * terminated, the case is recorded, and a fresh worker takes over.
 */
import { Worker } from 'node:worker_threads';
import { resourceUsage } from 'node:process';
import type { WorkerCase, WorkerResult } from './fuzz-check.js';

/** Outcome of one case as seen by the host. */
export type HostOutcome =
  | WorkerResult
  | { readonly id: number; readonly kind: 'crash' | 'hang'; readonly error: string; readonly ms: number };

const MiB = 1 << 20;

/** Memory cap (bytes of RSS growth during one case) for a file of `bytes` bytes. */
export function memoryCap(bytes: number): number {
  return 256 * MiB + 16 * bytes;
}

/** Size class (MiB, a power of two ≥ 1) of a file, which picks its worker. */
export function sizeClass(bytes: number): number {
  return 2 ** Math.max(0, Math.ceil(Math.log2(Math.max(1, bytes / MiB))));
}

/** V8 old-generation limit (MB) of the worker for a size class. */
export function heapLimitMb(classMiB: number): number {
  return 128 + 12 * classMiB;
}

function bootstrap(): string {
  const self = new URL('./fuzz-worker', import.meta.url).href;
  if (import.meta.url.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(`${self}.ts`)}); })`;
  }
  return `import(${JSON.stringify(`${self}.js`)})`;
}

/** One worker (restarted on demand) for one size class. */
export class WorkerHost {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  /** Number of times a worker was (re)started. */
  starts = 0;

  constructor(private readonly classMiB: number, private readonly baseDir: string) {}

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    this.starts++;
    const w = new Worker(bootstrap(), {
      eval: true,
      execArgv: [],
      workerData: { baseDir: this.baseDir },
      resourceLimits: { maxOldGenerationSizeMb: heapLimitMb(this.classMiB), maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    w.stdout.resume();
    w.stderr.resume();
    this.worker = w;
    this.ready = new Promise<void>((resolve, reject) => {
      const onMsg = (m: { ready?: boolean }) => {
        if (!m?.ready) return;
        w.off('message', onMsg);
        w.off('error', reject);
        resolve();
      };
      w.on('message', onMsg);
      w.once('error', reject);
    });
    return this.ready;
  }

  private kill(): void {
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    if (w) void w.terminate();
  }

  /** Runs one case with a time bound and a memory cap. */
  async run(c: WorkerCase, timeoutMs: number, capBytes: number): Promise<HostOutcome> {
    await this.start();
    const w = this.worker!;
    const t0 = performance.now();
    const rss0 = process.memoryUsage.rss();
    const peak0 = resourceUsage().maxRSS * 1024;
    return new Promise<HostOutcome>((resolve) => {
      let done = false;
      const finish = (o: HostOutcome, kill: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
        w.off('message', onMsg);
        w.off('error', onError);
        w.off('exit', onExit);
        if (kill) this.kill();
        resolve(o);
      };
      const ms = (): number => performance.now() - t0;
      let stage = 'start';
      const onMsg = (m: WorkerResult | { id: number; stage: string }): void => {
        if (m.id !== c.id) return;
        if ('stage' in m) {
          stage = m.stage;
          return;
        }
        const peak = resourceUsage().maxRSS * 1024;
        if (peak > peak0 && peak - rss0 > capBytes) {
          finish({ id: c.id, kind: 'crash', error: `memory: peak RSS grew by ${((peak - rss0) / MiB).toFixed(0)} MiB, cap ${(capBytes / MiB).toFixed(0)} MiB (result was ${m.kind})`, ms: ms() }, true);
        } else finish(m, false);
      };
      const onError = (e: Error): void => finish({ id: c.id, kind: 'crash', error: `worker died during ${stage}: ${e.name}: ${e.message} ${(e as { code?: string }).code ?? ''}`.trim(), ms: ms() }, true);
      const onExit = (code: number): void => finish({ id: c.id, kind: 'crash', error: `worker exited with code ${code} during ${stage}`, ms: ms() }, true);
      const timer = setTimeout(() => finish({ id: c.id, kind: 'hang', error: `no result within ${timeoutMs} ms (stuck in ${stage})`, ms: ms() }, true), timeoutMs);
      const poll = setInterval(() => {
        const grown = process.memoryUsage.rss() - rss0;
        if (grown > capBytes) finish({ id: c.id, kind: 'crash', error: `memory: RSS grew by ${(grown / MiB).toFixed(0)} MiB during ${stage}, cap ${(capBytes / MiB).toFixed(0)} MiB`, ms: ms() }, true);
      }, 20);
      w.on('message', onMsg);
      w.once('error', onError);
      w.once('exit', onExit);
      w.postMessage(c);
    });
  }

  /** Stops the worker. */
  close(): void {
    this.kill();
  }
}
