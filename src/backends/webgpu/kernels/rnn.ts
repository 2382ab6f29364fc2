/**
 * WebGPU kernels of RNN, GRU and LSTM (semantics: src/graph/ops/rnn.ts). One
 * workgroup per (direction, batch) walks the time steps inside the shader;
 * invocations stride over hidden units; each step ends with a storageBarrier (GRU
 * without linear_before_reset has one more, after r⊙h). State is kept in f32
 * scratch: [h (two copies, used in turn) | c | z | r⊙h] per workgroup.
 */
import { AttributeError, LimitError } from '../../../graph/errors.js';
import type { GpuKernel, KernelTable, KernelContext } from '../kernel.js';
import { RNN_HELPERS, WGSL_ACTIVATIONS } from '../../../../shaders/rnn.js';
import { ShaderBuilder } from '../wgsl.js';

interface Spec {
  readonly name: string;
  readonly gates: number;
  readonly defaultActs: readonly string[];
  readonly cell: boolean;
}

/** Per direction, per activation slot: the WGSL function of x (matching the CPU's parameter assignment). */
function activations(spec: Spec, ctx: KernelContext, dirs: number): ((x: string) => string)[][] {
  const names = (ctx.attrs['activations'] as readonly string[] | undefined) ?? [];
  const alphas = (ctx.attrs['activation_alpha'] as readonly number[] | undefined) ?? [];
  const betas = (ctx.attrs['activation_beta'] as readonly number[] | undefined) ?? [];
  const per = spec.defaultActs.length;
  const out: ((x: string) => string)[][] = [];
  let used = 0;
  for (let d = 0; d < dirs; d++) {
    const acts: ((x: string) => string)[] = [];
    for (let k = 0; k < per; k++) {
      const i = d * per + k;
      const name = names[i] ?? spec.defaultActs[k]!;
      const make = WGSL_ACTIVATIONS[name.toLowerCase()];
      if (!make) throw new AttributeError(`${ctx.node}: unknown activation '${name}'`, ctx.node);
      const takesParams = names[i] !== undefined && /affine|leaky|thresholded|scaled|hardsig|elu/i.test(name);
      if (takesParams) {
        const a = alphas[used];
        const b = betas[used++];
        acts.push((x) => make(x, a, b));
      } else acts.push((x) => make(x));
    }
    out.push(acts);
  }
  return out;
}

