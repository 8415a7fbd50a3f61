import { describe, expect, it } from 'vitest';
import source from './fixtures/smoke-axpy.wgsl?raw';

async function runKernel(device: GPUDevice, a: number, x: Float32Array, y: Float32Array): Promise<Float32Array> {
  const n = x.length;
  const storage = (data: Float32Array) => {
    const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
    return buffer;
  };
  const params = device.createBuffer({ size: 8, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const paramBytes = new ArrayBuffer(8);
  new Float32Array(paramBytes, 0, 1)[0] = a;
  new Uint32Array(paramBytes, 4, 1)[0] = n;
  device.queue.writeBuffer(params, 0, paramBytes);
  const out = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const pipeline = await device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: source }), entryPoint: 'main', constants: { WORKGROUP_SIZE: 64 } },
  });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [params, storage(x), storage(y), out].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  encoder.copyBufferToBuffer(out, 0, read, 0, n * 4);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const result = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  return result;
}

describe('WebGPU harness smoke test', () => {
  it('finds an adapter and a WGSL kernel matches its CPU reference on random input', async () => {
    expect(navigator.gpu, 'navigator.gpu is missing: is --enable-unsafe-webgpu in the launch flags?').toBeDefined();
    const adapter = await navigator.gpu.requestAdapter();
    expect(adapter).not.toBeNull();
    const device = await adapter!.requestDevice();
    for (const n of [1, 63, 1000, 4099]) {
      const x = Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
      const y = Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
      const a = Math.random() * 4 - 2;
      const got = await runKernel(device, a, x, y);
      let maxError = 0;
      for (let i = 0; i < n; i++) maxError = Math.max(maxError, Math.abs(got[i]! - (Math.fround(a * x[i]!) + Math.fround(y[i]! * y[i]!))));
      expect(maxError, `n=${n}`).toBeLessThan(1e-5);
    }
    device.destroy();
  });
});
