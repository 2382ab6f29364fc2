/**
 * Keras-style training on the layers API: `new Model(layer, { inputShape })`,
 * `compile({ optimizer, loss, metrics })`, `fit(x, y, opts)`, `evaluate`, `predict`,
 * weight checkpoints and ONNX export of the trained inference graph.
 *
 * The training step is one graph: forward, loss, the symbolic gradients
 * (src/passes/autodiff.ts), optional global-norm clipping, and one optimizer node
 * updating every parameter. Parameters, moments and the step count are state values
 * of a {@link StatefulProgram} (src/train/state.ts): on WebGPU they stay on the GPU.
 * BatchNormalization running statistics are state too: the step normalizes with batch
 * statistics and updates them (src/train/batch-norm.ts); evaluate, predict and export
 * read them. fit reads each step's loss and predictions back a few steps later.
 */
import { GraphBuilder, type Sym } from '../graph/builder.js';
import { InputError } from '../graph/errors.js';
import type { Graph, ValueInfo } from '../graph/graph.js';
import type { Layer } from '../graph/layers.js';
import { LOSSES, type LossName } from '../graph/losses.js';
import { saveGraph } from '../graph/serialize.js';
import { Tensor } from '../graph/tensor.js';
import { gradients } from '../passes/autodiff.js';
import { requestDevice } from '../backends/webgpu/device.js';
import { exportModel } from '../../onnx/export.js';
import type { SessionOptions } from '../session/inference-session.js';
import type { Optimizer } from './optimizers.js';
import { batchNormForTraining, batchNormStats } from './batch-norm.js';
import { releaseState, StatefulProgram, toCpu, type StateValue } from './state.js';

/** Options of {@link Model.compile}. */
export interface CompileOptions {
  readonly optimizer: Optimizer;
  readonly loss: LossName;
  readonly metrics?: readonly 'accuracy'[];
  readonly backend?: 'cpu' | 'webgpu';
  readonly optimizationLevel?: 0 | 1 | 2;
  readonly device?: GPUDevice;
  /** Initializer names not to train (fine-tuning). */
  readonly freeze?: readonly string[];
}

/** Per-epoch and per-step figures that fit() reports and logs. */
export interface EpochLog { epoch: number; loss: number; accuracy?: number; valLoss?: number; valAccuracy?: number; lr: number; timeMs: number }
/** One step's figures (timeMs: host time to submit the step; its GPU work may finish later). */
export interface StepLog { step: number; epoch: number; loss: number; lr: number; timeMs: number }
/** The training log fit() returns (and writes as JSON with `logPath`). */
export interface TrainingLog { format: 'kiln-training-log'; version: 1; model: string; optimizer: string; loss: string; backend: string; epochs: EpochLog[]; steps: StepLog[]; stepGraph?: StepGraphLog }
/** Which part of the training step a node belongs to. */
export type StepPhase = 'forward' | 'backward' | 'update';
/** The training-step graph in a log (fit's `logGraph`): Kiln graph JSON, its weights (base64), each node's phase, and the dims it ran with. */
export interface StepGraphLog { graph: string; weights: string; phases: Record<string, StepPhase>; dims: Record<string, number> }

/** Callbacks of fit(). */
export interface Callbacks {
  onEpochEnd?(log: EpochLog): void | Promise<void>;
  onBatchEnd?(log: StepLog): void | Promise<void>;
}

/** Options of {@link Model.fit}. */
export interface FitOptions {
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly shuffle?: boolean;
  readonly seed?: number;
  readonly validationSplit?: number;
  readonly validationData?: readonly [Tensor, Tensor];
  readonly callbacks?: readonly Callbacks[];
  /** Draw a progress bar on stderr (Node). */
  readonly verbose?: boolean;
  /** Write the training log as JSON here (Node). */
  readonly logPath?: string;
  /** Put the training-step graph and its node phases in the log (for `kiln viz --training`). */
  readonly logGraph?: boolean;
}

const STEP = 'train_step';
const LR = 'train_lr';
/** Training steps submitted ahead of the one whose figures fit() reads back. */
const IN_FLIGHT = 4;

