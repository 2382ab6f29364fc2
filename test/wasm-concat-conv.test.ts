/**
 * The wasm backend's Concat (concat.ts: block copies, or none where the plan let the
 * producers write into the output), the stride-2 vector path of the window kernels
 * (window.ts) and the wasm im2col of the GEMM Conv (im2col.ts), against the CPU
 * reference on odd shapes and attribute variants. Each case checks that the node ran
 * in wasm (not on the reference) and |wasm − cpu| ≤ 1e-5 + 1e-5·|cpu|; Concat and
 * im2col move values without arithmetic, so those cases hold exactly too.
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWasm, type WasmProgram } from '../src/backends/wasm/index.js';
import { GraphBuilder, type Sym } from '../src/graph/builder.js';
import { ModuleBuilder, type FnBuilder } from '../src/backends/wasm/encoder.js';
import { prepareIm2col } from '../src/backends/wasm/im2col.js';
import type { WasmPrepareContext, WasmRuntime } from '../src/backends/wasm/kernel.js';
import { fold3, im2col, resolveWindow } from '../src/graph/ops/conv-util.js';
import { Rng } from '../src/graph/random.js';
import { Tensor } from '../src/graph/tensor.js';
import { wasmMatchesCpu } from './helpers/wasm-compare.js';

const rng = new Rng(23);
const rand = (shape: number[]): Tensor => new Tensor('float32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-2, 2)));

/** Builds a graph over fed inputs of `shapes` (x0, x1, ...), runs it on wasm and cpu, checks that `op` ran in wasm and the outputs agree; returns the wasm program. */
function check(label: string, shapes: number[][], build: (b: GraphBuilder, xs: Sym[]) => Sym, op: string, exact = false): WasmProgram {
  const b = new GraphBuilder(label);
  const xs = shapes.map((s, i) => b.input(`x${i}`, 'float32', s));
  b.output(build(b, xs), 'y');
  const g = b.build();
  const feeds = Object.fromEntries(shapes.map((s, i) => [`x${i}`, rand(s)]));
  const { p, got } = wasmMatchesCpu(label, g, feeds, op, exact);
  // A second run on the same plan (the arena reused) agrees too.
  const again = p.run(feeds)['y']!;
  expect(Array.from(again.data), `${label}: second run`).to.deep.equal(Array.from(got.data));
  return p;
}

/** True when the plan of `p`'s last run skipped its Concat step (producers wrote into the output). */
const writtenInto = (p: WasmProgram): boolean => p.plan!.steps.some((s) => s.node.op === 'Concat' && s.writtenInto);

