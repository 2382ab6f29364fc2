/**
 * WebGPU kernels of the quantization family: QuantizeLinear, DequantizeLinear
 * (per-tensor and per-axis), DynamicQuantizeLinear (one workgroup reduces the
 * range and, up to 2^16 elements, quantizes too; a larger tensor gets a second dispatch), QLinearMatMul, QLinearConv and ConvInteger (direct
 * kernels: dequantize on load, accumulate in f32 with fma in the reference's
 * order, requantize). Semantics are those of src/graph/ops/quantize.ts.
 *
 * The x / scale that decides rounding is computed with an exact residual
 * (shaders/quantize.ts), so QuantizeLinear and DynamicQuantizeLinear match the CPU
 * exactly, ties included. QLinearMatMul / QLinearConv accumulate in f32 like the
 * reference; where a driver does not fuse fma, or the reference's blocked matmul
 * sums in another order, a sum landing within an f32 ulp of a .5 boundary may
 * requantize one step off (not seen in the tests or the ONNX data).
 */
import { floatFormatOf } from '../../../graph/dtype.js';
import { ShapeError, UnsupportedOpError } from '../../../graph/errors.js';
import { TO_FMT_HELPER, toFormatWgsl } from '../scalar-wgsl.js';
import { normalizeAxis, sizeOf, stridesOf, type ConcreteShape } from '../../../graph/shape.js';
import { resolveWindow, type WindowAttrs } from '../../../graph/ops/conv-util.js';
import type { GpuKernel, KernelTable, GpuTensorInfo, KernelContext, KernelPlan } from '../kernel.js';
import { convIntegerSplit } from '../chunk.js';
import { QUANT_HELPERS, qRange } from '../../../../shaders/quantize.js';
import { broadcastStridesOf, coordsOf, ShaderBuilder } from '../wgsl.js';
import { onceInputs, plainEpilogue, type Epilogue, type OperandLoad } from '../wgsl-epilogue.js';

/**
 * WGSL u32 index of the scale / zero-point element for the element at flat index
 * `flat` of a tensor of shape `shape` (per-tensor: 0; per-axis: the coordinate on `axis`).
 */
export function paramIndex(sb: ShaderBuilder, ctx: KernelContext, shape: ConcreteShape, param: GpuTensorInfo | undefined, axis: number, flat: string, blockSize = 0): string {
  if (!param || (sizeOf(param.shape) === 1 && blockSize === 0)) return '0u';
  const a = normalizeAxis(axis, shape.length, ctx.node);
  const dim = shape[a]!;
  const inner = sizeOf(shape.slice(a + 1));
  if (blockSize > 0) {
    // Blocked (opset 21): the parameter has x's rank with ceil(dim / blockSize) at the axis.
    const blocks = Math.ceil(dim / blockSize);
    const want = shape.map((d, k) => (k === a ? blocks : d));
    if (param.shape.length !== shape.length || param.shape.some((d, k) => d !== want[k])) {
      throw new ShapeError(`${ctx.node}: blocked parameter must have shape [${want.join(',')}], got [${param.shape.join(',')}]`, ctx.node);
    }
    const [I, D, B, S] = [sb.u32(inner), sb.u32(dim), sb.u32(blocks), sb.u32(blockSize)];
    return `(((${flat} / (${I} * ${D})) * ${B} + ((${flat} / ${I}) % ${D}) / ${S}) * ${I} + ${flat} % ${I})`;
  }
  if (sizeOf(param.shape) !== dim) throw new ShapeError(`${ctx.node}: per-axis parameter has ${sizeOf(param.shape)} elements, axis ${a} has ${dim}`, ctx.node);
  return `((${flat} / ${sb.u32(inner)}) % ${sb.u32(dim)})`;
}

