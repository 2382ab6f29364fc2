/**
 * Loading model bytes from a path, URL or buffer, in the browser and in Node.
 * Node's `fs` is imported dynamically behind a specifier bundlers do not follow,
 * so browser bundles never include it.
 */
import { ModelFormatError } from '../graph/errors.js';

/** What a model can be given as. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** Reads the bytes of a model; also returns the folder of a local file (for external data). */
export async function loadModelBytes(src: ModelSource): Promise<{ bytes: Uint8Array; baseDir?: string }> {
  if (src instanceof Uint8Array) return { bytes: src };
  if (src instanceof ArrayBuffer) return { bytes: new Uint8Array(src) };
  const s = src.toString();
  if (/^(https?|data|blob):/i.test(s) || !isNode) {
    const res = await fetch(s);
    if (!res.ok) throw new ModelFormatError(`could not fetch model from ${s}: HTTP ${res.status}`, s);
    return { bytes: new Uint8Array(await res.arrayBuffer()) };
  }
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  const file = s.startsWith('file:') ? new URL(s).pathname : s;
  try {
    return { bytes: new Uint8Array(await fs.readFile(file)), baseDir: path.dirname(path.resolve(file)) };
  } catch (e) {
    throw new ModelFormatError(`cannot read model file '${file}': ${(e as Error).message}`, file);
  }
}
