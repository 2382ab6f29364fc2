/// <reference types="@webgpu/types" />
/**
 * Control flow on WebGPU: graphs with nodes that hold bodies (If, Loop, Scan).
 *
 * One command buffer cannot branch, so such a graph runs as a *schedule* of steps,
 * made once per graph and per set of host-fed inputs and cached:
 *
 * - **host steps**: small nodes (every input and output of static size ≤ 64
 *   elements) whose inputs are all known on the host — initializers, feeds given as
 *   CPU tensors, the iteration number and condition a Loop hands its body, and what
 *   other host steps computed — run with the op's CPU reference. So conditions, trip
 *   counts and small int64 scalars derived from host values never make a GPU round
 *   trip, and an `If` on such a condition costs no readback.
 * - **GPU steps**: every maximal run of other nodes between two control nodes is one
 *   flat graph compiled by the ordinary WebGPU compiler (one plan, one submit per
 *   run; shapes planned per shape set and cached, as for any program). Values pass
 *   between steps as GPU-resident tensors (no readback); values the flat plan folded
 *   come back as host tensors.
 * - **control steps**: the op's host kernel (the {@link WEBGPU_HOST_KERNEL} trait,
 *   registered below for If, Loop and Scan) runs its bodies, each compiled the same
 *   way, recursively. Loop and Scan bodies are recorded plans run once per
 *   iteration on GPU-resident carried values; a carried value whose shape changes
 *   per iteration gets one plan per shape, cached. Scan slices its inputs inside
 *   the body's first plan (a Gather on the iteration index), and scan outputs are
 *   stacked by buffer copies on the GPU.
 *
 * - **data-dependent ops** (NonZero, Unique, Compress, NonMaxSuppression, while an
 *   output's shape is unknown before running) are control steps too: their inputs
 *   are read back and the CPU reference runs them; the next GPU step is planned
 *   for the sizes they produced.
 * - **values that decide shapes** (the `shapeInputs` of Reshape, Squeeze, Unsqueeze,
 *   Expand, Slice, Tile, …) computed on the GPU from data (Unsqueeze axes from an
 *   ArgMax): the schedule splits before their reader, reads back only those small
 *   values (a counted readback each), and the next GPU step takes them as host
 *   tensors, so its plan is made and cached per value set (program.ts). Values
 *   that shapes and constants decide, or that host steps compute, need no readback.
 * - **string tensors** live on the host: a node that reads or makes one is a
 *   control step running its CPU reference, whatever its op ({@link touchesStrings}).
 * - **sequences and optionals** (ONNX sequence(tensor), optional(T)) live on the
 *   host: every node that reads or makes one (the sequence and optional ops, and
 *   Identity, If and Loop carrying one) is a control step; sequence ops run their
 *   CPU reference on inputs read back, If and Loop run their bodies as above.
 *
 * A condition (If's `cond`, a Loop body's `cond` output, Loop's `M`) computed on
 * the GPU is read back: one readback per If, or per Loop iteration when the body
 * computes its condition on the GPU. {@link ControlStats} counts dispatches,
 * submits and readbacks of the last run.
 *
 * GPU tensors a run creates are destroyed after their last reader; outputs are the
 * caller's.
 */
import { ExecutionError, ShapeError, UnsupportedOpError } from '../../graph/errors.js';
import { Graph, type Node, type ValueInfo } from '../../graph/graph.js';
import { opOf } from '../../graph/infer.js';
import { getTrait, setTrait, traitKey, type TraitKey, type ValueType } from '../../graph/op.js';
import { HOLDS_BODIES, controlOps } from '../../graph/ops/control.js';
import { dataDependentOps } from '../../graph/ops/data-dependent.js';
import { rankingOps } from '../../graph/ops/ranking.js';
import { runReference, runValueReference } from '../../graph/reference.js';
import { constantOps } from '../../graph/ops/constant.js';
import { sequenceOps } from '../../graph/ops/sequence.js';
import { stringOps } from '../../graph/ops/strings.js';
import { labelEncoderOps } from '../../graph/ops/ml-label-encoder.js';
import { imageOps } from '../../graph/ops/image.js';
import { bareType, isTensorType, type NoneValue, type TensorSequence } from '../../graph/value.js';
import { isStatic, normalizeAxis, sizeOf } from '../../graph/shape.js';
import { Tensor } from '../../graph/tensor.js';
import { GpuTensor, GPU_TENSOR_USAGE } from './gpu-tensor.js';
import { storageBytes } from './kernel.js';
import { isFloat } from '../../graph/dtype.js';
import { foldGraph } from './plan.js';
import type { RunOptions, WebGpuProgram } from './program.js';

/** A value at run time: a tensor on the host or on the GPU; a sequence or an absent optional (host only). */
export type Value = Tensor | GpuTensor | TensorSequence | NoneValue;

/** A tensor at run time, on the host or on the GPU. */
export type TensorValue = Tensor | GpuTensor;

/** The value as a tensor (host or GPU), or an ExecutionError naming `where` (a sequence or absent optional). */
export function tensorValue(v: Value, where: string): TensorValue {
  if (v instanceof Tensor || v instanceof GpuTensor) return v;
  throw new ExecutionError(`${where}: a tensor is needed here, got ${v.toString()}`, where);
}

/** Compiles a graph without control flow into a program (compileWebGpu; passed in to keep imports one-way). */
export type CompileFlat = (graph: Graph) => Promise<WebGpuProgram>;

