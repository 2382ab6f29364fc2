import { expect } from 'chai';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareTensors } from '../src/harness/compare.js';
import { importModelFile } from '../onnx/import.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { verify, type Tensor } from '../src/graph/index.js';
import { inspectGraph } from '../src/cli/commands/inspect.js';
import { optimize } from '../src/passes/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = path.resolve(repoRoot, '../shared/models');

/**
 * Dispatch targets at O2 (issue #5): kernel nodes after optimization and WebGPU
 * dispatches per inference must both meet them. Memory: the WebGPU execution plan
 * (the one that runs) must allocate no more GPU bytes in all — weights, inputs and
 * intermediates — than {@link REACHED_BYTES}, and keep its reused buffers ≤ 45 % of
 * the bytes one buffer per value would take. (Before issue 17 this test bounded
 * at 40 % an arena plan the executor never ran; the executor's own buffers were
 * then 58 % for resnet18. Whole buffers, which WebGPU's binding rules ask for,
 * give resnet18 44.8 %.)
 */
const TARGETS: Record<string, number> = {
  resnet18: 25, mobilenet_v2: 60, squeezenet1_1: 60,
  bert_tiny: 60, bert_tiny_opset13: 60, gpt2_tiny: 65, gpt2_tiny_opset13: 65,
};
/** The WebGPU dispatch counts reached so far: a ratchet (lower them when a change saves dispatches). */
const REACHED: Record<string, number> = {
  resnet18: 23, mobilenet_v2: 54, squeezenet1_1: 30,
  bert_tiny: 39, bert_tiny_opset13: 39, gpt2_tiny: 40, gpt2_tiny_opset13: 40,
};

/** GPU bytes the O2 plan allocates (all buffers): a ratchet, lower it when a change saves memory. Before issue 17 the executor allocated resnet18 53568832, mobilenet_v2 28837568, squeezenet1_1 11752512, bert_tiny 15612416, gpt2_tiny 15778048. */
const REACHED_BYTES: Record<string, number> = {
  resnet18: 52157856, mobilenet_v2: 21578016, squeezenet1_1: 9657440,
  bert_tiny: 15088128, bert_tiny_opset13: 15088128, gpt2_tiny: 15325440, gpt2_tiny_opset13: 15325440,
};

describe('passes: shared models at O2', function () {
  this.timeout(300_000);
  for (const [name, maxDispatches] of Object.entries(TARGETS)) {
    const dir = path.join(modelsDir, name);
    // Under CI a missing model fails (the import throws); elsewhere the case is skipped.
    const it_ = existsSync(path.join(dir, 'model.onnx')) || process.env.CI === 'true' ? it : it.skip;
    it_(`${name}: ≤ ${maxDispatches} kernel nodes and WebGPU dispatches, ≤ ${REACHED_BYTES[name]} GPU bytes, reused ≤ 45 % of intermediates, outputs match the test data`, () => {
      const g0 = importModelFile(path.join(dir, 'model.onnx'));
      const r = inspectGraph(g0, name, 2);
      expect(r.kernelNodes, 'kernel nodes').to.be.at.most(maxDispatches);
      expect(r.webgpuPlanned, 'planned for WebGPU').to.equal(true);
      expect(r.dispatches, 'WebGPU dispatches').to.be.at.most(maxDispatches);
      expect(r.dispatches, `WebGPU dispatches (reached ${REACHED[name]} before)`).to.be.at.most(REACHED[name]!);
      expect(r.peakBytes, 'GPU bytes of the plan').to.be.at.most(REACHED_BYTES[name]!);
      expect(r.peakIntermediateBytes / r.totalIntermediateBytes, 'reused / total').to.be.at.most(0.45);
      const { graph: g2 } = optimize(g0, { level: 2 });
      verify(g2);
      const set = readTestDataSets(dir)[0]!;
      const feeds: Record<string, Tensor> = {};
      g2.inputs.forEach((inp, i) => { feeds[inp.name] = set.inputs[i]!.tensor; });
      const out2 = compileCpu(g2).run(feeds);
      g2.outputs.forEach((o, i) => {
        const c = compareTensors(set.outputs[i]!.tensor, out2[o.name]!);
        expect(c.pass, `${o.name}: ${c.detail ?? ''} (max abs err ${c.maxAbsErr})`).to.equal(true);
      });
    });
  }
});

describe('kiln inspect', function () {
  this.timeout(120_000);
  const model = path.join(modelsDir, 'resnet18', 'model.onnx');
  (existsSync(model) || process.env.CI === 'true' ? it : it.skip)('prints a JSON report with the documented keys, and O0 counts every node', async () => {
    const { execFileSync } = await import('node:child_process');
    const cli = (args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'inspect', model, ...args], { encoding: 'utf8' });
    const r2 = JSON.parse(cli(['--json']));
    for (const k of ['nodes', 'dispatches', 'peakIntermediateBytes', 'totalIntermediateBytes', 'flops']) expect(r2).to.have.property(k);
    const r0 = JSON.parse(cli(['-O', '0', '--json']));
    // resnet18 at O0: 49 nodes, one of them (Flatten) an alias → 48 kernel nodes;
    // the WebGPU plan dispatches once per kernel node (every conv is one implicit GEMM).
    expect(r0.nodes).to.equal(49);
    expect(r0.kernelNodes).to.equal(48);
    expect(r0.webgpuPlanned).to.equal(true);
    expect(r0.dispatches).to.equal(48);
    // The kernel histogram adds up to the dispatches; at O2 the 20 convs carry their epilogues.
    expect(Object.values(r2.kernels as Record<string, number>).reduce((a, n) => a + n, 0)).to.equal(r2.dispatches);
    expect(Object.entries(r2.kernels as Record<string, number>).filter(([k]) => k.startsWith('Conv.gemm')).reduce((a, [, n]) => a + n, 0)).to.equal(20);
    // 2·MACs of ResNet-18 at 224² is about 3.6 GFLOPs (1.8 GMACs).
    expect(r0.flops).to.be.within(3.5e9, 3.8e9);
    expect(r2.nodes).to.be.below(r0.nodes);
    expect(r0.parameters).to.equal(r2.parameters);
  });
});
