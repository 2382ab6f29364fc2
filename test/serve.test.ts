/**
 * `kiln serve`: the HTTP server on port 0 over a model repository made here (every
 * shared model, and tiny generated models with a dynamic batch dim),
 * called by a client Kiln did not write: openapi-fetch typed by openapi-typescript's
 * types of KServe's published OpenAPI description (test/serve/rest_predict_v2.yaml,
 * types in test/serve/rest_predict_v2.d.ts), and curl for TF Serving's predict.
 * Outputs are compared with onnxruntime-node on the same inputs.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import createClient, { defaultPathSerializer } from 'openapi-fetch';
import openapiTS, { astToString } from 'openapi-typescript';
import { readTensorFile } from '../onnx/tensor-proto.js';
import { Tensor } from '../src/graph/tensor.js';
import { dtypeOfWire, tensorFromBinary, tensorFromJson, tensorToBinary, wireDatatype, wireShape } from '../src/serve/codec.js';
import { Server } from '../src/serve/server.js';
import { tempDir } from './cli-helpers.js';
import { expectNear } from './helpers/gpu-compare.js';
import { pairModel, tinyExpected, tinyModel } from './helpers/serve.js';
import { REPO_ROOT, runOrt, SHARED_MODEL_NAMES, SHARED_MODELS } from './onnx-util.js';
import type { components, paths } from './serve/rest_predict_v2.js';

/**
 * The `inputs` of a typed request, each checked against KServe's `request_input` schema
 * type. openapi-fetch 0.17's Writable<> of a request body cannot map that schema (its
 * `data` is the recursive `tensor_data`, which becomes `any` and then a key type that no
 * object satisfies), so the checked list is handed over through this one cast.
 */
function inputs(...list: components['schemas']['request_input'][]): never {
  return list as never;
}

/** Runs curl with a JSON body on stdin; returns the status and the parsed body. */
function curl(method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const args = ['-s', '-X', method, '-H', 'content-type: application/json', '-w', '\n%{http_code}', url];
    if (body !== undefined) args.push('--data-binary', '@-');
    const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) { reject(new Error(`curl exited ${code}`)); return; }
      const cut = out.lastIndexOf('\n');
      resolve({ status: Number(out.slice(cut + 1)), body: JSON.parse(out.slice(0, cut)) as Record<string, unknown> });
    });
    child.stdin.end(body === undefined ? '' : JSON.stringify(body));
  });
}

