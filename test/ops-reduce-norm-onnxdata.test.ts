/**
 * The official ONNX node tests of the reduction, softmax, normalization and misc
 * families (CumSum, TopK, NonMaxSuppression), run on the CPU backend. The `_expanded`
 * variants (function bodies built from other ops) and BatchNormalization's training
 * mode (unsupported by design) are left out.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadBackend } from '../src/session/backends.js';
import { runConformance, testDataRoot } from '../src/harness/conformance.js';

const FAMILIES = [
  'reduce_', 'argmax', 'argmin', 'softmax', 'logsoftmax', 'hardmax', 'batchnorm', 'instancenorm',
  'layer_normalization', 'lrn', 'mvn', 'cumsum', 'top_k', 'nonmaxsuppression',
];
const FILTER = new RegExp(`^node/test_(${FAMILIES.join('|')})(?!.*(_expanded|_training_mode)$)`);

describe('ops: ONNX node tests for reductions, softmax, normalization, CumSum, TopK, NMS (CPU)', function () {
  this.timeout(120000);
  it('passes every case', async function () {
    if (!existsSync(path.join(testDataRoot(), 'node'))) this.skip();
    const report = await runConformance({ backend: await loadBackend('cpu'), suites: ['node'], filter: FILTER });
    const bad = report.cases.filter((c) => c.status !== 'pass').map((c) => `${c.name}: ${c.detail}`);
    expect(bad, bad.join('\n')).to.deep.equal([]);
    // ONNX 1.12 has 160+ such cases; a much smaller count means the filter or the data broke.
    expect(report.total).to.be.greaterThan(150);
  });
});
