/**
 * The wasm backend's direct kernels (window.ts: depthwise Conv, MaxPool, AveragePool;
 * rows.ts: Softmax, LayerNormalization, GlobalAveragePool, last-axis ReduceSum/Mean)
 * against the CPU reference on seeded random shapes and attribute variants (pads,
 * strides, dilations, ceil_mode, count_include_pad). Each case checks that the node
 * ran in wasm (not on the reference) and |wasm − cpu| ≤ 1e-5 + 1e-5·|cpu|
 * (float32 sums in another order; Softmax's exp within ~2 ulp). The Fused 'attention'
 * kernel (attention.ts) is checked the same way against the unfused graph.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWasm } from '../src/backends/wasm/index.js';
import { GraphBuilder, type Sym } from '../src/graph/builder.js';
import { ExecutionError } from '../src/graph/errors.js';
import { Rng } from '../src/graph/random.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/pipelines.js';
import { wasmMatchesCpu } from './helpers/wasm-compare.js';

const rng = new Rng(18);
const rand = (shape: number[]): Tensor => new Tensor('float32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-2, 2)));
const int = (lo: number, hi: number): number => lo + Math.floor(rng.uniform(0, 1) * (hi - lo + 1));

/** Builds `op` over a fed x (and constants), runs it on wasm and cpu, and checks that `op` ran in wasm and the outputs agree. */
function check(label: string, xShape: number[], build: (b: GraphBuilder, x: Sym) => Sym, op: string): void {
  const b = new GraphBuilder(label);
  const x = b.input('x', 'float32', xShape);
  b.output(build(b, x), 'y');
  const g = b.build();
  const feeds = { x: rand(xShape) };
  wasmMatchesCpu(label, g, feeds, op);
}

describe('wasm direct kernels vs CPU reference', () => {
  describe('depthwise Conv', () => {
    const variants = [
      { k: 3, s: 1, d: 1, p: [1, 1, 1, 1] }, { k: 3, s: 2, d: 1, p: [1, 1, 1, 1] }, { k: 3, s: 2, d: 1, p: [0, 1, 0, 1] },
      { k: 3, s: 1, d: 2, p: [2, 2, 2, 2] }, { k: 5, s: 1, d: 1, p: [2, 1, 0, 2] }, { k: 1, s: 1, d: 1, p: [0, 0, 0, 0] },
      { k: 3, s: 1, d: 1, p: [0, 0, 0, 0] }, { k: 2, s: 3, d: 1, p: [1, 0, 1, 0] },
    ];
    variants.forEach((v, i) => {
      for (const bias of [true, false]) {
        const n = int(1, 2), c = int(2, 7), h = int(v.k * v.d + 1, 13), w = int(v.k * v.d + 1, 19);
        it(`k${v.k} s${v.s} d${v.d} pads [${v.p}] ${bias ? 'bias' : 'no bias'} on [${n},${c},${h},${w}]`, () => {
          check(`dw${i}`, [n, c, h, w], (b, x) => b.Conv([x, b.constant(rand([c, 1, v.k, v.k])), ...(bias ? [b.constant(rand([c]))] : [])],
            { group: c, strides: [v.s, v.s], dilations: [v.d, v.d], pads: v.p }), 'Conv');
        });
      }
    });
    it('SAME_UPPER, rectangular kernel and strides', () => {
      check('dw-same', [1, 4, 9, 11], (b, x) => b.Conv([x, b.constant(rand([4, 1, 3, 2]))], { group: 4, strides: [2, 1], auto_pad: 'SAME_UPPER' }), 'Conv');
    });
  });

  describe('MaxPool / AveragePool', () => {
    const variants = [
      { k: [2, 2], s: [2, 2], p: [0, 0, 0, 0], ceil: 0 }, { k: [3, 3], s: [2, 2], p: [0, 0, 0, 0], ceil: 1 },
      { k: [3, 3], s: [1, 1], p: [1, 1, 1, 1], ceil: 0 }, { k: [3, 2], s: [2, 1], p: [1, 0, 0, 1], ceil: 1 },
      { k: [3, 3], s: [1, 1], p: [0, 0, 0, 0], ceil: 0, d: [2, 2] }, { k: [5, 5], s: [3, 3], p: [2, 2, 2, 2], ceil: 1 },
    ];
    variants.forEach((v, i) => {
      const n = int(1, 2), c = int(1, 5), h = int(7, 15), w = int(7, 21);
      const attrs = { kernel_shape: v.k, strides: v.s, pads: v.p, ceil_mode: v.ceil, ...(v.d ? { dilations: v.d } : {}) };
      it(`MaxPool k[${v.k}] s[${v.s}] pads [${v.p}] ceil ${v.ceil}${v.d ? ` d[${v.d}]` : ''} on [${n},${c},${h},${w}]`, () => {
        check(`max${i}`, [n, c, h, w], (b, x) => b.MaxPool([x], attrs), 'MaxPool');
      });
      if (v.d) return;
      for (const cip of [0, 1]) {
        it(`AveragePool k[${v.k}] s[${v.s}] pads [${v.p}] ceil ${v.ceil} count_include_pad ${cip} on [${n},${c},${h},${w}]`, () => {
          check(`avg${i}${cip}`, [n, c, h, w], (b, x) => b.AveragePool([x], { ...attrs, count_include_pad: cip }), 'AveragePool');
        });
      }
    });
    for (const shape of [[1, 5, 7, 7], [2, 3, 1, 1], [1, 2, 13, 3]]) {
      it(`GlobalAveragePool on [${shape}]`, () => check('gap', shape, (b, x) => b.GlobalAveragePool([x]), 'GlobalAveragePool'));
    }
  });

  describe('Softmax, LayerNormalization, ReduceSum/Mean (last axis)', () => {
    for (const shape of [[3, 7], [2, 4, 16], [5, 1], [1, 1000], [2, 3, 33]]) {
      const n = shape[shape.length - 1]!;
      it(`Softmax on [${shape}]`, () => check('softmax', shape, (b, x) => b.Softmax([b.Mul([x, b.constant(4)])], { axis: -1 }), 'Softmax'));
      it(`LayerNormalization with B on [${shape}]`, () => {
        check('ln', shape, (b, x) => b.LayerNormalization([x, b.constant(rand([n])), b.constant(rand([n]))], { axis: -1, epsilon: 1e-5 }), 'LayerNormalization');
      });
      it(`LayerNormalization without B on [${shape}]`, () => {
        check('ln-nob', shape, (b, x) => b.LayerNormalization([x, b.constant(rand([n]))], { axis: shape.length - 1 }), 'LayerNormalization');
      });
      for (const op of ['ReduceSum', 'ReduceMean'] as const) {
        for (const keepdims of [0, 1]) {
          it(`${op} axes [-1] keepdims ${keepdims} on [${shape}]`, () => {
            check(op, shape, (b, x) => b.apply(op, [x, b.constant(Tensor.from('int64', [1], [-1]))], { keepdims })[0]!, op);
          });
        }
      }
    }
    it('Softmax over a non-last axis stays on the reference', () => {
      const b = new GraphBuilder('sm-axis0');
      b.output(b.Softmax([b.input('x', 'float32', [3, 4])], { axis: 0 }), 'y');
      const p = compileWasm(b.build());
      p.run({ x: rand([3, 4]) });
      expect(p.coverage.referenceOps).to.include('Softmax');
    });
  });
});

