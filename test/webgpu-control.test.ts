/// <reference types="@webgpu/types" />
/**
 * Control flow (If, Loop, Scan) on WebGPU, against the CPU reference: nested
 * bodies with captures, a loop-carried value that grows per iteration, Scan with
 * reversed and non-leading axes, and what a run costs — dispatches, submits and
 * readbacks per Loop iteration (printed), no readback for a condition known on the
 * host, one per iteration for a condition computed on the GPU, and no GPU buffer
 * left behind by a run. Tolerance: float32 results equal the CPU's to 1e-5.
 */
import { expect } from 'chai';
import { expectNear } from './helpers/gpu-compare.js';
import { importModel } from '../onnx/import.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu, GpuTensor } from '../src/backends/webgpu/index.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { A, BOOL, constInit, FLOAT, graphAttr, INT64, model, nestedModel, node, vi } from './helpers/onnx-model.js';
import { deviceOrSkip } from './helpers/gpu.js';


/** Runs `g` on WebGPU and on the CPU reference and compares every output. */
async function sameAsCpu(device: GPUDevice, g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const prog = await compileWebGpu(g, { device });
  const got = await prog.run(feeds);
  const want = compileCpu(g).run(feeds);
  for (const o of g.outputs) expectNear(got[o.name]!, want[o.name]!, 1e-5, 1e-5, o.name);
  return got;
}

/** Loop over x: [n] float, x = x * 0.5 + 1 for M iterations; cond from the body (`gpuCond`: ReduceSum(x) < limit) or passed through. */
function loopModel(n: number, gpuCond: boolean): Graph {
  const body = {
    name: 'body',
    input: [vi('i', INT64, []), vi('c_in', BOOL, []), vi('x_in', FLOAT, [n])],
    node: [
      node('Mul', ['x_in', 'half'], ['xh']),
      node('Add', ['xh', 'one'], ['x_out']),
      ...(gpuCond ? [node('ReduceSum', ['x_out'], ['s'], [{ name: 'keepdims', type: A.INT, i: 0 }]), node('Less', ['s', 'limit'], ['c_out'])] : [node('Identity', ['c_in'], ['c_out'])]),
    ],
    initializer: [constInit('half', FLOAT, [1], [0.5]), constInit('one', FLOAT, [1], [1]), constInit('limit', FLOAT, [], [1.9 * n])],
    output: [vi('c_out', BOOL, []), vi('x_out', FLOAT, [n])],
  };
  return importModel(model({
    name: 'loop',
    input: [vi('M', INT64, []), vi('x0', FLOAT, [n])],
    node: [node('Loop', ['M', '', 'x0'], ['x'], [graphAttr('body', body)])],
    output: [vi('x', FLOAT, [n])],
  }));
}

/** Counts GPU buffers created and not yet destroyed on `device` while `f` runs. */
async function liveBuffersAfter(device: GPUDevice, f: () => Promise<unknown>): Promise<number> {
  const create = device.createBuffer.bind(device);
  let live = 0;
  device.createBuffer = (d: GPUBufferDescriptor): GPUBuffer => {
    const b = create(d);
    live++;
    const destroy = b.destroy.bind(b);
    let done = false;
    b.destroy = () => {
      if (!done) live--;
      done = true;
      destroy();
    };
    return b;
  };
  try {
    await f();
  } finally {
    device.createBuffer = create;
  }
  return live;
}

