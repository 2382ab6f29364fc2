/**
 * The model repository: a folder with one sub-folder per model; a model's versions are
 * numbered sub-folders holding `model.onnx` (a `model.onnx` directly in the model
 * folder is version 1), and an optional `config.json` per model:
 * `{ "max_batch": N, "batch_timeout_ms": T, "free_dims": { "name": N } }`.
 *
 * {@link ModelRepository.scan} loads what is new or changed and swaps it in only once
 * it has loaded, so new requests go to the new version; an old version is released
 * after its in-flight requests finish. {@link ModelRepository.watch} rescans on file
 * changes (fs.watch, debounced).
 */
import { existsSync, readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { InputError, KilnError } from '../graph/errors.js';
import type { Tensor } from '../graph/tensor.js';
import { InferenceSession, type BackendChoice, type ValueMetadata } from '../session/inference-session.js';
import { Batcher, RunLock, type RunObserver } from './batcher.js';

/** Per-model settings of config.json. */
export interface ModelConfig {
  readonly maxBatch?: number;
  readonly batchTimeoutMs?: number;
  readonly freeDims?: Readonly<Record<string, number>>;
}

/** Settings the repository loads models with. */
export interface RepositoryOptions {
  readonly backend: BackendChoice;
  /** Default most rows per batched run (config.json's max_batch overrides). */
  readonly maxBatch: number;
  /** Default batching wait in ms (config.json's batch_timeout_ms overrides). */
  readonly batchTimeoutMs: number;
  /** The lock that WebGPU sessions share (one run at a time per device). */
  readonly deviceLock: RunLock;
  /** Called after each run. */
  readonly onRun: (model: string, version: string, requests: number, rows: number) => void;
  /** Called when a model's queue depth changes. */
  readonly onDepth: (model: string, depth: number) => void;
  /** Receives structured log events. */
  readonly log: (event: Record<string, unknown>) => void;
}

/** A config.json that is not valid. */
export class ModelConfigError extends KilnError {
  constructor(message: string, where?: string) { super('BAD_MODEL_CONFIG', message, where); }
}

/** Reads and checks a model's config.json (missing: no settings). */
export function readModelConfig(file: string): ModelConfig {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, 'utf8')); } catch (e) { throw new ModelConfigError(`${file}: not valid JSON (${(e as Error).message})`, file); }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelConfigError(`${file}: must hold a JSON object`, file);
  const o = raw as Record<string, unknown>;
  const int = (k: string, min: number): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < min) throw new ModelConfigError(`${file}: '${k}' must be an integer ≥ ${min}`, file);
    return v as number;
  };
  const cfg: { maxBatch?: number; batchTimeoutMs?: number; freeDims?: Record<string, number> } = {};
  const mb = int('max_batch', 1);
  const bt = int('batch_timeout_ms', 0);
  if (mb !== undefined) cfg.maxBatch = mb;
  if (bt !== undefined) cfg.batchTimeoutMs = bt;
  if (o.free_dims !== undefined) {
    const fd = o.free_dims;
    if (!fd || typeof fd !== 'object' || Array.isArray(fd) || !Object.values(fd).every((v) => Number.isInteger(v) && (v as number) > 0)) {
      throw new ModelConfigError(`${file}: 'free_dims' must map dim names to positive integers`, file);
    }
    cfg.freeDims = fd as Record<string, number>;
  }
  return cfg;
}

/** One loaded version of a model. */
export class ModelVersion {
  private inflight = 0;
  private retired = false;
  private readonly batcher: Batcher;

  constructor(
    readonly name: string,
    readonly version: string,
    /** Fingerprint of the files it was loaded from (changes trigger a reload). */
    readonly stamp: string,
    readonly session: InferenceSession,
    lock: RunLock,
    config: { maxBatch: number; batchTimeoutMs: number },
    onRun: RunObserver,
    onDepth: (depth: number) => void,
  ) {
    this.batcher = new Batcher(
      { inputs: session.inputMetadata, outputs: session.outputMetadata, run: (f) => session.run(f) },
      lock, { maxBatch: config.maxBatch, timeoutMs: config.batchTimeoutMs }, onRun, onDepth,
    );
  }

  /** Input metadata. */
  get inputs(): readonly ValueMetadata[] { return this.session.inputMetadata; }
  /** Output metadata. */
  get outputs(): readonly ValueMetadata[] { return this.session.outputMetadata; }
  /** True when concurrent requests are batched. */
  get batching(): boolean { return this.batcher.batching; }
  /** Requests waiting in this version's queue. */
  get depth(): number { return this.batcher.depth; }

  /** Runs one request's feeds (already checked against the metadata). */
  async infer(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    this.inflight++;
    try {
      return await this.batcher.infer(feeds);
    } finally {
      this.inflight--;
      if (this.retired && this.inflight === 0) this.session.release();
    }
  }

