/// <reference types="@webgpu/types" />
/**
 * Checks the WGSL form of every scalar function against its JS form: for each function
 * it renders `out[i] = <fn>(in0[i], ...)` into a compute shader, runs it on WebGPU over
 * edge-rich random inputs, and compares with the JS form rounded to the output type.
 * In CI (CI=true) a missing adapter fails; elsewhere the suite skips, saying why.
 */
import { expect } from 'chai';
import { GpuUnavailableError, requestDevice, type AcquiredDevice } from '../src/backends/webgpu/device.js';
import { F } from '../src/graph/ops/scalar-fns.js';
import { SCALAR_WGSL } from '../src/backends/webgpu/scalar-wgsl.js';
import { fromHalfBits, roundHalf, toHalfBits } from '../src/graph/dtype.js';

type W = 'f32' | 'f16' | 'i32' | 'u32';
type Gen = (i: number) => number;

/** One check: the function, its argument types and generators, output type and tolerance. */
interface Case {
  readonly fn: keyof typeof F;
  readonly args: readonly [W, Gen][];
  readonly out: W;
  /** [relative, absolute] tolerance; exact (0, 0) for integer outputs. */
  readonly tol: readonly [number, number];
}

const N = 2048;
let seed = 12345;
/** Deterministic uniform [0, 1). */
function rand(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const EDGES = [0, -0, 1, -1, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 2, -2, 3, -3, 0.25, 1e-3, -1e-3];
/** Floats in [lo, hi], a quarter of them edge values from EDGES in range. */
const unif = (lo: number, hi: number, edges = EDGES): Gen => {
  const ok = edges.filter((e) => e >= lo && e <= hi);
  return (i) => (i % 4 === 0 && ok.length ? ok[(i >> 2) % ok.length]! : Math.fround(lo + (hi - lo) * rand()));
};
/** Integers in [lo, hi]. */
const ints = (lo: number, hi: number, extra: readonly number[] = []): Gen =>
  (i) => (i % 8 === 0 && extra.length ? extra[(i >> 3) % extra.length]! : lo + Math.floor((hi - lo + 1) * rand()));
const pick = (vals: readonly number[]): Gen => () => vals[Math.floor(rand() * vals.length)]!;
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 3.5, 1e30, -1e30];
const I32 = [0, 1, -1, 2147483647, -2147483648, 7, -7];

const EXACT = [1e-6, 1e-7] as const;
const F32 = [1e-5, 1e-6] as const;
const TRANS = [1e-4, 1e-5] as const;
const INT = [0, 0] as const;
const f = (g: Gen): [W, Gen] => ['f32', g];
const i = (g: Gen): [W, Gen] => ['i32', g];
const u = (g: Gen): [W, Gen] => ['u32', g];
const x20 = f(unif(-20, 20));
const unary = (fn: keyof typeof F, g: Gen, tol: readonly [number, number] = TRANS): Case => ({ fn, args: [f(g)], out: 'f32', tol });

