/**
 * The wasm backend's TLSF allocator (backends/wasm/memory.ts): block sizes and their waste,
 * immediate coalescing (freed neighbours serve a request of their sum in place), the issue-14
 * pattern scaled down (everything freed, then a large tensor and many 12 KB tensors fit without
 * growth), many small blocks, exhaustion errors (the requested size, the free total, the largest
 * free block; the 4 GiB limit), addresses and sizes above 2 GiB, a random trace checked for
 * overlaps, and a network's training step (peak heap close to peak live bytes).
 * Small memories are built here directly (a WebAssembly.Memory with a low maximum), so running out
 * costs no more than a few MiB.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { WasmBackend } from '../../backends/wasm/index.js';
import { MAX_BYTES, PAGE, Tlsf, WasmMemory, blockSize, type WasmStorage } from '../../backends/wasm/memory.js';
import { manualSeed, tidy } from '../../engine/engine.js';
import { tensor } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { RPSTN, rpstnPreset } from '../../models/rpstn/index.js';
import { rand, setupWasm } from './helpers.js';

const MiB = 2 ** 20;

/** A WasmMemory over a fresh memory of `initial` bytes that can grow to `maximum` bytes. */
function smallMemory(initial: number, maximum: number, heapBase = 1024): WasmMemory {
  return new WasmMemory(new WebAssembly.Memory({ initial: initial / PAGE, maximum: maximum / PAGE }), heapBase);
}

let be: WasmBackend;
beforeAll(async () => {
  be = await setupWasm();
});

describe('wasm allocator: block sizes', () => {
  it('blocks are 16-byte aligned, keep a 16-byte tail guard, and waste under 1/32 (under 4 KiB above 128 KiB)', () => {
    for (let n = 1; n < 300_000; n = Math.ceil(n * 1.013) + 3) {
      const b = blockSize(n);
      const need = Math.ceil(n / 16) * 16 + 16;
      expect(b % 16).toBe(0);
      expect(b).toBeGreaterThanOrEqual(need);
      expect(b - need).toBeLessThan(Math.min(4096, need / 32 + 16));
    }
    expect(blockSize(4)).toBe(32);
    expect(blockSize(17)).toBe(48);
    // tensors of nearly the same size share a block size, so they recycle each other's blocks
    expect(blockSize(3960)).toBe(blockSize(4000));
  });

  it('a 64 MiB power-of-two tensor takes 64 MiB + 4 KiB (0.006 % waste; the size classes took 80 MiB)', () => {
    expect(blockSize(64 * MiB)).toBe(64 * MiB + 4096);
    for (const p of [20, 22, 24, 26, 28, 30]) expect(blockSize(2 ** p) / 2 ** p - 1).toBeLessThan(0.01);
    const mem = smallMemory(MiB, 256 * MiB);
    const a = mem.alloc('test', 64 * MiB);
    const b = mem.alloc('test', 64 * MiB);
    expect(b.ptr - a.ptr).toBe(64 * MiB + 4096);
    expect(mem.size).toBeLessThanOrEqual(130 * MiB + 2 * MiB);
  });
});

