/**
 * The elementwise ops against the official ONNX node tests (test data from the ONNX
 * repository: expected outputs computed by numpy). float16/bfloat16/string cases are
 * left out (the shared decoder reads no float16 raw data), as are *_expanded
 * variants (multi-node function bodies, tested by the importer).
 */
import { expect } from 'chai';
import { nodeTests, runNodeTest, NODE_DATA } from './ops-shape-onnxdata.js';
import { existsSync } from 'node:fs';

const PREFIXES = [
  'test_abs', 'test_acos', 'test_acosh', 'test_add', 'test_and', 'test_asin', 'test_asinh', 'test_atan', 'test_atanh',
  'test_bitshift', 'test_bitwise', 'test_cast_', 'test_castlike_', 'test_ceil', 'test_celu', 'test_clip', 'test_cos', 'test_cosh',
  'test_div', 'test_elu', 'test_equal', 'test_erf', 'test_exp', 'test_floor', 'test_gelu', 'test_greater', 'test_hardsigmoid',
  'test_hardswish', 'test_isinf', 'test_isnan', 'test_leakyrelu', 'test_less', 'test_log', 'test_max_', 'test_mean', 'test_min_',
  'test_mish', 'test_mod', 'test_mul', 'test_neg', 'test_not', 'test_or', 'test_pow', 'test_prelu', 'test_reciprocal', 'test_relu',
  'test_round', 'test_selu', 'test_shrink', 'test_sigmoid', 'test_sign', 'test_sin', 'test_sinh', 'test_softplus', 'test_softsign',
  'test_sqrt', 'test_sub', 'test_sum', 'test_tan', 'test_tanh', 'test_thresholdedrelu', 'test_where', 'test_xor',
];
const SKIP = /_expanded|FLOAT16|BFLOAT16|STRING|float16|test_logsoftmax|test_log_softmax|test_softplus_example_expanded|test_sequence|test_loop|test_less_equal_bcast_expanded|test_max_pool|test_mean_square|test_mul_expand|test_expand/i;

describe('ops: elementwise against ONNX node test data', function () {
  const cases = nodeTests(...PREFIXES).filter((n) => !SKIP.test(n));
  it('finds the test data (or says why not)', function () {
    if (!existsSync(NODE_DATA)) {
      if (process.env.CI === 'true') expect.fail(`ONNX test data missing at ${NODE_DATA}`);
      console.log(`    (skipped: no ONNX test data at ${NODE_DATA})`);
      this.skip();
    }
    expect(cases.length).to.be.greaterThan(150);
  });
  for (const name of cases) {
    it(name, () => runNodeTest(name, 1e-5));
  }
});