/** WGSL f32 dequantized value of element `at` of input `x` with scale input `s` and zero point input `z` (index `k`). */
function deq(ctx: KernelContext, x: number, s: number, z: number, at: string, k: string): string {
  const X = `in${x}`;
  const S = `in${s}`;
  if (floatFormatOf(ctx.inputs[x]!.dtype)) {
    // float8 x (f32 storage): (x - zp) * scale in f32.
    const zf = ctx.inputs[z] ? `f32(in${z}[${k}])` : '0.0';
    return `((f32(${X}[${at}]) - ${zf}) * f32(${S}[${k}]))`;
  }
  const zp = ctx.inputs[z] ? `i32(in${z}[${k}])` : '0i';
  return `(f32(i32(${X}[${at}]) - ${zp}) * f32(${S}[${k}]))`;
}

/** WGSL storing the requantized f32 value `v` to output 0 at `at` (scale input `s`, zero point input `z`, index `k`). */
function requant(ctx: KernelContext, v: string, s: number, z: number | undefined, at: string, k: string): string {
  const out = ctx.outputs[0]!;
  const zp = z !== undefined && ctx.inputs[z] ? ` + f32(in${z}[${k}])` : '';
  if (floatFormatOf(out.dtype)) {
    // float8 (opset 19): x / scale + zp rounded to the format, saturating unless saturate = 0.
    return `out0[${at}] = ${toFormatWgsl(out.dtype, `(kq_div(${v}, f32(in${s}[${k}]))${zp})`, Number(ctx.attrs['saturate'] ?? 1) !== 0)};`;
  }
  const [lo, hi] = qRange(out.dtype);
  return `out0[${at}] = ${out.storage}(kq_sat(round(kq_div(${v}, f32(in${s}[${k}])))${zp}, ${lo}, ${hi}));`;
}

function bindAll(sb: ShaderBuilder, ctx: KernelContext): void {
  ctx.inputs.forEach((t, k) => t && sb.input(k));
  sb.output(0);
  QUANT_HELPERS.forEach((h) => sb.fn(h));
  sb.fn(TO_FMT_HELPER);
}

/**
 * A per-element kernel over input 0 whose scale / zero point (inputs 1 and 2) are
 * per tensor or along attribute `axis`: `body(ctx, i)` is the WGSL for element `i`,
 * run with `k` bound to that element's parameter index.
 */
function perAxisKernel(label: string, body: (ctx: KernelContext, i: string) => string): GpuKernel {
  return {
    plan(ctx) {
      const x = ctx.inputs[0]!;
      const sb = new ShaderBuilder(ctx);
      bindAll(sb, ctx);
      const axis = Number(ctx.attrs['axis'] ?? 1);
      const block = Number(ctx.attrs['block_size'] ?? 0);
      const d = sb.linear(sizeOf(x.shape), (i) => `  let k = ${paramIndex(sb, ctx, x.shape, ctx.inputs[1], axis, i, block)};\n  ${body(ctx, i)}`, label);
      return { dispatches: [d] };
    },
  };
}

const quantizeLinear = perAxisKernel('QuantizeLinear', (ctx, i) => requant(ctx, `f32(in0[${i}])`, 1, 2, i, 'k'));

const dequantizeLinear = perAxisKernel('DequantizeLinear', (ctx, i) => `out0[${i}] = ${ctx.outputs[0]!.storage}(${deq(ctx, 0, 1, 2, i, 'k')});`);

const RANGE_WG = 256;

/**
 * Tensors up to this many elements are range-reduced and quantized by one workgroup in
 * one dispatch (the reduction's workgroup goes on to quantize: a few hundred elements
 * per invocation); larger ones get a second, per-element dispatch.
 */
const DQL_ONE_DISPATCH_MAX = 1 << 16;

/**
 * WGSL lines declaring `scale` and `zp` (f32) of DynamicQuantizeLinear from the range
 * [lo, hi] (both including 0): scale = (hi - lo) / 255 rounded once (the f32 sum's
 * error and the division's residual carried), zp = saturate(round(-lo / scale)).
 */
function rangeParams(hi: string, lo: string): string {
  return `    let a = ${hi}; let b = -${lo};
    let d = a + b;
    let e = (a - (d - b)) + (b - (d - (d - b)));
    let q = d / 255.0;
    let scale = q + (kq_resid(d, q, 255.0) + e) / 255.0;
    var zp = 0.0;
    if (scale != 0.0) { zp = kq_sat(round(kq_div(b, scale)), 0.0, 255.0); }`;
}

