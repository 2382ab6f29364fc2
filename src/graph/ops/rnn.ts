/**
 * Op family: recurrent layers RNN, GRU and LSTM (ONNX opset 14 form, with `layout`).
 * One driver walks directions, batches and time steps (honouring sequence_lens and
 * reverse direction); each op supplies its gate count, default activations and one
 * step function over the gate pre-activations. Activations come from a table keyed
 * by the ONNX activation names.
 */
import { attr } from '../attrs.js';
import { expectDType, FLOATS } from '../dtype.js';
import { AttributeError, ShapeError } from '../errors.js';
import { defineOp, type InferInput, type OpContext } from '../op.js';
import type { Dim } from '../shape.js';
import { Tensor } from '../tensor.js';

type Act = (x: number) => number;
const ACTIVATIONS: Readonly<Record<string, (alpha?: number, beta?: number) => Act>> = {
  relu: () => (x) => Math.max(0, x),
  tanh: () => Math.tanh,
  sigmoid: () => (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  affine: (a = 1, b = 0) => (x) => a * x + b,
  leakyrelu: (a = 0.01) => (x) => (x >= 0 ? x : a * x),
  thresholdedrelu: (a = 1) => (x) => (x > a ? x : 0),
  scaledtanh: (a = 1, b = 1) => (x) => a * Math.tanh(b * x),
  hardsigmoid: (a = 0.2, b = 0.5) => (x) => Math.max(0, Math.min(1, a * x + b)),
  elu: (a = 1) => (x) => (x >= 0 ? x : a * (Math.exp(x) - 1)),
  softsign: () => (x) => x / (1 + Math.abs(x)),
  softplus: () => (x) => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0),
};

const commonAttrs = {
  activation_alpha: attr.optFloats(),
  activation_beta: attr.optFloats(),
  activations: attr.optStrings(),
  clip: attr.optFloat(),
  direction: attr.string('forward', ['forward', 'reverse', 'bidirectional']),
  hidden_size: attr.optInt(),
  layout: attr.int(0, (v) => (v === 0 || v === 1 ? undefined : 'must be 0 or 1')),
};

interface RecurrentSpec {
  readonly name: string;
  readonly gates: number;
  readonly defaultActs: readonly string[];
  /** Extra state inputs/outputs: LSTM carries the cell state. */
  readonly cell: boolean;
  readonly doc: string;
}

interface Ctx {
  readonly node: string;
  readonly attrs: Readonly<Record<string, unknown>>;
}

function activations(spec: RecurrentSpec, ctx: Ctx, dirs: number): Act[][] {
  const names = (ctx.attrs.activations as readonly string[] | undefined) ?? [];
  const alphas = (ctx.attrs.activation_alpha as readonly number[] | undefined) ?? [];
  const betas = (ctx.attrs.activation_beta as readonly number[] | undefined) ?? [];
  const per = spec.defaultActs.length;
  const out: Act[][] = [];
  let used = 0;
  for (let d = 0; d < dirs; d++) {
    const acts: Act[] = [];
    for (let k = 0; k < per; k++) {
      const i = d * per + k;
      const name = names[i] ?? spec.defaultActs[k]!;
      const make = ACTIVATIONS[name.toLowerCase()];
      if (!make) throw new AttributeError(`${ctx.node}: unknown activation '${name}'`, ctx.node);
      const takesParams = names[i] !== undefined && /affine|leaky|thresholded|scaled|hardsig|elu/i.test(name);
      acts.push(takesParams ? make(alphas[used], betas[used++]) : make());
    }
    out.push(acts);
  }
  return out;
}

function hiddenSize(spec: RecurrentSpec, ins: readonly (InferInput | undefined)[], ctx: OpContext<Record<string, unknown>>): Dim {
  const r = ins[2]!;
  const h = ctx.attrs.hidden_size as number | undefined;
  if (h !== undefined) return h;
  const d = r.shape[2];
  if (d === undefined) throw new ShapeError(`${ctx.node}: ${spec.name} R must be rank 3`, ctx.node);
  return d;
}

type Step = (g: Float64Array, h: Float64Array, c: Float64Array, acts: Act[], ctx: StepCtx) => void;
interface StepCtx {
  readonly hidden: number;
  readonly hPrevTimesR: (gate: number, scaledH?: Float64Array) => Float64Array;
  readonly peep?: Float64Array | undefined;
  readonly linearBeforeReset: boolean;
  readonly inputForget: boolean;
  readonly rb: Float64Array;
  readonly clip?: number | undefined;
}

