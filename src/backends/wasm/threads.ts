/**
 * Threads for the wasm backend: one pool of workers per JS thread (Node:
 * `worker_threads`; the browser: Web Workers, only when the page is cross-origin
 * isolated), each holding instances of the programs' modules on their shared
 * `WebAssembly.Memory`. A step that splits its work (kernel.ts: `ctx.split` at plan
 * time, `rt.parallel` at run time) becomes one job of independent tasks, each a short
 * list of calls of exported functions with i32/f32 arguments, written into a shared
 * control block. Workers and the calling thread take tasks off one counter until none
 * is left (so a thread that starts late, or shares its core, just takes fewer); the
 * calling thread then waits for the tasks others took: Atomics.wait where it may block
 * (Node, any worker), else a spin on Atomics.load — the browser's main thread cannot
 * block, and the program's run is synchronous (reference ops and kernels interleave
 * JS and wasm), so as in Emscripten's pthreads the main thread spins, over only the
 * tail of the job, since it works through its own share first.
 *
 * Protocol (the control block's words, below): a job bumps GEN after writing its tasks;
 * NEXT holds (GEN mod 2^16) << 16 | next task index, so a thread that read an older
 * GEN can never take a task of a newer job (compare-exchange on NEXT checks both);
 * DONE counts finished tasks. Messages to a worker (a module to instantiate, one to
 * drop) are posted and then counted in its MAILS slot: a worker waiting for jobs
 * returns to its event loop when its count is behind, handles them, acknowledges in
 * ACK, and waits again. Every event bumps WAKE, the word workers wait on. A task that
 * throws (a trap) records its message and still counts as done, so the job ends and
 * the caller throws an ExecutionError; no worker error can hang a run.
 *
 * The worker's code is a string (below): it needs no file, so it runs the same from
 * the sources (tsx), the compiled build and a browser bundle (a Blob URL).
 */
import { ExecutionError } from '../../graph/errors.js';

/** Most threads (the calling one included) a program may use. */
export const MAX_THREADS = 64;
const MAX_WORKERS = MAX_THREADS - 1;
/** Most tasks per job. */
export const MAX_TASKS = 256;
/** Words of task descriptions per job. */
const TASK_WORDS = 1 << 15;
const MSG_LEN = 256;

// Control block words.
const GEN = 0, NEXT = 1, DONE = 2, NTASKS = 3, MODULE = 4, ERR = 5, LIMIT = 6, WAKE = 7, SPIN_US = 8;
const ACK = 16;
const MAILS = ACK + MAX_WORKERS;
const STAT = MAILS + MAX_WORKERS;
const MSG = STAT + MAX_WORKERS;
const OFFS = MSG + MSG_LEN;
const TASKS = OFFS + MAX_TASKS;
const WORDS = TASKS + TASK_WORDS;

/** How long workers spin for the next job before they sleep (µs). */
const WORKER_SPIN_US = 200;
/** A job with no task finished for this long means a lost worker (ms). */
const WATCHDOG_MS = 60_000;
/** How long a thread that may block waits for workers to take a new module (ms). */
const ACK_WAIT_MS = 5_000;

