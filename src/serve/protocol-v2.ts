/**
 * The Open Inference Protocol (KServe v2) inference request and response, JSON and
 * the binary tensor extension: with an `Inference-Header-Content-Length` header the
 * body is that many bytes of JSON followed by the raw data of each input that has
 * `parameters.binary_data_size`, in order; outputs requested with
 * `parameters.binary_data: true` (or every output, with the request's
 * `parameters.binary_data_output: true`) are answered the same way.
 */
import type { Tensor } from '../graph/tensor.js';
import { dtypeOfWire, flattenNested, parseShape, tensorFromBinary, tensorFromJson, tensorToBinary, tensorToJson, wireDatatype } from './codec.js';
import { BadRequestError } from './errors.js';
import { checkFeedsFor } from './feeds.js';
import type { ModelVersion } from './repository.js';

/** One input of a parsed request, its data still undecoded. */
interface RequestInput {
  readonly name: string;
  readonly shape: number[];
  readonly datatype: string;
  readonly data?: unknown;
  readonly binary?: Uint8Array;
}

/** A parsed v2 inference request. */
export interface V2Request {
  readonly id?: string;
  readonly inputs: RequestInput[];
  /** Requested outputs (all when undefined), each with whether to answer it as binary. */
  readonly outputs?: { name: string; binary: boolean }[];
  /** Answer every output as binary. */
  readonly binaryOutputs: boolean;
}

/** A reply body with its headers. */
export interface V2Response {
  readonly status: number;
  readonly body: string | Uint8Array;
  readonly headers: Record<string, string>;
}

/** True for a plain JSON object. */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a request body (JSON, or JSON header plus binary data when `headerLength` is given). */
export function parseV2Request(body: Buffer, headerLength: string | string[] | undefined): V2Request {
  let jsonBytes = body;
  let rest = body.subarray(body.length);
  if (headerLength !== undefined) {
    const n = Number(Array.isArray(headerLength) ? headerLength[0] : headerLength);
    if (!Number.isInteger(n) || n < 0 || n > body.length) {
      throw new BadRequestError(`Inference-Header-Content-Length ${String(headerLength)} is not a byte count within the body (${body.length} bytes)`);
    }
    jsonBytes = body.subarray(0, n);
    rest = body.subarray(n);
  }
  let raw: unknown;
  try { raw = JSON.parse(jsonBytes.toString('utf8')); } catch (e) { throw new BadRequestError(`malformed JSON: ${(e as Error).message}`); }
  if (!isObject(raw)) throw new BadRequestError('the request must be a JSON object');
  if (!Array.isArray(raw.inputs) || raw.inputs.length === 0) throw new BadRequestError("the request needs 'inputs': a non-empty list of tensors");
  if (raw.id !== undefined && typeof raw.id !== 'string') throw new BadRequestError("'id' must be a string");
  const params = isObject(raw.parameters) ? raw.parameters : {};
  let offset = 0;
  const inputs: RequestInput[] = raw.inputs.map((inp: unknown, k: number) => {
    if (!isObject(inp) || typeof inp.name !== 'string') throw new BadRequestError(`inputs[${k}] needs a 'name' string`);
    const what = `input '${inp.name}'`;
    if (typeof inp.datatype !== 'string') throw new BadRequestError(`${what}: 'datatype' must be a string such as "FP32"`, inp.name);
    const shape = parseShape(inp.shape, what);
    const p = isObject(inp.parameters) ? inp.parameters : {};
    if (p.binary_data_size !== undefined) {
      const size = p.binary_data_size;
      if (!Number.isInteger(size) || (size as number) < 0) throw new BadRequestError(`${what}: parameters.binary_data_size must be a byte count`, inp.name);
      if (headerLength === undefined) throw new BadRequestError(`${what}: binary data needs the Inference-Header-Content-Length header`, inp.name);
      if (offset + (size as number) > rest.length) throw new BadRequestError(`${what}: binary_data_size ${String(size)} runs past the end of the body`, inp.name);
      const binary = rest.subarray(offset, offset + (size as number));
      offset += size as number;
      return { name: inp.name, shape, datatype: inp.datatype, binary };
    }
    if (inp.data === undefined) throw new BadRequestError(`${what}: needs 'data'`, inp.name);
    return { name: inp.name, shape, datatype: inp.datatype, data: inp.data };
  });
  if (offset !== rest.length) throw new BadRequestError(`the body has ${rest.length - offset} bytes of binary data that no input claims`);
  let outputs: { name: string; binary: boolean }[] | undefined;
  if (raw.outputs !== undefined) {
    if (!Array.isArray(raw.outputs)) throw new BadRequestError("'outputs' must be a list");
    outputs = raw.outputs.map((o: unknown, k: number) => {
      if (!isObject(o) || typeof o.name !== 'string') throw new BadRequestError(`outputs[${k}] needs a 'name' string`);
      const p = isObject(o.parameters) ? o.parameters : {};
      return { name: o.name, binary: p.binary_data === true };
    });
  }
  return { ...(raw.id !== undefined ? { id: raw.id as string } : {}), inputs, ...(outputs ? { outputs } : {}), binaryOutputs: params.binary_data_output === true };
}

