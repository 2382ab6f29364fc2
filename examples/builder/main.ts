/**
 * The builder example page: builds a small MLP with the builder API, runs it on
 * WebGPU (CPU when the browser has no adapter, with a notice), checks it against
 * Kiln's CPU backend, and lists the WGSL of every kernel (`session.shaders`).
 * Publishes `window.kilnBuilder` for tests.
 */
import { InferenceSession } from '../../src/index.js';
import { buildGraph, exampleInput } from './graph.js';

/** What the page publishes on `window.kilnBuilder`. */
export interface BuilderResult {
  state: 'running' | 'done' | 'error';
  backend?: string;
  output?: number[];
  shape?: number[];
  shaders?: string[];
  maxAbsDiffVsCpu?: number;
  error?: string;
}

declare global {
  interface Window { kilnBuilder: BuilderResult }
}

const $ = (id: string): HTMLElement => document.getElementById(id)!;
const result: BuilderResult = { state: 'running' };
window.kilnBuilder = result;

async function main(): Promise<void> {
  const x = exampleInput();
  const session = await InferenceSession.create(buildGraph(), {
    onNotice: (m) => { $('notice').textContent = m; $('notice').hidden = false; },
  });
  const cpu = await InferenceSession.create(buildGraph(), { backend: 'cpu' });
  const t0 = performance.now();
  const out = (await session.run({ x })).probs!;
  const ms = performance.now() - t0;
  const ref = (await cpu.run({ x })).probs!;
  let diff = 0;
  for (let i = 0; i < ref.data.length; i++) diff = Math.max(diff, Math.abs(out.data[i]! - ref.data[i]!));
  Object.assign(result, { backend: session.backend, output: Array.from(out.data), shape: [...out.shape], shaders: [...session.shaders], maxAbsDiffVsCpu: diff });
  $('backend').textContent = session.backend;
  $('summary').textContent = `probs ${JSON.stringify(out.shape)} in ${ms.toFixed(1)} ms; max |${session.backend} − cpu| = ${diff.toExponential(2)}`;
  const rows: string[] = [];
  for (let r = 0; r < out.shape[0]!; r++) rows.push(Array.from(out.data.slice(r * 4, r * 4 + 4), (v) => v.toFixed(5)).join('  '));
  $('output').textContent = rows.join('\n');
  $('count').textContent = session.shaders.length ? String(session.shaders.length) : 'none: the CPU backend has no';
  $('shaders').replaceChildren(
    ...session.shaders.map((wgsl, i) => {
      const d = document.createElement('details');
      if (i === 0) d.open = true;
      const s = document.createElement('summary');
      s.textContent = `kernel ${i + 1} (${wgsl.split('\n').length} lines of WGSL)`;
      const pre = document.createElement('pre');
      pre.textContent = wgsl;
      d.append(s, pre);
      return d;
    }),
  );
  session.release();
  cpu.release();
  result.state = 'done';
}

main().catch((e: unknown) => {
  result.state = 'error';
  result.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  $('error').textContent = result.error;
  $('error').hidden = false;
});