/** The worker's code, after a header that wires `onMessage` to its message port. */
const WORKER_BODY = `
const GEN = ${GEN}, NEXT = ${NEXT}, DONE = ${DONE}, NTASKS = ${NTASKS}, MODULE = ${MODULE}, ERR = ${ERR}, LIMIT = ${LIMIT}, WAKE = ${WAKE}, SPIN_US = ${SPIN_US};
const ACK = ${ACK}, MAILS = ${MAILS}, STAT = ${STAT}, MSG = ${MSG}, MSG_LEN = ${MSG_LEN}, OFFS = ${OFFS};
let ctrl, f32v, id = -1, handled = 0, lastGen = 0;
const mods = new Map();
const args = [];
function fail(e) {
  if (Atomics.compareExchange(ctrl, ERR, 0, id + 2) !== 0) return;
  const s = String((e && e.message) || e).slice(0, MSG_LEN - 1);
  for (let k = 0; k < s.length; k++) ctrl[MSG + k] = s.charCodeAt(k);
  ctrl[MSG + s.length] = 0;
}
function runTask(fns, i) {
  let o = ctrl[OFFS + i];
  const calls = ctrl[o++];
  try {
    for (let c = 0; c < calls; c++) {
      const fn = fns[ctrl[o]], na = ctrl[o + 1], fm = ctrl[o + 2];
      o += 3;
      args.length = na;
      for (let a = 0; a < na; a++) args[a] = (fm >>> a) & 1 ? f32v[o + a] : ctrl[o + a];
      fn.apply(null, args);
      o += na;
    }
  } catch (e) { fail(e); }
}
function work(g) {
  if (id >= Atomics.load(ctrl, LIMIT)) return;
  for (;;) {
    const v = Atomics.load(ctrl, NEXT);
    if ((v >>> 16) !== (g & 0xffff)) return;
    const i = v & 0xffff, n = Atomics.load(ctrl, NTASKS);
    if (i >= n) return;
    const fns = mods.get(Atomics.load(ctrl, MODULE));
    if (!fns) return;
    if (Atomics.compareExchange(ctrl, NEXT, v, v + 1) !== v) continue;
    runTask(fns, i);
    Atomics.add(ctrl, STAT + id, 1);
    if (Atomics.add(ctrl, DONE, 1) + 1 === n) Atomics.notify(ctrl, DONE);
  }
}
function loop() {
  for (;;) {
    const w = Atomics.load(ctrl, WAKE);
    if (Atomics.load(ctrl, MAILS + id) !== handled) return;
    const g = Atomics.load(ctrl, GEN);
    if (g !== lastGen) { lastGen = g; work(g); continue; }
    const until = performance.now() + Atomics.load(ctrl, SPIN_US) / 1000;
    let woke = false;
    for (let k = 1; ; k++) {
      if (Atomics.load(ctrl, WAKE) !== w) { woke = true; break; }
      if ((k & 1023) === 0 && performance.now() > until) break;
    }
    if (!woke) Atomics.wait(ctrl, WAKE, w);
  }
}
function onMessage(m) {
  try {
    if (m.type === 'init') {
      ctrl = new Int32Array(m.ctrl);
      f32v = new Float32Array(m.ctrl);
      id = m.id;
      lastGen = Atomics.load(ctrl, GEN);
    } else if (m.type === 'module') {
      const inst = new WebAssembly.Instance(m.module, { env: { memory: m.memory } });
      mods.set(m.mid, m.names.map((n) => inst.exports[n]));
    } else if (m.type === 'drop') {
      mods.delete(m.mid);
    }
  } catch (e) { fail(e); }
  handled++;
  Atomics.store(ctrl, ACK + id, handled);
  Atomics.notify(ctrl, ACK + id);
  loop();
}
`;

const NODE_HEADER = "const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => onMessage(m));\n";
const WEB_HEADER = 'self.onmessage = (e) => onMessage(e.data);\n';

/** What a pool needs of a worker, in Node or the browser. */
interface AnyWorker {
  postMessage(m: unknown): void;
  terminate(): unknown;
}

/** One call of an exported function: its name and arguments (i32 or f32 as the function's parameters say). */
export type WasmCall = readonly [name: string, ...args: number[]];

/** An exported function as the pool calls it: its index in the module's name list and which arguments are f32 (bit k: argument k). */
export interface PoolFn {
  readonly index: number;
  readonly f32Mask: number;
  readonly fn: (...args: number[]) => void;
}

/** A module instantiated on the workers. */
interface PoolModule {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly names: readonly string[];
}

/** What the environment offers for threads. */
interface Host {
  /** Starts a worker running `WORKER_BODY` (null when it cannot). */
  spawn(): AnyWorker | null;
  /** True when this thread may block in Atomics.wait. */
  readonly canBlock: boolean;
  /** Logical cores. */
  readonly cores: number;
}

/** The Node or browser host for threads, or the reason there is none. */
function detectHost(): Host | string {
  const g = globalThis as {
    process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown };
    navigator?: { hardwareConcurrency?: number };
    crossOriginIsolated?: boolean;
    Worker?: new (url: string) => AnyWorker;
    Blob?: typeof Blob;
    URL?: typeof URL;
  };
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return 'this JS engine has no SharedArrayBuffer';
  if (g.process?.versions?.node) {
    const get = g.process.getBuiltinModule;
    if (typeof get !== 'function') return 'this Node has no process.getBuiltinModule (Node ≥ 20.16 runs wasm threads)';
    const wt = get('node:worker_threads') as { Worker: new (code: string, o: { eval: true }) => AnyWorker & { unref(): void; on(ev: string, f: (e: unknown) => void): void } };
    const os = get('node:os') as { availableParallelism?: () => number; cpus(): unknown[] };
    return {
      spawn: () => {
        const w = new wt.Worker(NODE_HEADER + WORKER_BODY, { eval: true });
        w.unref();
        return w;
      },
      canBlock: true,
      cores: os.availableParallelism?.() ?? os.cpus().length,
    };
  }
  if (!g.crossOriginIsolated) return 'the page is not cross-origin isolated (SharedArrayBuffer needs the COOP/COEP headers)';
  if (!g.Worker || !g.Blob || !g.URL) return 'this environment has no Web Workers';
  const url = g.URL.createObjectURL(new g.Blob([WEB_HEADER + WORKER_BODY], { type: 'text/javascript' }));
  const WorkerCtor = g.Worker;
  return {
    spawn: () => { try { return new WorkerCtor(url); } catch { return null; } },
    canBlock: canBlockHere(),
    cores: g.navigator?.hardwareConcurrency ?? 1,
  };
}

