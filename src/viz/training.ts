/**
 * The training report's curves: a training log (src/train/model.ts, written by
 * fit() with `logPath`) read and checked, and drawn as inline SVG line charts —
 * loss and metrics per epoch (train and validation), loss, learning rate and time
 * per step, time per epoch. Every point's value is also kept on its polyline as
 * `data-values`, so the page can be checked against the log. The SVG is plain
 * markup (no script): `kiln viz --training` puts it in the viewer page's
 * "training" tab, beside the training-step graph.
 */
import { KilnError } from '../graph/errors.js';
import type { EpochLog, StepLog, TrainingLog } from '../train/model.js';

/** A file is not a training log Kiln can read: not JSON, another format, another version, or a field of the wrong type. */
export class TrainingLogError extends KilnError {
  constructor(message: string, where?: string) { super('BAD_TRAINING_LOG', message, where); }
}

/** The log version this Kiln reads. */
export const TRAINING_LOG_VERSION = 1;

function checkRows(rows: unknown, field: 'epochs' | 'steps', keys: readonly string[], optional: readonly string[], where: string): void {
  if (!Array.isArray(rows)) throw new TrainingLogError(`${where}: '${field}' must be an array`, where);
  rows.forEach((r: unknown, i) => {
    if (typeof r !== 'object' || r === null) throw new TrainingLogError(`${where}: ${field}[${i}] must be an object`, where);
    const o = r as Record<string, unknown>;
    for (const k of keys) if (typeof o[k] !== 'number') throw new TrainingLogError(`${where}: ${field}[${i}].${k} must be a number, not ${JSON.stringify(o[k]) ?? 'missing'}`, where);
    for (const k of optional) if (o[k] !== undefined && typeof o[k] !== 'number') throw new TrainingLogError(`${where}: ${field}[${i}].${k} must be a number`, where);
  });
}

/** Parses and checks a training log; `where` (the file name) goes into every message. */
export function parseTrainingLog(text: string, where: string): TrainingLog {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new TrainingLogError(`${where}: not valid JSON (truncated or not a training log): ${(e as Error).message}`, where);
  }
  if (typeof j !== 'object' || j === null || (j as { format?: unknown }).format !== 'kiln-training-log') {
    throw new TrainingLogError(`${where}: not a Kiln training log (expected "format": "kiln-training-log", written by fit() with logPath)`, where);
  }
  const log = j as Record<string, unknown>;
  if (log.version !== TRAINING_LOG_VERSION) throw new TrainingLogError(`${where}: training log version ${JSON.stringify(log.version)} is not supported (this Kiln reads version ${TRAINING_LOG_VERSION})`, where);
  checkRows(log.epochs, 'epochs', ['epoch', 'loss', 'lr', 'timeMs'], ['accuracy', 'valLoss', 'valAccuracy'], where);
  checkRows(log.steps, 'steps', ['step', 'epoch', 'loss', 'lr', 'timeMs'], [], where);
  const sg = log.stepGraph as Record<string, unknown> | undefined;
  if (sg !== undefined && (typeof sg !== 'object' || sg === null || typeof sg.graph !== 'string' || typeof sg.weights !== 'string' || typeof sg.phases !== 'object' || sg.phases === null)) {
    throw new TrainingLogError(`${where}: 'stepGraph' must hold graph, weights and phases`, where);
  }
  return j as TrainingLog;
}

/** One line of a chart. */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly xs: readonly number[];
  readonly ys: readonly number[];
}

const W = 520;
const H = 240;
const PAD = { l: 62, r: 12, t: 28, b: 34 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : Number(v.toPrecision(4)).toString();
}

