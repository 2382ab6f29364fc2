import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import '../src/graph/ops/index.js';
import type { Graph } from '../src/graph/index.js';
import { memoryView } from '../src/cli/io.js';
import { naiveLifetimes, renderHtml, scriptJson, type HtmlPaneInput } from '../src/viz/index.js';
import { fusedGraph, HOSTILE, hostileGraph, largeGraph, smallGraph } from './viz-fixtures.js';
import { sharedModelGraphs } from './viz-shared.js';

export const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Op boxes expected after collapsing, counted independently of the viewer: nodes minus Constants, fused bodies expanded. */
function expectedOps(g: Graph): number {
  let n = 0;
  for (const node of g.nodes) {
    if (node.op === 'Constant') continue;
    const body = node.op === 'Fused' ? (node.attrs.graph as Graph | undefined) : undefined;
    n += body ? expectedOps(body) : 1;
  }
  return n;
}

describe('viz: standalone HTML viewer in headless Chromium', function () {
  this.timeout(120_000);
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];
  const requests: string[] = [];

  before(async () => {
    browser = await chromium.launch({ executablePath: process.env.KILN_CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    page.on('request', (r) => { if (!r.url().startsWith('data:') && !r.url().startsWith('about:')) requests.push(r.url()); });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => { await browser?.close(); });

  async function open(title: string, panes: HtmlPaneInput[], file?: string): Promise<string> {
    const html = await renderHtml(title, panes);
    if (file) writeFileSync(join(ARTIFACTS, file), html);
    await page.setContent(html, { waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as { __kiln?: { ready: boolean } }).__kiln?.ready === true, undefined, { timeout: 60_000 });
    return html;
  }

  it('draws one box per node after collapsing constants, and shows shapes on click', async () => {
    const g = smallGraph();
    await open('small', [{ label: 'graph', graph: g, memory: naiveLifetimes(g) }], 'small.html');
    expect(await page.locator('#panes g.node.op').count()).to.equal(expectedOps(g)).and.to.equal(5);
    expect(await page.locator('#panes g.node.input').count()).to.equal(1);
    await page.locator('#panes g.node.op', { hasText: 'Mul' }).click();
    const details = await page.locator('#details').innerText();
    expect(details).to.contain('Mul');
    expect(details).to.contain('float32');
    expect(details).to.contain('[batch,4]');
    expect(details).to.contain('scale');
    await page.fill('#search', 'relu');
    expect(await page.locator('#search-count').innerText()).to.equal('1 match');
    expect(await page.locator('g.node.hit').count()).to.equal(1);
    // wheel zooms in around the cursor; dragging pans
    const root = page.locator('#panes svg.graph > g');
    const scaleOf = async (): Promise<number> => Number(/scale\(([\d.e-]+)\)/.exec((await root.getAttribute('transform'))!)![1]);
    const k0 = await scaleOf();
    await page.mouse.move(400, 400);
    await page.mouse.wheel(0, -400);
    expect(await scaleOf()).to.be.greaterThan(k0 * 1.5);
    const t0 = await root.getAttribute('transform');
    await page.mouse.down();
    await page.mouse.move(460, 430);
    await page.mouse.up();
    expect(await root.getAttribute('transform')).not.to.equal(t0);
    await page.click('button[data-tab=memory]');
    // Add, Mul, Relu, Softmax, Identity outputs: one buffer each
    expect(await page.locator('#memory rect.buffer').count()).to.equal(5);
    await page.screenshot({ path: join(ARTIFACTS, 'small.png') });
  });

  it('draws fused kernels as colored clusters, a diff side by side, and a profile heat overlay', async () => {
    const before = smallGraph();
    const after = fusedGraph();
    const profile = [{ kernel: 'fused_add_mul_relu', op: 'Fused', ms: 3 }, { kernel: 'Softmax', op: 'Softmax', ms: 1 }, { kernel: 'Identity_y', op: 'Identity', ms: 0.25 }];
    await open('diff', [{ label: 'before', graph: before }, { label: 'after -O2', graph: after, profile }], 'diff.html');
    expect(await page.locator('section.pane').count()).to.equal(2);
    const panes = page.locator('section.pane');
    expect(await panes.nth(0).locator('g.node.op').count()).to.equal(expectedOps(before));
    expect(await panes.nth(1).locator('g.node.op').count()).to.equal(expectedOps(after));
    expect(await panes.nth(1).locator('rect.cluster').count()).to.equal(1);
    await panes.nth(1).locator('g.node.op', { hasText: 'Relu' }).click();
    expect(await page.locator('#details').innerText()).to.contain('fused kernel: fused_add_mul_relu (elementwise)');
    await page.selectOption('#color', 'heat');
    const fills = await panes.nth(1).locator('g.node.op rect').evaluateAll((rs) => rs.map((r) => r.getAttribute('fill')));
    // the 3 ms kernel is the hottest: its three nodes get the hottest color
    expect(fills.slice(0, 3)).to.deep.equal(Array(3).fill('hsl(0, 90%, 64%)'));
    await page.click('button[data-tab=profile]');
    const rows = await page.locator('#profile table.profile tr').allInnerTexts();
    expect(rows[1]).to.match(/^fused_add_mul_relu\s+Fused\s+3\.000\s+70\.6/);
    expect(rows[3]).to.match(/^Identity_y/);
    await page.click('button[data-tab=panes]');
    await page.screenshot({ path: join(ARTIFACTS, 'diff.png') });
  });

  it('executes nothing from hostile model strings', async () => {
    const g = hostileGraph();
    const html = await open(HOSTILE[1]!, [{ label: HOSTILE[0]!, graph: g }], 'hostile.html');
    expect(html).not.to.contain('<img src=x');
    expect(html.match(/<\/script>/g)?.length).to.equal(2); // only the page's own two script blocks
    for (const n of await page.locator('#panes g.node.op').all()) await n.click();
    await page.fill('#search', '<img');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined);
    expect(dialogs).to.deep.equal([]);
    expect(await page.locator('#panes g.node.op').count()).to.equal(expectedOps(g));
    expect(await page.locator('#title').innerText()).to.equal(HOSTILE[1]);
    expect(await page.locator('img').count()).to.equal(0);
    expect(requests).to.deep.equal([]);
    // defense in depth: the CSP admits the viewer's script by hash and nothing else
    expect(html).to.match(/script-src 'sha256-[A-Za-z0-9+/=]+';/);
    expect(html).not.to.match(/script-src[^;]*unsafe-inline/);
    await page.evaluate(() => {
      const d = document.createElement('div');
      d.innerHTML = '<img src="data:," onerror="window.__pwned=2"><img src=x onerror="window.__pwned=3">';
      document.body.appendChild(d);
    });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), 'CSP blocks inline handlers').to.equal(undefined);
  });

  it('stays usable on a large model: 1500 Adds + 1500 Constant nodes draw as 1500 boxes', async () => {
    const g = largeGraph(1500);
    const t0 = performance.now();
    await open('large', [{ label: 'large', graph: g }]);
    const ms = performance.now() - t0;
    expect(g.nodes.length).to.equal(3001);
    expect(await page.locator('#panes g.node.op').count()).to.equal(1501);
    expect(ms).to.be.below(60_000);
  });

  it('opens a 1000-node model readable (100 % at its inputs) with an overview to move around', async () => {
    const g = largeGraph(1000);
    await open('readable', [{ label: 'large', graph: g }], 'readable-1000.html');
    const zoom = await page.evaluate(() => (window as unknown as { __kiln: { zoom(): number[] } }).__kiln.zoom());
    expect(zoom[0]).to.be.at.least(0.75);
    const pane = (await page.locator('#panes svg.graph').boundingBox())!;
    // The graph's input is on screen and its label is drawn at a readable size (>= 8 px high).
    const input = (await page.locator('#panes g.node.input').first().boundingBox())!;
    expect(input.y).to.be.within(pane.y, pane.y + pane.height);
    const label = (await page.locator('#panes g.node.op text.label').first().boundingBox())!;
    expect(label.height).to.be.at.least(8);
    await page.screenshot({ path: join(ARTIFACTS, 'readable-1000.png') });
    // The overview shows every box; its lens (the part on screen) is a small part of it.
    expect(await page.locator('#panes g.node.op').count()).to.equal(expectedOps(g)).and.to.be.at.least(1000);
    expect(await page.locator('svg.overview rect.ov-node').count()).to.equal(await page.locator('#panes g.node').count());
    const ov = (await page.locator('svg.overview').boundingBox())!;
    const lens = (await page.locator('svg.overview rect.ov-lens').boundingBox())!;
    expect(lens.height).to.be.below(ov.height / 4);
    // A click on the output's mark in the overview brings the output node on screen.
    const output = page.locator('#panes g.node.output').first();
    const before = (await output.boundingBox())!;
    expect(before.y).to.be.above(pane.y + pane.height);
    const mark = (await page.locator('svg.overview rect.ov-node.output').first().boundingBox())!;
    expect(mark.y).to.be.above(ov.y + ov.height * 0.9);
    await page.mouse.click(mark.x + mark.width / 2, mark.y + mark.height / 2);
    const after = (await output.boundingBox())!;
    expect(after.y).to.be.within(pane.y, pane.y + pane.height);
    expect((await page.locator('svg.overview rect.ov-lens').boundingBox())!.y).to.be.above(lens.y);
    // "fit" still shows the whole graph at once.
    await page.click('#fit');
    const fitted = await page.evaluate(() => (window as unknown as { __kiln: { zoom(): number[] } }).__kiln.zoom());
    expect(fitted[0]).to.be.below(0.75);
  });

  it('opens a small graph fitted, every box on screen', async () => {
    const g = smallGraph();
    await open('small-fit', [{ label: 'graph', graph: g }]);
    const pane = (await page.locator('#panes svg.graph').boundingBox())!;
    for (const b of await page.locator('#panes g.node').all()) {
      const r = (await b.boundingBox())!;
      expect(r.y).to.be.within(pane.y, pane.y + pane.height - r.height);
      expect(r.x).to.be.within(pane.x, pane.x + pane.width - r.width);
    }
  });

  it('escapes < in the JSON data block', () => {
    expect(scriptJson({ a: '</script><b>' })).to.equal('{"a":"\\u003c/script>\\u003cb>"}');
    expect(JSON.parse(scriptJson({ a: '</script>\u2028' }))).to.deep.equal({ a: '</script>\u2028' });
  });

  for (const { name, load } of sharedModelGraphs()) {
    it(`screenshots shared model ${name}`, async function () {
      const loaded = await load();
      if (!loaded) this.skip();
      const memory = memoryView(loaded.graph, new Map([['batch', 1], ['sequence', 8], ['seq', 8]]));
      await open(name, [{ label: `${name} -O2`, graph: loaded.graph, memory }], `${name}.html`);
      expect(await page.locator('#panes g.node.op').count()).to.equal(expectedOps(loaded.graph));
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
      await page.click('button[data-tab=memory]');
      expect(await page.locator('#memory rect.buffer').count()).to.equal(memory.buffers.length).and.to.be.greaterThan(0);
      if (name === 'resnet18') await page.screenshot({ path: join(ARTIFACTS, `${name}-memory.png`) });
    });
  }
});
