/// <reference types="@webgpu/types" />
/**
 * `kiln check -O 0|1|2` and `--all-levels`: one row per level and backend, exit 1
 * when any row fails. Checked on a shared model (squeezenet1_1) and on a model
 * directory written here whose weight lives in a large `Constant` node (expected
 * output computed by hand), on the CPU and — with an adapter — on WebGPU (without
 * one the WebGPU rows are left out, with the reason printed; CI=true fails). Every
 * shared model passes `--backend wasm` at -O 0 and -O 2.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { Tensor } from '../src/graph/tensor.js';
import { onnx } from '../onnx/proto.js';
import { tensorToProto } from '../onnx/tensor-proto.js';
import type { AllLevelsJson } from '../src/cli/commands/check.js';
import { kiln, tempDir } from './cli-helpers.js';
import { sharedDevice } from './helpers/gpu.js';
import { recordingWasm } from './helpers/wasm-conformance.js';
import type { WasmProgram } from '../src/backends/wasm/index.js';
import { checkModelDir } from '../src/harness/model-test.js';
import { atLevel } from '../src/session/backends.js';
import { model, SHARED_MODELS, vi } from './onnx-util.js';

const F = onnx.TensorProto.DataType.FLOAT;

/** DIR/model.onnx: y = x[batch,80] · W[80,64] with W a Constant node (5120 elements), and its data set (batch 2). */
function constantModelDir(expected?: Tensor): string {
  const dir = tempDir('check-levels');
  const [M, K, N] = [2, 80, 64];
  const wv = Array.from({ length: K * N }, (_, i) => ((i * 29) % 31) / 31 - 0.5);
  const xv = Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) / 11 - 0.3);
  const yv: number[] = [];
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) yv.push(xv.slice(m * K, (m + 1) * K).reduce((s, x, k) => s + x * wv[k * N + n]!, 0));
  writeFileSync(path.join(dir, 'model.onnx'), model({
    node: [
      { opType: 'Constant', input: [], output: ['W'], name: 'weight', attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: tensorToProto(Tensor.from('float32', [K, N], wv), 'W') }] },
      { opType: 'MatMul', input: ['x', 'W'], output: ['y'], name: 'mm' },
    ],
    // A dynamic batch dim, as paddle2onnx writes them; kiln check binds it from the data set.
    input: [vi('x', F, ['batch', K])],
    output: [vi('y', F, ['batch', N])],
  }));
  mkdirSync(path.join(dir, 'test_data_set_0'));
  const pb = (t: Tensor, name: string): Uint8Array => onnx.TensorProto.encode(tensorToProto(t, name)).finish();
  writeFileSync(path.join(dir, 'test_data_set_0', 'input_0.pb'), pb(Tensor.from('float32', [M, K], xv), 'x'));
  writeFileSync(path.join(dir, 'test_data_set_0', 'output_0.pb'), pb(expected ?? Tensor.from('float32', [M, N], yv), 'y'));
  return dir;
}

