/**
 * CI's fuzz run: 1 000 mutated and hostile models through `npm run fuzz`; every case
 * must end in a correct result or a typed error, with no crash and no hang (a case
 * running past 20 s counts as a hang: generous for a loaded 2-core CI machine).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

describe('fuzz (1 000 cases)', function () {
  this.timeout(600_000);
  it('ends every case in a correct result or a typed error: no crash, no hang', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx/esm', 'scripts/fuzz.ts', '--cases', '1000', '--seed', '1', '--time-limit-ms', '20000'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 540_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    const m = /cases (\d+), ok (\d+), typed errors (\d+), crashes (\d+), hangs (\d+)/.exec(out);
    expect(m, out.slice(-2000)).to.not.equal(null);
    const [, cases, ok, typed, crashes, hangs] = m!.map(Number);
    console.log(`      fuzz: cases ${cases}, ok ${ok}, typed errors ${typed}, crashes ${crashes}, hangs ${hangs}`);
    expect(cases).to.equal(1000);
    expect(ok! + typed!, out.slice(-3000)).to.equal(1000);
    expect(crashes).to.equal(0);
    expect(hangs).to.equal(0);
    expect(r.status, out.slice(-2000)).to.equal(0);
  });
});