  /** Takes this version out of service: its session is released once no request uses it. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.inflight === 0) this.session.release();
  }
}

/** The versions found on disk for one model: version → model file. */
function versionsOnDisk(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const direct = path.join(dir, 'model.onnx');
  if (existsSync(direct)) out.set('1', direct);
  for (const name of readdirSync(dir)) {
    if (!/^[0-9]+$/.test(name)) continue;
    const file = path.join(dir, name, 'model.onnx');
    if (existsSync(file)) out.set(String(Number(name)), file);
  }
  return out;
}

/** Size and modification time of a file, for change detection. */
function fingerprint(...files: string[]): string {
  return files.map((f) => { const s = statSync(f, { throwIfNoEntry: false }); return s ? `${s.size}:${s.mtimeMs}` : '-'; }).join('|');
}

/** Every model and version that is loaded. */
export class ModelRepository {
  /** model name → version → loaded version. */
  private readonly models = new Map<string, Map<string, ModelVersion>>();
  /** Models of which a version failed to load at the last scan, with the message. */
  readonly failures = new Map<string, string>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(readonly root: string, private readonly opts: RepositoryOptions) {
    if (!existsSync(root) || !statSync(root).isDirectory()) throw new InputError(`model repository '${root}' is not a folder`, root);
  }

  /** Names of the loaded models, sorted. */
  get names(): string[] { return [...this.models.keys()].sort(); }

  /** The loaded versions of a model, ascending (empty when unknown). */
  versions(model: string): string[] {
    return [...(this.models.get(model)?.keys() ?? [])].sort((a, b) => Number(a) - Number(b));
  }

  /** A loaded version (the highest when `version` is omitted), or undefined. */
  get(model: string, version?: string): ModelVersion | undefined {
    const m = this.models.get(model);
    if (!m) return undefined;
    if (version !== undefined) return m.get(version);
    const vs = this.versions(model);
    return vs.length ? m.get(vs[vs.length - 1]!) : undefined;
  }

  /** Rescans the folder (one scan at a time): loads new and changed versions, retires removed ones. */
  scan(): Promise<void> {
    this.scanning = this.scanning.then(() => this.scanOnce()).catch((e) => this.opts.log({ level: 'error', event: 'scan', error: (e as Error).message }));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const name of readdirSync(this.root).sort()) {
      const dir = path.join(this.root, name);
      if (name.startsWith('.') || !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) continue;
      seen.add(name);
      await this.scanModel(name, dir);
    }
    for (const name of [...this.failures.keys()]) if (!seen.has(name)) this.failures.delete(name);
    for (const name of [...this.models.keys()]) {
      if (seen.has(name)) continue;
      for (const v of this.models.get(name)!.values()) v.retire();
      this.models.delete(name);
      this.opts.log({ level: 'info', event: 'unload', model: name });
    }
  }

  private async scanModel(name: string, dir: string): Promise<void> {
    const configFile = path.join(dir, 'config.json');
    const loaded = this.models.get(name) ?? new Map<string, ModelVersion>();
    this.failures.delete(name);
    let config: ModelConfig;
    try {
      config = readModelConfig(configFile);
    } catch (e) {
      this.failures.set(name, (e as Error).message);
      this.opts.log({ level: 'error', event: 'load', model: name, error: (e as Error).message });
      return;
    }
    const onDisk = versionsOnDisk(dir);
    const next = new Map(loaded);
    for (const [version, file] of onDisk) {
      const stamp = fingerprint(file, configFile);
      if (loaded.get(version)?.stamp === stamp) continue;
      try {
        const started = Date.now();
        const session = await InferenceSession.create(file, {
          backend: this.opts.backend,
          ...(config.freeDims ? { freeDimensions: config.freeDims } : {}),
          onNotice: (m) => this.opts.log({ level: 'notice', model: name, version, message: m }),
        });
        const lock = session.backend === 'webgpu' ? this.opts.deviceLock : new RunLock();
        next.set(version, new ModelVersion(name, version, stamp, session, lock, {
          maxBatch: config.maxBatch ?? this.opts.maxBatch,
          batchTimeoutMs: config.batchTimeoutMs ?? this.opts.batchTimeoutMs,
        }, (r, rows) => this.opts.onRun(name, version, r, rows), (d) => this.opts.onDepth(name, d)));
        this.opts.log({ level: 'info', event: 'load', model: name, version, backend: session.backend, ms: Date.now() - started });
      } catch (e) {
        this.failures.set(name, (e as Error).message);
        this.opts.log({ level: 'error', event: 'load', model: name, version, error: (e as Error).message });
      }
    }
    for (const version of loaded.keys()) if (!onDisk.has(version)) next.delete(version);
    if (this.closed) { for (const v of next.values()) if (loaded.get(v.version) !== v) v.retire(); return; }
    // Swap, then retire what was replaced or removed.
    if (next.size) this.models.set(name, next); else this.models.delete(name);
    for (const [version, old] of loaded) if (next.get(version) !== old) old.retire();
  }

  /** Rescans after file changes, debounced by `debounceMs`. */
  watch(debounceMs = 300): void {
    if (this.watcher) return;
    this.watcher = watch(this.root, { recursive: true }, () => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => { this.debounce = undefined; void this.scan(); }, debounceMs);
    });
    this.watcher.on('error', (e) => this.opts.log({ level: 'error', event: 'watch', error: e.message }));
  }

  /** Stops watching, waits for a running scan, and retires every version (each released once idle). */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.debounce) clearTimeout(this.debounce);
    await this.scanning;
    for (const m of this.models.values()) for (const v of m.values()) v.retire();
    this.models.clear();
  }
}
