import { expect } from 'chai';
import { DTypeError, GraphBuilder, AttributeError } from '../src/graph/index.js';
import { T, run1, expectClose, expectExact } from './ops-elementwise-helpers.js';

const { PI, E } = Math;

describe('ops: unary math', () => {
  it('Abs, Neg, Sign on floats and ints, with NaN/Inf/0 and wrap-around', () => {
    expectClose(run1('Abs', [T('float32', [-1.5, 0, 2, -Infinity, NaN])]), [1.5, 0, 2, Infinity, NaN]);
    expectExact(run1('Abs', [T('int32', [-3, 4])]), 'int32', [2], [3, 4]);
    expectClose(run1('Neg', [T('float32', [1, -2, Infinity])]), [-1, 2, -Infinity]);
    expectExact(run1('Neg', [T('int8', [5, -128])]), 'int8', [2], [-5, -128]);
    expectClose(run1('Sign', [T('float32', [-2, 0, 3, NaN, -Infinity])]), [-1, 0, 1, NaN, -1]);
    expectExact(run1('Sign', [T('uint8', [0, 5])]), 'uint8', [2], [0, 1]);
  });

  it('Reciprocal, Floor, Ceil, Sqrt, Exp, Log with edge values', () => {
    expectClose(run1('Reciprocal', [T('float32', [2, -4, 0])]), [0.5, -0.25, Infinity]);
    expectClose(run1('Floor', [T('float32', [-1.5, 1.2, 3, NaN])]), [-2, 1, 3, NaN]);
    expectClose(run1('Ceil', [T('float32', [-1.5, 1.2, Infinity])]), [-1, 2, Infinity]);
    expectClose(run1('Sqrt', [T('float32', [4, 2.25, -1, 0])]), [2, 1.5, NaN, 0]);
    expectClose(run1('Exp', [T('float32', [0, 1, -Infinity, 100])]), [1, E, 0, Infinity]);
    expectClose(run1('Log', [T('float32', [1, E, 0, -1])]), [0, 1, -Infinity, NaN]);
  });

  it('Round rounds half to even (ONNX doc example)', () => {
    const x = [0.1, 0.5, 0.9, 1.2, 1.5, 1.8, 2.3, 2.5, 2.7, -1.1, -1.5, -1.9, -2.2, -2.5, -2.8];
    const y = [0, 0, 1, 1, 2, 2, 2, 2, 3, -1, -2, -2, -2, -2, -3];
    expectClose(run1('Round', [T('float32', x)]), y, 0, 0);
    expectClose(run1('Round', [T('float64', [-0.5, 3.5, NaN, -Infinity])]), [0, 4, NaN, -Infinity], 0, 0);
  });

  it('trigonometric and hyperbolic functions', () => {
    const cases: [string, number[], number[]][] = [
      ['Sin', [0, PI / 2], [0, 1]],
      ['Cos', [0, PI], [1, -1]],
      ['Tan', [PI / 4], [1]],
      ['Asin', [1, 2], [PI / 2, NaN]],
      ['Acos', [1, 0], [0, PI / 2]],
      ['Atan', [1, Infinity], [PI / 4, PI / 2]],
      ['Sinh', [1], [(E - 1 / E) / 2]],
      ['Cosh', [1], [(E + 1 / E) / 2]],
      ['Asinh', [1], [Math.log(1 + Math.SQRT2)]],
      ['Acosh', [1, 2, 0.5], [0, Math.log(2 + Math.sqrt(3)), NaN]],
      ['Atanh', [0.5, 1], [0.5 * Math.log(3), Infinity]],
    ];
    for (const [op, x, y] of cases) expectClose(run1(op, [T('float32', x)]), y, 1e-6, 1e-7);
  });

  it('Erf matches tabulated values to 1e-14 in float64', () => {
    const x = [0, 0.5, 1, -2, 3.5, 5.9, -Infinity, NaN];
    const y = [0, 0.5204998778130465, 0.8427007929497149, -0.9953222650189527, 0.9999992569016276, 0.9999999999999999, -1, NaN];
    expectClose(run1('Erf', [T('float64', x)]), y, 1e-14, 1e-15);
  });

  it('IsNaN and IsInf (detect_negative / detect_positive) return bool', () => {
    const x = T('float32', [-Infinity, 1, Infinity, NaN]);
    expectExact(run1('IsNaN', [x]), 'bool', [4], [0, 0, 0, 1]);
    expectExact(run1('IsInf', [x]), 'bool', [4], [1, 0, 1, 0]);
    expectExact(run1('IsInf', [x], { detect_negative: 0 }), 'bool', [4], [0, 0, 1, 0]);
    expectExact(run1('IsInf', [x], { detect_positive: 0 }), 'bool', [4], [1, 0, 0, 0]);
    expectExact(run1('IsInf', [x], { detect_positive: 0, detect_negative: 0 }), 'bool', [4], [0, 0, 0, 0]);
  });

  it('Not and BitwiseNot', () => {
    expectExact(run1('Not', [T('bool', [1, 0])]), 'bool', [2], [0, 1]);
    expectExact(run1('BitwiseNot', [T('int32', [0, 5, -1])]), 'int32', [3], [-1, -6, 0]);
    expectExact(run1('BitwiseNot', [T('uint8', [0, 5, 255])]), 'uint8', [3], [255, 250, 0]);
    expectExact(run1('BitwiseNot', [T('uint32', [0, 1])]), 'uint32', [2], [4294967295, 4294967294]);
    expectExact(run1('BitwiseNot', [T('int64', [2 ** 40])]), 'int64', [1], [-(2 ** 40) - 1]);
  });

  it('rejects wrong dtypes, naming the node and input', () => {
    const b = new GraphBuilder();
    const f = b.input('f', 'float32', [2]);
    const i = b.input('i', 'int32', [2]);
    expect(() => b.Not(f, {}, { name: 'myNot' })).to.throw(DTypeError, /myNot: X has dtype float32, expected one of bool/);
    expect(() => b.Sqrt(i)).to.throw(DTypeError, /Sqrt.*int32/);
    expect(() => b.IsNaN(i)).to.throw(DTypeError, /IsNaN/);
    expect(() => b.BitwiseNot(f)).to.throw(DTypeError, /BitwiseNot.*float32/);
    expect(() => b.Neg(b.input('u', 'uint8', [1]))).to.throw(DTypeError, /uint8/);
    expect(() => b.IsInf(f, { detect_negative: 2 })).to.throw(AttributeError, /detect_negative/);
  });
});

