/**
 * Embeds Kiln's graph viewer in the page: the viewer page template (generated
 * by scripts/build-browser.ts from src/viz, with `{{KILN_DATA}}` in place of
 * its JSON data block) is filled with this graph's layout, computed here in the
 * browser, and shown in an iframe through `srcdoc`.
 */
import type { Graph } from '../../src/index.js';
import { layoutViz } from '../../src/viz/layout.js';
import { vizGraph } from '../../src/viz/model.js';
import type { ViewerDoc } from '../../src/viz/viewer/types.js';

/** JSON safe inside a `<script>` block (same escaping as src/viz/html.ts). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The viewer page for `graph`, from the template at `templateUrl`. */
export async function viewerHtml(templateUrl: string, title: string, graph: Graph): Promise<string> {
  const res = await fetch(templateUrl);
  if (!res.ok) throw new Error(`viewer template ${templateUrl}: HTTP ${res.status}`);
  const template = await res.text();
  const doc: ViewerDoc = { title, panes: [{ label: 'optimized', graph: layoutViz(vizGraph(graph)) }] };
  // A function replacement: `$` sequences in the JSON must not be interpreted.
  return template.replace('{{KILN_DATA}}', () => scriptJson(doc));
}
