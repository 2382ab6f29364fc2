/**
 * Browser-safety of the package entry: esbuild bundles src/index.ts for the browser
 * with no configuration, the bundle has no Node-only module, and the no-node guard
 * of scripts/build-browser.ts really fails on one (naming the importer).
 */
import { expect } from 'chai';
import * as esbuild from 'esbuild';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle, ROOT } from '../../scripts/build-browser.js';

describe('browser bundle of the package', function () {
  this.timeout(60_000);

  it('esbuild bundles src/index.ts for the browser without configuration or Node modules', async () => {
    const res = await esbuild.build({
      entryPoints: [join(ROOT, 'src/index.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(res.metafile.inputs);
    expect(inputs.filter((f) => /node_modules\/webgpu\/|^node:|passes\/dump\.ts|src\/cli\//.test(f))).to.deep.equal([]);
    expect(inputs).to.include('onnx/import.ts');
    const js = res.outputFiles[0]!.text;
    expect(js).to.not.match(/from\s*["'](node:)?(fs|path)["']/);
    expect(js).to.match(/export\s*\{[^}]*InferenceSession/);
  });

  it('the no-node guard fails the build on a Node-only import and names the importer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-guard-'));
    const entry = join(dir, 'leaky.ts');
    writeFileSync(entry, "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n");
    let message = '';
    try {
      await bundle(entry, join(dir, 'out.js'), 'silent');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.match(/Node-only module 'node:fs' imported by .*leaky\.ts/);
  });
});
