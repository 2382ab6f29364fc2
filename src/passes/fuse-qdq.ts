/**
 * QDQ recognition: the QuantizeLinear / DequantizeLinear pairs that ONNX Runtime's
 * `quantize_static` (QDQ format) puts around Conv, MatMul and Gemm become integer
 * kernels with a float epilogue:
 *
 *   Conv(DQ(xq, sx, zx), DQ(wq, sw, zw), B)
 *     → Add(Mul(Cast(ConvInteger(xq, wq, zx, zw), float), sx·sw), B)
 *   MatMul(DQ(xq, sx, zx), DQ(wq, sw, zw))
 *     → Mul(Cast(MatMulInteger(xq, wq, zx, zw), float), sx·sw)
 *   Gemm(DQ(xq…), DQ(wq…), C; alpha, beta, transB)
 *     → Add(Mul(Cast(MatMulInteger(xq, wqᵀ?, zx, zw), float), alpha·sx·sw), beta·C)
 *
 * The integer weight `wq` stays int8/uint8 (no dequantized float copy): the kernel
 * sums (x - zx)(w - zw) exactly in i32 and the epilogue fusion pass then absorbs
 * Cast, Mul, Add, the activation and the next layer's QuantizeLinear into the
 * ConvInteger / MatMulInteger dispatch, so each quantized layer is one kernel.
 * `xq` is usually the output of the preceding QuantizeLinear (DQ(Q(x)) is the
 * fake-quantized activation); any int8/uint8 value works. DQ → Flatten/Reshape/
 * Transpose/Squeeze/Unsqueeze → Q with the same parameters moves the integers
 * instead (exact). The Q/DQ nodes left (per tensor) become the elementwise ops they
 * compute, so fusion absorbs them into the neighbouring kernels; a dynamic
 * quantization rescale is reassociated to ride its MatMulInteger's epilogue.
 *
 * Conditions (otherwise the rule declines and the float graph runs as written): the
 * activation DQ has constant per-tensor scale and zero point; the weight DQ reads a
 * constant int8/uint8 tensor with constant scale per tensor or per output channel
 * (Conv: axis 0; MatMul: the last axis; Gemm: the N axis) and no block_size; DQ
 * outputs are float32; a bias is a float32 constant or a DequantizeLinear of
 * constants (ORT's int32 bias); Gemm has transA = 0.
 *
 * Numerics: the reference computes Σ x̂·ŵ in f32 over dequantized values; the integer
 * form computes the same sum exactly and scales once, so results differ by f32
 * rounding of the sum (a few ulps of the result), and a following QuantizeLinear may
 * land one step away where the f32 sum sits within that rounding of a .5 boundary.
 *
 * Invariants: graph inputs/outputs unchanged; DQ nodes other nodes still read are
 * kept (the rewriter's `shared`), dead ones are dropped.
 */
import type { Node } from '../graph/graph.js';
import { normalizeAxis } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import type { Pass } from './pass-manager.js';
import { P, rewrite, rule, RuleSet, type Match, type MatchEnv, type Rewriter } from './rewriter.js';

const INT8 = new Set(['int8', 'uint8']);

/** A DequantizeLinear's constant parameters (undefined when it is not the form the rules take). */
interface Dq {
  /** The quantized input. */
  readonly q: string;
  /** Scale values (size 1 or one per channel). */
  readonly scale: Float32Array | number[];
  /** Zero-point value name ('' when absent). */
  readonly zero: string;
  /** The zero-point tensor, if any. */
  readonly zeroT?: Tensor | undefined;
  /** The axis the scale runs along (normalized; meaningful when scale.length > 1). */
  readonly axis: number;
}

function dqOf(n: Node, env: MatchEnv): Dq | undefined {
  if (n.domain !== '' || Number(n.attrs['block_size'] ?? 0) !== 0) return undefined;
  const q = n.inputs[0]!;
  const qt = env.typeOf(q);
  if (!INT8.has(qt.dtype) || env.typeOf(n.outputs[0]!).dtype !== 'float32') return undefined;
  const s = env.constantOf(n.inputs[1]!);
  if (!s || s.dtype !== 'float32') return undefined;
  const zero = n.inputs[2] ?? '';
  const zeroT = zero ? env.constantOf(zero) : undefined;
  if (zero && !zeroT) return undefined;
  const rank = qt.shape.length;
  const axis = rank === 0 ? 0 : normalizeAxis(Number(n.attrs['axis'] ?? 1), rank, n.name);
  return { q, scale: Array.from(s.data as ArrayLike<number>), zero, zeroT, axis };
}

