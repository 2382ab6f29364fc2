/// <reference types="@webgpu/types" />
/**
 * One execution plan (issue 17): for every shared model at O0 and O2 and a set of
 * official ONNX node tests, the bytes each executor actually allocates and the
 * dispatches it actually records equal the figures of the plan it ran — on WebGPU
 * counted on the device (storage buffers created, dispatchWorkgroups calls), on the
 * CPU the arena it allocated and the reference calls it made — and the outputs
 * still match the test data. Also: `kiln inspect` and the viewer's memory view read
 * that same plan.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { compareTensors } from '../src/harness/compare.js';
import { importModelFile } from '../onnx/import.js';
import { importForDataSet, loadModelDir } from '../src/harness/model-test.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { inspectGraph } from '../src/cli/commands/inspect.js';
import { memoryView, planForGraph } from '../src/cli/io.js';
import type { Graph, Tensor } from '../src/graph/index.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { countExecution } from './helpers/plan-check.js';
import { SHARED_MODEL_NAMES, SHARED_MODELS } from './onnx-util.js';

/** Node tests covering views, write-into Concats, scratch, prepared weights, recurrences and data-dependent shapes. */
const NODE_TESTS = [
  'test_concat_1d_axis_0', 'test_concat_3d_axis_1', 'test_split_equal_parts_1d', 'test_reshape_reordered_all_dims', 'test_flatten_axis0',
  'test_conv_with_strides_padding', 'test_gemm_default_no_bias', 'test_lstm_defaults', 'test_identity', 'test_squeeze',
  'test_unsqueeze_axis_0', 'test_softmax_axis_0', 'test_add_bcast', 'test_relu', 'test_matmul_2d', 'test_maxpool_2d_default',
  'test_averagepool_2d_default', 'test_gather_0', 'test_transpose_default', 'test_expand_dim_changed', 'test_dropout_default',
  'test_layer_normalization_2d_axis0', 'test_batchnorm_example', 'test_resize_upsample_scales_nearest',
  'test_reduce_mean_default_axes_keepdims_example', 'test_cast_FLOAT_to_FLOAT16', 'test_where_example', 'test_einsum_batch_matmul',
  'test_cumsum_1d', 'test_range_float_type_positive_delta',
];
/** CPU only: the WebGPU backend rejects data-dependent output shapes at compile time. */
const CPU_ONLY = ['test_nonzero_example'];

const DATA = process.env.KILN_ONNX_TESTDATA;

interface Case { readonly label: string; readonly graph: Graph; readonly feeds: Record<string, Tensor>; readonly expected: Tensor[] }

/** A model directory as the conformance runner imports it (shape-deciding inputs bound to the data set's values). */
function load(dir: string, level: 0 | 2): Case {
  const m = loadModelDir(dir);
  const set = m.sets[0]!;
  const { graph: g0 } = importForDataSet(m, set);
  const graph = level ? optimize(g0, { level }).graph : g0;
  const byName = new Map(m.inputNames.map((n, i) => [n, set.inputs[i]!.tensor]));
  const feeds: Record<string, Tensor> = {};
  for (const inp of graph.inputs) feeds[inp.name] = byName.get(inp.name)!;
  return { label: `${path.basename(dir)} O${level}`, graph, feeds, expected: set.outputs.map((o) => o.tensor) };
}

function checkOutputs(c: Case, out: Record<string, Tensor>, where: string): void {
  c.graph.outputs.forEach((o, i) => {
    const r = compareTensors(c.expected[i]!, out[o.name]!);
    expect(r.pass, `${c.label} ${where} ${o.name}: ${r.detail ?? ''} (max abs err ${r.maxAbsErr})`).to.equal(true);
  });
}

