/**
 * BatchNormalization in training mode, as a rewrite of the training step's forward
 * graph: each BatchNormalization whose running mean and variance are training state
 * normalizes with the batch's own statistics, and the step gains the updated running
 * statistics as outputs (`<name>.next`, bound back to the state by the step program).
 *
 * ONNX's training-mode definition: per channel (axis 1) over the other axes,
 *   μ_B = mean(x), σ²_B = mean((x − μ_B)²)   (population variance),
 *   y = (x − μ_B) / √(σ²_B + ε) · scale + B,
 *   running_mean' = running_mean · momentum + μ_B · (1 − momentum), and likewise the variance.
 * The rewrite uses ordinary ops (ReduceMean, Sub, Mul, Div, Sqrt, Add, Reshape), so the
 * gradients come from their own rules and the passes fuse it like any graph. Evaluation,
 * prediction and export keep the inference-mode op reading the running statistics.
 */
import { GraphBuilder, type Sym } from '../graph/builder.js';
import type { Graph } from '../graph/graph.js';
import { BatchNormalization } from '../graph/ops/normalization.js';
import { Tensor } from '../graph/tensor.js';
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
  const replaced: [string, string][] = [];
  const f32 = (v: number): Sym => b.constant(Tensor.from('float32', [], [v]));
  for (const n of nodes) {
    const [x, scale, bias, mean, variance] = n.inputs.map((v) => b.sym(v)) as [Sym, Sym, Sym, Sym, Sym];
    const eps = Number(n.attrs['epsilon'] ?? 1e-5);
    const momentum = Number(n.attrs['momentum'] ?? 0.9);
    const axes = b.constant(Tensor.from('int64', [x.rank - 1], [0, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 2)]));
    const perChannel = b.constant(Tensor.from('int64', [x.rank - 1], [-1, ...new Array<number>(x.rank - 2).fill(1)]));
    const flat = b.constant(Tensor.from('int64', [1], [-1]));
    const mu = b.ReduceMean([x, axes], { keepdims: 1 });
    const d = b.Sub([x, mu]);
    const v = b.ReduceMean([b.Mul([d, d]), axes], { keepdims: 1 });
    const xhat = b.Div([d, b.Sqrt([b.Add([v, f32(eps)])])]);
    const y = b.Add([b.Mul([xhat, b.Reshape([scale, perChannel])]), b.Reshape([bias, perChannel])]);
    const update = (run: Sym, batch: Sym): Sym => b.Add([b.Mul([run, f32(momentum)]), b.Mul([b.Reshape([batch, flat]), f32(1 - momentum)])]);
    b.output(update(mean, mu), `${mean.name}.next`);
    b.output(update(variance, v), `${variance.name}.next`);
    replaced.push([n.outputs[0]!, y.name]);
  }
  return editGraph(b.build(), (e) => {
    for (const n of nodes) e.removeNode(e.graph.nodes.find((m) => m.name === n.name)!);
    for (const [from, to] of replaced) e.replaceUses(from, to);
  });
}
