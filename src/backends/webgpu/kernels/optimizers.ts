/**
 * WebGPU kernels of the optimizer updates of ONNX's preview training domain
 * (Adagrad, Momentum, Adam; src/graph/ops/optimizers.ts): one dispatch per updated
 * tensor, one invocation per element writing the new X and the new states. The
 * formulas are the op's own (OPTIMIZER_SCALARS, OPTIMIZER_UPDATES) rendered as WGSL;
 * R and T are read from their buffers, the attributes are uniforms.
 */
import type { OpDef } from '../../../graph/op.js';
import { groupInputs, OPTIMIZER_SCALARS, OPTIMIZER_UPDATES, optimizerGroups, optimizerOps, type OptimizerAttrs, type OptimizerName, type UpdateMath } from '../../../graph/ops/optimizers.js';
import { sizeOf } from '../../../graph/shape.js';
import type { Dispatch, GpuKernel } from '../kernel.js';
import { ShaderBuilder } from '../wgsl.js';

/** Elements one invocation updates. */
const PER_INVOCATION = 8;

/** The optimizer's kernel. */
function optimizerKernel(op: OptimizerName): GpuKernel {
  return {
    plan(ctx) {
      const per = groupInputs(op);
      const n = optimizerGroups(op, ctx.inputs.length, ctx.node);
      const a = ctx.attrs as OptimizerAttrs;
      const dispatches: Dispatch[] = [];
      for (let k = 0; k < n; k++) {
        const sb = new ShaderBuilder(ctx);
        const W: UpdateMath<string> = {
          num: (x) => sb.f32(x),
          add: (x, y) => `(${x} + ${y})`,
          sub: (x, y) => `(${x} - ${y})`,
          mul: (x, y) => `(${x} * ${y})`,
          div: (x, y) => `(${x} / ${y})`,
          sqrt: (x) => `sqrt(${x})`,
          pow: (x, y) => `pow(${x}, ${y})`,
          ifPositive: (t, yes, no) => `select(${no}, ${yes}, ${t} > 0.0)`,
        };
        const R = `f32(${sb.input(0)}[0])`;
        const T = `f32(${sb.input(1)}[0])`;
        const ins = Array.from({ length: per }, (_, j) => sb.input(2 + j * n + k));
        const outs = Array.from({ length: per - 1 }, (_, j) => ({ name: sb.output(j * n + k), storage: ctx.outputs[j * n + k]!.storage }));
        const { r, b } = OPTIMIZER_SCALARS[op](W, a, 'R', 'T');
        const x = ctx.inputs[2 + k]!;
        // Each invocation updates PER_INVOCATION elements, so the step's scalars (Adam's
        // bias corrections: two pow and a sqrt) are computed once per invocation, not per element.
        const total = sizeOf(x.shape);
        const count = sb.u32(total);
        dispatches.push(sb.linear(Math.ceil(total / PER_INVOCATION), (t) => {
          const vals = ins.map((name) => `f32(${name}[i])`);
          const res = OPTIMIZER_UPDATES[op](W, a, 'x', 'g', vals.slice(2).map((_, j) => `s${j}`), 'rr', 'bb');
          return [
            `  let R = ${R}; let T = ${T};`,
            `  let rr = ${r}; let bb = ${b};`,
            `  for (var lane = 0u; lane < ${PER_INVOCATION}u; lane++) {`,
            `  let i = ${t} * ${PER_INVOCATION}u + lane;`,
            `  if (i >= ${count}) { break; }`,
            `  let x = ${vals[0]}; let g = ${vals[1]};`,
            ...vals.slice(2).map((v, j) => `  let s${j} = ${v};`),
            ...res.map((e, j) => `  ${outs[j]!.name}[i] = ${outs[j]!.storage}(${e});`),
            '  }',
          ].join('\n');
        }, `${op}.update`));
      }
      return { dispatches };
    },
  };
}

/** The optimizer kernels, by op handle (the training ops are not in OPS). */
export const optimizerKernels: readonly (readonly [OpDef, GpuKernel])[] = (Object.keys(optimizerOps) as OptimizerName[]).map((op) => [optimizerOps[op], optimizerKernel(op)] as const);
