/**
 * Control flow (If, Loop, Scan) on the CPU backend: the ONNX 1.12 node tests that
 * use them (against their recorded outputs), and hand-built models with nested
 * subgraphs, outer-scope captures and a loop-carried value that grows each
 * iteration (expected values computed by hand from the ONNX spec; exact, tolerance 0).
 */
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { onnx, type pb } from '../onnx/proto.js';
import { importModel } from '../onnx/import.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { verify } from '../src/graph/verify.js';
import { listCases, runCase, testDataRoot } from '../src/harness/conformance.js';
import { loadBackend } from '../src/session/backends.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { foldIf, optimize, structuralForm } from '../src/passes/index.js';
import { exportModel } from '../onnx/export.js';
import { runOrt } from './onnx-util.js';

import { A, BOOL, constInit, FLOAT, graphAttr, INT64, model, nestedModel, node, vi } from './helpers/onnx-model.js';

/** The node tests that exercise If, Loop and Scan with tensors only (sequence/optional forms are item 2). */
export const CONTROL_FLOW_CASES = ['test_if', 'test_loop11', 'test_scan9_sum', 'test_range_float_type_positive_delta_expanded'];

describe('control flow (CPU)', function () {
  this.timeout(60000);

  describe('ONNX node tests', function () {
    const root = testDataRoot();
    const present = existsSync(`${root}/node/test_if`);
    before(function () {
      if (!present) {
        if (process.env.CI === 'true') throw new Error(`ONNX test data missing at ${root}`);
        console.log(`    skipped: ONNX test data not found at ${root}`);
        this.skip();
      }
    });
    for (const name of CONTROL_FLOW_CASES) {
      it(`${name} matches its recorded outputs`, async function () {
        const c = listCases(['node'], new RegExp(`^node/${name}$`), root)[0];
        expect(c, name).to.not.equal(undefined);
        const r = await runCase(c!.name, c!.dir, { backend: await loadBackend('cpu'), suites: ['node'] });
        expect(r.status, r.detail).to.equal('pass');
      });
    }
    it('Scan in its opset-8 form (batch axis, no sequence_lens) runs: test_scan_sum matches its recorded outputs', async function () {
      const c = listCases(['node'], /^node\/test_scan_sum$/, root)[0]!;
      const r = await runCase(c.name, c.dir, { backend: await loadBackend('cpu'), suites: ['node'] });
      expect(r.status, r.detail).to.equal('pass');
    });
  });

  it('Scan-8 (batch of 2, a reversed input, an outer capture) equals two opset-9 Scans worked by hand; with sequence_lens [1, 3] too', function () {
    const body: pb.IGraphProto = {
      name: 'sb',
      input: [vi('s_in', FLOAT, [2]), vi('x_t', FLOAT, [2])],
      node: [node('Mul', ['x_t', 'k'], ['xk']), node('Add', ['s_in', 'xk'], ['s_out']), node('Identity', ['s_out'], ['s_scan'])],
      output: [vi('s_out', FLOAT, [2]), vi('s_scan', FLOAT, [2])],
    };
    const scan8 = (seqLens: string): Uint8Array => onnx.ModelProto.encode({
      irVersion: 3,
      opsetImport: [{ domain: '', version: 8 }],
      graph: {
        name: 'scan8',
        input: [vi('s0', FLOAT, [2, 2]), vi('x', FLOAT, [2, 3, 2]), vi('k', FLOAT, [1]), ...(seqLens ? [vi(seqLens, INT64, [2])] : [])],
        node: [{ ...node('Scan', [seqLens, 's0', 'x'], ['s', 'ss'], [graphAttr('body', body), { name: 'num_scan_inputs', type: A.INT, i: 1 }, { name: 'directions', type: A.INTS, ints: [1] }]), name: 'scan_8' }],
        output: [vi('s', FLOAT, [2, 2]), vi('ss', FLOAT, [2, 3, 2])],
      },
    }).finish();
    const feeds = { s0: Tensor.from('float32', [2, 2], [0, 0, 1, 1]), x: Tensor.from('float32', [2, 3, 2], [1, 2, 3, 4, 5, 6, 0, 1, 1, 0, 2, 2]), k: Tensor.from('float32', [1], [2]) };
    const g = importModel(scan8(''));
    verify(g);
    for (const graph of [g, optimize(g, { level: 2 }).graph]) {
      const out = compileCpu(graph).run(feeds);
      // Element 0: rows [5,6], [3,4], [1,2] times 2 from [0,0]; element 1: rows [2,2], [1,0], [0,1] times 2 from [1,1].
      expect(out.ss!.shape).to.deep.equal([2, 3, 2]);
      expect([...out.ss!.data]).to.deep.equal([10, 12, 16, 20, 18, 24, 5, 5, 7, 5, 7, 7]);
      expect([...out.s!.data]).to.deep.equal([18, 24, 7, 7]);
    }
    // Lengths 1 and 3: element 0 runs one step on its reversed first row ([1,2]·2 from [0,0]), zeros after it.
    const withLens = compileCpu(importModel(scan8('lens'))).run({ ...feeds, lens: Tensor.from('int64', [2], [1, 3]) });
    expect([...withLens.ss!.data]).to.deep.equal([2, 4, 0, 0, 0, 0, 5, 5, 7, 5, 7, 7]);
    expect([...withLens.s!.data]).to.deep.equal([2, 4, 7, 7]);
  });

  it('nested subgraphs: an If inside a Loop body reads an outer value two scopes out', function () {
    const g = importModel(nestedModel());
    verify(g);
    const loop = g.nodes.find((n) => n.op === 'Loop')!;
    const body = loop.attrs.body as Graph;
    const inner = body.nodes.find((n) => n.op === 'If')!;
    // The capture is explicit at each level and bound to an extra node input.
    expect((inner.attrs.then_branch as Graph).captures.map((c) => c.name)).to.include('w');
    expect(body.captures.map((c) => c.name)).to.deep.equal(['w']);
    expect(loop.inputs.slice(3)).to.deep.equal(['w']);
    const out = compileCpu(g).run({ x0: Tensor.from('float32', [1], [1]), w: Tensor.from('float32', [1], [10]) });
    expect([...out.x_final!.data]).to.deep.equal([24]);
    expect(out.xs!.shape).to.deep.equal([4, 1]);
    expect([...out.xs!.data]).to.deep.equal([2, 4, 14, 24]);
  });

  it('export writes bodies as GRAPH attributes with outer references by name: onnxruntime-node and a re-import agree (O2 graph)', async function () {
    const g = optimize(importModel(nestedModel()), { level: 2 }).graph;
    const bytes = exportModel(g);
    const feeds = { x0: Tensor.from('float32', [1], [1]), w: Tensor.from('float32', [1], [10]) };
    const ortOut = await runOrt(bytes, feeds);
    expect([...ortOut.x_final!.data]).to.deep.equal([24]);
    expect([...ortOut.xs!.data]).to.deep.equal([2, 4, 14, 24]);
    const back = compileCpu(importModel(bytes)).run(feeds);
    expect([...back.xs!.data]).to.deep.equal([2, 4, 14, 24]);
  });

  it('a loop-carried value that grows each iteration (Concat(y, y + 1), 3 iterations)', function () {
    const body: pb.IGraphProto = {
      name: 'grow',
      input: [vi('i', INT64, []), vi('c_in', BOOL, []), vi('y_in', FLOAT)],
      node: [node('Add', ['y_in', 'one'], ['y1']), node('Concat', ['y_in', 'y1'], ['y_out'], [{ name: 'axis', type: A.INT, i: 0 }]), node('Identity', ['c_in'], ['c_out'])],
      initializer: [constInit('one', FLOAT, [1], [1])],
      output: [vi('c_out', BOOL, []), vi('y_out', FLOAT)],
    };
    const g = importModel(model({
      name: 'growing',
      input: [vi('y0', FLOAT, [1]), vi('M', INT64, [])],
      node: [node('Loop', ['M', '', 'y0'], ['y'], [graphAttr('body', body)])],
      output: [vi('y', FLOAT)],
    }));
    // The body grows [1] to [2]: the Loop output's length is symbolic.
    expect(typeof g.outputs[0]!.shape[0]).to.equal('string');
    const prog = compileCpu(g);
    const y3 = prog.run({ y0: Tensor.from('float32', [1], [0]), M: Tensor.from('int64', [], [3]) }).y!;
    expect([...y3.data]).to.deep.equal([0, 1, 1, 2, 1, 2, 2, 3]);
    const y0 = prog.run({ y0: Tensor.from('float32', [1], [5]), M: Tensor.from('int64', [], [0]) }).y!;
    expect([...y0.data]).to.deep.equal([5]);
  });

  it('Scan with a reversed input and an outer capture (running sum of x[::-1] * k)', function () {
    const body: pb.IGraphProto = {
      name: 'sb',
      input: [vi('s_in', FLOAT, [2]), vi('x_t', FLOAT, [2])],
      node: [node('Mul', ['x_t', 'k'], ['xk']), node('Add', ['s_in', 'xk'], ['s_out']), node('Identity', ['s_out'], ['s_scan'])],
      output: [vi('s_out', FLOAT, [2]), vi('s_scan', FLOAT, [2])],
    };
    const g = importModel(model({
      name: 'scan',
      input: [vi('s0', FLOAT, [2]), vi('x', FLOAT, [3, 2]), vi('k', FLOAT, [1])],
      node: [node('Scan', ['s0', 'x'], ['s', 'ss'], [graphAttr('body', body), { name: 'num_scan_inputs', type: A.INT, i: 1 }, { name: 'scan_input_directions', type: A.INTS, ints: [1] }])],
      output: [vi('s', FLOAT, [2]), vi('ss', FLOAT, [3, 2])],
    }));
    const out = compileCpu(g).run({ s0: Tensor.from('float32', [2], [0, 0]), x: Tensor.from('float32', [3, 2], [1, 2, 3, 4, 5, 6]), k: Tensor.from('float32', [1], [2]) });
    // Rows taken in reverse: [5,6], [3,4], [1,2], each times 2.
    expect([...out.ss!.data]).to.deep.equal([10, 12, 16, 20, 18, 24]);
    expect([...out.s!.data]).to.deep.equal([18, 24]);
  });

  it('an If whose branches disagree on a dim gets a symbolic dim; mismatched dtypes are a typed error', function () {
    const br = (name: string, n: number, t = FLOAT): pb.IGraphProto => ({
      name, node: [node('Constant', [], [`${name}_v`], [{ name: 'value', type: A.TENSOR, t: constInit('', t, [n], Array(n).fill(1)) }])], output: [vi(`${name}_v`, t, [n])],
    });
    const mk = (e: pb.IGraphProto): Uint8Array => model({
      name: 'if', input: [vi('c', BOOL, [])], node: [node('If', ['c'], ['y'], [graphAttr('then_branch', br('a', 2)), graphAttr('else_branch', e)])], output: [vi('y', FLOAT)],
    });
    const g = importModel(mk(br('b', 3)));
    expect(typeof g.outputs[0]!.shape[0]).to.equal('string');
    expect(compileCpu(g).run({ c: Tensor.from('bool', [], [0]) }).y!.shape).to.deep.equal([3]);
    expect(() => importModel(mk(br('b', 3, INT64)))).to.throw(/If_y.*int64|If_y.*float32/);
  });

  describe('If folded at compile time', function () {
    const w = [10, 20];
    /** y = If(dim0(x) == 2, x + w, x - w), plus a Loop (M = 2) whose body holds If(true, z * 2, z + 1). */
    function model2(): Uint8Array {
      const br = (name: string, op: string): pb.IGraphProto => ({ name, node: [node(op, ['x', 'w'], [`${name}_y`])], output: [vi(`${name}_y`, FLOAT, [2])] });
      const body: pb.IGraphProto = {
        name: 'body',
        input: [vi('i', INT64, []), vi('c_in', BOOL, []), vi('z', FLOAT, [2])],
        node: [
          node('If', ['t'], ['z2'], [
            graphAttr('then_branch', { name: 'bt', node: [node('Mul', ['z', 'two'], ['bt_y'])], output: [vi('bt_y', FLOAT, [2])] }),
            graphAttr('else_branch', { name: 'be', node: [node('Add', ['z', 'two'], ['be_y'])], output: [vi('be_y', FLOAT, [2])] }),
          ]),
          node('Identity', ['c_in'], ['c_out']),
        ],
        initializer: [{ name: 't', dataType: BOOL, dims: [], int32Data: [1] }, constInit('two', FLOAT, [1], [2])],
        output: [vi('c_out', BOOL, []), vi('z2', FLOAT, [2])],
      };
      return model({
        name: 'fold',
        input: [vi('x', FLOAT, [2])],
        initializer: [constInit('w', FLOAT, [2], w), constInit('two_i', INT64, [], [2]), constInit('zero', INT64, [], [0]), constInit('M', INT64, [], [2])],
        node: [
          node('Shape', ['x'], ['sx']),
          node('Gather', ['sx', 'zero'], ['d0']),
          node('Equal', ['d0', 'two_i'], ['c']),
          node('If', ['c'], ['y'], [graphAttr('then_branch', br('then', 'Add')), graphAttr('else_branch', br('else', 'Sub'))]),
          node('Loop', ['M', '', 'y'], ['z_final'], [graphAttr('body', body)]),
        ],
        output: [vi('y', FLOAT, [2]), vi('z_final', FLOAT, [2])],
      });
    }

    it('an If whose condition comes from static shapes is inlined, also inside a Loop body (before/expected graphs)', function () {
      const before = importModel(model2());
      expect(before.nodes.map((n) => n.op)).to.include('If');
      const after = optimize(before, { level: 1, debug: true }).graph;
      verify(after);
      const e = new GraphBuilder();
      const ex = e.input('x', 'float32', [2]);
      const ey = e.Add([ex, e.constant(w)]);
      e.output(ey);
      const top = after.with({ nodes: after.nodes.filter((n) => n.op !== 'Loop'), outputs: [after.outputs[0]!] });
      expect(structuralForm(top)).to.equal(structuralForm(e.build()));
      const loop = after.nodes.find((n) => n.op === 'Loop')!;
      const body = loop.attrs.body as Graph;
      expect(body.nodes.map((n) => n.op)).to.not.include('If');
      expect(body.nodes.map((n) => n.op)).to.include('Mul');
      // Same results as the unoptimized graph: y = x + w; z = y * 2 * 2.
      const feeds = { x: Tensor.from('float32', [2], [1, 2]) };
      const a = compileCpu(before).run(feeds);
      const b = compileCpu(after).run(feeds);
      expect([...b.y!.data]).to.deep.equal([11, 22]).and.deep.equal([...a.y!.data]);
      expect([...b.z_final!.data]).to.deep.equal([44, 88]).and.deep.equal([...a.z_final!.data]);
    });

    it('an If with an unknown condition is left alone', function () {
      const g = importModel(model({
        name: 'keep', input: [vi('c', BOOL, []), vi('x', FLOAT, [1])],
        node: [node('If', ['c'], ['y'], [
          graphAttr('then_branch', { name: 'a', node: [node('Neg', ['x'], ['a_y'])], output: [vi('a_y', FLOAT, [1])] }),
          graphAttr('else_branch', { name: 'b', node: [node('Abs', ['x'], ['b_y'])], output: [vi('b_y', FLOAT, [1])] }),
        ])],
        output: [vi('y', FLOAT, [1])],
      }));
      expect(foldIf(g)).to.equal(g);
    });
  });
});
