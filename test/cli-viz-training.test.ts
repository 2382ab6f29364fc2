/**
 * `kiln viz --training`: a short real fit() on the CPU backend writes a training log
 * (with the step graph); the report has one polyline per curve with the log's
 * values, the step graph with forward, backward and update nodes, and its memory
 * view; bad logs are typed errors with exit 2.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dense, sequential } from '../src/graph/layers.js';
import { Tensor } from '../src/graph/tensor.js';
import { Model, type TrainingLog } from '../src/train/model.js';
import { sgd } from '../src/train/optimizers.js';
import { kiln, tempDir } from './cli-helpers.js';

/** data-values of the polyline `series` in chart `chart`. */
function values(page: string, chart: string, series: string): number[] {
  const svg = new RegExp(`<svg class="chart" id="${chart}"[\\s\\S]*?</svg>`).exec(page);
  expect(svg, chart).to.not.equal(null);
  const m = new RegExp(`data-series="${series}" data-values="([^"]*)" points="([^"]*)"`).exec(svg![0]);
  expect(m, `${chart} ${series}`).to.not.equal(null);
  expect(m![2]!.split(' ').length).to.equal(m![1]!.split(' ').length);
  return m![1]!.split(' ').map(Number);
}

describe('cli: kiln viz --training', function () {
  this.timeout(120_000);
  const dir = tempDir('viz-training');
  const logFile = join(dir, 'log.json');
  let log: TrainingLog;

  before(async () => {
    const n = 24;
    const x = new Tensor('float32', [n, 4]);
    const y = new Tensor('int32', [n]);
    for (let i = 0; i < n; i++) { y.data[i] = i % 3; for (let j = 0; j < 4; j++) x.data[i * 4 + j] = (j === i % 3 ? 2 : 0) + ((i * 7 + j * 3) % 5) / 10; }
    const m = new Model(sequential(dense(6, { activation: 'relu', seed: 1 }), dense(3, { seed: 2 })), { inputShape: [4], name: 'tiny' });
    m.compile({ optimizer: sgd({ lr: 0.1 }), loss: 'softmaxCrossEntropy', metrics: ['accuracy'], backend: 'cpu' });
    log = await m.fit(x, y, { epochs: 3, batchSize: 6, validationSplit: 0.25, logPath: logFile, logGraph: true });
    m.release();
  });

  it('writes the report: curves with the log values, the step graph in three phases, its memory view', async () => {
    const out = join(dir, 'report.html');
    const r = await kiln(['viz', '--training', logFile, '-o', out]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/wrote .*report\.html \(3 epochs, 9 steps, step graph \d+ nodes\)/);
    const page = readFileSync(out, 'utf8');
    expect(log.steps.length).to.equal(9);
    expect(values(page, 'chart-epoch-loss', 'train loss')).to.deep.equal(log.epochs.map((e) => e.loss));
    expect(values(page, 'chart-epoch-loss', 'validation loss')).to.deep.equal(log.epochs.map((e) => e.valLoss));
    expect(values(page, 'chart-epoch-accuracy', 'train accuracy')).to.deep.equal(log.epochs.map((e) => e.accuracy));
    expect(values(page, 'chart-epoch-accuracy', 'validation accuracy')).to.deep.equal(log.epochs.map((e) => e.valAccuracy));
    expect(values(page, 'chart-step-loss', 'step loss')).to.deep.equal(log.steps.map((s) => s.loss));
    expect(values(page, 'chart-step-lr', 'learning rate')).to.deep.equal(log.steps.map((s) => s.lr));
    expect(values(page, 'chart-step-time', 'step time ms')).to.deep.equal(log.steps.map((s) => s.timeMs));
    expect(values(page, 'chart-epoch-time', 'epoch time ms')).to.deep.equal(log.epochs.map((e) => e.timeMs));
    expect(page).not.to.match(/<script src=|https?:\/\/(?!www\.w3\.org)/);
    const data = JSON.parse(/<script type="application\/json" id="kiln-data">(.*?)<\/script>/s.exec(page)![1]!) as {
      panes: { label: string; graph: { nodes: { name: string; kind: string }[] }; phases: Record<string, string>; memory: { steps: string[]; buffers: unknown[] } }[];
    };
    const pane = data.panes[0]!;
    const ops = pane.graph.nodes.filter((n) => n.kind === 'op');
    const byPhase = new Map<string, string[]>();
    for (const n of ops) byPhase.set(pane.phases[n.name]!, [...(byPhase.get(pane.phases[n.name]!) ?? []), n.name]);
    expect([...byPhase.keys()].sort()).to.deep.equal(['backward', 'forward', 'update']);
    expect(byPhase.get('forward')!.length).to.be.greaterThan(2);
    expect(byPhase.get('backward')!.length).to.be.greaterThan(2);
    expect(pane.memory.steps.length).to.be.greaterThan(5);
    expect(pane.memory.buffers.length).to.be.greaterThan(0);
    expect(page).to.contain('<option value="phase">');
  });

  it('bad logs: not a log, wrong version, truncated JSON, bad field → exit 2 with a clear message', async () => {
    const text = readFileSync(logFile, 'utf8');
    const files: [string, string, RegExp][] = [
      ['notlog.json', JSON.stringify({ format: 'kiln-graph', version: 1 }), /notlog\.json: not a Kiln training log/],
      ['v9.json', JSON.stringify({ ...JSON.parse(text), version: 9 }), /v9\.json: training log version 9 is not supported \(this Kiln reads version 1\)/],
      ['cut.json', text.slice(0, Math.floor(text.length / 2)), /cut\.json: not valid JSON \(truncated/],
      ['field.json', JSON.stringify({ ...JSON.parse(text), steps: [{ step: 0, epoch: 0, loss: 'x', lr: 0.1, timeMs: 1 }] }), /field\.json: steps\[0\]\.loss must be a number/],
    ];
    for (const [f, body] of files) writeFileSync(join(dir, f), body);
    const results = await Promise.all(files.map(([f]) => kiln(['viz', '--training', join(dir, f), '-o', join(dir, `${f}.html`)])));
    results.forEach((r, i) => {
      expect(r.stderr, files[i]![0]).to.match(files[i]![2]);
      expect(r.code, r.stderr).to.equal(2);
    });
    const wrongExt = await kiln(['viz', '--training', logFile, '-o', join(dir, 'x.svg')]);
    expect(wrongExt.code).to.equal(2);
    expect(wrongExt.stderr).to.match(/--training writes an \.html report/);
  });
});
