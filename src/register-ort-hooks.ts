/**
 * The module-resolution hooks behind `kiln/register-ort` (Node's `module.register`):
 * `onnxruntime-node`, `onnxruntime-web` (with its subpaths such as `onnxruntime-web/webgpu`)
 * and `onnxruntime-common` resolve to Kiln's ONNX-Runtime-shaped entry (src/ort.ts).
 * Runs in Node's loader thread; `initialize` receives the entry's URL.
 *
 * @module
 */

/** The package names whose imports go to Kiln (a subpath of one counts too). */
export const ORT_PACKAGES: readonly string[] = ['onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common'];

/** True when `specifier` imports one of {@link ORT_PACKAGES} or a subpath of one. */
export function isOrtSpecifier(specifier: string): boolean {
  return ORT_PACKAGES.some((p) => specifier === p || specifier.startsWith(`${p}/`));
}

/** What `module.register` hands to {@link initialize}. */
export interface OrtHookData {
  /** file: URL of Kiln's ORT-shaped entry. */
  readonly target: string;
}

let target: string | undefined;

/**
 * Node's `initialize` hook: remembers where Kiln's entry lies.
 *
 * @param data the entry's URL, from `module.register(..., { data })`.
 */
export function initialize(data: OrtHookData): void {
  target = data.target;
}

/** The context and result shapes of Node's `resolve` hook that this hook uses. */
interface ResolveResult { url: string; format?: string | null; shortCircuit?: boolean }
type NextResolve = (specifier: string, context?: unknown) => ResolveResult | Promise<ResolveResult>;

/**
 * Node's `resolve` hook: ONNX Runtime's packages resolve to Kiln's entry; everything
 * else goes on to the next hook.
 *
 * @param specifier what the import names.
 * @param context Node's resolve context.
 * @param nextResolve the next hook in the chain.
 */
export function resolve(specifier: string, context: unknown, nextResolve: NextResolve): ResolveResult | Promise<ResolveResult> {
  if (target && isOrtSpecifier(specifier)) return { url: target, shortCircuit: true };
  return nextResolve(specifier, context);
}