describe('wasm direct kernels: windows too large to unroll', () => {
  it('a 9x9 MaxPool (81 taps) runs on the reference and still matches', () => {
    const b = new GraphBuilder('big-pool');
    b.output(b.MaxPool([b.input('x', 'float32', [1, 2, 12, 12])], { kernel_shape: [9, 9] }), 'y');
    const g = b.build();
    const feeds = { x: rand([1, 2, 12, 12]) };
    const p = compileWasm(g);
    expect(p.run(feeds)['y']!.data).to.deep.equal(compileCpu(g).run(feeds)['y']!.data);
    expect(p.coverage.referenceOps).to.include('MaxPool');
  });
});

describe('wasm Gather (row copies) vs CPU reference', () => {
  /** Gathers from `data` (a constant, or fed as x) by fed indices; checks Gather ran in wasm and matches the reference exactly. */
  const gather = (label: string, dataShape: number[], idx: Tensor, axis: number, constTable: boolean): void => {
    const b = new GraphBuilder(label);
    const data = rand(dataShape);
    const table = constTable ? b.constant(data) : b.input('x', 'float32', dataShape);
    b.output(b.Gather([table, b.input('i', idx.dtype, idx.shape as number[])], { axis }), 'y');
    const g = b.build();
    const feeds: Record<string, Tensor> = constTable ? { i: idx } : { x: data, i: idx };
    const want = compileCpu(g).run(feeds)['y']!;
    const p = compileWasm(g);
    const got = p.run(feeds)['y']!;
    expect(p.coverage.wasmOps, `${label}: Gather ran on the reference`).to.include('Gather');
    expect(got.shape, label).to.deep.equal(want.shape);
    expect(Array.from(got.data), label).to.deep.equal(Array.from(want.data));
  };
  const ids = (dtype: 'int64' | 'int32', shape: number[], dim: number): Tensor => {
    const v = Array.from({ length: shape.reduce((a, c) => a * c, 1) }, () => int(-dim, dim - 1));
    return new Tensor(dtype, shape, dtype === 'int64' ? Float64Array.from(v) : Int32Array.from(v));
  };
  it('embedding lookup: axis 0 of a constant [50,16] table by int64 [2,7] indices (negatives wrap)', () => gather('emb', [50, 16], ids('int64', [2, 7], 50), 0, true));
  it('axis 0 by int32 indices, a row of 7 floats (vector + tail)', () => gather('emb32', [9, 7], ids('int32', [5], 9), 0, true));
  it('axis 1 of a fed [3,6,5] tensor by int64 [4] indices', () => gather('ax1', [3, 6, 5], ids('int64', [4], 6), 1, false));
  it('last axis (rows of one float) of a fed [4,6]', () => gather('axlast', [4, 6], ids('int64', [3, 2], 6), -1, false));
  it('an out-of-range index raises the reference error naming the node', () => {
    const b = new GraphBuilder('oob');
    b.output(b.Gather([b.constant(rand([5, 4])), b.input('i', 'int64', [2])], { axis: 0 }), 'y');
    const g = b.build();
    const feeds = { i: new Tensor('int64', [2], Float64Array.from([1, 5])) };
    let cpuErr: unknown, wasmErr: unknown;
    try { compileCpu(g).run(feeds); } catch (e) { cpuErr = e; }
    const p = compileWasm(g);
    try { p.run(feeds); } catch (e) { wasmErr = e; }
    expect(cpuErr, 'cpu').to.be.instanceOf(ExecutionError);
    expect(wasmErr, 'wasm').to.be.instanceOf(ExecutionError);
    expect((wasmErr as Error).message).to.equal((cpuErr as Error).message);
    expect(p.coverage.wasmOps).to.include('Gather');
  });
});

