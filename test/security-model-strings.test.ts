/// <reference types="@webgpu/types" />
/**
 * No model string reaches generated code. A model (written with onnx-proto) whose
 * graph name, node names, value and initializer names, doc strings, metadata and
 * attribute doc strings are WGSL / JS / HTML injection payloads imports, compiles for
 * WebGPU at O0 and O2, and no generated shader contains any of them; outputs equal
 * the CPU reference and onnxruntime-node. A payload in a string attribute's value is
 * rejected with a typed error instead of reaching anything.
 */
import { expect } from 'chai';
import { importModel } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { KilnError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { expectClose, randomTensor } from './helpers/gpu-compare.js';
import { runOrt } from './onnx-util.js';

const PAYLOADS = [
  '*/ @compute @workgroup_size(1) fn evil(){}',
  '</script><img src=x onerror=alert(1)>',
  '${process.exit()}',
  '"); require("child_process").exec("evilcmd"); //',
  'fn main() { loop {} } //',
  '\n@group(0) @binding(0) var<storage, read_write> pwned: array<f32>;\n',
  '`; alert(2); `',
  'x; }; @compute fn evil2() { /*',
] as const;
/** Fragments that no Kiln-generated shader could contain unless a payload leaked into it. */
const MARKERS = ['evil', 'onerror', 'process.exit', 'child_process', 'alert(', 'pwned', '<img', '</script', '${'];

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;
const [P0, P1, P2, P3, P4, P5, P6, P7] = PAYLOADS;

function vi(name: string, dims: number[]): pb.IValueInfoProto {
  return { name, docString: P7, type: { tensorType: { elemType: T.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

/** y = Transpose(Softmax(Relu(MatMul(a, b) + c) * 2)), every name and doc string a payload. */
function hostileModel(): Uint8Array {
  const c = new Float32Array([0.5, -0.25, 1, 0]);
  const two = new Float32Array([2]);
  const graph: pb.IGraphProto = {
    name: P3,
    docString: P1,
    input: [vi(P0, [2, 3]), vi(P1, [3, 4])],
    output: [vi(P7, [4, 2])],
    initializer: [
      { name: P2, dims: [4], dataType: T.FLOAT, rawData: new Uint8Array(c.buffer), docString: P0 },
      { name: `${P5}2`, dims: [], dataType: T.FLOAT, rawData: new Uint8Array(two.buffer) },
    ],
    valueInfo: [vi(P3, [2, 4])],
    node: [
      { opType: 'MatMul', input: [P0, P1], output: [P3], name: P4, docString: P2 },
      { opType: 'Add', input: [P3, P2], output: [P4], name: P5, docString: P6 },
      { opType: 'Relu', input: [P4], output: [P5], name: P6 },
      { opType: 'Mul', input: [P5, `${P5}2`], output: [P6], name: P0 },
      { opType: 'Softmax', input: [P6], output: [`${P6}s`], name: P1, attribute: [{ name: 'axis', type: A.INT, i: -1, docString: P3 }] },
      { opType: 'Transpose', input: [`${P6}s`], output: [P7], name: P2, attribute: [{ name: 'perm', type: A.INTS, ints: [1, 0], docString: P4 }] },
    ],
  };
  const m: pb.IModelProto = {
    irVersion: 8,
    producerName: P0,
    producerVersion: P1,
    domain: 'evil.example',
    docString: P2,
    metadataProps: [{ key: P3, value: P4 }],
    opsetImport: [{ domain: '', version: 17 }],
    graph,
  };
  return onnx.ModelProto.encode(m as pb.ModelProto).finish();
}

function expectNoPayload(shaders: readonly string[], what: string): void {
  expect(shaders.length, `${what}: no shaders generated`).to.be.greaterThan(0);
  for (const [k, src] of shaders.entries()) {
    for (const p of PAYLOADS) expect(src.includes(p), `${what}: shader ${k} contains payload ${JSON.stringify(p)}`).to.equal(false);
    for (const m of MARKERS) expect(src.includes(m), `${what}: shader ${k} contains ${JSON.stringify(m)}`).to.equal(false);
  }
}

describe('security: no model string reaches generated code', function () {
  const bytes = hostileModel();
  let graph: Graph;
  let feeds: Record<string, Tensor>;
  let want: Record<string, Tensor>;

  before(() => {
    graph = importModel(bytes);
    feeds = { [P0]: randomTensor('float32', [2, 3], 11), [P1]: randomTensor('float32', [3, 4], 12) };
    want = compileCpu(graph).run(feeds);
  });

  it('imports the model with its names kept for display, and the CPU result matches onnxruntime', async () => {
    expect(graph.inputs.map((i) => i.name)).to.deep.equal([P0, P1]);
    expect(graph.outputs.map((o) => o.name)).to.deep.equal([P7]);
    const ort = await runOrt(bytes, feeds);
    expectClose(want[P7]!, ort[P7]!, 1e-5, 'CPU vs onnxruntime');
  });

  for (const level of [0, 2] as const) {
    it(`compiles for WebGPU at O${level} without any model string in WGSL, and matches the CPU`, async function () {
      const device = await deviceOrSkip(this);
      const g = optimize(graph, { level }).graph;
      const program = await compileWebGpu(g, { device });
      try {
        const got = (await program.run(feeds)) as Record<string, Tensor>;
        expectNoPayload(program.shaders, `O${level}`);
        expectClose(got[P7]!, want[P7]!, 1e-5, `WebGPU O${level} vs CPU`);
      } finally {
        program.release();
      }
    });
  }

  it('rejects a payload in a string attribute value with a typed error', () => {
    const m = onnx.ModelProto.decode(bytes);
    const pad: pb.INodeProto = {
      opType: 'Pad', input: [P7, 'pads'], output: ['padded'], name: 'pad',
      attribute: [{ name: 'mode', type: A.STRING, s: new TextEncoder().encode(P0) }],
    };
    m.graph!.node = [...(m.graph!.node ?? []), pad];
    m.graph!.initializer = [...(m.graph!.initializer ?? []), { name: 'pads', dims: [4], dataType: T.INT64, int64Data: [0, 0, 1, 1] }];
    m.graph!.output = [{ name: 'padded' }];
    expect(() => importModel(onnx.ModelProto.encode(m).finish())).to.throw(KilnError);
  });
});
