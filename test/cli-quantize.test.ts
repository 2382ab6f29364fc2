/**
 * `kiln optimize --quantize qdq|dynamic` (activation quantization through
 * src/passes/quantize-activations.ts, the code scripts/quantize-models.ts uses).
 * Checked: the command writes the standard quantized form (QuantizeLinear /
 * DequantizeLinear around each quantized Conv, resp. one MatMulInteger per quantized
 * MatMul), onnxruntime-node loads and runs the file,
 * and its outputs match Kiln's CPU reference on the same file within the script's TOL
 * (|Δ| ≤ abs + rel·|ref|, abs = max(absMin, absOfMax · max|ref|)); a bad --quantize
 * value or --calibration with dynamic is a clear error.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { compileCpu } from '../src/backends/cpu/index.js';
import { importModelFile } from '../onnx/import.js';
import { excess, testInputs, TOL } from '../scripts/quantize-models.js';
import { kiln, tempDir } from './cli-helpers.js';
import { runOrt, SHARED_MODELS } from './onnx-util.js';

describe('kiln optimize --quantize qdq|dynamic', function () {
  this.timeout(120000);
  before(function () {
    if (!existsSync(SHARED_MODELS)) {
      if (process.env.CI === 'true') throw new Error(`shared models missing: ${SHARED_MODELS}`);
      console.log(`    (skipping: no shared models at ${SHARED_MODELS})`);
      this.skip();
    }
  });

  const cases = [
    { model: 'squeezenet1_1', kind: 'qdq', args: ['--calibration', path.join(SHARED_MODELS, 'squeezenet1_1')], ops: ['QuantizeLinear', 'DequantizeLinear'], float: 'Conv' },
    { model: 'bert_tiny', kind: 'dynamic', args: [], ops: ['DynamicQuantizeLinear', 'MatMulInteger'], float: 'MatMul' },
  ] as const;
  for (const c of cases) {
    it(`${c.model} --quantize ${c.kind}: a standard quantized file onnxruntime-node runs, equal to Kiln CPU on it within TOL`, async () => {
      const dir = path.join(SHARED_MODELS, c.model);
      const out = path.join(tempDir(`q-${c.kind}`), `${c.model}.${c.kind}.onnx`);
      const r = await kiln(['optimize', path.join(dir, 'model.onnx'), out, '--quantize', c.kind, ...c.args]);
      expect(r.code, r.stderr).to.equal(0);
      const m = /quantize (\w+): (\d+) nodes quantized, (\d+) activations/.exec(r.stdout);
      expect(m, r.stdout).to.not.equal(null);
      expect(m![1]).to.equal(c.kind);
      const nodes = Number(m![2]);
      expect(nodes).to.be.greaterThan(10);
      const g = importModelFile(out);
      const count = (op: string): number => g.nodes.filter((n) => n.op === op).length;
      for (const op of c.ops) expect(count(op), op).to.be.greaterThan(0);
      if (c.kind === 'qdq') {
        // QDQ form: each quantized Conv reads a DequantizeLinear of int8 weights and of its quantized activation.
        const dqOut = new Set(g.nodes.filter((n) => n.op === 'DequantizeLinear').flatMap((n) => n.outputs));
        expect(g.nodes.filter((n) => n.op === c.float && dqOut.has(n.inputs[0]!) && dqOut.has(n.inputs[1]!)).length).to.equal(nodes);
      } else {
        expect(count('MatMulInteger')).to.equal(nodes);
        const floatBefore = importModelFile(path.join(dir, 'model.onnx')).nodes.filter((n) => n.op === c.float).length;
        expect(count(c.float), `${c.float} nodes left float`).to.equal(floatBefore - nodes);
      }
      const feeds = testInputs(dir, g);
      const cpu = compileCpu(g).run(feeds);
      const ort = await runOrt(new Uint8Array(readFileSync(out)), feeds);
      const e = excess(ort, cpu);
      console.log(`      ${c.model} ${c.kind}: ${nodes} nodes quantized; ORT vs Kiln CPU max |Δ| ${e.max.toExponential(2)}, cosine ${e.cosine.toFixed(6)}`);
      expect(e.over, `ORT vs Kiln CPU max |Δ| ${e.max} (tolerance ${JSON.stringify(TOL)})`).to.be.at.most(0);
    });
  }

  it('rejects an unknown --quantize value and --calibration with dynamic, naming the option', async () => {
    const dir = path.join(SHARED_MODELS, 'squeezenet1_1');
    const out = path.join(tempDir('q-bad'), 'x.onnx');
    const bad = await kiln(['optimize', path.join(dir, 'model.onnx'), out, '--quantize', 'static']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/--quantize must be int8, int4, qdq or dynamic, got 'static'/);
    const cal = await kiln(['optimize', path.join(dir, 'model.onnx'), out, '--quantize', 'dynamic', '--calibration', dir]);
    expect(cal.code).to.not.equal(0);
    expect(cal.stderr).to.match(/--calibration needs --fp16 or --quantize qdq/);
  });
});
