/// <reference types="@webgpu/types" />
/**
 * Dropout in training mode: each element kept with probability 1 − ratio and scaled
 * by 1 / (1 − ratio). The CPU reference and WebGPU draw the same mask (the random
 * family's counter-based stream), the kept fraction is 1 − ratio within 2 % on 40 000
 * elements, the draws follow the seed, and the O2 passes keep a training Dropout
 * (they remove an inference one).
 */
import { expect } from 'chai';
import { compileCpu } from '../src/backends/cpu/index.js';
import { compileWebGpu } from '../src/backends/webgpu/index.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { Tensor } from '../src/graph/tensor.js';
import { optimize } from '../src/passes/index.js';
import { sharedDevice } from './helpers/gpu.js';
import { randomTensor } from './helpers/gpu-compare.js';

function dropoutGraph(training: boolean | 'input', seed: number) {
  const b = new GraphBuilder('dropout');
  const x = b.input('x', 'float32', [200, 200]);
  const tm = training === 'input' ? b.input('tm', 'bool', []) : b.constant(Tensor.from('bool', [], [training ? 1 : 0]));
  const [y, mask] = b.apply('Dropout', [b.Relu(x), b.constant(Tensor.from('float32', [], [0.3])), tm], { seed }, { outputs: 2 });
  b.output(b.Mul([y!, b.constant(2)]), 'y');
  b.output(mask!, 'mask');
  return b.build();
}

describe('Dropout in training mode on CPU and WebGPU', function () {
  this.timeout(60000);
  const x = randomTensor('float32', [200, 200], 3, 0.5, 1.5);

  it('keeps 1 − ratio of the elements, scaled, with the same mask on both backends, at O0 and O2', async () => {
    for (const level of [0, 2] as const) {
      const g = optimize(dropoutGraph(true, 7), { level }).graph;
      expect(g.nodes.map((n) => n.op).join(' '), 'a training Dropout stays').to.match(/Dropout/);
      const cpu = compileCpu(g).run({ x });
      const kept = Array.from(cpu.mask!.data as ArrayLike<number>).filter((v) => v !== 0).length / x.size;
      expect(kept).to.be.closeTo(0.7, 0.02);
      for (let i = 0; i < x.size; i++) expect(Number(cpu.y!.data[i])).to.be.closeTo(cpu.mask!.data[i] ? (2 * Number(x.data[i])) / 0.7 : 0, 1e-5);
      const device = await sharedDevice();
      if (!device) continue;
      const prog = await compileWebGpu(g, { device });
      const gpu = (await prog.run({ x })) as Record<string, Tensor>;
      prog.release();
      expect(Array.from(gpu.mask!.data as ArrayLike<number>)).to.deep.equal(Array.from(cpu.mask!.data as ArrayLike<number>));
      for (let i = 0; i < x.size; i++) expect(Number(gpu.y!.data[i])).to.be.closeTo(Number(cpu.y!.data[i]), 1e-5);
    }
  });

  it('training_mode fed at run time switches the behaviour on WebGPU; another seed draws another mask', async () => {
    const g = dropoutGraph('input', 7);
    const on = compileCpu(g).run({ x, tm: Tensor.from('bool', [], [1]) });
    const off = compileCpu(g).run({ x, tm: Tensor.from('bool', [], [0]) });
    expect(Array.from(off.mask!.data as ArrayLike<number>).every((v) => v === 1)).to.equal(true);
    const other = compileCpu(dropoutGraph(true, 8)).run({ x });
    expect(Array.from(other.mask!.data as ArrayLike<number>)).to.not.deep.equal(Array.from(on.mask!.data as ArrayLike<number>));
    const device = await sharedDevice();
    if (!device) return;
    const prog = await compileWebGpu(g, { device });
    for (const [tm, want] of [[1, on], [0, off]] as const) {
      const got = (await prog.run({ x, tm: Tensor.from('bool', [], [tm]) })) as Record<string, Tensor>;
      expect(Array.from(got.mask!.data as ArrayLike<number>)).to.deep.equal(Array.from(want.mask!.data as ArrayLike<number>));
    }
    prog.release();
  });

  it('an inference Dropout whose mask is unread is removed at O2; a training one is kept', () => {
    for (const training of [false, true]) {
      const b = new GraphBuilder('dropout');
      const x = b.input('x', 'float32', [4]);
      const tm = b.constant(Tensor.from('bool', [], [training ? 1 : 0]));
      b.output(b.Relu(b.apply('Dropout', [x, b.constant(Tensor.from('float32', [], [0.3])), tm], { seed: 1 })[0]!), 'y');
      const ops = optimize(b.build(), { level: 2 }).graph.nodes.map((n) => n.op).join(' ');
      if (training) expect(ops).to.match(/Dropout/);
      else expect(ops).to.not.match(/Dropout/);
    }
  });
});
