/**
 * The dependency rules of docs/ARCHITECTURE.md, enforced. Every .ts file under src/,
 * onnx/ and shaders/ is parsed with the TypeScript compiler (no type check, no
 * device): its static imports, `export ... from`, `import type`, dynamic `import(...)`
 * and `typeof import(...)` specifiers, the string constants it passes to import(),
 * and any constant that spells a relative module path (e.g. a lazily loaded backend)
 * are resolved to repo-relative files and checked against the one-way arrows.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from './onnx-util.js';

/** One dependency: the importing file and what it imports (both repo-relative for files in the repo). */
interface Edge {
  readonly from: string;
  /** Repo-relative path of the imported file, or the bare specifier of a package. */
  readonly to: string;
  readonly local: boolean;
}

const ROOTS = ['src', 'onnx', 'shaders'];

/** Every .ts file under a repo-relative directory, repo-relative with forward slashes. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(REPO_ROOT, dir)).sort()) {
    const rel = `${dir}/${name}`;
    if (statSync(path.join(REPO_ROOT, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** True for a specifier that names a file relative to the importer. */
function isRelative(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../');
}

/** Looks like a module path constant: relative, ending in .js or .ts. */
function isModulePath(text: string): boolean {
  return isRelative(text) && /\.(js|ts)$/.test(text);
}

/** All module specifiers of one source file (see the file comment for what counts). */
function specifiersOf(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const specs: string[] = [];
  const constants = new Map<string, string[]>();
  const dynamicNames: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier
      && ts.isStringLiteral(node.moduleSpecifier)) {
      specs.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)
      && ts.isStringLiteral(node.moduleReference.expression)) {
      specs.push(node.moduleReference.expression.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)
      && ts.isStringLiteral(node.argument.literal)) {
      specs.push(node.argument.literal.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) specs.push(arg.text);
      else if (arg && ts.isIdentifier(arg)) dynamicNames.push(arg.text);
    } else if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer
      && ts.isStringLiteralLike(node.initializer)) {
      const value = node.initializer.text;
      constants.set(node.name.text, [...(constants.get(node.name.text) ?? []), value]);
      if (isModulePath(value)) specs.push(value);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  for (const name of dynamicNames) {
    for (const value of constants.get(name) ?? []) if (!isModulePath(value)) specs.push(value);
  }
  return specs;
}

/** Resolves a specifier of `from` to a repo-relative .ts path (relative ones) or leaves a package name. */
function resolve(from: string, spec: string): Edge {
  if (!isRelative(spec)) return { from, to: spec, local: false };
  let rel = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  if (rel.endsWith('.js')) rel = `${rel.slice(0, -3)}.ts`;
  else if (!rel.endsWith('.ts')) {
    const asDir = path.join(REPO_ROOT, rel);
    rel = statSync(asDir, { throwIfNoEntry: false })?.isDirectory() ? `${rel}/index.ts` : `${rel}.ts`;
  }
  return { from, to: rel, local: true };
}

/** Every dependency edge of every .ts file under src/, onnx/ and shaders/. */
function collectEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of ROOTS.flatMap(tsFiles)) {
    const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
    for (const spec of specifiersOf(file, text)) edges.push(resolve(file, spec));
  }
  return edges;
}

/** True when a repo-relative path lies in the directory `dir` (e.g. 'src/graph'). */
function inside(file: string, dir: string): boolean {
  return file.startsWith(`${dir}/`);
}

/** Files of `layer` that import a local file in any of `forbidden`, as 'file → import' lines. */
function forbiddenEdges(edges: readonly Edge[], layer: string, forbidden: readonly string[]): string[] {
  return edges
    .filter((e) => inside(e.from, layer) && e.local && forbidden.some((d) => inside(e.to, d)))
    .map((e) => `${e.from} → ${e.to}`);
}

/** Files of `layer` that import a local file outside all of `allowed`, as 'file → import' lines. */
function edgesOutside(edges: readonly Edge[], layer: string, allowed: readonly string[]): string[] {
  return edges
    .filter((e) => inside(e.from, layer) && e.local && !allowed.some((d) => inside(e.to, d)))
    .map((e) => `${e.from} → ${e.to}`);
}

/** The failure message: the rule and every offending edge, one a line. */
function report(rule: string, offending: readonly string[]): string {
  return `${rule}: ${offending.length} offending import(s)\n  ${offending.join('\n  ')}\n`;
}

/** The layers above the backends and passes: the session API, the test harness, the CLI, the viewer and the HTTP server. */
const TOP = ['src/session', 'src/harness', 'src/cli', 'src/viz', 'src/serve'];

/**
 * WGSL that must live in the backend or shaders/, never in the graph layer: entry
 * points and bindings, and also helper functions (`fn name(...) ->`), bit casts and
 * typed vectors, the spellings scalar functions need.
 */