describe('kiln check -O and --all-levels (CLI)', function () {
  this.timeout(180_000);
  let backends = 'cpu';
  let names: string[] = ['cpu'];

  before(async () => {
    if (await sharedDevice()) {
      backends = 'cpu,webgpu';
      names = ['cpu', 'webgpu'];
    }
  });

  const rowsOf = (stdout: string): string[][] => stdout.trim().split('\n').slice(1, -1).map((l) => l.trim().split(/\s+/));

  it('a Constant-weight model: one PASS row per level and backend, exit 0', async () => {
    const r = await kiln(['check', constantModelDir(), '--backend', backends, '--all-levels']);
    expect(r.code, r.stderr).to.equal(0);
    const rows = rowsOf(r.stdout);
    expect(rows.map((x) => `${x[0]} ${x[1]}`)).to.deep.equal(['O0', 'O1', 'O2'].flatMap((l) => names.map((b) => `${l} ${b}`)));
    for (const row of rows) {
      expect(row[4], row.join(' ')).to.equal('PASS');
      expect(Number(row[2]), row.join(' ')).to.be.below(1e-4);
    }
    expect(r.stdout.trim().split('\n').pop()).to.equal('PASS');
  });

  it('squeezenet1_1 --all-levels --json: every level passes on every backend within atol 1e-4 / rtol 1e-3', async () => {
    const r = await kiln(['check', path.join(SHARED_MODELS, 'squeezenet1_1'), '--backend', backends, '--all-levels', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout) as AllLevelsJson;
    expect(j.pass).to.equal(true);
    expect(j.runs.map((x) => `${x.level}/${x.backend}`)).to.deep.equal([0, 1, 2].flatMap((l) => names.map((b) => `${l}/${b}`)));
    for (const run of j.runs) {
      expect(run.pass, JSON.stringify(run)).to.equal(true);
      expect(run.outputs![0]!.maxAbsErr!).to.be.below(1e-4);
    }
  });

  it('a wrong expected output fails every row and exits 1; -O 2 alone checks one level', async () => {
    const dir = constantModelDir(Tensor.full('float32', [2, 64], 7));
    const all = await kiln(['check', dir, '--all-levels']);
    expect(all.code).to.equal(1);
    expect(rowsOf(all.stdout).map((x) => `${x[0]} ${x[4]}`)).to.deep.equal(['O0 FAIL', 'O1 FAIL', 'O2 FAIL']);
    expect(all.stdout).to.match(/failing: y/);
    const one = await kiln(['check', dir, '-O', '2', '--json']);
    expect(one.code).to.equal(1);
    expect((JSON.parse(one.stdout) as { pass: boolean }).pass).to.equal(false);
    const ok = await kiln(['check', constantModelDir(), '-O', '1', '--json']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect((JSON.parse(ok.stdout) as { pass: boolean }).pass).to.equal(true);
  });

  describe('--backend wasm on every shared model', () => {
    const dirs = existsSync(SHARED_MODELS) ? readdirSync(SHARED_MODELS).filter((d) => existsSync(path.join(SHARED_MODELS, d, 'model.onnx'))).sort() : [];
    before(function () {
      if (dirs.length) return;
      if (process.env.CI === 'true') throw new Error(`no shared models under ${SHARED_MODELS}`);
      console.log(`    (skipping: no shared models under ${SHARED_MODELS})`);
      this.skip();
    });

    // What `kiln check DIR --backend wasm -O n` runs (checkModelDir on atLevel(wasm, n),
    // the CLI's default atol 1e-4 / rtol 1e-3), in process; the wasm programs are kept
    // to see that their GEMM/elementwise steps ran in wasm, not all on the reference.
    it('-O 0 and -O 2: every model passes within atol 1e-4 / rtol 1e-3, with steps in wasm', async () => {
      expect(dirs.length).to.be.at.least(7);
      for (const d of dirs) {
        for (const level of [0, 2] as const) {
          const programs: WasmProgram[] = [];
          const r = await checkModelDir(path.join(SHARED_MODELS, d), { backend: atLevel(recordingWasm(programs), level), tolerance: { atol: 1e-4, rtol: 1e-3 } });
          const cov = programs[0]!.coverage;
          console.log(`      ${d} -O ${level}: ${r.pass ? 'PASS' : 'FAIL'}, max abs err ${Math.max(...r.outputs.map((o) => o.maxAbsErr)).toExponential(2)}; ${cov.wasm} steps in wasm, ${cov.reference} on the reference`);
          expect(r.pass, `${d} -O ${level}: ${JSON.stringify(r.outputs.map((o) => [o.name, o.maxAbsErr, o.detail]))}`).to.equal(true);
          expect(cov.wasm, `${d} -O ${level}: no step ran in wasm`).to.be.greaterThan(0);
        }
      }
    });

    it('the command: kiln check resnet18 --backend wasm -O 2 --json passes (exit 0)', async () => {
      const r = await kiln(['check', path.join(SHARED_MODELS, 'resnet18'), '--backend', 'wasm', '-O', '2', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect((JSON.parse(r.stdout) as { pass: boolean }).pass).to.equal(true);
    });
  });

  it('bad -O or --backend values are usage errors (exit 2), never a stack trace', async () => {
    const dir = constantModelDir();
    for (const args of [['-O', '3'], ['--backend', 'cpu,gpu'], ['--backend', 'cpu,webgpu']]) {
      const r = await kiln(['check', dir, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.match(/InputError/);
      expect(r.stderr).to.not.match(/\n\s+at /);
    }
  });
});
