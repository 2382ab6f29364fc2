/**
 * Movement kernels. Transpose, Slice, Tile, Concat, Split, DepthToSpace and
 * SpaceToDepth are strided copies (common.ts) whose views are derived here from
 * the node's attributes and constant inputs; Pad, Trilu and ReverseSequence have
 * their own per-element bodies.
 */
import { sliceAxis } from '../../../graph/ops/movement.js';
import { sizeOf, stridesOf } from '../../../graph/shape.js';
import { storageBytes, type GpuKernel, type KernelTable, type KernelContext, type KernelPlan } from '../kernel.js';
import { copyTiles, rowwiseSplit } from '../chunk.js';
import { coordsOf, ShaderBuilder, LIGHT_PER_INVOCATION } from '../wgsl.js';
import { axisOf, constInts, contiguous, storageUniform, stridedCopy, type View } from './common.js';

/** Transpose's input as a view in the output's shape. */
function transposeView(ctx: KernelContext): View {
  const x = ctx.inputs[0]!;
  const r = x.shape.length;
  const perm = (ctx.attrs['perm'] as number[] | undefined) ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  const st = stridesOf(x.shape);
  return { shape: ctx.outputs[0]!.shape, strides: perm.map((p) => st[p]!), offset: 0 };
}

/** The plan of one tile of a strided copy (chunk.ts copyTiles). */
const copyTile = (label: string) => (c: KernelContext, src: View, dst: View): KernelPlan => ({ dispatches: [stridedCopy(c, 0, 0, src, dst, label)] });

const transpose: GpuKernel = {
  plan(ctx) {
    const out = ctx.outputs[0]!.shape;
    return { dispatches: [stridedCopy(ctx, 0, 0, transposeView(ctx), contiguous(out), 'Transpose.copy')] };
  },
  tiles: (ctx) => copyTiles(ctx, 0, transposeView(ctx), copyTile('Transpose.tile')),
};

/**
 * WGSL body for element `i` of a tensor cut into ranges along one axis (Concat's
 * output, Split's input): `r` (offset inside the axis), `a` (coordinate on the
 * axis), `outer`, then the branch of the range that holds `a`.
 */
function rangeBody(inner: string, dim: string, branches: readonly string[]): string {
  return [`let r = i % ${inner};`, `let a = (i / ${inner}) % ${dim};`, `let outer = i / (${inner} * ${dim});`, branches.join(' else ')].join('\n');
}

/**
 * Concat in one dispatch: each invocation writes one output element, reading it from
 * the input whose range along the axis holds it (a generated if-chain over Kiln's
 * own array names). Falls back to one strided copy per input when the bindings
 * would not fit.
 */
const concat: GpuKernel = {
  split: rowwiseSplit(),
  plan(ctx) {
    const out = ctx.outputs[0]!.shape;
    const axis = axisOf(Number(ctx.attrs['axis']), out.length);
    const ost = stridesOf(out);
    let pos = 0;
    const parts = ctx.inputs.map((t, k) => {
      const at = pos;
      pos += t ? t.shape[axis]! : 0;
      return { t, k, at };
    }).filter((p) => p.t && sizeOf(p.t.shape) > 0);
    if (parts.length === 0 || sizeOf(out) === 0) return { dispatches: [] };
    if (parts.length + 1 > ctx.limits.maxStorageBuffersPerShaderStage) {
      const dispatches = parts.map(({ t, k, at }) =>
        stridedCopy(ctx, k, 0, contiguous(t!.shape), { shape: t!.shape, strides: ost, offset: at * ost[axis]! }, 'Concat.copy'));
      return { dispatches };
    }
    const sb = new ShaderBuilder(ctx);
    const y = sb.output(0);
    const inner = sb.u32(ost[axis]!);
    const dim = sb.u32(out[axis]!);
    const branches = parts.map(({ t, k, at }) => {
      const src = sb.input(k);
      const lo = sb.u32(at);
      const len = sb.u32(t!.shape[axis]!);
      return `if (a >= ${lo} && a < ${lo} + ${len}) { ${y}[i] = ${src}[(outer * ${len} + a - ${lo}) * ${inner} + r]; }`;
    });
    // With nothing outside the axis, input k is one contiguous block of the output.
    const bytes = storageBytes(ctx.outputs[0]!.storage);
    const inPlace = sizeOf(out.slice(0, axis)) === 1 && parts.length === ctx.inputs.length ? { inPlaceInputs: parts.map(({ at }) => at * ost[axis]! * bytes) } : {};
    return { ...inPlace, dispatches: [sb.linear(sizeOf(out), () => rangeBody(inner, dim, branches), 'Concat.gather', LIGHT_PER_INVOCATION)] };
  },
};