const CASES: Case[] = [
  ...(['abs', 'neg', 'sign', 'floor', 'ceil', 'round'] as const).map((fn) => unary(fn, unif(-100, 100), EXACT)),
  unary('reciprocal', unif(0.01, 100), F32), unary('sqrt', unif(0, 1e4), F32),
  unary('exp', unif(-80, 80)), unary('log', unif(1e-20, 1e6)), unary('sin', unif(-10, 10)), unary('cos', unif(-10, 10)),
  unary('tan', unif(-1.4, 1.4)), unary('asin', unif(-1, 1)), unary('acos', unif(-1, 1)), unary('atan', unif(-100, 100)),
  unary('sinh', unif(-10, 10)), unary('cosh', unif(-10, 10)), unary('asinh', unif(-100, 100)), unary('acosh', unif(1, 100)),
  unary('atanh', unif(-0.99, 0.99)), unary('erf', unif(-6, 6)),
  ...(['isnan', 'isinf', 'isposinf', 'isneginf'] as const).map((fn): Case => ({ fn, args: [f(pick(SPECIAL))], out: 'u32', tol: INT })),
  { fn: 'not', args: [u(ints(0, 1))], out: 'u32', tol: INT },
  { fn: 'bitnot', args: [i(ints(-1000, 1000, I32))], out: 'i32', tol: INT },
  { fn: 'abs', args: [i(ints(-1000, 1000, [0, 2147483647]))], out: 'i32', tol: INT },
  { fn: 'neg', args: [i(ints(-1000, 1000, I32))], out: 'i32', tol: INT },
  { fn: 'sign', args: [i(ints(-5, 5))], out: 'i32', tol: INT },
  { fn: 'sign', args: [u(ints(0, 5))], out: 'u32', tol: INT },
  // binary, float
  ...(['add', 'sub', 'mul', 'div', 'max', 'min'] as const).map((fn): Case => ({ fn, args: [f(unif(-100, 100)), f(unif(-100, 100, [1, -1, 2, 0.5]))], out: 'f32', tol: F32 })),
  { fn: 'pow', args: [f(unif(-4, 4)), f(pick([-3, -2, -1, 0, 1, 2, 3, 4, 0.5, -0.5, 1.5, 2.25]))], out: 'f32', tol: TRANS },
  { fn: 'fmod', args: [f(unif(-50, 50)), f(unif(0.5, 10))], out: 'f32', tol: TRANS },
  { fn: 'fmod', args: [f(unif(-50, 50)), f(unif(-10, -0.5))], out: 'f32', tol: TRANS },
  { fn: 'pymod', args: [f(unif(-50, 50)), f(pick([-7.5, -3, -0.75, 0.75, 3, 7.5]))], out: 'f32', tol: TRANS },
  ...(['eq', 'lt', 'le', 'gt', 'ge'] as const).map((fn): Case => ({ fn, args: [f(pick([-1, 0, 0.5, 1, 2])), f(pick([-1, 0, 0.5, 1, 2]))], out: 'u32', tol: INT })),
  // binary, integer
  ...(['add', 'sub', 'imul', 'max', 'min', 'bitand', 'bitor', 'bitxor'] as const).map((fn): Case => ({ fn, args: [i(ints(-100000, 100000, I32)), i(ints(-100000, 100000, I32))], out: 'i32', tol: INT })),
  ...(['eq', 'lt', 'le', 'gt', 'ge'] as const).map((fn): Case => ({ fn, args: [i(ints(-2, 2)), i(ints(-2, 2))], out: 'u32', tol: INT })),
  { fn: 'idiv', args: [i(ints(-1000, 1000, I32)), i(ints(-20, 20, [-1, 0]))], out: 'i32', tol: INT },
  { fn: 'idiv', args: [u(ints(0, 100000)), u(ints(0, 20))], out: 'u32', tol: INT },
  { fn: 'ifmod', args: [i(ints(-1000, 1000)), i(ints(-20, 20))], out: 'i32', tol: INT },
  { fn: 'pymod', args: [i(ints(-1000, 1000)), i(ints(-20, 20))], out: 'i32', tol: INT },
  { fn: 'pymod', args: [u(ints(0, 1000)), u(ints(0, 20))], out: 'u32', tol: INT },
  { fn: 'ipow', args: [i(ints(-5, 5)), i(ints(-2, 9))], out: 'i32', tol: INT },
  { fn: 'shl', args: [u(ints(0, 100000)), u(ints(0, 40))], out: 'u32', tol: INT },
  { fn: 'shr', args: [u(ints(0, 4294967295)), u(ints(0, 40))], out: 'u32', tol: INT },
  ...(['and', 'or', 'xor'] as const).map((fn): Case => ({ fn, args: [u(ints(0, 1)), u(ints(0, 1))], out: 'u32', tol: INT })),
  { fn: 'where', args: [u(ints(0, 1)), f(unif(-5, 5)), f(unif(-5, 5))], out: 'f32', tol: EXACT },
  { fn: 'where', args: [u(ints(0, 1)), i(ints(-5, 5)), i(ints(-5, 5))], out: 'i32', tol: INT },
  // conversions
  { fn: 'cast', args: [i(ints(-100000, 100000))], out: 'f32', tol: EXACT },
  { fn: 'castint', args: [f(unif(-1000, 1000))], out: 'i32', tol: INT },
  { fn: 'castint', args: [f(pick([NaN, 2.5, -2.5, 0]))], out: 'i32', tol: INT },
  { fn: 'tobool', args: [f(pick([NaN, 0, -0, 1, -3.5, Infinity]))], out: 'u32', tol: INT },
  { fn: 'tobool', args: [i(ints(-2, 2))], out: 'u32', tol: INT },
  // rounding to the narrow float formats (ties to even, subnormals, overflow): exact
  ...(['tobfloat16', 'tofloat8e4m3fn', 'tofloat8e4m3fnuz', 'tofloat8e5m2', 'tofloat8e5m2fnuz'] as const).map((fn): Case => ({
    fn, args: [f(pick([0, -0, 1, -1, 1.0625, 1.1875, 0.3, -2.75, 3.5e-3, 1e-6, 2e-9, 240, 448, 464, 500, 57344, 61440, 65536, 1e30, -1e30, Infinity, -Infinity, NaN, 1 / 3]))], out: 'f32', tol: [0, 0],
  })),
  // activations (parameters are passed as inputs, as constant arguments would be)
  { fn: 'leakyrelu', args: [x20, f(pick([0.01, 0.1]))], out: 'f32', tol: EXACT },
  { fn: 'elu', args: [x20, f(pick([1, 2]))], out: 'f32', tol: TRANS },
  { fn: 'selu', args: [x20, f(pick([1.6732632]))!, f(pick([1.050701]))], out: 'f32', tol: TRANS },
  { fn: 'celu', args: [x20, f(pick([1, 2]))], out: 'f32', tol: TRANS },
  { fn: 'hardsigmoid', args: [x20, f(pick([0.2])), f(pick([0.5]))], out: 'f32', tol: F32 },
  { fn: 'thresholdedrelu', args: [x20, f(pick([1, 0.5]))], out: 'f32', tol: EXACT },
  { fn: 'prelu', args: [x20, f(pick([0.25, -0.5]))], out: 'f32', tol: EXACT },
  { fn: 'shrink', args: [x20, f(pick([0, 1.5])), f(pick([0.5, 1.5]))], out: 'f32', tol: F32 },
  { fn: 'shrink', args: [i(ints(-5, 5)), i(pick([0, 1])), i(pick([1, 2]))], out: 'i32', tol: INT },
  ...(['sigmoid', 'hardswish', 'softplus', 'softsign', 'tanh', 'mish', 'gelu', 'gelutanh'] as const).map((fn) => unary(fn, unif(-20, 20))),
  unary('sigmoid', unif(-100, 100)), unary('tanh', unif(-100, 100)), unary('softplus', unif(-100, 100)),
];

