/**
 * The fuzzer's worker thread: runs each case it is sent with {@link runCase}
 * (fuzz-check.ts) and posts the outcome back. Started by fuzz-host.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runCase, type WorkerCase, type WorkerResult } from './fuzz-check.js';

const { baseDir } = workerData as { baseDir: string };
parentPort!.on('message', (c: WorkerCase) => {
  const t0 = performance.now();
  const res = runCase(c, baseDir, (stage) => parentPort!.postMessage({ id: c.id, stage }));
  parentPort!.postMessage({ id: c.id, ...res, ms: performance.now() - t0 } satisfies WorkerResult);
});
parentPort!.postMessage({ ready: true });
