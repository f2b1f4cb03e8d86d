/**
 * The wasm backend's memory and loader: readSync, allocator reuse (pooledBytes), memory growth
 * (views re-created, old tensors intact), the >4 GiB Error, float64 rejection, the build/loader
 * report, and no leaks through a training step.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createWasmBackend, type WasmBackend } from '../../backends/wasm/index.js';
import { blockSize } from '../../backends/wasm/memory.js';
import { engine, memory, tidy } from '../../engine/engine.js';
import { full, tensor, zeros } from '../../ops/creation.js';
import { conv2d } from '../../ops/conv.js';
import { mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { rand, setupWasm } from './helpers.js';

let be: WasmBackend;
beforeAll(async () => {
  be = await setupWasm();
});

describe('wasm memory', () => {
  it('readSync and read return the uploaded values', async () => {
    const v = rand(13, 1);
    const t = tensor(v, { device: 'wasm' });
    expect(Array.from(t.dataSync())).toEqual(Array.from(v));
    expect(Array.from(await t.data())).toEqual(Array.from(v));
    const i = tensor(Int32Array.from([3, -4, 5]), { device: 'wasm' });
    expect(i.dataSync()).toBeInstanceOf(Int32Array);
    expect(Array.from(i.dataSync())).toEqual([3, -4, 5]);
    t.dispose();
    i.dispose();
  });

  it('blocks are 16-byte multiples with a 16-byte tail guard, by size class', () => {
    expect(blockSize(4)).toBe(32);
    expect(blockSize(16)).toBe(32);
    expect(blockSize(17)).toBe(48);
    for (const n of [300, 1000, 4097, 1e6]) {
      const b = blockSize(n);
      expect(b % 16).toBe(0);
      expect(b).toBeGreaterThanOrEqual(Math.ceil(n / 16) * 16 + 16);
      expect(b).toBeLessThanOrEqual(1.25 * (n + 32));
    }
  });

  it('freed blocks return to the pool at once and are reused in place', () => {
    const before = be.memoryInfo().pooledBytes;
    const size = be.memory.size;
    const a = zeros([1000], { device: 'wasm' });
    const ptr = (a.storage() as { ptr: number }).ptr;
    // pooledBytes: every byte of the heap not held by a tensor (free blocks, unused pages, scratch)
    expect(be.memoryInfo().pooledBytes).toBe(before - blockSize(4000));
    a.dispose();
    expect(be.memoryInfo().pooledBytes).toBe(before);
    expect(memory().devices.wasm!.pooledBytes).toBe(before);
    const b = zeros([990], { device: 'wasm' }); // the same block size
    expect((b.storage() as { ptr: number }).ptr).toBe(ptr);
    b.dispose();
    expect(be.memoryInfo().pooledBytes).toBe(before);
    expect(be.memory.size).toBe(size);
  });

  it('growing the memory re-creates the views; existing tensors keep their values', () => {
    const v = rand(1000, 2);
    const small = tensor(v, { device: 'wasm' });
    const size0 = be.memory.size;
    const bufBefore = be.memory.memory.buffer;
    // larger than everything allocated so far: forces memory.grow
    const big = full([Math.ceil(size0 / 4) + 1000], 1.5, { device: 'wasm' });
    expect(be.memory.size).toBeGreaterThan(size0);
    expect(be.memory.memory.buffer).not.toBe(bufBefore);
    expect(Array.from(small.dataSync())).toEqual(Array.from(v));
    const bv = big.dataSync();
    expect(bv[0]).toBe(1.5);
    expect(bv[bv.length - 1]).toBe(1.5);
    // kernels still write through fresh views
    const doubled = mul(small, 2);
    expect(doubled.dataSync()[7]).toBeCloseTo(2 * v[7]!, 6);
    for (const t of [small, big, doubled]) t.dispose();
  });

  it('asking for more than wasm32 can address throws an Error naming the op and the size', () => {
    expect(() => zeros([2 ** 30 + 1], { device: 'wasm' })).toThrow(/^fill: expected an allocation that fits the 4 GiB wasm32 memory .*got 4294967300 bytes/);
    const x = zeros([2], { device: 'wasm' });
    expect(() => engine.backend('wasm').pad(x.k('pad'), [0], [2 ** 31], 0)).toThrow(/^pad: expected an allocation that fits the 4 GiB/);
    x.dispose();
  });

  it('blocks above 2 GiB are written, computed on and read back (pointers are unsigned)', async () => {
    // A backend of its own, so that the shared one does not keep 2 GiB for the other tests.
    const big = await createWasmBackend();
    const pad = big.memory.alloc('test', 2 ** 31 + 2 ** 20); // pushes the next block past 2^31
    const v = rand(1000, 9);
    const s = big.upload(v, 'float32');
    expect(s.ptr).toBeGreaterThan(2 ** 31);
    const x = { storage: s, shape: [1000], dtype: 'float32' as const };
    expect(Array.from(big.readSync(x))).toEqual(Array.from(v));
    const y = big.unary('neg', x, []);
    expect(Array.from(big.readSync({ storage: y, shape: [1000], dtype: 'float32' }))).toEqual(Array.from(v, (a) => -a));
    big.release(y);
    big.release(s);
    big.release(pad);
    big.terminate();
  });

  it('float64 is rejected with a clear Error', () => {
    expect(() => tensor([1, 2], { dtype: 'float64', device: 'wasm' })).toThrow("wasm upload: expected dtype 'float32' or 'int32' (the wasm backend has no float64), got 'float64'");
    expect(() => full([2], 1, { dtype: 'float64', device: 'wasm' })).toThrow(/wasm fill: expected dtype 'float32' or 'int32'/);
    const x = zeros([2], { device: 'wasm' });
    expect(() => be.cast(x.k('cast') as never, 'float64')).toThrow(/wasm cast: expected dtype/);
    x.dispose();
  });

  it('the loader rejects a bad POSEGRAD_WASM_RELAXED_SIMD and bad thread counts', async () => {
    const prev = process.env.POSEGRAD_WASM_RELAXED_SIMD;
    process.env.POSEGRAD_WASM_RELAXED_SIMD = 'sometimes';
    try {
      await expect(createWasmBackend()).rejects.toThrow("wasm: expected POSEGRAD_WASM_RELAXED_SIMD to be 'auto', 'off' or 'v8-flag', got 'sometimes'");
    } finally {
      if (prev === undefined) delete process.env.POSEGRAD_WASM_RELAXED_SIMD;
      else process.env.POSEGRAD_WASM_RELAXED_SIMD = prev;
    }
    await expect(createWasmBackend({ threads: 0 })).rejects.toThrow('wasm: expected threads as an integer ≥ 1, got 0');
  });

  it('the loader picks a module and reports it', () => {
    expect(['posegrad.wasm', 'posegrad-relaxed.wasm']).toContain(be.moduleFile);
    expect(be.relaxedSimd).toBe(be.moduleFile === 'posegrad-relaxed.wasm');
  });

  it('a forward/backward step leaks no tensors and returns every block to the pool', () => {
    const w = tensor(rand(4 * 3 * 3 * 3, 3), { shape: [4, 3, 3, 3], device: 'wasm' }).requiresGrad_();
    const x = tensor(rand(2 * 3 * 8 * 8, 4), { shape: [2, 3, 8, 8], device: 'wasm' });
    const step = (): void => {
      tidy(() => sum(mul(conv2d(x, w, null, { padding: 1 }), 0.5)).backward());
      w.grad?.dispose();
      w.grad = null;
    };
    step();
    const m0 = memory().devices.wasm!;
    const size0 = be.memory.size;
    step();
    const m1 = memory().devices.wasm!;
    expect(m1.tensors).toBe(m0.tensors);
    expect(m1.bytes).toBe(m0.bytes);
    // the second step reuses pooled blocks: no growth
    expect(be.memory.size).toBe(size0);
    expect(m1.pooledBytes).toBe(m0.pooledBytes);
    w.dispose();
    x.dispose();
  });
});