/** WGSL u32 of DynamicQuantizeLinear's quantized f32 `x` with scale `sc` and zero point `zp` (f32); 0 when the scale is 0. */
function rangeQuantize(x: string, sc: string, zp: string): string {
  return `select(u32(kq_sat(round(kq_div(${x}, ${sc})) + ${zp}, 0.0, 255.0)), 0u, ${sc} == 0.0)`;
}

/** The range quantization's values inside a kernel that computes it (see {@link rangeLoads}). */
export interface RangeLoads {
  /** The quantized operand (uint8 as u32); its prelude reduces the range. */
  readonly quantized: OperandLoad;
  /** The zero point (uint8 as u32). */
  readonly zeroPoint: OperandLoad;
  /** WGSL values (module scope, set by the prelude) of the scale (f32) and the zero point (u32). */
  readonly scale: string;
  readonly zeroPointValue: string;
}

/**
 * DynamicQuantizeLinear of node input `source` computed inside another kernel: the
 * prelude has every workgroup reduce the whole input's range (a per-tensor statistic
 * each workgroup recomputes, so no dispatch of its own) and derive the scale and zero
 * point exactly as the DynamicQuantizeLinear kernel does; loads then quantize each
 * element like its second step.
 */
export function rangeLoads(ctx: KernelContext, source: number): RangeLoads {
  const n = sizeOf(ctx.inputs[source]!.shape);
  const helpers = (sb: ShaderBuilder): void => {
    QUANT_HELPERS.forEach((h) => sb.fn(h));
    sb.fn('var<private> kq_rs: f32;\nvar<private> kq_rz: f32;');
  };
  return {
    quantized: {
      value(sb, input, i) {
        helpers(sb);
        return rangeQuantize(`f32(${input(source)}[${i}])`, 'kq_rs', 'kq_rz');
      },
      prelude(sb, input, wg) {
        helpers(sb);
        sb.fn(`var<workgroup> kq_lo: array<f32, ${wg}>;\nvar<workgroup> kq_hi: array<f32, ${wg}>;`);
        const X = input(source);
        const total = sb.u32(n);
        return `  {
    var lo = 0.0; var hi = 0.0;
    for (var i = lid.x; i < ${total}; i += ${wg}u) { let v = f32(${X}[i]); lo = min(lo, v); hi = max(hi, v); }
    kq_lo[lid.x] = lo; kq_hi[lid.x] = hi;
    workgroupBarrier();
    for (var s = ${wg / 2}u; s > 0u; s = s / 2u) {
      if (lid.x < s) { kq_lo[lid.x] = min(kq_lo[lid.x], kq_lo[lid.x + s]); kq_hi[lid.x] = max(kq_hi[lid.x], kq_hi[lid.x + s]); }
      workgroupBarrier();
    }
${rangeParams('kq_hi[0]', 'kq_lo[0]')}
    kq_rs = scale; kq_rz = zp;
  }`;
      },
    },
    zeroPoint: { value: (sb) => { helpers(sb); return 'u32(kq_rz)'; } },
    scale: 'kq_rs',
    zeroPointValue: 'u32(kq_rz)',
  };
}