/** The float cases again in f16 (inputs within f16 range; tolerance of a few half ulps). */
const F16_CASES: Case[] = CASES
  .filter((c) => c.out === 'f32' && c.args.every(([t]) => t === 'f32') && !['exp', 'log', 'sinh', 'cosh'].includes(c.fn))
  .map((c) => ({ ...c, out: 'f16', args: c.args.map(([, g]): [W, Gen] => ['f16', g]), tol: [4e-3, 2e-3] }));
F16_CASES.push(unary('exp', unif(-10, 10)), unary('log', unif(1e-3, 1e4)), unary('sinh', unif(-5, 5)), unary('cosh', unif(-5, 5)));
F16_CASES.forEach((c, k) => {
  if (c.out === 'f32') F16_CASES[k] = { ...c, out: 'f16', args: c.args.map(([, g]): [W, Gen] => ['f16', g]), tol: [4e-3, 2e-3] };
});

const ARRAYS = { f32: Float32Array, f16: Uint16Array, i32: Int32Array, u32: Uint32Array } as const;
const ROUND: Record<W, (v: number) => number> = { f32: Math.fround, f16: roundHalf, i32: (v) => (Number.isFinite(v) ? v | 0 : 0), u32: (v) => (Number.isFinite(v) ? v >>> 0 : 0) };

function shaderFor(c: Case): string {
  const types = c.args.map(([t]) => t);
  const decls = types.map((t, k) => `@group(0) @binding(${k}) var<storage, read> in${k}: array<${t}>;`).join('\n');
  const form = SCALAR_WGSL[c.fn];
  const body = form.render(types.map((_, k) => `in${k}[i]`), types, c.out);
  return `${types.includes('f16') ? 'enable f16;\n' : ''}${form.prelude ?? ''}
${decls}
@group(0) @binding(${types.length}) var<storage, read_write> out: array<${c.out}>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i < arrayLength(&out)) { out[i] = ${body}; }
}`;
}

