/**
 * `kiln serve` under faults: a storm of 1000 malformed and hostile requests (fuzzed
 * JSON, wrong types, huge shapes, truncated binary payloads, oversize bodies, broken
 * HTTP, slow clients), each sent as raw bytes on its own connection, must all be
 * answered with a 4xx code (the protocol's JSON error wherever the server's handler
 * answers) while correct requests sent at the same time keep being answered correctly;
 * and SIGTERM during load must lose no request: each one is answered 200 with the
 * right output, or refused with 503, or never accepted (connection refused).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Rng } from '../src/graph/random.js';
import { Server } from '../src/serve/server.js';
import { tempDir } from './cli-helpers.js';
import { pairModel, tinyExpected, tinyModel } from './helpers/serve.js';
import { REPO_ROOT } from './onnx-util.js';

/** What came back on a raw connection: the status line's code (0: none) and the body. */
interface RawAnswer { status: number; headers: string; body: string }

/** Sends raw bytes (in parts, `pauseMs` apart; then stalls when `stall`) on a new connection and reads one HTTP response. */
function raw(port: number, parts: readonly Buffer[], opts: { pauseMs?: number; stall?: boolean; deadlineMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let settled = false;
    const done = (a: RawAnswer | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      if (a instanceof Error) reject(a); else resolve(a);
    };
    const deadline = setTimeout(() => done(new Error(`no answer within ${opts.deadlineMs ?? 15000} ms`)), opts.deadlineMs ?? 15000);
    const parse = (final: boolean): void => {
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) { if (final) done(new Error(`connection closed with ${got.length} bytes and no response head`)); return; }
      const head = got.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      const body = got.subarray(end + 4);
      if (Number.isFinite(length) && body.length >= length) done({ status, headers: head, body: body.subarray(0, length).toString('utf8') });
      else if (final || (!Number.isFinite(length) && /connection: close/i.test(head))) done({ status, headers: head, body: body.toString('utf8') });
    };
    socket.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); parse(false); });
    socket.on('end', () => parse(true));
    socket.on('close', () => parse(true));
    socket.on('error', (e) => { if (got.length) parse(true); else done(e); });
    socket.on('connect', () => {
      void (async () => {
        for (const [i, p] of parts.entries()) {
          if (i > 0 && opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
          if (socket.destroyed) return;
          socket.write(p);
        }
        if (!opts.stall) socket.end();
      })();
    });
  });
}

/** An HTTP/1.1 request as bytes: a POST unless `method` says otherwise; Content-Length of the body unless given. */
function request(target: string, body: string | Buffer, headers: Record<string, string> = {}, method = 'POST'): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const h = { host: 'localhost', 'content-type': 'application/json', connection: 'close', 'content-length': String(b.length), ...headers };
  const lines = Object.entries(h).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1'), b]);
}

/** One hostile request: its kind, how to send it, and whether the answer must be the protocol's JSON error. */
interface Hostile { kind: string; parts: Buffer[]; pauseMs?: number; stall?: boolean; jsonError: boolean }

