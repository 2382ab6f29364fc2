/**
 * `kiln check` and the shared model checker: every shared model passes on the CPU
 * backend against its expected outputs, and the command's exit codes, text and
 * JSON output follow the documented contract.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { Tensor } from '../src/graph/tensor.js';
import { loadBackend } from '../src/session/backends.js';
import { testDataRoot } from '../src/harness/conformance.js';
import { checkModelDir } from '../src/harness/model-test.js';
import { onnx } from '../onnx/proto.js';
import { tensorToProto } from '../onnx/tensor-proto.js';
import { model, REPO_ROOT, SHARED_MODEL_NAMES, SHARED_MODELS, vi } from './onnx-util.js';

describe('shared models pass on the CPU backend (kiln check code path)', function () {
  this.timeout(180_000);
  for (const name of SHARED_MODEL_NAMES) {
    it(name, async () => {
      const r = await checkModelDir(path.join(SHARED_MODELS, name), { backend: await loadBackend('cpu') });
      expect(r.outputs.length).to.be.greaterThan(0);
      for (const o of r.outputs) expect(o.pass, `${name}/${o.name}: max abs err ${o.maxAbsErr} ${o.detail ?? ''}`).to.equal(true);
    });
  }
});

function kiln(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/kiln.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, KILN_FROM_SOURCE: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('kiln check (CLI)', function () {
  this.timeout(120_000);
  const abs = path.join(testDataRoot(), 'node', 'test_abs');

  it('passes a correct model: exit 0, --json with per-output errors', () => {
    const r = kiln('check', abs, '--json');
    expect(r.code, r.stderr).to.equal(0);
    const json = JSON.parse(r.stdout) as { pass: boolean; outputs: { name: string; maxAbsErr: number; maxRelErr: number; pass: boolean }[] };
    expect(json).to.deep.equal({ pass: true, outputs: [{ name: 'y', maxAbsErr: 0, maxRelErr: 0, pass: true }] });
  });

  it('fails a wrong expected output: exit 1, FAIL with the error', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kiln-check-'));
    cpSync(abs, dir, { recursive: true });
    // test_abs computes |x| for x of shape [3,4,5]; an expected value of -1.5 can never match.
    const wrong = Tensor.full('float32', [3, 4, 5], -1.5);
    writeFileSync(path.join(dir, 'test_data_set_0', 'output_0.pb'), onnx.TensorProto.encode(tensorToProto(wrong, 'y')).finish());
    const r = kiln('check', dir);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/^y .*FAIL/m);
    expect(r.stdout.trim().split('\n').pop()).to.equal('FAIL');
  });

  it('typed errors: unsupported op exits 3, missing directory exits 2, never a stack trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kiln-check-unsupported-'));
    writeFileSync(path.join(dir, 'model.onnx'), model({
      node: [{ opType: 'NoSuchOp', input: ['x'], output: ['y'], name: 'mystery' }],
      input: [vi('x', onnx.TensorProto.DataType.FLOAT, [2])],
      output: [vi('y', onnx.TensorProto.DataType.FLOAT, [2])],
    }));
    mkdirSync(path.join(dir, 'test_data_set_0'));
    const t = onnx.TensorProto.encode(tensorToProto(Tensor.from('float32', [2], [1, 2]), 'x')).finish();
    writeFileSync(path.join(dir, 'test_data_set_0', 'input_0.pb'), t);
    writeFileSync(path.join(dir, 'test_data_set_0', 'output_0.pb'), t);
    const u = kiln('check', dir);
    expect(u.code).to.equal(3);
    expect(u.stderr).to.match(/UnsupportedOpError: unsupported op: NoSuchOp \(mystery\)/);
    const m = kiln('check', '/nonexistent/model/dir');
    expect(m.code).to.equal(2);
    expect(m.stderr).to.match(/ModelFormatError/);
    for (const s of [u.stderr, m.stderr]) expect(s).to.not.match(/\n\s+at /);
  });
});