describe('wasm Fused attention (packed QKV) vs CPU reference', () => {
  type Mask = 'none' | 'fill-on-true' | 'fill-on-false' | 'constant';
  /**
   * The exported-model block: qkv [B,S,3E] → Split → Reshape [B,S,H,D] → Transposes →
   * MatMul → Mul(scale) → optional Where(bool mask, −1e4 fill) → Softmax → MatMul →
   * Transpose, optimized at O2 (one Fused 'attention'), run on wasm and compared with
   * the unfused graph on the CPU reference. Returns the wasm coverage.
   */
  const attention = (B: number, S: number, H: number, D: number, mask: Mask): { wasmOps: string[]; referenceOps: string[] } => {
    const E = H * D;
    const b = new GraphBuilder('attn');
    const qkv = b.Split([b.input('qkv', 'float32', [B, S, 3 * E]), b.constant(Tensor.from('int64', [3], [E, E, E]))], { axis: 2 });
    const heads = (k: number, perm: number[]): Sym => b.Transpose(b.Reshape([qkv[k]!, b.constant(Tensor.from('int64', [4], [B, S, H, D]))]), { perm });
    let s = b.Mul([b.MatMul([heads(0, [0, 2, 1, 3]), heads(1, [0, 2, 3, 1])]), b.constant(1 / Math.sqrt(D))]);
    const causal = Tensor.from('bool', [1, 1, S, S], Array.from({ length: S * S }, (_, i) => (i % S <= Math.floor(i / S) ? 1 : 0)));
    const fill = b.constant(-1e4);
    if (mask === 'fill-on-true') s = b.Where([b.input('m', 'bool', [1, 1, S, S]), fill, s]);
    if (mask === 'fill-on-false') s = b.Where([b.input('m', 'bool', [1, 1, S, S]), s, fill]);
    if (mask === 'constant') s = b.Where([b.constant(causal), s, fill]);
    const o = b.MatMul([b.Softmax(s, { axis: -1 }), heads(2, [0, 2, 1, 3])]);
    b.output(b.Transpose(o, { perm: [0, 2, 1, 3] }), 'y');
    const g = b.build();
    const feeds: Record<string, Tensor> = { qkv: rand([B, S, 3 * E]) };
    if (mask === 'fill-on-false') feeds['m'] = causal;
    if (mask === 'fill-on-true') feeds['m'] = Tensor.from('bool', [1, 1, S, S], Array.from(causal.data, (c) => (c ? 0 : 1)));
    const { graph } = optimize(g, { level: 2 });
    expect(graph.topo.map((n) => `${n.op}:${String(n.attrs['kind'] ?? '')}`), 'no attention group').to.include('Fused:attention');
    const want = compileCpu(g).run(feeds)['y']!;
    const p = compileWasm(graph);
    const got = p.run(feeds)['y']!;
    expect(got.shape).to.deep.equal(want.shape);
    for (let i = 0; i < want.size; i++) {
      const w = Number(want.data[i]), v = Number(got.data[i]);
      if (!(Math.abs(w - v) <= 1e-5 + 1e-5 * Math.abs(w))) expect.fail(`attention: y[${i}] wasm ${v} vs cpu ${w}`);
    }
    return p.coverage;
  };
  const cases: [number, number, number, number, Mask][] = [
    [1, 8, 2, 4, 'none'], [2, 7, 3, 8, 'none'], [1, 13, 4, 16, 'fill-on-true'], [2, 6, 2, 8, 'fill-on-false'], [1, 9, 2, 12, 'constant'], [1, 1, 1, 4, 'none'],
  ];
  for (const [B, S, H, D, mask] of cases) {
    it(`B ${B}, S ${S}, ${H} heads of ${D}, mask ${mask}: runs in wasm`, () => {
      const cov = attention(B, S, H, D, mask);
      expect(cov.referenceOps, 'the attention group ran on the reference').to.not.include('Fused');
      expect(cov.wasmOps).to.include('Fused');
    });
  }
  it('a head dim that is not a multiple of 4 stays on the reference and still matches', () => {
    expect(attention(1, 5, 2, 6, 'none').referenceOps).to.include('Fused');
  });
});
