/**
 * `kiln inspect --fp16 --precision`: every float value with the precision the
 * mixed-precision pass gives it and why (calibrated range vs limit, or the rule that
 * keeps it float32), as data in the report (MixedPrecisionReport.values) and text.
 */
import { expect } from 'chai';
import { inspectGraph } from '../src/cli/commands/inspect.js';
import { GraphBuilder, Tensor, type Sym } from '../src/graph/index.js';

function graph() {
  const b = new GraphBuilder('precision_reasons');
  const x = b.input('x', 'float32', [2, 8]);
  const [small] = b.apply('Relu', [b.Mul([x, b.constant(2)])], {}, { name: 'small' }) as [Sym];
  const [big] = b.apply('Mul', [small, b.constant(1e5)], {}, { name: 'big' }) as [Sym];
  const q = b.QuantizeLinear([small, b.constant(0.1), b.constant(0, { dtype: 'uint8' })]);
  b.output(b.Add([b.Tanh(big), b.DequantizeLinear([q, b.constant(0.1), b.constant(0, { dtype: 'uint8' })])]), 'y');
  return b.build();
}

describe('inspect: precision per value', () => {
  const batches = [new Map([['x', Tensor.from('float32', [2, 8], Array.from({ length: 16 }, (_, i) => i / 4 - 2))]])];

  it('with --fp16 reports float16 values with their calibrated range and float32 ones with the rule or range that keeps them', () => {
    const r = inspectGraph(graph(), 'm', 2, {}, { fp16: { batches } });
    const p = r.precision!;
    expect(p.converted).to.equal(true);
    const by = new Map(p.values.map((v) => [v.value, v]));
    const x = by.get('x')!;
    expect([x.precision, x.why]).to.deep.equal(['float32', 'graph inputs keep float32 (keep_io_types)']);
    const small = p.values.find((v) => v.node === 'small')!;
    expect(small.precision).to.equal('float16');
    // x reaches 15/4 - 2 = 1.75 on the batch; x·2 = 3.5.
    expect(small.why).to.equal('calibrated max |x| 3.500 ≤ limit 8188');
    const big = p.values.find((v) => v.node === 'big')!;
    expect(big.precision).to.equal('float32');
    expect(big.why).to.match(/^'const_\d+' reaches 1\.000e\+5 \(limit 8188\)$/); // its constant factor already exceeds the limit
    const dq = p.values.find((v) => v.op === 'DequantizeLinear')!;
    expect([dq.precision, dq.why]).to.deep.equal(['float32', 'quantization scales are float32']);
    expect(p.counts['float16']! + p.counts['float32']!).to.equal(p.values.length);
  });

  it('without --fp16, --precision lists the model dtypes', () => {
    const r = inspectGraph(graph(), 'm', 2, {}, { precision: true });
    expect(r.precision!.converted).to.equal(false);
    expect(new Set(r.precision!.values.map((v) => v.precision))).to.deep.equal(new Set(['float32']));
    expect(inspectGraph(graph(), 'm', 2).precision).to.equal(undefined);
  });
});
