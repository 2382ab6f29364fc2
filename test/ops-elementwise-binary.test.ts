import { expect } from 'chai';
import { AttributeError, DTypeError, GraphBuilder, GraphError, ShapeError, Tensor } from '../src/graph/index.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { T, run1, expectClose, expectExact } from './ops-elementwise-helpers.js';

describe('ops: binary broadcasting', () => {
  it('Add/Sub/Mul/Div broadcast [2,3] with [3] and [2,1] with [1,3]', () => {
    const a = T('float32', [1, 2, 3, 4, 5, 6], [2, 3]);
    const b = T('float32', [10, 20, 30]);
    expectExact(run1('Add', [a, b]), 'float32', [2, 3], [11, 22, 33, 14, 25, 36]);
    expectExact(run1('Sub', [a, b]), 'float32', [2, 3], [-9, -18, -27, -6, -15, -24]);
    const c = T('float32', [1, 2], [2, 1]);
    const d = T('float32', [10, 20, 40], [1, 3]);
    expectExact(run1('Mul', [c, d]), 'float32', [2, 3], [10, 20, 40, 20, 40, 80]);
    expectExact(run1('Div', [d, c]), 'float32', [2, 3], [10, 20, 40, 5, 10, 20]);
  });

  it('float division by zero gives ±Inf/NaN; integer division truncates toward zero', () => {
    expectClose(run1('Div', [T('float32', [1, -1, 0]), T('float32', [0, 0, 0])]), [Infinity, -Infinity, NaN]);
    expectExact(run1('Div', [T('int32', [7, -7, 7, -7]), T('int32', [2, 2, -2, -2])]), 'int32', [4], [3, -3, -3, 3]);
    expectExact(run1('Div', [T('uint8', [255, 7]), T('uint8', [2, 7])]), 'uint8', [2], [127, 1]);
  });

  it('integer Add/Mul wrap around like two\'s complement', () => {
    expectExact(run1('Add', [T('int32', [2147483647]), T('int32', [1])]), 'int32', [1], [-2147483648]);
    expectExact(run1('Mul', [T('int32', [65536, 123456789]), T('int32', [65536, 987654321])]), 'int32', [2], [0, -67153019]);
    expectExact(run1('Add', [T('uint8', [250]), T('uint8', [10])]), 'uint8', [1], [4]);
    expectExact(run1('Sub', [T('int64', [2 ** 40]), T('int64', [1])]), 'int64', [1], [2 ** 40 - 1]);
  });

  it('Pow: negative bases with integer exponents, mixed exponent dtypes, int base', () => {
    expectClose(run1('Pow', [T('float32', [2, 3, -2, -2, -8, 0]), T('float32', [3, 0.5, 2, 3, 1 / 3, 0])]),
      [8, Math.sqrt(3), 4, -8, NaN, 1]);
    const y = run1('Pow', [T('float32', [2, -3]), T('int64', [-1, 3])]);
    expect(y.dtype).to.equal('float32');
    expectClose(y, [0.5, -27]);
    expectExact(run1('Pow', [T('int32', [2, 3, -2, 5]), T('int32', [10, 2, 3, -1])]), 'int32', [4], [1024, 9, -8, 0]);
  });

  it('Mod: fmod=0 takes the divisor\'s sign, fmod=1 the dividend\'s (ONNX doc examples)', () => {
    const x = [-4, 7, 5, 4, -7, 8];
    const y = [2, -3, 8, -2, 3, 5];
    expectExact(run1('Mod', [T('int32', x), T('int32', y)]), 'int32', [6], [0, -2, 5, 0, 2, 3]);
    expectExact(run1('Mod', [T('int64', x), T('int64', y)], { fmod: 1 }), 'int64', [6], [0, 1, 5, 0, -1, 3]);
    const xf = T('float32', [-4.3, 7.2, 5.0, 4.3, -7.2, 8.0]);
    const yf = T('float32', [2.1, -3.4, 8.0, -2.1, 3.4, 5.0]);
    expectClose(run1('Mod', [xf, yf], { fmod: 1 }), [-0.1, 0.4, 5, 0.1, -0.4, 3], 1e-5, 1e-5);
    expectClose(run1('Mod', [xf, yf]), [2.0, -3.0, 5, -2.0, 3.0, 3], 1e-5, 1e-5);
    expectExact(run1('Mod', [T('int32', [5]), T('int32', [0])]), 'int32', [1], [0]);
  });

  it('BitShift LEFT/RIGHT on unsigned ints (wraps to the width)', () => {
    const x = T('uint8', [16, 4, 1, 200]);
    const s = T('uint8', [1, 2, 3, 1]);
    expectExact(run1('BitShift', [x, s], { direction: 'LEFT' }), 'uint8', [4], [32, 16, 8, 144]);
    expectExact(run1('BitShift', [x, s], { direction: 'RIGHT' }), 'uint8', [4], [8, 1, 0, 100]);
    expectExact(run1('BitShift', [T('uint32', [3]), T('uint32', [31])], { direction: 'LEFT' }), 'uint32', [1], [2147483648]);
    expectExact(run1('BitShift', [T('uint64', [2 ** 63 + 2 ** 62, 5]), T('uint64', [1, 64])], { direction: 'LEFT' }), 'uint64', [2], [2 ** 63, 0]);
    expect(() => run1('BitShift', [x, s])).to.throw(AttributeError, /requires attribute 'direction'/);
  });

  it('BitwiseAnd/Or/Xor on int32 (negative values) and int64 beyond 32 bits', () => {
    const a = T('int32', [3, -1, 12]);
    const b = T('int32', [5, 7, 10]);
    expectExact(run1('BitwiseAnd', [a, b]), 'int32', [3], [1, 7, 8]);
    expectExact(run1('BitwiseOr', [a, b]), 'int32', [3], [7, -1, 14]);
    expectExact(run1('BitwiseXor', [a, b]), 'int32', [3], [6, -8, 6]);
    expectExact(run1('BitwiseAnd', [T('int64', [2 ** 40 + 1, -(2 ** 33)]), T('int64', [2 ** 40 + 3, 2 ** 34 + 5])]), 'int64', [2], [2 ** 40 + 1, 2 ** 34]);
    expectExact(run1('BitwiseOr', [T('uint32', [2147483648]), T('uint32', [1])]), 'uint32', [1], [2147483649]);
  });

  it('comparisons return bool, NaN compares false, and broadcast', () => {
    const a = T('float32', [1, 2, NaN]);
    const b = T('float32', [2, 2, NaN]);
    expectExact(run1('Equal', [a, b]), 'bool', [3], [0, 1, 0]);
    expectExact(run1('Less', [a, b]), 'bool', [3], [1, 0, 0]);
    expectExact(run1('LessOrEqual', [a, b]), 'bool', [3], [1, 1, 0]);
    expectExact(run1('Greater', [a, b]), 'bool', [3], [0, 0, 0]);
    expectExact(run1('GreaterOrEqual', [a, b]), 'bool', [3], [0, 1, 0]);
    expectExact(run1('Greater', [T('int32', [1, 5], [2, 1]), T('int32', [0, 3, 6], [1, 3])]), 'bool', [2, 3], [1, 0, 0, 1, 1, 0]);
    expectExact(run1('Equal', [T('bool', [1, 0]), T('bool', [1, 1])]), 'bool', [2], [1, 0]);
  });

  it('logical And/Or/Xor truth tables with broadcasting', () => {
    const a = T('bool', [0, 1], [2, 1]);
    const b = T('bool', [0, 1], [1, 2]);
    expectExact(run1('And', [a, b]), 'bool', [2, 2], [0, 0, 0, 1]);
    expectExact(run1('Or', [a, b]), 'bool', [2, 2], [0, 1, 1, 1]);
    expectExact(run1('Xor', [a, b]), 'bool', [2, 2], [0, 1, 1, 0]);
  });

  it('rejects bad dtypes and shapes, naming the node', () => {
    const b = new GraphBuilder();
    const f = b.input('f', 'float32', [2]);
    const i = b.input('i', 'int32', [2]);
    const u = b.input('u', 'uint8', [2]);
    expect(() => b.Add([f, i], {}, { name: 'add1' })).to.throw(DTypeError, /add1: Add inputs A and B must have the same dtype, got float32 and int32/);
    expect(() => b.And([f, f], {}, { name: 'and1' })).to.throw(DTypeError, /and1: A has dtype float32/);
    expect(() => b.BitShift([i, i], { direction: 'LEFT' })).to.throw(DTypeError, /BitShift.*int32/);
    expect(() => b.BitwiseAnd([f, f])).to.throw(DTypeError, /BitwiseAnd/);
    expect(() => b.Pow([u, u], {}, { name: 'pw' })).to.throw(DTypeError, /pw: X has dtype uint8/);
    expect(() => b.Less([f, b.input('g', 'float32', [3])], {}, { name: 'lt' })).to.throw(ShapeError, /lt/);
  });
});

