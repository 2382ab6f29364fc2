/**
 * End-to-end: the browser build of Kiln in real (headless) Chromium.
 *
 * Builds the examples with esbuild (failing on any Node-only import), serves them on
 * 127.0.0.1, and checks in the page:
 * - the builder example on WebGPU against Kiln's CPU backend in Node;
 * - the README's quick start (examples/quickstart.js) on an ONNX export of that graph,
 *   against onnxruntime-node;
 * - the MobileNetV2 classify page (when ../shared/models has it) on WebGPU: the canvas
 *   pixels are the procedural picture, and its logits equal onnxruntime-node's on them;
 * - the same page (esbuild build) in a Chromium with WebGPU disabled, on `?backend=auto`:
 *   it must fall back to the wasm backend and give the same logits;
 * - the same page built by Vite with no configuration, on the CPU backend.
 * Screenshots go to test-artifacts/. Without Chromium the suite is skipped, except
 * with CI=true, where it fails.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import * as ort from 'onnxruntime-node';
import { buildBrowser, ROOT } from '../../scripts/build-browser.js';
import { compileCpu } from '../../src/backends/cpu/index.js';
import { toOnnx } from '../../src/index.js';
import { buildGraph, exampleInput } from '../../examples/builder/graph.js';
import type { BuilderResult } from '../../examples/builder/main.js';
import type { PageResult } from '../../examples/classify/main.js';
import { drawPicture, SIZE } from '../../examples/classify/picture.js';
import { toNchw } from '../../examples/classify/preprocess.js';
import { CHROMIUM, CHROMIUM_ARGS, launchChromium, serveDir, type StaticServer } from './server.js';

const here = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = resolve(here, '../../test-artifacts');
const MODEL = resolve(ROOT, process.env.KILN_MODELS ?? '../shared/models', 'mobilenet_v2/model.onnx');
const CLASSIFY = join(ROOT, 'examples/classify');
/**
 * Backends the classify page is asked for: the esbuild build on WebGPU (SwiftShader:
 * ~100 s of pipeline compilation for MobileNetV2), the Vite build on the CPU backend.
 * KILN_E2E_CLASSIFY_BACKEND (cpu, webgpu or auto) sets both.
 */
const CLASSIFY_BACKEND = { esbuild: process.env.KILN_E2E_CLASSIFY_BACKEND ?? 'webgpu', vite: process.env.KILN_E2E_CLASSIFY_BACKEND ?? 'cpu' };
const SEED = 3;
const ATOL = 1e-3;
const RTOL = 1e-3;

/** Asserts |a − b| ≤ atol + rtol·|b| elementwise, naming the first bad index. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    worst = Math.max(worst, d);
    if (!(d <= ATOL + RTOL * Math.abs(expected[i]!))) expect.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (|diff| ${d})`);
  }
  console.log(`      ${what}: max |diff| ${worst.toExponential(2)} over ${expected.length} values`);
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

/** Opens `url`, waits until `window[key].state` is done or error, returns that object. */
async function openAndWait<T extends { state: string; error?: string }>(browser: Browser, url: string, key: string, timeout: number): Promise<{ page: Page; result: T; logs: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction((k) => ['done', 'error'].includes((window as unknown as Record<string, { state: string } | undefined>)[k]?.state ?? ''), key, { timeout });
  const result = (await page.evaluate((k) => (window as unknown as Record<string, unknown>)[k], key)) as T;
  expect(result.error, `page error; console:\n${logs.join('\n')}`).to.equal(undefined);
  return { page, result, logs };
}

