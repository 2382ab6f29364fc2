/**
 * The README's Node.js example is examples/node-quickstart.ts verbatim, and it runs:
 * it prints three probabilities that sum to 1.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

describe('README Node.js example', function () {
  this.timeout(120_000);
  it('is examples/node-quickstart.ts verbatim and runs', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.split(/^## /m).find((s) => s.startsWith('Node.js: define, optimize, run'));
    const block = /```ts\n([\s\S]*?)```/.exec(section ?? '')?.[1];
    expect(block).to.equal(readFileSync(path.join(root, 'examples/node-quickstart.ts'), 'utf8'));
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx/esm', 'examples/node-quickstart.ts'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const probs = JSON.parse(r.stdout.replace(/\s+/g, '')) as number[];
    expect(probs).to.have.length(3);
    expect(probs.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
  });
});
