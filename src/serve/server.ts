/**
 * The HTTP server of `kiln serve`, on Node's `http` module: the Open Inference
 * Protocol (KServe v2 REST, with the binary tensor extension), TensorFlow Serving's
 * REST predict, Prometheus metrics and health. All state lives in a {@link Server}.
 *
 * Every handler error becomes the protocol's JSON error `{ "error": "..." }` with a
 * status (statusOf: 400 bad input, 404 unknown model, 408 a client too slow to send
 * its request, 413 oversize body, 504 time limit, 500 anything else); the server keeps
 * serving. A client that has not sent its headers within the client time limit gets
 * Node's own 408; one whose body is still unread after its answer is drained for at
 * most the client time limit and then disconnected.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { BackendChoice } from '../session/inference-session.js';
import { RunLock } from './batcher.js';
import { BadRequestError, ClientTimeoutError, HttpError, NotFoundError, PayloadTooLargeError, RequestTimeoutError, statusOf, UnavailableError } from './errors.js';
import { BATCH_BUCKETS, LATENCY_BUCKETS, Metrics } from './metrics.js';
import { ModelRepository, type ModelVersion } from './repository.js';
import { inferV2, parseV2Request, type V2Response } from './protocol-v2.js';
import { predictTf } from './protocol-tf.js';
import { wireDatatype, wireShape } from './codec.js';

/** Options of {@link Server}. */
export interface ServerOptions {
  /** The model repository folder. */
  readonly modelDir: string;
  /** Port (0: any free port; default 8000). */
  readonly port?: number;
  /** Host to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Backend of every model (default 'auto'). */
  readonly backend?: BackendChoice;
  /** Most rows per batched run (default 8; 1 turns batching off). */
  readonly maxBatch?: number;
  /** How long a batch waits for more requests, in ms (default 5). */
  readonly batchTimeoutMs?: number;
  /** Largest request body in bytes (default 64 MiB); larger ones get 413. */
  readonly maxBodyBytes?: number;
  /** Time limit of a request in ms (default 30000); over it, 504. */
  readonly requestTimeoutMs?: number;
  /** Time a client has to send its headers, and then its body, in ms (default 10000); over it, 408. */
  readonly clientTimeoutMs?: number;
  /** Watch the repository and reload changed models (default true). */
  readonly watch?: boolean;
  /** Longest wait at shutdown for clients to let go of their keep-alive connections, in ms (default 500). */
  readonly shutdownGraceMs?: number;
  /** Debounce of the file watcher in ms (default 300). */
  readonly watchDebounceMs?: number;
  /** Receives one structured event per request and per load (default: a JSON line on stderr). */
  readonly log?: (event: Record<string, unknown>) => void;
}

/** The `model` label of requests that name no loaded model. */
export const UNKNOWN_MODEL = '(unknown)';

/** A response to send. */
interface Reply {
  readonly status: number;
  readonly body: string | Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  readonly model?: string;
  readonly version?: string;
}

/** JSON reply. */
function json(status: number, value: unknown, model?: string, version?: string): Reply {
  return { status, body: JSON.stringify(value), headers: { 'content-type': 'application/json' }, ...(model !== undefined ? { model } : {}), ...(version !== undefined ? { version } : {}) };
}

/** Model metadata of the v2 protocol. */
export interface V2Metadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
}

/** A running `kiln serve`. */
export class Server {
  /** The server's metrics. */
  readonly metrics = new Metrics();
  /** The loaded models. */
  readonly repository: ModelRepository;
  private readonly http: http.Server;
  private readonly opts: Required<Omit<ServerOptions, 'log'>>;
  private readonly log: (event: Record<string, unknown>) => void;
  private inflight = 0;
  /** Open client connections. */
  private connections = 0;
  private idle: (() => void) | undefined;
  private stopping = false;
  private readonly deviceLock = new RunLock();