/** What the last run of a control-flow program cost. */
export interface ControlStats {
  /** Compute dispatches recorded. */
  dispatches: number;
  /** Queue submits (one per GPU step run, one per stacking copy, one per readback). */
  submits: number;
  /** GPU → CPU reads of values that decide control flow (conditions, trip counts). */
  readbacks: number;
  /** Nodes run on the host (small values known on the host). */
  hostNodes: number;
  /** Loop and Scan iterations run (all levels). */
  iterations: number;
}

/** Largest number of elements a value may have to be computed on the host. */
const MAX_HOST_ELEMENTS = 64;

/** Shared state of one program and its bodies. */
export interface ControlRuntime {
  readonly device: GPUDevice;
  readonly compile: CompileFlat;
  stats: ControlStats;
}

/** What a host kernel gets: the node, its inputs, its compiled bodies and the runtime. */
export interface HostKernelContext {
  readonly node: Node;
  readonly inputs: readonly (Value | undefined)[];
  /** The node's bodies by attribute name, compiled. */
  readonly bodies: ReadonlyMap<string, ControlProgram>;
  readonly rt: ControlRuntime;
}

/** A control-flow op's WebGPU implementation: runs on the host, its bodies on the GPU. */
export interface HostKernel {
  /**
   * Whether this node needs the host kernel (default: always). A data-dependent op
   * needs it only while an output's shape is not known before running.
   */
  needed?(node: Node, typeOf: (value: string) => ValueType | undefined): boolean;
  /**
   * The graph each body runs as (default: the body with its captures appended to its
   * inputs). Scan uses it to slice its scan inputs inside the body.
   */
  body?(node: Node, attr: string, body: Graph, typeOf: (value: string) => ValueType): Graph;
  /** Runs the node. Returned GPU tensors not among its inputs belong to the caller. */
  run(ctx: HostKernelContext): Promise<Value[]>;
}

/** Trait: the WebGPU host kernel of an op that holds bodies. */
export const WEBGPU_HOST_KERNEL: TraitKey<HostKernel> = traitKey<HostKernel>('webgpu.hostKernel');

/** Trait: the op's host kernel takes and gives sequence and optional values (they live on the host). */
export const WEBGPU_HOST_VALUES: TraitKey<boolean> = traitKey<boolean>('webgpu.hostValues');

/** The type of a value of `g` (input, capture, initializer or node output), undefined when it has none. */
function typeOrNone(g: Graph, name: string): ValueType | undefined {
  const io = g.inputs.find((i) => i.name === name) ?? g.captures.find((c) => c.name === name);
  if (io) return bareType(io);
  const init = g.initializers.get(name);
  return init ? { dtype: init.dtype, shape: init.shape } : g.valueTypes.get(name);
}

/**
 * Values computed from shapes and constants alone (initializers, shape-only ops and
 * what only they feed): the flat plan folds them once dims are concrete, so a
 * data-dependent op on them needs no control step.
 */
function shapeDerived(g: Graph): Set<string> {
  const known = new Set<string>(g.initializers.keys());
  for (const n of g.topo) {
    if (opOf(n).shapeOnly || n.inputs.every((v) => v === '' || known.has(v))) for (const o of n.outputs) if (o !== '') known.add(o);
  }
  return known;
}

/** The host kernel a node runs with, if it runs as a control step (it holds bodies, or its kernel says it is needed). */
function hostKernelOf(node: Node, typeOf: (value: string) => ValueType | undefined, derived: ReadonlySet<string>): HostKernel | undefined {
  const def = opOf(node);
  const k = getTrait(def, WEBGPU_HOST_KERNEL);
  if (getTrait(def, HOLDS_BODIES) === true) {
    if (!k) throw new UnsupportedOpError([{ op: node.op, nodes: [node.name] }], 'no WebGPU host kernel for this control-flow op');
    return k;
  }
  if (touchesStrings(node, typeOf)) return stringsOnHost;
  if (!k?.needed) return k;
  // A data-dependent op is a control step only while its output sizes are unknown and
  // its inputs are not all known from shapes and constants (then the flat plan folds it).
  if (!k.needed(node, typeOf) || node.inputs.every((v) => v === '' || derived.has(v))) return undefined;
  return k;
}

/** True when a node reads or makes a string tensor (string tensors live on the host; see {@link stringsOnHost}). */
export function touchesStrings(node: Node, typeOf: (value: string) => ValueType | undefined): boolean {
  return [...node.inputs, ...node.outputs].some((v) => v !== '' && typeOf(v)?.dtype === 'string');
}

/**
 * String tensors live on the host: every node that reads or makes one (the string
 * ops, Cast to or from string, Equal on strings, LabelEncoder, TfIdfVectorizer on a
 * string pool) is a control step running its CPU reference, and so are
 * TfIdfVectorizer and LabelEncoder on numbers (no GPU kernel); tensor inputs on the GPU
 * are read back (each a counted readback) and tensor outputs continue as host
 * tensors into the next GPU step.
 */
const stringsOnHost: HostKernel = {
  async run({ node, inputs, rt }) {
    const host = await Promise.all(inputs.map((v) => (v instanceof GpuTensor ? onHost(v, rt) : v)));
    rt.stats.hostNodes++;
    return runValueReference(node, host);
  },
};

// The n-gram counter, the label table and the image decoder have no GPU kernel: on numbers too they run on the host.
for (const op of [stringOps.TfIdfVectorizer, labelEncoderOps.LabelEncoder, imageOps.ImageDecoder]) setTrait(op, WEBGPU_HOST_KERNEL, stringsOnHost);

