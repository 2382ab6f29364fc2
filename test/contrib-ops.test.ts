/// <reference types="@webgpu/types" />
/**
 * ONNX Runtime contrib ops (domain com.microsoft; SimplifiedLayerNormalization in
 * the default domain, where ORT registers it): small ONNX models with one contrib
 * node each, seeded random inputs, several shapes (odd sizes, batch > 1) and every
 * attribute. Each model runs in onnxruntime-node (CPU provider) and in Kiln —
 * imported, on the CPU reference and on WebGPU — and the exported Kiln graph runs
 * in onnxruntime-node again (round trip). Tolerance: atol 1e-4, rtol 1e-3 (float32).
 * GroupQueryAttention runs with total_sequence_length fed and bound as a constant.
 * BiasAdd, which ORT's CPU provider lacks, is checked against its published
 * definition (X + bias + skip, docs/ContribOperators.md) computed here, on a
 * hand-worked case and on random inputs. Without a WebGPU adapter the WebGPU
 * comparisons skip with the reason printed (CI=true fails instead).
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { UnsupportedOpError, ShapeError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Tensor } from '../src/graph/tensor.js';
import '../src/graph/ops/index.js';
import { compareTensors } from '../src/harness/compare.js';
import { exportModel } from '../onnx/export.js';
import { importModel } from '../onnx/import.js';
import { onnx, type pb } from '../onnx/proto.js';
import { sharedDevice } from './helpers/gpu.js';
import { randomTensor } from './helpers/gpu-compare.js';
import { runOrt } from './onnx-util.js';

const TOL = { atol: 1e-4, rtol: 1e-3 };
const MS = 'com.microsoft';
const A = onnx.AttributeProto.AttributeType;

type AttrIn = number | { f: number };
interface Case {
  readonly op: string;
  readonly domain?: string;
  /** Input names and shapes ('' for an omitted optional input). */
  readonly inputs: readonly (readonly [string, readonly number[]] | '')[];
  /** Fixed values for some inputs (others are seeded random float32); their dtype sets the model's input type. */
  readonly values?: Readonly<Record<string, Tensor>>;
  /** Integer attributes as numbers, float attributes as { f }. */
  readonly attrs?: Readonly<Record<string, AttrIn>>;
  /** Integer-list attributes. */
  readonly ints?: Readonly<Record<string, readonly number[]>>;
  /** Output names ('' for an omitted optional output). */
  readonly outputs?: readonly string[];
  readonly what?: string;
}

function attrProto(name: string, v: AttrIn): pb.IAttributeProto {
  return typeof v === 'number' ? { name, type: A.INT, i: v } : { name, type: A.FLOAT, f: v.f };
}

