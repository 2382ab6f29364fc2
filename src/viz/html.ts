/**
 * The standalone HTML viewer: one file, no network access at view time. The graph
 * is laid out here (dagre), the data embedded as JSON in a
 * `<script type="application/json">` block with every `<` written as `\u003c` (so no
 * model string can close the script), and the viewer script (viewer/main.ts,
 * bundled with esbuild on first use) and its CSS are inlined. The viewer renders
 * model strings with textContent only, and the page's Content-Security-Policy lets
 * no script run but the viewer's own (by hash).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../graph/errors.js';
import type { Graph } from '../graph/graph.js';
import { layoutViz } from './layout.js';
import type { MemoryView } from './memory.js';
import { vizGraph } from './model.js';
import type { ProfileRow, StepPhase, ViewerDoc } from './viewer/types.js';

/** One graph to show, with what the compiler knows about it. */
export interface HtmlPaneInput {
  readonly label: string;
  readonly graph: Graph;
  readonly memory?: MemoryView;
  readonly profile?: readonly ProfileRow[];
  /** Node name → part of a training step, for the 'phase' colouring. */
  readonly phases?: Readonly<Record<string, StepPhase>>;
}

/** An extra tab of the page: pre-rendered, escaped HTML (e.g. the training curves, which are plain SVG). */
export interface HtmlSection {
  readonly id: string;
  readonly label: string;
  readonly html: string;
}

/** Raised when the viewer's script cannot be built. */
export class ViewerBuildError extends KilnError {
  constructor(message: string) { super('VIEWER_BUILD', message); }
}

function viewerDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'viewer'), resolve(here, '../../../src/viz/viewer')];
  const found = candidates.find((d) => existsSync(join(d, 'main.ts')));
  if (!found) throw new ViewerBuildError(`viewer sources not found (looked in ${candidates.join(', ')})`);
  return found;
}

let bundled: { js: string; css: string } | undefined;

/** The viewer's script and style, bundled once per process. */
export async function viewerAssets(): Promise<{ js: string; css: string }> {
  if (bundled) return bundled;
  const dir = viewerDir();
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new ViewerBuildError(`the HTML viewer needs esbuild to bundle its script: ${(e as Error).message}`);
  }
  const out = await esbuild.build({
    entryPoints: [join(dir, 'main.ts')],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const js = out.outputFiles[0]!.text.replace(/<\/(script)/gi, '<\\/$1');
  bundled = { js, css: readFileSync(join(dir, 'style.css'), 'utf8') };
  return bundled;
}

/** JSON for a `<script type="application/json">` block: `<`, U+2028 and U+2029 escaped. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The viewer document for some panes (laid out). */
export function viewerDoc(title: string, panes: readonly HtmlPaneInput[]): ViewerDoc {
  return {
    title,
    panes: panes.map((p) => ({
      label: p.label,
      graph: layoutViz(vizGraph(p.graph)),
      ...(p.memory ? { memory: p.memory } : {}),
      ...(p.profile ? { profile: p.profile } : {}),
      ...(p.phases ? { phases: p.phases } : {}),
    })),
  };
}

/**
 * Writes the standalone viewer page. `panes` has one entry, or two for a
 * before/after diff. `title` and every model string are escaped. `sections` are
 * extra tabs shown first (their HTML must be escaped by the caller; no script runs in them).
 */
export async function renderHtml(title: string, panes: readonly HtmlPaneInput[], sections: readonly HtmlSection[] = []): Promise<string> {
  const first = sections.length > 0 && panes.length === 0;
  const phased = panes.some((p) => p.phases);
  const { js, css } = await viewerAssets();
  const data = scriptJson(viewerDoc(title, panes));
  // Only the viewer's own script may run: its hash is the one script source allowed,
  // so inline event handlers and injected scripts are blocked even if one slipped in.
  const hash = createHash('sha256').update(js, 'utf8').digest('base64');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; img-src data:">
<title>Kiln graph viewer</title>
<style>${css}</style>
</head>
<body>
<header>
<h1 id="title"></h1>
<input id="search" type="search" placeholder="search node or op (Enter jumps)" size="30">
<span id="search-count"></span>
<label>color <select id="color">${phased ? '<option value="phase">forward / backward / update</option>' : ''}<option value="fusion">fusion group</option><option value="heat">time (heat)</option></select></label>
<button id="fit" type="button">fit</button>
${sections.map((s, i) => `<button class="tab${i === 0 && first ? ' active' : ''}" type="button" data-tab="${s.id}">${s.label}</button>\n`).join('')}<button class="tab${first ? '' : ' active'}" type="button" data-tab="panes">graph</button>
<button class="tab" type="button" data-tab="memory">memory</button>
<button class="tab" type="button" data-tab="profile">profile</button>
</header>
<main>
${sections.map((s) => `<div id="${s.id}" class="section"${first ? '' : ' hidden'}>${s.html}</div>\n`).join('')}<div id="panes"${first ? ' hidden' : ''}></div>
<div id="memory" hidden></div>
<div id="profile" hidden></div>
<aside id="details"><p class="note">Click a node to see its op, attributes, dtypes and shapes.</p></aside>
</main>
<script type="application/json" id="kiln-data">${data}</script>
<script>${js}</script>
</body>
</html>
`;
}
