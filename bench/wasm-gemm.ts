/**
 * MatMul throughput of Kiln's wasm backend (one thread, SIMD128) next to
 * onnxruntime-web's wasm backend (one thread), in the same process: Y = A·B,
 * float32 [M,K]·[K,N] (default 1024³), both with B fed at run time and with B a
 * constant initializer (Kiln packs it at compile time; ORT prepacks it). Each
 * runtime does `warmup` untimed runs, then `runs` timed ones (feeds in, output out);
 * prints the median ms, GFLOP/s (and the fastest run's) and the Kiln/ORT ratio of
 * medians per variant, and the largest error of each against a float64 dot product
 * on a sample of 256 elements.
 *
 *   npx tsx bench/wasm-gemm.ts [M] [N] [K] [runs]
 *
 * Run without `--liftoff-only`: that flag keeps every wasm module (Kiln's and
 * ORT's) on V8's baseline compiler, which is not what a browser runs warm.
 */
import { compileWasm } from '../src/backends/wasm/index.js';
import { GraphBuilder, Tensor } from '../src/graph/index.js';
import { exportModel } from '../onnx/export.js';
import { hashValues } from './cases.js';

/** The part of onnxruntime-web used here. */
interface Ort {
  env: { wasm: { numThreads?: number; simd?: boolean }; logLevel?: string };
  Tensor: new (type: string, data: Float32Array, dims: readonly number[]) => unknown;
  InferenceSession: { create(model: Uint8Array, o: { executionProviders: string[]; graphOptimizationLevel?: string }): Promise<{
    run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array; dispose?(): void }>>;
    release(): Promise<void>;
  }> };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Times `runs` calls of `f` after `warmup` untimed ones; returns the median ms and the last output. */
async function time(f: () => Promise<Float32Array> | Float32Array, warmup: number, runs: number): Promise<{ ms: number; min: number; out: Float32Array }> {
  let out = await f();
  for (let i = 1; i < warmup; i++) out = await f();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await f();
    ts.push(performance.now() - t0);
  }
  return { ms: median(ts), min: Math.min(...ts), out };
}

/** The largest |got − want| over a sample of elements of C = A·B (reference in float64). */
function sampleError(a: Float32Array, b: Float32Array, c: Float32Array, M: number, N: number, K: number): number {
  let worst = 0;
  for (let s = 0; s < 256; s++) {
    const i = (s * 7919) % M, j = (s * 104729 + 13) % N;
    let want = 0;
    for (let k = 0; k < K; k++) want += a[i * K + k]! * b[k * N + j]!;
    worst = Math.max(worst, Math.abs(c[i * N + j]! - want));
  }
  return worst;
}

async function main(): Promise<void> {
  const [M, N, K, runs] = [1024, 1024, 1024, 7].map((d, i) => Number(process.argv[2 + i] ?? d)) as [number, number, number, number];
  const warmup = 3;
  const a = new Tensor('float32', [M, K], hashValues(M * K, 3));
  const bt = new Tensor('float32', [K, N], hashValues(K * N, 4));
  const gflops = (ms: number): number => (2 * M * N * K) / (ms * 1e6);
  const ortMod = (await import('onnxruntime-web')) as unknown as Ort & { default?: Ort };
  const ort: Ort = ortMod.InferenceSession ? ortMod : ortMod.default!;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  console.log(`MatMul ${M}x${N}x${K} float32, one thread; median of ${runs} runs after ${warmup} warm-up runs`);
  for (const constB of [false, true]) {
    const g = new GraphBuilder('matmul');
    const bSym = constB ? g.constant(bt, { name: 'b' }) : g.input('b', 'float32', [K, N]);
    g.output(g.MatMul([g.input('a', 'float32', [M, K]), bSym]), 'y');
    const graph = g.build();
    const feeds: Record<string, Tensor> = constB ? { a } : { a, b: bt };
    const prog = compileWasm(graph);
    const kiln = await time(() => prog.run(feeds)['y']!.data as Float32Array, warmup, runs);
    const session = await ort.InferenceSession.create(exportModel(graph), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data as Float32Array, t.shape)]));
    const peer = await time(async () => {
      const r = (await session.run(ortFeeds))['y']!;
      const d = r.data.slice();
      r.dispose?.();
      return d;
    }, warmup, runs);
    await session.release();
    const ad = a.data as Float32Array, bd = bt.data as Float32Array;
    const label = constB ? 'B constant' : 'B fed    ';
    console.log(`${label}  kiln-wasm ${kiln.ms.toFixed(1)} ms = ${gflops(kiln.ms).toFixed(2)} GFLOP/s (best ${gflops(kiln.min).toFixed(2)}, max err ${sampleError(ad, bd, kiln.out, M, N, K).toExponential(1)})` +
      `  ort-wasm ${peer.ms.toFixed(1)} ms = ${gflops(peer.ms).toFixed(2)} GFLOP/s (best ${gflops(peer.min).toFixed(2)}, max err ${sampleError(ad, bd, peer.out, M, N, K).toExponential(1)})` +
      `  kiln/ort ${(gflops(kiln.ms) / gflops(peer.ms)).toFixed(2)}`);
  }
  console.log(`load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}, ${(await import('node:os')).cpus().length} cores`);
}

await main();