/**
 * Split in one dispatch: each invocation reads one input element, finds the output
 * whose range along the axis holds it, and writes it there (outputs are bound as
 * separate arrays, so the choice is a generated if-chain over Kiln's own names).
 * Falls back to one strided copy per output when the bindings would not fit.
 */
const split: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const axis = axisOf(Number(ctx.attrs['axis']), x.shape.length);
    const st = stridesOf(x.shape);
    const live = ctx.outputs.map((o, k) => ({ o, k })).filter(({ o }) => sizeOf(o.shape) > 0);
    if (live.length === 0) return { dispatches: [] };
    if (live.length + 1 > ctx.limits.maxStorageBuffersPerShaderStage) {
      let pos = 0;
      const dispatches = ctx.outputs.flatMap((o, k) => {
        const at = pos;
        pos += o.shape[axis]!;
        if (sizeOf(o.shape) === 0) return [];
        return [stridedCopy(ctx, 0, k, { shape: o.shape, strides: st, offset: at * st[axis]! }, contiguous(o.shape), 'Split.copy')];
      });
      return { dispatches };
    }
    const sb = new ShaderBuilder(ctx);
    const xin = sb.input(0);
    const inner = sb.u32(st[axis]!);
    const dim = sb.u32(x.shape[axis]!);
    let start = 0;
    const starts = ctx.outputs.map((o) => {
      const at = start;
      start += o.shape[axis]!;
      return at;
    });
    const branches = live.map(({ o, k }) => {
      const out = sb.output(k);
      const lo = sb.u32(starts[k]!);
      const len = sb.u32(o.shape[axis]!);
      return `if (a >= ${lo} && a < ${lo} + ${len}) { ${out}[(outer * ${len} + a - ${lo}) * ${inner} + r] = ${xin}[i]; }`;
    });
    return { dispatches: [sb.linear(sizeOf(x.shape), () => rangeBody(inner, dim, branches), 'Split.scatter', LIGHT_PER_INVOCATION)] };
  },
};

/** Slice's input as a view in the output's shape (steps as strides, starts as the offset). */
function sliceView(ctx: KernelContext): View {
  const x = ctx.inputs[0]!;
  const r = x.shape.length;
  const starts = ctx.inputs[1] ? constInts(ctx, 1, 'Slice starts')! : [...(ctx.attrs['starts'] as number[])];
  const ends = ctx.inputs[2] ? constInts(ctx, 2, 'Slice ends')! : [...(ctx.attrs['ends'] as number[])];
  const axesRaw = ctx.inputs[3] ? constInts(ctx, 3, 'Slice axes')! : (ctx.attrs['axes'] as number[] | undefined) ?? starts.map((_, i) => i);
  const steps = ctx.inputs[4] ? constInts(ctx, 4, 'Slice steps')! : starts.map(() => 1);
  const st = stridesOf(x.shape);
  const strides = [...st];
  let offset = 0;
  axesRaw.forEach((a0, i) => {
    const a = axisOf(a0, r);
    const s = sliceAxis(x.shape[a]!, starts[i]!, ends[i]!, steps[i]!);
    strides[a] = st[a]! * s.step;
    offset += s.start * st[a]!;
  });
  return { shape: ctx.outputs[0]!.shape, strides, offset };
}

