/**
 * The webgpu runtime: adapter errors, validation errors surfacing as JS errors naming the kernel,
 * buffer-pool reuse and its bytes in engine.memory(), float64 rejection, async-only reads, and the
 * upload-after-pending-work ordering hazard.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../backends/webgpu/index.js';
import { sizeClass, Uniforms } from '../../backends/webgpu/runtime.js';
import { gpu, gpuAvailable } from './helpers.js';

describe.skipIf(!gpuAvailable)('webgpu runtime', () => {
  const be = (): WebGPUBackend => gpu!;

  it('no adapter: the Error says why and how to install lavapipe', async () => {
    const prev = process.env.POSEGRAD_WEBGPU_ADAPTER;
    process.env.POSEGRAD_WEBGPU_ADAPTER = 'no-such-adapter-xyz';
    try {
      const err = await createWebGPUBackend().then(() => null, (e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/^webgpu: expected a WebGPU adapter, got none/);
      expect(err!.message).toContain("POSEGRAD_WEBGPU_ADAPTER='no-such-adapter-xyz'");
      expect(err!.message).toContain('bash scripts/install-lavapipe.sh');
      expect(err!.message).toContain('XDG_RUNTIME_DIR=/tmp');
      expect(err!.message).toMatch(/Mesa >= 24/);
    } finally {
      if (prev === undefined) delete process.env.POSEGRAD_WEBGPU_ADAPTER;
      else process.env.POSEGRAD_WEBGPU_ADAPTER = prev;
    }
  });

  it('an unknown Dawn backend is reported the same way', async () => {
    const err = await createWebGPUBackend({ backend: 'no-such-backend' }).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/^webgpu: expected a WebGPU adapter, got none .*no-such-backend/s);
  });

  it('a WGSL error surfaces as a JS Error naming the kernel', async () => {
    const rt = be().rt;
    const out = rt.alloc(16);
    rt.run({
      name: 'deliberatelyBroken',
      key: 'test:deliberatelyBroken',
      code: () => `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = undefined_symbol; }`,
      bindings: [out],
      workgroups: [1],
    });
    await expect(rt.sync()).rejects.toThrow(/kernel 'deliberatelyBroken' failed.*undefined_symbol/s);
    rt.free(out);
    // the runtime keeps working afterwards
    const t = P.add(P.ones([3], { device: 'webgpu' }), 1);
    expect(Array.from(await t.data())).toEqual([2, 2, 2]);
    t.dispose();
  });

  it('a binding validation error names the kernel', async () => {
    const rt = be().rt;
    const out = rt.alloc(16);
    rt.run({
      name: 'wrongBindings',
      key: 'test:wrongBindings',
      code: () => `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = 1.0; z[0] = 2.0; }`,
      bindings: [out], // binding 1 missing
      workgroups: [1],
    });
    await expect(rt.sync()).rejects.toThrow(/kernel 'wrongBindings' failed/);
    rt.free(out);
  });

  it('too many workgroups throws at once, naming the kernel', () => {
    const rt = be().rt;
    expect(() => rt.run({ name: 'huge', key: 'test:huge', code: () => '', bindings: [], workgroups: [1e6] })).toThrow(/kernel 'huge': expected workgroup counts ≤ \d+, got \[1000000, 1, 1\]/);
  });

  it('float64 is rejected with a clear Error naming the op', () => {
    expect(() => P.tensor(new Float64Array([1, 2]), { device: 'webgpu' })).toThrow(/^upload: expected dtype float32 or int32 on webgpu \(WGSL has no f64.*got float64$/);
    expect(() => P.zeros([2], { device: 'webgpu', dtype: 'float64' })).toThrow(/^fill: expected dtype float32 or int32 on webgpu.*got float64$/);
    const x = P.ones([2], { device: 'webgpu' });
    expect(() => be().cast(x.k('cast') as Parameters<WebGPUBackend['cast']>[0], 'float64')).toThrow(/^cast: expected dtype float32 or int32 on webgpu.*got float64$/);
    x.dispose();
  });

  it('synchronous reads throw and point to the async read', () => {
    const x = P.ones([2], { device: 'webgpu' });
    expect(() => x.dataSync()).toThrow(/^dataSync: expected an asynchronous read on webgpu: use `await t.data\(\)`/);
    expect(() => x.to('cpu')).toThrow(/await t\.data\(\)/);
    x.dispose();
  });

  it('moves tensors both ways', async () => {
    const c = P.tensor([[1, 2, 3], [4, 5, 6]]);
    const g = c.to('webgpu');
    expect(g.device).toBe('webgpu');
    const back = await g.toAsync('cpu');
    expect(back.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const i = P.tensor([7, -8], { dtype: 'int32', device: 'webgpu' });
    expect(Array.from(await i.data())).toEqual([7, -8]);
    for (const t of [c, g, back, i]) t.dispose();
  });

  it('buffer pool: released buffers are reused and reported in engine.memory()', async () => {
    await be().sync();
    be().rt.trimPool();
    expect(P.memory().devices.webgpu!.pooledBytes).toBe(0);
    const before = P.memory().devices.webgpu!;
    const a = P.zeros([1000], { device: 'webgpu' });
    const bufA = (a.storage() as { buffer: GPUBuffer }).buffer;
    expect(P.memory().devices.webgpu!.bytes).toBe(before.bytes + 4000);
    expect(P.memory().devices.webgpu!.tensors).toBe(before.tensors + 1);
    a.dispose();
    const cls = sizeClass(4000);
    expect(P.memory().devices.webgpu!.pooledBytes).toBe(cls);
    expect(P.memory().devices.webgpu!.bytes).toBe(before.bytes);
    // same size class (3900 bytes -> 4096): the same GPUBuffer comes back
    const b = P.zeros([975], { device: 'webgpu' });
    expect((b.storage() as { buffer: GPUBuffer }).buffer).toBe(bufA);
    expect(P.memory().devices.webgpu!.pooledBytes).toBe(0);
    expect(Array.from(await b.data()).every((v) => v === 0)).toBe(true);
    b.dispose();
    be().rt.trimPool();
    expect(P.memory().devices.webgpu!.pooledBytes).toBe(0);
  });

  it('buffer pool: a request with no free buffer of its class takes the smallest free one up to twice its class', async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    const rt = b.rt;
    const big = rt.alloc(5000); // class 5120
    const bigBuf = big.buffer;
    rt.free(big);
    const allocated = rt.allocatedBytes;
    // 3000 bytes (class 3072): 3072 < 5120 ≤ 2 · 3072, so the 5120-byte buffer is reused
    const s = rt.alloc(3000);
    expect(s.buffer).toBe(bigBuf);
    expect(rt.allocatedBytes).toBe(allocated);
    rt.free(s);
    // 1000 bytes (class 1024): 5120 > 2 · 1024, a new buffer
    const t = rt.alloc(1000);
    expect(t.buffer).not.toBe(bigBuf);
    expect(rt.allocatedBytes).toBe(allocated + 1024);
    rt.free(t);
    b.destroy();
  });

  it('buffer pool: above its bound, buffers queued work still uses stay pooled until that work completes, then are destroyed', async () => {
    const b = (await createWebGPUBackend({ maxPooledBytes: 64 * 1024 })) as WebGPUBackend;
    try {
      const rt = b.rt;
      const xs = Array.from({ length: 8 }, (_, i) => b.fill([16384], 'float32', i)); // 8 × 64 KiB
      // a dispatch reads each one, in the open batch; releasing them passes the bound
      const ys = xs.map((x) => b.unary('neg', { storage: x, shape: [16384], dtype: 'float32' }, []));
      for (const x of xs) b.release(x);
      expect(rt.pooledBytes).toBe(8 * 65536);
      expect(rt.allocatedBytes).toBe(16 * 65536);
      // once the batch has run, the pool is brought back to its bound
      await rt.sync();
      await new Promise((r) => setTimeout(r, 0));
      expect(rt.pooledBytes).toBeLessThanOrEqual(64 * 1024);
      expect(rt.allocatedBytes).toBe(8 * 65536 + rt.pooledBytes);
      // an idle buffer released above the bound is destroyed at once
      b.release(ys[0]!);
      expect(rt.pooledBytes).toBeLessThanOrEqual(64 * 1024);
      expect(Array.from((await b.read({ storage: ys[7]!, shape: [16384], dtype: 'float32' })).slice(0, 2))).toEqual([-7, -7]);
      for (const y of ys.slice(1)) b.release(y);
    } finally {
      b.destroy();
    }
  });

  it('size classes waste at most 12.5% above 256 bytes, and are multiples of 16', () => {
    for (const b of [1, 16, 17, 256, 257, 300, 1000, 4096, 4097, 5000, 1e6, 123456789]) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      expect(c % 16).toBe(0);
      if (b > 256) expect(c / b).toBeLessThanOrEqual(1.125);
    }
  });

  it('an upload into a pooled buffer that queued work still reads is ordered after that work', async () => {
    // x's buffer is read by a queued (unsubmitted) add; x is freed and its buffer immediately
    // reused by an upload. The add must still see the old values.
    const rt = be().rt;
    await rt.sync();
    const x = P.tensor([1, 2, 3, 4], { device: 'webgpu' });
    const y = P.add(x, 10); // queued, reads x's buffer
    const staged = rt.stats.stagedUploads;
    x.dispose();
    const z = P.tensor([100, 200, 300, 400], { device: 'webgpu' }); // same size class: reuses x's buffer
    expect(rt.stats.stagedUploads).toBe(staged + 1);
    expect(Array.from(await y.data())).toEqual([11, 12, 13, 14]);
    expect(Array.from(await z.data())).toEqual([100, 200, 300, 400]);
    y.dispose();
    z.dispose();
  });

  it('work is batched: many dispatches, few submits, one pipeline per specialization', async () => {
    const rt = be().rt;
    await rt.sync();
    const s0 = { ...rt.stats };
    let t = P.ones([64], { device: 'webgpu' });
    for (let i = 0; i < 20; i++) {
      const n = P.mul(t, 1.5);
      t.dispose();
      t = n;
    }
    const v = await t.data();
    expect(v[0]).toBeCloseTo(1.5 ** 20, 0);
    const d = rt.stats.dispatches - s0.dispatches;
    expect(d).toBeGreaterThanOrEqual(20);
    expect(rt.stats.submits - s0.submits).toBeLessThan(d / 4);
    // one more multiply of another shape reuses the cached pipeline
    const p0 = rt.stats.pipelinesCreated;
    const w = P.mul(P.ones([7, 9], { device: 'webgpu' }), 1.5);
    await w.data();
    expect(rt.stats.pipelinesCreated).toBe(p0);
    t.dispose();
    w.dispose();
  });

  it('a lost device is reported by the next call, not silently ignored', async () => {
    const other = (await createWebGPUBackend()) as WebGPUBackend;
    const s = other.fill([4], 'float32', 1);
    other.rt.device.destroy(); // simulates a device loss (driver reset, GPU removed)
    await other.rt.device.lost;
    expect(() => other.fill([4], 'float32', 2)).toThrow(/^webgpu: the device was lost \(destroyed\)/);
    await expect(other.read({ storage: s, shape: [4], dtype: 'float32' })).rejects.toThrow(/device was lost/);
  });

  it('uniform blocks follow the WGSL layout', () => {
    const u = new Uniforms().u32('n', 5).f32('a', 1.5).u32s('dims', [1, 2, 3], 8).i32('k', -2);
    expect(u.struct('P')).toBe('struct P {\n  n: u32,\n  a: f32,\n  dims: array<vec4<u32>, 2>,\n  k: i32,\n}\n');
    // n@0 a@4 dims@16 (16-byte aligned, 32 bytes) k@48; size 52 rounded up to 64
    expect(u.byteLength).toBe(64);
    const v = new DataView(new ArrayBuffer(64));
    u.writeTo(v, 0);
    expect(v.getUint32(0, true)).toBe(5);
    expect(v.getFloat32(4, true)).toBe(1.5);
    expect(v.getUint32(16, true)).toBe(1);
    expect(v.getUint32(24, true)).toBe(3);
    expect(v.getInt32(48, true)).toBe(-2);
  });
});