describe('ops: activations', () => {
  it('Relu on floats and ints', () => {
    expectClose(run1('Relu', [T('float32', [-1, 0, 2, NaN])]), [0, 0, 2, NaN]);
    expectExact(run1('Relu', [T('int32', [-5, 7])]), 'int32', [2], [0, 7]);
  });

  it('LeakyRelu, Elu, Selu, Celu, ThresholdedRelu (ONNX doc parameters)', () => {
    const x = T('float32', [-1, 0, 1]);
    expectClose(run1('LeakyRelu', [x], { alpha: 0.1 }), [-0.1, 0, 1]);
    expectClose(run1('LeakyRelu', [x]), [-0.01, 0, 1]);
    expectClose(run1('Elu', [x], { alpha: 2 }), [-1.2642411176571153, 0, 1]);
    expectClose(run1('Selu', [x], { alpha: 2, gamma: 3 }), [-3.792723352971346, 0, 3]);
    expectClose(run1('Selu', [x]), [-1.111330744514335, 0, 1.0507010221481323]);
    expectClose(run1('Celu', [T('float32', [-1, 3])], { alpha: 2 }), [-0.7869386805747332, 3]);
    expectClose(run1('ThresholdedRelu', [T('float32', [-1, 0, 2, 2.5])], { alpha: 2 }), [0, 0, 0, 2.5]);
  });

  it('Sigmoid, Softplus are stable for large |x|', () => {
    expectClose(run1('Sigmoid', [T('float64', [0, 1, -100, 100, -Infinity, 800, -800])]),
      [0.5, 0.7310585786300049, 3.720075976020836e-44, 1, 0, 1, 0], 1e-14, 0);
    expectClose(run1('Softplus', [T('float64', [-1, 0, 1, 100, -100, 1000])]),
      [0.31326168751822286, Math.LN2, 1.3132616875182228, 100, 3.720075976020836e-44, 1000], 1e-14, 0);
  });

  it('HardSigmoid, HardSwish, Softsign, Tanh', () => {
    expectClose(run1('HardSigmoid', [T('float32', [-1, 0, 1])], { alpha: 0.5, beta: 0.6 }), [0.1, 0.6, 1]);
    expectClose(run1('HardSwish', [T('float32', [-4, -1, 0, 1, 4])]), [0, -1 / 3, 0, 2 / 3, 4]);
    expectClose(run1('Softsign', [T('float32', [-1, 0, 3])]), [-0.5, 0, 0.75]);
    expectClose(run1('Tanh', [T('float32', [0, 1, 50, -50, NaN])]), [0, 0.7615941559557649, 1, -1, NaN]);
  });

  it('Mish and Gelu (exact and tanh approximation)', () => {
    expectClose(run1('Mish', [T('float32', [1, -1, 0])]), [0.8650983882673103, -0.30340146137410895, 0]);
    expectClose(run1('Gelu', [T('float64', [1, -1, 0])]), [0.8413447460685429, -0.15865525393145707, 0], 1e-14, 1e-16);
    expectClose(run1('Gelu', [T('float32', [1])], { approximate: 'tanh' }), [0.8411919906082768]);
    expect(() => run1('Gelu', [T('float32', [1])], { approximate: 'erf' })).to.throw(AttributeError, /approximate/);
  });

  it('Shrink (ONNX doc examples), on floats and ints', () => {
    const x = [-2, -1, 0, 1, 2];
    expectClose(run1('Shrink', [T('float32', x)], { lambd: 1.5 }), [-2, 0, 0, 0, 2]);
    expectClose(run1('Shrink', [T('float32', x)], { lambd: 1.5, bias: 1.5 }), [-0.5, 0, 0, 0, 0.5]);
    expectExact(run1('Shrink', [T('int32', x)], { lambd: 1, bias: 1 }), 'int32', [5], [-1, 0, 0, 0, 1]);
  });

  it('PRelu broadcasts the slope onto X only', () => {
    const x = T('float32', [-1, 2, -3, 4, -5, 6], [2, 3]);
    const y = run1('PRelu', [x, T('float32', [0.1, 0.2, 0.3])]);
    expect(y.shape).to.deep.equal([2, 3]);
    expectClose(y, [-0.1, 2, -0.9, 4, -1, 6]);
    expectClose(run1('PRelu', [x, T('float32', [0.5, 2], [2, 1])]), [-0.5, 2, -1.5, 4, -10, 6]);
    const b = new GraphBuilder();
    expect(() => b.PRelu([b.input('x', 'float32', [3]), b.input('s', 'float32', [2, 3])], {}, { name: 'pr' }))
      .to.throw(/pr: PRelu slope \[2,3\] does not broadcast to X \[3\]/);
    expect(() => b.PRelu([b.input('x2', 'float32', [3]), b.input('s2', 'float16', [3])])).to.throw(DTypeError, /X and slope/);
  });

  it('activations reject integer inputs', () => {
    const b = new GraphBuilder();
    const i = b.input('i', 'int32', [2]);
    expect(() => b.Sigmoid(i, {}, { name: 'sg' })).to.throw(DTypeError, /sg: X has dtype int32/);
    expect(() => b.Gelu(i)).to.throw(DTypeError);
  });
});