describe('ops: variadic Sum/Mean/Max/Min', () => {
  const a = T('float32', [1, 2, 3]);
  const b = T('float32', [10, 20], [2, 1]);
  const c = Tensor.scalar('float32', 100);

  it('fold 3 inputs with broadcasting', () => {
    expectExact(run1('Sum', [a, b, c]), 'float32', [2, 3], [111, 112, 113, 121, 122, 123]);
    expectClose(run1('Mean', [a, b, c]), [37, 112 / 3, 113 / 3, 121 / 3, 122 / 3, 41]);
    expectExact(run1('Max', [T('int32', [1, 5, 3]), T('int32', [4, 2, 3]), T('int32', [0, 0, 9])]), 'int32', [3], [4, 5, 9]);
    expectExact(run1('Min', [T('int32', [1, 5, 3]), T('int32', [4, 2, 3]), T('int32', [0, 0, 9])]), 'int32', [3], [0, 0, 3]);
  });

  it('one input is the identity; NaN propagates through Max/Min', () => {
    expectExact(run1('Sum', [a]), 'float32', [3], [1, 2, 3]);
    expectExact(run1('Max', [a]), 'float32', [3], [1, 2, 3]);
    expectClose(run1('Max', [T('float32', [1, NaN]), T('float32', [NaN, 2]), T('float32', [0, 0])]), [NaN, NaN]);
    expectClose(run1('Min', [T('float32', [1, -Infinity]), T('float32', [2, 0])]), [1, -Infinity]);
  });

  it('rejects mixed dtypes, int Sum and zero inputs', () => {
    const g = new GraphBuilder();
    const f = g.input('f', 'float32', [2]);
    const h = g.input('h', 'float16', [2]);
    expect(() => g.Max([f, f, h], {}, { name: 'mx' })).to.throw(DTypeError, /mx: Max input #2 has dtype float16/);
    expect(() => g.Sum([g.input('i', 'int32', [2])])).to.throw(DTypeError, /Sum/);
    expect(() => g.Min([], {}, { name: 'mn' })).to.throw(GraphError, /mn: Min needs at least one input/);
  });
});

describe('ops: Where, Clip, Cast, CastLike', () => {
  it('Where selects and broadcasts (ONNX doc example)', () => {
    const y = run1('Where', [T('bool', [1, 0, 1, 1], [2, 2]), T('float32', [1, 2, 3, 4], [2, 2]), T('float32', [9, 8, 7, 6], [2, 2])]);
    expectExact(y, 'float32', [2, 2], [1, 8, 3, 4]);
    const z = run1('Where', [T('bool', [1, 0], [2, 1]), T('int64', [1, 2, 3]), Tensor.scalar('int64', -1)]);
    expectExact(z, 'int64', [2, 3], [1, 2, 3, -1, -1, -1]);
    const g = new GraphBuilder();
    expect(() => g.Where([g.input('c', 'float32', [1]), g.input('x', 'float32', [1]), g.input('y', 'float32', [1])], {}, { name: 'wh' }))
      .to.throw(DTypeError, /wh: condition has dtype float32/);
  });

  it('Clip with both, one or no bounds (inputs), and opset-6 attributes', () => {
    const x = T('float32', [-2, 0, 2, NaN]);
    const lo = Tensor.scalar('float32', -1);
    const hi = Tensor.scalar('float32', 1);
    expectClose(run1('Clip', [x, lo, hi]), [-1, 0, 1, NaN]);
    expectClose(run1('Clip', [x, undefined, hi]), [-2, 0, 1, NaN]);
    expectClose(run1('Clip', [x, lo]), [-1, 0, 2, NaN]);
    expectClose(run1('Clip', [x]), [-2, 0, 2, NaN]);
    expectClose(run1('Clip', [x], { min: -0.5, max: 0.5 }), [-0.5, 0, 0.5, NaN]);
    expectClose(run1('Clip', [x], { max: 0.5 }), [-2, 0, 0.5, NaN]);
    expectExact(run1('Clip', [T('int32', [-5, 3, 9]), Tensor.scalar('int32', 0), Tensor.scalar('int32', 6)]), 'int32', [3], [0, 3, 6]);
    const g = new GraphBuilder();
    const f = g.input('f', 'float32', [3]);
    expect(() => g.Clip([f, g.input('m', 'float32', [2])], {}, { name: 'cl' })).to.throw(ShapeError, /cl: Clip min must be a scalar/);
    expect(() => g.Clip([f, undefined, g.input('n', 'int32', [])], {}, { name: 'cl2' })).to.throw(DTypeError, /cl2: Clip inputs input and max/);
  });

  it('Clip with an omitted min inside a graph (empty input name)', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [3]);
    g.output(g.Clip([x, undefined, g.constant(0.5)]), 'y');
    const y = compileCpu(g.build()).run({ x: T('float32', [-3, 0.25, 3]) }).y!;
    expectClose(y, [-3, 0.25, 0.5]);
  });

  it('Cast float → int truncates toward zero with NaN → 0; → bool is nonzero; → float16 rounds', () => {
    const x = T('float32', [1.7, -1.7, NaN, 300, -0.5]);
    expectExact(run1('Cast', [x], { to: 6 }), 'int32', [5], [1, -1, 0, 300, 0]);
    expectExact(run1('Cast', [x], { to: 7 }), 'int64', [5], [1, -1, 0, 300, 0]);
    expectExact(run1('Cast', [T('float32', [1.7, 0, 255.9])], { to: 2 }), 'uint8', [3], [1, 0, 255]);
    expectExact(run1('Cast', [x], { to: 9 }), 'bool', [5], [1, 1, 1, 1, 1]);
    expectExact(run1('Cast', [T('float32', [0, -0])], { to: 9 }), 'bool', [2], [0, 0]);
    expectExact(run1('Cast', [T('float32', [1 / 3, 70000])], { to: 10 }), 'float16', [2], [0.333251953125, Infinity]);
    expectExact(run1('Cast', [T('bool', [1, 0])], { to: 1 }), 'float32', [2], [1, 0]);
    expectExact(run1('Cast', [T('int64', [2 ** 40, -3])], { to: 11 }), 'float64', [2], [2 ** 40, -3]);
    expectExact(run1('Cast', [T('int32', [300, -1])], { to: 3 }), 'int8', [2], [44, -1]);
    expect(() => run1('Cast', [x], { to: 0 })).to.throw(AttributeError, /Cast attribute 'to' = 0/);
  });

  it('CastLike takes the dtype (not the shape) of target_type', () => {
    const y = run1('CastLike', [T('float32', [2.5, -2.5, 7], [3]), T('int32', [0, 0], [2])]);
    expectExact(y, 'int32', [3], [2, -2, 7]);
    expectExact(run1('CastLike', [T('int32', [1, 0]), Tensor.scalar('bool', 0)]), 'bool', [2], [1, 0]);
  });
});