async function runCase(device: GPUDevice, c: Case): Promise<string[]> {
  const fn = F[c.fn];
  const inputs = c.args.map(([t, g]) => {
    const a = new ARRAYS[t](N);
    for (let k = 0; k < N; k++) a[k] = t === 'f16' ? toHalfBits(g(k)) : g(k);
    return a;
  });
  const code = shaderFor(c);
  const module = device.createShaderModule({ code });
  const [info, pipeline] = await Promise.all([
    module.getCompilationInfo(),
    device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } }).catch((e: Error) => e),
  ]);
  const errs = info.messages.filter((m) => m.type === 'error').map((m) => m.message);
  if (errs.length || pipeline instanceof Error) {
    return [`${c.fn}(${c.args.map(([t]) => t)}): WGSL error ${errs.join('; ') || (pipeline as Error).message}\n${code}`];
  }
  // No await between push and pop: cases run concurrently and error scopes are a stack.
  device.pushErrorScope('validation');
  const bufs = inputs.map((a) => {
    const b = device.createBuffer({ size: Math.ceil(a.byteLength / 4) * 4, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
    new Uint8Array(b.getMappedRange()).set(new Uint8Array(a.buffer));
    b.unmap();
    return b;
  });
  const outBuf = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const rb = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [...bufs, outBuf].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
  pass.dispatchWorkgroups(Math.ceil(N / 64));
  pass.end();
  enc.copyBufferToBuffer(outBuf, 0, rb, 0, N * 4);
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) return [`${c.fn}: ${err.message}`];
  await rb.mapAsync(GPUMapMode.READ);
  const raw = new ARRAYS[c.out](rb.getMappedRange().slice(0, N * (c.out === 'f16' ? 2 : 4)));
  const got = c.out === 'f16' ? Array.from(raw, fromHalfBits) : raw;
  rb.unmap();
  [...bufs, outBuf, rb].forEach((b) => b.destroy());
  const bad: string[] = [];
  const [rtol, atol] = c.tol;
  for (let k = 0; k < N && bad.length < 5; k++) {
    const args = inputs.map((a, j) => (c.args[j]![0] === 'f16' ? fromHalfBits(a[k]!) : a[k]!));
    const want = ROUND[c.out](fn.js(...args));
    const g = got[k]!;
    const ok = Number.isNaN(want) ? Number.isNaN(g) : !Number.isFinite(want) ? g === want : Math.abs(g - want) <= atol + rtol * Math.abs(want);
    if (!ok) bad.push(`${c.fn}(${args.join(', ')}) [${c.args.map(([t]) => t)} → ${c.out}]: GPU ${g}, JS ${want}`);
  }
  return bad;
}

describe('ops: elementwise scalar fns, WGSL vs JS forms', function () {
  let acquired: AcquiredDevice | undefined;
  before(async function () {
    try {
      acquired = await requestDevice({ label: 'kiln-elementwise-wgsl' });
    } catch (e) {
      if (e instanceof GpuUnavailableError && process.env.CI !== 'true') {
        console.log(`    (skipping WGSL checks: ${e.message})`);
        this.skip();
      }
      throw e;
    }
  });
  after(() => acquired?.device.destroy());

  it('covers every scalar function of the table', () => {
    const covered = new Set(CASES.map((c) => c.fn));
    const missing = Object.keys(F).filter((k) => !covered.has(k as keyof typeof F) && !['mul', 'bitnotU64', 'ipow'].includes(k));
    expect(missing).to.deep.equal([]);
  });

  it('renders, compiles and matches the JS forms on edge-rich inputs (f32, i32, u32)', async function () {
    const failures = (await Promise.all(CASES.map((c) => runCase(acquired!.device, c)))).flat();
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('renders, compiles and matches for f16 arguments and results', async function () {
    if (!acquired!.features.includes('shader-f16')) {
      console.log('    (skipped: the adapter has no shader-f16)');
      this.skip();
    }
    const failures = (await Promise.all(F16_CASES.map((c) => runCase(acquired!.device, c)))).flat();
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });
});
