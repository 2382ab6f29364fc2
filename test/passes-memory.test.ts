import { expect } from 'chai';
import { GraphBuilder, LimitError, ShapeError } from '../src/graph/index.js';
import { checkPlanLimits, gpuElementBytes, planMemory } from '../src/passes/index.js';

/** x → a → b → c → d, each a Softmax over 1024 floats (4096 bytes); d is the output. */
function chain(withReshape = false) {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [1024]);
  const a = b.Softmax(x, {}, { name: 'A' });
  const a2 = withReshape ? b.Reshape([a, b.constant([32, 32], { dtype: 'int64' })], {}, { name: 'R' }) : a;
  const c1 = b.Softmax(a2, {}, { name: 'B' });
  const c2 = b.Softmax(c1, {}, { name: 'C' });
  b.output(b.Softmax(c2, {}, { name: 'D' }));
  return b.build();
}

describe('passes: memory plan', () => {
  it('arena: a chain needs two slots, reused alternately (peak 8 KiB of 16 KiB total)', () => {
    const g = chain();
    const plan = planMemory(g, { elementBytes: gpuElementBytes() });
    const [a, b, c, d] = g.topo.map((n) => n.outputs[0]!);
    expect(plan.lifetimes).to.deep.equal([
      { value: a, start: 0, end: 1 }, { value: b, start: 1, end: 2 }, { value: c, start: 2, end: 3 }, { value: d, start: 3, end: 4 },
    ]);
    expect(plan.totalBytes).to.equal(4 * 4096);
    expect(plan.peakBytes).to.equal(8192);
    expect(plan.maxLiveBytes).to.equal(8192);
    expect([a, b, c, d].map((v) => plan.assignments.get(v!)!.offset)).to.deep.equal([0, 4096, 0, 4096]);
  });

  it('pool: best fit reuses whole buffers (2 buffers of 4 KiB)', () => {
    const g = chain();
    const plan = planMemory(g, { strategy: 'pool' });
    expect(plan.buffers).to.deep.equal([{ id: 0, bytes: 4096, kind: 'pool' }, { id: 1, bytes: 4096, kind: 'pool' }]);
    expect(g.topo.map((n) => plan.assignments.get(n.outputs[0]!)!.buffer)).to.deep.equal([0, 1, 0, 1]);
  });

  it('a Reshape aliases its input and extends its lifetime; it is not a dispatch', () => {
    const g = chain(true);
    const plan = planMemory(g);
    const a = g.nodes.find((n) => n.name === 'A')!.outputs[0]!;
    const r = g.nodes.find((n) => n.name === 'R')!.outputs[0]!;
    expect(plan.aliases.get(r)).to.equal(a);
    expect(plan.assignments.get(r)).to.deep.equal(plan.assignments.get(a));
    expect(plan.totalBytes).to.equal(4 * 4096);
    expect(plan.dispatchCount).to.equal(4);
  });

  it('an elementwise op writes in place over an input that dies at that step', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [256]);
    const s = b.Softmax(x, {}, { name: 'S' });
    const y = b.Relu(s, {}, { name: 'Y' });
    b.output(b.Softmax(y, {}, { name: 'Z' }));
    const g = b.build();
    const plan = planMemory(g);
    expect(plan.inPlace.get(y.name)).to.equal(s.name);
    expect(plan.assignments.get(y.name)).to.deep.equal(plan.assignments.get(s.name));
    expect(plan.peakBytes).to.equal(2048);
    expect(planMemory(g, { inPlace: false }).peakBytes).to.equal(2048);
    expect(planMemory(g, { inPlace: false }).inPlace.size).to.equal(0);
  });

  it('float16 takes 2 bytes per element only when enabled; int64 and bool take 4', () => {
    expect(['float16', 'float32', 'int64', 'bool'].map((d) => gpuElementBytes()(d as 'float32'))).to.deep.equal([4, 4, 4, 4]);
    expect(gpuElementBytes({ f16: true })('float16')).to.equal(2);
  });

  it('checkPlanLimits names the value that does not fit', () => {
    const plan = planMemory(chain(), { strategy: 'pool' });
    expect(() => checkPlanLimits(plan, { maxStorageBufferBindingSize: 4000 })).to.throw(LimitError, /buffer #0 needs 4096 bytes for value 'A_0'.*maxStorageBufferBindingSize of 4000/);
    expect(() => checkPlanLimits(plan, { maxTotalBytes: 8000 })).to.throw(LimitError, /8192 bytes.*budget of 8000/);
    expect(() => checkPlanLimits(plan, { maxBufferSize: 4096, maxTotalBytes: 8192 })).to.not.throw();
  });

  it('asks for the size of symbolic dims', () => {
    const b = new GraphBuilder();
    b.output(b.Softmax(b.input('x', 'float32', ['n', 4])));
    const g = b.build();
    expect(() => planMemory(g)).to.throw(ShapeError, /unknown dim 'n'/);
    expect(planMemory(g, { dims: { n: 8 } }).totalBytes).to.equal(128);
  });
});

describe('inspect report on a builder graph', () => {
  it('takes unknown symbolic dims as 1 and says so; --dim sizes scale bytes and FLOPs', async () => {
    const { inspectGraph } = await import('../src/cli/commands/inspect.js');
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 4]);
    b.output(b.Softmax(b.MatMul([x, b.constant(Array.from({ length: 8 }, (_, i) => i), { shape: [4, 2] })])));
    const g = b.build();
    const r1 = inspectGraph(g, 'm', 2);
    expect(r1.assumedDims).to.deep.equal(['n']);
    // MatMul [n,4]×[4,2]: 2·(n·2)·4 = 16n FLOPs; Softmax: n·2 outputs.
    expect(r1.flops).to.equal(16 + 2);
    const r8 = inspectGraph(g, 'm', 2, { n: 8 });
    expect(r8.assumedDims).to.deep.equal([]);
    expect(r8.flops).to.equal(8 * 18);
    // two values of n·2 floats: 64 bytes each at n = 8.
    expect(r8.totalIntermediateBytes).to.equal(128);
    expect(r8.dispatches).to.equal(2);
    expect(r8.parameters).to.equal(8);
  });
});