const dynamicQuantizeLinear: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const n = sizeOf(x.shape);
    const one = n <= DQL_ONE_DISPATCH_MAX;
    const hasOut = (k: number): boolean => ctx.outputs[k]?.shape.length === 0;
    // 1. One workgroup: range (with 0), scale and zero point into tmp0 [scale, zp], and outputs 1/2
    //    (and, for a small tensor, output 0 too).
    const a = new ShaderBuilder(ctx);
    a.input(0);
    const tmp = a.scratch(0, 'f32');
    const o1 = hasOut(1) ? a.output(1) : '';
    const o2 = hasOut(2) ? a.output(2) : '';
    const y0 = one ? a.output(0) : '';
    QUANT_HELPERS.forEach((h) => a.fn(h));
    const total = a.u32(n);
    a.fn(`var<workgroup> lo_s: array<f32, ${RANGE_WG}>;\nvar<workgroup> hi_s: array<f32, ${RANGE_WG}>;`);
    const quantize = (i: string, sc: string, zp: string): string => rangeQuantize(`f32(in0[${i}])`, sc, zp);
    const entry = `@compute @workgroup_size(${RANGE_WG})
fn main(@builtin(local_invocation_index) l: u32) {
  var lo = 0.0; var hi = 0.0;
  for (var i = l; i < ${total}; i += ${RANGE_WG}u) { let v = f32(in0[i]); lo = min(lo, v); hi = max(hi, v); }
  lo_s[l] = lo; hi_s[l] = hi;
  workgroupBarrier();
  for (var s = ${RANGE_WG / 2}u; s > 0u; s = s / 2u) {
    if (l < s) { lo_s[l] = min(lo_s[l], lo_s[l + s]); hi_s[l] = max(hi_s[l], hi_s[l + s]); }
    workgroupBarrier();
  }
  if (l == 0u) {
${rangeParams('hi_s[0]', 'lo_s[0]')}
    tmp0[0] = scale; tmp0[1] = zp;
${o1 ? `    ${o1}[0] = scale;\n` : ''}${o2 ? `    ${o2}[0] = u32(zp);\n` : ''}${one ? '    lo_s[0] = scale; hi_s[0] = zp;\n' : ''}  }
${one ? `  workgroupBarrier();
  let sc = lo_s[0]; let zq = hi_s[0];
  for (var i = l; i < ${total}; i += ${RANGE_WG}u) { ${y0}[i] = ${quantize('i', 'sc', 'zq')}; }
` : ''}}`;
    const d1 = a.dispatch(a.module(entry), [1, 1, 1], one ? 'DynamicQuantizeLinear.one' : 'DynamicQuantizeLinear.range');
    void tmp;
    if (one) return { scratch: [8], dispatches: [d1] };
    // 2. Quantize.
    const b = new ShaderBuilder(ctx);
    b.input(0);
    b.scratch(0, 'f32');
    const y = b.output(0);
    QUANT_HELPERS.forEach((h) => b.fn(h));
    const d2 = b.linear(n, (i) => `  let s = tmp0[0];\n  ${y}[${i}] = ${quantize(i, 's', 'tmp0[1]')};`, 'DynamicQuantizeLinear.quantize');
    return { scratch: [8], dispatches: [d1, d2] };
  },
};

/** Broadcast batch strides of a matrix operand (`rank`-2 leading axes) inside the output batch shape. */
function batchStrides(shape: ConcreteShape, batch: ConcreteShape, matrix: number): number[] {
  if (shape.length <= 2) return batch.map(() => 0);
  return broadcastStridesOf(shape.slice(0, -2), batch).map((s) => s * matrix);
}

const qlinearMatMul: GpuKernel = {
  plan(ctx) {
    const A = ctx.inputs[0]!;
    const B = ctx.inputs[3]!;
    const out = ctx.outputs[0]!;
    const aShape = A.shape.length === 1 ? [1, A.shape[0]!] : A.shape;
    const bShape = B.shape.length === 1 ? [B.shape[0]!, 1] : B.shape;
    const M = aShape[aShape.length - 2]!;
    const K = aShape[aShape.length - 1]!;
    const N = bShape[bShape.length - 1]!;
    const batch = out.shape.slice(0, Math.max(0, out.shape.length - (A.shape.length === 1 ? 0 : 1) - (B.shape.length === 1 ? 0 : 1)));
    const full = [...batch, M, N];
    const sb = new ShaderBuilder(ctx);
    bindAll(sb, ctx);
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const { code, coords } = coordsOf(sb, i, full);
      const m = coords[batch.length]!;
      const nn = coords[batch.length + 1]!;
      const bc = coords.slice(0, batch.length);
      const as = batchStrides(aShape, batch, M * K);
      const bs = batchStrides(bShape, batch, K * N);
      const aBase = ['0u', ...bc.map((c, j) => `${c} * ${sb.u32(as[j]!)}`)].join(' + ');
      const bBase = ['0u', ...bc.map((c, j) => `${c} * ${sb.u32(bs[j]!)}`)].join(' + ');
      const kU = sb.u32(K);
      const nU = sb.u32(N);
      const ka = paramIndex(sb, ctx, A.shape, ctx.inputs[1], 1, 'ai');
      const kb = paramIndex(sb, ctx, B.shape, ctx.inputs[4], -1, 'bi');
      const ky = paramIndex(sb, ctx, out.shape, ctx.inputs[6], 1, i);
      return `${code}
  let a0 = ${aBase} + ${m} * ${kU};
  let b0 = ${bBase} + ${nn};
  var acc = 0.0;
  for (var p = 0u; p < ${kU}; p++) {
    let ai = a0 + p; let bi = b0 + p * ${nU};
    let ka = ${ka}; let kb = ${kb};
    acc = fma(${deq(ctx, 0, 1, 2, 'ai', 'ka')}, ${deq(ctx, 3, 4, 5, 'bi', 'kb')}, acc);
  }
  let ky = ${ky};
  ${requant(ctx, 'acc', 6, 7, i, 'ky')}`;
    }, 'QLinearMatMul.direct');
    return { dispatches: [d] };
  },
};

