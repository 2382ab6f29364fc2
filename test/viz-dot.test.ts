import { expect } from 'chai';
import '../src/graph/ops/index.js';
import type { Graph } from '../src/graph/index.js';
import { dotString, graphToDot, renderSvg } from '../src/viz/index.js';
import { fusedGraph, HOSTILE, hostileGraph, smallGraph } from './viz-fixtures.js';
import { sharedModelGraphs } from './viz-shared.js';

/** Counts `<g class="node">` and `<g class="cluster">` groups in Graphviz SVG. */
function svgCounts(svg: string): { nodes: number; clusters: number } {
  return { nodes: (svg.match(/<g id="[^"]*" class="node">/g) ?? []).length, clusters: (svg.match(/<g id="[^"]*" class="cluster">/g) ?? []).length };
}

/** Boxes expected: every non-Constant node (fused bodies expanded) plus graph inputs and outputs. */
function expectedBoxes(g: Graph): number {
  const ops = (h: Graph): number => h.nodes.reduce((s, n) => s + (n.op === 'Constant' ? 0 : n.op === 'Fused' ? ops(n.attrs.graph as Graph) : 1), 0);
  return ops(g) + g.inputs.filter((i) => !g.initializers.has(i.name)).length + g.outputs.length;
}

describe('viz: DOT rendered by Graphviz', function () {
  this.timeout(120_000);

  it('escapes DOT strings', () => {
    expect(dotString('a"b\\c\nd')).to.equal('"a\\"b\\\\c\\nd"');
    expect(dotString('x\u0001y')).to.equal('"x y"');
  });

  it('renders a builder graph: labels op + shape, constants collapsed', async () => {
    const g = smallGraph();
    const dot = graphToDot(g);
    expect(dot).to.contain('label="Mul\\n[batch,4]\\n+1 weight"');
    const svg = await renderSvg(dot);
    // x, Add, Mul, Relu, Softmax, Identity, y — the Constant node is folded into Add
    expect(svgCounts(svg)).to.deep.equal({ nodes: 7, clusters: 0 });
    expect(expectedBoxes(g)).to.equal(7);
  });

  it('draws a fused kernel as a cluster', async () => {
    const svg = await renderSvg(graphToDot(fusedGraph()));
    expect(svgCounts(svg)).to.deep.equal({ nodes: 7, clusters: 1 });
    expect(svg).to.contain('fused_add_mul_relu (elementwise)');
  });

  it('keeps hostile names inert: Graphviz parses them and the SVG escapes them', async () => {
    const g = hostileGraph();
    const svg = await renderSvg(graphToDot(g));
    expect(svgCounts(svg).nodes).to.equal(expectedBoxes(g));
    expect(svg).not.to.contain('<img');
    expect(svg).not.to.contain('<script');
    expect(svg).to.contain('&lt;img src=x onerror=window.__pwned=1&gt;');
    expect(HOSTILE.length).to.equal(3);
  });

  it('reports a missing Graphviz clearly', async () => {
    let err: Error | undefined;
    try {
      await renderSvg('digraph{}', '/nonexistent/dot');
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/Graphviz '\/nonexistent\/dot' was not found; install Graphviz/);
  });

  for (const m of sharedModelGraphs()) {
    it(`renders shared model ${m.name} (raw and O2) with dot -Tsvg`, async function () {
      const loaded = await m.load();
      if (!loaded) this.skip();
      for (const g of [loaded.raw, loaded.graph]) {
        const svg = await renderSvg(graphToDot(g));
        expect(svgCounts(svg).nodes).to.equal(expectedBoxes(g));
        expect(svgCounts(svg).clusters).to.equal(g.nodes.filter((n) => n.op === 'Fused').length);
      }
    });
  }
});
