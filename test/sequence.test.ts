/**
 * Sequence and optional values (ONNX sequence(tensor), optional(T)) on the CPU
 * backend: the ONNX node tests that use them (1.12 and 1.17 data, at -O0, -O1 and
 * -O2), hand-built models — a sequence carried through a Loop, SplitToSequence →
 * ConcatFromSequence, SequenceMap with a body reading an outer value, optionals
 * present and absent — run, exported, run by onnxruntime-node and re-imported, and
 * the typed errors: bad input names its node; and on WebGPU, where those values live
 * on the host and their nodes run as host steps, the same results as the CPU.
 */
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import type { pb } from '../onnx/proto.js';
import { importModel } from '../onnx/import.js';
import { exportModel } from '../onnx/export.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { DTypeError, ExecutionError, KilnError, ShapeError } from '../src/graph/errors.js';
import { Tensor } from '../src/graph/tensor.js';
import { NoneValue, TensorSequence, type Value } from '../src/graph/value.js';
import { verify } from '../src/graph/verify.js';
import { listCases, runCase, testDataRoot, testDataRoot117 } from '../src/harness/conformance.js';
import { atLevel, loadBackend } from '../src/session/backends.js';
import { optimize } from '../src/passes/index.js';
import { compareValues } from '../src/harness/compare.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { runOrt } from './onnx-util.js';
import { A, BOOL, constInit, FLOAT, graphAttr, INT64, model, node, vi } from './helpers/onnx-model.js';

/** The node tests that use sequence or optional values. */
const SEQUENCE_CASES = /^node\/test_(sequence_|split_to_sequence_|optional_|identity_(opt|sequence)$|if_(seq|opt)$|loop13_seq$|loop16_seq_none$)/;

/** A sequence-of-float value info. */
function seqVi(name: string, dims?: readonly number[]): pb.IValueInfoProto {
  return { name, type: { sequenceType: { elemType: { tensorType: { elemType: FLOAT, ...(dims ? { shape: { dim: dims.map((d) => ({ dimValue: d })) } } : {}) } } } } };
}

/**
 * SequenceEmpty, then a Loop (M = 3) whose body inserts `x * (i + 1)` into the carried
 * sequence; ConcatFromSequence (axis 0) stacks the three results: x = [1, 2] gives
 * [1, 2, 2, 4, 3, 6]. The sequence length is a second output.
 */
function loopSeqModel(): Uint8Array {
  const body: pb.IGraphProto = {
    name: 'body',
    input: [vi('i', INT64, []), vi('c_in', BOOL, []), seqVi('s_in')],
    node: [
      node('Add', ['i', 'one'], ['i1']),
      node('Cast', ['i1'], ['f'], [{ name: 'to', type: A.INT, i: FLOAT }]),
      node('Mul', ['x', 'f'], ['xi']),
      node('SequenceInsert', ['s_in', 'xi'], ['s_out']),
      node('Identity', ['c_in'], ['c_out']),
    ],
    initializer: [constInit('one', INT64, [], [1])],
    output: [vi('c_out', BOOL, []), seqVi('s_out')],
  };
  return model({
    name: 'loop_seq',
    input: [vi('x', FLOAT, [2])],
    initializer: [constInit('M', INT64, [], [3])],
    node: [
      node('SequenceEmpty', [], ['s0']),
      node('Loop', ['M', '', 's0'], ['s'], [graphAttr('body', body)]),
      node('ConcatFromSequence', ['s'], ['y'], [{ name: 'axis', type: A.INT, i: 0 }]),
      node('SequenceLength', ['s'], ['n']),
    ],
    output: [vi('y', FLOAT, [6]), vi('n', INT64, [])],
  });
}

/** SplitToSequence of x [3, 6] along axis 1 into [1, 2, 3] columns, then ConcatFromSequence back; and rows (keepdims 0) stacked again. */
function splitConcatModel(): Uint8Array {
  return model({
    name: 'split_concat',
    input: [vi('x', FLOAT, [3, 6])],
    initializer: [constInit('split', INT64, [3], [1, 2, 3]), constInit('last', INT64, [], [-1])],
    node: [
      node('SplitToSequence', ['x', 'split'], ['cols'], [{ name: 'axis', type: A.INT, i: 1 }]),
      node('ConcatFromSequence', ['cols'], ['y'], [{ name: 'axis', type: A.INT, i: 1 }]),
      node('SplitToSequence', ['x'], ['rows'], [{ name: 'axis', type: A.INT, i: 0 }, { name: 'keepdims', type: A.INT, i: 0 }]),
      node('ConcatFromSequence', ['rows'], ['z'], [{ name: 'axis', type: A.INT, i: 0 }, { name: 'new_axis', type: A.INT, i: 1 }]),
      node('SequenceAt', ['cols', 'last'], ['c2']),
    ],
    output: [vi('y', FLOAT, [3, 6]), vi('z', FLOAT, [3, 6]), vi('c2', FLOAT, [3, 3])],
  });
}