function recurrentOp(spec: RecurrentSpec, extraAttrs: Record<string, ReturnType<typeof attr.int>>, step: Step) {
  const inputs = ['X', 'W', 'R', 'B?', 'sequence_lens?', 'initial_h?', ...(spec.cell ? ['initial_c?', 'P?'] : [])];
  const outputs = ['Y?', 'Y_h?', ...(spec.cell ? ['Y_c?'] : [])];
  return defineOp({
    name: spec.name,
    inputs,
    outputs,
    attrs: { ...commonAttrs, ...extraAttrs },
    category: 'opaque',
    multi: true,
    doc: spec.doc,
    outputCount: () => outputs.length,
    infer(ins, ctx) {
      const [x, w, r] = ins;
      expectDType(x!.dtype, FLOATS, ctx.node, 'X');
      if (x!.shape.length !== 3 || w!.shape.length !== 3 || r!.shape.length !== 3) {
        throw new ShapeError(`${ctx.node}: ${spec.name} needs rank-3 X, W and R`, ctx.node);
      }
      const dirs = ctx.attrs.direction === 'bidirectional' ? 2 : 1;
      const hid = hiddenSize(spec, ins, ctx as OpContext<Record<string, unknown>>);
      const batchFirst = ctx.attrs.layout === 1;
      const [seq, batch] = batchFirst ? [x!.shape[1]!, x!.shape[0]!] : [x!.shape[0]!, x!.shape[1]!];
      const y = batchFirst ? [batch, seq, dirs, hid] : [seq, dirs, batch, hid];
      const state = batchFirst ? [batch, dirs, hid] : [dirs, batch, hid];
      return [{ dtype: x!.dtype, shape: y }, { dtype: x!.dtype, shape: state }, ...(spec.cell ? [{ dtype: x!.dtype, shape: state }] : [])];
    },
    cpu(ins, ctx) {
      const [x, w, r, b, lens, h0, c0, p] = ins;
      const attrs = ctx.attrs as Record<string, unknown>;
      const batchFirst = attrs.layout === 1;
      const dirs = attrs.direction === 'bidirectional' ? 2 : 1;
      const [seq, batch, inSize] = batchFirst ? [x!.shape[1]!, x!.shape[0]!, x!.shape[2]!] : [x!.shape[0]!, x!.shape[1]!, x!.shape[2]!];
      const hid = r!.shape[2]!;
      const G = spec.gates;
      const acts = activations(spec, ctx, dirs);
      const clip = attrs.clip as number | undefined;
      const Y = new Tensor(x!.dtype, ctx.outputs[0]!.shape as number[]);
      const Yh = new Tensor(x!.dtype, ctx.outputs[1]!.shape as number[]);
      const Yc = spec.cell ? new Tensor(x!.dtype, ctx.outputs[2]!.shape as number[]) : undefined;
      const xAt = (t: number, bi: number, k: number) => x!.data[batchFirst ? (bi * seq + t) * inSize + k : (t * batch + bi) * inSize + k]!;
      const stateIdx = (d: number, bi: number, k: number) => (batchFirst ? (bi * dirs + d) * hid + k : (d * batch + bi) * hid + k);
      const yIdx = (t: number, d: number, bi: number, k: number) => (batchFirst ? ((bi * seq + t) * dirs + d) * hid + k : ((t * dirs + d) * batch + bi) * hid + k);
      for (let d = 0; d < dirs; d++) {
        const reverse = attrs.direction === 'reverse' || d === 1;
        const wb = new Float64Array(G * hid);
        const rb = new Float64Array(G * hid);
        if (b) for (let k = 0; k < G * hid; k++) {
          wb[k] = b.data[d * 2 * G * hid + k]!;
          rb[k] = b.data[d * 2 * G * hid + G * hid + k]!;
        }
        const peep = spec.cell && p ? Float64Array.from({ length: 3 * hid }, (_, k) => p.data[d * 3 * hid + k]!) : undefined;
        for (let bi = 0; bi < batch; bi++) {
          const len = lens ? Math.min(seq, lens.data[bi]!) : seq;
          const h = new Float64Array(hid);
          const c = new Float64Array(hid);
          for (let k = 0; k < hid; k++) {
            h[k] = h0 ? h0.data[stateIdx(d, bi, k)]! : 0;
            c[k] = c0 ? c0.data[stateIdx(d, bi, k)]! : 0;
          }
          const g = new Float64Array(G * hid);
          const hR = (gate: number, hv: Float64Array = h): Float64Array => {
            const o = new Float64Array(hid);
            for (let j = 0; j < hid; j++) {
              let s = 0;
              const row = ((d * G + gate) * hid + j) * hid;
              for (let k = 0; k < hid; k++) s += hv[k]! * r!.data[row + k]!;
              o[j] = s;
            }
            return o;
          };
          for (let s = 0; s < len; s++) {
            const t = reverse ? len - 1 - s : s;
            for (let j = 0; j < G * hid; j++) {
              let v = wb[j]!;
              const row = (d * G * hid + j) * inSize;
              for (let k = 0; k < inSize; k++) v += xAt(t, bi, k) * w!.data[row + k]!;
              g[j] = v;
            }
            step(g, h, c, acts[d]!, {
              hidden: hid,
              hPrevTimesR: hR,
              peep,
              linearBeforeReset: attrs.linear_before_reset === 1,
              inputForget: attrs.input_forget === 1,
              rb,
              clip,
            });
            for (let k = 0; k < hid; k++) Y.data[yIdx(t, d, bi, k)] = h[k]!;
          }
          for (let k = 0; k < hid; k++) {
            Yh.data[stateIdx(d, bi, k)] = h[k]!;
            if (Yc) Yc.data[stateIdx(d, bi, k)] = c[k]!;
          }
        }
      }
      return Yc ? [Y, Yh, Yc] : [Y, Yh];
    },
  });
}

