import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { gradientOf } from '../src/graph/gradient.js';
import { allOps, findOp } from '../src/graph/op.js';
import { AUTODIFF_DOC, BEGIN, END, gradientListMarkdown, withGradientList } from '../scripts/gradient-list.js';

describe('docs/AUTODIFF.md gradient list (scripts/gradient-list.ts)', () => {
  // In a fresh process: the mocha process also holds ops that test files define for
  // themselves, which are not part of Kiln's registry.
  it('is up to date with the registry (regenerate: npx tsx scripts/gradient-list.ts --write)', function () {
    this.timeout(60_000);
    const doc = readFileSync(AUTODIFF_DOC, 'utf8');
    expect(doc).to.include(BEGIN).and.to.include(END);
    const list = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/gradient-list.ts'], { encoding: 'utf8' }).replace(/\n$/, '');
    expect(withGradientList(doc, list)).to.equal(doc);
  });

  it('names every registry op once, under the right heading', () => {
    const md = gradientListMarkdown();
    const withGrad = allOps().filter((o) => gradientOf(o)).length;
    expect(md).to.match(new RegExp(`^${withGrad} of ${allOps().length} registry ops declare a gradient`));
    const section = (label: string) => md.split('\n').find((l) => l.startsWith(`**ai.onnx (default domain), ${label}`)) ?? '';
    for (const op of ['MaxPool', 'AveragePool', 'Conv', 'MatMul', 'Flatten']) expect(section('with a gradient')).to.include(`\`${op}\``);
    for (const op of ['TopK', 'ArgMax', 'LSTM']) expect(section('without a gradient')).to.include(`\`${op}\``);
    const listed = [...md.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    expect(listed).to.have.length(allOps().length);
    expect(gradientOf(findOp('MaxPool')!)).to.be.a('function');
  });
});
