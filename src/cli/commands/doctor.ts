/**
 * `kiln doctor [--json]`: is WebGPU usable here? Prints the adapter, its features
 * and limits, and runs a test graph (Add + Relu with broadcasting, through the
 * full compiler) on the GPU, comparing it with the CPU reference.
 *
 * Exit codes: 0 when WebGPU works; 4 when it does not, with the reason. Without
 * WebGPU, Kiln's commands fall back to the wasm backend on the CPU (slower).
 */
import type { Command } from 'commander';
import { compileCpu } from '../../backends/cpu/index.js';
import { requestDevice, RAISED_LIMITS, type GpuInfo } from '../../backends/webgpu/device.js';
import { compileWebGpu } from '../../backends/webgpu/index.js';
import { GraphBuilder } from '../../graph/builder.js';
import '../../graph/ops/index.js';
import { Tensor } from '../../graph/tensor.js';
import { EXIT } from '../exit-codes.js';

/** What `kiln doctor` found (also its `--json` output). */
export interface DoctorReport {
  /** True when a device was created and the test graph gave the CPU's result. */
  readonly ok: boolean;
  /** Why WebGPU is not usable (when `ok` is false). */
  readonly reason?: string;
  readonly adapter?: GpuInfo;
  readonly features?: string[];
  readonly limits?: Record<string, number>;
  /** Milliseconds to compile the test graph (pipelines included) and to run it once. */
  readonly compileMs?: number;
  readonly runMs?: number;
}

/** Limits shown by doctor besides the raised ones. */
const SHOWN_LIMITS = [...RAISED_LIMITS, 'maxComputeWorkgroupsPerDimension', 'maxUniformBufferBindingSize', 'maxBindGroups'] as const;

/** Checks WebGPU: adapter, features, limits, and a test shader run through the compiler. */
export async function doctorReport(): Promise<DoctorReport> {
  let acquired;
  try {
    acquired = await requestDevice({ label: 'kiln-doctor' });
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const { device, info, features } = acquired;
  const l = device.limits as unknown as Record<string, number>;
  const limits = Object.fromEntries(SHOWN_LIMITS.filter((k) => typeof l[k] === 'number').map((k) => [k, l[k]!]));
  const base = { adapter: info, features, limits };
  try {
    const b = new GraphBuilder('doctor');
    const x = b.input('x', 'float32', [4, 3]);
    b.output(b.Relu(b.Add([x, b.constant([1, -2, 0.5])])), 'y');
    const g = b.build();
    const feed = Tensor.from('float32', [4, 3], Array.from({ length: 12 }, (_, i) => i - 6));
    const t0 = performance.now();
    const prog = await compileWebGpu(g, { device });
    const t1 = performance.now();
    const got = (await prog.run({ x: feed })).y as Tensor;
    const t2 = performance.now();
    const want = compileCpu(g).run({ x: feed }).y!;
    const same = got.size === want.size && want.toArray().every((v, i) => v === got.data[i]);
    prog.release();
    const timing = { compileMs: Math.round(t1 - t0), runMs: Math.round(t2 - t1) };
    if (!same) return { ok: false, reason: `the test shader ran but gave [${got.toArray().join(', ')}], expected [${want.toArray().join(', ')}]`, ...base, ...timing };
    return { ok: true, ...base, ...timing };
  } catch (e) {
    return { ok: false, reason: `the test shader failed: ${(e as Error).message}`, ...base };
  } finally {
    device.destroy();
  }
}

/** Formats the report for people. */
export function formatDoctor(r: DoctorReport): string {
  const lines: string[] = [];
  if (r.adapter) {
    const a = r.adapter;
    lines.push(`adapter:   ${a.description || a.device || '(no description)'}`);
    lines.push(`           vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}${a.isFallbackAdapter ? ', software (fallback adapter)' : ''}`);
    lines.push(`features:  ${r.features?.length ? r.features.join(', ') : '(none)'}`);
    lines.push('limits:');
    for (const [k, v] of Object.entries(r.limits ?? {})) lines.push(`  ${k.padEnd(36)} ${v}`);
  }
  if (r.ok) {
    lines.push(`test shader: ok (compile ${r.compileMs} ms, run ${r.runMs} ms)`);
    lines.push('WebGPU works.');
  } else {
    lines.push(`WebGPU is not usable: ${r.reason}`);
    lines.push('Kiln will use the CPU backend instead (correct but slower).');
  }
  return lines.join('\n');
}

/** Registers `kiln doctor`. */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('check WebGPU: adapter, features, limits, and a test shader (exit 0 if it works, 4 if not)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const r = await doctorReport();
      process.stdout.write(`${opts.json ? JSON.stringify(r, null, 2) : formatDoctor(r)}\n`);
      process.exitCode = r.ok ? EXIT.ok : EXIT.internal;
    });
}
