/**
 * The published package, as a user gets it: `npm pack` of a copy of this checkout
 * (its `prepack` builds dist/), the tarball installed into an empty project, then in
 * that project:
 * - `import { InferenceSession, … } from 'kiln'` in Node runs a small model on the CPU
 *   and on WebGPU;
 * - esbuild bundles the same code for the browser and Vite builds it with no
 *   configuration; both pages compute the same result in headless Chromium;
 * - `npx kiln --help` prints the commands, and `kiln bench` runs from the build.
 * The install takes the dependencies from npm's cache where it has them (`--prefer-offline`).
 * Without Chromium or a WebGPU adapter those parts skip on a user's machine and fail in CI.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../../scripts/build-browser.js';
import { CHROMIUM, launchChromium, serveDir } from './server.js';

const CI = process.env.CI === 'true';
/** The model: y = Relu(2·x) on x = [-1, 2, -3, 4, -5, 6]. */
const EXPECTED = [0, 4, 0, 8, 0, 12];
const PROGRAM = `import { GraphBuilder, InferenceSession, Tensor, toOnnx } from 'kiln';

export async function compute(ep) {
  const b = new GraphBuilder('pack');
  const x = b.input('x', 'float32', [2, 3]);
  b.output(b.Relu(b.Mul([x, b.constant(2)])), 'y');
  const session = await InferenceSession.create(toOnnx(b.build()), { executionProviders: [ep] });
  const out = await session.run({ x: new Tensor('float32', Float32Array.from([-1, 2, -3, 4, -5, 6]), [2, 3]) });
  await session.release();
  return Array.from(out.y.data);
}
`;

/** Runs a command; on failure the error carries the end of its output. */
function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error' } });
  } catch (e) {
    const { stdout = '', stderr = '' } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${`${stdout}\n${stderr}`.trim().split('\n').slice(-15).join('\n')}`);
  }
}

describe('package: npm pack, installed into an empty project', function () {
  this.timeout(600_000);
  let tmp = '';
  let app = '';

  before(function () {
    tmp = mkdtempSync(join(tmpdir(), 'kiln-pack-'));
    // A copy of the checkout (tracked and untracked files git does not ignore), so the build stays out of this tree.
    const src = join(tmp, 'kiln');
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT }).toString().split('\0').filter(Boolean);
    for (const f of files) {
      if (!existsSync(join(ROOT, f))) continue;
      mkdirSync(dirname(join(src, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(src, f));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');
    run('npm', ['pack', '--pack-destination', tmp], src);
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack wrote no tarball into ${tmp}`);
    app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', join(tmp, tarball), '--no-audit', '--no-fund', '--prefer-offline'], app);
    writeFileSync(join(app, 'program.js'), PROGRAM);
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('holds the build, the command and the sources, not the tests', () => {
    const pkg = join(app, 'node_modules/kiln');
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/ort.js', 'dist/bench/worker.js', 'bin/kiln.js', 'src/index.ts', 'README.md']) {
      expect(existsSync(join(pkg, f)), f).to.equal(true);
    }
    expect(existsSync(join(pkg, 'dist/test')), 'dist/test').to.equal(false);
    expect(existsSync(join(pkg, 'test')), 'test').to.equal(false);
  });

  it("Node: import { InferenceSession } from 'kiln' runs on the CPU and on WebGPU", function () {
    writeFileSync(join(app, 'node.js'), "import { compute } from './program.js';\nconst eps = process.argv.slice(2);\nconst out = {};\nfor (const ep of eps) out[ep] = await compute(ep);\nconsole.log(JSON.stringify(out));\nprocess.exit(0);\n");
    const cpu = JSON.parse(run(process.execPath, ['node.js', 'cpu'], app)) as Record<string, number[]>;
    expect(cpu.cpu).to.deep.equal(EXPECTED);
    let gpu: Record<string, number[]>;
    try {
      gpu = JSON.parse(run(process.execPath, ['node.js', 'webgpu'], app)) as Record<string, number[]>;
    } catch (e) {
      const why = (e as { stderr?: string }).stderr ?? String(e);
      if (!CI && /GpuUnavailable|adapter/i.test(why)) {
        console.log(`      (WebGPU part skipped: ${why.split('\n')[0]})`);
        return;
      }
      throw e;
    }
    expect(gpu.webgpu).to.deep.equal(EXPECTED);
  });

  it('npx kiln --help runs the installed command', () => {
    const help = run('npx', ['--no-install', 'kiln', '--help'], app);
    expect(help).to.match(/Usage: kiln/);
    for (const cmd of ['check', 'optimize', 'inspect', 'bench']) expect(help).to.include(cmd);
  });

  it('kiln bench runs from the build (its worker is the compiled dist/bench/worker.js)', () => {
    const out = JSON.parse(run('npx', ['--no-install', 'kiln', 'bench', 'mlp', '--backend', 'cpu', '--runs', '2', '--warmup', '0', '--vs', ',', '--json'], app)) as { kiln: { ok?: boolean; warm?: { median?: number } } & Record<string, unknown> };
    expect(out.kiln, JSON.stringify(out).slice(0, 400)).to.not.have.property('error');
    expect(JSON.stringify(out.kiln)).to.match(/median/);
  });

  it('an esbuild bundle and a Vite build (no configuration) of the same program compute it in Chromium', async function () {
    if (!existsSync(CHROMIUM)) {
      if (CI) throw new Error(`Chromium missing at ${CHROMIUM} (CI=true)`);
      console.log(`      (skipped: no Chromium at ${CHROMIUM})`);
      this.skip();
    }
    const page = "import { compute } from './program.js';\ncompute('cpu').then((r) => { window.result = r; }, (e) => { window.result = String(e); });\n";
    writeFileSync(join(app, 'main.js'), page);
    writeFileSync(join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>\n');
    // esbuild (the project's devDependency), resolving 'kiln' from the app's node_modules.
    const esbuild = await import('esbuild');
    const outEs = join(app, 'out-esbuild');
    mkdirSync(outEs);
    await esbuild.build({ entryPoints: [join(app, 'main.js')], bundle: true, format: 'esm', platform: 'browser', outfile: join(outEs, 'main.js'), absWorkingDir: app, logLevel: 'silent' });
    writeFileSync(join(outEs, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>\n');
    // Vite with no config file.
    run(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', app, '--outDir', join(app, 'out-vite'), '--logLevel', 'warn'], app);
    const browser = await launchChromium();
    try {
      for (const dir of [outEs, join(app, 'out-vite')]) {
        const server = await serveDir(dir);
        try {
          const p = await browser.newPage();
          await p.goto(server.url);
          await p.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 });
          const result = await p.evaluate(() => (window as unknown as { result: unknown }).result);
          expect(result, dir).to.deep.equal(EXPECTED);
          await p.close();
        } finally {
          await server.close();
        }
      }
    } finally {
      await browser.close();
    }
  });
});
