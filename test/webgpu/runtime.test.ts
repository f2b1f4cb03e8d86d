/**
 * The webgpu runtime: adapter errors, validation errors surfacing as JS errors naming the kernel,
 * the segment pool (blocks, merging, own buffers for large tensors, op aliasing rules, its bound)
 * and its bytes in engine.memory(), float64 rejection, async-only reads, and the
 * upload-after-pending-work ordering hazard.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../backends/webgpu/index.js';
import { MIN_SEGMENT_BYTES, SEGMENT_BYTES, segmentSize, Uniforms } from '../../backends/webgpu/runtime.js';
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

  it('segment pool: storages are blocks of a shared buffer at aligned offsets, reported in engine.memory()', async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    try {
      const rt = b.rt;
      const align = rt.storageAlign;
      const [x, y, z] = [rt.alloc(1000), rt.alloc(1000), rt.alloc(1000)];
      expect(y.buffer).toBe(x.buffer);
      expect(z.buffer).toBe(x.buffer);
      const offs = [x, y, z].map((s) => s.offset ?? 0);
      for (const o of offs) expect(o % align).toBe(0);
      expect(new Set(offs).size).toBe(3);
      expect(rt.allocatedBytes).toBe(MIN_SEGMENT_BYTES);
      const block = Math.ceil(1000 / align) * align;
      expect(rt.pooledBytes).toBe(MIN_SEGMENT_BYTES - 3 * block);
      for (const s of [x, y, z]) rt.free(s);
      expect(rt.pooledBytes).toBe(MIN_SEGMENT_BYTES);
      expect(() => rt.free(x)).toThrow(/webgpu: free: internal: expected an allocated storage, got one already freed/);
      rt.trimPool();
      expect(rt.allocatedBytes).toBe(0);
      expect(rt.pooledBytes).toBe(0);
    } finally {
      b.destroy();
    }
  });

  it('segment sizes: a power of two from 1 to 8 MiB, at least twice the request and an eighth of the pool; above 8 MiB the request itself', () => {
    const MiB = 1024 * 1024;
    expect([256, 1000, 512 * 1024, 600 * 1024, 3 * MiB, 4 * MiB, 5 * MiB, 8 * MiB, 9 * MiB].map((b) => segmentSize(b))).toEqual([MiB, MiB, MiB, 2 * MiB, 8 * MiB, 8 * MiB, 8 * MiB, 8 * MiB, 9 * MiB]);
    // segments grow with the pool: 8 MiB ones once it holds 64 MiB, however small the request
    expect([0, 8 * MiB, 9 * MiB, 24 * MiB, 32 * MiB, 1024 * MiB].map((pooled) => segmentSize(1000, pooled))).toEqual([MiB, MiB, 2 * MiB, 4 * MiB, 4 * MiB, 8 * MiB]);
    expect(segmentSize(9 * MiB, 1024 * MiB)).toBe(9 * MiB);
    expect([MIN_SEGMENT_BYTES, SEGMENT_BYTES]).toEqual([MiB, 8 * MiB]);
  });

  it('segment pool: released neighbours merge, so a larger request fits where two small ones were', async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    try {
      const rt = b.rt;
      const align = rt.storageAlign;
      const x = rt.alloc(4 * align);
      const y = rt.alloc(4 * align);
      const z = rt.alloc(4 * align); // keeps the range after y in use
      expect([x.offset ?? 0, y.offset ?? 0, z.offset ?? 0]).toEqual([0, 4 * align, 8 * align]);
      rt.free(y);
      rt.free(x);
      // free ranges: [0, 8·align) (x and y merged) and the rest of the segment after z; best fit
      // takes the merged range, at offset 0
      const w = rt.alloc(7 * align);
      expect(w.buffer).toBe(z.buffer);
      expect(w.offset ?? 0).toBe(0);
      expect(rt.allocatedBytes).toBe(MIN_SEGMENT_BYTES);
      rt.free(w);
      rt.free(z);
      expect(rt.pooledBytes).toBe(MIN_SEGMENT_BYTES);
    } finally {
      b.destroy();
    }
  });

  it('segment pool: a request above a segment gets its own buffer, which smaller requests split once it is free', async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    try {
      const rt = b.rt;
      const bigBytes = SEGMENT_BYTES + 1000;
      const big = rt.alloc(bigBytes);
      const bigSize = Math.ceil(bigBytes / rt.storageAlign) * rt.storageAlign;
      expect(rt.allocatedBytes).toBe(bigSize);
      const bigBuf = big.buffer;
      rt.free(big);
      const s = rt.alloc(SEGMENT_BYTES - 4096);
      expect(s.buffer).toBe(bigBuf);
      expect(rt.allocatedBytes).toBe(bigSize);
      rt.free(s);
    } finally {
      b.destroy();
    }
  });

  it("segment pool: an op's outputs and temporaries avoid the buffers of its inputs and of each other", async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    try {
      const rt = b.rt;
      const x = b.fill([64], 'float32', 3);
      const ks = { storage: x, shape: [64], dtype: 'float32' as const };
      const y = b.unary('neg', ks, []);
      expect(y.buffer).not.toBe(x.buffer);
      const [t1, t2, inner] = rt.op('test', () => [rt.alloc(256), rt.alloc(256), rt.alloc(256)], [ks]);
      const bufs = [x.buffer, t1!.buffer, t2!.buffer, inner!.buffer];
      expect(new Set(bufs).size).toBe(4);
      // outside an op nothing is avoided: the next storage shares a segment again
      const u = rt.alloc(256);
      expect(bufs).toContain(u.buffer);
      expect(Array.from((await b.read({ storage: y, shape: [64], dtype: 'float32' })).slice(0, 2))).toEqual([-3, -3]);
      for (const s of [x, y, t1!, t2!, inner!, u]) rt.free(s);
    } finally {
      b.destroy();
    }
  });

  it('a dispatch that writes a buffer it also binds, or a copy within one buffer, throws naming the op', async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    try {
      const rt = b.rt;
      const x = rt.alloc(256);
      const y = rt.alloc(256); // outside an op: the same segment as x
      expect(y.buffer).toBe(x.buffer);
      const code = (): string => `
        @group(0) @binding(0) var<storage, read> x: array<f32>;
        @group(0) @binding(1) var<storage, read_write> y: array<f32>;
        @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { y[g.x] = x[g.x]; }`;
      expect(() => rt.op('aliasTest', () => rt.run({ name: 'alias', key: 'test:alias', code, bindings: [x, y], workgroups: [1, 1, 1] }))).toThrow(
        /^webgpu: aliasTest: kernel 'alias': internal: binding 1 \(written\) and binding 0 are in the same GPU buffer/,
      );
      expect(() => rt.op('copyTest', () => rt.copy(x, 0, y, 0, 256))).toThrow(/^webgpu: copyTest: internal: a copy within one GPU buffer/);
      rt.free(x);
      rt.free(y);
    } finally {
      b.destroy();
    }
  });

  it('segment pool: above its bound, free segments queued work still uses stay until that work completes, then are destroyed', async () => {
    const b = (await createWebGPUBackend({ maxPooledBytes: 64 * 1024 })) as WebGPUBackend;
    try {
      const rt = b.rt;
      const n = SEGMENT_BYTES / 4 + 1024; // each tensor gets a segment of its own
      const seg = Math.ceil((4 * n) / rt.storageAlign) * rt.storageAlign;
      const xs = [0, 1].map((i) => b.fill([n], 'float32', i));
      // a dispatch reads each one, in the open batch; releasing them passes the bound
      const ys = xs.map((x) => b.unary('neg', { storage: x, shape: [n], dtype: 'float32' }, []));
      expect(rt.allocatedBytes).toBe(4 * seg);
      for (const x of xs) b.release(x);
      expect(rt.pooledBytes).toBe(2 * seg);
      expect(rt.allocatedBytes).toBe(4 * seg);
      // once the batch has run, the pool is brought back to its bound
      await rt.sync();
      await new Promise((r) => setTimeout(r, 0));
      expect(rt.pooledBytes).toBe(0);
      expect(rt.allocatedBytes).toBe(2 * seg);
      // an idle segment freed above the bound is destroyed at once
      b.release(ys[0]!);
      expect(rt.allocatedBytes).toBe(seg);
      expect(Array.from((await b.read({ storage: ys[1]!, shape: [n], dtype: 'float32' })).slice(0, 2))).toEqual([-1, -1]);
      b.release(ys[1]!);
    } finally {
      b.destroy();
    }
  });

  it('an upload into a block that queued work still reads is ordered after that work', async () => {
    // x's block is read by a queued (unsubmitted) add; x is freed and its block immediately
    // reused by an upload. The add must still see the old values.
    const rt = be().rt;
    await rt.sync();
    const x = P.tensor([1, 2, 3, 4], { device: 'webgpu' });
    const xs = x.storage() as { buffer: GPUBuffer; offset?: number };
    const [xBuf, xOff] = [xs.buffer, xs.offset ?? 0];
    const y = P.add(x, 10); // queued, reads x's block
    const flushes = rt.stats.uploadFlushes;
    x.dispose();
    const z = P.tensor([100, 200, 300, 400], { device: 'webgpu' }); // the same size: reuses x's block
    const zs = z.storage() as { buffer: GPUBuffer; offset?: number };
    expect([zs.buffer, zs.offset ?? 0]).toEqual([xBuf, xOff]);
    expect(rt.stats.uploadFlushes).toBe(flushes + 1);
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