/**
 * A direct convolution over output element `i`: WGSL lines that leave the sum of
 * `term(xi, wi, m)` over the window in `acc` (type `acc`), for x input `xIn` and
 * w input `wIn` (indices xi, wi and output channel m in scope of the term).
 */
function convNest(sb: ShaderBuilder, ctx: KernelContext, xIn: number, wIn: number, i: string, accType: string, term: string): string {
  const X = ctx.inputs[xIn]!;
  const W = ctx.inputs[wIn]!;
  const out = ctx.outputs[0]!;
  const sp = X.shape.length - 2;
  const win = resolveWindow(ctx.attrs as unknown as WindowAttrs, X.shape.slice(2), W.shape.slice(2), ctx.node, (t) => `s${t}`);
  const group = Number(ctx.attrs['group'] ?? 1);
  const cg = X.shape[1]! / group;
  const mg = W.shape[0]! / group;
  const xStr = stridesOf(X.shape);
  const wStr = stridesOf(W.shape);
  const { code, coords } = coordsOf(sb, i, out.shape);
  const [n, m] = coords as [string, string];
  const lines = [code, `  let m = ${m};`, `  let g = m / ${sb.u32(mg)};`, `  var acc = ${accType}(0);`, `  for (var c = 0u; c < ${sb.u32(cg)}; c++) {`, `    let ci = g * ${sb.u32(cg)} + c;`];
  let close = '  }';
  let xOff = `${n} * ${sb.u32(xStr[0]!)} + ci * ${sb.u32(xStr[1]!)}`;
  let wOff = `m * ${sb.u32(wStr[0]!)} + c * ${sb.u32(wStr[1]!)}`;
  for (let a = 0; a < sp; a++) {
    lines.push(`    for (var k${a} = 0u; k${a} < ${sb.u32(win.kernel[a]!)}; k${a}++) {`);
    lines.push(`      let p${a} = i32(${coords[a + 2]}) * ${sb.i32(win.strides[a]!)} - ${sb.i32(win.padBegin[a]!)} + i32(k${a}) * ${sb.i32(win.dilations[a]!)};`);
    lines.push(`      if (p${a} < 0 || p${a} >= ${sb.i32(X.shape[a + 2]!)}) { continue; }`);
    xOff += ` + u32(p${a}) * ${sb.u32(xStr[a + 2]!)}`;
    wOff += ` + k${a} * ${sb.u32(wStr[a + 2]!)}`;
    close = `    }\n${close}`;
  }
  lines.push(`      let xi = ${xOff}; let wi = ${wOff};`, `      ${term}`, close);
  return lines.join('\n');
}