describe('wasm Concat vs CPU reference', () => {
  const cases: { shapes: number[][]; axis: number }[] = [
    { shapes: [[3, 5, 7], [3, 2, 7]], axis: 1 },
    { shapes: [[3, 5, 7], [3, 5, 1], [3, 5, 6]], axis: -1 },
    { shapes: [[1, 5, 7], [2, 5, 7], [4, 5, 7], [1, 5, 7]], axis: 0 },
    { shapes: [[2, 3, 3, 5], [2, 1, 3, 5]], axis: 1 },
    { shapes: [[2, 3, 3, 5], [2, 3, 3, 5]], axis: 2 },
    { shapes: [[7], [1], [9]], axis: 0 },
    { shapes: [[1, 6, 5, 5], [1, 10, 5, 5], [1, 3, 5, 5]], axis: 1 },
    { shapes: [[2, 3], [2, 0], [2, 4]], axis: 1 },
    { shapes: [[1, 3], [1, 0], [1, 2]], axis: -1 },
  ];
  for (const { shapes, axis } of cases) {
    it(`axis ${axis} of fed ${shapes.map((s) => `[${s}]`).join(' ')}: copies`, () => {
      check('concat-fed', shapes, (b, xs) => b.Concat(xs, { axis }), 'Concat', true);
    });
    it(`axis ${axis} of computed ${shapes.map((s) => `[${s}]`).join(' ')}`, () => {
      check('concat-relu', shapes, (b, xs) => b.Concat(xs.map((x) => b.Relu([x])), { axis }), 'Concat', true);
    });
  }

  it('producers write into the output when nothing is outside the axis and the blocks are 64-byte aligned (Concat copies nothing)', () => {
    const p = check('concat-into', [[1, 4, 4, 4], [1, 8, 4, 4], [1, 3, 4, 4]], (b, xs) => b.Concat(xs.map((x) => b.Relu([b.Mul([x, b.constant(3)])])), { axis: 1 }), 'Concat', true);
    expect(writtenInto(p)).to.equal(true);
  });

  it('with something outside the axis, or an input read elsewhere too, the copies run', () => {
    const outer = check('concat-outer', [[2, 3, 4], [2, 5, 4]], (b, xs) => b.Concat(xs.map((x) => b.Relu([x])), { axis: 1 }), 'Concat', true);
    expect(writtenInto(outer)).to.equal(false);
    const shared = check('concat-shared', [[1, 3, 4], [1, 5, 4]], (b, [x0, x1]) => {
      const r = b.Relu([x0!]);
      const s = b.Relu([x1!]);
      return b.Add([b.Concat([r, s], { axis: 1 }), b.Concat([b.Relu([r]), s], { axis: 1 })]);
    }, 'Concat', true);
    expect(writtenInto(shared)).to.equal(false);
  });

  it('a constant input is copied from its memory copy', () => {
    const c = rand([1, 2, 3]);
    check('concat-const', [[1, 4, 3]], (b, [x]) => b.Concat([b.Relu([x!]), b.constant(c)], { axis: 1 }), 'Concat', true);
  });
});

describe('wasm window kernels: stride-2 vector columns', () => {
  for (const w of [37, 38, 9]) {
    it(`MaxPool k3 s2 on width ${w}`, () => check('max-s2', [[1, 3, 11, w]], (b, [x]) => b.MaxPool([x!], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }), 'MaxPool'));
    it(`AveragePool k3 s2 pads 1 on width ${w}`, () => check('avg-s2', [[2, 2, 9, w]], (b, [x]) => b.AveragePool([x!], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }), 'AveragePool'));
    it(`depthwise Conv k3 s2 pads 1 dilation 2 on width ${w}`, () => {
      check('dw-s2', [[1, 4, 10, w]], (b, [x]) => b.Conv([x!, b.constant(rand([4, 1, 3, 3])), b.constant(rand([4]))], { group: 4, strides: [2, 2], pads: [1, 1, 1, 1], dilations: [2, 2] }), 'Conv');
    });
  }
});