/** One line chart as SVG markup: axes with min/max ticks, one polyline per series (with its values in data-values), a legend. */
export function lineChart(id: string, title: string, xLabel: string, series: readonly Series[]): string {
  const drawn = series.filter((s) => s.xs.length > 0);
  const xs = drawn.flatMap((s) => s.xs);
  const ys = drawn.flatMap((s) => s.ys).filter(Number.isFinite);
  const x0 = Math.min(...xs, 0); const x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys, Infinity); let y1 = Math.max(...ys, -Infinity);
  if (!ys.length) { y0 = 0; y1 = 1; }
  if (y1 - y0 < 1e-12) { y0 -= 0.5 * Math.abs(y0 || 1); y1 += 0.5 * Math.abs(y1 || 1); }
  const px = (x: number) => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const py = (y: number) => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  const parts: string[] = [`<svg class="chart" id="${esc(id)}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<text class="chart-title" x="${PAD.l}" y="16">${esc(title)}</text>`,
    `<rect x="${PAD.l}" y="${PAD.t}" width="${W - PAD.l - PAD.r}" height="${H - PAD.t - PAD.b}" fill="#fafafa" stroke="#cbd5e1"/>`];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(`<text class="tick" x="${PAD.l - 4}" y="${py(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
    const x = x0 + ((x1 - x0) * i) / 4;
    parts.push(`<text class="tick" x="${px(x)}" y="${H - PAD.b + 14}" text-anchor="middle">${fmt(x)}</text>`);
  }
  parts.push(`<text class="tick" x="${(PAD.l + W - PAD.r) / 2}" y="${H - 4}" text-anchor="middle">${esc(xLabel)}</text>`);
  drawn.forEach((s, k) => {
    const pts = s.xs.map((x, i) => `${px(x).toFixed(1)},${py(s.ys[i]!).toFixed(1)}`).join(' ');
    parts.push(`<polyline class="series" data-series="${esc(s.name)}" data-values="${s.ys.join(' ')}" points="${pts}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    if (s.xs.length <= 60) for (let i = 0; i < s.xs.length; i++) parts.push(`<circle cx="${px(s.xs[i]!).toFixed(1)}" cy="${py(s.ys[i]!).toFixed(1)}" r="2.5" fill="${s.color}"><title>${esc(`${s.name} at ${xLabel} ${s.xs[i]}: ${s.ys[i]}`)}</title></circle>`);
    parts.push(`<text class="legend" x="${W - PAD.r - 4}" y="${PAD.t + 14 + 14 * k}" text-anchor="end" fill="${s.color}">${esc(s.name)}</text>`);
  });
  if (!drawn.length) parts.push(`<text class="tick" x="${W / 2}" y="${H / 2}" text-anchor="middle">no data in the log</text>`);
  parts.push('</svg>');
  return parts.join('');
}

const TRAIN = '#2563eb';
const VAL = '#dc2626';

function epochSeries(epochs: readonly EpochLog[], name: string, color: string, pick: (e: EpochLog) => number | undefined): Series {
  const rows = epochs.filter((e) => pick(e) !== undefined);
  return { name, color, xs: rows.map((e) => e.epoch + 1), ys: rows.map((e) => pick(e)!) };
}

function stepSeries(steps: readonly StepLog[], name: string, pick: (s: StepLog) => number): Series {
  return { name, color: TRAIN, xs: steps.map((s) => s.step), ys: steps.map(pick) };
}

/** The report's curves as HTML: a summary line and the charts (loss, metrics, per-step loss, learning rate, step and epoch time). */
export function trainingCurvesHtml(log: TrainingLog): string {
  const e = log.epochs;
  const charts = [
    lineChart('chart-epoch-loss', 'loss per epoch', 'epoch', [epochSeries(e, 'train loss', TRAIN, (r) => r.loss), epochSeries(e, 'validation loss', VAL, (r) => r.valLoss)].filter((s) => s.xs.length)),
  ];
  if (e.some((r) => r.accuracy !== undefined || r.valAccuracy !== undefined)) {
    charts.push(lineChart('chart-epoch-accuracy', 'accuracy per epoch', 'epoch', [epochSeries(e, 'train accuracy', TRAIN, (r) => r.accuracy), epochSeries(e, 'validation accuracy', VAL, (r) => r.valAccuracy)].filter((s) => s.xs.length)));
  }
  charts.push(
    lineChart('chart-step-loss', 'loss per step', 'step', [stepSeries(log.steps, 'step loss', (s) => s.loss)]),
    lineChart('chart-step-lr', 'learning rate', 'step', [stepSeries(log.steps, 'learning rate', (s) => s.lr)]),
    lineChart('chart-step-time', 'time per step (ms)', 'step', [stepSeries(log.steps, 'step time ms', (s) => s.timeMs)]),
    lineChart('chart-epoch-time', 'time per epoch (ms)', 'epoch', [epochSeries(e, 'epoch time ms', TRAIN, (r) => r.timeMs)]),
  );
  const last = e.at(-1);
  const summary = `${log.model}: ${log.optimizer}, loss ${log.loss}, ${log.backend} backend; ${e.length} epoch${e.length === 1 ? '' : 's'}, ${log.steps.length} steps` +
    (last ? `; last epoch loss ${fmt(last.loss)}${last.accuracy !== undefined ? `, accuracy ${fmt(last.accuracy)}` : ''}${last.valLoss !== undefined ? `, validation loss ${fmt(last.valLoss)}` : ''}` : '');
  return `<p class="note">${esc(summary)}</p><div class="charts">${charts.join('\n')}</div>`;
}
