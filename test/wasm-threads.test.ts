/**
 * The wasm backend's threads (src/backends/wasm/threads.ts): 2 threads give the same
 * bits as 1 on a split GEMM, a split 3×3 Conv (+ Relu epilogue), the window kernels
 * (depthwise Conv, MaxPool, AveragePool), Fused attention and squeezenet1_1,
 * with the pool's workers taking part; a task that traps in a worker ends the run with
 * an ExecutionError (no hang) and the pool keeps working; release() drops the
 * program's modules from the workers; a process that never releases still exits
 * (workers are unref'd); numThreads is validated and reaches the backend from
 * InferenceSession.create. Without the shared models the squeezenet case fails when
 * CI=true and skips (saying why) elsewhere.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { compileWasm, type WasmProgram } from '../src/backends/wasm/index.js';
import { FnBuilder, ModuleBuilder } from '../src/backends/wasm/encoder.js';
import { sharedPool } from '../src/backends/wasm/threads.js';
import { GraphBuilder, type Sym } from '../src/graph/builder.js';
import { ExecutionError, InputError } from '../src/graph/errors.js';
import type { Graph } from '../src/graph/graph.js';
import { Rng } from '../src/graph/random.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/pipelines.js';
import { InferenceSession } from '../src/session/index.js';

const rng = new Rng(7);
const rand = (shape: number[]): Tensor => new Tensor('float32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)));

/** Tasks the pool's workers have run so far. */
const workerTasks = (): number => sharedPool(1)!.workerTasks().reduce((a, b) => a + b, 0);

/** Runs `p2` (2 threads) until a worker took part (a loaded machine may start it late), checking each run's bits against `want`. */
function expectSameBits(p2: WasmProgram, feeds: Record<string, Tensor>, want: Record<string, Tensor>): void {
  const before = workerTasks();
  for (let r = 0; r < 20 && workerTasks() === before; r++) {
    const got = p2.run(feeds);
    for (const [k, t] of Object.entries(want)) {
      const x = t.data as Float32Array, y = got[k]!.data as Float32Array;
      expect(y.length, k).to.equal(x.length);
      for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) expect.fail(`${k}[${i}]: 2 threads ${y[i]} vs 1 thread ${x[i]}`);
    }
  }
  expect(workerTasks(), 'the workers took no task').to.be.greaterThan(before);
}

/** 1 vs 2 threads on `g` (bits equal, the workers took part); `op`: it ran in wasm, not on the reference. */
function oneVsTwo(g: Graph, feeds: Record<string, Tensor>, op?: string): void {
  const p1 = compileWasm(g, { numThreads: 1 });
  const p2 = compileWasm(g, { numThreads: 2 });
  expect(p2.threads).to.equal(2);
  expectSameBits(p2, feeds, p1.run(feeds));
  if (op) {
    expect(p2.coverage.wasmOps, `${op} ran on the reference`).to.include(op);
    expect(p2.coverage.referenceOps).to.not.include(op);
  }
  p2.release();
}

function graphOf(name: string, xShape: number[], build: (b: GraphBuilder, x: Sym) => Sym): Graph {
  const b = new GraphBuilder(name);
  b.output(build(b, b.input('x', 'float32', xShape)), 'y');
  return b.build();
}