function recurrentKernel(spec: Spec): GpuKernel {
  return {
    plan(ctx) {
      const X = ctx.inputs[0]!;
      const R = ctx.inputs[2]!;
      const dirs = ctx.attrs['direction'] === 'bidirectional' ? 2 : 1;
      const batchFirst = ctx.attrs['layout'] === 1;
      const [seq, batch, inSize] = batchFirst ? [X.shape[1]!, X.shape[0]!, X.shape[2]!] : [X.shape[0]!, X.shape[1]!, X.shape[2]!];
      const hid = R.shape[2]!;
      const G = spec.gates;
      const groups = dirs * batch;
      if (groups > ctx.limits.maxComputeWorkgroupsPerDimension) {
        throw new LimitError(`${ctx.node}: ${spec.name} with ${groups} direction×batch pairs exceeds maxComputeWorkgroupsPerDimension`, ctx.node);
      }
      const max = Math.min(256, ctx.limits.maxComputeInvocationsPerWorkgroup, ctx.limits.maxComputeWorkgroupSizeX);
      let wg = 32;
      while (wg < hid && wg * 2 <= max) wg *= 2;
      wg = Math.min(wg, max);
      const acts = activations(spec, ctx, dirs);
      const clip = ctx.attrs['clip'] as number | undefined;
      const cl = (v: string): string => (clip === undefined ? v : `clamp(${v}, ${-clip}, ${clip})`);
      const sb = new ShaderBuilder(ctx);
      const has = (k: number): boolean => ctx.inputs[k] !== undefined;
      ctx.inputs.forEach((t, k) => t && sb.input(k));
      const yOut = ctx.outputs[0]?.shape.length === 4;
      const hOut = ctx.outputs[1]?.shape.length === 3;
      const cOut = spec.cell && ctx.outputs[2]?.shape.length === 3;
      if (yOut) sb.output(0);
      if (hOut) sb.output(1);
      if (cOut) sb.output(2);
      sb.scratch(0, 'f32');
      sb.fn(RNN_HELPERS);
      const [SEQ, BAT, IN, HID] = sb.u32s([seq, batch, inSize, hid]);
      const DIRS = sb.u32(dirs);
      const xAt = batchFirst ? `(b * ${SEQ} + t) * ${IN}` : `(t * ${BAT} + b) * ${IN}`;
      const yIdx = (t: string): string => (batchFirst ? `((b * ${SEQ} + ${t}) * ${DIRS} + d) * ${HID} + j` : `((${t} * ${DIRS} + d) * ${BAT} + b) * ${HID} + j`);
      const stIdx = batchFirst ? `(b * ${DIRS} + d) * ${HID} + j` : `(d * ${BAT} + b) * ${HID} + j`;
      const st = (k: number): string => ctx.outputs[k]?.storage ?? 'f32';
      // gate(q, src): x·W + Wb + src·R + Rb for unit j, where src is a scratch base.
      sb.fn(`fn gate(q: u32, j: u32, t: u32, d: u32, b: u32, src: u32, rb: bool) -> f32 {
  var v = 0.0;
  let wrow = ((d * ${G}u + q) * ${HID} + j) * ${IN};
  let xo = ${xAt};
  for (var k = 0u; k < ${IN}; k++) { v = v + f32(in0[xo + k]) * f32(in1[wrow + k]); }
  let rrow = ((d * ${G}u + q) * ${HID} + j) * ${HID};
  var h = 0.0;
  for (var k = 0u; k < ${HID}; k++) { h = h + tmp0[src + k] * f32(in2[rrow + k]); }
${has(3) ? `  let bo = d * ${2 * G}u * ${HID} + q * ${HID} + j;\n  v = v + f32(in3[bo]);\n  if (rb) { h = h + f32(in3[bo + ${G}u * ${HID}]); }\n` : ''}  return v + h;
}`);
      if (has(3)) sb.fn(`fn rbias(q: u32, j: u32, d: u32) -> f32 { return f32(in3[d * ${2 * G}u * ${HID} + ${G}u * ${HID} + q * ${HID} + j]); }`);
      else sb.fn('fn rbias(q: u32, j: u32, d: u32) -> f32 { return 0.0; }');
      const act = (k: number, x: string): string => (dirs === 1 ? acts[0]![k]!(x) : `select(${acts[0]![k]!(x)}, ${acts[1]![k]!(x)}, d == 1u)`);
      const lbr = ctx.attrs['linear_before_reset'] === 1;
      const inputForget = ctx.attrs['input_forget'] === 1;
      // Scratch layout per workgroup: h0 | h1 | c | z | rh, each HID floats. With
      // linear_before_reset the rh block stays zero, so gate(q, rs, false) is x·W + Wb alone.
      const step: string[] = [];
      if (spec.name === 'RNN') {
        step.push(`    for (var j = l; j < ${HID}; j += ${wg}u) { tmp0[hn + j] = ${act(0, cl(`gate(0u, j, t, d, b, hp, true)`))}; }`);
      } else if (spec.name === 'GRU') {
        if (lbr) {
          step.push(`    for (var j = l; j < ${HID}; j += ${wg}u) {
      let z = ${act(0, cl('gate(0u, j, t, d, b, hp, true)'))};
      let r = ${act(0, cl('gate(1u, j, t, d, b, hp, true)'))};
      let xh = gate(2u, j, t, d, b, rs, false);
      let hh = gate(2u, j, t, d, b, hp, true) - xh;
      let cand = ${act(1, cl('xh + r * hh'))};
      tmp0[hn + j] = (1.0 - z) * cand + z * tmp0[hp + j];
    }`);
        } else {
          step.push(`    for (var j = l; j < ${HID}; j += ${wg}u) {
      tmp0[zs + j] = ${act(0, cl('gate(0u, j, t, d, b, hp, true)'))};
      tmp0[rs + j] = ${act(0, cl('gate(1u, j, t, d, b, hp, true)'))} * tmp0[hp + j];
    }
    storageBarrier();
    for (var j = l; j < ${HID}; j += ${wg}u) {
      let cand = ${act(1, cl('gate(2u, j, t, d, b, rs, true)'))};
      let z = tmp0[zs + j];
      tmp0[hn + j] = (1.0 - z) * cand + z * tmp0[hp + j];
    }`);
        }
      } else {
        const P = (o: number, c: string): string => (has(7) ? ` + f32(in7[d * 3u * ${HID} + ${o}u * ${HID} + j]) * ${c}` : '');
        step.push(`    for (var j = l; j < ${HID}; j += ${wg}u) {
      let c0 = tmp0[cs + j];
      let i = ${act(0, cl(`gate(0u, j, t, d, b, hp, true)${P(0, 'c0')}`))};
      let fg = ${inputForget ? '1.0 - i' : act(0, cl(`gate(2u, j, t, d, b, hp, true)${P(2, 'c0')}`))};
      let cc = ${act(1, cl('gate(3u, j, t, d, b, hp, true)'))};
      let c1 = fg * c0 + i * cc;
      tmp0[cs + j] = c1;
      let o = ${act(0, cl(`gate(1u, j, t, d, b, hp, true)${P(1, 'c1')}`))};
      tmp0[hn + j] = o * ${act(2, 'c1')};
    }`);
      }
      const reverse = ctx.attrs['direction'] === 'reverse' ? 'true' : 'd == 1u';
      const stateIn = (k: number): string => (has(k) ? `f32(in${k}[${stIdx}])` : '0.0');
      const entry = `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) l: u32) {
  let d = wid.x / ${BAT};
  let b = wid.x % ${BAT};
  let base = wid.x * 5u * ${HID};
  let cs = base + 2u * ${HID};
  let zs = base + 3u * ${HID};
  let rs = base + 4u * ${HID};
  let len = ${has(4) ? `u32(clamp(i32(in4[b]), 0, i32(${SEQ})))` : SEQ};
  let rev = ${reverse};
  for (var j = l; j < ${HID}; j += ${wg}u) { tmp0[base + j] = ${stateIn(5)}; tmp0[cs + j] = ${spec.cell ? stateIn(6) : '0.0'}; tmp0[rs + j] = 0.0; }
  storageBarrier();
  var cur = 0u;
  for (var s = 0u; s < len; s++) {
    let t = select(s, len - 1u - s, rev);
    let hp = base + cur * ${HID};
    let hn = base + (1u - cur) * ${HID};
${step.join('\n')}
${yOut ? `    for (var j = l; j < ${HID}; j += ${wg}u) { out0[${yIdx('t')}] = ${st(0)}(tmp0[hn + j]); }\n` : ''}    storageBarrier();
    cur = 1u - cur;
  }
  for (var j = l; j < ${HID}; j += ${wg}u) {
${yOut ? `    for (var t = len; t < ${SEQ}; t++) { out0[${yIdx('t')}] = ${st(0)}(0.0); }\n` : ''}${hOut ? `    out1[${stIdx}] = ${st(1)}(tmp0[base + cur * ${HID} + j]);\n` : ''}${cOut ? `    out2[${stIdx}] = ${st(2)}(tmp0[cs + j]);\n` : ''}  }
}`;
      const d = sb.dispatch(sb.module(entry), [groups, 1, 1], `${spec.name}.sequence`);
      return { scratch: [Math.max(4, groups * 5 * hid * 4)], dispatches: [d] };
    },
  };
}

/** Recurrent kernels by op. */
export const rnnKernels: KernelTable = {
  RNN: recurrentKernel({ name: 'RNN', gates: 1, defaultActs: ['Tanh'], cell: false }),
  GRU: recurrentKernel({ name: 'GRU', gates: 3, defaultActs: ['Sigmoid', 'Tanh'], cell: false }),
  LSTM: recurrentKernel({ name: 'LSTM', gates: 4, defaultActs: ['Sigmoid', 'Tanh', 'Tanh'], cell: true }),
};
