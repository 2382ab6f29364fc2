/**
 * Running a model directory in the ONNX backend-test layout
 * (`DIR/model.onnx`, `DIR/test_data_set_N/{input_K,output_K}.pb`) and comparing
 * its outputs with the expected ones. Shared by `kiln check`, the conformance
 * runner and the tests.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DynamicRankError, InputError, KilnError, LimitError, ModelFormatError, UnsupportedOpError } from '../graph/errors.js';
import { findOp } from '../graph/op.js';
import type { Graph } from '../graph/graph.js';
import { isStatic, shapeSize, type Shape } from '../graph/shape.js';
import type { ValueType } from '../graph/op.js';
import { floatFormatOf, fromFormatBits, isFloat, type DType } from '../graph/dtype.js';
import { Tensor } from '../graph/tensor.js';
import { commonShape, TensorSequence, type Value } from '../graph/value.js';
import type { Backend, CompiledModel } from '../session/backends.js';
import { compareValues, DEFAULT_TOLERANCE, type Tolerance } from './compare.js';
import { decodeModel, graphFromModel, guardFormat, nonTensorPorts, opsetsOf } from '../../onnx/import.js';
import { findMapping } from '../../onnx/ops-table.js';
import type { pb } from '../../onnx/proto.js';
import { containerTypeFromProto, readValueFile } from '../../onnx/value-types.js';

/** One named value read from a `.pb` file (a TensorProto, SequenceProto or OptionalProto). */
export interface NamedTensor {
  /** Name stored in the file ('' if none). */
  readonly name: string;
  /** The value as a tensor (an InputError when the file holds a sequence or optional). */
  readonly tensor: Tensor;
  /** The value, of any kind. */
  readonly value: Value;
}

/** Types of a model's ports (graph inputs that are not initializers, and outputs), by position; undefined for a tensor. */
export interface PortTypes {
  readonly inputs: readonly (ValueType | undefined)[];
  readonly outputs: readonly (ValueType | undefined)[];
}

/** The sequence and optional types of a model's ports (undefined for tensors), for reading their data files. */
export function portTypesOf(model: pb.IModelProto): PortTypes {
  const inits = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  const typeOf = (v: pb.IValueInfoProto): ValueType | undefined => {
    try {
      return v.type ? containerTypeFromProto(v.type, v.name ?? '') : undefined;
    } catch (e) {
      if (e instanceof KilnError) return undefined;
      throw e;
    }
  };
  return {
    inputs: (model.graph?.input ?? []).filter((v) => !inits.has(v.name ?? '')).map(typeOf),
    outputs: (model.graph?.output ?? []).map(typeOf),
  };
}