describe('wasm allocator: coalescing', () => {
  it('two freed neighbours serve a request of their sum in place, without growing the memory', () => {
    const mem = smallMemory(16 * MiB, 64 * MiB);
    const x = mem.alloc('test', MiB - 16); // blocks of exactly 1 MiB
    const y = mem.alloc('test', MiB - 16);
    const z = mem.alloc('test', MiB - 16);
    expect([x.block, y.block, z.block]).toEqual([MiB, MiB, MiB]);
    expect(y.ptr).toBe(x.ptr + MiB);
    const size = mem.size;
    const blocks = mem.heap.freeBlocks;
    mem.release(y);
    mem.release(x);
    expect(mem.heap.freeBlocks).toBe(blocks + 1); // x and y merged into one block below z
    const xy = mem.alloc('test', 2 * MiB - 16);
    expect(xy.ptr).toBe(x.ptr);
    expect(mem.size).toBe(size);
    // freeing everything leaves one free block: the whole heap
    mem.release(xy);
    mem.release(z);
    expect(mem.heap.freeBlocks).toBe(1);
    expect(mem.largestFreeBlock).toBe(mem.size - mem.heap.base);
    expect(mem.pooledBytes).toBe(mem.size - mem.heap.base);
  });

  it('a block freed between two free blocks merges all three', () => {
    const mem = smallMemory(MiB, MiB);
    const s = [0, 1, 2, 3].map(() => mem.alloc('test', 1000));
    mem.release(s[0]!);
    mem.release(s[2]!);
    const before = mem.heap.freeBlocks;
    mem.release(s[1]!);
    expect(mem.heap.freeBlocks).toBe(before - 1);
    const big = mem.alloc('test', 3 * s[0]!.block - 16);
    expect(big.ptr).toBe(s[0]!.ptr);
  });

  it('the issue-14 pattern, scaled to a 64 MiB memory: fill it with mixed sizes, free all, then a 1/40-of-memory tensor and 1,000 tensors of 12 KB fit without growth', () => {
    const max = 64 * MiB;
    const mem = smallMemory(max, max);
    const live: WasmStorage[] = [];
    // sizes 24 KiB … 888 KiB (the 1.5 … 55 MiB over 64), filled until a request fails
    for (let k = 0; ; k++) {
      try {
        live.push(mem.alloc('fill', (1 + (k % 37)) * 24 * 1024 + 4 * (k % 5)));
      } catch {
        break;
      }
      if (k % 3 === 0) mem.release(live.shift()!); // churn
    }
    for (const s of live) mem.release(s);
    expect(mem.heap.liveBytes).toBe(0);
    expect(mem.heap.freeBlocks).toBe(1);
    const big = mem.alloc('big', Math.floor(max / 40)); // the 100 MiB of 4 GiB
    const small = Array.from({ length: 1000 }, () => mem.alloc('small', 12000));
    expect(mem.size).toBe(max);
    expect(new Set([big.ptr, ...small.map((s) => s.ptr)]).size).toBe(1001);
  });
});

describe('wasm allocator: many small blocks and random traces', () => {
  it('100,000 allocations of 12 KB and 64 B pack densely and coalesce back into one block', () => {
    const mem = smallMemory(16 * MiB, 2048 * MiB);
    const xs: WasmStorage[] = [];
    for (let i = 0; i < 100_000; i++) xs.push(mem.alloc('test', i % 2 ? 12000 : 64));
    const used = xs.reduce((a, s) => a + s.block, 0);
    expect(mem.heap.highWater - mem.heap.base).toBe(used);
    // free the 12 KB ones, then reuse their holes for 12 KB tensors again: no growth
    const size = mem.size;
    for (let i = 1; i < xs.length; i += 2) mem.release(xs[i]!);
    for (let i = 1; i < xs.length; i += 2) xs[i] = mem.alloc('test', 11990);
    expect(mem.size).toBe(size);
    for (const s of xs) mem.release(s);
    expect(mem.heap.freeBlocks).toBe(1);
  });

  it('a random trace never hands out overlapping blocks, keeps its byte counts and ends as one free block', () => {
    const heap = new Tlsf(4096, 4096 + 256 * MiB);
    let s = 12345;
    const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
    const live = new Map<number, number>();
    for (let step = 0; step < 20_000; step++) {
      if (live.size && rnd() < 0.48) {
        const keys = [...live.keys()];
        const p = keys[Math.floor(rnd() * keys.length)]!;
        expect(heap.free(p)).toBe(live.get(p));
        live.delete(p);
      } else {
        const size = blockSize(Math.floor(Math.exp(rnd() * Math.log(2 * MiB))));
        const p = heap.malloc(size);
        if (p < 0) continue;
        expect(p % 16).toBe(0);
        expect(p).toBeGreaterThanOrEqual(heap.base);
        expect(p + size).toBeLessThanOrEqual(heap.end);
        if (step % 97 === 0) for (const [q, n] of live) expect(p + size <= q || q + n <= p).toBe(true);
        live.set(p, size);
      }
      expect(heap.freeBytes + heap.liveBytes).toBe(heap.end - heap.base);
    }
    // a full overlap check of the final live set
    const sorted = [...live].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]![0]).toBeGreaterThanOrEqual(sorted[i - 1]![0] + sorted[i - 1]![1]);
    for (const p of live.keys()) heap.free(p);
    expect(heap.freeBlocks).toBe(1);
    expect(heap.largestFree).toBe(heap.end - heap.base);
  });

  it('releasing a block twice throws instead of corrupting the heap', () => {
    const mem = smallMemory(MiB, MiB);
    const a = mem.alloc('test', 100);
    mem.release(a);
    expect(() => mem.release(a)).toThrow(`wasm release: expected a live block at ${a.ptr}, got none (released twice?)`);
  });
});

