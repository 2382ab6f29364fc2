/**
 * The `kiln` command line. Each subcommand lives in `commands/<name>.ts` and exports
 * `register(program)`; they are listed in `commands/index.ts`.
 *
 * Exit codes: 0 success; 1 a check or comparison failed; 2 bad usage or bad input
 * (missing file, malformed model, bad --input); 3 unsupported model (unknown op);
 * 4 device or internal error.
 */
import { Command } from 'commander';
import { KilnError } from '../graph/errors.js';
import { COMMANDS } from './commands/index.js';
import { exitCodeFor } from './exit-codes.js';

const program = new Command();
program
  .name('kiln')
  .description('Kiln: a define-and-run graph compiler for WebGPU')
  .showHelpAfterError()
  .exitOverride();

for (const register of COMMANDS) register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { code?: string; exitCode?: number };
  if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
  } else if (e instanceof KilnError) {
    process.stderr.write(`kiln: ${e.name}: ${e.message}\n`);
    process.exitCode = exitCodeFor(e);
  } else {
    process.stderr.write(`kiln: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 4;
  }
}
