/**
 * Running a model directory in the ONNX backend-test layout
 * (`DIR/model.onnx`, `DIR/test_data_set_N/{input_K,output_K}.pb`) and comparing
 * its outputs with the expected ones. Shared by `kiln check`, the conformance
 * runner and the tests.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { InputError, LimitError, ModelFormatError, UnsupportedOpError } from '../graph/errors.js';
import { findOp } from '../graph/op.js';
import type { Graph } from '../graph/graph.js';
import { isStatic, shapeSize, type Shape } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import type { Backend, CompiledModel } from '../session/backends.js';
import { compareTensors, DEFAULT_TOLERANCE, type Tolerance } from './compare.js';
import { decodeModel, graphFromModel, guardFormat, nonTensorPorts, opsetsOf } from '../../onnx/import.js';
import { findMapping } from '../../onnx/ops-table.js';
import type { pb } from '../../onnx/proto.js';
import { readTensorFile } from '../../onnx/tensor-proto.js';

/** One named tensor read from a `.pb` file. */
export interface NamedTensor {
  /** Name stored in the file ('' if none). */
  readonly name: string;
  readonly tensor: Tensor;
}

/** One `test_data_set_N` directory. */
export interface TestDataSet {
  readonly name: string;
  readonly inputs: readonly NamedTensor[];
  readonly outputs: readonly NamedTensor[];
}

function numbered(dir: string, prefix: string): string[] {
  const re = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  return readdirSync(dir)
    .map((f) => re.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => path.join(dir, m[0]));
}

/** Reads every `test_data_set_*` of a model directory, in numeric order. */
export function readTestDataSets(dir: string): TestDataSet[] {
  if (!existsSync(dir)) throw new ModelFormatError(`${dir}: no such directory`, dir);
  const sets = readdirSync(dir)
    .filter((f) => /^test_data_set_\d+$/.test(f))
    .sort((a, b) => Number(a.slice(14)) - Number(b.slice(14)));
  return sets.map((s) => {
    const d = path.join(dir, s);
    return {
      name: s,
      inputs: numbered(d, 'input').map(readTensorFile),
      outputs: numbered(d, 'output').map(readTensorFile),
    };
  });
}

/** Result for one output of one data set. */
export interface OutputCheck {
  /** Output name (prefixed by the data set when there are several). */
  readonly name: string;
  readonly maxAbsErr: number;
  readonly maxRelErr: number;
  readonly pass: boolean;
  readonly detail?: string;
}

/** Result of checking a model directory. */
export interface ModelCheck {
  readonly pass: boolean;
  readonly outputs: readonly OutputCheck[];
  /** The imported graph (for reports). */
  readonly graph: Graph;
}

/** Options of {@link checkModelDir}. */
export interface CheckOptions {
  readonly backend: Backend;
  readonly tolerance?: Tolerance;
  /** Refuse (LimitError) graphs with a value of more elements than this. */
  readonly maxElements?: number;
}

/** Pairs tensors from files with graph ports: by stored name when it matches, else by position. */
function matchByName(ports: readonly string[], tensors: readonly NamedTensor[], what: string, where: string): Map<string, NamedTensor> {
  if (tensors.length !== ports.length) {
    throw new InputError(`${where}: ${tensors.length} ${what} file(s), but the model has ${ports.length} ${what}s (${ports.join(', ')})`, where);
  }
  const byName = tensors.every((t) => ports.includes(t.name)) && new Set(tensors.map((t) => t.name)).size === tensors.length;
  return new Map(ports.map((p, i) => [p, byName ? tensors.find((t) => t.name === p)! : tensors[i]!]));
}

/** A model directory, decoded: the model proto and its data sets. */
export interface ModelDir {
  readonly dir: string;
  readonly file: string;
  readonly model: pb.ModelProto;
  readonly sets: readonly TestDataSet[];
  /** Graph inputs that are not initializers, in order. */
  readonly inputNames: readonly string[];
}

/**
 * Reads `DIR/model.onnx` and its data sets. A model with sequence/optional or string
 * inputs or outputs is reported (with every other unsupported op) before its
 * data files are read.
 */
export function loadModelDir(dir: string): ModelDir {
  const file = path.join(dir, 'model.onnx');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  const model = decodeModel(bytes, file);
  const bad = nonTensorPorts(model);
  if (bad.length) {
    guardFormat(file, () => graphFromModel(model, { baseDir: dir }));
    throw new UnsupportedOpError(bad);
  }
  const inits = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  const inputNames = (model.graph?.input ?? []).map((v) => v.name ?? '').filter((n) => !inits.has(n));
  return { dir, file, model, sets: readTestDataSets(dir), inputNames };
}

