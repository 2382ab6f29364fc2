/**
 * BatchNormalization folded into the Conv or Gemm before it.
 *
 * Inference-mode BN computes y = (x − mean) · s + B per channel with
 * s = scale / sqrt(var + ε). When x = Conv(X, W, b) (or Gemm) with constant W, b and
 * constant BN statistics, y = Conv(X, W', b') where W' scales every output channel
 * of W by s[c] and b' = (b − mean) · s + B. For Gemm the channel is the N axis of
 * the weight (its rows when transB = 1, its columns otherwise), alpha is kept, and
 * the bias becomes b' = (beta · C − mean) · s + B with beta = 1.
 * Invariants: the new weights are new initializers (the old ones are dropped only
 * when dead); the Conv/Gemm must have no other reader; BN outputs other than Y
 * (training statistics) must be unread; the node keeps the Conv's name.
 */
import type { DType } from '../graph/dtype.js';
import type { Node } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import type { Pass } from './pass-manager.js';
import { P, rewrite, rule, RuleSet, type Match, type Rewriter } from './rewriter.js';

interface BnParams { s: Float64Array; shift: Float64Array; n: number }

function bnParams(m: Match, rw: Rewriter): BnParams | undefined {
  const bn = m.root;
  const [scale, b, mean, v] = ['scale', 'B', 'mean', 'var'].map((k) => rw.ed.constantOf(m.values[k]!));
  if (!scale || !b || !mean || !v) return undefined;
  if (bn.outputs.slice(1).some((o) => o !== '' && rw.ed.useCount(o) > 0)) return undefined;
  const eps = typeof bn.attrs['epsilon'] === 'number' ? (bn.attrs['epsilon'] as number) : 1e-5;
  const n = scale.size;
  if ([b, mean, v].some((t) => t.size !== n)) return undefined;
  const s = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    s[c] = scale.data[c]! / Math.sqrt(v.data[c]! + eps);
    shift[c] = b.data[c]! - mean.data[c]! * s[c]!;
  }
  return { s, shift, n };
}

function tensorOf(dtype: DType, shape: readonly number[], data: ArrayLike<number>): Tensor {
  return Tensor.from(dtype, shape, data);
}

function foldConv(m: Match, rw: Rewriter): readonly string[] | undefined {
  const conv = m.nodes['conv']!;
  const p = bnParams(m, rw);
  const w = rw.ed.constantOf(conv.inputs[1]!);
  if (!p || !w || w.shape[0] !== p.n) return undefined;
  const bias = conv.inputs[2] ? rw.ed.constantOf(conv.inputs[2]) : undefined;
  if (conv.inputs[2] && !bias) return undefined;
  const per = w.size / p.n;
  const w2 = Array.from(w.data as ArrayLike<number>, (x, i) => x * p.s[Math.floor(i / per)]!);
  const b2 = Array.from({ length: p.n }, (_, c) => (bias ? bias.data[c]! : 0) * p.s[c]! + p.shift[c]!);
  const wName = rw.constant(tensorOf(w.dtype, w.shape, w2), `${conv.name}_W_bn`);
  const bName = rw.constant(tensorOf(w.dtype, [p.n], b2), `${conv.name}_B_bn`);
  return rw.node('Conv', [conv.inputs[0]!, wName, bName], conv.attrs, { name: conv.name });
}

function foldGemm(m: Match, rw: Rewriter): readonly string[] | undefined {
  const gemm = m.nodes['conv']!;
  const p = bnParams(m, rw);
  const w = rw.ed.constantOf(gemm.inputs[1]!);
  if (!p || !w || w.rank !== 2) return undefined;
  const transB = gemm.attrs['transB'] === 1;
  const nAxis = transB ? 0 : 1;
  if (w.shape[nAxis] !== p.n) return undefined;
  const c = gemm.inputs[2] ? rw.ed.constantOf(gemm.inputs[2]) : undefined;
  if (gemm.inputs[2] && (!c || (c.size !== 1 && c.size !== p.n))) return undefined;
  const beta = typeof gemm.attrs['beta'] === 'number' ? (gemm.attrs['beta'] as number) : 1;
  const cols = w.shape[1]!;
  const w2 = Array.from(w.data as ArrayLike<number>, (x, i) => x * p.s[transB ? Math.floor(i / cols) : i % cols]!);
  const b2 = Array.from({ length: p.n }, (_, k) => (c ? beta * c.data[c.size === 1 ? 0 : k]! : 0) * p.s[k]! + p.shift[k]!);
  const wName = rw.constant(tensorOf(w.dtype, w.shape, w2), `${gemm.name}_W_bn`);
  const bName = rw.constant(tensorOf(w.dtype, [p.n], b2), `${gemm.name}_C_bn`);
  return rw.node('Gemm', [gemm.inputs[0]!, wName, bName], { ...gemm.attrs, beta: 1 }, { name: gemm.name });
}

function bnPattern(anchor: string): ReturnType<typeof P.op> {
  return P.op('BatchNormalization', [P.op(anchor, undefined, { as: 'conv' }), P.const('scale'), P.const('B'), P.const('mean'), P.const('var')], {
    where: (n: Node) => (n.attrs['training_mode'] ?? 0) === 0,
  });
}

/** The BN-folding rules. */
export const foldBatchNormRules: RuleSet = new RuleSet([
  rule('fold-bn-into-conv', bnPattern('Conv'), foldConv),
  rule('fold-bn-into-gemm', bnPattern('Gemm'), foldGemm),
]);

/** The BN-folding pass. */
export const foldBatchNormPass: Pass = { name: 'fold-batchnorm', level: 1, run: (g) => rewrite(g, foldBatchNormRules) };