/** One-node model bytes (opset 17, com.microsoft 1). */
function caseModel(c: Case): Uint8Array {
  const ins = c.inputs.map((i) => (i === '' ? '' : i[0]));
  const outs = c.outputs ?? ['y'];
  const node: pb.INodeProto = {
    name: `${c.op}_node`, opType: c.op, domain: c.domain ?? MS, input: ins, output: [...outs],
    attribute: [
      ...Object.entries(c.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
      ...Object.entries(c.ints ?? {}).map(([name, v]): pb.IAttributeProto => ({ name, type: A.INTS, ints: [...v] })),
    ],
  };
  const codes: Record<string, number> = { uint8: 2, int32: 6, int64: 7 };
  const elemType = (name: string): number => codes[c.values?.[name]?.dtype ?? ''] ?? 1;
  const vi = (name: string, dims: readonly number[]): pb.IValueInfoProto => ({ name, type: { tensorType: { elemType: elemType(name), shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const graph: pb.IGraphProto = {
    name: c.op, node: [node],
    input: c.inputs.filter((i) => i !== '').map((i) => vi(i[0], i[1])),
    output: outs.filter((o) => o !== '').map((name) => ({ name })),
  };
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }, { domain: MS, version: 1 }], graph }).finish();
}

function feedsOf(c: Case, seed: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  c.inputs.forEach((i, k) => { if (i !== '') feeds[i[0]] = c.values?.[i[0]] ?? randomTensor('float32', i[1], seed * 31 + k); });
  return feeds;
}

function expectAll(got: Record<string, Tensor>, want: Record<string, Tensor>, what: string): void {
  for (const [k, t] of Object.entries(want)) {
    expect(got[k], `${what}: output ${k}`).to.not.equal(undefined);
    const c = compareTensors(t, got[k]!, TOL);
    expect(c.pass, `${what}/${k}: max abs err ${c.maxAbsErr} ${c.detail ?? ''}`).to.equal(true);
  }
}

async function runGpu(device: GPUDevice, g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const prog = await compileWebGpu(g, { device });
  try {
    return (await prog.run(feeds)) as Record<string, Tensor>;
  } finally {
    prog.release();
  }
}

/** Compares the WebGPU run with `want`; without an adapter, says so (fails under CI=true). */
async function expectGpu(device: GPUDevice | null, g: Graph, feeds: Record<string, Tensor>, want: Record<string, Tensor>, what: string): Promise<void> {
  if (!device) {
    if (process.env.CI === 'true') throw new Error('WebGPU unavailable');
    console.log('      (WebGPU part skipped: no adapter)');
    return;
  }
  expectAll(await runGpu(device, g, feeds), want, `${what} webgpu`);
}

const x3 = (n: string, s: readonly number[]) => [n, s] as const;

/** The cases ORT's CPU provider runs. */
const ORT_CASES: readonly Case[] = [
  { op: 'Gelu', inputs: [x3('x', [2, 3, 7])] },
  { op: 'Gelu', inputs: [x3('x', [13])] },
  { op: 'FastGelu', inputs: [x3('x', [2, 5, 6]), x3('b', [6])] },
  { op: 'FastGelu', inputs: [x3('x', [3, 9])], what: 'no bias' },
  { op: 'BiasGelu', inputs: [x3('a', [2, 3, 5]), x3('b', [5])] },
  { op: 'BiasGelu', inputs: [x3('a', [7, 4]), x3('b', [4])] },
  { op: 'QuickGelu', inputs: [x3('x', [2, 3, 7])], what: 'default alpha' },
  { op: 'QuickGelu', inputs: [x3('x', [5, 3])], attrs: { alpha: { f: 0.75 } } },
  { op: 'FusedMatMul', inputs: [x3('a', [2, 3, 5]), x3('b', [2, 5, 4])] },
  { op: 'FusedMatMul', inputs: [x3('a', [2, 5, 3]), x3('b', [2, 4, 5])], attrs: { transA: 1, transB: 1, alpha: { f: 0.5 } } },
  { op: 'FusedMatMul', inputs: [x3('a', [3, 7]), x3('b', [2, 3, 7, 5])], attrs: { alpha: { f: -1.25 } }, what: 'broadcast batch' },
  { op: 'FusedMatMul', inputs: [x3('a', [3, 2, 5]), x3('b', [2, 5, 4])], attrs: { transBatchA: 1 } },
  { op: 'FusedMatMul', inputs: [x3('a', [2, 3, 5]), x3('b', [4, 2, 5])], attrs: { transBatchB: 1, transB: 1 } },
  { op: 'FusedMatMul', inputs: [x3('a', [5, 2, 3]), x3('b', [5, 2, 4])], attrs: { transBatchA: 1, transA: 1, transBatchB: 1, alpha: { f: 2 } } },
  { op: 'FusedMatMul', inputs: [x3('a', [6]), x3('b', [2, 6, 3])], what: 'rank-1 A' },
  {
    op: 'SkipLayerNormalization', inputs: [x3('x', [2, 3, 8]), x3('s', [2, 3, 8]), x3('g', [8]), x3('be', [8]), x3('bi', [8])],
    attrs: { epsilon: { f: 1e-5 } }, outputs: ['y', '', '', 'sum'],
  },
  { op: 'SkipLayerNormalization', inputs: [x3('x', [3, 5, 7]), x3('s', [5, 7]), x3('g', [7])], outputs: ['y', 'mean', 'inv'], what: 'broadcast skip, no beta/bias' },
  { op: 'SkipLayerNormalization', inputs: [x3('x', [4, 9]), x3('s', [4, 9]), x3('g', [9]), '', x3('bi', [9])], outputs: ['y', '', '', 'sum'], what: '2-D, bias only' },
  {
    op: 'SkipSimplifiedLayerNormalization', inputs: [x3('x', [2, 3, 8]), x3('s', [2, 3, 8]), x3('g', [8]), x3('bi', [8])],
    attrs: { epsilon: { f: 1e-6 } }, outputs: ['y', '', '', 'sum'],
  },
  { op: 'SkipSimplifiedLayerNormalization', inputs: [x3('x', [3, 5, 7]), x3('s', [1, 5, 7]), x3('g', [7])], outputs: ['y', 'mean', 'inv'], what: 'broadcast skip, no bias' },
  { op: 'SimplifiedLayerNormalization', domain: '', inputs: [x3('x', [2, 3, 7]), x3('g', [7])], attrs: { epsilon: { f: 1e-6 } } },
  { op: 'SimplifiedLayerNormalization', domain: '', inputs: [x3('x', [2, 3, 5]), x3('g', [3, 5])], attrs: { axis: 1, stash_type: 1 }, outputs: ['y', 'inv'] },
  ...rotaryCases(),
  ...nbitsCases(),
  ...gatherBlockCases(),
  { op: 'MultiHeadAttention', inputs: [x3('q', [2, 5, 12]), x3('k', [2, 7, 12]), x3('v', [2, 7, 6])], attrs: { num_heads: 3 }, what: 'cross attention, Hv != H' },
  {
    op: 'MultiHeadAttention', inputs: [x3('q', [2, 4, 8]), x3('k', [2, 4, 8]), x3('v', [2, 4, 8]), x3('bias', [24]), '', x3('ab', [2, 1, 4, 4])],
    attrs: { num_heads: 2, scale: { f: 0.3 } }, what: 'bias, attention_bias broadcast over heads',
  },
  {
    op: 'MultiHeadAttention', inputs: [x3('q', [2, 6, 10]), x3('k', [2, 6, 10]), x3('v', [2, 6, 10]), '', '', x3('ab', [1, 5, 6, 6])],
    attrs: { num_heads: 5, unidirectional: 1 }, what: 'unidirectional, per-head attention_bias',
  },
  { op: 'Attention', inputs: [x3('x', [2, 5, 7]), x3('w', [7, 18]), x3('bias', [18])], attrs: { num_heads: 3 } },
  { op: 'Attention', inputs: [x3('x', [1, 6, 8]), x3('w', [8, 24]), x3('bias', [24]), '', '', x3('ab', [1, 2, 6, 6])], attrs: { num_heads: 2, unidirectional: 1, scale: { f: 0.2 } } },
  { op: 'Attention', inputs: [x3('x', [3, 4, 5]), x3('w', [5, 20]), x3('bias', [20])], attrs: { num_heads: 2 }, ints: { qkv_hidden_sizes: [6, 6, 8] }, what: 'qkv_hidden_sizes, Hv != H' },
];

/** GatherBlockQuantized on uint8 data: 4 and 8 bits, with and without zero points, 1-D and 2-D indices (some negative), rank-3 data. */
function gatherBlockCases(): Case[] {
  const make = (what: string, data: readonly number[], bits: number, block: number, idx: Tensor, zp: boolean, seed: number, quantizeAxis = 1): Case => {
    const K = (data[data.length - 1]! * 8) / bits;
    const lead = data.slice(0, -1);
    const blocks = Math.ceil(K / block);
    const values: Record<string, Tensor> = {
      d: randomInts('uint8', data, 256, seed),
      i: idx,
      sc: randomTensor('float32', [...lead, blocks], seed + 1, 0.01, 0.1),
    };
    if (zp) values['zp'] = randomInts('uint8', [...lead, Math.ceil((blocks * bits) / 8)], 256, seed + 2);
    return {
      op: 'GatherBlockQuantized', what,
      inputs: [x3('d', data), x3('i', idx.shape), x3('sc', values['sc']!.shape), zp ? x3('zp', values['zp']!.shape) : ''],
      attrs: { bits, block_size: block, quantize_axis: quantizeAxis },
      values,
    };
  };
  return [
    make('4-bit, default zero point', [6, 24], 4, 16, ids([4], [0, 5, 2, 2]), false, 3),
    make('4-bit, zero points, negative index', [5, 40], 4, 32, ids([2, 3], [1, -1, 4, 0, 3, -5]), true, 7),
    make('8-bit, zero points', [4, 48], 8, 16, ids([3], [3, 0, 1]), true, 11),
    make('rank-3 data', [3, 2, 16], 4, 16, ids([2], [2, 0]), true, 15, 2),
  ];
}

/** Seeded random integers in [0, hi) as a tensor of `dtype`. */
function randomInts(dtype: 'uint8' | 'int32', shape: readonly number[], hi: number, seed: number): Tensor {
  const u = randomTensor('float32', shape, seed, 0, 1);
  return Tensor.from(dtype, shape, Array.from(u.data, (v) => Math.min(hi - 1, Math.floor(v * hi))));
}

/** MatMulNBits: 4 and 8 bits, K not a multiple of the block, packed uint8 or float zero points or none, bias, batch > 1. */
function nbitsCases(): Case[] {
  const make = (what: string, lead: readonly number[], K: number, N: number, bits: number, block: number, zp: 'none' | 'u8' | 'float', extra: { bias?: boolean } = {}, seed = 1): Case => {
    const kBlocks = Math.ceil(K / block);
    const values: Record<string, Tensor> = {
      b: randomInts('uint8', [N, kBlocks, (block * bits) / 8], 256, seed),
      sc: randomTensor('float32', [N * kBlocks], seed + 1, 0.01, 0.1),
    };
    if (zp === 'u8') values['zp'] = randomInts('uint8', [N * Math.ceil((kBlocks * bits) / 8)], 256, seed + 2);
    if (zp === 'float') values['zp'] = randomTensor('float32', [N * kBlocks], seed + 2, 0, 2 ** bits - 1);
    return {
      op: 'MatMulNBits', what,
      inputs: [x3('a', [...lead, K]), x3('b', values['b']!.shape), x3('sc', values['sc']!.shape),
        values['zp'] ? x3('zp', values['zp'].shape) : '', '', extra.bias ? x3('bias', [N]) : ''],
      attrs: { K, N, bits, block_size: block },
      values,
    };
  };
  return [
    make('4-bit, default zero point', [3], 32, 5, 4, 16, 'none'),
    make('4-bit, packed zero points, K not a block multiple, bias', [2, 3], 40, 7, 4, 16, 'u8', { bias: true }, 5),
    make('4-bit, float zero points', [1, 4], 64, 3, 4, 32, 'float', {}, 9),
    make('8-bit, packed zero points, bias', [2, 2], 48, 6, 8, 16, 'u8', { bias: true }, 13),
  ];
}

/** Position ids as int64. */
function ids(shape: readonly number[], values: readonly number[]): Tensor {
  return Tensor.from('int64', shape, values);
}

/** RotaryEmbedding: 3-D and 4-D inputs, start-position and per-token ids, half-split and interleaved, partial rotary dim. */
function rotaryCases(): Case[] {
  const caches = (maxSeq: number, half: number) => [x3('cos', [maxSeq, half]), x3('sin', [maxSeq, half])] as const;
  return [
    { op: 'RotaryEmbedding', inputs: [x3('x', [2, 5, 3, 8]), x3('p', [1]), ...caches(12, 4)], values: { p: ids([1], [3]) }, what: '4-D, start position 3' },
    { op: 'RotaryEmbedding', inputs: [x3('x', [2, 5, 3, 8]), x3('p', [1]), ...caches(12, 4)], values: { p: ids([1], [0]) }, attrs: { interleaved: 1, scale: { f: 0.5 } }, what: '4-D' },
    {
      op: 'RotaryEmbedding', inputs: [x3('x', [2, 3, 12]), x3('p', [2, 3]), ...caches(9, 2)], attrs: { num_heads: 2, rotary_embedding_dim: 4 },
      values: { p: ids([2, 3], [0, 4, 8, 1, 1, 7]) }, what: '3-D, per-token ids, partial rotary dim',
    },
    {
      op: 'RotaryEmbedding', inputs: [x3('x', [3, 2, 18]), x3('p', [3, 2]), ...caches(7, 3)], attrs: { interleaved: 1 },
      values: { p: ids([3, 2], [6, 0, 2, 3, 5, 1]) }, what: '3-D, heads from the cache width',
    },
  ];
}

const label = (c: Case): string => {
  const shapes = c.inputs.map((i) => (i === '' ? '-' : `[${i[1].join(',')}]`)).join(' ');
  const attrs = Object.entries(c.attrs ?? {}).map(([k, v]) => `${k}=${typeof v === 'number' ? v : v.f}`).join(' ');
  return `${c.op} ${shapes}${attrs ? ` ${attrs}` : ''}${c.what ? ` (${c.what})` : ''}`;
};

describe('contrib ops (com.microsoft) vs onnxruntime-node', function () {
  this.timeout(60000);
  let device: GPUDevice | null = null;
  before(async function () {
    device = await sharedDevice();
  });

  ORT_CASES.forEach((c, n) => {
    it(label(c), async function () {
      const bytes = caseModel(c);
      const feeds = feedsOf(c, n + 1);
      const want = await runOrt(bytes, feeds);
      expect(Object.keys(want).sort(), 'ORT outputs').to.deep.equal((c.outputs ?? ['y']).filter((o) => o !== '').sort());
      const g = importModel(bytes);
      expect(g.nodes.some((k) => k.op === c.op && k.domain === (c.domain ?? MS)), 'imported node keeps its domain').to.equal(true);
      expectAll(compileCpu(g).run(feeds), want, `${c.op} cpu`);
      const back = await runOrt(exportModel(g), feeds);
      expectAll(back, want, `${c.op} exported`);
      await expectGpu(device, g, feeds, want, c.op);
    });
  });

  it('FastGelu and BiasGelu reject a bias that is not the last dim', function () {
    const bad: Case = { op: 'BiasGelu', inputs: [x3('a', [2, 5]), x3('b', [4])] };
    expect(() => importModel(caseModel(bad))).to.throw(ShapeError, /BiasGelu_node/);
  });

  it('MatMulNBits with g_idx is a typed error naming the node', function () {
    const c = nbitsCases()[0]!;
    const gi = Tensor.from('int32', [32], Array.from({ length: 32 }, (_, k) => k % 2));
    const bytes = caseModel({ ...c, inputs: [...c.inputs.slice(0, 3), '', x3('gi', [32])], values: { ...c.values, gi } });
    expect(() => importModel(bytes)).to.throw(UnsupportedOpError, /MatMulNBits_node: the g_idx input is not supported/);
  });

  it('MultiHeadAttention forms outside the supported subset are typed errors naming the node', function () {
    const q = x3('q', [1, 3, 8]);
    const kv = [x3('k', [1, 5, 8]), x3('v', [1, 5, 8])];
    const cases: [Case, RegExp][] = [
      [{ op: 'MultiHeadAttention', inputs: [q, ...kv], attrs: { num_heads: 2, unidirectional: 1 } }, /MultiHeadAttention_node: unidirectional with query length 3 != key length 5/],
      [{ op: 'MultiHeadAttention', inputs: [q, ...kv, '', x3('m', [1, 5])], attrs: { num_heads: 2 }, values: { m: Tensor.from('int32', [1, 5], [1, 1, 1, 0, 0]) } }, /MultiHeadAttention_node: key_padding_mask/],
      [{ op: 'MultiHeadAttention', inputs: [x3('qkv', [1, 3, 2, 3, 4])], attrs: { num_heads: 2 } }, /MultiHeadAttention_node: packed QKV/],
    ];
    for (const [c, re] of cases) expect(() => importModel(caseModel(c)), String(re)).to.throw(UnsupportedOpError, re);
  });

  it('Attention without bias equals ORT with a zero bias (ORT CPU crashes without one)', async function () {
    const withBias: Case = { op: 'Attention', inputs: [x3('x', [2, 3, 6]), x3('w', [6, 12]), x3('bias', [12])], attrs: { num_heads: 2 }, values: { bias: Tensor.from('float32', [12], new Array(12).fill(0)) } };
    const feeds = feedsOf(withBias, 77);
    const want = await runOrt(caseModel(withBias), feeds);
    const g = importModel(caseModel({ ...withBias, inputs: withBias.inputs.slice(0, 2), values: {} }));
    const { bias: _zero, ...rest } = feeds;
    expectAll(compileCpu(g).run(rest), want, 'Attention cpu');
    await expectGpu(device, g, rest, want, 'Attention');
  });

  it('a node of an unknown domain is a typed error naming the node', function () {
    const bytes = caseModel({ op: 'Gelu', domain: 'com.example', inputs: [x3('x', [3])] });
    expect(() => importModel(bytes)).to.throw(UnsupportedOpError, /com\.example::Gelu \(Gelu_node\)/);
  });
});

/** The exact GELU, written here from its definition x/2·(1 + erf(x/√2)) with an independent erf (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7). */
function geluRef(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-z * z);
  return 0.5 * x * (1 + Math.sign(x) * erf);
}

