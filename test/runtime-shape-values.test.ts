/// <reference types="@webgpu/types" />
/**
 * Values that decide shapes computed at run time from data, and Scan-8 with
 * `sequence_lens`, against onnxruntime-node (tolerance 1e-5; float32 on both):
 *
 * - Squeeze, Unsqueeze and ReduceSum (keepdims 0) whose axes come from an ArgMax
 *   over a large float tensor (an output rank known from the axes' count, dims
 *   decided by their values), and a Reshape whose shape comes from a reduction: on the CPU
 *   reference, the wasm backend and WebGPU, at O0 and O2, for two sets of axes
 *   values (two plans). On WebGPU the schedule reads back only the shape-deciding
 *   values: one readback each per run, none when they are fed from the host.
 * - Scan in its opset-8 form with sequence_lens (a reversed and a forward scan
 *   input, per-element lengths 2, 4, 1 of 4): the final states after each
 *   element's length, its scan outputs zero past it.
 */
import { expect } from 'chai';
import { onnx, type pb } from '../onnx/proto.js';
import { importModel } from '../onnx/import.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWasm } from '../src/backends/wasm/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import type { Graph } from '../src/graph/graph.js';
import { DynamicRankError } from '../src/graph/errors.js';
import { Tensor } from '../src/graph/tensor.js';
import { InferenceSession } from '../src/session/inference-session.js';
import { optimize } from '../src/passes/index.js';
import { expectNear } from './helpers/gpu-compare.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { A, constInit, FLOAT, graphAttr, INT64, model, node, vi } from './helpers/onnx-model.js';
import { runOrt } from './onnx-util.js';

/**
 * x [4, 3, 8] and w [1, 4, 1, 24] with axes picked by p [100]: Unsqueeze(x, ArgMax(p) mod 4),
 * Squeeze(w, (ArgMax(p) mod 2) · 2), Reshape(x, [ReduceMax(q) cast to int64, -1]) for q [100],
 * ReduceSum(x, (ArgMax(p) mod 4) mod 3) without keepdims.
 */
function shapesFromData(): Uint8Array {
  const keep = { name: 'keepdims', type: A.INT, i: 1 };
  return model({
    name: 'shapes_from_data',
    input: [vi('x', FLOAT, [4, 3, 8]), vi('w', FLOAT, [1, 4, 1, 24]), vi('p', FLOAT, [100]), vi('q', FLOAT, [100])],
    initializer: [constInit('four', INT64, [1], [4]), constInit('two', INT64, [1], [2]), constInit('three', INT64, [1], [3]), constInit('minus1', INT64, [1], [-1])],
    node: [
      node('ArgMax', ['p'], ['am'], [keep]),
      node('Mod', ['am', 'four'], ['ax']),
      node('Unsqueeze', ['x', 'ax'], ['xu']),
      node('Relu', ['xu'], ['y']),
      node('Mod', ['am', 'two'], ['am2']),
      node('Mul', ['am2', 'two'], ['ax2']),
      node('Squeeze', ['w', 'ax2'], ['ws']),
      node('Neg', ['ws'], ['v']),
      node('ReduceMax', ['q'], ['qm'], [keep]),
      node('Cast', ['qm'], ['rows'], [{ name: 'to', type: A.INT, i: INT64 }]),
      node('Concat', ['rows', 'minus1'], ['shape'], [{ name: 'axis', type: A.INT, i: 0 }]),
      node('Reshape', ['x', 'shape'], ['xr']),
      node('Sigmoid', ['xr'], ['r']),
      node('Mod', ['ax', 'three'], ['ax3']),
      node('ReduceSum', ['x', 'ax3'], ['rs'], [{ name: 'keepdims', type: A.INT, i: 0 }]),
    ],
    output: [vi('y', FLOAT), vi('v', FLOAT), vi('r', FLOAT), vi('rs', FLOAT)],
  });
}

/** Feeds whose ArgMax(p) is `at` and whose ReduceMax(q) is `rows`. */
function feeds(at: number, rows: number): Record<string, Tensor> {
  const r = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + seed));
  return {
    x: Tensor.from('float32', [4, 3, 8], r(96, 1)),
    w: Tensor.from('float32', [1, 4, 1, 24], r(96, 2)),
    p: Tensor.from('float32', [100], Array.from({ length: 100 }, (_, i) => (i === at ? 5 : Math.sin(i)))),
    q: Tensor.from('float32', [100], Array.from({ length: 100 }, (_, i) => (i === 7 ? rows : 0.5))),
  };
}