/** SequenceMap over the rows of x [3, 2]: each row times w (an outer value the body captures) plus b (a tensor input); stacked back. */
function sequenceMapModel(): Uint8Array {
  const body: pb.IGraphProto = {
    name: 'map_body',
    input: [vi('row', FLOAT, [2]), vi('bias', FLOAT, [2])],
    node: [node('Mul', ['row', 'w'], ['rw']), node('Add', ['rw', 'bias'], ['out'])],
    output: [vi('out', FLOAT, [2])],
  };
  return model({
    name: 'seq_map',
    input: [vi('x', FLOAT, [3, 2]), vi('b', FLOAT, [2]), vi('w', FLOAT, [])],
    node: [
      node('SplitToSequence', ['x'], ['rows'], [{ name: 'axis', type: A.INT, i: 0 }, { name: 'keepdims', type: A.INT, i: 0 }]),
      node('SequenceMap', ['rows', 'b'], ['mapped'], [graphAttr('body', body)]),
      node('ConcatFromSequence', ['mapped'], ['y'], [{ name: 'axis', type: A.INT, i: 0 }, { name: 'new_axis', type: A.INT, i: 1 }]),
    ],
    output: [vi('y', FLOAT, [3, 2])],
  });
}

/** If (cond) → Optional(x) else an empty Optional of float tensors; then OptionalHasElement, and the optional itself as an output. */
function optionalModel(): Uint8Array {
  const optT: pb.ITypeProto = { optionalType: { elemType: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 2 }] } } } } };
  const thenB: pb.IGraphProto = { name: 'then', node: [node('Optional', ['x'], ['o_then'])], output: [{ name: 'o_then', type: optT }] };
  const elseB: pb.IGraphProto = {
    name: 'else',
    node: [node('Optional', [], ['o_else'], [{ name: 'type', type: A.TYPE_PROTO, tp: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 2 }] } } } }])],
    output: [{ name: 'o_else', type: optT }],
  };
  return model({
    name: 'optional',
    input: [vi('cond', BOOL, []), vi('x', FLOAT, [2])],
    node: [
      node('If', ['cond'], ['o'], [graphAttr('then_branch', thenB), graphAttr('else_branch', elseB)]),
      node('OptionalHasElement', ['o'], ['has']),
    ],
    output: [vi('has', BOOL, []), { name: 'o', type: optT }],
  });
}

const f32 = (shape: number[], v: number[]): Tensor => Tensor.from('float32', shape, v);

