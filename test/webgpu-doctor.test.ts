/// <reference types="@webgpu/types" />
/** `kiln doctor`: the report on this machine, and the wording without WebGPU. */
import { expect } from 'chai';
import { doctorReport, formatDoctor } from '../src/cli/commands/doctor.js';
import { deviceOrSkip } from './helpers/gpu.js';

describe('kiln doctor', function () {
  it('reports the adapter, features, limits and a working test shader', async function () {
    await deviceOrSkip(this);
    const r = await doctorReport();
    expect(r.ok, r.reason).to.equal(true);
    expect(r.adapter!.description).to.be.a('string');
    expect(r.limits!['maxStorageBufferBindingSize']).to.be.greaterThan(0);
    expect(formatDoctor(r)).to.match(/WebGPU works/);
  });

  it('explains a failure and names the CPU fallback', function () {
    const text = formatDoctor({ ok: false, reason: 'WebGPU has no adapter' });
    expect(text).to.match(/not usable: WebGPU has no adapter/);
    expect(text).to.match(/CPU backend/);
  });
});
