/**
 * Report formats for benchmark results: a markdown table (one row per case and
 * runtime, then the ratios Kiln ÷ ONNX Runtime Web), an SVG bar chart of the ratios
 * per model (log scale, a line at 1), and a per-kernel profile table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { CaseResult, RuntimeSummary } from './harness.js';
import type { ProfileEntry } from './worker.js';

const fmt = (v: number | undefined, digits = 1): string => (v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(digits));
const mib = (b: number | undefined): string => (b === undefined ? '–' : (b / 2 ** 20).toFixed(1));
const sci = (v: number | undefined): string => (v === undefined ? '–' : v === 0 ? '0' : v.toExponential(1));
const ratio = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(2));

function row(model: string, name: string, s: RuntimeSummary): string {
  if (s.error) return `| ${model} | ${name} | failed: ${s.error.replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 120)} |||||||||||`;
  const w = s.warm;
  return `| ${model} | ${name} | ${fmt(w?.median, 2)} | ${fmt(w?.min, 2)}–${fmt(w?.max, 2)} | ${fmt(s.cpuMedianMs, 2)} | ${fmt(s.coldMs, 0)} | ${fmt(s.pipelineMs, 0)} | ${mib(s.peakBytes)} | ${s.dispatches ?? '–'} | ${s.pipelines ?? '–'} | ${fmt(s.gflops, 2)} | ${sci(s.maxAbsDiffVsKiln)} | ${sci(s.maxAbsDiffVsExpected)} |`;
}

/** The markdown tables: per-runtime numbers, then ratios Kiln ÷ peer. */
export function markdownTable(results: readonly CaseResult[]): string {
  const lines = [
    '| model | runtime | warm median ms | min–max ms | CPU ms/run | cold ms | of which pipeline creation ms | peak GPU MiB | dispatches | pipelines | GFLOP/s | max abs diff vs Kiln | vs expected |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(row(r.model, `**kiln** (${r.kiln.runtime.replace('kiln-', '')})`, r.kiln));
    for (const [p, s] of Object.entries(r.peers)) lines.push(row(r.model, p, s));
  }
  const peers = [...new Set(results.flatMap((r) => Object.keys(r.ratiosByPeer)))];
  lines.push('', `Ratios Kiln ÷ peer (< 1 is better for Kiln): warm median / cold start / peak GPU bytes / dispatches / CPU time per warm run.`, '');
  lines.push(`| model | ${peers.join(' | ')} |`, `|---|${peers.map(() => '---').join('|')}|`);
  for (const r of results) {
    const cells = peers.map((p) => {
      const q = r.ratiosByPeer[p];
      if (!q || r.peers[p]?.error || r.kiln.error) return '–';
      return [q.warm, q.cold, q.peakBytes, q.dispatches, q.warmCpu].map(ratio).join(' / ');
    });
    lines.push(`| ${r.model} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Top kernels of a profile, summed by dispatch label, as a markdown table. */
export function profileTable(profile: readonly ProfileEntry[], top = 15): string {
  const total = profile.reduce((s, e) => s + e.ms, 0);
  const byOp = new Map<string, number>();
  for (const e of profile) byOp.set(e.op, (byOp.get(e.op) ?? 0) + e.ms);
  const lines = [`${profile.length} dispatches, ${total.toFixed(2)} ms of GPU time in one run.`, '', '| kernel (node) | op | label | ms | % |', '|---|---|---|---:|---:|'];
  for (const e of [...profile].sort((a, b) => b.ms - a.ms).slice(0, top)) {
    lines.push(`| ${e.node} | ${e.op} | ${e.label} | ${e.ms.toFixed(3)} | ${total ? ((100 * e.ms) / total).toFixed(1) : '0'} |`);
  }
  lines.push('', '| op (all dispatches) | ms | % |', '|---|---:|---:|');
  for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1])) lines.push(`| ${op} | ${ms.toFixed(3)} | ${total ? ((100 * ms) / total).toFixed(1) : '0'} |`);
  return lines.join('\n');
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * An SVG bar chart: for each model, four bars (warm, cold, peak bytes, dispatches),
 * the ratio Kiln ÷ the ratios' peer on a log2 axis from 1/16 to 16, with a line at 1.
 */
export function svgChart(results: readonly CaseResult[], title: string): string {
  const keys = ['warm', 'cold', 'peakBytes', 'dispatches'] as const;
  const colors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
  const rows = results.filter((r) => Object.keys(r.ratios).length);
  const groupW = 100;
  const barW = 18;
  const left = 60;
  const top = 50;
  const h = 300;
  const width = left + rows.length * groupW + 20;
  const lo = -4;
  const hi = 4;
  const y = (v: number): number => top + ((hi - Math.max(lo, Math.min(hi, Math.log2(v)))) / (hi - lo)) * h;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.max(width, 480)}" height="${top + h + 80}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="20" font-size="14">${escapeXml(title)}</text>`,
  ];
  keys.forEach((k, i) => {
    out.push(`<rect x="${left + i * 110}" y="30" width="10" height="10" fill="${colors[i]}"/><text x="${left + i * 110 + 14}" y="39">${k}</text>`);
  });
  for (let e = lo; e <= hi; e++) {
    const v = 2 ** e;
    out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="${e === 0 ? '#000' : '#ddd'}" stroke-width="${e === 0 ? 1.5 : 1}"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${e >= 0 ? v : `1/${2 ** -e}`}</text>`);
  }
  rows.forEach((r, g) => {
    const x0 = left + g * groupW + 10;
    keys.forEach((k, i) => {
      const v = r.ratios[k];
      if (v === undefined || !Number.isFinite(v) || v <= 0) return;
      const y1 = Math.min(y(v), y(1));
      const hh = Math.abs(y(v) - y(1));
      out.push(`<rect x="${x0 + i * barW}" y="${y1}" width="${barW - 2}" height="${Math.max(hh, 1)}" fill="${colors[i]}"><title>${escapeXml(`${r.model} ${k}: ${v.toFixed(3)}`)}</title></rect>`);
    });
    out.push(`<text x="${x0 + 2 * barW}" y="${top + h + 16}" text-anchor="end" transform="rotate(-30 ${x0 + 2 * barW} ${top + h + 16})">${escapeXml(r.model)}</text>`);
  });
  out.push(`<text x="12" y="${top + h / 2}" transform="rotate(-90 12 ${top + h / 2})" text-anchor="middle">Kiln ÷ ${escapeXml(rows[0]?.ratiosAgainst ?? 'peer')} (log scale)</text>`);
  out.push('</svg>');
  return out.join('\n');
}

/** Replaces the README text between the bench markers with `block`; false when the markers are missing. */
export function syncReadme(file: string, block: string): boolean {
  const text = readFileSync(file, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return false;
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${block}\n${text.slice(b)}`);
  return true;
}