/** Scan-8 over a batch of 3 with sequence_lens: state s += 2·x − z (x reversed), scan outputs s and z·x. */
function scan8WithLens(): Uint8Array {
  const body: pb.IGraphProto = {
    name: 'sb',
    input: [vi('s_in', FLOAT, [2]), vi('x_t', FLOAT, [2]), vi('z_t', FLOAT, [2])],
    node: [node('Mul', ['x_t', 'k'], ['xk']), node('Add', ['s_in', 'xk'], ['s1']), node('Sub', ['s1', 'z_t'], ['s_out']), node('Identity', ['s_out'], ['s_scan']), node('Mul', ['z_t', 'x_t'], ['p_scan'])],
    output: [vi('s_out', FLOAT, [2]), vi('s_scan', FLOAT, [2]), vi('p_scan', FLOAT, [2])],
  };
  return onnx.ModelProto.encode({
    irVersion: 3,
    opsetImport: [{ domain: '', version: 8 }],
    graph: {
      name: 'scan8_lens',
      input: [vi('s0', FLOAT, [3, 2]), vi('x', FLOAT, [3, 4, 2]), vi('z', FLOAT, [3, 4, 2]), vi('k', FLOAT, [1]), vi('lens', INT64, [3])],
      node: [{ ...node('Scan', ['lens', 's0', 'x', 'z'], ['s', 'ss', 'ps'], [graphAttr('body', body), { name: 'num_scan_inputs', type: A.INT, i: 2 }, { name: 'directions', type: A.INTS, ints: [1, 0] }]), name: 'scan_8' }],
      output: [vi('s', FLOAT, [3, 2]), vi('ss', FLOAT, [3, 4, 2]), vi('ps', FLOAT, [3, 4, 2])],
    },
  }).finish();
}

function scanFeeds(lens: number[]): Record<string, Tensor> {
  const r = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.round(Math.sin(i * 1.7 + seed) * 10) / 2);
  return { s0: Tensor.from('float32', [3, 2], r(6, 1)), x: Tensor.from('float32', [3, 4, 2], r(24, 2)), z: Tensor.from('float32', [3, 4, 2], r(24, 3)), k: Tensor.from('float32', [1], [2]), lens: Tensor.from('int64', [3], lens) };
}

function same(got: Record<string, Tensor>, want: Record<string, Tensor>, what: string): void {
  expect(Object.keys(got).sort(), what).to.deep.equal(Object.keys(want).sort());
  for (const [k, t] of Object.entries(want)) expectNear(got[k]!, t, 1e-5, 1e-5, `${what} ${k}`);
}

const levels = (g: Graph): [string, Graph][] => [['O0', g], ['O2', optimize(g, { level: 2 }).graph]];