function clipped(v: number, ctx: StepCtx): number {
  const c = ctx.clip;
  return c === undefined ? v : Math.max(-c, Math.min(c, v));
}

/** RNN: H_t = f(X_t·Wᵀ + H_{t-1}·Rᵀ + Wb + Rb). */
export const RNN = recurrentOp({ name: 'RNN', gates: 1, defaultActs: ['Tanh'], cell: false, doc: 'Simple recurrent layer.' }, {}, (g, h, _c, [f], ctx) => {
  const hr = ctx.hPrevTimesR(0);
  for (let k = 0; k < ctx.hidden; k++) h[k] = f!(clipped(g[k]! + hr[k]! + ctx.rb[k]!, ctx));
});

/** GRU with gates z, r, h (linear_before_reset supported). */
export const GRU = recurrentOp(
  { name: 'GRU', gates: 3, defaultActs: ['Sigmoid', 'Tanh'], cell: false, doc: 'Gated recurrent unit layer.' },
  { linear_before_reset: attr.int(0) },
  (g, h, _c, [f, gAct], ctx) => {
    const n = ctx.hidden;
    const hz = ctx.hPrevTimesR(0);
    const hr = ctx.hPrevTimesR(1);
    const z = new Float64Array(n);
    const r = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      z[k] = f!(clipped(g[k]! + hz[k]! + ctx.rb[k]!, ctx));
      r[k] = f!(clipped(g[n + k]! + hr[k]! + ctx.rb[n + k]!, ctx));
    }
    let cand: Float64Array;
    if (ctx.linearBeforeReset) {
      const hh = ctx.hPrevTimesR(2);
      cand = Float64Array.from({ length: n }, (_, k) => gAct!(clipped(g[2 * n + k]! + r[k]! * (hh[k]! + ctx.rb[2 * n + k]!), ctx)));
    } else {
      const rh = Float64Array.from({ length: n }, (_, k) => r[k]! * h[k]!);
      const hh = ctx.hPrevTimesR(2, rh);
      cand = Float64Array.from({ length: n }, (_, k) => gAct!(clipped(g[2 * n + k]! + hh[k]! + ctx.rb[2 * n + k]!, ctx)));
    }
    for (let k = 0; k < n; k++) h[k] = (1 - z[k]!) * cand[k]! + z[k]! * h[k]!;
  },
);

/** LSTM with gates i, o, f, c, optional peepholes (P: i, o, f) and input_forget coupling. */
export const LSTM = recurrentOp(
  { name: 'LSTM', gates: 4, defaultActs: ['Sigmoid', 'Tanh', 'Tanh'], cell: true, doc: 'Long short-term memory layer.' },
  { input_forget: attr.int(0) },
  (g, h, c, [f, gAct, hAct], ctx) => {
    const n = ctx.hidden;
    const R = [0, 1, 2, 3].map((q) => ctx.hPrevTimesR(q));
    const pre = (q: number, k: number) => g[q * n + k]! + R[q]![k]! + ctx.rb[q * n + k]!;
    const P = ctx.peep;
    for (let k = 0; k < n; k++) {
      const i = f!(clipped(pre(0, k) + (P ? P[k]! * c[k]! : 0), ctx));
      const fg = ctx.inputForget ? 1 - i : f!(clipped(pre(2, k) + (P ? P[2 * n + k]! * c[k]! : 0), ctx));
      const cc = gAct!(clipped(pre(3, k), ctx));
      c[k] = fg * c[k]! + i * cc;
      const o = f!(clipped(pre(1, k) + (P ? P[n + k]! * c[k]! : 0), ctx));
      h[k] = o * hAct!(c[k]!);
    }
  },
);

/** Recurrent ops. */
export const rnnOps = { RNN, GRU, LSTM } as const;
