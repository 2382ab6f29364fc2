import { expect } from 'chai';
import { Graph, GraphBuilder, Tensor, type Node } from '../src/graph/index.js';
import {
  optimize, P, PassError, rewrite, RewriteError, rule, RuleSet, runPipeline, structuralForm, type Pass,
} from '../src/passes/index.js';

function addRelu(): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2]);
  b.output(b.Relu(b.Add([x, b.Add([b.constant([1, 2]), b.constant([3, 4])])])), 'y');
  return b.build();
}

describe('passes: pass manager', () => {
  it('O0 returns the graph untouched; O1 folds; the report times every pass', () => {
    const g = addRelu();
    expect(optimize(g, { level: 0 }).graph).to.equal(g);
    const { graph, report } = optimize(g, { level: 1 });
    expect(graph.nodes.map((n) => n.op)).to.deep.equal(['Add', 'Relu']);
    expect(report.nodesBefore).to.equal(4);
    expect(report.nodesAfter).to.equal(2);
    const names = report.passes.map((p) => p.name);
    expect(names).to.include.members(['fold-constants', 'simplify', 'cse', 'dce', 'cleanup']);
    expect(names).to.not.include('fuse-elementwise');
    expect(report.passes.every((p) => p.ms >= 0)).to.equal(true);
  });

  it('calls dump before and after each pass and runs custom instruments', () => {
    const seen: string[] = [];
    const inst: string[] = [];
    optimize(addRelu(), {
      level: 2,
      dump: (stage, name, graph) => seen.push(`${stage}:${name}:${graph.nodes.length}`),
      instruments: [{ name: 'count', after: (p) => inst.push(p.name) }],
    });
    expect(seen[0]).to.equal('before:fuse-qdq:4'); // QDQ recognition runs before folding (fuse-qdq.ts)
    expect(seen).to.include('after:fold-constants:3');
    expect(seen.filter((s) => s.startsWith('before')).length).to.equal(seen.filter((s) => s.startsWith('after')).length);
    expect(inst).to.include('fuse-elementwise');
  });

  it('in debug mode names the pass that broke the graph', () => {
    const broken: Pass = {
      name: 'break-it',
      run: (g) => g.with({ nodes: g.nodes.map((n: Node) => ({ ...n, inputs: n.inputs.map(() => 'nowhere') })) }),
    };
    expect(() => runPipeline(addRelu(), [broken], { level: 1, debug: true })).to.throw(PassError, /after pass 'break-it'.*reads 'nowhere'/);
    expect(() => runPipeline(addRelu(), [broken], { level: 1 })).to.not.throw();
  });

  it('skips disabled passes', () => {
    const { graph } = optimize(addRelu(), { level: 1, disabled: ['cleanup'] });
    expect(graph.nodes).to.have.length(4);
  });
});

describe('passes: pattern rewriter', () => {
  it('matches commutative operands in either order and checks repeated captures', () => {
    const double = rule('x+x→2x', P.op('Add', [P.any('x'), P.any('x')], { commutative: true }), (m, rw) => rw.node('Mul', [m.values['x']!, rw.constant(Tensor.scalar('float32', 2))]));
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    const y = b.input('y', 'float32', [2]);
    b.output(b.Add([b.Add([x, x]), y]));
    const g = rewrite(b.build(), [double]);
    const e = new GraphBuilder();
    const ex = e.input('x', 'float32', [2]);
    const ey = e.input('y', 'float32', [2]);
    e.output(e.Add([e.Mul([ex, e.constant(2)]), ey]));
    expect(structuralForm(g)).to.equal(structuralForm(e.build()));
  });

  it('does not match through an interior node that has other readers', () => {
    const fold = rule('relu-relu', P.op('Relu', [P.op('Relu', [P.any('x')])]), (m, rw) => rw.node('Relu', [m.values['x']!]));
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    const r = b.Relu(x);
    b.output(b.Relu(r));
    b.output(b.Add([r, x]));
    const g = b.build();
    expect(rewrite(g, [fold])).to.equal(g);
  });

  it('indexes rules by root op and composes rule sets', () => {
    const a = new RuleSet([rule('a', P.op('Relu', [P.any('x')]), () => undefined)]);
    const both = a.plus([rule('b', P.op(['Add', 'Mul']), () => undefined)]);
    expect(both.candidates('Relu').map((r) => r.name)).to.deep.equal(['a']);
    expect(both.candidates('Mul').map((r) => r.name)).to.deep.equal(['b']);
    expect(both.candidates('Softmax')).to.deep.equal([]);
  });

  it('raises a clear error when rules do not converge', () => {
    const spin = rule('spin', P.op('Relu', [P.any('x')]), (m, rw) => rw.node('Relu', [m.values['x']!]));
    const b = new GraphBuilder();
    b.output(b.Relu(b.input('x', 'float32', [2])));
    expect(() => rewrite(b.build(), [spin], { maxIterations: 5 })).to.throw(RewriteError, /did not converge after 5 sweeps; still firing: spin ×1/);
  });
});

describe('passes: file dumps', () => {
  it('writes numbered JSON (and DOT when given) before and after each pass', async () => {
    const { mkdtempSync, readdirSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { fileDumpInstrument } = await import('../src/passes/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'kiln-dump-'));
    optimize(addRelu(), { level: 1, instruments: [fileDumpInstrument(dir, { dot: (g) => `digraph { n${g.nodes.length} }` })] });
    const files = readdirSync(dir).sort();
    expect(files.slice(0, 4)).to.deep.equal(['000-before-cleanup.dot', '000-before-cleanup.json', '001-before-fold-constants.dot', '001-before-fold-constants.json']);
    // fold-constants turns Add(const, const) into an initializer: 4 nodes → 3.
    expect(readFileSync(join(dir, '002-after-fold-constants.dot'), 'utf8')).to.equal('digraph { n3 }');
    expect(JSON.parse(readFileSync(join(dir, '002-after-fold-constants.json'), 'utf8')).format).to.equal('kiln-graph');
  });
});