/** True when this thread may call Atomics.wait (not a browser's main thread). */
function canBlockHere(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

let host: Host | string | undefined;
function getHost(): Host | string {
  return (host ??= detectHost());
}

/** Logical cores of this machine (os.availableParallelism in Node, navigator.hardwareConcurrency in a browser; 1 if unknown). */
export function hardwareThreads(): number {
  const h = getHost();
  if (typeof h !== 'string') return h.cores;
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? n : 1;
}

/** Why this environment runs the wasm backend on one thread, or undefined when it can run more. */
export function threadsUnavailable(): string | undefined {
  const h = getHost();
  return typeof h === 'string' ? h : undefined;
}

/** A pending job's description on the calling thread. */
interface Job {
  readonly tasks: readonly (readonly WasmCall[])[];
  readonly fns: ReadonlyMap<string, PoolFn>;
}

/** The workers of this JS thread and the control block they share with it. */
export class WasmPool {
  private readonly workers: (AnyWorker | null)[] = [];
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(WORDS * 4));
  private readonly f32v = new Float32Array(this.ctrl.buffer);
  private readonly modules = new Map<number, PoolModule>();
  private gen = 0;
  private nextMid = 1;
  /** Tasks the calling thread ran (for tests and stats). */
  mainTasks = 0;

  constructor(private readonly host: Host) {
    Atomics.store(this.ctrl, SPIN_US, WORKER_SPIN_US);
  }

  /** Workers started so far. */
  get size(): number { return this.workers.length; }

  /** Modules the workers hold now. */
  get moduleCount(): number { return this.modules.size; }

  /** Tasks each worker ran so far. */
  workerTasks(): number[] { return this.workers.map((_, w) => Atomics.load(this.ctrl, STAT + w)); }

  /** Starts workers until there are `n` (at most {@link MAX_WORKERS}). */
  grow(n: number): void {
    while (this.workers.length < Math.min(n, MAX_WORKERS)) {
      const w = this.workers.length;
      let worker: AnyWorker | null = null;
      try { worker = this.host.spawn(); } catch { worker = null; }
      this.workers.push(worker);
      if (!worker) { Atomics.store(this.ctrl, ACK + w, -1); continue; }
      const onError = (): void => { Atomics.store(this.ctrl, ACK + w, -1); this.workers[w] = null; };
      const ev = worker as { on?: (e: string, f: () => void) => void; addEventListener?: (e: string, f: () => void) => void };
      if (ev.on) ev.on('error', onError); else ev.addEventListener?.('error', onError);
      this.post(w, { type: 'init', ctrl: this.ctrl.buffer, id: w });
      for (const [mid, m] of this.modules) this.post(w, { type: 'module', mid, ...m });
    }
  }

  private post(w: number, m: unknown): void {
    const worker = this.workers[w];
    if (!worker) return;
    worker.postMessage(m);
    Atomics.add(this.ctrl, MAILS + w, 1);
    Atomics.add(this.ctrl, WAKE, 1);
    Atomics.notify(this.ctrl, WAKE);
  }

  /**
   * Instantiates `module` on every worker; returns its id for {@link run}. Where this
   * thread may block, waits (up to a few seconds) until the first `workers` workers
   * hold it; elsewhere a worker takes part in its jobs once it does.
   */
  addModule(module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[], workers: number): number {
    const mid = this.nextMid++;
    const m: PoolModule = { module, memory, names };
    this.modules.set(mid, m);
    this.workers.forEach((_, w) => this.post(w, { type: 'module', mid, ...m }));
    if (this.host.canBlock) {
      const until = performance.now() + ACK_WAIT_MS;
      for (let w = 0; w < Math.min(workers, this.workers.length); w++) {
        for (;;) {
          const ack = Atomics.load(this.ctrl, ACK + w);
          if (ack < 0 || ack >= Atomics.load(this.ctrl, MAILS + w)) break;
          const left = until - performance.now();
          if (left <= 0) break;
          Atomics.wait(this.ctrl, ACK + w, ack, left);
        }
      }
    }
    return mid;
  }

  /** Drops a module from the workers (its program was released or its plan evicted). */
  dropModule(mid: number): void {
    if (!this.modules.delete(mid)) return;
    this.workers.forEach((_, w) => this.post(w, { type: 'drop', mid }));
  }

  /**
   * Runs the tasks of one job (each a list of calls, run in order by one thread) on
   * this thread and up to `workers` workers holding module `mid`; returns when all
   * have finished. Throws an ExecutionError naming `where` when a task threw.
   */
  run(mid: number, job: Job, workers: number, where: string): void {
    const { tasks, fns } = job;
    const n = tasks.length;
    if (n > MAX_TASKS) throw new ExecutionError(`wasm job of ${n} tasks, more than ${MAX_TASKS} (an internal sizing bug)`, where);
    const ctrl = this.ctrl;
    const g = (this.gen = (this.gen + 1) | 0);
    // Retire the previous job's counter first: no thread can take a task of this one before it is written.
    Atomics.store(ctrl, NEXT, (g & 0xffff) << 16);
    let o = TASKS;
    for (let i = 0; i < n; i++) {
      ctrl[OFFS + i] = o;
      const calls = tasks[i]!;
      ctrl[o++] = calls.length;
      for (const [name, ...args] of calls) {
        const f = fns.get(name);
        if (!f) throw new ExecutionError(`wasm job calls '${name}', which the module does not export (an internal bug)`, where);
        if (o + 3 + args.length > TASKS + TASK_WORDS) throw new ExecutionError('wasm job description overflow (an internal sizing bug)', where);
        ctrl[o] = f.index;
        ctrl[o + 1] = args.length;
        ctrl[o + 2] = f.f32Mask;
        o += 3;
        for (let a = 0; a < args.length; a++) {
          if ((f.f32Mask >>> a) & 1) this.f32v[o + a] = args[a]!; else ctrl[o + a] = args[a]!;
        }
        o += args.length;
      }
    }
    Atomics.store(ctrl, NTASKS, n);
    Atomics.store(ctrl, MODULE, mid);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, ERR, 0);
    Atomics.store(ctrl, LIMIT, workers);
    Atomics.store(ctrl, GEN, g);
    Atomics.add(ctrl, WAKE, 1);
    Atomics.notify(ctrl, WAKE, workers);
    // This thread's share: take tasks like any worker.
    let mainError: unknown;
    for (;;) {
      const v = Atomics.load(ctrl, NEXT);
      const i = v & 0xffff;
      if (i >= n) break;
      if (Atomics.compareExchange(ctrl, NEXT, v, v + 1) !== v) continue;
      try {
        for (const [name, ...args] of tasks[i]!) fns.get(name)!.fn(...args);
      } catch (e) {
        mainError ??= e;
      }
      this.mainTasks++;
      Atomics.add(ctrl, DONE, 1);
    }
    // The tail: tasks other threads took.
    let last = Atomics.load(ctrl, DONE);
    let since = performance.now();
    for (let spin = 0; last < n; spin++) {
      if (this.host.canBlock && spin > 2000) Atomics.wait(ctrl, DONE, last, 20);
      const d = Atomics.load(ctrl, DONE);
      if (d !== last) { last = d; since = performance.now(); continue; }
      if ((spin & 1023) === 0 && performance.now() - since > WATCHDOG_MS) {
        throw new ExecutionError(`a wasm worker took a task and did not finish it within ${WATCHDOG_MS / 1000} s`, where);
      }
    }
    if (mainError !== undefined) throw new ExecutionError(`wasm kernel failed: ${(mainError as Error)?.message ?? String(mainError)}`, where);
    const err = Atomics.load(ctrl, ERR);
    if (err >= 2) {
      let s = '';
      for (let k = 0; k < MSG_LEN && ctrl[MSG + k] !== 0; k++) s += String.fromCharCode(ctrl[MSG + k]!);
      throw new ExecutionError(`wasm worker ${err - 2} failed: ${s}`, where);
    }
  }

  /** Stops every worker (a later program starts new ones). */
  terminate(): void {
    for (const w of this.workers) w?.terminate();
    this.workers.length = 0;
    this.modules.clear();
  }
}

let pool: WasmPool | undefined;

/**
 * The pool of this JS thread with at least `workers` workers started, or undefined
 * when threads are unavailable here (see {@link threadsUnavailable}).
 */
export function sharedPool(workers: number): WasmPool | undefined {
  const h = getHost();
  if (typeof h === 'string') return undefined;
  pool ??= new WasmPool(h);
  pool.grow(workers);
  return pool;
}

/** Stops this thread's pool, if any (tests; a later multi-threaded program starts a new one). */
export function terminateWasmThreads(): void {
  pool?.terminate();
  pool = undefined;
}
