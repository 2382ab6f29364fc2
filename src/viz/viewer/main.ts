/**
 * The HTML viewer's script (bundled into the page by html.ts). It reads the JSON
 * data block, draws each pane's laid-out graph as SVG, and wires pan/zoom, search,
 * node details, fusion/heat coloring, the memory view and the profile table.
 *
 * Every model string reaches the DOM through `textContent` or `setAttribute` on
 * elements made with createElement — never through innerHTML.
 */
import type { PlacedGraph, PlacedNode } from '../layout.js';
import type { MemoryView } from '../memory.js';
import type { ProfileRow, ViewerDoc, ViewerPane } from './types.js';

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag: string, attrs: Record<string, string | number> = {}): SVGElement {
  const e = document.createElementNS(SVG, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function svgText(x: number, y: number, text: string, cls: string): SVGElement {
  const t = svgEl('text', { x, y, class: cls, 'text-anchor': 'middle' });
  t.textContent = text;
  return t;
}

function groupColor(i: number): string {
  return `hsl(${(i * 47) % 360}, 70%, 86%)`;
}

function heatColor(t: number): string {
  return `hsl(${Math.round(50 - 50 * t)}, 90%, ${Math.round(94 - 30 * t)}%)`;
}

function fmtBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

interface PaneView {
  pane: ViewerPane;
  svg: SVGSVGElement;
  root: SVGGElement;
  nodes: Map<string, SVGElement>;
  view: { x: number; y: number; k: number };
  ms: Map<string, number>;
  /** The overview's viewport rectangle (the part of the graph on screen). */
  lens: SVGRectElement;
  /** Graph units per overview pixel. */
  overviewScale: number;
}

/**
 * The smallest zoom at which node labels (11 px) stay readable. A graph that fits
 * the pane at this zoom or more opens fitted; a larger one opens at 100 % at its
 * top (its inputs), as Netron does, with the overview to find the rest.
 */
const READABLE_ZOOM = 0.75;
/** Overview size in pixels (at most). */
const OVERVIEW_W = 180;
const OVERVIEW_H = 260;

const doc = JSON.parse(document.getElementById('kiln-data')!.textContent!) as ViewerDoc;
const details = document.getElementById('details')!;
const panesEl = document.getElementById('panes')!;
const views: PaneView[] = [];
let colorMode: 'fusion' | 'heat' | 'phase' = doc.panes.some((p) => p.phases) ? 'phase' : 'fusion';
/** Fills of the training-step phases. */
const PHASE_COLORS: Record<string, string> = { forward: '#bfdbfe', backward: '#fecaca', update: '#bbf7d0' };

document.getElementById('title')!.textContent = doc.title;
document.title = `${doc.title} — Kiln`;

function applyView(v: PaneView): void {
  v.root.setAttribute('transform', `translate(${v.view.x},${v.view.y}) scale(${v.view.k})`);
  const r = v.svg.getBoundingClientRect();
  const s = v.overviewScale;
  v.lens.setAttribute('x', String(-v.view.x / v.view.k / s));
  v.lens.setAttribute('y', String(-v.view.y / v.view.k / s));
  v.lens.setAttribute('width', String(r.width / v.view.k / s));
  v.lens.setAttribute('height', String(r.height / v.view.k / s));
}

/** The zoom at which the whole graph fits the pane. */
function fitZoom(v: PaneView): number {
  const r = v.svg.getBoundingClientRect();
  const g = v.pane.graph;
  return Math.min(r.width / Math.max(g.width, 1), r.height / Math.max(g.height, 1), 1.5) * 0.95;
}

function fit(v: PaneView): void {
  const r = v.svg.getBoundingClientRect();
  const g = v.pane.graph;
  const k = fitZoom(v);
  v.view = { k, x: (r.width - g.width * k) / 2, y: Math.max(4, (r.height - g.height * k) / 2) };
  applyView(v);
}

/** Opening view: fitted if labels stay readable, else 100 % at the graph's top. */
function openView(v: PaneView): void {
  if (fitZoom(v) >= READABLE_ZOOM) { fit(v); return; }
  const r = v.svg.getBoundingClientRect();
  const g = v.pane.graph;
  const top = g.nodes.reduce<PlacedNode | undefined>((a, n) => (!a || n.y < a.y ? n : a), undefined);
  const k = 1;
  const cx = g.width * k <= r.width ? g.width / 2 : (top?.x ?? g.width / 2);
  v.view = { k, x: r.width / 2 - cx * k, y: 8 - ((top ? top.y - top.h / 2 : 0) - 12) * k };
  applyView(v);
}

/** Centers the view on a graph point, keeping the zoom. */
function lookAt(v: PaneView, gx: number, gy: number): void {
  const r = v.svg.getBoundingClientRect();
  v.view.x = r.width / 2 - gx * v.view.k;
  v.view.y = r.height / 2 - gy * v.view.k;
  applyView(v);
}

/**
 * The overview: the whole graph in miniature (boxes and clusters, no text) in the
 * pane's corner, with the on-screen part as a rectangle; click or drag in it to move.
 */
function drawOverview(box: HTMLElement, g: PlacedGraph): { lens: SVGRectElement; scale: number } {
  const scale = Math.max(g.width / OVERVIEW_W, g.height / OVERVIEW_H, 1e-6);
  const w = Math.max(20, Math.round(g.width / scale));
  const h = Math.max(20, Math.round(g.height / scale));
  const svg = svgEl('svg', { class: 'overview', width: w, height: h, viewBox: `0 0 ${w} ${h}` }) as SVGSVGElement;
  const title = svgEl('title');
  title.textContent = 'overview: click or drag to move';
  svg.appendChild(title);
  for (const c of g.clusters) {
    svg.appendChild(svgEl('rect', { x: (c.x - c.w / 2) / scale, y: (c.y - c.h / 2) / scale, width: c.w / scale, height: c.h / scale, class: 'ov-cluster' }));
  }
  for (const n of g.nodes) {
    svg.appendChild(svgEl('rect', { x: (n.x - n.w / 2) / scale, y: (n.y - n.h / 2) / scale, width: Math.max(1, n.w / scale), height: Math.max(1, n.h / scale), class: `ov-node ${n.kind}` }));
  }
  const lens = svgEl('rect', { class: 'ov-lens', x: 0, y: 0, width: w, height: h }) as SVGRectElement;
  svg.appendChild(lens);
  box.appendChild(svg);
  return { lens, scale };
}

function wireOverview(v: PaneView): void {
  const svg = v.lens.ownerSVGElement!;
  let dragging = false;
  const move = (ev: MouseEvent): void => {
    // Screen → overview units through the element's own transform (border, viewBox).
    const m = svg.getScreenCTM();
    if (!m) return;
    const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
    lookAt(v, p.x * v.overviewScale, p.y * v.overviewScale);
  };
  svg.addEventListener('mousedown', (ev) => { ev.stopPropagation(); ev.preventDefault(); dragging = true; move(ev); });
  window.addEventListener('mousemove', (ev) => { if (dragging) move(ev); });
  window.addEventListener('mouseup', () => { dragging = false; });
}

function centerOn(v: PaneView, n: PlacedNode): void {
  const r = v.svg.getBoundingClientRect();
  v.view.k = Math.max(v.view.k, 1);
  v.view.x = r.width / 2 - n.x * v.view.k;
  v.view.y = r.height / 2 - n.y * v.view.k;
  applyView(v);
}

function row(table: HTMLTableElement, cells: string[], header = false): void {
  const tr = el('tr');
  for (const c of cells) tr.appendChild(el(header ? 'th' : 'td', undefined, c));
  table.appendChild(tr);
}

function showDetails(v: PaneView, n: PlacedNode): void {
  details.replaceChildren();
  details.appendChild(el('h2', undefined, n.name));
  details.appendChild(el('div', 'op', n.domain ? `${n.domain}::${n.op}` : n.op));
  if (n.group) details.appendChild(el('div', 'kernel', `fused kernel: ${n.group} (${n.groupKind ?? 'fused'})`));
  const ms = v.ms.get(n.name) ?? (n.group ? v.ms.get(n.group) : undefined);
  if (ms !== undefined) details.appendChild(el('div', 'time', `time: ${ms.toFixed(3)} ms${n.group ? ' (whole kernel)' : ''}`));
  const ports = (title: string, list: PlacedNode['inputs']): void => {
    if (!list.length) return;
    details.appendChild(el('h3', undefined, title));
    const t = el('table', 'ports');
    row(t, ['name', 'dtype', 'shape'], true);
    for (const p of list) row(t, [p.name, p.dtype, p.shape]);
    details.appendChild(t);
  };
  ports('inputs', n.inputs);
  ports('outputs', n.outputs);
  ports('weights (collapsed)', n.weights);
  if (n.attrs.length) {
    details.appendChild(el('h3', undefined, 'attributes'));
    const t = el('table', 'attrs');
    for (const [k, val] of n.attrs) row(t, [k, val]);
    details.appendChild(t);
  }
}

function drawGraph(v: PaneView, g: PlacedGraph): void {
  const groups = new Map<string, number>();
  g.clusters.forEach((c, i) => {
    groups.set(c.name, i);
    const r = svgEl('rect', { x: c.x - c.w / 2, y: c.y - c.h / 2, width: c.w, height: c.h, rx: 8, class: 'cluster', fill: groupColor(i) });
    const title = svgEl('title');
    title.textContent = `${c.name} (${c.kind})`;
    r.appendChild(title);
    v.root.appendChild(r);
    v.root.appendChild(svgText(c.x, c.y - c.h / 2 + 12, `${c.name} · ${c.kind}`, 'cluster-label'));
  });
  const edges = svgEl('g', { class: 'edges' });
  for (const e of g.edges) {
    if (!e.points.length) continue;
    const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' ');
    const path = svgEl('path', { d, class: 'edge', 'marker-end': 'url(#arrow)' });
    const title = svgEl('title');
    title.textContent = `${e.value}: ${e.label}`;
    path.appendChild(title);
    edges.appendChild(path);
  }
  v.root.appendChild(edges);
  for (const n of g.nodes) {
    const gEl = svgEl('g', { class: `node ${n.kind}`, 'data-id': n.id, transform: `translate(${n.x - n.w / 2},${n.y - n.h / 2})` });
    const group = n.group !== undefined ? groups.get(n.group) : undefined;
    const rect = svgEl('rect', { width: n.w, height: n.h, rx: n.kind === 'op' ? 5 : 18, class: 'box' });
    if (group !== undefined) rect.setAttribute('data-group-color', groupColor(group));
    gEl.appendChild(rect);
    gEl.appendChild(svgText(n.w / 2, 16, n.kind === 'op' ? n.op : `${n.op}: ${n.name}`, 'label'));
    gEl.appendChild(svgText(n.w / 2, 31, n.shape + (n.weights.length ? ` +${n.weights.length}w` : ''), 'shape'));
    const title = svgEl('title');
    title.textContent = n.name;
    gEl.appendChild(title);
    gEl.addEventListener('click', (ev) => {
      ev.stopPropagation();
      for (const o of views) for (const x of o.nodes.values()) x.classList.remove('selected');
      gEl.classList.add('selected');
      showDetails(v, n);
    });
    v.nodes.set(n.id, gEl);
    v.root.appendChild(gEl);
  }
}

function recolor(): void {
  for (const v of views) {
    const max = Math.max(0, ...v.ms.values());
    for (const n of v.pane.graph.nodes) {
      const rect = v.nodes.get(n.id)?.querySelector('rect');
      if (!rect) continue;
      let fill = n.kind === 'op' ? '#ffffff' : '#e5e7eb';
      if (colorMode === 'fusion') fill = rect.getAttribute('data-group-color') ?? fill;
      else if (colorMode === 'phase') {
        const ph = v.pane.phases?.[n.name];
        if (ph) { fill = PHASE_COLORS[ph] ?? fill; rect.setAttribute('data-phase', ph); }
      } else {
        const ms = v.ms.get(n.name) ?? (n.group ? v.ms.get(n.group) : undefined);
        if (ms !== undefined && max > 0) fill = heatColor(ms / max);
      }
      rect.setAttribute('fill', fill);
    }
  }
}

function wirePanZoom(v: PaneView): void {
  let drag: { x: number; y: number } | undefined;
  v.svg.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = v.svg.getBoundingClientRect();
    const mx = ev.clientX - r.left;
    const my = ev.clientY - r.top;
    const f = Math.exp(-ev.deltaY * 0.0015);
    const k = Math.min(8, Math.max(0.02, v.view.k * f));
    v.view.x = mx - ((mx - v.view.x) * k) / v.view.k;
    v.view.y = my - ((my - v.view.y) * k) / v.view.k;
    v.view.k = k;
    applyView(v);
  }, { passive: false });
  v.svg.addEventListener('mousedown', (ev) => { drag = { x: ev.clientX - v.view.x, y: ev.clientY - v.view.y }; });
  window.addEventListener('mousemove', (ev) => {
    if (!drag) return;
    v.view.x = ev.clientX - drag.x;
    v.view.y = ev.clientY - drag.y;
    applyView(v);
  });
  window.addEventListener('mouseup', () => { drag = undefined; });
}