/** Graph inputs that some node reads at a shape-deciding position (the op's `shapeInputs`). */
export function shapeDecidingInputs(model: pb.IModelProto, inputNames: readonly string[]): Set<string> {
  const inputs = new Set(inputNames);
  const out = new Set<string>();
  const opsets = opsetsOf(model);
  for (const n of model.graph?.node ?? []) {
    const domain = n.domain === 'ai.onnx' ? '' : n.domain ?? '';
    const mapped = findMapping(n.opType ?? '', domain, opsets.get(domain) ?? 1)?.shapeInputs;
    for (const i of mapped ?? findOp(n.opType ?? '', domain)?.shapeInputs ?? []) {
      const v = n.input?.[i];
      if (v && inputs.has(v)) out.add(v);
    }
  }
  return out;
}

/**
 * Imports the model of a directory for one data set. Inputs that decide shapes
 * (Reshape's shape, Squeeze's axes...) are bound to the data set's values, since
 * Kiln compiles for known shapes; other inputs keep the model's (symbolic) types,
 * with the data set's shapes for inputs of unknown rank.
 */
export function importForDataSet(m: ModelDir, set: TestDataSet | undefined): { graph: Graph; bound: ReadonlySet<string> } {
  const inputShapes: Record<string, Shape> = {};
  const constantInputs: Record<string, Tensor> = {};
  const bound = shapeDecidingInputs(m.model, m.inputNames);
  if (set && set.inputs.length === m.inputNames.length) {
    for (const [name, t] of matchByName(m.inputNames, set.inputs, 'input', m.dir)) {
      inputShapes[name] = t.tensor.shape;
      if (bound.has(name)) constantInputs[name] = t.tensor;
    }
  }
  const graph = guardFormat(m.file, () => graphFromModel(m.model, { baseDir: m.dir, inputShapes, constantInputs }));
  return { graph, bound };
}

/** Throws a LimitError if any value of the graph is statically larger than `max` elements. */
export function checkGraphSize(g: Graph, max: number): void {
  const all = [...g.inputs, ...g.valueTypes.values(), ...[...g.initializers.values()]];
  for (const v of all) {
    const n = isStatic(v.shape) ? shapeSize(v.shape) ?? 0 : 0;
    if (n > max) throw new LimitError(`graph '${g.name}' has a value of ${n} elements (limit ${max})`);
  }
}

/** Runs a model directory on a backend and compares every data set's outputs. */
export async function checkModelDir(dir: string, opts: CheckOptions): Promise<ModelCheck> {
  const m = loadModelDir(dir);
  const sets = m.sets;
  if (sets.length === 0) throw new ModelFormatError(`${dir}: no test_data_set_* directories`, dir);
  const tol = opts.tolerance ?? DEFAULT_TOLERANCE;
  const outputs: OutputCheck[] = [];
  let first: Graph | undefined;
  let compiled: { graph: Graph; model: CompiledModel; perSet: boolean } | undefined;
  try {
    for (const set of sets) {
      if (!compiled || compiled.perSet) {
        compiled?.model.release();
        const { graph, bound } = importForDataSet(m, set);
        first ??= graph;
        if (opts.maxElements !== undefined) checkGraphSize(graph, opts.maxElements);
        compiled = { graph, model: await opts.backend.compile(graph), perSet: bound.size > 0 };
      }
      const graph = compiled.graph;
      const feeds: Record<string, Tensor> = {};
      for (const [name, t] of matchByName(m.inputNames, set.inputs, 'input', `${dir}/${set.name}`)) {
        if (graph.inputs.some((i) => i.name === name)) feeds[name] = t.tensor;
      }
      const result = await compiled.model.run(feeds);
      const expected = matchByName(graph.outputs.map((o) => o.name), set.outputs, 'output', `${dir}/${set.name}`);
      for (const [name, want] of expected) {
        const got = result[name]!;
        const c = compareTensors(want.tensor, got, tol);
        outputs.push({
          name: sets.length > 1 ? `${set.name}/${name}` : name,
          maxAbsErr: c.maxAbsErr,
          maxRelErr: c.maxRelErr,
          pass: c.pass,
          ...(c.detail ? { detail: c.detail } : {}),
        });
      }
    }
  } finally {
    compiled?.model.release();
  }
  return { pass: outputs.every((o) => o.pass), outputs, graph: first! };
}
