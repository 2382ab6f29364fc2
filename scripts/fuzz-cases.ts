/**
 * The fuzzer's case generator: case `index` of run `seed` is a pure function of the
 * two (and of the shared model files), so any failing case can be rebuilt with
 * `npm run fuzz -- --seed S --case I`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { onnx, type pb } from '../onnx/proto.js';
import { BYTE_MUTATION_NAMES, HOSTILE_NAMES, hostile, mutateBytes } from './fuzz-bytes.js';
import { BASE_NAMES, baseModel, caseSeed, encodeModel, Rng } from './fuzz-models.js';
import { MUTATION_NAMES, mutate } from './fuzz-mutate.js';

/** One generated case. */
export interface FuzzCase {
  readonly index: number;
  /** Seed of this case (derived from the run seed and the index). */
  readonly caseSeed: number;
  /** Which model it starts from: a base model name, `shared:<name>`, or `hostile`. */
  readonly base: string;
  /** The mutations applied, in order, each with what it did. */
  readonly mutations: readonly string[];
  readonly bytes: Uint8Array;
}

/** Loads the shared models' bytes (name → bytes); empty when the folder is absent. */
export function loadSharedModels(dir: string, only?: readonly string[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name, 'model.onnx');
    if ((only && !only.includes(name)) || !existsSync(file)) continue;
    out.set(name, readFileSync(file));
  }
  return out;
}

/** Builds case `index` of the run with seed `seed`. `sharedShare` is the fraction of cases that mutate shared models. */
export function makeCase(seed: number, index: number, shared: ReadonlyMap<string, Uint8Array>, sharedShare = 0.03): FuzzCase {
  const cs = caseSeed(seed, index);
  const r = new Rng(cs);
  const roll = r.next();
  const sharedNames = [...shared.keys()];
  const mutations: string[] = [];
  if (roll < 0.08) {
    const name = r.pick(HOSTILE_NAMES);
    const h = hostile(name, r);
    mutations.push(`${name}: ${h.detail}`);
    return { index, caseSeed: cs, base: 'hostile', mutations, bytes: h.bytes };
  }
  const useShared = sharedNames.length > 0 && roll < 0.08 + sharedShare;
  const base = useShared ? `shared:${r.pick(sharedNames)}` : r.pick(BASE_NAMES);
  const baseBytes = (): Uint8Array => (useShared ? shared.get(base.slice(7))! : encodeModel(baseModel(base)));
  const kind = r.next();
  if (kind < 0.05) return { index, caseSeed: cs, base, mutations: ['none'], bytes: baseBytes() };
  if (kind < 0.4) {
    const name = r.pick(BYTE_MUTATION_NAMES);
    const m = mutateBytes(name, baseBytes(), r);
    mutations.push(`${name}: ${m.detail}`);
    return { index, caseSeed: cs, base, mutations, bytes: m.bytes };
  }
  const model = useShared ? onnx.ModelProto.decode(baseBytes()) : baseModel(base);
  const count = r.chance(0.7) ? 1 : r.int(2, 4);
  for (let i = 0; i < count; i++) {
    const name = r.pick(MUTATION_NAMES);
    mutations.push(`${name}: ${mutate(name, model, r)}`);
  }
  sanitize(model.graph);
  return { index, caseSeed: cs, base, mutations, bytes: encodeModel(model) };
}

/** Mutations may leave holes (undefined names) that protobuf cannot encode: make them ''. */
function sanitize(g: pb.IGraphProto | null | undefined): void {
  if (!g) return;
  for (const n of g.node ?? []) {
    n.input = (n.input ?? []).map((v) => v ?? '');
    n.output = (n.output ?? []).map((v) => v ?? '');
  }
  for (const v of [...(g.input ?? []), ...(g.output ?? [])]) v.name = v.name ?? '';
}
