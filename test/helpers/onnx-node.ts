/**
 * Reading official ONNX node tests for the op tests that build their graphs by hand
 * (test/ops-conv-onnxdata.ts, test/ops-shape-onnxdata.ts): where the data lives,
 * which cases exist, and a case's model, attributes and test_data_set_0, decoded
 * with the importer's own readers (src/harness/conformance.ts, src/harness/model-test.ts,
 * onnx/tensor-proto.ts, onnx/attributes.ts). Running and comparing stays with the
 * callers (each keeps its own tolerance rule).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { attrsFromProto } from '../../onnx/attributes.js';
import { testDataRoot } from '../../src/harness/conformance.js';
import { decodeModel } from '../../onnx/import.js';
import { readTestDataSets } from '../../src/harness/model-test.js';
import type { pb } from '../../onnx/proto.js';
import type { Tensor } from '../../src/graph/index.js';

/** Root of the ONNX node test data. */
export const NODE_DATA = path.join(testDataRoot(), 'node');

/** Names of node tests whose directory name starts with one of `prefixes` (none without the data). */
export function nodeTests(...prefixes: string[]): string[] {
  if (!existsSync(NODE_DATA)) return [];
  return readdirSync(NODE_DATA).filter((d) => prefixes.some((p) => d.startsWith(p))).sort();
}

/** A test model directory: its graph and the tensors of test_data_set_0, in file order. */
export interface OnnxCase {
  readonly graph: pb.IGraphProto;
  readonly ins: Tensor[];
  readonly outs: Tensor[];
}

/** Reads `dir/model.onnx` and `dir/test_data_set_0/{input,output}_N.pb`. */
export function readOnnxCase(dir: string): OnnxCase {
  const file = path.join(dir, 'model.onnx');
  const model = decodeModel(readFileSync(file), file);
  const set = readTestDataSets(dir).find((s) => s.name === 'test_data_set_0');
  if (!set) throw new Error(`${dir}: no test_data_set_0`);
  return { graph: model.graph ?? {}, ins: set.inputs.map((t) => t.tensor), outs: set.outputs.map((t) => t.tensor) };
}

/** A node's attributes as builder attribute values. */
export function nodeAttrs(node: pb.INodeProto): Record<string, unknown> {
  return attrsFromProto(node.attribute ?? [], node.name || node.opType || 'node', node.opType ?? '', {});
}
