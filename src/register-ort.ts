/**
 * `kiln/register-ort`: run programs written for ONNX Runtime on Kiln, unchanged.
 *
 *     node --import kiln/register-ort app.js
 *
 * After this module is imported, `onnxruntime-node`, `onnxruntime-web` (and subpaths)
 * and `onnxruntime-common` resolve to Kiln's ONNX-Runtime-shaped entry (src/ort.ts:
 * `InferenceSession.create`, `Tensor`, `env`), both for `import` (a `module.register`
 * resolve hook, src/register-ort-hooks.ts) and for `require` (CommonJS resolution
 * consults the same package list), including imports made inside other packages in
 * node_modules. `KILN_BACKEND=cpu|webgpu|auto` picks the backend of sessions that name none.
 *
 * Node only. In a browser bundle, alias the same package names to `kiln/ort` instead.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isOrtSpecifier, type OrtHookData } from './register-ort-hooks.js';

/** Kiln's ORT-shaped entry next to this file: ort.js in a build, ort.ts when run from source. */
function entryPath(): string {
  const candidates = ['./ort.js', './ort.ts'].map((f) => fileURLToPath(new URL(f, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`kiln/register-ort: Kiln's ORT entry is missing (looked for ${candidates.join(', ')})`);
  return found;
}

const entry = entryPath();
const hooksUrl = existsSync(fileURLToPath(new URL('./register-ort-hooks.js', import.meta.url)))
  ? './register-ort-hooks.js' : './register-ort-hooks.ts';
module.register<OrtHookData>(hooksUrl, import.meta.url, { data: { target: pathToFileURL(entry).href } });

/**
 * CommonJS (`require('onnxruntime-node')`, as in packages compiled to CJS): Node 20 has no
 * in-thread resolve hook for `require`, and `require` of an ES module is not available on
 * every Node 20 (nor does it see loaders such as tsx's), so the entry is imported here once
 * and put into the CommonJS module cache under a name of its own; the same package list
 * resolves to that name. `import` and `require` thus share one instance of the entry.
 */
const ort = await import(pathToFileURL(entry).href) as Record<string, unknown>;
const cjsId = `${entry}#kiln-ort-cjs`;
type ResolveFilename = (request: string, ...rest: unknown[]) => string;
interface CjsModule { _resolveFilename: ResolveFilename; _cache: Record<string, unknown> }
const cjs = module.Module as unknown as CjsModule;
const cjsExports = Object.freeze({ ...ort, __esModule: true, default: ort });
cjs._cache[cjsId] = { id: cjsId, filename: cjsId, loaded: true, exports: cjsExports, children: [], paths: [] };
const resolveFilename = cjs._resolveFilename;
cjs._resolveFilename = function resolveOrt(this: unknown, request: string, ...rest: unknown[]): string {
  return isOrtSpecifier(request) ? cjsId : resolveFilename.call(this, request, ...rest);
};
