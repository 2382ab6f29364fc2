/** Exit codes of the `kiln` command, one place. */
import { KilnError, UnsupportedOpError, DeviceLostError } from '../graph/errors.js';

/** The documented exit codes. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unsupported: 3, internal: 4 } as const;

/** Exit code for a typed error. */
export function exitCodeFor(e: KilnError): number {
  if (e instanceof UnsupportedOpError) return EXIT.unsupported;
  if (e instanceof DeviceLostError || e.code === 'NO_ADAPTER') return EXIT.internal;
  return EXIT.usage;
}