/** The activation operand: per-tensor DQ of any int8/uint8 value. */
function activation(v: string, env: MatchEnv): Dq | undefined {
  const p = env.ed.producerOf(v);
  if (!p || p.op !== 'DequantizeLinear') return undefined;
  const d = dqOf(p, env);
  return d && d.scale.length === 1 && (!d.zeroT || d.zeroT.size === 1) ? d : undefined;
}

/** The weight operand: DQ of a constant with per-tensor or per-`channelAxis` scale. */
function weight(v: string, env: MatchEnv, channelAxis: number): (Dq & { readonly w: Tensor }) | undefined {
  const p = env.ed.producerOf(v);
  if (!p || p.op !== 'DequantizeLinear') return undefined;
  const d = dqOf(p, env);
  const w = d && env.constantOf(d.q);
  if (!d || !w) return undefined;
  const channels = w.shape[channelAxis]!;
  if (d.scale.length !== 1 && (d.axis !== channelAxis || d.scale.length !== channels)) return undefined;
  if (d.zeroT && d.zeroT.size !== 1 && d.zeroT.size !== channels) return undefined;
  return { ...d, w };
}

/** A bias as float32 values: a float32 constant or a DequantizeLinear of constants. */
function biasValues(v: string, env: MatchEnv): number[] | undefined {
  // An exporter's Identity of a shared bias (torch dedups equal initializers so) is the constant.
  for (let p = env.ed.producerOf(v); p && p.op === 'Identity' && p.domain === ''; p = env.ed.producerOf(v)) v = p.inputs[0]!;
  const c = env.constantOf(v);
  if (c) return c.dtype === 'float32' ? Array.from(c.data as ArrayLike<number>) : undefined;
  const p = env.ed.producerOf(v);
  if (!p || p.op !== 'DequantizeLinear' || p.domain !== '' || Number(p.attrs['block_size'] ?? 0) !== 0) return undefined;
  const q = env.constantOf(p.inputs[0]!);
  const s = env.constantOf(p.inputs[1]!);
  const z = p.inputs[2] ? env.constantOf(p.inputs[2]) : undefined;
  if (!q || !s || (p.inputs[2] && !z) || q.shape.length > 1 || env.typeOf(p.outputs[0]!).dtype !== 'float32') return undefined;
  const at = (t: Tensor, i: number): number => Number(t.data[t.size === 1 ? 0 : i]);
  return Array.from({ length: q.size }, (_, i) => Math.fround((at(q, i) - (z ? at(z, i) : 0)) * at(s, i)));
}

/** Per-channel products sx·sw·k (one value when both scales are per tensor). */
function scales(x: Dq, w: Dq, channels: number, k = 1): number[] {
  const n = w.scale.length === 1 ? 1 : channels;
  return Array.from({ length: n }, (_, m) => Math.fround(Number(x.scale[0]) * Number(w.scale[w.scale.length === 1 ? 0 : m]) * k));
}

/** Shape that broadcasts `n` channel values at axis 1 (conv) or the last axis of a rank-`rank` result. */
function channelShape(n: number, rank: number, axis: number): number[] {
  return n === 1 ? [] : Array.from({ length: rank }, (_, i) => (i === axis ? n : 1));
}

/** Cast → Mul(scale) [→ Add(bias)] after an integer node `acc`. */
function epilogue(rw: Rewriter, root: Node, acc: string, s: number[], bias: number[] | undefined, rank: number, axis: number): string[] {
  const f = rw.node('Cast', [acc], { to: 1 }, { name: `${root.name}_f32` })[0]!;
  const sc = rw.constant(new Tensor('float32', channelShape(s.length, rank, axis), Float32Array.from(s)), `${root.name}_scale`);
  let y = rw.node('Mul', [f, sc], {}, { name: `${root.name}_rescale` })[0]!;
  if (bias) {
    const bc = rw.constant(new Tensor('float32', channelShape(bias.length, rank, axis), Float32Array.from(bias)), `${root.name}_bias`);
    y = rw.node('Add', [y, bc], {}, { name: `${root.name}_bias_add` })[0]!;
  }
  return [y];
}

/** The zero-point operands of an integer node ('' for an absent one, the name otherwise). */
function zeros(x: Dq, w: Dq): string[] {
  const ins = [x.zero, w.zero];
  while (ins.length && ins[ins.length - 1] === '') ins.pop();
  return ins;
}

