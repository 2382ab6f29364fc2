/**
 * The README's "Browser quick start" block is examples/quickstart.js verbatim (the
 * browser e2e test runs that file in Chromium), and it is the promised 10 lines.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../scripts/build-browser.js';

describe('README browser quick start', () => {
  it('is examples/quickstart.js verbatim, 10 lines', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.split(/^## /m).find((s) => s.startsWith('Browser quick start'));
    expect(section, 'README has a "## Browser quick start" section').to.be.a('string');
    const block = /```js\n([\s\S]*?)```/.exec(section!)?.[1];
    const file = readFileSync(join(ROOT, 'examples/quickstart.js'), 'utf8');
    expect(block).to.equal(file);
    expect(file.trimEnd().split('\n')).to.have.length(10);
  });
});