describe('contrib BiasSplitGelu vs its published definition (ORT CPU lacks it)', function () {
  this.timeout(60000);
  let device: GPUDevice | null = null;
  before(async function () {
    device = await sharedDevice();
  });

  for (const [N, S, D] of [[1, 1, 4], [2, 3, 10], [3, 5, 6]] as const) {
    it(`BiasSplitGelu [${N},${S},${D}]: Y = (X + bias)[..., :D/2] · gelu((X + bias)[..., D/2:]) on CPU, WebGPU and after export`, async function () {
      const feeds = { x: randomTensor('float32', [N, S, D], N * 100 + D), b: randomTensor('float32', [D], N * 100 + D + 1) };
      const h = D / 2;
      const y = Array.from({ length: N * S * h }, (_, i) => {
        const row = Math.floor(i / h) * D;
        const k = i % h;
        return (feeds.x.data[row + k]! + feeds.b.data[k]!) * geluRef(feeds.x.data[row + k + h]! + feeds.b.data[k + h]!);
      });
      const want = { y: Tensor.from('float32', [N, S, h], y) };
      const g = importModel(caseModel({ op: 'BiasSplitGelu', inputs: [x3('x', [N, S, D]), x3('b', [D])] }));
      expectAll(compileCpu(g).run(feeds), want, 'BiasSplitGelu cpu');
      expectAll(compileCpu(importModel(exportModel(g))).run(feeds), want, 'BiasSplitGelu exported');
      await expectGpu(device, g, feeds, want, 'BiasSplitGelu');
    });
  }
});