const qlinearConv: GpuKernel = {
  plan(ctx) {
    const X = ctx.inputs[0]!;
    const W = ctx.inputs[3]!;
    const out = ctx.outputs[0]!;
    const sb = new ShaderBuilder(ctx);
    bindAll(sb, ctx);
    const d = sb.linear(sizeOf(out.shape), (i) => {
      const kx = paramIndex(sb, ctx, X.shape, ctx.inputs[1], 1, 'xi');
      const kw = paramIndex(sb, ctx, W.shape, ctx.inputs[4], 0, 'wi');
      const term = `let kx = ${kx}; let kw = ${kw}; acc = fma(${deq(ctx, 0, 1, 2, 'xi', 'kx')}, ${deq(ctx, 3, 4, 5, 'wi', 'kw')}, acc);`;
      const lines = [convNest(sb, ctx, 0, 3, i, 'f32', term)];
      if (ctx.inputs[8]) {
        const wsK = ctx.inputs[4] && sizeOf(ctx.inputs[4].shape) > 1 ? 'm' : '0u';
        lines.push(`  acc += f32(in8[m]) * f32(in1[0]) * f32(in4[${wsK}]);`);
      }
      const ky = paramIndex(sb, ctx, out.shape, ctx.inputs[6], 1, i);
      lines.push(`  let ky = ${ky};`, `  ${requant(ctx, 'acc', 6, 7, i, 'ky')}`);
      return lines.join('\n');
    }, 'QLinearConv.direct');
    return { dispatches: [d] };
  },
};

/** Which node inputs hold ConvInteger's X, W and the optional zero points. */
export interface ConvIntegerInputs {
  readonly x: number;
  readonly w: number;
  readonly xZero?: number | undefined;
  readonly wZero?: number | undefined;
}

/**
 * Plans a ConvInteger: Σ (x - x_zero_point)(w - w_zero_point) in i32 (w_zero_point
 * scalar or per output channel), with an optional epilogue applied before the store.
 * An operand in `loads` (by its index in `ctx.inputs`) is computed as it is loaded
 * (a quantization fused into the kernel) instead of read from a buffer; loads with a
 * workgroup prelude are not supported here.
 */
export function planConvInteger(ctx: KernelContext, io: ConvIntegerInputs, epilogue?: Epilogue, loads: ReadonlyMap<number, OperandLoad> = new Map()): KernelPlan {
  const out = ctx.outputs[0]!;
  const sb = new ShaderBuilder(ctx);
  const input = onceInputs(sb);
  for (const [k, l] of loads) if (l.prelude) throw new UnsupportedOpError([{ op: 'Fused(epilogue:ConvInteger)', nodes: [ctx.node] }], `operand ${k} needs a workgroup prelude, which the direct ConvInteger kernel has not`);
  const read = (k: number, at: string): string => loads.get(k)?.value(sb, input, at) ?? `${input(k)}[${at}]`;
  const W = input(io.w);
  const has = (k: number | undefined): k is number => k !== undefined && k >= 0 && ctx.inputs[k] !== undefined;
  const zx = has(io.xZero) ? `i32(${read(io.xZero, '0u')})` : '0i';
  const zw = has(io.wZero) ? (sizeOf(ctx.inputs[io.wZero]!.shape) > 1 ? `i32(${input(io.wZero)}[m])` : `i32(${input(io.wZero)}[0])`) : '0i';
  const Y = sb.output(0);
  (epilogue ?? plainEpilogue(out.storage)).declare(sb, 'i32', input, 'v');
  const d = sb.linear(sizeOf(out.shape), (i) => {
    const term = `acc += (i32(${read(io.x, 'xi')}) - ${zx}) * (i32(${W}[wi]) - ${zw});`;
    return `${convNest(sb, ctx, io.x, io.w, i, 'i32', term)}\n  ${Y}[${i}] = epi(acc, m, 0u, ${i});`;
  }, `ConvInteger.direct${epilogue?.label ?? ''}`);
  return { dispatches: [d] };
}

const convInteger: GpuKernel = { plan: (ctx) => planConvInteger(ctx, { x: 0, w: 1, xZero: 2, wZero: 3 }), split: convIntegerSplit };

/** Quantization kernels by op. */
export const quantizeKernels: KernelTable = {
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
  DynamicQuantizeLinear: dynamicQuantizeLinear,
  QLinearMatMul: qlinearMatMul,
  QLinearConv: qlinearConv,
  ConvInteger: convInteger,
};