describe('webgpu control flow (If, Loop, Scan) vs CPU reference', function () {
  this.timeout(120_000);
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });

  it('nested: an If inside a Loop body reads an outer value two scopes out (at O0 and O2)', async function () {
    const g = importModel(nestedModel());
    const feeds = { x0: Tensor.from('float32', [1], [1]), w: Tensor.from('float32', [1], [10]) };
    const out = await sameAsCpu(device, g, feeds);
    expect([...out.xs!.data]).to.deep.equal([2, 4, 14, 24]);
    await sameAsCpu(device, optimize(g, { level: 2 }).graph, feeds);
  });

  it('If on a host-fed condition costs no readback; on a GPU-computed one, one readback', async function () {
    const mk = (condFromData: boolean): Graph => importModel(model({
      name: 'if',
      input: [vi('x', FLOAT, [1000]), ...(condFromData ? [] : [vi('c', BOOL, [])])],
      initializer: [constInit('zero', FLOAT, [], [0])],
      node: [
        ...(condFromData ? [node('ReduceSum', ['x'], ['s'], [{ name: 'keepdims', type: A.INT, i: 0 }]), node('Greater', ['s', 'zero'], ['c'])] : []),
        node('If', ['c'], ['y'], [
          graphAttr('then_branch', { name: 't', node: [node('Neg', ['x'], ['t_y'])], output: [vi('t_y', FLOAT, [1000])] }),
          graphAttr('else_branch', { name: 'e', node: [node('Abs', ['x'], ['e_y'])], output: [vi('e_y', FLOAT, [1000])] }),
        ]),
      ],
      output: [vi('y', FLOAT, [1000])],
    }));
    const x = Tensor.from('float32', [1000], Array.from({ length: 1000 }, (_, i) => Math.sin(i) + 0.1));
    for (const c of [0, 1]) {
      const g = mk(false);
      const prog = await compileWebGpu(g, { device });
      const feeds = { x, c: Tensor.from('bool', [], [c]) };
      expectNear((await prog.run(feeds)).y!, compileCpu(g).run(feeds).y!, 1e-5, 1e-5, `y (c=${c})`);
      expect(prog.controlStats!.readbacks).to.equal(0);
    }
    const g = mk(true);
    const prog = await compileWebGpu(g, { device });
    expectNear((await prog.run({ x })).y!, compileCpu(g).run({ x }).y!, 1e-5, 1e-5, 'y');
    expect(prog.controlStats!.readbacks).to.equal(1);
  });

  it('a 100-iteration Loop: one submit per iteration, no readback when the condition is known on the host, and no buffer left behind', async function () {
    const g = loopModel(4096, false);
    const prog = await compileWebGpu(g, { device });
    const feeds = { M: Tensor.from('int64', [], [100]), x0: Tensor.from('float32', [4096], Array.from({ length: 4096 }, (_, i) => i / 64)) };
    expectNear((await prog.run(feeds)).x!, compileCpu(g).run(feeds).x!, 1e-5, 1e-5, 'x');
    const live = await liveBuffersAfter(device, () => prog.run(feeds));
    const s = prog.controlStats!;
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      await prog.run(feeds);
      times.push(performance.now() - t0);
    }
    const median = times.sort((a, b) => a - b)[2]!;
    const o2 = await compileWebGpu(optimize(g, { level: 2 }).graph, { device });
    expectNear((await o2.run(feeds)).x!, compileCpu(g).run(feeds).x!, 1e-5, 1e-5, 'x at O2');
    console.log(
      `      100-iteration Loop on WebGPU: per iteration ${s.dispatches / s.iterations} dispatches (${o2.controlStats!.dispatches / o2.controlStats!.iterations} at O2), ` +
        `${s.submits / s.iterations} submits, ${s.readbacks / s.iterations} readbacks, ${((median / 100) * 1000).toFixed(0)} µs (median of 5 runs); ${live} buffers left by a run`,
    );
    expect(s.iterations).to.equal(100);
    expect(s.readbacks).to.equal(0);
    expect(s.submits).to.equal(100);
    expect(s.dispatches).to.be.within(100, 200);
    expect(live).to.equal(0);
  });

  it('a Loop whose body computes its condition on the GPU reads it back once per iteration and stops when it turns false', async function () {
    const g = loopModel(256, true);
    const prog = await compileWebGpu(g, { device });
    const feeds = { M: Tensor.from('int64', [], [1000]), x0: Tensor.from('float32', [256], Array(256).fill(0)) };
    expectNear((await prog.run(feeds)).x!, compileCpu(g).run(feeds).x!, 1e-5, 1e-5, 'x');
    const s = prog.controlStats!;
    // x_k = 2 - 2^(1-k) per element: the sum stays under 1.9 n until x > 1.9, at k = 5.
    expect(s.iterations).to.equal(5);
    expect(s.readbacks).to.equal(5);
  });

  it('a loop-carried value that grows each iteration (Concat), planned per shape, with scan outputs stacked', async function () {
    const body = {
      name: 'grow',
      input: [vi('i', INT64, []), vi('c_in', BOOL, []), vi('y_in', FLOAT)],
      node: [
        node('Add', ['y_in', 'one'], ['y1']),
        node('Concat', ['y_in', 'y1'], ['y_out'], [{ name: 'axis', type: A.INT, i: 0 }]),
        node('Identity', ['c_in'], ['c_out']),
        node('ReduceSum', ['y_out'], ['total'], [{ name: 'keepdims', type: A.INT, i: 1 }]),
        node('Cast', ['i'], ['i_f'], [{ name: 'to', type: A.INT, i: FLOAT }]),
        node('Unsqueeze', ['i_f', 'ax0'], ['i_1']),
        node('Concat', ['total', 'i_1'], ['scan'], [{ name: 'axis', type: A.INT, i: 0 }]),
      ],
      initializer: [constInit('one', FLOAT, [1], [1]), constInit('ax0', INT64, [1], [0])],
      output: [vi('c_out', BOOL, []), vi('y_out', FLOAT), vi('scan', FLOAT, [2])],
    };
    const g = importModel(model({
      name: 'growing',
      input: [vi('y0', FLOAT, [1]), vi('M', INT64, [])],
      node: [node('Loop', ['M', '', 'y0'], ['y', 'scans'], [graphAttr('body', body)])],
      output: [vi('y', FLOAT), vi('scans', FLOAT)],
    }));
    for (const m of [3, 0, 5]) {
      const out = await sameAsCpu(device, g, { y0: Tensor.from('float32', [1], [0.5]), M: Tensor.from('int64', [], [m]) });
      expect(out.y!.shape).to.deep.equal([2 ** m]);
      expect(out.scans!.shape).to.deep.equal([m, 2]);
    }
  });

  it('Scan over axis 1 with a reversed input, a capture, a reversed output stacked along axis 1', async function () {
    const body = {
      name: 'sb',
      input: [vi('s_in', FLOAT, [3]), vi('x_t', FLOAT, [3]), vi('u_t', FLOAT, [3])],
      node: [node('Mul', ['x_t', 'k'], ['xk']), node('Add', ['s_in', 'xk'], ['s1']), node('Sub', ['s1', 'u_t'], ['s_out']), node('Identity', ['s_out'], ['s_scan'])],
      output: [vi('s_out', FLOAT, [3]), vi('s_scan', FLOAT, [3])],
    };
    const g = importModel(model({
      name: 'scan',
      input: [vi('s0', FLOAT, [3]), vi('x', FLOAT, [3, 4]), vi('u', FLOAT, [4, 3]), vi('k', FLOAT, [1])],
      node: [node('Scan', ['s0', 'x', 'u'], ['s', 'ss'], [
        graphAttr('body', body),
        { name: 'num_scan_inputs', type: A.INT, i: 2 },
        { name: 'scan_input_axes', type: A.INTS, ints: [1, 0] },
        { name: 'scan_input_directions', type: A.INTS, ints: [1, 0] },
        { name: 'scan_output_axes', type: A.INTS, ints: [1] },
        { name: 'scan_output_directions', type: A.INTS, ints: [1] },
      ])],
      output: [vi('s', FLOAT, [3]), vi('ss', FLOAT, [3, 4])],
    }));
    const r = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
    const out = await sameAsCpu(device, g, {
      s0: Tensor.from('float32', [3], [1, 2, 3]),
      x: Tensor.from('float32', [3, 4], r(12, (i) => i * 0.25)),
      u: Tensor.from('float32', [4, 3], r(12, (i) => Math.cos(i))),
      k: Tensor.from('float32', [1], [3]),
    });
    expect(out.ss!.shape).to.deep.equal([3, 4]);
  });

  it('outputs stay on the GPU when asked, and feeds may be GPU tensors', async function () {
    const g = importModel(nestedModel());
    const prog = await compileWebGpu(g, { device });
    const x0 = GpuTensor.upload(device, Tensor.from('float32', [1], [1]));
    const out = await prog.run({ x0, w: Tensor.from('float32', [1], [10]) }, { outputsOnGpu: true });
    expect(out.xs).to.be.instanceOf(GpuTensor);
    expect([...(await out.xs!.download()).data]).to.deep.equal([2, 4, 14, 24]);
    for (const t of [x0, out.xs!, out.x_final!]) t.destroy();
  });

  it('a data-dependent op inside a body (NonZero of a GPU-computed value) runs on the host each iteration, equal to the CPU', async function () {
    const body = {
      name: 'b',
      input: [vi('i', INT64, []), vi('c_in', BOOL, []), vi('x_in', FLOAT, [4])],
      node: [node('Sub', ['x_in', 'one'], ['x_out']), node('NonZero', ['x_out'], ['nz']), node('Identity', ['c_in'], ['c_out'])],
      initializer: [constInit('one', FLOAT, [1], [1])],
      output: [vi('c_out', BOOL, []), vi('x_out', FLOAT, [4]), vi('nz', INT64)],
    };
    const g = importModel(model({
      name: 'nonzero-in-loop', input: [vi('M', INT64, []), vi('x0', FLOAT, [4])],
      node: [node('Loop', ['M', '', 'x0'], ['x', 'nzs'], [graphAttr('body', body)])], output: [vi('x', FLOAT, [4]), vi('nzs', INT64)],
    }));
    // x0 = [1, 2, 3, 5]: iteration 0 leaves [0, 1, 2, 4] (3 non-zeros), 1 → [-1, 0, 1, 3] (3), 2 → [-2, -1, 0, 2] (3).
    const got = await sameAsCpu(device, g, { M: Tensor.from('int64', [], [3]), x0: Tensor.from('float32', [4], [1, 2, 3, 5]) });
    expect(got.nzs!.shape).to.deep.equal([3, 1, 3]);
    expect([...got.nzs!.data].map(Number)).to.deep.equal([1, 2, 3, 0, 2, 3, 0, 1, 3]);
  });
});