/** True when any node of the graph (top level) runs as a control step: it holds bodies, or its output shapes depend on its input values. */
export function hasControlFlow(graph: Graph): boolean {
  const derived = shapeDerived(graph);
  const typeOf = (v: string): ValueType | undefined => typeOrNone(graph, v);
  if (graph.nodes.some((n) => hostKernelOf(n, typeOf, derived) !== undefined)) return true;
  // Shape-deciding values that small CPU feeds cannot decide (they come from data): read back between steps.
  const host = new Set<string>([...graph.initializers.keys(), ...graph.inputs.filter((i) => small(i)).map((i) => i.name)]);
  for (const node of graph.topo) {
    if (shapeReadsOf(node, (v) => host.has(v) || derived.has(v), typeOf).length > 0) return true;
    if (runsOnHost(node, host, typeOf)) for (const o of node.outputs) if (o !== '') host.add(o);
  }
  return false;
}

/**
 * The inputs of `node` whose values decide an output shape left open in the graph
 * (its op's `shapeInputs`), that are neither known on the host (`known`: host
 * values, and values shapes and constants decide) nor absent: the schedule reads
 * them back before the node's GPU step.
 */
function shapeReadsOf(node: Node, known: (v: string) => boolean, typeOf: (v: string) => ValueType | undefined): string[] {
  const at = opOf(node).shapeInputs ?? [];
  if (at.length === 0 || node.outputs.every((o) => o === '' || isStatic(typeOf(o)?.shape ?? ['?']))) return [];
  return at.map((i) => node.inputs[i] ?? '').filter((v) => {
    const t = v === '' ? undefined : typeOf(v);
    return t !== undefined && isTensorType(t) && !known(v);
  });
}

/** True when a node runs as a host step: it has a CPU reference and its inputs (on the host) and outputs are small. */
function runsOnHost(node: Node, host: ReadonlySet<string>, typeOf: (v: string) => ValueType | undefined): boolean {
  const def = opOf(node);
  const ins = node.inputs.filter((v) => v !== '');
  return (def.cpu !== undefined || def.expr !== undefined) && ins.every((v) => host.has(v) && small(typeOf(v))) && node.outputs.every((o) => o === '' || small(typeOf(o)));
}

/**
 * The body as a graph of its own: captures of the enclosing graph's constants
 * (`outer`) become initializers, the other captures inputs after its inputs.
 */
export function flattenBody(body: Graph, outer: ReadonlyMap<string, Tensor> = new Map()): Graph {
  return inlineConstantCaptures(body, outer).with({ inputs: [...body.inputs, ...body.captures.filter((c) => !outer.has(c.name))], captures: [] });
}

/** The body with its captures of constants in `outer` turned into initializers (so shapes they decide fold). */
export function inlineConstantCaptures(body: Graph, outer: ReadonlyMap<string, Tensor>): Graph {
  const consts = body.captures.filter((c) => outer.has(c.name));
  if (consts.length === 0) return body;
  return body.with({ captures: body.captures.filter((c) => !outer.has(c.name)), initializers: new Map([...body.initializers, ...consts.map((c) => [c.name, outer.get(c.name)!] as const)]) });
}

/**
 * The values of `g` known before it runs: its initializers and what folds from
 * constants and static shapes (a Constant node's output at -O0). Bodies and GPU steps
 * take them as constants, so a shape one decides (Unsqueeze's axes or Slice's ends read
 * from the enclosing graph or from an earlier host step) is known when the body or
 * step is typed and planned. `folded`: the values, when the caller folded `g` already.
 */
export function constantsOf(g: Graph, folded?: ReadonlyMap<string, Tensor>): ReadonlyMap<string, Tensor> {
  return new Map([...g.initializers, ...(folded ?? foldGraph(g, new Map()).env.values)]);
}

/** The type of a value of `g` (input, capture, initializer or node output). */
function typeIn(g: Graph, name: string): ValueType {
  const io = g.inputs.find((i) => i.name === name) ?? g.captures.find((c) => c.name === name);
  if (io) return { dtype: io.dtype, shape: io.shape };
  const init = g.initializers.get(name);
  if (init) return { dtype: init.dtype, shape: init.shape };
  const t = g.valueTypes.get(name);
  if (!t) throw new ShapeError(`value '${name}' has no type in graph '${g.name}'`, name);
  return t;
}

function small(t: { readonly shape: ValueType['shape'] } | undefined): boolean {
  return t !== undefined && isStatic(t.shape) && sizeOf(t.shape) <= MAX_HOST_ELEMENTS;
}

type Step =
  | { readonly kind: 'host'; readonly node: Node }
  | { readonly kind: 'gpu'; readonly program: WebGpuProgram; readonly inputs: readonly string[]; readonly outputs: readonly string[] }
  | { readonly kind: 'control'; readonly node: Node; readonly kernel: HostKernel; readonly bodies: ReadonlyMap<string, ControlProgram> }
  | { readonly kind: 'read'; readonly values: readonly string[] };

interface Schedule {
  readonly steps: readonly Step[];
  /** Per step: values whose last reader it is. */
  readonly dies: readonly (readonly string[])[];
}

/** Reads a scalar-like value on the host, counting a readback when it lives on the GPU. */
export async function onHost(v: Value, rt: ControlRuntime): Promise<Tensor> {
  if (v instanceof Tensor) return v;
  if (!(v instanceof GpuTensor)) throw new ExecutionError(`a tensor is needed here, got ${v.toString()}`);
  rt.stats.readbacks++;
  rt.stats.submits++;
  return v.download();
}

/**
 * A graph with control flow, compiled for WebGPU as a schedule of host, GPU and
 * control steps (see the module comment). Bodies are ControlPrograms too.
 */
export class ControlProgram {
  private readonly schedules = new Map<string, Promise<Schedule>>();
  /** Schedules built and not released (what {@link gpuBytes} counts). */
  private readonly built = new Set<Schedule>();