describe('wasm allocator: exhaustion and limits', () => {
  it('a request that no free block holds and the memory cannot grow to names the size, the free total and the largest free block', () => {
    const mem = smallMemory(16 * MiB, 16 * MiB);
    const xs = Array.from({ length: 15 }, () => mem.alloc('test', MiB - 16));
    for (let i = 0; i < 14; i += 2) mem.release(xs[i]!); // 7 free 1 MiB holes, none adjacent; < 1 MiB left at the end
    expect(() => mem.alloc('conv2d', 2 * MiB)).toThrow(
      /^conv2d: expected 2097152 bytes \(2\.00 MiB\) of wasm memory \(largest free block 1\.00 MiB, 8\.\d\d MiB free in total in the 16\.00 MiB memory\), got a failed memory\.grow: /,
    );
  });

  it('past wasm32 4 GiB the Error names the limit, the free total and the largest free block', () => {
    expect(() => be.memory.alloc('relu', 2 ** 32)).toThrow(
      /^relu: expected an allocation that fits the 4 GiB wasm32 memory \(largest free block [\d.]+ GiB, [\d.]+ GiB free in total, counting the [\d.]+ GiB the memory can still grow\), got 4294967296 bytes \(4\.00 GiB\)$/,
    );
  });

  it('addresses and block sizes above 2 GiB map to the right lists (pure bookkeeping, no memory)', () => {
    const base = MiB;
    const heap = new Tlsf(base, MAX_BYTES);
    const a = heap.malloc(2 ** 31); // a 2 GiB block
    const b = heap.malloc(1.5 * 2 ** 30);
    const c = heap.malloc(16 * MiB);
    expect([a, b, c]).toEqual([base, base + 2 ** 31, base + 3.5 * 2 ** 30]);
    heap.free(a);
    expect(heap.malloc(2 ** 31 + MiB)).toBe(-1); // the hole is 2 GiB, the tail under 0.5 GiB
    expect(heap.malloc(2 ** 31)).toBe(base);
    heap.free(base);
    heap.free(c); // merges with the tail
    heap.free(b); // merges with both
    expect(heap.freeBlocks).toBe(1);
    expect(heap.largestFree).toBe(MAX_BYTES - base);
    expect(heap.malloc(MAX_BYTES - base)).toBe(base);
  });
});

describe('wasm allocator: networks', () => {
  it('RPSTN tiny training steps on wasm: the heap stays within 1.25x the peak live bytes, and a second step does not grow it', () => {
    // This file's shared backend has held nothing else (the tests above use memories of their own).
    const mem = be.memory;
    manualSeed(3);
    const m = new RPSTN(rpstnPreset('tiny'));
    m.to('wasm');
    const x = tensor(rand(1 * 3 * 3 * 128 * 128, 7), { shape: [1, 3, 3, 128, 128], device: 'wasm' });
    const step = (): void => {
      tidy(() => sum(mul(m.forward(x), 0.5)).backward());
      for (const p of m.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
    };
    step();
    const size = mem.size;
    const live = mem.heap.liveBytes;
    step();
    expect(mem.size).toBe(size);
    expect(mem.heap.liveBytes).toBe(live);
    expect(mem.heap.end).toBe(mem.size);
    expect(mem.heap.freeBytes + mem.heap.liveBytes).toBe(mem.size - mem.heap.base);
    expect((mem.heap.highWater - mem.heap.base) / mem.heap.peakLiveBytes).toBeLessThan(1.25);
    x.dispose();
    m.dispose();
  });
});