describe('sequences and optionals (CPU; WebGPU host steps)', function () {
  this.timeout(120000);

  for (const [label, root] of [['1.12', testDataRoot()], ['1.17', testDataRoot117()]] as const) {
    it(`ONNX ${label} node tests with sequences/optionals pass at -O0, -O1 and -O2`, async function () {
      if (!existsSync(`${root}/node`)) {
        if (process.env.CI === 'true') throw new Error(`ONNX test data missing at ${root}`);
        this.skip();
      }
      const cases = listCases(['node'], SEQUENCE_CASES, root);
      expect(cases.length).to.be.greaterThan(15);
      const cpu = await loadBackend('cpu');
      const bad: string[] = [];
      for (const level of [0, 1, 2] as const) {
        for (const c of cases) {
          const r = await runCase(c.name, c.dir, { backend: atLevel(cpu, level), suites: ['node'] });
          if (r.status !== 'pass') bad.push(`O${level} ${c.name}: ${r.status} ${r.detail}`);
        }
      }
      expect(bad).to.deep.equal([]);
    });
  }

  it('a sequence carried through a Loop (test_loop13_seq style), at -O0 and -O2, in onnxruntime-node and re-imported', async () => {
    const g = importModel(loopSeqModel());
    verify(g);
    const feeds = { x: f32([2], [1, 2]) };
    for (const level of [0, 2] as const) {
      const out = compileCpu(level ? optimize(g, { level }).graph : g).run(feeds);
      expect([...out.y!.data], `O${level}`).to.deep.equal([1, 2, 2, 4, 3, 6]);
      expect([...out.n!.data]).to.deep.equal([3]);
    }
    const bytes = exportModel(optimize(g, { level: 2 }).graph);
    const ort = await runOrt(bytes, feeds);
    expect([...ort.y!.data]).to.deep.equal([1, 2, 2, 4, 3, 6]);
    expect(Number(ort.n!.data[0])).to.equal(3);
    expect([...compileCpu(importModel(bytes)).run(feeds).y!.data]).to.deep.equal([1, 2, 2, 4, 3, 6]);
  });

  it('SplitToSequence → ConcatFromSequence gives the input back (split sizes; keepdims 0 with new_axis), and SequenceAt(-1)', async () => {
    const g = importModel(splitConcatModel());
    const x = f32([3, 6], Array.from({ length: 18 }, (_, i) => i));
    for (const graph of [g, optimize(g, { level: 2 }).graph]) {
      const out = compileCpu(graph).run({ x });
      expect([...out.y!.data]).to.deep.equal([...x.data]);
      expect([...out.z!.data]).to.deep.equal([...x.data]);
      expect(out.c2!.shape).to.deep.equal([3, 3]);
      expect([...out.c2!.data]).to.deep.equal([3, 4, 5, 9, 10, 11, 15, 16, 17]);
    }
    const bytes = exportModel(g);
    const ort = await runOrt(bytes, { x });
    expect([...ort.y!.data]).to.deep.equal([...x.data]);
    expect([...ort.c2!.data]).to.deep.equal([3, 4, 5, 9, 10, 11, 15, 16, 17]);
    expect(g.valueTypes.get('cols')?.kind).to.equal('sequence');
    // Known length and element shape: the stacked result's shape is static (planned like any tensor).
    expect(g.valueTypes.get('rows')?.length).to.equal(3);
    expect(g.valueTypes.get('z')?.shape).to.deep.equal([3, 6]);
  });

  it('a sequence input without an element shape is typed by inputShapes; without it SequenceAt is a ShapeError naming the node', () => {
    const m = model({
      name: 'seq_at',
      input: [seqVi('s'), vi('p', INT64, [])],
      node: [node('SequenceAt', ['s', 'p'], ['y'])],
      output: [vi('y', FLOAT)],
    });
    expect(() => importModel(m)).to.throw(ShapeError, /SequenceAt_y/);
    const g = importModel(m, { inputShapes: { s: [2] } });
    expect(g.valueTypes.get('y')?.shape).to.deep.equal([2]);
    const s = new TensorSequence('float32', [f32([2], [1, 2]), f32([2], [3, 4])]);
    expect([...(compileCpu(g).runValues({ s, p: Tensor.from('int64', [], [1]) }).y as Tensor).data]).to.deep.equal([3, 4]);
  });

  it('SequenceMap runs its body per element (a tensor input passed whole, an outer value captured); exported, onnxruntime-node agrees', async () => {
    const g = importModel(sequenceMapModel());
    const map = g.nodes.find((n) => n.op === 'SequenceMap')!;
    expect(map.inputs).to.deep.equal(['rows', 'b', 'w']);
    const feeds = { x: f32([3, 2], [1, 2, 3, 4, 5, 6]), b: f32([2], [10, 20]), w: f32([], [2]) };
    const want = [12, 24, 16, 28, 20, 32];
    expect([...compileCpu(g).run(feeds).y!.data]).to.deep.equal(want);
    expect([...compileCpu(optimize(g, { level: 2 }).graph).run(feeds).y!.data]).to.deep.equal(want);
    const bytes = exportModel(g);
    expect([...(await runOrt(bytes, feeds)).y!.data]).to.deep.equal(want);
    expect([...compileCpu(importModel(bytes)).run(feeds).y!.data]).to.deep.equal(want);
  });

  it('optionals: present and absent through an If; the optional output comes back from runValues, and survives export → re-import', () => {
    const g = importModel(optionalModel());
    expect(g.outputs[1]!.kind).to.equal('optional');
    const x = f32([2], [7, 8]);
    for (const graph of [g, importModel(exportModel(g))]) {
      const p = compileCpu(graph);
      const yes = p.runValues({ cond: Tensor.from('bool', [], [1]), x });
      expect([...(yes.has as Tensor).data]).to.deep.equal([1]);
      expect([...(yes.o as Tensor).data]).to.deep.equal([7, 8]);
      const no = p.runValues({ cond: Tensor.from('bool', [], [0]), x });
      expect([...(no.has as Tensor).data]).to.deep.equal([0]);
      expect(no.o).to.be.instanceOf(NoneValue);
      // run() hands out tensors only, and says so.
      expect(() => p.run({ cond: Tensor.from('bool', [], [0]), x })).to.throw(KilnError, /not a tensor/);
    }
  });

  it('a sequence graph input and output: import → run → export → re-import', () => {
    const m = model({
      name: 'seq_io',
      input: [seqVi('s', [2]), vi('t', FLOAT, [2])],
      initializer: [constInit('zero', INT64, [], [0])],
      node: [node('SequenceInsert', ['s', 't', 'zero'], ['s2']), node('SequenceErase', ['s2'], ['s3'])],
      output: [seqVi('s3', [2])],
    });
    const feeds = { s: new TensorSequence('float32', [f32([2], [1, 2]), f32([2], [3, 4])]), t: f32([2], [5, 6]) };
    for (const g of [importModel(m), importModel(exportModel(importModel(m)))]) {
      expect(g.inputs[0]!.kind).to.equal('sequence');
      const out = compileCpu(g).runValues(feeds).s3 as TensorSequence;
      expect(out).to.be.instanceOf(TensorSequence);
      expect(out.items.map((t) => [...t.data])).to.deep.equal([[5, 6], [1, 2]]);
    }
  });

  it('bad input is a typed error naming the node', () => {
    const g = importModel(loopSeqModel());
    // A tensor op fed a sequence: DTypeError at verify, naming the node.
    const relu = g.with({ nodes: [...g.nodes, { name: 'bad_relu', op: 'Relu', domain: '', inputs: ['s'], outputs: ['r'], attrs: {} }], valueTypes: new Map([...g.valueTypes, ['r', { dtype: 'float32', shape: [] }]]) });
    expect(() => verify(relu)).to.throw(DTypeError, /bad_relu/);
    // SequenceAt past the end: ShapeError naming the node, at run time.
    const at = importModel(model({
      name: 'at',
      input: [vi('x', FLOAT, [2]), vi('p', INT64, [])],
      node: [node('SequenceConstruct', ['x', 'x'], ['s']), node('SequenceAt', ['s', 'p'], ['y'])],
      output: [vi('y', FLOAT, [2])],
    }));
    expect(() => compileCpu(at).run({ x: f32([2], [1, 2]), p: Tensor.from('int64', [], [2]) })).to.throw(ShapeError, /SequenceAt_y.*out of range/);
    expect([...compileCpu(at).run({ x: f32([2], [1, 2]), p: Tensor.from('int64', [], [-2]) }).y!.data]).to.deep.equal([1, 2]);
  });

  it('WebGPU: sequence and optional nodes run as host steps between GPU work, equal to the CPU (O0 and O2)', async function () {
    const device = await deviceOrSkip(this);
    const cases: [Uint8Array, Record<string, Value>][] = [
      [loopSeqModel(), { x: f32([2], [1, 2]) }],
      [sequenceMapModel(), { x: f32([3, 2], [1, 2, 3, 4, 5, 6]), b: f32([2], [10, 20]), w: f32([], [2]) }],
      [splitConcatModel(), { x: f32([3, 6], Array.from({ length: 18 }, (_, i) => i)) }],
      [optionalModel(), { cond: Tensor.from('bool', [], [0]), x: f32([2], [7, 8]) }],
      [optionalModel(), { cond: Tensor.from('bool', [], [1]), x: f32([2], [7, 8]) }],
    ];
    for (const [bytes, feeds] of cases) {
      const g = importModel(bytes);
      const want = compileCpu(g).runValues(feeds);
      for (const level of [0, 2] as const) {
        const p = await compileWebGpu(level ? optimize(g, { level }).graph : g, { device });
        try {
          const got = await p.runValues(feeds);
          for (const o of g.outputs) {
            const c = compareValues(want[o.name]!, got[o.name] as Value);
            expect(c.pass, `${g.name} O${level} ${o.name}: ${c.detail ?? ''}`).to.equal(true);
          }
          expect(p.controlStats?.hostNodes ?? 1, `${g.name}: host steps`).to.be.greaterThan(0);
        } finally {
          p.release();
        }
      }
    }
  });

  it('WebGPU: run() refuses a sequence output by name (runValues() returns it)', async function () {
    const device = await deviceOrSkip(this);
    const g = importModel(optionalModel());
    const p = await compileWebGpu(g, { device });
    try {
      let err: unknown;
      try {
        await p.run({ cond: Tensor.from('bool', [], [0]), x: f32([2], [7, 8]) });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ExecutionError);
      expect((err as Error).message).to.match(/'o'.*runValues/);
    } finally {
      p.release();
    }
  });
});