  /** @param graph the graph (a body flattened by {@link flattenBody}) */
  constructor(readonly graph: Graph, private readonly rt: ControlRuntime) {}

  /** Bytes of GPU memory the programs of this schedule's GPU steps and bodies hold now. */
  get gpuBytes(): number {
    let n = 0;
    for (const sc of this.built) {
      for (const st of sc.steps) {
        if (st.kind === 'gpu') n += st.program.gpuBytes;
        if (st.kind === 'control') for (const b of st.bodies.values()) n += b.gpuBytes;
      }
    }
    return n;
  }

  /** Releases nothing but the schedule cache (programs share the device's pipelines). */
  release(): void {
    this.built.clear();
    for (const s of this.schedules.values()) {
      void s.then((sc) => {
        for (const st of sc.steps) {
          if (st.kind === 'gpu') st.program.release();
          if (st.kind === 'control') for (const b of st.bodies.values()) b.release();
        }
      }, () => undefined);
    }
    this.schedules.clear();
  }

  private schedule(hostInputs: ReadonlySet<string>): Promise<Schedule> {
    const key = this.graph.inputs.map((i) => (hostInputs.has(i.name) ? 'h' : 'g')).join('');
    let s = this.schedules.get(key);
    if (!s) {
      s = this.build(hostInputs);
      void s.then((sc) => this.built.add(sc), () => undefined);
      this.schedules.set(key, s);
      s.catch(() => this.schedules.delete(key));
    }
    return s;
  }

  private async build(hostInputs: ReadonlySet<string>): Promise<Schedule> {
    const g = this.graph;
    const typeOf = (v: string): ValueType => typeIn(g, v);
    const host = new Set<string>([...hostInputs, ...g.initializers.keys()]);
    const steps: Step[] = [];
    const pending: { host: Node[]; gpu: Node[] } = { host: [], gpu: [] };
    const segments: Node[][] = [];
    const order: ({ kind: 'host'; node: Node } | { kind: 'segment'; index: number } | { kind: 'control'; node: Node } | { kind: 'read'; values: string[] })[] = [];
    const flush = (): void => {
      for (const node of pending.host) order.push({ kind: 'host', node });
      if (pending.gpu.length > 0) {
        segments.push(pending.gpu);
        order.push({ kind: 'segment', index: segments.length - 1 });
      }
      pending.host = [];
      pending.gpu = [];
    };
    const derived = shapeDerived(g);
    for (const node of g.topo) {
      if (hostKernelOf(node, (v) => typeOrNone(g, v), derived)) {
        flush();
        order.push({ kind: 'control', node });
        // Its small integer and bool outputs (sizes an If picked, a Loop's counter) feed
        // host steps, read back if the body left them on the GPU: a shape they decide
        // (ConstantOfShape of a size sliced from them) is then known when the next GPU
        // step is planned.
        for (const o of node.outputs) {
          const t = o === '' ? undefined : g.valueTypes.get(o);
          if (t && isTensorType(t) && small(t) && !isFloat(t.dtype) && t.dtype !== 'string') host.add(o);
        }
        continue;
      }
      // Values deciding its output shape that the GPU computed: the step before ends here and they are read back.
      const reads = shapeReadsOf(node, (v) => host.has(v) || derived.has(v), (v) => typeOrNone(g, v));
      if (reads.length > 0) {
        flush();
        order.push({ kind: 'read', values: reads });
        for (const v of reads) host.add(v);
      }
      if (runsOnHost(node, host, (v) => typeOrNone(g, v))) {
        pending.host.push(node);
        for (const o of node.outputs) if (o !== '') host.add(o);
      } else {
        pending.gpu.push(node);
      }
    }
    flush();

    // Values read outside each segment (by other steps or as graph outputs).
    const outputs = new Set(g.outputs.map((o) => o.name));
    const readBy = new Map<string, Set<number>>();
    segments.forEach((nodes, k) => {
      for (const n of nodes) for (const v of n.inputs) if (v !== '') (readBy.get(v) ?? readBy.set(v, new Set()).get(v)!).add(k);
    });
    const readOutside = (v: string, k: number): boolean => {
      if (outputs.has(v)) return true;
      for (const c of g.consumers.get(v) ?? []) if (!segments[k]!.includes(c)) return true;
      return false;
    };
    const outer = constantsOf(g);
    for (const item of order) {
      if (item.kind === 'host') steps.push({ kind: 'host', node: item.node });
      else if (item.kind === 'read') steps.push(item);
      else if (item.kind === 'control') {
        const node = item.node;
        const kernel = hostKernelOf(node, (v) => typeOrNone(g, v), derived)!;
        const bodies = new Map<string, ControlProgram>();
        for (const [attr, v] of Object.entries(node.attrs)) {
          if (!(v instanceof Graph)) continue;
          const body = kernel.body ? kernel.body(node, attr, inlineConstantCaptures(v, outer), typeOf) : flattenBody(v, outer);
          bodies.set(attr, new ControlProgram(body, this.rt));
        }
        steps.push({ kind: 'control', node, kernel, bodies });
      } else {
        const nodes = segments[item.index]!;
        const produced = new Set(nodes.flatMap((n) => n.outputs.filter((o) => o !== '')));
        const ins: string[] = [];
        const inits = new Map<string, Tensor>();
        for (const n of nodes) {
          for (const v of n.inputs) {
            if (v === '' || produced.has(v) || ins.includes(v) || inits.has(v)) continue;
            const init = outer.get(v);
            if (init && !hostInputs.has(v) && !g.inputs.some((i) => i.name === v)) inits.set(v, init);
            else ins.push(v);
          }
        }
        const outs = [...produced].filter((v) => readOutside(v, item.index));
        if (outs.length === 0) continue;
        const info = (v: string): ValueInfo => ({ name: v, ...typeOf(v) });
        const seg = Graph.create({
          name: `${g.name}#${item.index}`,
          inputs: ins.map(info),
          outputs: outs.map(info),
          nodes,
          initializers: inits,
          valueTypes: new Map([...produced].map((v) => [v, typeOf(v)])),
          meta: g.meta,
        });
        steps.push({ kind: 'gpu', program: await this.rt.compile(seg), inputs: ins, outputs: outs });
      }
    }

    // Last reader of each value (graph outputs never die).
    const last = new Map<string, number>();
    const reads = (st: Step): string[] =>
      st.kind === 'gpu' ? [...st.inputs] : st.kind === 'read' ? [...st.values] : st.node.inputs.filter((v) => v !== '');
    steps.forEach((st, k) => {
      for (const v of reads(st)) last.set(v, k);
      // A value produced and never read dies at once.
      const made = st.kind === 'gpu' ? st.outputs : st.kind === 'read' ? st.values : st.node.outputs.filter((o) => o !== '');
      for (const v of made) if (!last.has(v)) last.set(v, k);
    });
    const dies: string[][] = steps.map(() => []);
    for (const [v, k] of last) if (!outputs.has(v)) dies[k]!.push(v);
    return { steps, dies };
  }

