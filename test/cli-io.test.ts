import { expect } from 'chai';
import { GraphBuilder, InputError, Tensor } from '../src/graph/index.js';
import { memoryView, parseDims, parseJsonTensor, parseLevel, parseNpy, randomFeeds, summarize } from '../src/cli/io.js';
import { naiveLifetimes } from '../src/viz/index.js';
import { useBars, startTask } from '../src/cli/progress.js';
import { buildFeeds } from '../src/cli/commands/run.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cli-helpers.js';
import { smallGraph } from './viz-fixtures.js';
import { npyFloat32 } from './cli-helpers.js';

/** A .npy file with any descr, by hand (format version `major`). */
function npy(descr: string, shape: number[], data: Buffer, major = 1, fortran = false): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = major === 1 ? 10 : 12;
  header += ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(pre);
  head[0] = 0x93;
  head.write('NUMPY', 1, 'latin1');
  head[6] = major;
  if (major === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

describe('cli io: input files, dims, summaries, memory view', () => {
  it('reads .npy files of several dtypes and versions', () => {
    const f = parseNpy(npyFloat32([2, 2], [1.5, -2, 0, 3]), 'a.npy');
    expect([f.dtype, f.shape, f.toArray()]).to.deep.equal(['float32', [2, 2], [1.5, -2, 0, 3]]);
    const i64 = Buffer.alloc(16);
    i64.writeBigInt64LE(-5n, 0);
    i64.writeBigInt64LE(2n ** 40n, 8);
    const t = parseNpy(npy('<i8', [2], i64, 2), 'b.npy');
    expect([t.dtype, t.toArray()]).to.deep.equal(['int64', [-5, 2 ** 40]]);
    // float16 bits: 0x3c00 = 1, 0xc000 = -2, 0x3555 ≈ 0.333251953125
    const h = Buffer.alloc(6);
    [0x3c00, 0xc000, 0x3555].forEach((v, k) => h.writeUInt16LE(v, 2 * k));
    expect(parseNpy(npy('<f2', [3], h), 'c.npy').toArray()).to.deep.equal([1, -2, 0.333251953125]);
    expect(parseNpy(npy('|b1', [], Buffer.from([1])), 'd.npy').shape).to.deep.equal([]);
    expect(() => parseNpy(npy('<f4', [1], Buffer.alloc(4), 1, true), 'e.npy')).to.throw(InputError, /Fortran-order/);
    expect(() => parseNpy(npy('>f4', [1], Buffer.alloc(4)), 'f.npy')).to.throw(InputError, /big-endian/);
    expect(() => parseNpy(npy('<c8', [1], Buffer.alloc(8)), 'g.npy')).to.throw(InputError, /dtype 'c8' is not supported/);
    expect(() => parseNpy(npy('<f4', [4], Buffer.alloc(8)), 'h.npy')).to.throw(InputError, /needs 16 data bytes, has 8/);
  });

  it('reads JSON tensors: nested arrays or { dtype, shape, data }', () => {
    const a = parseJsonTensor('[[1, 2, 3], [4, 5, 6]]', 'a.json', { name: 'x', dtype: 'int32', shape: [2, 3] });
    expect([a.dtype, a.shape, a.toArray()]).to.deep.equal(['int32', [2, 3], [1, 2, 3, 4, 5, 6]]);
    const b = parseJsonTensor('{"dtype": "float16", "shape": [2, 1], "data": [0.1, 2]}', 'b.json');
    expect([b.dtype, b.shape, b.toArray()]).to.deep.equal(['float16', [2, 1], [0.0999755859375, 2]]);
    expect(() => parseJsonTensor('[[1, 2], [3]]', 'c.json')).to.throw(InputError, /ragged/);
    expect(() => parseJsonTensor('{"shape": [3], "data": [1, 2]}', 'd.json')).to.throw(InputError, /shape \[3\] needs 3 values, got 2/);
    expect(() => parseJsonTensor('{"dtype": "complex", "data": [1]}', 'e.json')).to.throw(InputError, /unknown dtype "complex"/);
    expect(() => parseJsonTensor('[1, "a"]', 'f.json')).to.throw(InputError, /must be numbers/);
    expect(() => parseJsonTensor('{', 'g.json')).to.throw(InputError, /g\.json: not valid JSON/);
  });

  it('parses --dim and -O and makes deterministic random feeds', () => {
    expect([...parseDims(['batch=2', 'seq=0'])]).to.deep.equal([['batch', 2], ['seq', 0]]);
    expect(() => parseDims(['batch'])).to.throw(InputError, /bad --dim 'batch': expected NAME=VALUE/);
    expect(() => parseDims(['batch=-1'])).to.throw(InputError, /non-negative integer/);
    expect([parseLevel('0'), parseLevel('O1'), parseLevel(undefined)]).to.deep.equal([0, 1, 2]);
    expect(() => parseLevel('3')).to.throw(InputError, /use 0, 1 or 2/);
    const b = new GraphBuilder();
    b.output(b.Relu(b.input('x', 'float32', ['n', 3])), 'y');
    b.input('ids', 'int64', [4]);
    const g = b.build();
    const f1 = randomFeeds(g, new Map([['n', 2]]), 7);
    const f2 = randomFeeds(g, new Map([['n', 2]]), 7);
    expect(f1.x!.shape).to.deep.equal([2, 3]);
    expect(f1.x!.toArray()).to.deep.equal(f2.x!.toArray());
    expect(f1.x!.toArray().every((v) => v >= -1 && v < 1)).to.equal(true);
    expect(f1.ids!.toArray().every((v) => Number.isInteger(v) && v >= 0 && v < 10)).to.equal(true);
    expect(() => randomFeeds(g, new Map(), 7)).to.throw(InputError, /symbolic dim 'n': pass --dim n=N/);
  });

  it('summarizes a tensor: dtype, shape, first values, min/max/mean', () => {
    expect(summarize(Tensor.from('float32', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8.5]))).to.equal('float32[2,4] [1, 2, 3, 4, 5, 6, ...] min 1 max 8.5000 mean 4.5625');
    expect(summarize(Tensor.from('float32', [2], [NaN, 2]))).to.equal('float32[2] [NaN, 2] min 2 max 2 mean 2 (1 NaN)');
  });

  it('draws memory from the planner, and naive lifetimes when a dim is unknown', () => {
    // x[4] → Relu → Neg → Exp → y: a chain of three float32[4] values (16 bytes each)
    const b = new GraphBuilder('chain');
    const x = b.input('x', 'float32', ['n']);
    b.output(b.Exp(b.Neg(b.Relu(x))), 'y');
    const g = b.build();
    const naive = naiveLifetimes(g);
    // Relu_0 lives steps 0–1, Neg_0 1–2, Exp_0 2–3, y (Identity) 3–3
    expect(naive.buffers.map((m) => [m.start, m.end])).to.deep.equal([[0, 1], [1, 2], [2, 3], [3, 3]]);
    const unknown = memoryView(g);
    expect(unknown.source).to.match(/no memory plan given\); the memory planner said: .*unknown dim 'n'/);
    const planned = memoryView(g, new Map([['n', 4]]));
    // the plan the WebGPU backend runs: whole buffers reused (offset 0), one per live storage
    expect(planned.source).to.match(/^WebGPU execution plan: \d+ reused buffers? of \d+ bytes/);
    expect(planned.buffers.every((m) => m.buffer !== undefined && m.offset === 0)).to.equal(true);
    expect(planned.steps).to.deep.equal(g.topo.map((n) => n.name));
  });

  it('draws progress bars only on a TTY outside CI; plain lines otherwise', () => {
    const saved = process.env.CI;
    const lines: string[] = [];
    const fake = (isTTY: boolean) => ({ isTTY, write: (s: string) => { lines.push(s); return true; } }) as unknown as NodeJS.WriteStream;
    try {
      delete process.env.CI;
      expect([useBars(fake(true)), useBars(fake(false))]).to.deep.equal([true, false]);
      process.env.CI = 'true';
      expect(useBars(fake(true))).to.equal(false);
      const t = startTask('compiling', 3, fake(true));
      t.tick();
      t.done('ok');
      expect(lines).to.have.length(2);
      expect(lines[0]).to.equal('compiling (3)...\n');
      expect(lines[1]).to.match(/^compiling: ok \([\d.]+ ms\)\n$/);
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  });

  it('builds feeds from --input specs and --random, with errors naming the input', async () => {
    const g = smallGraph();
    const dir = tempDir('io');
    const npyFile = join(dir, 'x.npy');
    writeFileSync(npyFile, npyFloat32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]));
    const feeds = await buildFeeds(g, [`x=${npyFile}`], false, []);
    expect(feeds.x!.toArray()).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await buildFeeds(g, [], true, ['batch=5'])).x!.shape).to.deep.equal([5, 4]);
    const fails = async (p: Promise<unknown>, re: RegExp): Promise<void> => {
      let err: unknown;
      try { await p; } catch (e) { err = e; }
      expect(err).to.be.instanceOf(InputError);
      expect((err as Error).message).to.match(re);
    };
    await fails(buildFeeds(g, [`nope=${npyFile}`], false, []), /--input 'nope=.*': the model has no input 'nope' \(inputs: x\)/);
    await fails(buildFeeds(g, [`x=${join(dir, 'none.pb')}`], false, []), /input file '.*none\.pb' does not exist/);
    await fails(buildFeeds(g, [`x=${join(dir, 'x.txt')}`], false, []), /unknown file type '\.txt' \(use \.pb, \.npy or \.json\)/);
    await fails(buildFeeds(g, [], false, []), /no value for input 'x' \(float32\[batch,4\]\): pass --input NAME=FILE or --random/);
    await fails(buildFeeds(g, [], true, []), /symbolic dim 'batch': pass --dim batch=N/);
  });
});