/** The 1000 hostile requests, from a seeded generator. */
function storm(): Hostile[] {
  const r = new Rng(1234);
  const int = (n: number): number => Math.floor(r.next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const infer = '/v2/models/tiny/infer';
  const valid = (rows = 2): Record<string, unknown> => ({ inputs: [{ name: 'x', shape: [rows, 3], datatype: 'FP32', data: Array.from({ length: rows * 3 }, () => Math.round(r.next() * 1000) / 100) }] });
  const out: Hostile[] = [];
  const add = (kind: string, n: number, make: (i: number) => Omit<Hostile, 'kind'>): void => { for (let i = 0; i < n; i++) out.push({ kind, ...make(i) }); };
  const body = (kind: string, n: number, make: (i: number) => string | Buffer, headers?: (i: number) => Record<string, string>, target = infer): void =>
    add(kind, n, (i) => ({ parts: [request(target, make(i), headers?.(i))], jsonError: true }));

  // Fuzzed JSON. The valid body has no free-form strings, so any of these edits either breaks
  // the JSON or changes a name, datatype or key the server must refuse.
  body('fuzz: truncated JSON', 150, () => { const s = JSON.stringify(valid()); return s.slice(0, 1 + int(s.length - 1)); });
  body('fuzz: a bracket inserted', 150, () => { const s = JSON.stringify(valid()); const at = int(s.length + 1); return s.slice(0, at) + pick(['[', ']', '{', '}']) + s.slice(at); });
  body('fuzz: bytes replaced with invalid UTF-8', 100, () => {
    const b = Buffer.from(JSON.stringify(valid()));
    for (let k = 0, n = 1 + int(5); k < n; k++) b[int(b.length)] = 0x80 + int(0x80);
    return b;
  });
  body('fuzz: random bytes', 50, () => Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256))));

  // Wrong types.
  const wrong: (() => unknown)[] = [
    () => { const v = valid(); (v.inputs as Record<string, unknown>[])[0]!.datatype = pick(['INT64', 'FP16', 'BOOL', 'BYTES', 'fp32', 'FLOAT', 7, null, []]); return v; },
    () => { const v = valid(); const d = (v.inputs as { data: unknown[] }[])[0]!.data; d[int(d.length)] = pick(['a', null, {}, [1], true, '1', 'NaN']); return v; },
    () => { const v = valid(); (v.inputs as Record<string, unknown>[])[0]!.data = pick(['1,2,3,4,5,6', { 0: 1 }, 42, null, true]); return v; },
    () => { const v = valid(); (v.inputs as Record<string, unknown>[])[0]!.shape = pick(['2,3', [2, -3], [2, 1.5], { 0: 2 }, null, [[2], [3]], ['2', '3']]); return v; },
    () => { const v = valid(); (v.inputs as Record<string, unknown>[])[0]!.name = pick([7, null, ['x'], { x: 1 }]); return v; },
    () => ({ inputs: pick([{}, 'x', 7, [], null]) }),
    () => pick([[], 7, 'inputs', null, true]),
    () => ({ ...valid(), outputs: pick([{ name: 'y' }, 'y', [{}], [{ name: 7 }], [{ name: 'nope' }]]) }),
    () => ({ ...valid(), id: pick([7, {}, [], true]) }),
    () => ({ inputs: [valid().inputs as object, valid().inputs as object].flat() }),
  ];
  body('wrong types', 140, (i) => JSON.stringify(wrong[i % wrong.length]!()));
  body('wrong types: an infinite number', 10, () => JSON.stringify(valid()).replace(/"data":\[[^,\]]+/, '"data":[1e400'));

  // Huge shapes (the data does not match them, or the body limit stops them).
  const huge = [[1e9, 3], [2 ** 31, 3], [2 ** 53 + 2, 3], [3, 1e12], [1e6, 1e6, 1e6], Array(40).fill(1), [1e300, 3], [0, 3, 1e9]];
  body('huge shapes (JSON)', 60, (i) => { const v = valid(); (v.inputs as Record<string, unknown>[])[0]!.shape = huge[i % huge.length]; return JSON.stringify(v); });
  add('huge shapes (binary)', 40, (i) => {
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: huge[i % huge.length], datatype: 'FP32', parameters: { binary_data_size: 24 } }] }));
    return { parts: [request(infer, Buffer.concat([head, Buffer.alloc(24)]), { 'inference-header-content-length': String(head.length) })], jsonError: true };
  });

  // Truncated and inconsistent binary payloads.
  const bin = (size: unknown, data: number, headerLength?: (n: number) => string): Hostile => {
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: size } }] }));
    return { kind: '', parts: [request(infer, Buffer.concat([head, Buffer.alloc(data, 7)]), { 'inference-header-content-length': headerLength ? headerLength(head.length) : String(head.length) })], jsonError: true };
  };
  const binCases: (() => Hostile)[] = [
    () => bin(24, int(24)),
    () => bin(24, 24 + 1 + int(20)),
    () => bin(24, 24, (n) => String(n + 25 + int(100))),
    () => bin(24, 24, (n) => String(int(n))),
    () => bin(24, 24, () => pick(['-1', 'abc', '1e3', '0x10', '', ' ', '12.5'])),
    () => bin(pick([-1, 1.5, '24', null, 2 ** 40, {}]), 24),
    () => bin(12, 12),
    () => ({ ...bin(24, 24), parts: [request(infer, Buffer.concat([Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } }] })), Buffer.alloc(24)]))] }),
  ];
  add('truncated or inconsistent binary payloads', 100, (i) => { const h = binCases[i % binCases.length]!(); return { parts: h.parts, jsonError: true }; });

  // Oversize bodies: declared too large, and streamed past the limit with chunked encoding.
  add('oversize: declared', 15, () => ({ parts: [request(infer, Buffer.alloc(1000, 32), { 'content-length': String(2 * 1024 * 1024) })], stall: true, jsonError: true }));
  add('oversize: chunked', 15, () => {
    const chunk = Buffer.alloc(64 * 1024, 32);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    const head = request(infer, Buffer.alloc(0), { 'content-length': '', 'transfer-encoding': 'chunked' });
    return { parts: [head, ...Array<Buffer>(6).fill(framed)], jsonError: true };
  });

  // Wrong routes, methods, encodings, and TF Serving predict with bad bodies.
  const routes: (() => Hostile)[] = [
    () => ({ kind: '', parts: [request('/v2/models/nope/infer', JSON.stringify(valid()))], jsonError: true }),
    () => ({ kind: '', parts: [request('/v2/models/tiny/versions/99/infer', JSON.stringify(valid()))], jsonError: true }),
    () => ({ kind: '', parts: [request(pick(['/v2/models/%E0%A4%A/infer', '/v2/models/%/infer', '/v1/models/%ZZ:predict', '/v2/models/tiny/versions/%C0/infer']), JSON.stringify(valid()))], jsonError: true }),
    () => ({ kind: '', parts: [request(infer, '', {}, 'GET')], jsonError: true }),
    () => ({ kind: '', parts: [request('/v2/models/tiny', JSON.stringify(valid()), {}, pick(['POST', 'PUT', 'DELETE']))], jsonError: true }),
    () => ({ kind: '', parts: [request(pick(['/', '/v3', '/v2/models/tiny/infer/x', '/../../etc/passwd']), '', {}, 'GET')], jsonError: true }),
    () => ({ kind: '', parts: [request('/v1/models/tiny:predict', JSON.stringify(pick([
      { instances: [[1, 2, 3], [1, 2]] }, { instances: [] }, { instances: [[1, 2, 3]], inputs: [[1, 2, 3]] }, { inputs: { z: [[1, 2, 3]] } },
      { instances: [{ y: [1, 2, 3] }] }, { instances: JSON.parse(`${'['.repeat(40)}1${']'.repeat(40)}`) as unknown }, { instances: [['a', 'b', 'c']] }, {}, [], { instances: 'x' },
    ])))], jsonError: true }),
  ];
  add('wrong routes, methods and encodings; bad TF predict bodies', 70, (i) => { const h = routes[i % routes.length]!(); return { parts: h.parts, jsonError: h.jsonError }; });

  // Broken HTTP (answered by Node's parser, not as JSON).
  const broken = [
    'GARBAGE\r\n\r\n', 'POST /v2/models/tiny/infer HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n',
    'POST /v2/models/tiny/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
    `GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20000)}\r\n\r\n`, 'POST /v2/models/tiny/infer HTTP/1.1\r\nbad header line\r\n\r\n',
    'POST /v2/models/tiny/infer HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\nnot hex\r\n0\r\n\r\n',
  ];
  add('broken HTTP', 30, (i) => ({ parts: [Buffer.from(broken[i % broken.length]!, 'latin1')], jsonError: false }));

  // Slow clients: a body that stops coming (the handler's 408), headers that stop coming (Node's 408).
  add('slow client: body stalls', 40, () => {
    const full = request(infer, JSON.stringify(valid()));
    const cut = full.indexOf('\r\n\r\n') + 4 + 10;
    return { parts: [full.subarray(0, cut - 5), full.subarray(cut - 5, cut)], pauseMs: 100, stall: true, jsonError: true };
  });
  add('slow client: headers stall', 30, () => ({ parts: [Buffer.from('POST /v2/models/tiny/infer HTTP/1.1\r\nhost: x\r\n'), Buffer.from('content-type: app')], pauseMs: 100, stall: true, jsonError: false }));
  return out;
}