  /**
   * Runs the graph on `feeds` (its input names → values). Returns its outputs in
   * order; GPU tensors among them that are not feeds are the caller's.
   */
  async run(feeds: ReadonlyMap<string, Value>): Promise<Value[]> {
    const g = this.graph;
    for (const i of g.inputs) if (!feeds.has(i.name)) throw new ExecutionError(`graph '${g.name}': no value bound to input '${i.name}'`, i.name);
    const hostInputs = new Set(g.inputs.filter((i) => feeds.get(i.name) instanceof Tensor).map((i) => i.name));
    const { steps, dies } = await this.schedule(hostInputs);
    const env = new Map<string, Value>(g.initializers);
    for (const [k, v] of feeds) env.set(k, v);
    // Reference counts of the GPU tensors this run created (by object: one may have several names).
    const refs = new Map<GpuTensor, number>();
    const known = new Set<Value>(env.values());
    const bind = (name: string, v: Value): void => {
      env.set(name, v);
      if (v instanceof GpuTensor && !known.has(v)) refs.set(v, 0);
      known.add(v);
      if (v instanceof GpuTensor && refs.has(v)) refs.set(v, refs.get(v)! + 1);
    };
    const drop = (name: string): void => {
      const v = env.get(name);
      env.delete(name);
      if (!(v instanceof GpuTensor) || !refs.has(v)) return;
      const n = refs.get(v)! - 1;
      refs.set(v, n);
      if (n === 0) {
        refs.delete(v);
        v.destroy();
      }
    };
    const get = (name: string, where: string): Value => {
      const v = env.get(name);
      if (!v) throw new ExecutionError(`${where}: value '${name}' is not available`, where);
      return v;
    };
    try {
      for (let k = 0; k < steps.length; k++) {
        const st = steps[k]!;
        if (st.kind === 'host') {
          const ins = await Promise.all(st.node.inputs.map((v) => (v === '' ? undefined : onHost(get(v, st.node.name), this.rt))));
          const outs = runReference(st.node, ins);
          st.node.outputs.forEach((o, i) => o !== '' && bind(o, outs[i]!));
          this.rt.stats.hostNodes++;
        } else if (st.kind === 'read') {
          // Shape-deciding values computed on the GPU continue as host tensors.
          for (const v of st.values) {
            const t = get(v, g.name);
            if (!(t instanceof GpuTensor)) continue;
            const h = await onHost(t, this.rt);
            drop(v);
            bind(v, h);
          }
        } else if (st.kind === 'gpu') {
          const fs = Object.fromEntries(st.inputs.map((v) => [v, tensorValue(get(v, st.program.graph.name), st.program.graph.name)]));
          const opts: RunOptions = { outputsOnGpu: true, constantsOnHost: true };
          const res = await st.program.run(fs, opts);
          this.rt.stats.dispatches += st.program.dispatchCount;
          this.rt.stats.submits++;
          for (const o of st.outputs) bind(o, res[o]!);
        } else {
          const ins = st.node.inputs.map((v) => (v === '' ? undefined : get(v, st.node.name)));
          const outs = await st.kernel.run({ node: st.node, inputs: ins, bodies: st.bodies, rt: this.rt });
          st.node.outputs.forEach((o, i) => {
            if (o !== '' && outs[i]) bind(o, outs[i]!);
            else if (outs[i] instanceof GpuTensor && !known.has(outs[i]!)) outs[i]!.destroy();
          });
        }
        for (const v of dies[k]!) drop(v);
      }
      return g.outputs.map((o) => get(o.name, g.name));
    } catch (e) {
      for (const t of refs.keys()) t.destroy();
      throw e;
    }
  }
}

/** Destroys `v` if it is a GPU tensor outside `keep`. */
function release(v: Value | undefined, keep: ReadonlySet<Value | undefined>): void {
  if (v instanceof GpuTensor && !keep.has(v)) v.destroy();
}

