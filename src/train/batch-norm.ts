/**
 * BatchNormalization in training mode, as a rewrite of the training step's forward
 * graph: each BatchNormalization whose running mean and variance are training state
 * normalizes with the batch's own statistics, and the step gains the updated running
 * statistics as outputs (`<name>.next`, bound back to the state by the step program).
 *
 * The nodes are ONNX's training-mode definition as the registry writes it once
 * (`batchNormTrainingNodes`, shared with the importer's training_mode = 1 nodes). Evaluation,
 * prediction and export keep the inference-mode op reading the running statistics.
 */
import { GraphBuilder } from '../graph/builder.js';
import { GraphError } from '../graph/errors.js';
import type { Graph } from '../graph/graph.js';
import { BatchNormalization, batchNormTrainingNodes, type NodeSink } from '../graph/ops/normalization.js';
import { editGraph } from '../passes/editor.js';

/** The running statistics (mean, variance) that BatchNormalization nodes of `g` read from initializers. */
export function batchNormStats(g: Graph): string[] {
  const stats: string[] = [];
  for (const n of g.nodes) {
    if (n.op !== BatchNormalization.name || n.domain !== '') continue;
    for (const v of n.inputs.slice(3, 5)) if (g.initializers.has(v) && !stats.includes(v)) stats.push(v);
  }
  return stats;
}

/**
 * Rewrites each BatchNormalization of `g` whose mean and variance are both in `stats`
 * to training mode (see the file comment); the updated statistics become outputs named
 * `<stat>.next`. Other BatchNormalization nodes stay as they are.
 */
export function batchNormForTraining(g: Graph, stats: ReadonlySet<string>): Graph {
  const nodes = g.nodes.filter((n) => n.op === BatchNormalization.name && n.domain === '' && n.outputs.length >= 1
    && stats.has(n.inputs[3]!) && stats.has(n.inputs[4]!));
  if (!nodes.length) return g;
  const b = GraphBuilder.extend(g);
  const sink: NodeSink = {
    node: (op, inputs, attrs = {}, outputs) => {
      if (outputs?.length) throw new GraphError(`batchNormForTraining: named outputs (${outputs.join(', ')}) are not supported`);
      return b.apply(op, inputs.map((v) => b.sym(v)), attrs).map((s) => s.name);
    },
    constant: (t) => b.constant(t).name,
    dtypeOf: (v) => b.sym(v).dtype,
  };
  const replaced: [string, string][] = [];
  for (const n of nodes) {
    const [, , , mean, variance] = n.inputs as [string, string, string, string, string];
    const { y, runningMean, runningVar } = batchNormTrainingNodes(sink, n.name, n.inputs as [string, string, string, string, string], {
      epsilon: Number(n.attrs['epsilon'] ?? 1e-5),
      momentum: Number(n.attrs['momentum'] ?? 0.9),
    });
    b.output(b.sym(runningMean!), `${mean}.next`);
    b.output(b.sym(runningVar!), `${variance}.next`);
    replaced.push([n.outputs[0]!, y]);
  }
  return editGraph(b.build(), (e) => {
    for (const n of nodes) e.removeNode(e.graph.nodes.find((m) => m.name === n.name)!);
    for (const [from, to] of replaced) e.replaceUses(from, to);
  });
}