/** Rows `idx` of a [N, ...] tensor. */
export function takeRows(t: Tensor, idx: ArrayLike<number>): Tensor {
  const row = t.size / t.shape[0]!;
  const out = new Tensor(t.dtype, [idx.length, ...t.shape.slice(1)]);
  const src = t.data as Float32Array;
  const dst = out.data as Float32Array;
  for (let i = 0; i < idx.length; i++) for (let j = 0; j < row; j++) dst[i * row + j] = src[idx[i]! * row + j]!;
  return out;
}

/**
 * An imported graph as a Model's forward graph: input 'x' and output 'pred', joined to
 * the graph's own input and output names by Identity nodes (which the passes remove),
 * so nothing inside the graph (subgraph captures included) is renamed.
 */
function asForward(g: Graph): Graph {
  if (g.inputs.length !== 1 || g.outputs.length !== 1) {
    throw new InputError(`Model.fromGraph: '${g.name}' has ${g.inputs.length} inputs and ${g.outputs.length} outputs; a model needs exactly one of each`);
  }
  const inp = g.inputs[0]!, out = g.outputs[0]!;
  for (const n of ['x', 'pred']) {
    if ((n === 'x' ? inp.name : out.name) !== n && g.producers.has(n)) {
      throw new InputError(`Model.fromGraph: '${g.name}' already has a value named '${n}'; rename it before training`, n);
    }
  }
  const nodes = [...g.nodes];
  const valueTypes = new Map(g.valueTypes);
  const inputs = [{ ...inp, name: 'x' }];
  if (inp.name !== 'x') {
    nodes.unshift({ name: 'model_input', op: 'Identity', domain: '', inputs: ['x'], outputs: [inp.name], attrs: {} });
    valueTypes.set(inp.name, { dtype: inp.dtype, shape: inp.shape });
  }
  if (out.name !== 'pred') {
    nodes.push({ name: 'model_output', op: 'Identity', domain: '', inputs: [out.name], outputs: ['pred'], attrs: {} });
    valueTypes.set('pred', { dtype: out.dtype, shape: out.shape });
  }
  return g.with({ inputs, outputs: [{ ...out, name: 'pred' }], nodes, valueTypes });
}

/** A model: a layer applied to an input of shape [batch, ...inputShape] (or an imported graph, {@link Model.fromGraph}), with trainable weights. */
export class Model {
  /** The forward graph (input 'x', output 'pred'), weights as initializers. */
  readonly forward: Graph;
  /** Current weights by name (host copies; refreshed after fit). */
  readonly weights = new Map<string, Tensor>();
  /** The graph a {@link Model.fromGraph} model was made from (exported with its own names). */
  private readonly source: Graph | undefined;
  private opts: CompileOptions | undefined;
  private params: ValueInfo[] = [];
  /** BatchNormalization running statistics: training state updated by fit, read by evaluate/predict/export. */
  private stats: ValueInfo[] = [];
  private train: StatefulProgram | undefined;
  private infer: StatefulProgram | undefined;
  private evalProg: StatefulProgram | undefined;
  private state = new Map<string, StateValue>();

  constructor(layer: Layer | Graph, o: { inputShape: readonly number[]; name?: string } = { inputShape: [] }) {
    if (typeof layer === 'function') {
      const b = new GraphBuilder(o.name ?? 'model');
      const x = b.input('x', 'float32', ['batch', ...o.inputShape]);
      b.output(layer(b, x), 'pred');
      this.forward = b.build();
    } else {
      this.forward = asForward(layer);
      this.source = layer;
    }
    for (const [n, t] of this.forward.initializers) this.weights.set(n, t);
  }

  /**
   * A model over an existing graph (e.g. one imported with `fromOnnx`), for fine-tuning:
   * its one input becomes the batch input and its one output the prediction; every
   * float32 initializer is a trainable weight unless `compile({ freeze })` names it.
   *
   * @param graph a graph with exactly one input (rows along its first axis) and one output.
   * @returns the model; the graph itself is not changed.
   * @throws {InputError} when the graph has more than one input or output.
   */
  static fromGraph(graph: Graph): Model {
    return new Model(graph);
  }