/** Copies a GPU tensor to a new buffer the caller owns. */
export function copyGpu(t: GpuTensor, rt: ControlRuntime): GpuTensor {
  const buf = rt.device.createBuffer({ size: t.byteLength, usage: GPU_TENSOR_USAGE() });
  const enc = rt.device.createCommandEncoder();
  enc.copyBufferToBuffer(t.buffer, 0, buf, 0, t.byteLength);
  rt.device.queue.submit([enc.finish()]);
  rt.stats.submits++;
  return new GpuTensor(t.device, t.dtype, t.shape, buf, t.f16);
}

const transposers = new WeakMap<GPUDevice, Map<string, Promise<WebGpuProgram>>>();

/** Moves axis 0 of `t` to `axis` (a cached one-node Transpose program). */
async function moveAxis0(t: GpuTensor, axis: number, rt: ControlRuntime): Promise<GpuTensor> {
  const rank = t.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => (i < axis ? i + 1 : i === axis ? 0 : i));
  const key = `${t.dtype}:${perm.join(',')}`;
  let cache = transposers.get(rt.device);
  if (!cache) transposers.set(rt.device, (cache = new Map()));
  let p = cache.get(key);
  if (!p) {
    const shape = t.shape.map((_, i) => `d${i}`);
    const g = Graph.create({
      name: 'stack-transpose',
      inputs: [{ name: 'x', dtype: t.dtype, shape }],
      outputs: [{ name: 'y', dtype: t.dtype, shape: perm.map((a) => shape[a]!) }],
      nodes: [{ name: 'transpose', op: 'Transpose', domain: '', inputs: ['x'], outputs: ['y'], attrs: { perm } }],
      initializers: new Map(),
      valueTypes: new Map([['y', { dtype: t.dtype, shape: perm.map((a) => shape[a]!) }]]),
    });
    p = rt.compile(g);
    cache.set(key, p);
    p.catch(() => cache!.delete(key));
  }
  const prog = await p;
  const out = await prog.run({ x: t }, { outputsOnGpu: true });
  rt.stats.dispatches += prog.dispatchCount;
  rt.stats.submits++;
  return out.y!;
}

/** Stacks equally shaped parts along a new `axis` (on the GPU when any part is there). */
export async function stack(parts: readonly TensorValue[], axis: number, dtype: Tensor['dtype'], emptyShape: readonly number[], rt: ControlRuntime, node: string): Promise<TensorValue> {
  const shape = parts[0]?.shape ?? emptyShape;
  for (const p of parts) {
    if (p.shape.join() !== shape.join()) throw new ShapeError(`${node}: scan output parts differ in shape ([${shape.join(',')}] vs [${p.shape.join(',')}])`, node);
  }
  const n = parts.length;
  if (n === 0 || parts.every((p) => p instanceof Tensor)) {
    const out = new Tensor(dtype, [...shape.slice(0, axis), n, ...shape.slice(axis)]);
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis).reduce((a, b) => a * b, 1);
    parts.forEach((p, k) => {
      const d = (p as Tensor).data;
      for (let o = 0; o < outer; o++) out.data.set(d.subarray(o * inner, (o + 1) * inner), (o * n + k) * inner);
    });
    return out;
  }
  const f16 = rt.device.features.has('shader-f16');
  const gpu = parts.map((p) => (p instanceof GpuTensor ? p : GpuTensor.upload(rt.device, p, `${node} scan output`)));
  const size = shape.reduce((a, b) => a * b, 1);
  const bytes = size * storageBytes(gpu[0]!.storage);
  let stacked: GpuTensor;
  if (bytes % 4 === 0) {
    const buf = rt.device.createBuffer({ size: Math.max(4, bytes * n), usage: GPU_TENSOR_USAGE() });
    if (bytes > 0) {
      const enc = rt.device.createCommandEncoder();
      gpu.forEach((p, k) => enc.copyBufferToBuffer(p.buffer, 0, buf, k * bytes, bytes));
      rt.device.queue.submit([enc.finish()]);
      rt.stats.submits++;
    }
    stacked = new GpuTensor(rt.device, dtype, [n, ...shape], buf, f16);
  } else {
    // Parts not 4-byte sized (odd f16 counts) cannot be copied into place: stack on the host.
    const host = await Promise.all(gpu.map((p) => p.download()));
    rt.stats.readbacks += n;
    stacked = GpuTensor.upload(rt.device, (await stack(host, 0, dtype, shape, rt, node)) as Tensor, node);
  }
  gpu.forEach((p, k) => p !== parts[k] && p.destroy());
  if (axis === 0) return stacked;
  const moved = await moveAxis0(stacked, axis, rt);
  stacked.destroy();
  return moved;
}

function boolOf(t: Tensor, node: string, what: string): boolean {
  if (t.size !== 1) throw new ShapeError(`${node}: ${what} must be a single value, got ${t.toString()}`, node);
  return t.data[0] !== 0;
}

/**
 * Binds the captures of a body (`captures`, as the node lists them from input
 * `offset` on) that its compiled graph takes as inputs (constants were inlined).
 */
function bindCaptures(feeds: Map<string, Value>, body: Graph, captures: readonly { readonly name: string }[], ins: readonly (Value | undefined)[], offset: number, node: string): void {
  const inputs = new Set(body.inputs.map((i) => i.name));
  captures.forEach((c, i) => {
    if (!inputs.has(c.name)) return;
    const v = ins[offset + i];
    if (!v) throw new ExecutionError(`${node}: captured value '${c.name}' is not bound`, node);
    feeds.set(c.name, v);
  });
}