describe('wasm threads', function () {
  this.timeout(60_000);

  it('GEMM: 2 threads give the bits of 1 (row and column splits, tails, bias)', () => {
    // 203 rows (4-row blocks + tails) × 77 columns (a partial panel): split by rows.
    oneVsTwo(graphOf('gemm-rows', [203, 300], (b, x) => b.Gemm([x, b.constant(rand([300, 77])), b.constant(rand([77]))])), { x: rand([203, 300]) });
    // 9 rows × 517 columns: split by panels.
    oneVsTwo(graphOf('gemm-cols', [9, 700], (b, x) => b.MatMul([x, b.constant(rand([700, 517]))])), { x: rand([9, 700]) });
  });

  it('Conv 3×3 + Relu: 2 threads give the bits of 1', () => {
    const g = graphOf('conv', [1, 16, 30, 30], (b, x) => b.Relu(b.Conv([x, b.constant(rand([32, 16, 3, 3])), b.constant(rand([32]))], { pads: [1, 1, 1, 1] })));
    oneVsTwo(g, { x: rand([1, 16, 30, 30]) });
  });

  it('window kernels (depthwise Conv + bias, MaxPool, AveragePool): 2 threads give the bits of 1 (chunks of planes across the batch)', () => {
    // 2 × 13 planes: the chunks cut inside a batch, so per-plane weights and biases are offset per chunk.
    const xs = [2, 13, 43, 45];
    oneVsTwo(graphOf('dw', xs, (b, x) => b.Conv([x, b.constant(rand([13, 1, 3, 3])), b.constant(rand([13]))], { group: 13, strides: [2, 2], pads: [1, 1, 1, 1] })), { x: rand(xs) }, 'Conv');
    oneVsTwo(graphOf('max', xs, (b, x) => b.MaxPool([x], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 })), { x: rand(xs) }, 'MaxPool');
    oneVsTwo(graphOf('avg', xs, (b, x) => b.AveragePool([x], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 0 })), { x: rand(xs) }, 'AveragePool');
  });

  it('Fused attention (packed QKV, causal mask): 2 threads give the bits of 1 (chunks of query rows)', () => {
    const [B, S, H, D] = [2, 37, 3, 16];
    const E = H * D;
    const b = new GraphBuilder('attn');
    const qkv = b.Split([b.input('x', 'float32', [B, S, 3 * E]), b.constant(Tensor.from('int64', [3], [E, E, E]))], { axis: 2 });
    const heads = (k: number, perm: number[]): Sym => b.Transpose(b.Reshape([qkv[k]!, b.constant(Tensor.from('int64', [4], [B, S, H, D]))]), { perm });
    const causal = Tensor.from('bool', [1, 1, S, S], Array.from({ length: S * S }, (_, i) => (i % S <= Math.floor(i / S) ? 1 : 0)));
    const s = b.Where([b.input('m', 'bool', [1, 1, S, S]), b.Mul([b.MatMul([heads(0, [0, 2, 1, 3]), heads(1, [0, 2, 3, 1])]), b.constant(1 / Math.sqrt(D))]), b.constant(-1e4)]);
    b.output(b.Transpose(b.MatMul([b.Softmax(s, { axis: -1 }), heads(2, [0, 2, 1, 3])]), { perm: [0, 2, 1, 3] }), 'y');
    const { graph } = optimize(b.build(), { level: 2 });
    expect(graph.topo.map((n) => `${n.op}:${String(n.attrs['kind'] ?? '')}`), 'no attention group').to.include('Fused:attention');
    oneVsTwo(graph, { x: rand([B, S, 3 * E]), m: causal }, 'Fused');
  });

  it('squeezenet1_1: 2 threads give the bits of 1', async function () {
    const path = '/work/shared/models/squeezenet1_1/model.onnx';
    if (!existsSync(path)) {
      if (process.env['CI'] === 'true') throw new Error(`${path} is missing`);
      console.log(`skipping: ${path} is missing`);
      this.skip();
    }
    const s1 = await InferenceSession.create(path, { executionProviders: ['wasm'], numThreads: 1 });
    const s2 = await InferenceSession.create(path, { executionProviders: ['wasm'], numThreads: 2 });
    const feeds = { [s1.inputNames[0]!]: rand([1, 3, 224, 224]) };
    const want = await s1.run(feeds);
    const before = workerTasks();
    const got = await s2.run(feeds);
    expect(workerTasks(), 'the workers took no task').to.be.greaterThan(before);
    for (const [k, t] of Object.entries(want)) {
      const x = t.data as Float32Array, y = got[k]!.data as Float32Array;
      for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) expect.fail(`${k}[${i}]: 2 threads ${y[i]} vs 1 thread ${x[i]}`);
    }
    const held = sharedPool(1)!.moduleCount;
    s2.release();
    expect(sharedPool(1)!.moduleCount, 'release() drops the modules from the workers').to.be.lessThan(held);
    s1.release();
  });

  it('a task that traps in a worker ends the job with an ExecutionError, and the pool keeps working', () => {
    // trap(addr): a store far outside the one-page memory.
    const f = new FnBuilder(['i32'], []);
    f.get(0).f32(1).storeF32();
    const mb = new ModuleBuilder();
    mb.add('trap', f);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const pool = sharedPool(1)!;
    const mid = pool.addModule(new WebAssembly.Module(mb.encode(1)), memory, mb.names, 1);
    // This thread's share does not trap (a slow no-op), so the workers take tasks, and theirs trap.
    const slow = (): void => { const t0 = performance.now(); while (performance.now() - t0 < 5) { /* busy */ } };
    const tasks = Array.from({ length: 16 }, () => [['trap', 1 << 20] as const]);
    expect(() => pool.run(mid, { tasks, fns: new Map([['trap', { index: 0, f32Mask: 0, fn: slow }]]) }, 1, 'trap-test'))
      .to.throw(ExecutionError, /wasm worker \d+ failed: .*out of bounds/);
    pool.dropModule(mid);
    const g = graphOf('after', [64, 256], (b, x) => b.MatMul([x, b.constant(rand([256, 256]))]));
    oneVsTwo(g, { x: rand([64, 256]) });
  });

  it('numThreads: validated; 1 uses no workers', () => {
    const g = graphOf('n', [64, 256], (b, x) => b.MatMul([x, b.constant(rand([256, 256]))]));
    expect(() => compileWasm(g, { numThreads: -1 })).to.throw(InputError, /numThreads/);
    expect(() => compileWasm(g, { numThreads: 1.5 })).to.throw(InputError, /numThreads/);
    const p = compileWasm(g, { numThreads: 1 });
    expect(p.threads).to.equal(1);
    const before = workerTasks();
    p.run({ x: rand([64, 256]) });
    expect(workerTasks()).to.equal(before);
  });

  it('a process with a 2-thread program it never releases exits', () => {
    const code = `
      import { compileWasm } from './src/backends/wasm/index.ts';
      import { GraphBuilder } from './src/graph/builder.ts';
      import { Tensor } from './src/graph/tensor.ts';
      const b = new GraphBuilder('exit');
      b.output(b.MatMul([b.input('x', 'float32', [128, 256]), b.constant(new Tensor('float32', [256, 256], new Float32Array(65536).fill(0.5)))]), 'y');
      const p = compileWasm(b.build(), { numThreads: 2 });
      const y = p.run({ x: new Tensor('float32', [128, 256], new Float32Array(128 * 256).fill(1)) }).y;
      console.log('ran', p.threads, y.data[0]);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: process.cwd(), encoding: 'utf8', timeout: 45_000 });
    expect(r.signal, `the child did not exit by itself: ${r.stderr}`).to.equal(null);
    expect(r.stdout.trim(), r.stderr).to.equal('ran 2 128');
  });
});
