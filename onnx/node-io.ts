/**
 * Node's `fs` and `path`, as far as the ONNX importer uses them (reading model
 * files and external tensor data), reached through `process.getBuiltinModule`
 * (Node >= 20.16) instead of a static import. Bundlers never follow it, so the
 * importer can be bundled for the browser; there these functions throw a
 * {@link ModelFormatError} saying that files need Node (load the bytes with
 * `fetch` instead, which InferenceSession.create does for URLs).
 *
 * @module
 */
import type * as Fs from 'node:fs';
import type * as Path from 'node:path';
import { ModelFormatError } from '../src/graph/errors.js';

type GetBuiltin = (id: string) => unknown;

/** A Node built-in module, or a ModelFormatError naming `what` outside Node. */
function builtin<T>(id: string, what: string): T {
  const get = (globalThis as { process?: { getBuiltinModule?: GetBuiltin } }).process?.getBuiltinModule;
  if (typeof get !== 'function') {
    throw new ModelFormatError(`${what}: reading files needs Node.js >= 20.16 (in a browser, pass the model's bytes or a URL)`, what);
  }
  return get(id) as T;
}

/** `fs.readFileSync(file)`; throws Node's error (with `code`) when the file cannot be read. */
export function readFileSync(file: string): Uint8Array {
  return builtin<typeof Fs>('node:fs', file).readFileSync(file);
}

/** `fs.realpathSync(file)`: the path with every symbolic link resolved. */
export function realpathSync(file: string): string {
  return builtin<typeof Fs>('node:fs', file).realpathSync(file);
}

/** `fs.statSync(file)`. */
export function statSync(file: string): Fs.Stats {
  return builtin<typeof Fs>('node:fs', file).statSync(file);
}

/** The parts of `node:path` the importer uses. */
export const path = {
  /** `path.join`. */
  join: (...parts: string[]): string => builtin<typeof Path>('node:path', parts.join('/')).join(...parts),
  /** `path.dirname`. */
  dirname: (p: string): string => builtin<typeof Path>('node:path', p).dirname(p),
  /** `path.resolve`. */
  resolve: (...parts: string[]): string => builtin<typeof Path>('node:path', parts.join('/')).resolve(...parts),
  /** `path.isAbsolute`. */
  isAbsolute: (p: string): boolean => builtin<typeof Path>('node:path', p).isAbsolute(p),
  /** `path.normalize`. */
  normalize: (p: string): string => builtin<typeof Path>('node:path', p).normalize(p),
  /** `path.relative`. */
  relative: (from: string, to: string): string => builtin<typeof Path>('node:path', to).relative(from, to),
  /** `path.win32.isAbsolute` (rejecting Windows paths on every platform). */
  win32: { isAbsolute: (p: string): boolean => builtin<typeof Path>('node:path', p).win32.isAbsolute(p) },
  /** `path.sep`. */
  get sep(): string { return builtin<typeof Path>('node:path', 'path.sep').sep; },
};
