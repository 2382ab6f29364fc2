/**
 * AffineGrid's ONNX function body (the ONNX 1.17 `test_affine_grid_*_expanded` cases):
 * it splits its `size` input and branches on it, so a Squeeze without axes and an If
 * whose branches differ in rank make the ranks depend on `size`'s values
 * (DynamicRankError at import). An InferenceSession specializes the model on the
 * values of its small integer inputs at the first run and must give the 1.17 expected
 * grid (atol 1e-5). Without the data the suite fails under CI=true and skips elsewhere.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { InferenceSession } from '../src/session/inference-session.js';
import { testDataRoot117 } from '../src/harness/conformance.js';
import { readTestDataSets } from '../src/harness/model-test.js';
import { compareTensors } from '../src/harness/compare.js';
import { DynamicRankError } from '../src/graph/errors.js';
import { importModel } from '../onnx/import.js';

describe('AffineGrid function body (ranks that depend on input values)', function () {
  this.timeout(60_000);
  const node = path.join(testDataRoot117(), 'node');

  before(function () {
    if (existsSync(node)) return;
    if (process.env.CI === 'true') throw new Error(`ONNX 1.17 test data missing at ${node}: run .ci/setup-system.sh`);
    console.log(`    (skipping: no ONNX 1.17 test data at ${node})`);
    this.skip();
  });

  it('importing the 2-D body with `size` unbound is a DynamicRankError (a Squeeze without axes on a size-derived dim)', () => {
    const bytes = new Uint8Array(readFileSync(path.join(node, 'test_affine_grid_2d_expanded', 'model.onnx')));
    expect(() => importModel(bytes)).to.throw(DynamicRankError, /Squeeze without axes/);
  });

  for (const name of ['test_affine_grid_2d_expanded', 'test_affine_grid_2d_align_corners_expanded', 'test_affine_grid_3d_align_corners_expanded', 'test_affine_grid_3d_expanded']) {
    it(`${name}: a CPU session gives the 1.17 expected grid`, async () => {
      const dir = path.join(node, name);
      const session = await InferenceSession.create(new Uint8Array(readFileSync(path.join(dir, 'model.onnx'))), { executionProviders: ['cpu'] });
      const set = readTestDataSets(dir)[0]!;
      const feeds = Object.fromEntries(session.inputNames.map((n, i) => [n, set.inputs[i]!.tensor]));
      const out = await session.run(feeds);
      const c = compareTensors(set.outputs[0]!.tensor, out[session.outputNames[0]!]!, { atol: 1e-5, rtol: 1e-4 });
      expect(c.pass, c.detail).to.equal(true);
      session.release();
    });
  }
});
