/**
 * Progress reporting for long CLI work (loading, compiling, benchmarking): a
 * cli-progress bar on an interactive terminal, plain one-line messages when stderr
 * is not a TTY or when CI is set. Everything goes to stderr, so stdout stays clean.
 */
import cliProgress from 'cli-progress';

/** One step of work being reported. */
export interface ProgressTask {
  /** Advances by `n` units (bars only). */
  tick(n?: number): void;
  /** Ends the step, printing `detail` (e.g. a timing). */
  done(detail?: string): void;
}

/** True when progress bars should be drawn (a TTY, and not CI). */
export function useBars(stream: NodeJS.WriteStream = process.stderr): boolean {
  const ci = process.env.CI;
  return Boolean(stream.isTTY) && !(ci && ci !== 'false' && ci !== '0');
}

/** Starts a step. `total` > 1 draws a bar on a TTY; otherwise a line is printed when it ends. */
export function startTask(label: string, total = 1, stream: NodeJS.WriteStream = process.stderr): ProgressTask {
  const t0 = performance.now();
  const elapsed = (): string => `${(performance.now() - t0).toFixed(1)} ms`;
  if (!useBars(stream)) {
    if (total > 1) stream.write(`${label} (${total})...\n`);
    return {
      tick: () => undefined,
      done: (detail) => { stream.write(`${label}: ${detail ?? 'done'} (${elapsed()})\n`); },
    };
  }
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${label} [{bar}] {value}/{total}`,
    hideCursor: true,
    clearOnComplete: true,
  }, cliProgress.Presets.shades_classic);
  bar.start(Math.max(total, 1), 0);
  return {
    tick: (n = 1) => bar.increment(n),
    done: (detail) => {
      bar.update(Math.max(total, 1));
      bar.stop();
      stream.write(`${label}: ${detail ?? 'done'} (${elapsed()})\n`);
    },
  };
}

/** Runs `f` as a reported step. */
export async function step<T>(label: string, f: () => T | Promise<T>, detail?: (r: T) => string): Promise<T> {
  const task = startTask(label);
  const r = await f();
  task.done(detail?.(r));
  return r;
}
