/**
 * Layout of a drawable view with @dagrejs/dagre (top to bottom), done at generation
 * time so that the viewer only draws. Fused clusters are compound nodes.
 */
import { graphlib, layout } from '@dagrejs/dagre';
import type { VizCluster, VizEdge, VizGraph, VizNode } from './model.js';

/** A node with its box: center (x, y) and size. */
export interface PlacedNode extends VizNode { x: number; y: number; w: number; h: number }
/** An edge with its polyline. */
export interface PlacedEdge extends VizEdge { points: { x: number; y: number }[] }
/** A cluster with its box. */
export interface PlacedCluster extends VizCluster { x: number; y: number; w: number; h: number }
/** A laid-out view. */
export interface PlacedGraph {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly nodes: PlacedNode[];
  readonly edges: PlacedEdge[];
  readonly clusters: PlacedCluster[];
  readonly collapsed: number;
}

const CHAR_W = 6.6;
const NODE_H = 40;

/** Box width for a node's label (op and shape lines). */
export function nodeWidth(n: VizNode): number {
  const title = n.kind === 'op' ? n.op : `${n.op}: ${n.name}`;
  const chars = Math.max(title.length, n.shape.length, 6);
  return Math.min(320, Math.round(chars * CHAR_W + 24));
}

/** Lays a view out with dagre. */
export function layoutViz(v: VizGraph): PlacedGraph {
  const g = new graphlib.Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, edgesep: 8, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of v.nodes) g.setNode(n.id, { width: nodeWidth(n), height: NODE_H });
  for (const c of v.clusters) {
    g.setNode(c.id, { paddingTop: 18 });
    for (const id of c.nodes) g.setParent(id, c.id);
  }
  v.edges.forEach((e, i) => g.setEdge(e.from, e.to, {}, `e${i}`));
  layout(g);
  const box = (id: string): { x: number; y: number; width: number; height: number } =>
    g.node(id) as unknown as { x: number; y: number; width: number; height: number };
  const nodes = v.nodes.map((n) => {
    const b = box(n.id);
    return { ...n, x: b.x, y: b.y, w: b.width, h: b.height };
  });
  const clusters = v.clusters.map((c) => {
    const b = box(c.id);
    return { ...c, x: b.x, y: b.y, w: b.width, h: b.height };
  });
  const edges = v.edges.map((e, i) => {
    const lab = g.edge({ v: e.from, w: e.to, name: `e${i}` }) as unknown as { points?: { x: number; y: number }[] };
    return { ...e, points: (lab.points ?? []).map((p) => ({ x: Math.round(p.x * 10) / 10, y: Math.round(p.y * 10) / 10 })) };
  });
  const gl = g.graph() as { width?: number; height?: number };
  return { name: v.name, width: gl.width ?? 0, height: gl.height ?? 0, nodes, edges, clusters, collapsed: v.collapsed };
}