function makePane(pane: ViewerPane): PaneView {
  const box = el('section', 'pane');
  box.appendChild(el('div', 'pane-label', `${pane.label} — ${pane.graph.nodes.filter((n) => n.kind === 'op').length} nodes` +
    (pane.graph.collapsed ? ` (${pane.graph.collapsed} constants collapsed)` : '') +
    (pane.graph.clusters.length ? `, ${pane.graph.clusters.length} fused kernels` : '')));
  const svg = svgEl('svg', { class: 'graph' }) as SVGSVGElement;
  const defs = svgEl('defs');
  const marker = svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' });
  marker.appendChild(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#64748b' }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const root = svgEl('g') as SVGGElement;
  svg.appendChild(root);
  const stage = el('div', 'stage');
  stage.appendChild(svg);
  const { lens, scale } = drawOverview(stage, pane.graph);
  box.appendChild(stage);
  panesEl.appendChild(box);
  const ms = new Map<string, number>();
  for (const p of pane.profile ?? []) ms.set(p.kernel, (ms.get(p.kernel) ?? 0) + p.ms);
  const v: PaneView = { pane, svg, root, nodes: new Map(), view: { x: 0, y: 0, k: 1 }, ms, lens, overviewScale: scale };
  drawGraph(v, pane.graph);
  wirePanZoom(v);
  wireOverview(v);
  return v;
}

function memoryTitle(m: MemoryView, b: MemoryView['buffers'][number]): string {
  const where = b.buffer !== undefined ? ` in buffer ${b.buffer} at offset ${b.offset ?? 0}` : '';
  return `${b.name}: ${fmtBytes(b.bytes)}${where}, steps ${b.start}–${b.end} (${m.steps[b.start] ?? ''} → ${m.steps[b.end] ?? ''})\n${b.values.join(', ')}`;
}

/**
 * Draws buffer lifetimes: x is the schedule step. With a plan that places values
 * (buffer + offset), y is the address (buffers stacked), so the chart shows how the
 * plan packs memory; otherwise one row per buffer.
 */
function drawMemory(container: HTMLElement, label: string, m: MemoryView): void {
  container.appendChild(el('h3', undefined, `${label}: ${m.buffers.length} storages over ${m.steps.length} steps, peak ${fmtBytes(m.peakBytes)}`));
  container.appendChild(el('div', 'note', m.source));
  const width = 900;
  const sx = width / Math.max(m.steps.length, 1);
  const maxBytes = Math.max(1, ...m.buffers.map((b) => b.bytes));
  const placed = m.buffers.length > 0 && m.buffers.every((b) => b.buffer !== undefined && b.offset !== undefined);
  let height: number;
  let box: (b: MemoryView['buffers'][number], i: number) => { y: number; h: number };
  if (placed) {
    const size = new Map<number, number>();
    for (const b of m.buffers) size.set(b.buffer!, Math.max(size.get(b.buffer!) ?? 0, b.offset! + b.bytes));
    const base = new Map<number, number>();
    let total = 0;
    for (const id of [...size.keys()].sort((a, b) => a - b)) { base.set(id, total); total += size.get(id)!; }
    height = 420;
    const sy = height / Math.max(total, 1);
    box = (b) => ({ y: (base.get(b.buffer!)! + b.offset!) * sy, h: Math.max(1, b.bytes * sy) });
  } else {
    const rowH = Math.max(4, Math.min(14, Math.floor(480 / Math.max(m.buffers.length, 1))));
    height = m.buffers.length * rowH;
    box = (_b, i) => ({ y: i * rowH, h: rowH - 1 });
  }
  container.appendChild(el('div', 'note', placed
    ? 'x: schedule step; y: address (buffers stacked). Hover a box for its values, size and offset.'
    : 'x: schedule step; one row per buffer. Hover a bar for its values and size.'));
  const sorted = [...m.buffers].sort((a, b) => a.start - b.start || b.bytes - a.bytes);
  const svg = svgEl('svg', { class: 'memory', width: width + 20, height: height + 20 });
  sorted.forEach((b, i) => {
    const { y, h } = box(b, i);
    const r = svgEl('rect', {
      x: 10 + b.start * sx, y: 10 + y, width: Math.max(2, (b.end - b.start + 1) * sx), height: h,
      fill: b.bytes ? heatColor(Math.sqrt(b.bytes / maxBytes)) : '#94a3b8', class: 'buffer',
    });
    const t = svgEl('title');
    t.textContent = memoryTitle(m, b);
    r.appendChild(t);
    svg.appendChild(r);
  });
  container.appendChild(svg);
}

function drawProfile(container: HTMLElement, label: string, rows: readonly ProfileRow[]): void {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  container.appendChild(el('h3', undefined, `${label}: ${rows.length} kernels, ${total.toFixed(3)} ms total`));
  const t = el('table', 'profile');
  row(t, ['kernel', 'op', 'ms', '%'], true);
  for (const r of [...rows].sort((a, b) => b.ms - a.ms)) row(t, [r.kernel, r.op, r.ms.toFixed(3), total ? ((100 * r.ms) / total).toFixed(1) : '0']);
  container.appendChild(t);
}

function wireSearch(): void {
  const input = document.getElementById('search') as HTMLInputElement;
  const count = document.getElementById('search-count')!;
  const run = (jump: boolean): void => {
    const q = input.value.trim().toLowerCase();
    let hits = 0;
    for (const v of views) {
      let first: PlacedNode | undefined;
      for (const n of v.pane.graph.nodes) {
        const hit = q !== '' && (n.name.toLowerCase().includes(q) || n.op.toLowerCase().includes(q));
        v.nodes.get(n.id)?.classList.toggle('hit', hit);
        if (hit) { hits++; first ??= n; }
      }
      if (jump && first) centerOn(v, first);
    }
    count.textContent = q ? `${hits} match${hits === 1 ? '' : 'es'}` : '';
  };
  input.addEventListener('input', () => run(false));
  input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') run(true); });
}

function wireTabs(): void {
  const tabs = Array.from(document.querySelectorAll<HTMLButtonElement>('button.tab'));
  for (const b of tabs) {
    b.addEventListener('click', () => {
      for (const x of tabs) x.classList.toggle('active', x === b);
      for (const x of tabs) document.getElementById(x.dataset.tab!)!.hidden = x !== b;
    });
  }
}

for (const p of doc.panes) views.push(makePane(p));
const memory = document.getElementById('memory')!;
const profile = document.getElementById('profile')!;
for (const v of views) {
  if (v.pane.memory) drawMemory(memory, v.pane.label, v.pane.memory);
  if (v.pane.profile) drawProfile(profile, v.pane.label, v.pane.profile);
}
if (!memory.childElementCount) memory.appendChild(el('p', 'note', 'No memory plan in this file.'));
if (!profile.childElementCount) profile.appendChild(el('p', 'note', 'No profile in this file (generate with --profile).'));
const colorSel = document.getElementById('color') as HTMLSelectElement;
if (!views.some((v) => v.ms.size)) colorSel.querySelector('option[value=heat]')?.setAttribute('disabled', '');
colorSel.addEventListener('change', () => { colorMode = colorSel.value === 'heat' ? 'heat' : colorSel.value === 'phase' ? 'phase' : 'fusion'; recolor(); });
document.getElementById('fit')!.addEventListener('click', () => views.forEach(fit));
wireSearch();
wireTabs();
recolor();
views.forEach(openView);
(window as unknown as { __kiln: unknown }).__kiln = {
  ready: true,
  drawn: views.map((v) => v.nodes.size),
  zoom: () => views.map((v) => v.view.k),
};