/** Decodes a request's inputs for a model version and checks them against its inputs. */
function decodeInputs(mv: ModelVersion, req: V2Request): Record<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  for (const inp of req.inputs) {
    const what = `input '${inp.name}'`;
    if (tensors.has(inp.name)) throw new BadRequestError(`${what} is given twice`, inp.name);
    const dtype = dtypeOfWire(inp.datatype);
    if (!dtype) throw new BadRequestError(`${what}: unknown datatype '${inp.datatype}'`, inp.name);
    const want = mv.inputs.find((i) => i.name === inp.name);
    if (want && want.dtype !== dtype) throw new BadRequestError(`${what}: datatype ${inp.datatype} given, the model takes ${wireDatatype(want.dtype)}`, inp.name);
    const t = inp.binary
      ? tensorFromBinary(dtype, inp.shape, inp.binary, what)
      : tensorFromJson(dtype, inp.shape, flattenNested(inp.data, what).values, what);
    tensors.set(inp.name, t);
  }
  return checkFeedsFor(mv, tensors);
}

/** Runs a v2 request on a model version and builds the response (JSON, or JSON plus binary outputs). */
export async function inferV2(mv: ModelVersion, req: V2Request): Promise<V2Response> {
  const feeds = decodeInputs(mv, req);
  const names = mv.outputs.map((o) => o.name);
  for (const o of req.outputs ?? []) {
    if (!names.includes(o.name)) throw new BadRequestError(`model '${mv.name}' has no output '${o.name}' (outputs: ${names.join(', ')})`, o.name);
  }
  const result = await mv.infer(feeds);
  const wanted = req.outputs ?? names.map((name) => ({ name, binary: false }));
  const blobs: Uint8Array[] = [];
  const outputs = wanted.map(({ name, binary }) => {
    const t = result[name]!;
    const head = { name, datatype: wireDatatype(t.dtype), shape: [...t.shape] };
    if (binary || req.binaryOutputs) {
      const bytes = tensorToBinary(t);
      blobs.push(bytes);
      return { ...head, parameters: { binary_data_size: bytes.length } };
    }
    return { ...head, data: tensorToJson(t) };
  });
  const header = JSON.stringify({ model_name: mv.name, model_version: mv.version, ...(req.id !== undefined ? { id: req.id } : {}), outputs });
  if (!blobs.length) return { status: 200, body: header, headers: { 'content-type': 'application/json' } };
  const head = Buffer.from(header, 'utf8');
  return {
    status: 200,
    body: Buffer.concat([head, ...blobs]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
  };
}