const ENV = (rw: Rewriter): MatchEnv => ({
  ed: rw.ed,
  typeOf: (v) => rw.ed.typeOf(v),
  constantOf: (v) => rw.ed.constantOf(v),
  attrsOf: (n) => n.attrs as Record<string, unknown>,
});

function convRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const n = m.root;
  const env = ENV(rw);
  const x = activation(n.inputs[0]!, env);
  const w = weight(n.inputs[1]!, env, 0);
  if (!x || !w) return undefined;
  const M = w.w.shape[0]!;
  const bias = n.inputs[2] ? biasValues(n.inputs[2], env) : undefined;
  if (n.inputs[2] && (!bias || (bias.length !== M && bias.length !== 1))) return undefined;
  const attrs = Object.fromEntries(['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'].filter((k) => n.attrs[k] !== undefined).map((k) => [k, n.attrs[k]]));
  const acc = rw.node('ConvInteger', [x.q, w.q, ...zeros(x, w)], attrs, { name: `${n.name}_int` })[0]!;
  const rank = rw.ed.typeOf(n.outputs[0]!).shape.length;
  return epilogue(rw, n, acc, scales(x, w, M), bias, rank, 1);
}

function matmulRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const n = m.root;
  const env = ENV(rw);
  const x = activation(n.inputs[0]!, env);
  const w = weight(n.inputs[1]!, env, 1);
  if (!x || !w || w.w.shape.length !== 2 || rw.ed.typeOf(x.q).shape.length < 1) return undefined;
  const acc = rw.node('MatMulInteger', [x.q, w.q, ...zeros(x, w)], {}, { name: `${n.name}_int` })[0]!;
  const rank = rw.ed.typeOf(n.outputs[0]!).shape.length;
  return epilogue(rw, n, acc, scales(x, w, w.w.shape[1]!), undefined, rank, rank - 1);
}

/** int8/uint8 2-D constant transposed. */
function transpose2d(t: Tensor): Tensor {
  const [r, c] = t.shape as [number, number];
  const out = new Tensor(t.dtype, [c, r]);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = t.data[i * c + j]!;
  return out;
}

function gemmRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const n = m.root;
  const env = ENV(rw);
  if (Number(n.attrs['transA'] ?? 0) !== 0) return undefined;
  const transB = Number(n.attrs['transB'] ?? 0) !== 0;
  const x = activation(n.inputs[0]!, env);
  const w = weight(n.inputs[1]!, env, transB ? 0 : 1);
  if (!x || !w || w.w.shape.length !== 2 || rw.ed.typeOf(x.q).shape.length !== 2) return undefined;
  const N = w.w.shape[transB ? 0 : 1]!;
  const alpha = Number(n.attrs['alpha'] ?? 1);
  const beta = Number(n.attrs['beta'] ?? 1);
  let bias: number[] | undefined;
  if (n.inputs[2]) {
    const c = rw.ed.typeOf(n.inputs[2]);
    // Only a C that broadcasts along N (a bias row) can ride the epilogue as a channel constant.
    if (c.shape.length > 1 && c.shape[0] !== 1) return undefined;
    bias = biasValues(n.inputs[2], env)?.map((v) => Math.fround(v * beta));
    if (!bias || (bias.length !== N && bias.length !== 1)) return undefined;
  }
  const wq = transB ? rw.constant(transpose2d(w.w), `${n.name}_wT`) : w.q;
  const acc = rw.node('MatMulInteger', [x.q, wq, ...zeros(x, w)], {}, { name: `${n.name}_int` })[0]!;
  return epilogue(rw, n, acc, scales(x, w, N, alpha), bias, 2, 1);
}

const dq = (as: string) => P.op('DequantizeLinear', undefined, { as, shared: true });

/** Ops that only move elements: DQ → op → Q with the same parameters is the op on the integers. */
const MOVES = ['Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze'];

function sameParam(a: string | undefined, b: string | undefined, env: MatchEnv): boolean {
  if (!a || !b) return !a && !b;
  const x = env.constantOf(a);
  const y = env.constantOf(b);
  return !!x && !!y && x.size === 1 && y.size === 1 && x.dtype === y.dtype && Number(x.data[0]) === Number(y.data[0]);
}

/** Q(move(DQ(q, s, z)), s, z) → move(q): exact, since Q(DQ(q)) = q for the same scale and zero point. */
function movementRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const dqn = m.nodes['dq']!;
  const q = m.root;
  const mv = m.nodes['mv']!;
  const env = ENV(rw);
  if (!dqOf(dqn, env) || Number(q.attrs['block_size'] ?? 0) !== 0 || rw.ed.typeOf(q.outputs[0]!).dtype !== rw.ed.typeOf(dqn.inputs[0]!).dtype) return undefined;
  if (!sameParam(dqn.inputs[1], q.inputs[1], env) || !sameParam(dqn.inputs[2], q.inputs[2], env)) return undefined;
  return rw.node(mv.op, [dqn.inputs[0]!, ...mv.inputs.slice(1)], mv.attrs, { name: mv.name });
}