  /** Chooses the optimizer, loss, metrics and backend; nothing is compiled until fit/evaluate/predict. */
  compile(o: CompileOptions): void {
    if (!(o.loss in LOSSES)) throw new InputError(`unknown loss '${String(o.loss)}'`);
    this.opts = o;
    const frozen = new Set(o.freeze ?? []);
    const stats = new Set(batchNormStats(this.forward));
    this.stats = [...stats].map((name) => { const t = this.forward.initializers.get(name)!; return { name, dtype: t.dtype, shape: t.shape }; });
    this.params = [...this.forward.initializers].filter(([n, t]) => t.dtype === 'float32' && t.shape.length >= 1 && !frozen.has(n) && !stats.has(n)
      && Array.from(t.data as Float32Array).every(Number.isFinite)).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
  }

  private compiled(): CompileOptions {
    if (!this.opts) throw new InputError('call model.compile(...) before fit, evaluate or predict');
    return this.opts;
  }

  private device: GPUDevice | undefined;

  /** Session options; on WebGPU every program of the model shares one device, so GPU state passes between them. */
  private async session(): Promise<SessionOptions> {
    const o = this.compiled();
    if ((o.backend ?? 'cpu') === 'webgpu') this.device ??= o.device ?? (await requestDevice({ label: 'kiln-train' })).device;
    return { backend: o.backend ?? 'cpu', optimizationLevel: o.optimizationLevel ?? 2, ...(this.device ? { device: this.device } : {}) };
  }

  /** The forward graph with the parameters and BatchNormalization statistics as inputs (and the others as initializers). */
  private paramGraph(): Graph {
    const names = new Set([...this.params, ...this.stats].map((p) => p.name));
    const inits = new Map([...this.forward.initializers].filter(([n]) => !names.has(n)).map(([n]) => [n, this.weights.get(n)!] as const));
    return this.forward.with({ inputs: [...this.forward.inputs, ...this.params, ...this.stats], initializers: inits });
  }

  /**
   * Forward + loss graph (input 'target', outputs 'pred', 'loss'). With `training`,
   * BatchNormalization uses batch statistics and outputs the updated running ones (`<stat>.next`).
   */
  private lossGraph(training = false): Graph {
    const fwd = this.paramGraph();
    const b = GraphBuilder.extend(training ? batchNormForTraining(fwd, new Set(this.stats.map((s) => s.name))) : fwd);
    const pred = b.sym('pred');
    const target = b.input('target', 'float32', pred.shape);
    b.output(LOSSES[this.compiled().loss](b, pred, target), 'loss');
    return b.build();
  }

  /** The training step graph: loss, gradients, clipping, one optimizer node, step + 1. */
  trainingGraph(): Graph {
    const o = this.compiled();
    const opt = o.optimizer;
    const { graph: g } = gradients(this.lossGraph(true), 'loss', this.params.map((p) => p.name));
    const b = GraphBuilder.extend(g);
    let grads: Sym[] = this.params.map((p) => b.sym(`${p.name}_grad`));
    if (opt.clipNorm) {
      const sq = grads.map((gr) => b.ReduceSumSquare([gr], { keepdims: 0 }));
      const norm = b.Sqrt([sq.length === 1 ? sq[0]! : b.Sum(sq)]);
      const scale = b.Min([b.constant(Tensor.from('float32', [], [1])), b.Div([b.constant(Tensor.from('float32', [], [opt.clipNorm])), b.Add([norm, b.constant(Tensor.from('float32', [], [1e-6]))])])]);
      grads = grads.map((gr) => b.Mul([gr, scale]));
    }
    const lr = b.input(LR, 'float32', []);
    const step = b.input(STEP, 'int64', []);
    const states: Sym[] = [];
    for (let s = 0; s < opt.states; s++) for (const p of this.params) states.push(b.input(`${p.name}.state${s}`, 'float32', p.shape));
    const xs = this.params.map((p) => b.sym(p.name));
    const outs = b.apply(opt.op, [lr, step, ...xs, ...grads, ...states], opt.attrs);
    const n = this.params.length;
    b.output(b.sym('loss'));
    b.output(b.sym('pred'));
    outs.forEach((s, i) => b.output(s, i < n ? `${this.params[i]!.name}.next` : `${this.params[i % n]!.name}.state${Math.floor(i / n) - 1}.next`));
    b.output(b.Add([step, b.constant(Tensor.from('int64', [], [1]))]), `${STEP}.next`);
    const built = b.build();
    const keep = new Set(['loss', 'pred', ...this.stats.map((s) => `${s.name}.next`), ...outs.map((_, i) => (i < n ? `${this.params[i]!.name}.next` : `${this.params[i % n]!.name}.state${Math.floor(i / n) - 1}.next`)), `${STEP}.next`]);
    return built.with({ outputs: built.outputs.filter((v) => keep.has(v.name)) });
  }