setTrait(controlOps.If, WEBGPU_HOST_KERNEL, {
  async run({ node, inputs, bodies, rt }) {
    const then = bodies.get('then_branch')!;
    const other = bodies.get('else_branch')!;
    const take = boolOf(await onHost(inputs[0]!, rt), node.name, 'cond');
    const body = take ? then : other;
    const feeds = new Map<string, Value>();
    const thenCaps = (node.attrs.then_branch as Graph).captures;
    const caps = take ? thenCaps : (node.attrs.else_branch as Graph).captures;
    bindCaptures(feeds, body.graph, caps, inputs, take ? 1 : 1 + thenCaps.length, node.name);
    return body.run(feeds);
  },
});

setTrait(controlOps.Loop, WEBGPU_HOST_KERNEL, {
  async run({ node, inputs, bodies, rt }) {
    const body = bodies.get('body')!;
    const bg = body.graph;
    const orig = node.attrs.body as Graph;
    const n = orig.inputs.length - 2;
    const k = orig.outputs.length - 1 - n;
    const [m, cond] = inputs;
    const max = m ? Number((await onHost(m, rt)).data[0]) : Infinity;
    let go = cond ? boolOf(await onHost(cond, rt), node.name, 'cond') : true;
    const given = new Set<Value | undefined>(inputs);
    const caps = new Map<string, Value>();
    bindCaptures(caps, bg, orig.captures, inputs, orig.inputs.length, node.name);
    let carried = inputs.slice(2, 2 + n) as Value[];
    const parts: TensorValue[][] = Array.from({ length: k }, () => []);
    try {
      for (let i = 0; go && i < max; i++) {
        const feeds = new Map(caps);
        feeds.set(bg.inputs[0]!.name, Tensor.from('int64', [], [i]));
        feeds.set(bg.inputs[1]!.name, Tensor.from('bool', [], [go ? 1 : 0]));
        carried.forEach((v, j) => feeds.set(bg.inputs[2 + j]!.name, v));
        const outs = await body.run(feeds);
        rt.stats.iterations++;
        go = boolOf(await onHost(outs[0]!, rt), node.name, 'body condition');
        const next = outs.slice(1, 1 + n);
        const keep = new Set<Value | undefined>([...given, ...next, ...parts.flat(), ...outs.slice(1 + n)]);
        release(outs[0], keep);
        for (const v of carried) release(v, keep);
        carried = next;
        outs.slice(1 + n).forEach((v, j) => parts[j]!.push(tensorValue(v, node.name)));
      }
      const stacked: Value[] = [];
      for (let j = 0; j < k; j++) {
        const o = orig.outputs[1 + n + j]!;
        stacked.push(await stack(parts[j]!, 0, o.dtype, o.shape.map((d) => (typeof d === 'number' ? d : 0)), rt, node.name));
      }
      const keep = new Set<Value | undefined>([...given, ...carried, ...stacked]);
      for (const v of parts.flat()) release(v, keep);
      return [...carried, ...stacked];
    } catch (e) {
      const keep = new Set<Value | undefined>(given);
      for (const v of [...carried, ...parts.flat()]) release(v, keep);
      throw e;
    }
  },
});

/** A name not used in `g` (for the values Scan's body wrapper adds). */
function freshName(g: Graph, base: string): string {
  const used = (s: string): boolean => g.producers.has(s) || g.nodes.some((n) => n.name === s);
  let s = base;
  for (let i = 1; used(s); i++) s = `${base}_${i}`;
  return s;
}

/** Scan's attributes resolved for a node: counts, axes and directions. */
function scanLayout(node: Node, typeOf?: (v: string) => ValueType): { n: number; m: number; k: number; inAxes: number[]; inDirs: readonly number[]; outAxes: number[]; outDirs: readonly number[] } {
  const body = node.attrs.body as Graph;
  const m = Number(node.attrs.num_scan_inputs);
  const n = body.inputs.length - m;
  const k = body.outputs.length - n;
  const ranks = (i: number): number => (typeOf ? typeOf(node.inputs[n + i]!).shape.length : body.inputs[n + i]!.shape.length + 1);
  const ax = (given: unknown, count: number, rank: (i: number) => number): number[] =>
    Array.from({ length: count }, (_, i) => normalizeAxis(((given as number[] | undefined) ?? [])[i] ?? 0, rank(i), node.name));
  return {
    n,
    m,
    k,
    inAxes: ax(node.attrs.scan_input_axes, m, ranks),
    inDirs: (node.attrs.scan_input_directions as number[] | undefined) ?? [],
    outAxes: ax(node.attrs.scan_output_axes, k, (j) => body.outputs[n + j]!.shape.length + 1),
    outDirs: (node.attrs.scan_output_directions as number[] | undefined) ?? [],
  };
}