/**
 * Q(Concat(a, b, …), s, z) → Concat(Q(a, s, z), Q(b, s, z), …) for a per-tensor Q:
 * exact (Q is elementwise), and each Q then rides its producer's epilogue while the
 * Concat of integers stays a placement of the producers' outputs. Only when the Concat
 * has no other reader (otherwise the float Concat is still needed).
 */
function concatRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const q = m.root;
  const cat = m.nodes['cat']!;
  const env = ENV(rw);
  if (!perTensor(q, env) || rw.ed.useCount(cat.outputs[0]!) !== 1) return undefined;
  if (cat.inputs.some((v) => rw.ed.typeOf(v).dtype !== 'float32' || env.constantOf(v))) return undefined;
  const parts = cat.inputs.map((v, i) => rw.node('QuantizeLinear', [v, ...q.inputs.slice(1)], q.attrs, { name: `${q.name}_${i}` })[0]!);
  return rw.node('Concat', parts, cat.attrs, { name: cat.name });
}

/**
 * Q(MaxPool(a), s, z) → MaxPool(Q(a, s, z)): exact, since Q is non-decreasing and the
 * padding MaxPool ignores stays ignored; the Q then rides a's producer's epilogue. Only
 * the single-output MaxPool read by the Q alone.
 */
function maxPoolRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const q = m.root;
  const mp = m.nodes['mp']!;
  const env = ENV(rw);
  if (!perTensor(q, env) || mp.outputs.filter((o) => o !== '').length !== 1 || rw.ed.typeOf(mp.inputs[0]!).dtype !== 'float32') return undefined;
  const a = rw.node('QuantizeLinear', [mp.inputs[0]!, ...q.inputs.slice(1)], q.attrs, { name: `${q.name}_pre` })[0]!;
  return rw.node('MaxPool', [a], mp.attrs, { name: mp.name });
}

/** The QDQ rules (Conv, MatMul, Gemm reading DequantizeLinear operands; Q/DQ around movement ops, Concat and MaxPool). */
export const qdqRules: RuleSet = new RuleSet([
  rule('qdq-movement', P.op('QuantizeLinear', [P.op(MOVES, [dq('dq')], { as: 'mv' })]), movementRule),
  rule('qdq-concat', P.op('QuantizeLinear', [P.op('Concat', undefined, { as: 'cat' })]), concatRule),
  rule('qdq-maxpool', P.op('QuantizeLinear', [P.op('MaxPool', undefined, { as: 'mp' })]), maxPoolRule),
  rule('qdq-conv', P.op('Conv', [dq('dqx'), dq('dqw')]), convRule),
  rule('qdq-matmul', P.op('MatMul', [dq('dqx'), dq('dqw')]), matmulRule),
  rule('qdq-gemm', P.op('Gemm', [dq('dqx'), dq('dqw')]), gemmRule),
]);

/** Per-tensor constant (scale, zero point) of a Q/DQ node on a non-constant input, as numbers. */
function perTensor(n: Node, env: MatchEnv): { s: string; z: number } | undefined {
  if (n.domain !== '' || Number(n.attrs['block_size'] ?? 0) !== 0 || Number(n.attrs['saturate'] ?? 1) !== 1) return undefined;
  if (env.constantOf(n.inputs[0]!)) return undefined;
  const s = env.constantOf(n.inputs[1]!);
  const z = n.inputs[2] ? env.constantOf(n.inputs[2]) : undefined;
  if (!s || s.dtype !== 'float32' || s.size !== 1 || (n.inputs[2] && (!z || z.size !== 1))) return undefined;
  return { s: n.inputs[1]!, z: z ? Number(z.data[0]) : 0 };
}

const RANGE: Readonly<Record<string, readonly [number, number, number]>> = { uint8: [0, 255, 2], int8: [-128, 127, 3] };

/**
 * QuantizeLinear(x, s, z) per tensor → Cast(Clip(Round(x / s) + z, lo, hi)): the same
 * arithmetic (f32 division, round half to even, saturation) as standard elementwise
 * ops, which epilogue and elementwise fusion then absorb into the producer's kernel.
 */
function quantizeRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const n = m.root;
  const env = ENV(rw);
  const p = perTensor(n, env);
  const r = RANGE[rw.ed.typeOf(n.outputs[0]!).dtype];
  if (!p || !r || rw.ed.typeOf(n.inputs[0]!).dtype !== 'float32') return undefined;
  const k = (v: number): string => rw.constant(Tensor.from('float32', [], [v]), `${n.name}_k`);
  let v = rw.node('Round', [rw.node('Div', [n.inputs[0]!, p.s], {}, { name: `${n.name}_div` })[0]!], {}, { name: `${n.name}_round` })[0]!;
  if (p.z !== 0) v = rw.node('Add', [v, k(p.z)], {}, { name: `${n.name}_zp` })[0]!;
  v = rw.node('Clip', [v, k(r[0]), k(r[1])], {}, { name: `${n.name}_sat` })[0]!;
  return rw.node('Cast', [v], { to: r[2] }, { name: n.name });
}

/** DequantizeLinear(q, s, z) per tensor → (Cast(q) - z) · s (exact like the reference). */
function dequantizeRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const n = m.root;
  const env = ENV(rw);
  const p = perTensor(n, env);
  if (!p || !RANGE[rw.ed.typeOf(n.inputs[0]!).dtype] || rw.ed.typeOf(n.outputs[0]!).dtype !== 'float32') return undefined;
  let v = rw.node('Cast', [n.inputs[0]!], { to: 1 }, { name: `${n.name}_f32` })[0]!;
  if (p.z !== 0) v = rw.node('Sub', [v, rw.constant(Tensor.from('float32', [], [p.z]), `${n.name}_k`)], {}, { name: `${n.name}_zp` })[0]!;
  return rw.node('Mul', [v, p.s], {}, { name: n.name });
}

/**
 * Dynamic quantization's rescale Cast(acc) · (x_scale · w_scale), with x_scale the
 * scalar output of DynamicQuantizeLinear, as (Cast(acc) · x_scale) · w_scale: both
 * factors then ride the MatMulInteger's epilogue instead of a dispatch of their own.
 */
function rescaleRule(m: Match, rw: Rewriter): readonly string[] | undefined {
  const xs = m.values['xs']!;
  const ws = m.values['ws']!;
  if (rw.ed.typeOf(xs).shape.length !== 0 || rw.ed.typeOf(m.values['acc']!).dtype !== 'float32') return undefined;
  if (rw.ed.typeOf(m.root.outputs[0]!).dtype !== 'float32') return undefined;
  const t = rw.node('Mul', [m.values['acc']!, xs], {}, { name: `${m.root.name}_xs` })[0]!;
  return rw.node('Mul', [t, ws], {}, { name: m.root.name });
}

/** Per-tensor QuantizeLinear/DequantizeLinear as elementwise ops, and the dynamic-quantization rescale. */
export const qdqElementwiseRules: RuleSet = new RuleSet([
  rule('qdq-quantize', P.op('QuantizeLinear'), quantizeRule),
  rule('qdq-dequantize', P.op('DequantizeLinear'), dequantizeRule),
  rule('dynamic-rescale', P.op('Mul', [
    P.op('Cast', [P.op('MatMulInteger')], { as: 'cast', shared: true, where: (n) => Number(n.attrs['to']) === 1 }),
    P.op('Mul', [P.op('DynamicQuantizeLinear', undefined, { output: 1, shared: true }), P.const('ws')], { as: 'scale', commutative: true }),
  ], { commutative: true, where: (n) => n.inputs.length === 2 }), (m, rw) => rescaleRule({ ...m, values: { ...m.values, acc: m.nodes['cast']!.outputs[0]!, xs: m.nodes['scale']!.inputs.find((v) => !rw.ed.constantOf(v))! } }, rw)),
]);

/**
 * QDQ → integer kernels (O2). It runs first in the pipeline, before constant folding
 * turns small int8 weights behind DequantizeLinear back into float32.
 */
export const qdqPass: Pass = { name: 'fuse-qdq', level: 2, run: (g) => rewrite(g, qdqRules) };

/**
 * The remaining per-tensor Q/DQ nodes as elementwise ops, and the dynamic rescale
 * (O2). It runs after the mixed-precision pass (which keeps quantization in float32
 * by the Q/DQ ops' PRECISION rule) and before fusion, which then absorbs them with the
 * rescale and activation into the integer kernels' epilogues.
 */
export const qdqElementwisePass: Pass = { name: 'qdq-elementwise', level: 2, run: (g) => rewrite(g, qdqElementwiseRules) };