describe('browser e2e (Chromium)', function () {
  this.timeout(600_000);
  let browser: Browser | undefined;
  let server: StaticServer | undefined;
  let mobilenetRef: Float32Array | undefined;
  let bundled: Record<string, string[]> = {};

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI === 'true') throw new Error(`Chromium not found at ${CHROMIUM} (CI=true: the browser e2e must run; install chromium or set KILN_CHROMIUM)`);
      console.log(`      skipped: no Chromium at ${CHROMIUM}`);
      this.skip();
    }
    mkdirSync(join(CLASSIFY, 'public'), { recursive: true });
    // Written (not copied) so that a read-only source does not leave a read-only copy behind.
    if (existsSync(MODEL)) writeFileSync(join(CLASSIFY, 'public/model.onnx'), readFileSync(MODEL));
    bundled = await buildBrowser();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('builds browser bundles without Node-only modules', () => {
    // buildBrowser's no-node plugin already fails on any Node-only import; check what went in.
    expect(Object.keys(bundled)).to.deep.equal(['classify', 'builder', 'train-browser', 'quickstart']);
    for (const [name, files] of Object.entries(bundled)) {
      const bad = files.filter((f) => /node_modules\/webgpu\/|passes\/dump\.ts|cli\//.test(f));
      expect(bad, `${name} bundle`).to.deep.equal([]);
      expect(files.some((f) => f.endsWith('src/session/inference-session.ts')), `${name} bundles the session`).to.equal(true);
    }
  });

  it('builder page: WebGPU in Chromium equals the CPU backend, and shows WGSL', async () => {
    server = await serveDir(join(ROOT, 'examples/builder/dist'));
    const { page, result } = await openAndWait<BuilderResult>(browser!, server.url, 'kilnBuilder', 120_000);
    console.log(`      builder page backend: ${result.backend}, ${result.shaders!.length} kernels`);
    expect(result.backend).to.equal('webgpu');
    expect(result.shaders!.length).to.be.greaterThan(0);
    for (const s of result.shaders!) expect(s).to.match(/@compute/);
    const ref = compileCpu(buildGraph()).run({ x: exampleInput() }).probs!;
    expect(result.shape).to.deep.equal([...ref.shape]);
    expectClose(result.output!, ref.data, 'builder probs');
    expect(await page.locator('#shaders pre').count()).to.equal(result.shaders!.length);
    await screenshot(page, 'e2e-builder.png');
    await server.close();
    server = undefined;
  });

  it('README quick start (examples/quickstart.js) runs in the page and matches onnxruntime-node', async () => {
    // Served on its own: the quick start bundle, and the builder graph exported to ONNX as ./model.onnx.
    const dir = join(ARTIFACTS, 'quickstart');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(CLASSIFY, 'dist/quickstart.js'), join(dir, 'quickstart.js'));
    copyFileSync(join(CLASSIFY, 'dist/quickstart.html'), join(dir, 'index.html'));
    const bytes = toOnnx(buildGraph());
    writeFileSync(join(dir, 'model.onnx'), bytes);
    server = await serveDir(dir);
    const page = await browser!.newPage();
    const line = new Promise<string>((ok, fail) => {
      page.on('console', (m) => { if (m.text().startsWith('kiln ')) ok(m.text()); });
      page.on('pageerror', (e) => fail(e));
    });
    await page.goto(server.url);
    const text = await line;
    console.log(`      quick start printed: ${text}`);
    const m = /^kiln (webgpu|cpu): argmax (\d+), max (-?[\d.]+)$/.exec(text);
    expect(m, text).to.not.equal(null);
    // The same input as the snippet: dims [1, 8] (batch → 1), sin(i / 7).
    const x = Float32Array.from({ length: 8 }, (_, i) => Math.sin(i / 7));
    const s = await ort.InferenceSession.create(bytes);
    const y = (await s.run({ x: new ort.Tensor('float32', x, [1, 8]) })).probs!.data as Float32Array;
    const max = Math.max(...y);
    expect(y[Number(m![2])]).to.be.closeTo(max, ATOL);
    expect(Number(m![3])).to.be.closeTo(max, ATOL + 5e-5);
    await page.close();
    await server.close();
    server = undefined;
  });

  /** Loads a build of the classify page and checks it against onnxruntime-node on its pixels. */
  async function checkClassify(dir: string, shot: string, backend: string, on: Browser = browser!): Promise<PageResult> {
    server = await serveDir(dir);
    const url = `${server.url}index.html?backend=${backend}&seed=${SEED}`;
    const { page, result } = await openAndWait<PageResult>(on, url, 'kilnResult', 540_000);
    console.log(`      classify page (${shot}) backend: ${result.backend}${result.notice ? ` — notice: ${result.notice}` : ''}; load+compile ${result.createMs!.toFixed(0)} ms, first run ${result.firstRunMs!.toFixed(0)} ms, run ${result.runMs!.toFixed(0)} ms; top5 ${result.top5!.map((t) => t.index).join(',')}`);
    if (backend !== 'auto') expect(result.backend, 'the backend asked for (no fallback)').to.equal(backend);
    expect(result.pixels, 'canvas pixels = the procedural picture').to.deep.equal(Array.from(drawPicture(SEED)));
    if (!mobilenetRef) {
      const s = await ort.InferenceSession.create(MODEL);
      const input = new ort.Tensor('float32', toNchw(result.pixels!, SIZE), [1, 3, SIZE, SIZE]);
      mobilenetRef = (await s.run({ [s.inputNames[0]!]: input }))[s.outputNames[0]!]!.data as Float32Array;
    }
    expectClose(result.logits!, mobilenetRef, `MobileNetV2 logits (${result.backend})`);
    const shown = await page.locator('#top5 tbody tr td:nth-child(2)').allTextContents();
    expect(shown).to.deep.equal(result.top5!.map((t) => `class ${t.index}`));
    await page.waitForFunction(() => (window as unknown as { kilnResult: PageResult }).kilnResult.viewer !== undefined, null, { timeout: 60_000 });
    const viewer = await page.evaluate(() => (window as unknown as { kilnResult: PageResult }).kilnResult.viewer);
    expect(viewer).to.equal('ready');
    expect(await page.frameLocator('#viewer').locator('svg').count()).to.be.greaterThan(0);
    await screenshot(page, shot);
    await page.close();
    await server.close();
    server = undefined;
    return result;
  }

  /** Skips without the shared model, except under CI=true, where that fails. */
  function needModel(ctx: Mocha.Context): void {
    if (existsSync(MODEL)) return;
    if (process.env.CI === 'true') throw new Error(`shared model missing: ${MODEL}`);
    console.log(`      (skipping: no ${MODEL})`);
    ctx.skip();
  }

  it(`classify page (esbuild build, ${CLASSIFY_BACKEND.esbuild} backend) equals onnxruntime-node on the canvas pixels`, async function () {
    needModel(this);
    await checkClassify(join(CLASSIFY, 'dist'), 'e2e-classify-esbuild.png', CLASSIFY_BACKEND.esbuild);
  });

  it('classify page in Chromium without WebGPU: auto falls back to the wasm backend and equals onnxruntime-node', async function () {
    needModel(this);
    // The same flags without --enable-unsafe-webgpu, and WebGPU switched off: no adapter.
    const { chromium } = await import('playwright-core');
    const args = [...CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'), '--disable-features=WebGPU'];
    const noGpu = await chromium.launch({ executablePath: CHROMIUM, args });
    try {
      const probe = await noGpu.newPage();
      const adapter = await probe.evaluate(async () => {
        const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
        return gpu ? ((await gpu.requestAdapter()) === null ? 'null adapter' : 'adapter') : 'no navigator.gpu';
      });
      await probe.close();
      console.log(`      WebGPU-disabled Chromium: ${adapter}`);
      expect(adapter, 'WebGPU must be unavailable in this browser').to.not.equal('adapter');
      const result = await checkClassify(join(CLASSIFY, 'dist'), 'e2e-classify-wasm.png', 'auto', noGpu);
      expect(result.backend, 'auto without WebGPU runs on the wasm backend').to.equal('wasm');
      expect(result.notice ?? '', 'the page says why it left WebGPU').to.match(/wasm backend/);
      const top1 = mobilenetRef!.indexOf(Math.max(...mobilenetRef!));
      expect(result.top5![0]!.index, "top-1 class = onnxruntime-node's").to.equal(top1);
    } finally {
      await noGpu.close();
    }
  });

  it(`classify page built by Vite (no config, ${CLASSIFY_BACKEND.vite} backend) passes the same check`, async function () {
    needModel(this);
    execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', CLASSIFY, '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
    await checkClassify(join(CLASSIFY, 'dist'), 'e2e-classify-vite.png', CLASSIFY_BACKEND.vite);
  });
});