  private constructor(opts: ServerOptions) {
    this.opts = {
      modelDir: opts.modelDir, port: opts.port ?? 8000, host: opts.host ?? '127.0.0.1', backend: opts.backend ?? 'auto',
      maxBatch: opts.maxBatch ?? 8, batchTimeoutMs: opts.batchTimeoutMs ?? 5, maxBodyBytes: opts.maxBodyBytes ?? 64 * 1024 * 1024,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30000, clientTimeoutMs: opts.clientTimeoutMs ?? 10000, shutdownGraceMs: opts.shutdownGraceMs ?? 500, watch: opts.watch ?? true, watchDebounceMs: opts.watchDebounceMs ?? 300,
    };
    const log = opts.log ?? ((e: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`));
    this.log = (e) => { try { log(e); } catch { /* a failing logger never fails a request */ } };
    const m = this.metrics;
    m.counter('kiln_requests_total', 'HTTP requests by model and status code.');
    m.counter('kiln_request_errors_total', 'HTTP requests answered with a 4xx or 5xx code, by model and code.');
    m.histogram('kiln_request_duration_seconds', 'Request latency in seconds, by model.', LATENCY_BUCKETS);
    m.histogram('kiln_batch_size', 'Requests served per model run, by model.', BATCH_BUCKETS);
    m.counter('kiln_model_runs_total', 'Model runs (one per batch), by model and version.');
    m.counter('kiln_model_rows_total', 'Rows (batch elements) run, by model and version.');
    m.gauge('kiln_queue_depth', 'Requests waiting in a model queue.');
    m.gauge('kiln_inflight_requests', 'Requests being handled.');
    m.gauge('kiln_gpu_memory_bytes', 'GPU memory held by a loaded model version (its execution plans\' buffers: weights, intermediates, staging), by model, version and backend; 0 off the GPU.');
    this.repository = new ModelRepository(opts.modelDir, {
      backend: this.opts.backend, maxBatch: this.opts.maxBatch, batchTimeoutMs: this.opts.batchTimeoutMs, deviceLock: this.deviceLock,
      onRun: (model, version, requests, rows) => {
        m.inc('kiln_model_runs_total', { model, version });
        m.inc('kiln_model_rows_total', { model, version }, rows);
        m.observe('kiln_batch_size', { model }, requests);
      },
      onDepth: (model, depth) => m.set('kiln_queue_depth', { model }, depth),
      log: this.log,
    });
    const clientMs = this.opts.clientTimeoutMs;
    this.http = http.createServer({
      headersTimeout: clientMs, requestTimeout: 0, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(clientMs / 4))),
    }, (req, res) => { void this.handle(req, res); });
    this.http.on('connection', (socket: net.Socket) => {
      this.connections++;
      socket.once('close', () => { this.connections--; });
    });
  }

  /** Loads the repository, starts listening and (unless `watch: false`) watching. */
  static async start(opts: ServerOptions): Promise<Server> {
    const s = new Server(opts);
    await s.repository.scan();
    if (s.opts.watch) s.repository.watch(s.opts.watchDebounceMs);
    await new Promise<void>((resolve, reject) => {
      s.http.once('error', reject);
      s.http.listen(s.opts.port, s.opts.host, () => { s.http.off('error', reject); resolve(); });
    });
    s.log({ level: 'info', event: 'listening', host: s.opts.host, port: s.port, models: s.repository.names });
    return s;
  }

  /** The bound port. */
  get port(): number { return (this.http.address() as AddressInfo).port; }

  /** The base URL, e.g. http://127.0.0.1:8000. */
  get url(): string { return `http://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${this.port}`; }

  /**
   * Graceful shutdown: stops accepting connections, finishes every request received
   * before it began, answers requests that arrive later on open keep-alive connections
   * with 503 and `connection: close` (for up to `shutdownGraceMs`, while clients still
   * hold connections), then closes the remaining connections, stops the watcher and
   * releases every session. Idle keep-alive connections are not dropped at once: a
   * client may be sending a request on one at that moment, and it would be lost.
   */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // net.Server's close stops listening and keeps open connections (http.Server's also drops idle ones).
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(this.http, () => resolve()));
    await this.drained();
    const graceEnd = Date.now() + this.opts.shutdownGraceMs;
    while (this.connections > 0 && Date.now() < graceEnd) await new Promise((r) => setTimeout(r, 20));
    await this.drained();
    this.http.closeAllConnections();
    await closed;
    await this.repository.close();
    this.log({ level: 'info', event: 'stopped' });
  }

  /** Resolves once no request is in flight. */
  private async drained(): Promise<void> {
    if (this.inflight > 0) await new Promise<void>((resolve) => { this.idle = resolve; });
  }

  /** Handles one request: routes it, answers, logs and counts it. */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    this.inflight++;
    this.metrics.set('kiln_inflight_requests', {}, this.inflight);
    let reply: Reply;
    let route: { model?: string; version?: string } = {};
    try {
      // A request that arrives once shutdown has begun is refused; one received before is served.
      reply = this.stopping ? json(503, { error: 'the server is shutting down' }) : await this.withTimeout(this.route(req, (r) => { route = r; }));
    } catch (e) {
      reply = this.errorReply(e, route.model, route.version);
    }
    try {
      res.writeHead(reply.status, { ...reply.headers, 'content-length': String(typeof reply.body === 'string' ? Buffer.byteLength(reply.body) : reply.body.length), ...(this.stopping ? { connection: 'close' } : {}) });
      res.end(reply.body);
      if (!req.complete) this.dropIfStillUnread(req, res);
    } catch (e) {
      res.destroy(e as Error);
    }
    try {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const model = reply.model ?? route.model;
      // Label values come from loaded model names only (a URL naming no model cannot add series).
      const known = model !== undefined && this.repository.get(model) !== undefined;
      const label = model === undefined ? '' : known ? model : UNKNOWN_MODEL;
      const labels = { model: label, code: String(reply.status) };
      this.metrics.inc('kiln_requests_total', labels);
      if (reply.status >= 400) this.metrics.inc('kiln_request_errors_total', labels);
      if (known) this.metrics.observe('kiln_request_duration_seconds', { model: label }, seconds);
      this.log({
        level: reply.status >= 500 ? 'error' : reply.status >= 400 ? 'warn' : 'info', event: 'request', method: req.method, path: req.url,
        status: reply.status, ms: Math.round(seconds * 1e6) / 1e3, ...(model !== undefined ? { model } : {}),
        ...((reply.version ?? route.version) !== undefined ? { version: reply.version ?? route.version } : {}),
        ...(reply.status >= 400 && typeof reply.body === 'string' ? { error: safeError(reply.body) } : {}),
      });
    } catch (e) {
      process.stderr.write(`kiln serve: accounting failed: ${(e as Error)?.message ?? String(e)}\n`);
    }
    this.inflight--;
    this.metrics.set('kiln_inflight_requests', {}, this.inflight);
    if (this.inflight === 0 && this.idle) { const done = this.idle; this.idle = undefined; done(); }
  }

