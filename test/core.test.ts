import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { GraphBuilder, Tensor, ShapeError, DTypeError, AttributeError, GraphError, Graph, LimitError, verify } from '../src/graph/index.js';

describe('core: builder, verify, CPU backend', () => {
  it('builds and runs Add + Relu with broadcasting', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', ['batch', 3]);
    const bias = b.constant([1, -2, 0.5]);
    const y = b.Relu(b.Add([x, bias]));
    expect(y.shape).to.deep.equal(['batch', 3]);
    b.output(y, 'y');
    const g = b.build();
    verify(g);
    const out = compileCpu(g).run({ x: Tensor.from('float32', [2, 3], [0, 1, 2, -3, 4, -5]) });
    expect(out.y!.shape).to.deep.equal([2, 3]);
    expect(out.y!.toArray()).to.deep.equal([1, 0, 2.5, 0, 2, 0]);
  });

  it('rejects non-broadcastable shapes at build time, naming the node and shapes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    const y = b.input('y', 'float32', [4]);
    expect(() => b.Add([x, y])).to.throw(ShapeError, /Add.*\[2,3\] and \[4\]/);
  });

  it('rejects mismatched dtypes and unknown attributes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    const y = b.input('y', 'int32', [2]);
    expect(() => b.Add([x, y])).to.throw(DTypeError, /float32 and int32/);
    expect(() => b.Relu(x, { alpha: 1 } as never)).to.throw(AttributeError, /no attribute 'alpha'/);
  });

  it('verify rejects a cycle and a dangling reference', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.output(b.Relu(x), 'y');
    const g = b.build();
    const relu = g.nodes[0]!;
    const cyc = g.with({ nodes: [{ ...relu, inputs: ['y2'] }, { ...relu, name: 'r2', inputs: [relu.outputs[0]!], outputs: ['y2'] }] });
    expect(() => verify(cyc)).to.throw(GraphError, /cycle/);
    const dangling = g.with({ nodes: [{ ...relu, inputs: ['nope'] }] });
    expect(() => verify(dangling)).to.throw(GraphError, /reads 'nope'/);
    expect(Graph).to.be.a('function');
  });

  it('folds Shape and Size of static shapes at build time (values known to inference)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    expect(b.Size(x).value?.toArray()).to.deep.equal([24]);
    expect(b.Shape(x).value?.toArray()).to.deep.equal([2, 3, 4]);
    const y = b.input('y', 'float32', ['n', 3]);
    expect(b.Size(y).value).to.equal(undefined);
  });

  it('refuses an allocation past the tensor budget with a LimitError naming the node', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    const reps = b.input('reps', 'int64', [1]);
    b.output(b.Tile([x, reps]), 'y');
    const p = compileCpu(b.build(), { maxTensorBytes: 1 << 20 });
    expect(() => p.run({ x: Tensor.from('float32', [4], [1, 2, 3, 4]), reps: Tensor.from('int64', [1], [1 << 20]) }))
      .to.throw(LimitError, /Tile.*would allocate 16777216 bytes/);
    expect(p.run({ x: Tensor.from('float32', [4], [1, 2, 3, 4]), reps: Tensor.from('int64', [1], [2]) }).y!.size).to.equal(8);
  });
});
