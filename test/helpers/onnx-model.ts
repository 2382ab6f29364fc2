/**
 * Builders of small ONNX models for tests (protobuf objects, encoded with
 * onnx-proto), and the hand-built control-flow models that the CPU and WebGPU
 * control-flow tests share.
 */
import { onnx, type pb } from '../../onnx/proto.js';

/** ONNX attribute types. */
export const A = onnx.AttributeProto.AttributeType;
/** float32 (ONNX element type). */
export const FLOAT = 1;
/** int64. */
export const INT64 = 7;
/** bool. */
export const BOOL = 9;

/** A value info: name, element type and (optionally) static dims. */
export function vi(name: string, elemType: number, dims?: readonly number[]): pb.IValueInfoProto {
  return { name, type: { tensorType: { elemType, ...(dims ? { shape: { dim: dims.map((d) => ({ dimValue: d })) } } : {}) } } };
}
/** A node named after its op and first output. */
export function node(opType: string, input: string[], output: string[], attribute: pb.IAttributeProto[] = []): pb.INodeProto {
  return { name: `${opType}_${output[0]}`, opType, input, output, attribute };
}
/** A GRAPH attribute. */
export function graphAttr(name: string, g: pb.IGraphProto): pb.IAttributeProto {
  return { name, type: A.GRAPH, g };
}
/** An initializer (float or int64 data). */
export function constInit(name: string, dtype: number, dims: number[], vals: number[]): pb.ITensorProto {
  return dtype === FLOAT ? { name, dataType: FLOAT, dims, floatData: vals } : { name, dataType: dtype, dims, int64Data: vals };
}
/** A model at opset 17 around `graph`, encoded. */
export function model(graph: pb.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }).finish();
}

/**
 * Loop (M = 4) carrying x; its body holds an If (cond: iteration > 1) whose then
 * branch reads `w` from the top-level graph, two scopes out. x0 = 1, w = 10:
 * iterations give 2, 4, 14, 24; the scan output stacks them.
 */
export function nestedModel(): Uint8Array {
  const thenB: pb.IGraphProto = { name: 'then', node: [node('Add', ['x_in', 'w'], ['t_out'])], output: [vi('t_out', FLOAT, [1])] };
  const elseB: pb.IGraphProto = { name: 'else', node: [node('Mul', ['x_in', 'two'], ['e_out'])], output: [vi('e_out', FLOAT, [1])], initializer: [constInit('two', FLOAT, [1], [2])] };
  const body: pb.IGraphProto = {
    name: 'body',
    input: [vi('i', INT64, []), vi('c_in', BOOL, []), vi('x_in', FLOAT)],
    node: [
      node('Greater', ['i', 'one'], ['gt']),
      node('If', ['gt'], ['x_out'], [graphAttr('then_branch', thenB), graphAttr('else_branch', elseB)]),
      node('Identity', ['c_in'], ['c_out']),
      node('Identity', ['x_out'], ['x_scan']),
    ],
    initializer: [constInit('one', INT64, [], [1])],
    output: [vi('c_out', BOOL, []), vi('x_out', FLOAT, [1]), vi('x_scan', FLOAT, [1])],
  };
  return model({
    name: 'nested',
    input: [vi('x0', FLOAT, [1]), vi('w', FLOAT, [1])],
    initializer: [constInit('M', INT64, [], [4])],
    node: [node('Loop', ['M', '', 'x0'], ['x_final', 'xs'], [graphAttr('body', body)])],
    output: [vi('x_final', FLOAT, [1]), vi('xs', FLOAT, [4, 1])],
  });
}