  /** Each node of {@link trainingGraph} by phase: forward (and loss), backward (gradients), update (clipping, optimizer, step count). */
  trainingPhases(): Map<string, StepPhase> {
    const loss = this.lossGraph(true);
    const grads = gradients(loss, 'loss', this.params.map((p) => p.name)).graph;
    const fwd = new Set(loss.nodes.map((n) => n.name));
    const bwd = new Set(grads.nodes.map((n) => n.name));
    return new Map(this.trainingGraph().nodes.map((n) => [n.name, fwd.has(n.name) ? 'forward' : bwd.has(n.name) ? 'backward' : 'update'] as const));
  }

  private stepGraphLog(batch: number): StepGraphLog {
    const { json, weights } = saveGraph(this.trainingGraph());
    let bin = '';
    for (let i = 0; i < weights.length; i += 0x8000) bin += String.fromCharCode(...weights.subarray(i, i + 0x8000));
    return { graph: json, weights: btoa(bin), phases: Object.fromEntries(this.trainingPhases()), dims: { batch } };
  }

  private async ensureTrain(): Promise<StatefulProgram> {
    if (this.train) return this.train;
    const opt = this.compiled().optimizer;
    const names = [...this.params.map((p) => p.name), ...this.stats.map((s) => s.name), ...Array.from({ length: opt.states }, (_, s) => this.params.map((p) => `${p.name}.state${s}`)).flat(), STEP];
    this.train = await StatefulProgram.create(this.trainingGraph(), names.map((input) => ({ input, output: `${input}.next` })), await this.session());
    for (const p of [...this.params, ...this.stats]) if (!this.state.has(p.name)) this.state.set(p.name, this.weights.get(p.name)!);
    for (let s = 0; s < opt.states; s++) for (const p of this.params) this.state.set(`${p.name}.state${s}`, new Tensor('float32', p.shape as number[]));
    this.state.set(STEP, Tensor.from('int64', [], [1]));
    return this.train;
  }

  /** Parameters and BatchNormalization statistics (the state the inference programs read). */
  private paramState(): Map<string, StateValue> {
    const read = [...this.params, ...this.stats];
    if (!this.state.size) return new Map(read.map((p) => [p.name, this.weights.get(p.name)!]));
    return new Map(read.map((p) => [p.name, this.state.get(p.name)!]));
  }

  private targetOf(y: Tensor, pred: number): Tensor {
    if (y.dtype === 'float32') return y;
    const n = y.shape[0]!;
    const t = new Tensor('float32', [n, pred]);
    for (let i = 0; i < n; i++) t.data[i * pred + Number(y.data[i])] = 1;
    return t;
  }

  private classes(): number {
    const d = this.forward.outputs[0]!.shape.at(-1);
    return typeof d === 'number' ? d : 1;
  }

