/** The shared models (../shared/models), loaded and optimized at O2 for the viz tests. */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Graph } from '../src/graph/index.js';
import { loadModel, optimizeModel } from '../src/cli/io.js';

/** Directory of the shared models. */
export const SHARED_MODELS = resolve(process.cwd(), '../shared/models');

/** One shared model: the graph as imported (`raw`) and after -O2 (`graph`). */
export interface SharedModel {
  readonly name: string;
  readonly file: string;
  load(): Promise<{ graph: Graph; raw: Graph }>;
}

const cache = new Map<string, Promise<{ graph: Graph; raw: Graph }>>();

/** Every shared model with a model.onnx. */
export function sharedModelGraphs(): SharedModel[] {
  if (!existsSync(SHARED_MODELS)) return [];
  return readdirSync(SHARED_MODELS).sort()
    .filter((name) => existsSync(join(SHARED_MODELS, name, 'model.onnx')))
    .map((name) => {
      const file = join(SHARED_MODELS, name, 'model.onnx');
      return {
        name,
        file,
        load() {
          let p = cache.get(name);
          if (!p) {
            p = (async () => {
              const raw = await loadModel(file);
              const { graph } = optimizeModel(raw, 2);
              return { graph, raw };
            })();
            cache.set(name, p);
          }
          return p;
        },
      };
    });
}