describe('wasm Conv through the wasm im2col', () => {
  const variants: { k: number[]; s: number[]; d: number[]; p: number[]; group?: number }[] = [
    { k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] },
    { k: [3, 3], s: [2, 2], d: [1, 1], p: [0, 0, 0, 0] },
    { k: [3, 3], s: [2, 2], d: [1, 1], p: [0, 1, 1, 0] },
    { k: [5, 5], s: [1, 1], d: [2, 2], p: [3, 2, 1, 4] },
    { k: [1, 1], s: [2, 2], d: [1, 1], p: [0, 0, 0, 0] },
    { k: [7, 7], s: [2, 2], d: [1, 1], p: [3, 3, 3, 3] },
    { k: [3, 1], s: [3, 1], d: [1, 1], p: [1, 0, 1, 0] },
    { k: [2, 4], s: [1, 3], d: [2, 1], p: [0, 2, 1, 1] },
    { k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1], group: 2 },
    { k: [3, 3], s: [2, 2], d: [1, 1], p: [2, 2, 2, 2] },
  ];
  /** The emitted im2col of one window on its own module, against the reference's im2col: equal bit for bit. */
  const im2colExact = (cg: number, h: number, w: number, v: (typeof variants)[number]): void => {
    const attrs = { strides: v.s, dilations: v.d, pads: v.p, auto_pad: 'NOTSET', group: 1 } as unknown as Parameters<typeof resolveWindow>[0];
    const win = fold3(resolveWindow(attrs, [h, w], v.k, 'i2c', (t) => `i2c#${t}`), [h, w], 'i2c');
    const mb = new ModuleBuilder();
    const names: string[] = [];
    // Split as threads would cut it (one channel per chunk), the chunks run in turn.
    const ctx = {
      fn: (k: string, build: () => FnBuilder) => { mb.add(k, build()); names.push(k); return k; },
      split: (units: number) => ({ chunks: Array.from({ length: units }, (_, u) => [u, u + 1] as const) }),
    } as unknown as WasmPrepareContext;
    const fill = prepareIm2col(ctx, cg, win);
    expect(names.length, 'the window got an emitted im2col').to.equal(1);
    const colN = cg * v.k[0]! * v.k[1]! * win.outDims[1] * win.outDims[2];
    const memory = new WebAssembly.Memory({ initial: Math.ceil((64 + (cg * h * w + colN) * 4 + 256) / 65536) });
    const exports = new WebAssembly.Instance(new WebAssembly.Module(mb.encode()), { env: { memory } }).exports as Record<string, (...a: number[]) => void>;
    const f32 = new Float32Array(memory.buffer);
    const x = rand([cg * h * w]).data as Float32Array;
    f32.set(x, 16);
    const colAt = 64 + cg * h * w * 4 + 64;
    f32.fill(Number.NaN, colAt / 4, colAt / 4 + colN);
    const rt: Pick<WasmRuntime, 'f32' | 'call' | 'parallel'> = {
      f32,
      call: (name, ...args) => exports[name]!(...args),
      parallel: (split, calls) => split.chunks.forEach(([u0, u1]) => calls(u0, u1, 0).forEach(([name, ...args]) => exports[name]!(...args))),
    };
    fill(rt as WasmRuntime, 64, colAt);
    const want = new Float32Array(colN);
    im2col(x, 0, cg, win, want, 0);
    expect(Array.from(f32.subarray(colAt / 4, colAt / 4 + colN))).to.deep.equal(Array.from(want));
  };
  for (const v of variants) {
    it(`im2col k[${v.k}] s[${v.s}] d[${v.d}] pads [${v.p}] equals the reference's`, () => {
      for (const [cg, h, w] of [[3, 9, 23], [1, 14, 7], [2, 5, 40]] as const) im2colExact(cg, h, w, v);
    });
  }
  for (const v of variants) {
    const group = v.group ?? 1;
    for (const [n, c, h, w] of [[1, 2 * group, 9, 23], [2, 3 * group, 14, 7]] as const) {
      const m = 5 * group;
      it(`k[${v.k}] s[${v.s}] d[${v.d}] pads [${v.p}] group ${group} on [${n},${c},${h},${w}]`, () => {
        check('conv-i2c', [[n, c, h, w]], (b, [x]) => b.Conv([x!, b.constant(rand([m, c / group, v.k[0]!, v.k[1]!])), b.constant(rand([m]))],
          { strides: v.s, dilations: v.d, pads: v.p, group }), 'Conv');
      });
    }
  }
  it('1-D Conv k3 s2 pads 1', () => {
    check('conv1d', [[2, 3, 29]], (b, [x]) => b.Conv([x!, b.constant(rand([4, 3, 3]))], { strides: [2], pads: [1, 1] }), 'Conv');
  });
  it('a window larger than the input in the padding (rows and columns all zero)', () => {
    check('conv-pad', [[1, 2, 2, 3]], (b, [x]) => b.Conv([x!, b.constant(rand([3, 2, 3, 3]))], { pads: [3, 3, 3, 3] }), 'Conv');
  });
  it('3-D Conv keeps the reference im2col and still matches', () => {
    check('conv3d', [[1, 2, 4, 5, 6]], (b, [x]) => b.Conv([x!, b.constant(rand([3, 2, 2, 3, 3]))], { pads: [1, 1, 1, 1, 1, 1] }), 'Conv');
  });
});
