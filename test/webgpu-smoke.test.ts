import { GraphBuilder } from '../src/graph/index.js';
import { deviceOrSkip } from './helpers/gpu.js';
import { compareWithCpu, randomTensor } from './helpers/gpu-compare.js';

describe('webgpu smoke', function () {
  let device: GPUDevice;
  before(async function () {
    device = await deviceOrSkip(this);
  });
  it('Add + Relu with broadcasting', async function () {
    const b = new GraphBuilder('addrelu');
    const x = b.input('x', 'float32', [3, 4]);
    const y = b.input('y', 'float32', [4]);
    b.output(b.Relu(b.Add([x, y])), 'out');
    await compareWithCpu(device, b.build(), { x: randomTensor('float32', [3, 4], 1), y: randomTensor('float32', [4], 2) });
  });
});