function cases(): { dirs: string[]; cpuOnly: string[] } {
  const need = (p: string, what: string): boolean => {
    if (existsSync(p)) return true;
    if (process.env.CI === 'true') throw new Error(`${what} missing: ${p}`);
    return false;
  };
  const dirs: string[] = [];
  const cpuOnly: string[] = [];
  if (need(SHARED_MODELS, 'shared models')) dirs.push(...SHARED_MODEL_NAMES.map((n) => path.join(SHARED_MODELS, n)));
  if (DATA && need(path.join(DATA, 'node'), 'ONNX test data')) {
    dirs.push(...NODE_TESTS.map((t) => path.join(DATA, 'node', t)));
    cpuOnly.push(...CPU_ONLY.map((t) => path.join(DATA, 'node', t)));
  } else if (process.env.CI === 'true') throw new Error('KILN_ONNX_TESTDATA is not set');
  return { dirs, cpuOnly };
}

describe('one execution plan: what runs is what the plan says', function () {
  this.timeout(600_000);
  const { dirs, cpuOnly } = cases();
  if (dirs.length === 0) console.log('    (skipping: neither ../shared/models nor KILN_ONNX_TESTDATA found)');

  it('CPU: the arena allocated and the reference calls made equal the plan, outputs match the test data', () => {
    for (const dir of [...dirs, ...cpuOnly]) {
      for (const level of [0, 2] as const) {
        const c = load(dir, level);
        const program = compileCpu(c.graph);
        const out = program.run(c.feeds);
        const plan = program.plan;
        expect(plan, `${c.label}: planned (${program.unplannedReason ?? ''})`).to.not.equal(undefined);
        expect(program.arenaBytes, `${c.label}: arena bytes`).to.equal(plan!.peakBytes);
        expect(program.lastDispatches, `${c.label}: reference calls`).to.equal(plan!.dispatchCount);
        checkOutputs(c, out, 'CPU');
      }
    }
  });

  describe('WebGPU', () => {
    let device: GPUDevice;
    before(async function () { device = await deviceOrSkip(this); });
    for (const level of [0, 2] as const) {
      it(`O${level}: the storage bytes created and the dispatches recorded equal the plan, outputs match the test data`, async () => {
        for (const dir of dirs) {
          const c = load(dir, level);
          const { program, counted } = await countExecution(device, () => compileWebGpu(c.graph, { device }), c.feeds);
          try {
            const plan = program.plan!.plan;
            expect(counted.storageBytes, `${c.label}: bytes allocated`).to.equal(plan.peakBytes);
            expect(counted.storageBuffers, `${c.label}: buffers allocated`).to.equal(plan.buffers.length);
            expect(counted.dispatches, `${c.label}: dispatches recorded`).to.equal(plan.dispatchCount);
            expect(program.dispatchCount, `${c.label}: program.dispatchCount`).to.equal(plan.dispatchCount);
            checkOutputs(c, await program.run(c.feeds) as Record<string, Tensor>, 'WebGPU');
          } finally {
            program.release();
          }
        }
      });
    }
  });

  it('kiln inspect and the memory view read the plan the WebGPU backend runs', function () {
    if (!existsSync(SHARED_MODELS)) this.skip();
    const g = optimize(importModelFile(path.join(SHARED_MODELS, 'squeezenet1_1', 'model.onnx')), { level: 2 }).graph;
    const { plan, planned } = planForGraph(g, {});
    expect(planned).to.equal(true);
    const r = inspectGraph(g, 'squeezenet1_1', 0);
    expect(r.dispatches).to.equal(plan.dispatchCount);
    expect(r.peakBytes).to.equal(plan.peakBytes);
    expect(r.peakIntermediateBytes).to.equal(plan.intermediateBytes);
    const view = memoryView(g);
    expect(view.steps).to.deep.equal(plan.steps.map((s) => s.node.name));
    expect(view.peakBytes).to.equal(plan.intermediateBytes);
    // write-into views: the Concat producers' values sit inside the Concat output's box
    expect(plan.views.size).to.be.greaterThan(0);
    for (const [v, view0] of plan.views) {
      const box = view.buffers.find((b) => b.values.includes(v))!;
      expect(box.values, `${v} shares ${view0.target}'s storage`).to.include(view0.target);
    }
  });
});