const slice: GpuKernel = {
  plan(ctx) {
    const out = ctx.outputs[0]!.shape;
    return { dispatches: [stridedCopy(ctx, 0, 0, sliceView(ctx), contiguous(out), 'Slice.copy')] };
  },
  tiles: (ctx) => copyTiles(ctx, 0, sliceView(ctx), copyTile('Slice.tile')),
};

const tile: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!.shape;
    const st = stridesOf(x.shape);
    const shape: number[] = [];
    const strides: number[] = [];
    x.shape.forEach((d, i) => {
      shape.push(d === 0 ? 0 : out[i]! / d, d);
      strides.push(0, st[i]!);
    });
    return { dispatches: [stridedCopy(ctx, 0, 0, { shape, strides, offset: 0 }, contiguous(shape), 'Tile.copy')] };
  },
};

const depthToSpace: GpuKernel = {
  plan(ctx) {
    const [n, c, h, w] = ctx.inputs[0]!.shape as [number, number, number, number];
    const b = Number(ctx.attrs['blocksize']);
    const c2 = c / (b * b);
    const hw = h * w;
    // Output viewed as [N, C', H, b, W, b] (its own row-major order).
    const shape = [n, c2, h, b, w, b];
    const strides = ctx.attrs['mode'] === 'CRD' ? [c * hw, b * b * hw, w, b * hw, 1, hw] : [c * hw, hw, w, b * c2 * hw, 1, c2 * hw];
    return { dispatches: [stridedCopy(ctx, 0, 0, { shape, strides, offset: 0 }, contiguous(shape), 'DepthToSpace.copy')] };
  },
};

const spaceToDepth: GpuKernel = {
  plan(ctx) {
    const [n, c, h, w] = ctx.inputs[0]!.shape as [number, number, number, number];
    const b = Number(ctx.attrs['blocksize']);
    // Output viewed as [N, b, b, C, H/b, W/b].
    const shape = [n, b, b, c, h / b, w / b];
    const strides = [c * h * w, w, 1, h * w, b * w, b];
    return { dispatches: [stridedCopy(ctx, 0, 0, { shape, strides, offset: 0 }, contiguous(shape), 'SpaceToDepth.copy')] };
  },
};

/** WGSL for the source index of one padded axis (`o` shifted by the begin pad) per mode; sets `inside` false for constant fill. */
const PAD_AXIS: Readonly<Record<string, (o: string, d: string) => string>> = {
  constant: (o, d) => `if (${o} < 0 || ${o} >= ${d}) { inside = false; }`,
  edge: (o, d) => `${o} = clamp(${o}, 0, ${d} - 1);`,
  reflect: (o, d) =>
    `if (${d} == 1) { ${o} = 0; } else { let p = 2 * (${d} - 1); ${o} = ((${o} % p) + p) % p; if (${o} >= ${d}) { ${o} = p - ${o}; } }`,
  wrap: (o, d) => `${o} = ((${o} % ${d}) + ${d}) % ${d};`,
};