describe('kiln serve under faults', function () {
  this.timeout(60000);
  let repo: string;

  before(() => {
    repo = tempDir('serve-faults');
    mkdirSync(path.join(repo, 'tiny'));
    writeFileSync(path.join(repo, 'tiny', 'model.onnx'), tinyModel(1));
    writeFileSync(path.join(repo, 'tiny', 'config.json'), JSON.stringify({ max_batch: 8, batch_timeout_ms: 2 }));
    mkdirSync(path.join(repo, 'pair'));
    writeFileSync(path.join(repo, 'pair', 'model.onnx'), pairModel());
  });

  after(() => { if (repo) rmSync(repo, { recursive: true, force: true }); });

  it('1000 malformed or hostile requests are all answered 4xx while correct requests keep being answered correctly', async () => {
    let logged = 0;
    const server = await Server.start({
      modelDir: repo, port: 0, backend: 'cpu', watch: false, maxBodyBytes: 256 * 1024, clientTimeoutMs: 1000, requestTimeoutMs: 10000,
      log: () => { logged++; },
    });
    try {
      const hostile = storm();
      expect(hostile).to.have.length(1000);
      const answers: { h: Hostile; a: RawAnswer | Error }[] = [];
      let storming = true;

      // Correct traffic during the storm: 4 clients on keep-alive connections, every answer checked.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      let good = 0;
      const bad: string[] = [];
      const rows = new Rng(99);
      const correct = async (): Promise<void> => {
        while (storming) {
          const n = 1 + Math.floor(rows.next() * 3);
          const x = Array.from({ length: n }, () => [rows.next(), rows.next(), rows.next()].map((v) => Math.round(v * 100) / 10));
          const b = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [n, 3], datatype: 'FP32', data: x.flat() }] }));
          const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port: server.port, path: '/v2/models/tiny/infer', method: 'POST', agent, headers: { 'content-length': b.length } }, (rs) => {
              let t = '';
              rs.on('data', (c: Buffer) => { t += c.toString(); });
              rs.on('end', () => resolve({ status: rs.statusCode ?? 0, body: t }));
            });
            req.on('error', reject);
            req.end(b);
          }).catch((e: Error) => ({ status: 0, body: e.message }));
          const y = res.status === 200 ? (JSON.parse(res.body) as { outputs: { data: number[] }[] }).outputs[0]!.data : [];
          const want = tinyExpected(x, 1).flat();
          if (res.status === 200 && y.length === want.length && y.every((v, k) => Math.abs(v - want[k]!) <= 1e-4)) good++;
          else bad.push(`${res.status} ${res.body.slice(0, 200)}`);
        }
      };
      const traffic = Promise.all([correct(), correct(), correct(), correct()]);

      // The storm: 24 connections at a time; the slow clients all at once beside them.
      const slow = hostile.filter((h) => h.stall && h.pauseMs);
      const fast = hostile.filter((h) => !(h.stall && h.pauseMs));
      const send = async (h: Hostile): Promise<void> => {
        answers.push({ h, a: await raw(server.port, h.parts, { ...(h.pauseMs ? { pauseMs: h.pauseMs } : {}), ...(h.stall ? { stall: true } : {}) }).catch((e: Error) => e) });
      };
      const slowDone = Promise.all(slow.map(send));
      let next = 0;
      await Promise.all(Array.from({ length: 24 }, async () => { while (next < fast.length) await send(fast[next++]!); }));
      await slowDone;
      storming = false;
      await traffic;
      agent.destroy();

      const failures = answers.filter(({ h, a }) => {
        if (a instanceof Error) return true;
        if (a.status < 400 || a.status > 499) return true;
        if (!h.jsonError) return false;
        try { return typeof (JSON.parse(a.body) as { error?: unknown }).error !== 'string'; } catch { return true; }
      });
      const show = failures.slice(0, 5).map(({ h, a }) => `${h.kind}: ${a instanceof Error ? a.message : `${a.status} ${a.body.slice(0, 160)}`} ← ${h.parts.map((p) => p.toString('latin1')).join('').slice(0, 300)}`);
      expect(answers).to.have.length(1000);
      expect(failures.length, `requests not answered 4xx (with a JSON error where the handler answers):\n${show.join('\n')}`).to.equal(0);
      const byStatus = new Map<number, number>();
      for (const { a } of answers) if (!(a instanceof Error)) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
      expect([...byStatus.keys()].every((s) => s >= 400 && s < 500)).to.equal(true);
      expect(byStatus.get(408), 'slow clients answered 408').to.be.at.least(70);
      expect(byStatus.get(413), 'oversize bodies answered 413').to.be.at.least(30);
      expect(bad, `correct requests that failed during the storm: ${bad.slice(0, 3).join('; ')}`).to.deep.equal([]);
      expect(good, 'correct requests answered during the storm').to.be.at.least(20);
      // Still up and serving; no request of the storm became a 5xx.
      expect((await fetch(`${server.url}/v2/health/live`)).status).to.equal(200);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).not.to.match(/kiln_requests_total\{[^}]*code="5\d\d"\}/);
      expect(logged).to.be.greaterThan(900);
    } finally {
      await server.close();
    }
  });

  it('SIGTERM during load loses no request: each is answered 200 (right output), refused 503, or never accepted', async () => {
    const dir = tempDir('serve-sigterm');
    mkdirSync(path.join(dir, 'tiny'));
    writeFileSync(path.join(dir, 'tiny', 'model.onnx'), tinyModel(1));
    writeFileSync(path.join(dir, 'tiny', 'config.json'), JSON.stringify({ max_batch: 8, batch_timeout_ms: 20 }));
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/kiln.js'), 'serve', dir, '--port', '0', '--backend', 'cpu', '--no-watch'], {
        env: { ...process.env, KILN_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child!.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        void exited.then((code) => reject(new Error(`kiln serve exited ${code}: ${stderr}`)));
      });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      type Outcome = 'ok' | 'wrong' | 'refused-503' | 'not-accepted' | 'lost';
      const outcomes: { outcome: Outcome; sentBeforeKill: boolean; answeredAfterKill: boolean; detail: string }[] = [];
      let killedAt = Infinity;
      let stop = false;
      const one = async (k: number): Promise<void> => {
        const x = [[k % 7, (k * 3) % 5, 1]];
        const b = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: x.flat() }] }));
        const sentAt = performance.now();
        const res = await new Promise<{ status: number; body: string } | Error>((resolve) => {
          const req = http.request({ host: '127.0.0.1', port, path: '/v2/models/tiny/infer', method: 'POST', agent, headers: { 'content-length': b.length } }, (rs) => {
            let t = '';
            rs.on('data', (c: Buffer) => { t += c.toString(); });
            rs.on('end', () => resolve({ status: rs.statusCode ?? 0, body: t }));
            rs.on('error', resolve);
          });
          req.on('error', resolve);
          req.end(b);
        });
        const sentBeforeKill = sentAt < killedAt;
        const answeredAfterKill = performance.now() > killedAt;
        if (res instanceof Error) {
          const code = (res as NodeJS.ErrnoException).code;
          outcomes.push({ outcome: code === 'ECONNREFUSED' ? 'not-accepted' : 'lost', sentBeforeKill, answeredAfterKill, detail: `${code} ${res.message}` });
          if (code === 'ECONNREFUSED') stop = true;
          return;
        }
        if (res.status === 503) { outcomes.push({ outcome: 'refused-503', sentBeforeKill, answeredAfterKill, detail: res.body }); return; }
        const y = res.status === 200 ? (JSON.parse(res.body) as { outputs: { data: number[] }[] }).outputs[0]!.data : [];
        const want = tinyExpected(x, 1)[0]!;
        const right = y.length === 2 && y.every((v, i) => Math.abs(v - want[i]!) <= 1e-4);
        outcomes.push({ outcome: right ? 'ok' : 'wrong', sentBeforeKill, answeredAfterKill, detail: `${res.status} ${res.body.slice(0, 200)}` });
      };
      let k = 0;
      const clients = Array.from({ length: 16 }, async () => { while (!stop && k < 5000) await one(k++); });
      // Kill once the load is under way; the clients go on until the port refuses connections.
      while (outcomes.length < 300) await new Promise((r) => setTimeout(r, 10));
      killedAt = performance.now();
      child.kill('SIGTERM');
      await Promise.all(clients);
      agent.destroy();
      expect(await exited).to.equal(0);
      const count = (o: Outcome): number => outcomes.filter((r) => r.outcome === o).length;
      const lost = outcomes.filter((r) => r.outcome === 'lost' || r.outcome === 'wrong');
      expect(lost.map((r) => r.detail).slice(0, 5), `lost or wrong answers: ${lost.length}`).to.deep.equal([]);
      expect(count('not-accepted'), 'the port closes').to.be.greaterThan(0);
      // Requests sent before the signal and answered after it with the right output: the in-flight ones were finished.
      const finished = outcomes.filter((r) => r.sentBeforeKill && r.answeredAfterKill && r.outcome === 'ok').length;
      expect(finished, 'in-flight requests finished after SIGTERM').to.be.greaterThan(0);
      const lines = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => l.event === 'stopped')).to.equal(true);
      expect(lines.filter((l) => l.event === 'request' && l.status === 200).length).to.equal(count('ok'));
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
