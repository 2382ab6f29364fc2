/// <reference types="@webgpu/types" />
/**
 * Smoke test of the WebGPU device in Node (dawn.node on Vulkan / lavapipe).
 *
 * In CI (CI=true) a missing adapter is a failure: .ci/run installs lavapipe.
 * Elsewhere the tests skip, saying why.
 */
import { expect } from 'chai';
import { GpuUnavailableError, requestDevice, type AcquiredDevice } from '../src/backends/webgpu/device.js';

const inCI = process.env.CI === 'true';

describe('webgpu device', function () {
  let acquired: AcquiredDevice | undefined;

  before(async function () {
    try {
      acquired = await requestDevice({ label: 'kiln-test' });
    } catch (err) {
      if (err instanceof GpuUnavailableError && !inCI) {
        console.log(`    (skipping WebGPU tests: ${err.message})`);
        this.skip();
      }
      throw err;
    }
  });

  // Frees the device at once; the process exits without it too (checked with
  // mocha --no-exit), as long as the GPU object stays cached in device.ts.
  after(function () {
    acquired?.device.destroy();
    acquired = undefined;
  });

  it('reports adapter info, features and raised limits', function () {
    const { adapter, device, info, features } = acquired!;
    expect(info.description).to.be.a('string');
    expect(features).to.be.an('array');
    for (const f of features) expect(device.features.has(f as GPUFeatureName)).to.equal(true);
    for (const f of ['shader-f16', 'timestamp-query', 'subgroups'] as const) {
      if (adapter.features.has(f)) expect(features).to.include(f);
    }
    expect(device.limits.maxStorageBufferBindingSize).to.equal(adapter.limits.maxStorageBufferBindingSize);
    expect(device.limits.maxComputeInvocationsPerWorkgroup).to.equal(adapter.limits.maxComputeInvocationsPerWorkgroup);
    expect(device.limits.maxComputeWorkgroupSizeX).to.equal(adapter.limits.maxComputeWorkgroupSizeX);
    expect(typeof GPUBufferUsage.STORAGE).to.equal('number');
  });

  it('runs a compute shader (c = a + 2b over 100003 f32) and reads back the result', async function () {
    const { device } = acquired!;
    const n = 100_003; // not a multiple of the workgroup size
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = i;
      b[i] = 0.25 * (i % 97);
    }
    const upload = (data: Float32Array): GPUBuffer => {
      const buf = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
      new Float32Array(buf.getMappedRange()).set(data);
      buf.unmap();
      return buf;
    };
    const bufA = upload(a);
    const bufB = upload(b);
    const bufC = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const readback = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

    const module = device.createShaderModule({
      code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i < arrayLength(&c)) { c[i] = a[i] + 2.0 * b[i]; }
}`,
    });
    const info = await module.getCompilationInfo();
    expect(info.messages.filter((m) => m.type === 'error').map((m) => m.message)).to.deep.equal([]);

    device.pushErrorScope('validation');
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [bufA, bufB, bufC].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(n / 256));
    pass.end();
    encoder.copyBufferToBuffer(bufC, 0, readback, 0, n * 4);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    expect(error?.message).to.equal(undefined);

    await readback.mapAsync(GPUMapMode.READ);
    const c = new Float32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    for (const buf of [bufA, bufB, bufC, readback]) buf.destroy();

    expect(c.length).to.equal(n);
    let mismatches = 0;
    for (let i = 0; i < n; i++) if (c[i] !== a[i]! + 2 * b[i]!) mismatches++;
    expect(mismatches).to.equal(0);
    expect(c[0]).to.equal(0);
    expect(c[100]).to.equal(100 + 2 * 0.25 * 3);
    expect(c[n - 1]).to.equal(n - 1 + 2 * 0.25 * ((n - 1) % 97));
  });

  it('compiles f16 shaders when shader-f16 is enabled', async function () {
    const { device, features } = acquired!;
    if (!features.includes('shader-f16')) this.skip();
    const module = device.createShaderModule({
      code: `enable f16;
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() { let h: f16 = 1.5h; o[0] = f32(h * 2.0h); }`,
    });
    const out = device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const rb = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] }));
    pass.dispatchWorkgroups(1);
    pass.end();
    encoder.copyBufferToBuffer(out, 0, rb, 0, 4);
    device.queue.submit([encoder.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    expect(new Float32Array(rb.getMappedRange())[0]).to.equal(3);
    rb.unmap();
  });
});