describe('shape-deciding values computed at run time (Squeeze, Unsqueeze and ReduceSum axes, a Reshape shape) and Scan-8 sequence_lens', function () {
  this.timeout(120_000);
  const cases = [feeds(6, 2), feeds(33, 6)]; // Unsqueeze axes 2 and 1, Squeeze axes 0 and 2, Reshape rows 2 and 6, ReduceSum axes 2 and 1

  it('import types the outputs: Unsqueeze rank 4 with open dims, Squeeze [fresh, fresh, 24], Reshape [fresh, fresh], ReduceSum rank 2', function () {
    const g = importModel(shapesFromData());
    expect(g.outputs.map((o) => o.shape.length)).to.deep.equal([4, 3, 2, 2]);
    expect(g.outputs[1]!.shape[2]).to.equal(24);
  });

  it('CPU reference and wasm equal onnxruntime-node, at O0 and O2, for two sets of axes values', async function () {
    const bytes = shapesFromData();
    const g = importModel(bytes);
    for (const f of cases) {
      const want = await runOrt(bytes, f);
      expect(want.y!.shape.length).to.equal(4);
      for (const [lvl, graph] of levels(g)) {
        same(compileCpu(graph).run(f), want, `cpu ${lvl}`);
        same(compileWasm(graph).run(f), want, `wasm ${lvl}`);
      }
    }
    expect((await runOrt(bytes, cases[0]!)).y!.shape).to.deep.equal([4, 3, 1, 8]);
    expect((await runOrt(bytes, cases[0]!)).v!.shape).to.deep.equal([4, 1, 24]);
    expect((await runOrt(bytes, cases[1]!)).v!.shape).to.deep.equal([1, 4, 24]);
  });

  it('WebGPU equals onnxruntime-node, reading back only the three shape-deciding values the GPU computed per run (runs: two value sets, then the first again)', async function () {
    const device = await deviceOrSkip(this);
    const bytes = shapesFromData();
    for (const [lvl, graph] of levels(importModel(bytes))) {
      const prog = await compileWebGpu(graph, { device });
      for (const f of [...cases, cases[0]!]) {
        same(await prog.run(f), await runOrt(bytes, f), `webgpu ${lvl}`);
        const s = prog.controlStats!;
        // The axes of the Unsqueeze and the Squeeze, and the Reshape's shape (ArgMax/ReduceMax of a 100-element tensor
        // run on the GPU); the ReduceSum's axes are then computed from the Unsqueeze's on the host (a host step).
        expect(s.readbacks, `${lvl} readbacks ${JSON.stringify(s)}`).to.equal(3);
        expect(s.hostNodes, `${lvl} host nodes`).to.be.at.least(1);
      }
      prog.release();
    }
  });

  it('WebGPU: axes fed from the host need no readback', async function () {
    const device = await deviceOrSkip(this);
    const bytes = model({
      name: 'fed_axes',
      input: [vi('x', FLOAT, [4, 3, 8]), vi('ax', INT64, [1])],
      node: [node('Unsqueeze', ['x', 'ax'], ['xu']), node('Relu', ['xu'], ['y'])],
      output: [vi('y', FLOAT)],
    });
    const prog = await compileWebGpu(importModel(bytes), { device });
    for (const a of [0, 3, -1]) {
      const f = { x: feeds(0, 1).x!, ax: Tensor.from('int64', [1], [a]) };
      same(await prog.run(f), await runOrt(bytes, f), `axes ${a}`);
      expect(prog.controlStats?.readbacks ?? 0).to.equal(0);
    }
    prog.release();
  });

  it('axes of unknown length (a DynamicRankError at import): a session types the model per axes length, on CPU and WebGPU', async function () {
    const device = await deviceOrSkip(this);
    const bytes = model({
      name: 'axes_of_any_length',
      input: [vi('x', FLOAT, [4, 3, 8]), { name: 'ax', type: { tensorType: { elemType: INT64, shape: { dim: [{ dimParam: 'k' }] } } } }],
      node: [node('Unsqueeze', ['x', 'ax'], ['xu']), node('Relu', ['xu'], ['y'])],
      output: [vi('y', FLOAT)],
    });
    expect(() => importModel(bytes)).to.throw(DynamicRankError, /axes of unknown length k/);
    const cpu = await InferenceSession.create(bytes, { backend: 'cpu' });
    const gpu = await InferenceSession.create(bytes, { backend: 'webgpu', device });
    for (const axes of [[0, 4], [1], [-1, 0, 2]]) {
      const f = { x: feeds(0, 1).x!, ax: Tensor.from('int64', [axes.length], axes) };
      const want = await runOrt(bytes, f);
      expect(want.y!.shape.length).to.equal(3 + axes.length);
      same(await cpu.run(f), want, `cpu axes ${axes.join()}`);
      same(await gpu.run(f), want, `webgpu axes ${axes.join()}`);
    }
    cpu.release();
    gpu.release();
  });

  it('Scan-8 with sequence_lens equals onnxruntime-node on CPU, wasm and WebGPU (O0, O2)', async function () {
    const bytes = scan8WithLens();
    const g = importModel(bytes);
    const device = await deviceOrSkip(this);
    for (const lens of [[2, 4, 1], [4, 4, 4]]) {
      const f = scanFeeds(lens);
      const want = await runOrt(bytes, f);
      for (const [lvl, graph] of levels(g)) {
        same(compileCpu(graph).run(f), want, `cpu ${lvl} lens ${lens.join()}`);
        same(compileWasm(graph).run(f), want, `wasm ${lvl} lens ${lens.join()}`);
        const prog = await compileWebGpu(graph, { device });
        same(await prog.run(f), want, `webgpu ${lvl} lens ${lens.join()}`);
        prog.release();
      }
    }
    // Element 0 (length 2): its scan outputs are zero past step 2.
    const out = compileCpu(g).run(scanFeeds([2, 4, 1]));
    expect([...out.ss!.data.slice(4, 8)]).to.deep.equal([0, 0, 0, 0]);
  });
});