describe('contrib BiasAdd vs its published definition (ORT CPU lacks it)', function () {
  this.timeout(60000);
  let device: GPUDevice | null = null;
  before(async function () {
    device = await sharedDevice();
  });

  const cases: readonly [string, Record<string, Tensor>][] = [
    ['hand-worked [1,2,3]', {
      x: Tensor.from('float32', [1, 2, 3], [1, 2, 3, 4, 5, 6]),
      b: Tensor.from('float32', [3], [0.5, -1, 2]),
      s: Tensor.from('float32', [1, 2, 3], [10, 20, 30, 40, 50, 60]),
    }],
    ['random [2,5,7]', { x: randomTensor('float32', [2, 5, 7], 11), b: randomTensor('float32', [7], 12), s: randomTensor('float32', [2, 5, 7], 13) }],
  ];
  for (const [what, feeds] of cases) {
    it(`BiasAdd ${what}: Y = X + bias + skip on CPU, WebGPU and after export`, async function () {
      const [x, b, s] = [feeds['x']!, feeds['b']!, feeds['s']!];
      const c = b.shape[0]!;
      const y = Array.from(x.data, (v, i) => v + b.data[i % c]! + s.data[i]!);
      if (what.startsWith('hand')) expect(y).to.deep.equal([11.5, 21, 35, 44.5, 54, 68]);
      const want = { y: Tensor.from('float32', x.shape, y) };
      const bytes = caseModel({ op: 'BiasAdd', inputs: [x3('x', x.shape), x3('b', b.shape), x3('s', s.shape)] });
      const g = importModel(bytes);
      expectAll(compileCpu(g).run(feeds), want, 'BiasAdd cpu');
      const round = importModel(exportModel(g));
      expect(round.nodes.map((n) => `${n.domain}::${n.op}`)).to.deep.equal([`${MS}::BiasAdd`]);
      expectAll(compileCpu(round).run(feeds), want, 'BiasAdd exported');
      await expectGpu(device, g, feeds, want, 'BiasAdd');
    });
  }
});

