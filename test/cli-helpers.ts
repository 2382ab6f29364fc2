/** Spawning the `kiln` command for the CLI tests. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** What one `kiln` invocation produced. */
export interface KilnResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/kiln.js ...args` from source (KILN_FROM_SOURCE=1), CI unset unless given. */
export function kiln(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<KilnResult> {
  return new Promise((done, fail) => {
    const e: Record<string, string | undefined> = { ...process.env, KILN_FROM_SOURCE: '1', CI: undefined, ...env };
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    const child = spawn(process.execPath, [resolve('bin/kiln.js'), ...args], { env: e as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** A fresh temporary directory. */
export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `kiln-${tag}-`));
}

/** ONNX backend test data root. */
export const TESTDATA = process.env.KILN_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';

/** Builds a little-endian float32 .npy file (format 1.0) by hand. */
export function npyFloat32(shape: readonly number[], values: readonly number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head[0] = 0x93;
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(new Float32Array(values).buffer)]);
}
