/**
 * `kiln serve MODEL_DIR [--port 8000] [--host 127.0.0.1] [--backend cpu|webgpu|auto]
 *  [--max-batch N] [--batch-timeout-ms T] [--max-body-bytes B] [--request-timeout-ms T] [--client-timeout-ms T] [--no-watch]`:
 * serves a model repository over HTTP (Open Inference Protocol v2 REST with the binary
 * tensor extension, TensorFlow Serving's REST predict, Prometheus /metrics). Prints
 * `kiln serve: listening on http://HOST:PORT` on stdout once every model has loaded
 * (with --port 0, the port bound); logs one JSON line per request on stderr; stops
 * gracefully on SIGINT/SIGTERM (in-flight requests finish, exit code 0).
 */
import { Command, Option } from 'commander';
import { InputError } from '../../graph/errors.js';
import type { BackendChoice } from '../../session/inference-session.js';
import { Server } from '../../serve/server.js';

interface ServeOpts {
  port: string;
  host: string;
  backend: BackendChoice;
  maxBatch: string;
  batchTimeoutMs: string;
  maxBodyBytes: string;
  requestTimeoutMs: string;
  clientTimeoutMs: string;
  watch: boolean;
}

/** A non-negative integer option value. */
function int(v: string, flag: string, min = 0): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < min) throw new InputError(`${flag} must be an integer ≥ ${min}, got '${v}'`, flag);
  return n;
}

/** Registers `kiln serve`. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a model repository over HTTP (KServe v2 / Open Inference Protocol, TF Serving predict, /metrics)')
    .argument('<model_dir>', 'model repository: one folder per model, versions as numbered sub-folders holding model.onnx')
    .option('--port <n>', 'port (0: any free port)', '8000')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .addOption(new Option('--backend <name>', 'backend of every model').choices(['cpu', 'webgpu', 'auto']).default('auto'))
    .option('--max-batch <n>', 'most rows per batched run for models with a leading dynamic dim (1: no batching)', '8')
    .option('--batch-timeout-ms <t>', 'how long a batch waits for more requests', '5')
    .option('--max-body-bytes <n>', 'largest request body (413 beyond)', String(64 * 1024 * 1024))
    .option('--request-timeout-ms <t>', 'time limit of a request (504 beyond)', '30000')
    .option('--client-timeout-ms <t>', 'time a client has to send its headers, then its body (408 beyond)', '10000')
    .option('--no-watch', 'do not reload models when their files change')
    .addHelpText('after', '\nExamples:\n  kiln serve models/ --port 8000 --backend cpu\n  curl localhost:8000/v2/models/mymodel\n')
    .action(async (modelDir: string, o: ServeOpts) => {
      const server = await Server.start({
        modelDir,
        port: int(o.port, '--port'),
        host: o.host,
        backend: o.backend,
        maxBatch: int(o.maxBatch, '--max-batch', 1),
        batchTimeoutMs: int(o.batchTimeoutMs, '--batch-timeout-ms'),
        maxBodyBytes: int(o.maxBodyBytes, '--max-body-bytes', 1),
        requestTimeoutMs: int(o.requestTimeoutMs, '--request-timeout-ms', 1),
        clientTimeoutMs: int(o.clientTimeoutMs, '--client-timeout-ms', 1),
        watch: o.watch,
      });
      process.stdout.write(`kiln serve: listening on ${server.url} (models: ${server.repository.names.join(', ') || 'none'})\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      process.exit(0);
    });
}
