/**
 * Graphviz DOT output. Uses the same drawable view as the HTML viewer: Constant
 * nodes and initializers collapsed into their consumers, fused kernels as clusters,
 * labels `op` + output shape. Every string that comes from the model is written as
 * an escaped DOT string; ids are generated, never taken from the model.
 */
import { execFile } from 'node:child_process';
import { KilnError } from '../graph/errors.js';
import type { Graph } from '../graph/graph.js';
import { vizGraph, type VizGraph, type VizNode } from './model.js';

/** Escapes text for a double-quoted DOT string (backslashes, quotes, newlines, control chars). */
export function dotString(s: string): string {
  const body = s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\r\n|\r|\n/g, '\\n')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ');
  return `"${body}"`;
}

/** Fill colors for fused clusters, cycled. */
const PALETTE = ['#dbeafe', '#dcfce7', '#fef3c7', '#fce7f3', '#ede9fe', '#ccfbf1', '#ffedd5', '#e0e7ff'];

function nodeLine(n: VizNode, indent: string): string {
  const label = n.kind === 'op' ? `${n.op}\n${n.shape}` : `${n.op}: ${n.name}\n${n.outputs[0]?.dtype ?? n.inputs[0]?.dtype ?? ''}${n.shape}`;
  const weights = n.weights.length ? `\n+${n.weights.length} weight${n.weights.length > 1 ? 's' : ''}` : '';
  const tooltip = [n.name, ...n.weights.map((w) => `${w.name}: ${w.dtype}${w.shape}`)].join('\n');
  const style = n.kind === 'op' ? 'shape=box, style="rounded,filled", fillcolor="#ffffff"' : 'shape=ellipse, style=filled, fillcolor="#e5e7eb"';
  return `${indent}${n.id} [label=${dotString(label + weights)}, tooltip=${dotString(tooltip)}, ${style}];`;
}

/** Writes the DOT text of a drawable view. */
export function vizToDot(v: VizGraph): string {
  const lines = [
    'digraph kiln {',
    `  graph [rankdir=TB, fontname="Helvetica", label=${dotString(v.name)}, labelloc=t];`,
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8, color="#64748b"];',
  ];
  const inCluster = new Set<string>();
  const byId = new Map(v.nodes.map((n) => [n.id, n]));
  v.clusters.forEach((c, i) => {
    lines.push(`  subgraph cluster_${i} {`);
    lines.push(`    label=${dotString(`${c.name} (${c.kind})`)}; style="rounded,filled"; fillcolor="${PALETTE[i % PALETTE.length]}"; color="#94a3b8";`);
    for (const id of c.nodes) {
      inCluster.add(id);
      const n = byId.get(id);
      if (n) lines.push(nodeLine(n, '    '));
    }
    lines.push('  }');
  });
  for (const n of v.nodes) if (!inCluster.has(n.id)) lines.push(nodeLine(n, '  '));
  for (const e of v.edges) lines.push(`  ${e.from} -> ${e.to} [label=${dotString(e.label)}, tooltip=${dotString(e.value)}];`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** DOT text of a graph (see {@link vizToDot}). */
export function graphToDot(g: Graph): string {
  return vizToDot(vizGraph(g));
}

/** Raised when Graphviz is needed but not installed, or fails. */
export class GraphvizError extends KilnError {
  constructor(message: string) { super('GRAPHVIZ', message); }
}

/**
 * Renders DOT text to SVG with the Graphviz `dot` binary (or `KILN_DOT`).
 * Throws a GraphvizError saying how to install Graphviz when it is missing.
 */
export function renderSvg(dot: string, bin = process.env.KILN_DOT ?? 'dot'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, ['-Tsvg'], { maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new GraphvizError(missing
          ? `Graphviz '${bin}' was not found; install Graphviz (e.g. apt install graphviz) or write .dot/.html instead`
          : `Graphviz failed: ${stderr.trim() || err.message}`));
      } else resolve(stdout);
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(dot);
  });
}