function named(file: string, type: ValueType | undefined): NamedTensor {
  const { name, value } = readValueFile(file, type);
  return {
    name,
    value,
    get tensor(): Tensor {
      if (value instanceof Tensor) return value;
      throw new InputError(`${file} holds ${value.toString()}, not a tensor`, file);
    },
  };
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

/** Reads every `test_data_set_*` of a model directory, in numeric order; `ports` types the files of sequence and optional ports. */
export function readTestDataSets(dir: string, ports?: PortTypes): TestDataSet[] {
  if (!existsSync(dir)) throw new ModelFormatError(`${dir}: no such directory`, dir);
  const sets = readdirSync(dir)
    .filter((f) => /^test_data_set_\d+$/.test(f))
    .sort((a, b) => Number(a.slice(14)) - Number(b.slice(14)));
  return sets.map((s) => {
    const d = path.join(dir, s);
    return {
      name: s,
      inputs: numbered(d, 'input').map((f, i) => named(f, ports?.inputs[i])),
      outputs: numbered(d, 'output').map((f, i) => named(f, ports?.outputs[i])),
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
  return { dir, file, model, sets: readTestDataSets(dir, portTypesOf(model)), inputNames };
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

/** Most elements an integer or bool input may have to be bound as a constant when ranks depend on values. */
export const MAX_BOUND_VALUE_ELEMENTS = 64;

/**
 * Whether an input tensor is a small integer or bool one (a size vector, an axis, a
 * flag) that a model whose ranks depend on values (DynamicRankError) is specialized on.
 */
export function bindsAsValue(t: Tensor): boolean {
  return !isFloat(t.dtype) && t.dtype !== 'string' && t.size <= MAX_BOUND_VALUE_ELEMENTS;
}

/**
 * Imports the model of a directory for one data set. Inputs that decide shapes
 * (Reshape's shape, Squeeze's axes...) are bound to the data set's values, since
 * Kiln compiles for known shapes; other inputs keep the model's (symbolic) types,
 * with the data set's shapes for inputs of unknown rank. A model whose ranks depend
 * on input values (DynamicRankError: AffineGrid's function body splits its `size`
 * input and branches on it) is imported again with its small integer and bool inputs
 * bound too, as the session specializes such a model at run time.
 */
export function importForDataSet(m: ModelDir, set: TestDataSet | undefined): { graph: Graph; bound: ReadonlySet<string> } {
  const inputShapes: Record<string, Shape> = {};
  const tensors = new Map<string, Tensor>();
  if (set && set.inputs.length === m.inputNames.length) {
    for (const [name, t] of matchByName(m.inputNames, set.inputs, 'input', m.dir)) {
      if (t.value instanceof TensorSequence) {
        // A sequence input of unknown element shape is typed by its elements when they agree.
        const elem = commonShape(t.value.items.map((x) => x.shape), () => '');
        if (elem && elem.every((d) => d !== '')) inputShapes[name] = elem;
      }
      if (!(t.value instanceof Tensor)) continue;
      inputShapes[name] = t.value.shape;
      tensors.set(name, t.value);
    }
  }
  const importBinding = (bound: ReadonlySet<string>): Graph => {
    const constantInputs = Object.fromEntries([...tensors].filter(([n]) => bound.has(n)));
    return guardFormat(m.file, () => graphFromModel(m.model, { baseDir: m.dir, inputShapes, constantInputs }));
  };
  const bound = shapeDecidingInputs(m.model, m.inputNames);
  try {
    return { graph: importBinding(bound), bound };
  } catch (e) {
    const byValue = new Set([...bound, ...[...tensors].filter(([, t]) => bindsAsValue(t)).map(([n]) => n)]);
    if (!(e instanceof DynamicRankError) || byValue.size === bound.size) throw e;
    return { graph: importBinding(byValue), bound: byValue };
  }
}

/** Throws a LimitError if any value of the graph is statically larger than `max` elements. */
export function checkGraphSize(g: Graph, max: number): void {
  const all = [...g.inputs, ...g.valueTypes.values(), ...[...g.initializers.values()]];
  for (const v of all) {
    const n = isStatic(v.shape) ? shapeSize(v.shape) ?? 0 : 0;
    if (n > max) throw new LimitError(`graph '${g.name}' has a value of ${n} elements (limit ${max})`);
  }
}

/** The feeds as tensors, for a backend without runValues (a sequence or optional feed is unsupported there). */
function tensorFeeds(feeds: Readonly<Record<string, Value>>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) {
    if (!(v instanceof Tensor)) throw new UnsupportedOpError([{ op: `graph input of type ${v.toString()}`, nodes: [k] }], 'this backend runs on tensors only');
    out[k] = v;
  }
  return out;
}

/**
 * A data file's tensor as the port's dtype: ONNX's test data stores bfloat16 values
 * as their bits in a UINT16 tensor (numpy has no bfloat16), which becomes a bfloat16
 * tensor here; any other value is returned as it is.
 */
export function asPortDtype(v: Value, want: DType | undefined): Value {
  if (!(v instanceof Tensor) || want !== 'bfloat16' || v.dtype !== 'uint16') return v;
  const f = floatFormatOf('bfloat16')!;
  return new Tensor('bfloat16', v.shape, Float32Array.from(v.data, (b) => fromFormatBits(b, f)));
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
      const feeds: Record<string, Value> = {};
      for (const [name, t] of matchByName(m.inputNames, set.inputs, 'input', `${dir}/${set.name}`)) {
        const port = graph.inputs.find((i) => i.name === name);
        if (port) feeds[name] = asPortDtype(t.value, port.dtype);
      }
      const result: Record<string, Value> = compiled.model.runValues ? await compiled.model.runValues(feeds) : await compiled.model.run(tensorFeeds(feeds));
      const expected = matchByName(graph.outputs.map((o) => o.name), set.outputs, 'output', `${dir}/${set.name}`);
      for (const [name, want] of expected) {
        const got = result[name]!;
        const c = compareValues(asPortDtype(want.value, graph.outputs.find((o) => o.name === name)?.dtype), got, tol);
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
