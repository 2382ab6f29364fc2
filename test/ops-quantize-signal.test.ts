import { expect } from 'chai';
import { runReference, Tensor, type Node } from '../src/graph/index.js';
import '../src/graph/ops/index.js';

const node = (op: string, n: number, attrs: Node['attrs'] = {}, outs = 1): Node => ({
  name: `${op}_t`, op, domain: '', attrs,
  inputs: Array.from({ length: n }, (_, i) => `i${i}`),
  outputs: Array.from({ length: outs }, (_, i) => `o${i}`),
});

describe('ops: quantization', () => {
  it('QuantizeLinear rounds half to even and saturates', () => {
    const x = Tensor.from('float32', [6], [0, 2, 3, 1000, -254, 5]);
    const [y] = runReference(node('QuantizeLinear', 3), [x, Tensor.scalar('float32', 2), Tensor.scalar('uint8', 128)]);
    // 0/2+128=128, 1+128=129, 1.5→2 +128=130, 500+128→255, -127+128=1, 2.5→2 +128=130
    expect(y!.dtype).to.equal('uint8');
    expect(y!.toArray()).to.deep.equal([128, 129, 130, 255, 1, 130]);
  });

  it('DequantizeLinear with per-axis scales (axis 1)', () => {
    const x = Tensor.from('int8', [1, 2, 2], [10, 20, 30, 40]);
    const [y] = runReference(node('DequantizeLinear', 3, { axis: 1 }), [x, Tensor.from('float32', [2], [0.5, 2]), Tensor.from('int8', [2], [0, 10])]);
    expect(y!.toArray()).to.deep.equal([5, 10, 40, 60]);
  });

  it('DynamicQuantizeLinear derives scale and zero point from the range', () => {
    const x = Tensor.from('float32', [3], [0, 2.55, -2.55]);
    const [y, s, z] = runReference(node('DynamicQuantizeLinear', 1, {}, 3), [x]);
    expect(s!.data[0]).to.be.closeTo(5.1 / 255, 1e-7); // (2.55 - -2.55) / 255 = 0.02
    expect(z!.data[0]).to.equal(128); // round(2.55 / 0.02) = 127.5 → 128 (half to even)
    expect(y!.toArray()).to.deep.equal([128, 255, 0]);
  });

  it('QLinearMatMul matches the integer formula', () => {
    const a = Tensor.from('uint8', [1, 2], [10, 20]);
    const b = Tensor.from('uint8', [2, 1], [3, 4]);
    const one = Tensor.scalar('float32', 1);
    const zero = Tensor.scalar('uint8', 0);
    const [y] = runReference(node('QLinearMatMul', 8), [a, one, zero, b, one, zero, Tensor.scalar('float32', 2), zero]);
    expect(y!.toArray()).to.deep.equal([55]); // (10*3 + 20*4) / 2 = 55
  });
});

describe('ops: windows and Det', () => {
  it('HannWindow periodic and symmetric', () => {
    const [p] = runReference(node('HannWindow', 1), [Tensor.scalar('int64', 4)]);
    expect(p!.toArray().map((v) => +v.toFixed(6))).to.deep.equal([0, 0.5, 1, 0.5]);
    const [s] = runReference(node('HannWindow', 1, { periodic: 0 }), [Tensor.scalar('int64', 3)]);
    expect(s!.toArray().map((v) => +v.toFixed(6))).to.deep.equal([0, 1, 0]);
  });

  it('HammingWindow and BlackmanWindow endpoints', () => {
    const [h] = runReference(node('HammingWindow', 1, { periodic: 0 }), [Tensor.scalar('int64', 3)]);
    expect(h!.data[0]).to.be.closeTo(25 / 46 - 21 / 46, 1e-7);
    expect(h!.data[1]).to.be.closeTo(1, 1e-7);
    const [b] = runReference(node('BlackmanWindow', 1, { periodic: 0 }), [Tensor.scalar('int64', 3)]);
    expect(b!.data[0]).to.be.closeTo(0, 1e-7);
    expect(b!.data[1]).to.be.closeTo(1, 1e-7);
  });

  it('Det of a batch of 2x2 and a 3x3 needing a pivot', () => {
    const [d] = runReference(node('Det', 1), [Tensor.from('float32', [2, 2, 2], [1, 2, 3, 4, 2, 0, 0, 3])]);
    expect(d!.toArray()).to.deep.equal([-2, 6]);
    const [e] = runReference(node('Det', 1), [Tensor.from('float32', [3, 3], [0, 1, 2, 1, 0, 3, 4, -3, 8])]);
    // 0*(0*8-3*-3) - 1*(1*8-3*4) + 2*(1*-3-0*4) = 0 + 4 - 6 = -2
    expect(e!.data[0]).to.be.closeTo(-2, 1e-6);
  });
});