const WGSL_TEXT = new RegExp([
  '@compute', '@workgroup_size', '@group\\(', '@binding\\(', 'var<storage', 'var<workgroup', 'fn main\\(',
  'array<f32>', '\\bfn [A-Za-z_]\\w*\\([^)]*\\) *->', 'bitcast<', 'vec[234]<(f32|f16|i32|u32|bool)>',
].join('|'));

/** Lines of the .ts files under `dir` that hold WGSL text, as 'file:line: text'. */
function wgslLines(dir: string): string[] {
  const out: string[] = [];
  for (const file of tsFiles(dir)) {
    readFileSync(path.join(REPO_ROOT, file), 'utf8').split('\n').forEach((line, i) => {
      if (WGSL_TEXT.test(line)) out.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return out;
}

describe('architecture: one-way dependencies (docs/ARCHITECTURE.md)', () => {
  const edges = collectEdges();
  const local = edges.filter((e) => e.local);

  it('the parser sees the imports of the whole tree (the rules below cannot pass vacuously)', () => {
    expect(local.length, 'local imports found').to.be.greaterThan(200);
    for (const dir of ['src/graph', 'src/passes', 'src/backends', 'onnx']) {
      expect(local.some((e) => inside(e.from, dir)), `imports from ${dir}`).to.equal(true);
    }
    // shaders/ may import nothing at all; the backend's imports of it show its files are read.
    expect(local.some((e) => inside(e.to, 'shaders') && inside(e.from, 'src/backends')), 'imports of shaders/ by the backend').to.equal(true);
    // The lazily loaded WebGPU backend is a dependency too.
    expect(local.some((e) => e.to === 'src/backends/webgpu/index.ts' && !inside(e.from, 'src/backends')),
      'the lazy WebGPU import of the backend picker').to.equal(true);
  });

  it('every local import names a file that exists', () => {
    const missing = local.filter((e) => !statSync(path.join(REPO_ROOT, e.to), { throwIfNoEntry: false })?.isFile())
      .map((e) => `${e.from} → ${e.to}`);
    expect(missing, report('unresolved local imports', missing)).to.deep.equal([]);
  });

  it('src/graph imports nothing from the passes, backends, ONNX, shaders or the layers above', () => {
    const bad = forbiddenEdges(edges, 'src/graph', ['src/passes', 'src/backends', ...TOP, 'onnx', 'shaders']);
    expect(bad, report('src/graph must depend on no other part', bad)).to.deep.equal([]);
  });

  it('onnx/ imports only from onnx/ and src/graph (plus npm packages)', () => {
    const bad = edgesOutside(edges, 'onnx', ['onnx', 'src/graph']);
    expect(bad, report('onnx/ is import and export only, on src/graph', bad)).to.deep.equal([]);
  });

  it('shaders/ imports nothing from the backends, passes, ONNX or the layers above (src/graph types allowed)', () => {
    const bad = forbiddenEdges(edges, 'shaders', ['src/backends', 'src/passes', ...TOP, 'onnx']);
    expect(bad, report('shaders/ holds WGSL sources and imports no backend code', bad)).to.deep.equal([]);
  });

  it('src/passes imports nothing from the backends, ONNX or the layers above', () => {
    const bad = forbiddenEdges(edges, 'src/passes', ['src/backends', ...TOP, 'onnx']);
    expect(bad, report('passes never import a backend', bad)).to.deep.equal([]);
  });

  it('src/backends imports nothing from ONNX or the layers above', () => {
    const bad = forbiddenEdges(edges, 'src/backends', [...TOP, 'onnx']);
    expect(bad, report('backends sit below the session, harness, CLI and viewer', bad)).to.deep.equal([]);
  });

  it('src/serve (the HTTP server) builds on the session API and imports nothing from the CLI, harness or viewer', () => {
    const bad = forbiddenEdges(edges, 'src/serve', ['src/cli', 'src/harness', 'src/viz']);
    expect(bad, report('src/serve sits beside the CLI, on src/session', bad)).to.deep.equal([]);
    expect(local.some((e) => inside(e.from, 'src/serve') && inside(e.to, 'src/session')), 'src/serve uses the session API').to.equal(true);
  });

  it('src/graph carries no WGSL text (the WGSL spellings live in the WebGPU backend and shaders/)', () => {
    // The pattern does recognise WGSL where it belongs.
    expect(wgslLines('shaders').length + wgslLines('src/backends').length, 'WGSL lines in shaders/ and src/backends')
      .to.be.greaterThan(20);
    const bad = wgslLines('src/graph');
    expect(bad, report('WGSL in src/graph', bad)).to.deep.equal([]);
  });
});