/** A GroupQueryAttention case: sizes, the past cache rows P (none when undefined), T = total_sequence_length, seqlens_k and the attributes. */
interface GqaCase {
  readonly what: string;
  readonly B: number;
  readonly S: number;
  readonly N: number;
  readonly Nkv: number;
  readonly H: number;
  readonly P?: number;
  readonly T: number;
  readonly seqlens: readonly number[];
  /** Rotary dim (do_rotary = 1 with cos/sin caches of `maxPos` rows). */
  readonly rotary?: number;
  readonly maxPos?: number;
  readonly packed?: boolean;
  readonly attrs?: Readonly<Record<string, AttrIn>>;
  /** Only the attention output (present_key/present_value omitted). */
  readonly outputOnly?: boolean;
}

/** The contrib-op Case of a GroupQueryAttention case: seqlens_k and total_sequence_length as int32 values, caches in [-1, 1]. */
function gqaModelCase(c: GqaCase): Case {
  const D = c.N * c.H;
  const Dkv = c.Nkv * c.H;
  const past = c.P !== undefined;
  const values: Record<string, Tensor> = {
    sl: Tensor.from('int32', [c.B], c.seqlens),
    tl: Tensor.from('int32', [], [c.T]),
  };
  if (c.rotary) {
    values['cos'] = randomTensor('float32', [c.maxPos!, c.rotary / 2], 101, -1, 1);
    values['sin'] = randomTensor('float32', [c.maxPos!, c.rotary / 2], 102, -1, 1);
  }
  const inputs: (readonly [string, readonly number[]] | '')[] = [
    x3('q', [c.B, c.S, c.packed ? D + 2 * Dkv : D]),
    c.packed ? '' : x3('k', [c.B, c.S, Dkv]), c.packed ? '' : x3('v', [c.B, c.S, Dkv]),
    past ? x3('pk', [c.B, c.Nkv, c.P!, c.H]) : '', past ? x3('pv', [c.B, c.Nkv, c.P!, c.H]) : '',
    x3('sl', [c.B]), x3('tl', []),
  ];
  if (c.rotary) inputs.push(x3('cos', [c.maxPos!, c.rotary / 2]), x3('sin', [c.maxPos!, c.rotary / 2]));
  return {
    op: 'GroupQueryAttention', inputs, values, what: c.what,
    attrs: { num_heads: c.N, kv_num_heads: c.Nkv, ...(c.rotary ? { do_rotary: 1 } : {}), ...c.attrs },
    outputs: c.outputOnly ? ['y'] : ['y', 'present_k', 'present_v'],
  };
}

