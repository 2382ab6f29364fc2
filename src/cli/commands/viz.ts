/**
 * `kiln viz MODEL [-O level] [--diff] [--profile] -o FILE.html|FILE.dot|FILE.svg`:
 * writes a visualization of the optimized graph. `.html` is the standalone viewer
 * (with --diff the graph before and after optimization side by side; with --profile
 * per-kernel times from one run on random inputs as a heat overlay and table);
 * `.dot` is Graphviz source; `.svg` is rendered by Graphviz `dot` when it is
 * installed (otherwise a clear message and exit code 2).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadGraph } from '../../graph/serialize.js';
import { basename, extname } from 'node:path';
import { Command, Option } from 'commander';
import { InputError } from '../../graph/errors.js';
import { BACKEND_NAMES, type BackendName } from '../../session/backends.js';
import { graphToDot, parseTrainingLog, renderHtml, renderSvg, trainingCurvesHtml, TrainingLogError, type HtmlPaneInput } from '../../viz/index.js';
import type { ProfileRow } from '../../viz/viewer/types.js';
import { loadModel, memoryView, optimizeModel, parseDims, parseLevel } from '../io.js';
import { step } from '../progress.js';
import { buildFeeds, compileFor } from './run.js';

const FORMATS = ['.html', '.dot', '.svg'];

interface VizOpts { training?: boolean; O: string; diff?: boolean; profile?: boolean; output: string; backend: BackendName; dim: string[] }

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Registers `kiln viz`. */
export function register(program: Command): void {
  program
    .command('viz')
    .description('write a visualization of a model: standalone HTML viewer, Graphviz DOT, or SVG')
    .argument('<model>', 'model file (.onnx, or .json in Kiln\'s format), or with --training a training log')
    .requiredOption('-o, --output <file>', 'output file: .html, .dot or .svg')
    .option('--training', 'the file is a training log (fit() with logPath): write the training report (.html) with its curves and the training-step graph')
    .option('-O <level>', 'optimization level 0, 1 or 2', '2')
    .option('--diff', 'HTML only: show the graph before and after optimization side by side')
    .option('--profile', 'HTML only: run once on random inputs and overlay per-kernel times')
    .addOption(new Option('--backend <name>', 'backend for --profile').choices(BACKEND_NAMES).default('webgpu'))
    .option('--dim <name=value>', 'size of a symbolic dim, for the memory plan and --profile inputs (repeatable)', collect, [])
    .addHelpText('after', '\nExamples:\n  kiln viz model.onnx -o graph.html --diff\n  kiln viz model.onnx -O0 -o graph.svg\n  kiln viz --training log.json -o report.html\n')
    .action(async (model: string, o: VizOpts) => {
      if (o.training) return trainingReport(model, o);
      const level = parseLevel(o.O);
      const ext = extname(o.output).toLowerCase();
      if (!FORMATS.includes(ext)) throw new InputError(`-o '${o.output}': unknown output type '${ext || '(none)'}' (use .html, .dot or .svg)`, o.output);
      if (ext !== '.html' && (o.diff || o.profile)) throw new InputError(`--diff and --profile need an .html output, not ${ext}`, o.output);
      const raw = await step(`loading ${model}`, () => loadModel(model), (g) => `${g.nodes.length} nodes`);
      const opt = await step(`optimizing -O${level}`, () => optimizeModel(raw, level), (r) => `${raw.nodes.length} → ${r.graph.nodes.length} nodes`);
      let profile: ProfileRow[] | undefined;
      if (o.profile) {
        const feeds = await buildFeeds(opt.graph, [], true, o.dim);
        const runner = await step(`compiling for ${o.backend}`, () => compileFor(opt.graph, o.backend, true), (r) => r.backend);
        try {
          await step('profiling one run', () => runner.run(feeds));
          profile = runner.profile();
        } finally {
          runner.release();
        }
      }
      if (ext === '.html') {
        const panes: HtmlPaneInput[] = [];
        if (o.diff) panes.push({ label: 'before (as loaded)', graph: raw });
        panes.push({ label: `after -O${level}`, graph: opt.graph, memory: memoryView(opt.graph, parseDims(o.dim)), ...(profile ? { profile } : {}) });
        const html = await step('writing HTML', () => renderHtml(raw.name || basename(model), panes));
        writeFileSync(o.output, html);
      } else {
        const dot = graphToDot(opt.graph);
        writeFileSync(o.output, ext === '.dot' ? dot : await step('rendering SVG with Graphviz', () => renderSvg(dot)));
      }
      process.stdout.write(`wrote ${o.output} (${opt.graph.nodes.length} nodes${o.diff ? `, before: ${raw.nodes.length}` : ''})\n`);
    });
}

/** `kiln viz --training LOG.json -o report.html`: the curves, and the step graph (forward / backward / update coloured) with its memory view when the log has it. */
async function trainingReport(file: string, o: VizOpts): Promise<void> {
  if (extname(o.output).toLowerCase() !== '.html') throw new InputError(`--training writes an .html report, not '${o.output}'`, o.output);
  if (!existsSync(file)) throw new InputError(`training log '${file}' does not exist`, file);
  const log = parseTrainingLog(readFileSync(file, 'utf8'), file);
  const panes: HtmlPaneInput[] = [];
  if (log.stepGraph) {
    let graph;
    try {
      graph = loadGraph(log.stepGraph.graph, new Uint8Array(Buffer.from(log.stepGraph.weights, 'base64')));
    } catch (e) {
      throw new TrainingLogError(`${file}: stepGraph: ${(e as Error).message}`, file);
    }
    panes.push({ label: 'training step', graph, memory: memoryView(graph, new Map(Object.entries(log.stepGraph.dims ?? {}))), phases: log.stepGraph.phases });
  }
  const html = await renderHtml(`${log.model} training`, panes, [{ id: 'training', label: 'training', html: trainingCurvesHtml(log) }]);
  writeFileSync(o.output, html);
  process.stdout.write(`wrote ${o.output} (${log.epochs.length} epochs, ${log.steps.length} steps${panes.length ? `, step graph ${panes[0]!.graph.nodes.length} nodes` : ''})\n`);
}