/** Largest absolute difference of two number lists of one length. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('kiln serve (HTTP: Open Inference Protocol v2 REST, TF Serving predict)', function () {
  this.timeout(120000);
  const haveShared = SHARED_MODEL_NAMES.every((n) => existsSync(path.join(SHARED_MODELS, n, 'model.onnx')));
  let repo: string;
  let server: Server;
  let base: string;
  const logs: Record<string, unknown>[] = [];
  let client: ReturnType<typeof createClient<paths>>;

  before(async function () {
    if (!haveShared && process.env.CI === 'true') throw new Error(`shared models missing: ${SHARED_MODELS}`);
    repo = tempDir('serve');
    mkdirSync(path.join(repo, 'tiny', '1'), { recursive: true });
    writeFileSync(path.join(repo, 'tiny', '1', 'model.onnx'), tinyModel(1));
    writeFileSync(path.join(repo, 'tiny', 'config.json'), JSON.stringify({ max_batch: 8, batch_timeout_ms: 150 }));
    mkdirSync(path.join(repo, 'pair'));
    writeFileSync(path.join(repo, 'pair', 'model.onnx'), pairModel());
    writeFileSync(path.join(repo, 'pair', 'config.json'), JSON.stringify({ max_batch: 1 }));
    if (haveShared) {
      // Every shared model as version 1 (a link to the shared file; bert_tiny as a plain model.onnx in its folder).
      for (const name of SHARED_MODEL_NAMES) {
        const dir = name === 'bert_tiny' ? path.join(repo, name) : path.join(repo, name, '1');
        mkdirSync(dir, { recursive: true });
        symlinkSync(path.join(SHARED_MODELS, name, 'model.onnx'), path.join(dir, 'model.onnx'));
      }
    }
    server = await Server.start({ modelDir: repo, port: 0, backend: 'cpu', watchDebounceMs: 100, maxBodyBytes: 16 * 1024 * 1024, log: (e) => logs.push(e) });
    expect(server.port).to.be.greaterThan(0);
    base = server.url;
    // KServe's description writes path parameters as `${NAME}`; openapi-fetch fills `{NAME}`.
    client = createClient<paths>({ baseUrl: base, pathSerializer: (p, params) => defaultPathSerializer(p.replace(/\$\{/g, '{'), params) });
  });

  after(async () => {
    await server?.close();
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  it('the committed client types are what openapi-typescript makes of the committed KServe description', async () => {
    const yaml = readFileSync(path.join(REPO_ROOT, 'test/serve/rest_predict_v2.yaml'), 'utf8');
    const made = astToString(await openapiTS(yaml));
    const committed = readFileSync(path.join(REPO_ROOT, 'test/serve/rest_predict_v2.d.ts'), 'utf8');
    const strip = (s: string): string => s.split('\n').filter((l) => !l.startsWith('//') && !/^\s*\*|^\/\*\*/.test(l)).join('\n').replace(/\s+/g, ' ').trim();
    expect(strip(committed)).to.equal(strip(made));
  });

  it('health: live and ready; server metadata', async () => {
    const live = await client.GET('/v2/health/live');
    expect(live.response.status).to.equal(200);
    const ready = await client.GET('/v2/health/ready');
    expect(ready.response.status).to.equal(200);
    const meta = await client.GET('/v2/');
    expect(meta.data?.name).to.equal('kiln');
    expect(meta.data?.extensions).to.include('binary_tensor_data');
  });

  it('model metadata and readiness (with and without a version); -1 for dynamic dims', async () => {
    const { data, response } = await client.GET('/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}', { params: { path: { MODEL_NAME: 'tiny', MODEL_VERSION: '1' } } });
    expect(response.status).to.equal(200);
    expect(data).to.deep.equal({
      name: 'tiny', versions: ['1'], platform: 'onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    });
    const plain = await (await fetch(`${base}/v2/models/pair`)).json() as { versions: string[]; inputs: unknown[] };
    expect(plain.versions).to.deep.equal(['1']);
    expect(plain.inputs).to.have.length(2);
    const r = await client.GET('/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/ready', { params: { path: { MODEL_NAME: 'tiny', MODEL_VERSION: '1' } } });
    expect(r.response.status).to.equal(200);
    expect((await fetch(`${base}/v2/models/tiny/ready`)).status).to.equal(200);
    if (haveShared) {
      const bert = await (await fetch(`${base}/v2/models/bert_tiny`)).json() as { inputs: { datatype: string }[] };
      expect(bert.inputs[0]!.datatype).to.equal('INT64');
    }
  });

  it('infer (JSON tensors, typed client): every shared model matches onnxruntime-node (|d| ≤ 1e-4 + 1e-3·|ort|)', async function () {
    if (!haveShared) this.skip();
    for (const name of SHARED_MODEL_NAMES) {
      const { name: input, tensor } = readTensorFile(path.join(SHARED_MODELS, name, 'test_data_set_0', 'input_0.pb'));
      const { data, response } = await client.POST('/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer', {
        params: { path: { MODEL_NAME: name, MODEL_VERSION: '1' } },
        body: { id: `req-${name}`, inputs: inputs({ name: input, shape: [...tensor.shape], datatype: wireDatatype(tensor.dtype), data: Array.from(tensor.data) }) },
      });
      expect(response.status, `${name}: ${JSON.stringify(data)}`).to.equal(200);
      expect(data!.model_name).to.equal(name);
      expect(data!.id).to.equal(`req-${name}`);
      const ref = await runOrt(readFileSync(path.join(SHARED_MODELS, name, 'model.onnx')), { [input]: tensor });
      expect(data!.outputs.map((o) => o.name).sort(), name).to.deep.equal(Object.keys(ref).sort());
      for (const out of data!.outputs) {
        const want = ref[out.name]!;
        expect(out.datatype, `${name} ${out.name}`).to.equal(wireDatatype(want.dtype));
        const got = tensorFromJson(want.dtype, out.shape, out.data as unknown[], `${name} ${out.name}`);
        expectNear(got, want, 1e-4, 1e-3, `${name} ${out.name}`);
      }
    }
  });

  it('infer: requested outputs only, nested data, multi-input model against onnxruntime-node', async () => {
    const a = [[1, 2], [3, 4]];
    const b = [[0.5, 0.25], [-1, 2]];
    const { data } = await client.POST('/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer', {
      params: { path: { MODEL_NAME: 'pair', MODEL_VERSION: '1' } },
      body: { inputs: inputs({ name: 'a', shape: [2, 2], datatype: 'FP32', data: a }, { name: 'b', shape: [2, 2], datatype: 'FP32', data: b.flat() }), outputs: [{ name: 'p' }] },
    });
    expect(data!.outputs.map((o) => o.name)).to.deep.equal(['p']);
    const ref = await runOrt(pairModel(), { a: Tensor.from('float32', [2, 2], a.flat()), b: Tensor.from('float32', [2, 2], b.flat()) });
    expect(maxDiff(data!.outputs[0]!.data as number[], ref.p!.data as Float32Array)).to.be.lessThan(1e-4);
  });

  it('binary tensor extension: binary input and binary output', async () => {
    const x = new Float32Array([1, 0, -1, 2, 2, 2]);
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'y', parameters: { binary_data: true } }],
    }));
    const res = await fetch(`${base}/v2/models/tiny/infer`, {
      method: 'POST', headers: { 'Inference-Header-Content-Length': String(header.length), 'content-type': 'application/octet-stream' },
      body: Buffer.concat([header, Buffer.from(x.buffer)]),
    });
    expect(res.status).to.equal(200);
    const n = Number(res.headers.get('inference-header-content-length'));
    const body = Buffer.from(await res.arrayBuffer());
    const head = JSON.parse(body.subarray(0, n).toString()) as { outputs: { name: string; shape: number[]; parameters: { binary_data_size: number } }[] };
    expect(head.outputs[0]!.shape).to.deep.equal([2, 2]);
    expect(head.outputs[0]!.parameters.binary_data_size).to.equal(16);
    const y = new Float32Array(body.buffer.slice(body.byteOffset + n, body.byteOffset + n + 16));
    expect(maxDiff(y, tinyExpected([[1, 0, -1], [2, 2, 2]], 1).flat())).to.be.lessThan(1e-5);
    // A binary input with a JSON output, and binary data that does not fit the shape (400).
    const h2 = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } }] }));
    const r2 = await fetch(`${base}/v2/models/tiny/infer`, { method: 'POST', headers: { 'Inference-Header-Content-Length': String(h2.length) }, body: Buffer.concat([h2, Buffer.from(new Float32Array([1, 1, 1]).buffer)]) });
    const j2 = await r2.json() as { outputs: { data: number[] }[] };
    expect(maxDiff(j2.outputs[0]!.data, tinyExpected([[1, 1, 1]], 1)[0]!)).to.be.lessThan(1e-5);
    const h3 = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } }] }));
    const r3 = await fetch(`${base}/v2/models/tiny/infer`, { method: 'POST', headers: { 'Inference-Header-Content-Length': String(h3.length) }, body: Buffer.concat([h3, Buffer.alloc(12)]) });
    expect(r3.status).to.equal(400);
  });

  it('binary tensor extension: an INT64 input (bert_tiny) matches onnxruntime-node', async function () {
    if (!haveShared) this.skip();
    const { name, tensor } = readTensorFile(path.join(SHARED_MODELS, 'bert_tiny', 'test_data_set_0', 'input_0.pb'));
    const ids = BigInt64Array.from(tensor.data, (v) => BigInt(v));
    const header = Buffer.from(JSON.stringify({ inputs: [{ name, shape: [...tensor.shape], datatype: 'INT64', parameters: { binary_data_size: ids.byteLength } }], parameters: { binary_data_output: true } }));
    const res = await fetch(`${base}/v2/models/bert_tiny/infer`, { method: 'POST', headers: { 'Inference-Header-Content-Length': String(header.length) }, body: Buffer.concat([header, Buffer.from(ids.buffer)]) });
    expect(res.status).to.equal(200);
    const n = Number(res.headers.get('inference-header-content-length'));
    const body = Buffer.from(await res.arrayBuffer());
    const head = JSON.parse(body.subarray(0, n).toString()) as { outputs: { name: string; parameters: { binary_data_size: number } }[] };
    const ref = await runOrt(readFileSync(path.join(SHARED_MODELS, 'bert_tiny', 'model.onnx')), { [name]: tensor });
    let at = n;
    for (const o of head.outputs) {
      const size = o.parameters.binary_data_size;
      const got = new Float32Array(body.buffer.slice(body.byteOffset + at, body.byteOffset + at + size));
      at += size;
      expect(maxDiff(got, ref[o.name]!.data as Float32Array), o.name).to.be.lessThan(1e-4);
    }
    expect(at).to.equal(body.length);
  });

  it('TF Serving predict (curl): row instances, columnar inputs, named instances, model status', async () => {
    const rows = [[1, 2, 3], [0, -1, 0.5]];
    const r = await curl('POST', `${base}/v1/models/tiny:predict`, { instances: rows });
    expect(r.status).to.equal(200);
    const preds = r.body.predictions as number[][];
    expect(maxDiff(preds.flat(), tinyExpected(rows, 1).flat())).to.be.lessThan(1e-5);
    const c = await curl('POST', `${base}/v1/models/tiny/versions/1:predict`, { inputs: rows });
    expect(maxDiff((c.body.outputs as number[][]).flat(), tinyExpected(rows, 1).flat())).to.be.lessThan(1e-5);
    const named = await curl('POST', `${base}/v1/models/pair:predict`, { instances: [{ a: [1, 2], b: [3, 4] }] });
    expect(named.body.predictions).to.deep.equal([{ s: [4, 6], p: [3, 8] }]);
    const st = await curl('GET', `${base}/v1/models/tiny`);
    expect(st.status).to.equal(200);
    expect((st.body.model_version_status as { state: string }[])[0]!.state).to.equal('AVAILABLE');
    const missing = await curl('POST', `${base}/v1/models/nope:predict`, { instances: rows });
    expect(missing.status).to.equal(404);
    expect(missing.body.error).to.be.a('string');
    const bad = await curl('POST', `${base}/v1/models/tiny:predict`, { instances: [[1, 2]] });
    expect(bad.status).to.equal(400);
  });

  it('errors: each answered with { error } and its status code; the server keeps serving', async () => {
    const post = async (url: string, body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}): Promise<{ status: number; error: unknown }> => {
      const res = await fetch(`${base}${url}`, { method: 'POST', body: typeof body === 'string' ? body : new Blob([body]), headers });
      const j = await res.json() as { error?: unknown };
      return { status: res.status, error: j.error };
    };
    const x = (over: Record<string, unknown> = {}): string => JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3], ...over }] });
    const cases: [string, Promise<{ status: number; error: unknown }>, number, RegExp][] = [
      ['unknown model', post('/v2/models/nope/infer', x()), 404, /unknown model 'nope'/],
      ['unknown version', post('/v2/models/tiny/versions/9/infer', x()), 404, /no version '9'/],
      ['wrong datatype', post('/v2/models/tiny/infer', x({ datatype: 'INT64' })), 400, /datatype INT64 given, the model takes FP32/],
      ['unknown datatype', post('/v2/models/tiny/infer', x({ datatype: 'FLOAT' })), 400, /unknown datatype/],
      ['wrong shape', post('/v2/models/tiny/infer', x({ shape: [1, 4], data: [1, 2, 3, 4] })), 400, /shape \[1,4\] given, the model takes \[-1,3\]/],
      ['data does not fit the shape', post('/v2/models/tiny/infer', x({ shape: [2, 3] })), 400, /needs 6 elements, got 3/],
      ['non-number element', post('/v2/models/tiny/infer', x({ data: [1, 'a', 3] })), 400, /not a finite number/],
      ['missing input', post('/v2/models/pair/infer', JSON.stringify({ inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] })), 400, /missing input 'b'/],
      ['unknown input', post('/v2/models/tiny/infer', x({ name: 'z' })), 400, /no input 'z'/],
      ['unknown output', post('/v2/models/tiny/infer', JSON.stringify({ ...JSON.parse(x()), outputs: [{ name: 'q' }] })), 400, /no output 'q'/],
      ['malformed JSON', post('/v2/models/tiny/infer', '{"inputs": ['), 400, /malformed JSON/],
      ['data nested too deep', post('/v2/models/tiny/infer', x({ data: JSON.parse(`${'['.repeat(40)}1${']'.repeat(40)}`) })), 400, /deeper than 32/],
      ['shape of the wrong type', post('/v2/models/tiny/infer', x({ shape: '1,3' })), 400, /'shape' must be a list/],
      ['no inputs', post('/v2/models/tiny/infer', '{}'), 400, /needs 'inputs'/],
      ['bad binary header', post('/v2/models/tiny/infer', x(), { 'Inference-Header-Content-Length': '99999' }), 400, /Inference-Header-Content-Length/],
      ['oversize body', post('/v2/models/tiny/infer', new Uint8Array(17 * 1024 * 1024).fill(32)), 413, /larger than the limit/],
      ['TF malformed JSON', post('/v1/models/tiny:predict', 'nope'), 400, /malformed JSON/],
    ];
    for (const [what, p, status, message] of cases) {
      const r = await p;
      expect(r.status, what).to.equal(status);
      expect(String(r.error), what).to.match(message);
    }
    const notFound = await fetch(`${base}/v2/models/nope`);
    expect(notFound.status).to.equal(404);
    expect(((await notFound.json()) as { error: string }).error).to.match(/unknown model/);
    expect((await fetch(`${base}/nowhere`)).status).to.equal(404);
    expect((await fetch(`${base}/v2/models/tiny/infer`)).status).to.equal(405);

    // A thrown error inside a handler: 500 with a JSON error, and the next request is served.
    const mv = server.repository.get('pair')!;
    const orig = mv.infer.bind(mv);
    mv.infer = () => { throw new Error('boom'); };
    try {
      const r = await post('/v2/models/pair/infer', JSON.stringify({ inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }, { name: 'b', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }));
      expect(r.status).to.equal(500);
      expect(r.error).to.equal('boom');
    } finally {
      mv.infer = orig;
    }
    expect((await fetch(`${base}/v2/health/live`)).status).to.equal(200);
  });

  it('time limit: a request over --request-timeout-ms is answered 504', async () => {
    const dir = tempDir('serve-slow');
    mkdirSync(path.join(dir, 'tiny'));
    writeFileSync(path.join(dir, 'tiny', 'model.onnx'), tinyModel(1));
    writeFileSync(path.join(dir, 'tiny', 'config.json'), JSON.stringify({ max_batch: 8, batch_timeout_ms: 150 }));
    const slow = await Server.start({ modelDir: dir, port: 0, backend: 'cpu', watch: false, requestTimeoutMs: 20, log: () => undefined });
    try {
      // tiny waits 150 ms for a batch, longer than the 20 ms limit.
      const res = await fetch(`${slow.url}/v2/models/tiny/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }) });
      expect(res.status).to.equal(504);
      expect(((await res.json()) as { error: string }).error).to.match(/longer than 20 ms/);
    } finally {
      await slow.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dynamic batching: concurrent requests run in fewer runs, each answered with its own rows', async () => {
    const runs = (): number => server.metrics.value('kiln_model_runs_total', { model: 'tiny', version: '1' });
    const before = runs();
    const batches = Array.from({ length: 8 }, (_, i) => Array.from({ length: 1 + (i % 2) }, (_, r) => [i, r, i * r - 1]));
    const replies = await Promise.all(batches.map((rows) => client.POST('/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer', {
      params: { path: { MODEL_NAME: 'tiny', MODEL_VERSION: '1' } },
      body: { inputs: inputs({ name: 'x', shape: [rows.length, 3], datatype: 'FP32', data: rows.flat() }) },
    })));
    replies.forEach(({ data }, i) => {
      expect(data!.outputs[0]!.shape).to.deep.equal([batches[i]!.length, 2]);
      expect(maxDiff(data!.outputs[0]!.data as number[], tinyExpected(batches[i]!, 1).flat()), `request ${i}`).to.be.lessThan(1e-5);
    });
    const used = runs() - before;
    expect(used).to.be.greaterThan(0);
    expect(used, 'runs for 8 concurrent requests').to.be.lessThan(8);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).to.match(/kiln_model_runs_total\{model="tiny",version="1"\} \d+/);
    expect(text).to.match(/kiln_batch_size_bucket\{model="tiny",le="8"\} \d+/);
  });

  it('metrics: requests and errors per model and code, latency histogram, queue depth', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).to.match(/^text\/plain/);
    const text = await res.text();
    expect(text).to.match(/kiln_requests_total\{model="tiny",code="200"\} \d+/);
    expect(text).to.match(/kiln_request_errors_total\{model="tiny",code="400"\} \d+/);
    expect(text).to.match(/kiln_request_errors_total\{model="\(unknown\)",code="404"\} \d+/);
    expect(text, 'no series for a model name that only a URL used').not.to.include('model="nope"');
    expect(text).to.match(/kiln_request_duration_seconds_bucket\{model="tiny",le="\+Inf"\} \d+/);
    expect(text).to.match(/kiln_request_duration_seconds_count\{model="tiny"\} \d+/);
    expect(text).to.match(/kiln_queue_depth\{model="tiny"\} 0/);
    expect(text, 'GPU memory gauge is 0 off the GPU').to.match(/kiln_gpu_memory_bytes\{model="tiny",version="\d+",backend="cpu"\} 0/);
    expect(text).to.include('# TYPE kiln_request_duration_seconds histogram');
    const req = logs.find((e) => e.event === 'request' && e.status === 200 && e.model === 'tiny');
    expect(req).to.include.keys('method', 'path', 'ms', 'version');
  });

  it('hot reload: a new version is served after it loads, with no failed request during the swap', async () => {
    let stop = false;
    const statuses: number[] = [];
    const versions = new Set<string>();
    const traffic = (async () => {
      while (!stop) {
        const res = await fetch(`${base}/v2/models/tiny/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 1, 1] }] }) });
        statuses.push(res.status);
        const j = await res.json() as { model_version: string; outputs: { data: number[] }[] };
        versions.add(j.model_version);
        const scale = j.model_version === '2' ? 10 : 1;
        expect(maxDiff(j.outputs[0]!.data, tinyExpected([[1, 1, 1]], scale)[0]!)).to.be.lessThan(1e-4);
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    mkdirSync(path.join(repo, 'tiny', '2'));
    writeFileSync(path.join(repo, 'tiny', '2', 'model.onnx.partial'), tinyModel(10));
    renameSync(path.join(repo, 'tiny', '2', 'model.onnx.partial'), path.join(repo, 'tiny', '2', 'model.onnx'));
    const deadline = Date.now() + 20000;
    let meta: { versions: string[] } = { versions: [] };
    while (Date.now() < deadline) {
      meta = await (await fetch(`${base}/v2/models/tiny`)).json() as { versions: string[] };
      if (meta.versions.includes('2')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(meta.versions).to.deep.equal(['1', '2']);
    await new Promise((r) => setTimeout(r, 400));
    stop = true;
    await traffic;
    expect(statuses.length).to.be.greaterThan(2);
    expect(statuses.every((s) => s === 200), `statuses ${statuses.join(',')}`).to.equal(true);
    expect([...versions]).to.include('2');
    const v1 = await (await fetch(`${base}/v2/models/tiny/versions/1/ready`)).json() as { ready: boolean };
    expect(v1.ready).to.equal(true);
  });

  it('reload: a version that fails to load leaves the others serving; a removed version is retired', async () => {
    mkdirSync(path.join(repo, 'tiny', '3'));
    writeFileSync(path.join(repo, 'tiny', '3', 'model.onnx'), 'not an onnx model');
    const failed = async (): Promise<boolean> => logs.some((e) => e.event === 'load' && e.level === 'error' && e.version === '3');
    for (let i = 0; i < 200 && !(await failed()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await failed()).to.equal(true);
    const meta = await (await fetch(`${base}/v2/models/tiny`)).json() as { versions: string[] };
    expect(meta.versions).to.deep.equal(['1', '2']);
    expect((await fetch(`${base}/v2/health/ready`)).status, 'not every model version is ready').to.equal(503);
    const ok = await fetch(`${base}/v2/models/tiny/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 1, 1] }] }) });
    expect(ok.status).to.equal(200);
    rmSync(path.join(repo, 'tiny', '3'), { recursive: true });
    rmSync(path.join(repo, 'tiny', '1'), { recursive: true });
    let versions: string[] = [];
    for (let i = 0; i < 200; i++) {
      versions = ((await (await fetch(`${base}/v2/models/tiny`)).json()) as { versions: string[] }).versions;
      if (versions.length === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(versions).to.deep.equal(['2']);
    expect((await fetch(`${base}/v2/health/ready`)).status).to.equal(200);
    expect((await fetch(`${base}/v2/models/tiny/versions/1/ready`)).status).to.equal(404);
    expect((await fetch(`${base}/v2/models/tiny/versions/1/infer`, { method: 'POST', body: '{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,1,1]}]}' })).status).to.equal(404);
  });

  it('WebGPU backend: concurrent requests are batched on the device, each answered with its own rows', async function () {
    const dir = tempDir('serve-gpu');
    mkdirSync(path.join(dir, 'tiny'));
    writeFileSync(path.join(dir, 'tiny', 'model.onnx'), tinyModel(1));
    const gpu = await Server.start({ modelDir: dir, port: 0, backend: 'webgpu', watch: false, batchTimeoutMs: 50, log: () => undefined });
    try {
      const failure = gpu.repository.failures.get('tiny');
      if (failure && /adapter|WebGPU/i.test(failure) && process.env.CI !== 'true') this.skip();
      expect(failure, failure).to.equal(undefined);
      expect(gpu.repository.get('tiny')!.session.backend).to.equal('webgpu');
      const rows = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]];
      const replies = await Promise.all(rows.map(async (x) => {
        const res = await fetch(`${gpu.url}/v2/models/tiny/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: x }] }) });
        return await res.json() as { outputs: { data: number[] }[] };
      }));
      replies.forEach((r, i) => expect(maxDiff(r.outputs[0]!.data, tinyExpected([rows[i]!], 1)[0]!)).to.be.lessThan(1e-5));
      expect(gpu.metrics.value('kiln_model_runs_total', { model: 'tiny', version: '1' })).to.be.lessThan(rows.length);
      // The GPU-memory gauge: the session's plan buffers (its 3×4 weight and bias at least), sampled at scrape time.
      const held = gpu.repository.get('tiny')!.session.gpuMemoryBytes;
      expect(held).to.be.greaterThanOrEqual(16 * 4);
      const text = await (await fetch(`${gpu.url}/metrics`)).text();
      expect(text).to.include('# TYPE kiln_gpu_memory_bytes gauge');
      expect(text).to.include(`kiln_gpu_memory_bytes{model="tiny",version="1",backend="webgpu"} ${held}`);
    } finally {
      await gpu.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('CLI: kiln serve --port 0 prints the bound port; SIGTERM finishes the in-flight request and exits 0', async () => {
    const dir = tempDir('serve-cli');
    mkdirSync(path.join(dir, 'tiny'));
    writeFileSync(path.join(dir, 'tiny', 'model.onnx'), tinyModel(1));
    writeFileSync(path.join(dir, 'tiny', 'config.json'), JSON.stringify({ batch_timeout_ms: 300 }));
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/kiln.js'), 'serve', dir, '--port', '0', '--backend', 'cpu', '--no-watch'], {
        env: { ...process.env, KILN_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child!.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`kiln serve exited ${code}: ${stderr}`)));
      });
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const inflight = fetch(`${url}/v2/models/tiny/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }) });
      await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGTERM');
      const res = await inflight;
      expect(res.status).to.equal(200);
      expect(maxDiff(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, tinyExpected([[1, 2, 3]], 1)[0]!)).to.be.lessThan(1e-5);
      expect(await exited).to.equal(0);
      const lines = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => l.event === 'request' && l.status === 200)).to.equal(true);
      expect(lines.some((l) => l.event === 'stopped')).to.equal(true);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kiln serve codecs (Open Inference Protocol datatypes and binary layout)', () => {
  it('datatype names both ways; -1 for dynamic dims', () => {
    expect(['float32', 'int64', 'bool', 'float16', 'uint8', 'string'].map((d) => wireDatatype(d as never))).to.deep.equal(['FP32', 'INT64', 'BOOL', 'FP16', 'UINT8', 'BYTES']);
    expect(dtypeOfWire('FP64')).to.equal('float64');
    expect(dtypeOfWire('FLOAT')).to.equal(undefined);
    expect(wireShape(['batch', 3, 'seq'])).to.deep.equal([-1, 3, -1]);
  });

  it('binary round trips: FP16, BOOL, INT64, UINT8 (little-endian, BOOL one byte)', () => {
    const cases: [string, number[]][] = [['float16', [1, -2.5, 0.333251953125, 65504]], ['bool', [1, 0, 1]], ['int64', [-3, 2 ** 40, 7]], ['uint8', [0, 255, 9]]];
    for (const [d, values] of cases) {
      const t = Tensor.from(d as never, [values.length], values);
      const bytes = tensorToBinary(t);
      const back = tensorFromBinary(d as never, [values.length], bytes, 'x');
      expect(Array.from(back.data), d).to.deep.equal(Array.from(t.data));
    }
    expect(Array.from(tensorToBinary(Tensor.from('int64', [1], [-2])))).to.deep.equal([254, 255, 255, 255, 255, 255, 255, 255]);
    expect(Array.from(tensorToBinary(Tensor.from('float16', [1], [1])))).to.deep.equal([0, 60]);
  });

  it('JSON elements: BOOL takes booleans, integers must be integers', () => {
    expect(Array.from(tensorFromJson('bool', [2], [true, false], 'x').data)).to.deep.equal([1, 0]);
    expect(() => tensorFromJson('int64', [1], [1.5], 'x')).to.throw(/not an integer/);
    expect(() => tensorFromJson('float32', [1], [null], 'x')).to.throw(/not a finite number/);
  });
});