  /** Trains; returns the training log. */
  async fit(x: Tensor, y: Tensor, o: FitOptions = {}): Promise<TrainingLog> {
    const opts = this.compiled();
    const prog = await this.ensureTrain();
    let target = this.targetOf(y, this.classes());
    let xs = x;
    let val = o.validationData ? [o.validationData[0], this.targetOf(o.validationData[1], this.classes())] as const : undefined;
    if (!val && o.validationSplit) {
      const nVal = Math.floor(x.shape[0]! * o.validationSplit);
      const nTr = x.shape[0]! - nVal;
      const r = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
      val = [takeRows(x, r(nTr, nTr + nVal)), takeRows(target, r(nTr, nTr + nVal))];
      xs = takeRows(x, r(0, nTr));
      target = takeRows(target, r(0, nTr));
    }
    const n = xs.shape[0]!;
    const bs = Math.min(o.batchSize ?? 32, n);
    const steps = Math.floor(n / bs);
    const log: TrainingLog = { format: 'kiln-training-log', version: 1, model: this.forward.name, optimizer: opts.optimizer.name, loss: opts.loss, backend: prog.session.backend, epochs: [], steps: [], ...(o.logGraph ? { stepGraph: this.stepGraphLog(bs) } : {}) };
    let seed = o.seed ?? 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    const progress = o.verbose ? await import('../cli/progress.js') : undefined;
    let globalStep = 0;
    for (let epoch = 0; epoch < (o.epochs ?? 1); epoch++) {
      const order = Array.from({ length: n }, (_, i) => i);
      if (o.shuffle ?? true) for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!]; }
      const task = progress?.startTask(`epoch ${epoch + 1}/${o.epochs ?? 1}`, steps);
      const t0 = performance.now();
      let lossSum = 0; let correct = 0; let lr = 0;
      // Steps run ahead of their figures: each step's loss and predictions stay on the
      // device and are read back IN_FLIGHT steps later (at once when a callback wants each
      // step's loss), so the host never waits for the step it just submitted.
      const pending: { sl: StepLog; loss: StateValue; pred: StateValue; target: Tensor }[] = [];
      const settle = async (keep: number): Promise<void> => {
        const done = pending.splice(0, Math.max(0, pending.length - keep));
        const vals = await Promise.all(done.map(async (p) => [await toCpu(p.loss), await toCpu(p.pred)] as const));
        releaseState(done.flatMap((p) => [p.loss, p.pred]));
        done.forEach((p, i) => { p.sl.loss = Number(vals[i]![0].data[0]); lossSum += p.sl.loss; correct += countCorrect(vals[i]![1], p.target); });
      };
      const perStep = (o.callbacks ?? []).some((c) => c.onBatchEnd);
      for (let s = 0; s < steps; s++) {
        const idx = order.slice(s * bs, (s + 1) * bs);
        lr = opts.optimizer.lr(globalStep);
        const ts = performance.now();
        const t = takeRows(target, idx);
        const res = await prog.run({ x: takeRows(xs, idx), target: t, [LR]: Tensor.from('float32', [], [lr]) }, this.state, [], true, ['loss', 'pred']);
        releaseState([...this.state.values()].filter((v) => ![...res.state.values()].includes(v)));
        this.state = res.state;
        const sl: StepLog = { step: globalStep++, epoch, loss: NaN, lr, timeMs: performance.now() - ts };
        pending.push({ sl, loss: res.held.loss!, pred: res.held.pred!, target: t });
        log.steps.push(sl);
        await settle(perStep ? 0 : IN_FLIGHT);
        for (const c of o.callbacks ?? []) await c.onBatchEnd?.(sl);
        task?.tick();
      }
      await settle(0);
      const el: EpochLog = { epoch, loss: lossSum / steps, lr, timeMs: performance.now() - t0 };
      if (opts.metrics?.includes('accuracy')) el.accuracy = correct / (steps * bs);
      if (val) {
        const v = await this.evaluate(val[0], val[1], { batchSize: bs });
        el.valLoss = v.loss;
        if (v.accuracy !== undefined) el.valAccuracy = v.accuracy;
      }
      log.epochs.push(el);
      task?.done(`loss ${el.loss.toFixed(4)}${el.accuracy !== undefined ? ` acc ${el.accuracy.toFixed(4)}` : ''}${el.valLoss !== undefined ? ` val_loss ${el.valLoss.toFixed(4)}` : ''}`);
      for (const c of o.callbacks ?? []) await c.onEpochEnd?.(el);
    }
    for (const p of [...this.params, ...this.stats]) this.weights.set(p.name, await toCpu(this.state.get(p.name)!));
    if (o.logPath) (await import('node:fs')).writeFileSync(o.logPath, JSON.stringify(log, null, 1));
    return log;
  }

  /** Mean loss (and accuracy if compiled with it) over (x, y), in batches. */
  async evaluate(x: Tensor, y: Tensor, o: { batchSize?: number } = {}): Promise<{ loss: number; accuracy?: number }> {
    this.evalProg ??= await StatefulProgram.create(this.lossGraph(), [], await this.session());
    const target = this.targetOf(y, this.classes());
    const n = x.shape[0]!;
    const bs = Math.min(o.batchSize ?? 256, n);
    let loss = 0; let correct = 0;
    for (let i = 0; i < n; i += bs) {
      const idx = Array.from({ length: Math.min(bs, n - i) }, (_, k) => i + k);
      const t = takeRows(target, idx);
      const r = await this.evalProg.run({ x: takeRows(x, idx), target: t }, this.paramState(), ['loss', 'pred'], false);
      loss += Number(r.outputs.loss!.data[0]) * idx.length;
      correct += countCorrect(r.outputs.pred!, t);
    }
    return { loss: loss / n, ...(this.opts?.metrics?.includes('accuracy') ? { accuracy: correct / n } : {}) };
  }

  /** The model's outputs for x. */
  async predict(x: Tensor): Promise<Tensor> {
    this.infer ??= await StatefulProgram.create(this.paramGraph(), [], await this.session());
    return (await this.infer.run({ x }, this.paramState(), ['pred'], false)).outputs.pred!;
  }

  /** The inference graph with the current weights as initializers. */
  inferenceGraph(): Graph {
    const g = this.source ?? this.forward;
    return g.with({ initializers: new Map([...g.initializers].map(([n]) => [n, this.weights.get(n)!])) });
  }

  /** The trained model as ONNX bytes (inference graph). */
  toOnnx(): Uint8Array {
    return exportModel(this.inferenceGraph());
  }

  /** Weights as a JSON checkpoint (base64 float32 data). */
  weightsToJson(): string {
    const w: Record<string, { shape: number[]; data: string }> = {};
    for (const [n, t] of this.weights) if (t.dtype === 'float32') w[n] = { shape: [...t.shape], data: Buffer.from(new Uint8Array((t.data as Float32Array).slice().buffer)).toString('base64') };
    return JSON.stringify({ format: 'kiln-weights', version: 1, weights: w });
  }

  /** Loads a checkpoint written by {@link weightsToJson}; shapes must match. */
  loadWeightsJson(json: string): void {
    const j = JSON.parse(json) as { format?: string; weights?: Record<string, { shape: number[]; data: string }> };
    if (j.format !== 'kiln-weights' || !j.weights) throw new InputError('not a kiln-weights checkpoint');
    for (const [n, v] of Object.entries(j.weights)) {
      const cur = this.weights.get(n);
      if (!cur || cur.shape.join() !== v.shape.join()) throw new InputError(`checkpoint weight '${n}' does not match the model`, n);
      const bytes = Buffer.from(v.data, 'base64');
      this.weights.set(n, new Tensor('float32', v.shape, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))));
    }
    releaseState(this.state.values());
    this.state.clear();
    this.train?.release(); this.train = undefined;
  }

  /** Saves the weights to a file (Node). */
  async saveWeights(path: string): Promise<void> { (await import('node:fs')).writeFileSync(path, this.weightsToJson()); }
  /** Loads weights from a file (Node). */
  async loadWeights(path: string): Promise<void> { this.loadWeightsJson((await import('node:fs')).readFileSync(path, 'utf8')); }

  /** Frees the compiled programs and GPU state. */
  release(): void {
    releaseState(this.state.values());
    this.state.clear();
    for (const p of [this.train, this.infer, this.evalProg]) p?.release();
    this.train = this.infer = this.evalProg = undefined;
  }
}

/** Rows where argmax(pred) = argmax(target) (for one column: pred > 0.5 = target > 0.5). */
function countCorrect(pred: Tensor, target: Tensor): number {
  const c = pred.shape.at(-1)!;
  const rows = pred.size / c;
  let ok = 0;
  for (let r = 0; r < rows; r++) {
    if (c === 1) { ok += Number(pred.data[r]! > 0.5) === Number(target.data[r]! > 0.5) ? 1 : 0; continue; }
    let a = 0; let t = 0;
    for (let j = 1; j < c; j++) { if (pred.data[r * c + j]! > pred.data[r * c + a]!) a = j; if (target.data[r * c + j]! > target.data[r * c + t]!) t = j; }
    if (a === t) ok++;
  }
  return ok;
}