/**
 * GroupQueryAttention cases ORT's CPU provider runs: prompts (no past), decode steps
 * (S = 1, past cache), batch 2 with different seqlens_k (decode, and a right-padded
 * prompt), a subsequent prompt on a cache, grouping (kv_num_heads < num_heads),
 * packed QKV, rotary (half-split, interleaved, partial dim), local window, softcap,
 * scale and smooth_softmax. ORT requires head_size % 8 = 0 (16 with rotary) and
 * cos_cache[1] a multiple of 8.
 */
const GQA_CASES: readonly GqaCase[] = [
  { what: 'prompt, grouped heads', B: 1, S: 5, N: 4, Nkv: 2, H: 8, T: 5, seqlens: [4] },
  { what: 'prompt, batch 2', B: 2, S: 4, N: 2, Nkv: 1, H: 8, T: 4, seqlens: [3, 3] },
  { what: 'prompt, batch 2 right-padded', B: 2, S: 4, N: 2, Nkv: 1, H: 8, T: 4, seqlens: [3, 1] },
  { what: 'decode step', B: 1, S: 1, N: 4, Nkv: 2, H: 8, P: 6, T: 7, seqlens: [6] },
  { what: 'decode, batch 2, different seqlens_k', B: 2, S: 1, N: 4, Nkv: 1, H: 8, P: 6, T: 7, seqlens: [6, 3] },
  { what: 'decode into a max-length cache (P > T)', B: 2, S: 1, N: 4, Nkv: 2, H: 8, P: 10, T: 7, seqlens: [6, 3] },
  { what: 'subsequent prompt on a cache', B: 1, S: 3, N: 4, Nkv: 2, H: 8, P: 4, T: 7, seqlens: [6] },
  { what: 'prompt, rotary', B: 2, S: 5, N: 4, Nkv: 2, H: 16, T: 5, seqlens: [4, 4], rotary: 16, maxPos: 12 },
  { what: 'prompt, rotary right-padded', B: 2, S: 5, N: 2, Nkv: 1, H: 16, T: 5, seqlens: [4, 2], rotary: 16, maxPos: 8 },
  { what: 'prompt, interleaved rotary, partial dim', B: 1, S: 5, N: 2, Nkv: 1, H: 32, T: 5, seqlens: [4], rotary: 16, maxPos: 12, attrs: { rotary_interleaved: 1 } },
  { what: 'decode, rotary, batch 2', B: 2, S: 1, N: 4, Nkv: 2, H: 16, P: 5, T: 6, seqlens: [5, 2], rotary: 16, maxPos: 12 },
  { what: 'prompt, local window', B: 1, S: 6, N: 2, Nkv: 2, H: 8, T: 6, seqlens: [5], attrs: { local_window_size: 2 } },
  { what: 'decode, local window', B: 1, S: 1, N: 2, Nkv: 2, H: 8, P: 7, T: 8, seqlens: [7], attrs: { local_window_size: 3 } },
  { what: 'softcap and scale', B: 1, S: 4, N: 2, Nkv: 1, H: 8, T: 4, seqlens: [3], attrs: { softcap: { f: 1.5 }, scale: { f: 0.7 } } },
  { what: 'smooth softmax', B: 1, S: 4, N: 2, Nkv: 1, H: 8, T: 4, seqlens: [3], attrs: { smooth_softmax: 1 } },
  { what: 'packed QKV prompt', B: 2, S: 3, N: 4, Nkv: 2, H: 8, T: 3, seqlens: [2, 2], packed: true },
  { what: 'packed QKV decode, rotary', B: 1, S: 1, N: 4, Nkv: 2, H: 16, P: 3, T: 4, seqlens: [3], rotary: 16, maxPos: 8, packed: true },
  {
    what: 'decode, every attribute', B: 2, S: 1, N: 6, Nkv: 2, H: 16, P: 9, T: 9, seqlens: [8, 4], rotary: 16, maxPos: 10,
    attrs: { local_window_size: 3, smooth_softmax: 1, rotary_interleaved: 1, softcap: { f: 2 } },
  },
  {
    what: 'subsequent prompt, every attribute', B: 1, S: 3, N: 6, Nkv: 3, H: 16, P: 12, T: 8, seqlens: [7], rotary: 16, maxPos: 10,
    attrs: { local_window_size: 4, smooth_softmax: 1, softcap: { f: 2 }, scale: { f: 0.3 } },
  },
  { what: 'prompt, output only', B: 2, S: 5, N: 4, Nkv: 2, H: 8, T: 5, seqlens: [4, 2], outputOnly: true },
];

