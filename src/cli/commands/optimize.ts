/**
 * `kiln optimize IN OUT [-O level]`: optimizes a model and writes it as standard
 * ONNX (through onnx/export.ts, which expands Fused groups back into standard ops),
 * or in Kiln's .json format when OUT ends in .json (fused groups kept). Prints what
 * changed: node counts before and after, and the per-op histogram difference.
 */
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../../graph/errors.js';
import type { Graph } from '../../graph/graph.js';
import { fusedKind, isFused } from '../../graph/ops/fused.js';
import { exportOnnx, loadModel, optimizeModel, parseLevel, writeGraphFile } from '../io.js';
import { step } from '../progress.js';

/** Count of nodes per op type (Fused groups counted as `Fused:<kind>`). */
export function opHistogram(g: Graph): Map<string, number> {
  const h = new Map<string, number>();
  for (const n of g.nodes) {
    const key = isFused(n) ? `Fused:${fusedKind(n)}` : n.domain ? `${n.domain}::${n.op}` : n.op;
    h.set(key, (h.get(key) ?? 0) + 1);
  }
  return h;
}

/** Text report of what changed between two graphs: counts and the op histogram diff. */
export function changeReport(before: Graph, after: Graph): string {
  const a = opHistogram(before);
  const b = opHistogram(after);
  const ops = [...new Set([...a.keys(), ...b.keys()])].sort();
  const w = Math.max(4, ...ops.map((o) => o.length));
  const lines = [`nodes: ${before.nodes.length} → ${after.nodes.length} (${after.nodes.length - before.nodes.length >= 0 ? '+' : ''}${after.nodes.length - before.nodes.length})`,
    `initializers: ${before.initializers.size} → ${after.initializers.size}`, `${'op'.padEnd(w)}  before  after  change`];
  for (const op of ops) {
    const x = a.get(op) ?? 0;
    const y = b.get(op) ?? 0;
    if (x === y) continue;
    lines.push(`${op.padEnd(w)}  ${String(x).padStart(6)}  ${String(y).padStart(5)}  ${y - x > 0 ? '+' : ''}${y - x}`);
  }
  const same = ops.filter((op) => (a.get(op) ?? 0) === (b.get(op) ?? 0));
  if (same.length) lines.push(`unchanged: ${same.map((op) => `${op} ${a.get(op)}`).join(', ')}`);
  return lines.join('\n');
}

/** Registers `kiln optimize`. */
export function register(program: Command): void {
  program
    .command('optimize')
    .description('optimize a model and write it as standard ONNX (fused groups expanded), printing what changed')
    .argument('<in>', 'input model (.onnx, or .json in Kiln\'s format)')
    .argument('<out>', 'output model: .onnx (standard ONNX) or .json (Kiln\'s format, fused groups kept)')
    .option('-O <level>', 'optimization level 0, 1 or 2', '2')
    .addHelpText('after', '\nExample:\n  kiln optimize model.onnx model.opt.onnx -O2\n')
    .action(async (input: string, out: string, o: { O: string }) => {
      const level = parseLevel(o.O);
      const ext = extname(out).toLowerCase();
      if (ext !== '.onnx' && ext !== '.json') throw new InputError(`output '${out}': use a .onnx or .json file name`, out);
      const raw = await step(`loading ${input}`, () => loadModel(input), (g) => `${g.nodes.length} nodes`);
      const opt = await step(`optimizing -O${level}`, () => optimizeModel(raw, level), (r) => `${r.graph.nodes.length} nodes`);
      if (ext === '.json') writeGraphFile(out, opt.graph);
      else writeFileSync(out, await exportOnnx(opt.graph));
      process.stdout.write(`${changeReport(raw, opt.graph)}\nwrote ${out}\n`);
    });
}