const pad: GpuKernel = {
  plan(ctx: KernelContext) {
    const x = ctx.inputs[0]!;
    const out = ctx.outputs[0]!;
    const r = x.shape.length;
    const raw = ctx.inputs[1] ? constInts(ctx, 1, 'Pad pads')! : [...(ctx.attrs['pads'] as number[])];
    const axes = ctx.inputs[3] ? constInts(ctx, 3, 'Pad axes')!.map((a) => axisOf(a, r)) : Array.from({ length: r }, (_, i) => i);
    const begins = new Array<number>(r).fill(0);
    axes.forEach((a, i) => (begins[a] = raw[i]!));
    const cvInfo = ctx.inputs[2];
    const mode = String(ctx.attrs['mode']);
    const sb = new ShaderBuilder(ctx);
    const xin = sb.input(0);
    const y = sb.output(0);
    let value: string;
    if (cvInfo && sizeOf(cvInfo.shape) > 0 && !cvInfo.value) {
      value = `${sb.input(2)}[0]`;
    } else {
      const cv = cvInfo?.value;
      value = storageUniform(sb, out, cv && cv.size > 0 ? cv.data[0]! : Number(ctx.attrs['value'] ?? 0));
    }
    const dims = sb.i32s(x.shape);
    const bs = sb.i32s(begins);
    const st = sb.i32s(stridesOf(x.shape));
    const axisCode = PAD_AXIS[mode] ?? PAD_AXIS['constant']!;
    return {
      dispatches: [
        sb.linear(sizeOf(out.shape), (i) => {
          const { code, coords } = coordsOf(sb, i, out.shape);
          const lines = [code, '  var inside = true;', '  var src = 0;'];
          coords.forEach((c, a) => {
            lines.push(`  { var o = i32(${c}) - ${bs[a]}; ${axisCode('o', dims[a]!)} src += o * ${st[a]}; }`);
          });
          lines.push(`  if (inside) { ${y}[${i}] = ${xin}[u32(src)]; } else { ${y}[${i}] = ${value}; }`);
          return lines.join('\n');
        }, `Pad.${mode}`, LIGHT_PER_INVOCATION),
      ],
    };
  },
};

const trilu: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const r = x.shape.length;
    const kInfo = ctx.inputs[1];
    const upper = Number(ctx.attrs['upper']) !== 0;
    const sb = new ShaderBuilder(ctx);
    const xin = sb.input(0);
    const y = sb.output(0);
    const rows = sb.u32(x.shape[r - 2]!);
    const cols = sb.u32(x.shape[r - 1]!);
    // k may be computed at run time: then it is read from its buffer.
    const kk = kInfo && !kInfo.value && sizeOf(kInfo.shape) > 0 ? `i32(${sb.input(1)}[0])` : sb.i32(kInfo?.value?.data[0] ?? 0);
    const zero = storageUniform(sb, ctx.outputs[0]!, 0);
    const keep = upper ? `c - row >= ${kk}` : `c - row <= ${kk}`;
    return {
      dispatches: [
        sb.linear(sizeOf(x.shape), (i) => `  let c = i32(${i} % ${cols}); let row = i32((${i} / ${cols}) % ${rows});\n  ${y}[${i}] = select(${zero}, ${xin}[${i}], ${keep});`, `Trilu.${upper ? 'upper' : 'lower'}`, LIGHT_PER_INVOCATION),
      ],
    };
  },
};

const reverseSequence: GpuKernel = {
  plan(ctx) {
    const x = ctx.inputs[0]!;
    const t = axisOf(Number(ctx.attrs['time_axis']), x.shape.length);
    const b = 1 - t;
    const sb = new ShaderBuilder(ctx);
    const xin = sb.input(0);
    const lens = sb.input(1);
    const y = sb.output(0);
    const st = stridesOf(x.shape);
    return {
      dispatches: [
        sb.linear(sizeOf(x.shape), (i) => {
          const { code, coords } = coordsOf(sb, i, x.shape);
          const stT = sb.i32(st[t]!);
          return `${code}\n  let len = i32(${lens}[${coords[b]}]);\n  let ti = i32(${coords[t]});\n  var src = i32(${i});\n  if (ti < len) { src += (len - 1 - 2 * ti) * ${stT}; }\n  ${y}[${i}] = ${xin}[u32(src)];`;
        }, 'ReverseSequence.copy', LIGHT_PER_INVOCATION),
      ],
    };
  },
};

/** Movement kernels by op. */
export const movementKernels: KernelTable = {
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Tile: tile,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  Pad: pad,
  Trilu: trilu,
  ReverseSequence: reverseSequence,
};