describe('contrib GroupQueryAttention vs onnxruntime-node', function () {
  this.timeout(60000);
  let device: GPUDevice | null = null;
  before(async function () {
    device = await sharedDevice();
  });

  GQA_CASES.forEach((gc, n) => {
    it(`GroupQueryAttention (${gc.what}) on CPU, WebGPU and after export`, async function () {
      const c = gqaModelCase(gc);
      const bytes = caseModel(c);
      const feeds = feedsOf(c, 200 + n);
      const want = await runOrt(bytes, feeds);
      expect(Object.keys(want).sort(), 'ORT outputs').to.deep.equal([...c.outputs!].sort());
      // total_sequence_length fed at run time, and bound as a constant (its value decides the present shape).
      const g = importModel(bytes);
      expectAll(compileCpu(g).run(feeds), want, 'GroupQueryAttention cpu');
      expectAll(await runOrt(exportModel(g), feeds), want, 'GroupQueryAttention exported');
      await expectGpu(device, g, feeds, want, 'GroupQueryAttention');
      const { tl, ...rest } = feeds;
      const fixed = importModel(bytes, { constantInputs: { tl: tl! } });
      expectAll(compileCpu(fixed).run(rest), want, 'GroupQueryAttention cpu (constant total_sequence_length)');
      await expectGpu(device, fixed, rest, want, 'GroupQueryAttention (constant total_sequence_length)');
    });
  });

  it('GroupQueryAttention without present outputs still reads the past cache (ORT\'s output of the node with them)', async function () {
    const full = gqaModelCase({ ...GQA_CASES[4]!, rotary: 16, maxPos: 8, H: 16 });
    const feeds = feedsOf(full, 300);
    const want = { y: (await runOrt(caseModel(full), feeds))['y']! };
    const g = importModel(caseModel({ ...full, outputs: ['y'] }));
    expectAll(compileCpu(g).run(feeds), want, 'GroupQueryAttention cpu');
    await expectGpu(device, g, feeds, want, 'GroupQueryAttention');
  });

  it('GroupQueryAttention forms outside the supported subset are typed errors naming the node', function () {
    const base = gqaModelCase(GQA_CASES[3]!);
    const ins = base.inputs;
    const unsupportedCases: [Case, RegExp][] = [
      [{ ...base, inputs: [...ins, '', '', x3('pos', [1, 1])], values: { ...base.values, pos: Tensor.from('int64', [1, 1], [6]) } }, /GroupQueryAttention_node: the position_ids input/],
      [{ ...base, inputs: [...ins, '', '', '', x3('ab', [1, 1, 1, 7])] }, /GroupQueryAttention_node: the attention_bias input/],
      [{ ...base, outputs: ['y', 'present_k', 'present_v', 'qk'] }, /GroupQueryAttention_node: the output_qk output/],
    ];
    for (const [c, re] of unsupportedCases) expect(() => importModel(caseModel(c)), String(re)).to.throw(UnsupportedOpError, re);
    const shapeCases: [Case, RegExp][] = [
      [{ ...base, attrs: { num_heads: 4, kv_num_heads: 3 } }, /GroupQueryAttention_node: num_heads=4 must be a positive multiple of kv_num_heads=3/],
      [{ ...base, inputs: [ins[0]!, x3('k', [1, 1, 8]), ...ins.slice(2)] }, /GroupQueryAttention_node: key must be \[1, 1, 16\]/],
      [{ ...base, inputs: [...ins.slice(0, 3), x3('pk', [1, 2, 6, 4]), ...ins.slice(4)] }, /GroupQueryAttention_node: past_key/],
      [{ ...base, attrs: { ...base.attrs, do_rotary: 1 } }, /GroupQueryAttention_node: do_rotary=1 needs cos_cache and sin_cache/],
    ];
    for (const [c, re] of shapeCases) expect(() => importModel(caseModel(c)), String(re)).to.throw(ShapeError, re);
  });

  it('GroupQueryAttention rejects seqlens_k outside the cache and a multi-batch subsequent prompt, naming the node', function () {
    const decode = gqaModelCase(GQA_CASES[4]!);
    const feeds = { ...feedsOf(decode, 5), sl: Tensor.from('int32', [2], [6, 9]) };
    expect(() => compileCpu(importModel(caseModel(decode))).run(feeds)).to.throw(ShapeError, /GroupQueryAttention_node: seqlens_k\[1\] = 9 is out of range/);
    const sub = gqaModelCase({ ...GQA_CASES[6]!, B: 2, seqlens: [6, 6] });
    expect(() => importModel(caseModel(sub), { constantInputs: { tl: sub.values!['tl']! } })).to.throw(ShapeError, /GroupQueryAttention_node: a prompt after past context .* needs batch size 1, got 2/);
  });
});