  /**
   * A request answered before its body was read (an error, or a client too slow): Node
   * drains the rest to keep the connection; a client that keeps it unfinished for the
   * client time limit after the answer is disconnected.
   */
  private dropIfStillUnread(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.once('finish', () => {
      const timer = setTimeout(() => { if (!req.complete) req.socket.destroy(); }, this.opts.clientTimeoutMs);
      timer.unref();
      req.socket.once('close', () => clearTimeout(timer));
    });
  }

  /** The JSON error reply of a thrown value. */
  private errorReply(e: unknown, model?: string, version?: string): Reply {
    const status = statusOf(e);
    const message = e instanceof Error ? e.message : String(e);
    if (status >= 500 && !(e instanceof HttpError)) this.log({ level: 'error', event: 'exception', error: message, stack: (e as Error)?.stack });
    return json(status, { error: message }, model, version);
  }

  /** Races a handler against the request time limit (504). */
  private withTimeout(p: Promise<Reply>): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RequestTimeoutError(`request took longer than ${this.opts.requestTimeoutMs} ms`)), this.opts.requestTimeoutMs);
    });
    return Promise.race([p, limit]).finally(() => clearTimeout(timer));
  }

  /**
   * Reads the body up to the size limit (413 beyond it) within the client time limit
   * (408 beyond it); a client that goes away mid-body is a 400 (nobody reads it).
   */
  private readBody(req: http.IncomingMessage): Promise<Buffer> {
    const limit = this.opts.maxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    return new Promise((resolve, reject) => {
      let done = false;
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (e?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.off('data', onData);
        if (e) { req.resume(); reject(e); } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      };
      const onData = (c: Buffer): void => {
        size += c.length;
        if (size > limit) finish(new PayloadTooLargeError(`request body is larger than the limit of ${limit} bytes`));
        else chunks.push(c);
      };
      const timer = setTimeout(() => finish(new ClientTimeoutError(`the request body did not arrive within ${this.opts.clientTimeoutMs} ms`)), this.opts.clientTimeoutMs);
      if (Number.isFinite(declared) && declared > limit) { finish(new PayloadTooLargeError(`request body is larger than the limit of ${limit} bytes`)); return; }
      req.on('data', onData);
      req.on('end', () => finish());
      req.on('error', (e) => finish(new BadRequestError(`reading the request body failed: ${e.message}`)));
      req.on('close', () => { if (!req.complete) finish(new BadRequestError('the client closed the connection before sending the whole body')); });
    });
  }

  /** The loaded version a request names, or 404. */
  /** The metrics text, with the GPU-memory gauge sampled from the loaded sessions now. */
  private renderMetrics(): string {
    const m = this.metrics;
    m.clearGauge('kiln_gpu_memory_bytes');
    for (const name of this.repository.names) {
      for (const version of this.repository.versions(name)) {
        const v = this.repository.get(name, version);
        if (v) m.set('kiln_gpu_memory_bytes', { model: name, version, backend: v.session.backend }, v.session.gpuMemoryBytes);
      }
    }
    return m.render();
  }

  private model(name: string, version?: string): ModelVersion {
    const mv = this.repository.get(name, version);
    if (mv) return mv;
    if (this.repository.get(name)) throw new NotFoundError(`model '${name}' has no version '${version}' (loaded: ${this.repository.versions(name).join(', ')})`, name);
    const failed = this.repository.failures.get(name);
    if (failed) throw new UnavailableError(`model '${name}' failed to load: ${failed}`, name);
    throw new NotFoundError(`unknown model '${name}'`, name);
  }

  /** v2 model metadata. */
  metadata(name: string, version?: string): V2Metadata {
    const mv = this.model(name, version);
    return {
      name, versions: this.repository.versions(name), platform: 'onnx',
      inputs: mv.inputs.map((i) => ({ name: i.name, datatype: wireDatatype(i.dtype), shape: wireShape(i.shape) })),
      outputs: mv.outputs.map((o) => ({ name: o.name, datatype: wireDatatype(o.dtype), shape: wireShape(o.shape) })),
    };
  }

  /** Routes a request to its handler. */
  private async route(req: http.IncomingMessage, note: (r: { model?: string; version?: string }) => void): Promise<Reply> {
    let p: string;
    try { p = new URL(req.url ?? '/', 'http://localhost').pathname; } catch { throw new BadRequestError(`malformed request target '${String(req.url).slice(0, 200)}'`); }
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    if (p === '/v2/health/live' && get) return json(200, { live: true });
    if (p === '/v2/health/ready' && get) {
      const ready = !this.stopping && this.repository.names.length > 0 && this.repository.failures.size === 0;
      return json(ready ? 200 : 503, { ready });
    }
    if ((p === '/v2' || p === '/v2/') && get) return json(200, { name: 'kiln', version: '0.1.0', extensions: ['binary_tensor_data'] });
    if (p === '/metrics' && get) return { status: 200, body: this.renderMetrics(), headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } };
    if (p === '/v2/models' && get) return json(200, { models: this.repository.names });

    const v2 = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(p);
    if (v2) {
      const name = decodePart(v2[1]!);
      const version = v2[2] === undefined ? undefined : decodePart(v2[2]);
      note({ model: name, ...(version !== undefined ? { version } : {}) });
      if (v2[3] === '/infer') {
        if (method !== 'POST') throw new HttpError(405, 'METHOD', `${method} ${p}: use POST`);
        const body = await this.readBody(req);
        const request = parseV2Request(body, req.headers['inference-header-content-length']);
        const mv = this.model(name, version);
        const out: V2Response = await inferV2(mv, request);
        return { ...out, model: name, version: mv.version };
      }
      if (!get) throw new HttpError(405, 'METHOD', `${method} ${p}: use GET`);
      if (v2[3] === '/ready') {
        const mv = this.model(name, version);
        const ready = !this.stopping;
        return json(ready ? 200 : 503, { name, version: mv.version, ready }, name, mv.version);
      }
      return json(200, this.metadata(name, version), name, version);
    }

    const tf = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+))?(:predict)?$/.exec(p);
    if (tf) {
      const name = decodePart(tf[1]!);
      const version = tf[2] === undefined ? undefined : decodePart(tf[2]);
      note({ model: name, ...(version !== undefined ? { version } : {}) });
      if (tf[3]) {
        if (method !== 'POST') throw new HttpError(405, 'METHOD', `${method} ${p}: use POST`);
        const body = await this.readBody(req);
        let parsed: unknown;
        try { parsed = JSON.parse(body.toString('utf8')); } catch (e) { throw new BadRequestError(`malformed JSON: ${(e as Error).message}`); }
        const mv = this.model(name, version);
        return { ...json(200, await predictTf(mv, parsed)), model: name, version: mv.version };
      }
      if (!get) throw new HttpError(405, 'METHOD', `${method} ${p}: use GET`);
      this.model(name, version);
      const versions = version !== undefined ? [version] : this.repository.versions(name);
      return json(200, { model_version_status: versions.map((v) => ({ version: v, state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } })) }, name, version);
    }
    throw new NotFoundError(`no route for ${method} ${p}`);
  }
}

/** A percent-encoded path segment, decoded (400 when the encoding is broken). */
function decodePart(segment: string): string {
  try { return decodeURIComponent(segment); } catch { throw new BadRequestError(`malformed percent-encoding in the path segment '${segment.slice(0, 200)}'`); }
}

/** The message of a JSON error body, for the log. */
function safeError(body: string): string {
  try { return String((JSON.parse(body) as { error?: unknown }).error ?? ''); } catch { return ''; }
}