setTrait(controlOps.Scan, WEBGPU_HOST_KERNEL, {
  // The body takes the whole scan inputs and one step index per scan input, and
  // slices them itself (a Gather each), so one plan per iteration does both.
  body(node, _attr, body, typeOf) {
    const { n, m, inAxes } = scanLayout(node, typeOf);
    const whole = Array.from({ length: m }, (_, j) => ({ name: freshName(body, `scan_input_${j}`), ...typeOf(node.inputs[n + j]!) }));
    const steps = Array.from({ length: m }, (_, j) => ({ name: freshName(body, `scan_step_${j}`), dtype: 'int64' as const, shape: [] }));
    const gathers: Node[] = whole.map((w, j) => ({
      name: freshName(body, `scan_slice_${j}`),
      op: 'Gather',
      domain: '',
      inputs: [w.name, steps[j]!.name],
      outputs: [body.inputs[n + j]!.name],
      attrs: { axis: inAxes[j]! },
    }));
    const sliceTypes = body.inputs.slice(n).map((i) => [i.name, { dtype: i.dtype, shape: i.shape }] as const);
    return Graph.create({
      name: body.name,
      inputs: [...body.inputs.slice(0, n), ...whole, ...steps, ...body.captures],
      outputs: body.outputs,
      nodes: [...gathers, ...body.nodes],
      initializers: body.initializers,
      valueTypes: new Map([...body.valueTypes, ...sliceTypes]),
      meta: body.meta,
    });
  },
  async run({ node, inputs, bodies, rt }) {
    const body = bodies.get('body')!;
    const bg = body.graph;
    const orig = node.attrs.body as Graph;
    const { n, m, k, inAxes, inDirs, outAxes, outDirs } = scanLayout(node, (v) => {
      const t = tensorValue(inputs[node.inputs.indexOf(v)]!, node.name);
      return { dtype: t.dtype, shape: t.shape };
    });
    const scanIns = inputs.slice(n, n + m).map((v) => tensorValue(v!, node.name));
    const len = scanIns[0]!.shape[inAxes[0]!]!;
    scanIns.forEach((s, j) => {
      if (s.shape[inAxes[j]!] !== len) throw new ShapeError(`${node.name}: scan input ${j} has ${s.shape[inAxes[j]!]} steps, input 0 has ${len}`, node.name);
    });
    const given = new Set<Value | undefined>(inputs);
    const caps = new Map<string, Value>();
    bindCaptures(caps, bg, orig.captures, inputs, n + m, node.name);
    let state = inputs.slice(0, n) as Value[];
    const parts: TensorValue[][] = Array.from({ length: k }, () => []);
    try {
      for (let t = 0; t < len; t++) {
        const feeds = new Map(caps);
        state.forEach((s, i) => feeds.set(bg.inputs[i]!.name, s));
        scanIns.forEach((s, j) => feeds.set(bg.inputs[n + j]!.name, s));
        // A reversed scan input reads from the end.
        scanIns.forEach((_, j) => feeds.set(bg.inputs[n + m + j]!.name, Tensor.from('int64', [], [inDirs[j] ? len - 1 - t : t])));
        const outs = await body.run(feeds);
        rt.stats.iterations++;
        const next = outs.slice(0, n);
        const keep = new Set<Value | undefined>([...given, ...next, ...parts.flat(), ...outs.slice(n)]);
        for (const v of state) release(v, keep);
        state = next;
        outs.slice(n).forEach((v, j) => parts[j]!.push(tensorValue(v, node.name)));
      }
      const stacked: Value[] = [];
      for (let j = 0; j < k; j++) {
        const o = orig.outputs[n + j]!;
        const p = outDirs[j] ? [...parts[j]!].reverse() : parts[j]!;
        stacked.push(await stack(p, outAxes[j]!, o.dtype, o.shape.map((d) => (typeof d === 'number' ? d : 0)), rt, node.name));
      }
      const keep = new Set<Value | undefined>([...given, ...state, ...stacked]);
      for (const v of parts.flat()) release(v, keep);
      return [...state, ...stacked];
    } catch (e) {
      const keep = new Set<Value | undefined>(given);
      for (const v of [...state, ...parts.flat()]) release(v, keep);
      throw e;
    }
  },
});

/**
 * Ops whose output shapes depend on their input values (NonZero, Unique, Compress,
 * NonMaxSuppression): one pre-planned command buffer cannot size their outputs, so
 * the schedule splits there. The inputs are read back (each a counted readback),
 * the CPU reference runs, and the outputs continue as host tensors into the next
 * GPU step, which is planned for their sizes and cached per shape. Needed only
 * while an output's shape is unknown before running (Compress on a constant
 * condition keeps its GPU kernel).
 */
const dataDependentOnHost: HostKernel = {
  needed: (node, typeOf) => node.outputs.some((o) => o !== '' && !isStatic(typeOf(o)?.shape ?? ['?'])),
  async run({ node, inputs, rt }) {
    const host = await Promise.all(inputs.map((v) => (v === undefined ? undefined : onHost(v, rt))));
    rt.stats.hostNodes++;
    return runReference(node, host);
  },
};
for (const op of [dataDependentOps.NonZero, dataDependentOps.Unique, dataDependentOps.Compress, rankingOps.NonMaxSuppression]) setTrait(op, WEBGPU_HOST_KERNEL, dataDependentOnHost);

/**
 * Ops on sequences and optionals (and Identity of one): those values live on the
 * host, so each such node is a control step running the CPU reference (SequenceMap's
 * body included); tensor inputs on the GPU are read back (each a counted readback),
 * tensor outputs continue as host tensors into the next GPU step.
 */
const sequenceOnHost: HostKernel = {
  async run({ node, inputs, rt }) {
    const host = await Promise.all(inputs.map((v) => (v instanceof GpuTensor ? onHost(v, rt) : v)));
    rt.stats.hostNodes++;
    return runValueReference(node, host);
  },
};
/** Identity runs on the host only when it passes a sequence or optional on (a tensor keeps its GPU kernel). */
const identityOfValues: HostKernel = {
  ...sequenceOnHost,
  needed: (node, typeOf) => [...node.inputs, ...node.outputs].some((v) => {
    const t = v === '' ? undefined : typeOf(v);
    return t !== undefined && !isTensorType(t);
  }),
};
for (const op of Object.values(sequenceOps)) setTrait(op, WEBGPU_HOST_KERNEL, sequenceOnHost);
setTrait(constantOps.Identity, WEBGPU_HOST_KERNEL, identityOfValues);
for (const op of [...Object.values(sequenceOps), constantOps.Identity, controlOps.If, controlOps.Loop]) setTrait(op, WEBGPU_HOST_VALUES, true);

