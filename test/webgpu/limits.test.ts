/**
 * webgpu device limits (backends/webgpu/runtime.ts, "Device limits", docs/webgpu.md):
 * - the device is created with the adapter's limits (unless `requiredLimits` is given);
 * - tensors above the binding limit run in chunks over binding windows: a backend whose binding
 *   limit is lowered to 64 KiB (the test hook `maxBindingBytes`) runs every chunked family on
 *   small tensors (tens of KiB to a few hundred), checked against cpu float64 (outputs and, through
 *   autograd, gradients) and checked to have taken the windowed path;
 * - grids above the per-dimension workgroup limit are folded: a backend whose limit is lowered to
 *   16 (`maxWorkgroupsPerDimension`) runs every kernel family, forward and backward, against cpu;
 * - errors: a kernel without the chunked path names the op, the bytes and the limit, at the op's
 *   call, and frees what the op allocated; driver validation errors name the op;
 * - device loss: `lost`, and the Error of every entry point afterwards.
 * Tolerances are those of the op suite (test/ops/*) for the same ops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../backends/webgpu/index.js';
import { grid, grid3, stridedSpan, Uniforms, type GPUStorage } from '../../backends/webgpu/runtime.js';
import { adapterLimits } from '../../backends/webgpu/device.js';
import { matmulWithTile, STREAM_LARGE, TEXTURE_LARGE, TILE_LARGE } from '../../backends/webgpu/kernels/matmul.js';
import { scaledDotProductAttention as sdpa } from '../../ops/attention.js';
import { conv2d } from '../../ops/conv.js';
import { deformConv2d } from '../../ops/deform-conv.js';
import * as E from '../../ops/elementwise.js';
import { batchNorm2d, layerNorm } from '../../ops/normalization.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../../ops/pooling.js';
import * as R from '../../ops/reduce.js';
import { gridSample, interpolate } from '../../ops/resample.js';
import * as SH from '../../ops/shape.js';
import { logSoftmax, softmax } from '../../ops/softmax.js';
import { f, fixed, i32, parityOn, rand, type In } from '../helpers/backends.js';
import { assertClose, type Tol } from '../helpers/close.js';
import { gpu, gpuAvailable } from './helpers.js';

const EXACT: Tol = { atol: 0, rtol: 0 };
const TIGHT: Tol = { atol: 1e-6, rtol: 1e-6 };
const TRANS: Tol = { atol: 1e-5, rtol: 1e-4 };
const SUM: Tol = { atol: 1e-5, rtol: 1e-5 };
const CONV: Tol = { atol: 5e-5, rtol: 1e-4 };
const NORM: Tol = { atol: 2e-5, rtol: 1e-4 };
const NORM_BWD: Tol = { atol: 1e-4, rtol: 1e-4 };
/** Many pipelines compile on lavapipe (2 busy cores, maybe a cold shader cache). */
const SLOW = 600_000;

/** The backend's cast (as the op suite's elementwise test). */
const cast = (x: P.Tensor, dtype: 'int32' | 'float32'): P.Tensor => P.Tensor.fromStorage(x.device, P.engine.backend(x.device).cast(x.k('cast'), dtype), x.shape, dtype);

/** Bytes in use (allocated minus pooled) on a backend. */
const inUse = (b: WebGPUBackend): number => b.rt.allocatedBytes - b.rt.pooledBytes;

describe.skipIf(!gpuAvailable)('webgpu device limits', () => {
  it('the device gets every limit at the adapter\'s value', () => {
    const rt = gpu!.rt;
    const want = adapterLimits(rt.info.adapter);
    for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage', 'minStorageBufferOffsetAlignment', 'maxTextureDimension2D']) {
      expect(want[k], k).toBeTypeOf('number');
      expect((rt.device.limits as unknown as Record<string, number>)[k], k).toBe(want[k]);
    }
    expect(rt.maxBindingBytes).toBe(Math.floor(Math.min(want.maxStorageBufferBindingSize!, want.maxBufferSize!) / rt.storageAlign) * rt.storageAlign);
    expect(rt.maxWorkgroups).toBe(want.maxComputeWorkgroupsPerDimension);
  });

  it('requiredLimits replaces that request (the other limits keep WebGPU\'s defaults)', async () => {
    const b = (await createWebGPUBackend({ requiredLimits: {} })) as WebGPUBackend;
    try {
      // WebGPU's defaults: 256 MiB buffers, 8 storage buffers per stage
      expect(b.rt.device.limits.maxBufferSize).toBe(268435456);
      expect(b.rt.device.limits.maxStorageBuffersPerShaderStage).toBe(8);
    } finally {
      b.destroy();
    }
  });

  it('grid folds any count into 1-3 dimensions within the limit', () => {
    const rt = { maxWorkgroups: 16, opName: 'someOp' } as unknown as Parameters<typeof grid>[0];
    for (let g = 1; g <= 4096; g += g < 300 ? 1 : 37) {
      const [x, y, z] = grid(rt, g);
      expect(Math.max(x, y, z)).toBeLessThanOrEqual(16);
      expect(x * y * z).toBeGreaterThanOrEqual(g);
      // no wasted plane: removing one row (or slice) would not hold g
      expect(z > 1 ? x * y * (z - 1) : y > 1 ? x * (y - 1) : x - 1).toBeLessThan(g);
    }
    expect(() => grid(rt, 4097)).toThrow(/^someOp: expected at most 4096 workgroups \(16 per dimension\) in a 1-D dispatch, got 4097$/);
    const u = new Uniforms().u32('n', 1);
    expect(grid3(rt, u, [7, 5, 3])).toEqual([15, 7, 1]);
    expect(u.struct('P')).toContain('pg_gx: u32,\n  pg_gy: u32,\n  pg_gn: u32,');
  });

  it('stridedSpan bounds every element a range of a strided read touches', () => {
    const cases: [number[], number[], number][] = [[[4, 5, 6], [30, 6, 1], 0], [[5, 4], [1, 5], 0], [[3, 4, 5], [0, 5, 1], 0], [[3, 7], [-7, 1], 14], [[6, 2, 3], [1, 0, -6], 12]];
    for (const [shape, strides, base] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const at = (i: number): number => {
        let off = base;
        for (let d = shape.length - 1; d >= 0; d--) {
          off += (i % shape[d]!) * strides[d]!;
          i = Math.floor(i / shape[d]!);
        }
        return off;
      };
      for (let i0 = 0; i0 < n; i0 += 3) {
        for (let i1 = i0 + 1; i1 <= n; i1 += 5) {
          const [lo, hi] = stridedSpan(shape, strides, base, i0, i1);
          for (let i = i0; i < i1; i++) {
            expect(at(i)).toBeGreaterThanOrEqual(lo);
            expect(at(i)).toBeLessThan(hi);
          }
          if (i1 === i0 + 1) expect([lo, hi]).toEqual([at(i0), at(i0) + 1]);
        }
      }
    }
  });
});

// ------------------------------------------------------------------------------ binding windows

describe.skipIf(!gpuAvailable)('webgpu: tensors above the binding limit (lowered to 64 KiB)', { timeout: SLOW }, () => {
  let b: WebGPUBackend;
  beforeAll(async () => {
    b = (await createWebGPUBackend({ maxBindingBytes: 64 * 1024 })) as WebGPUBackend;
  });
  afterAll(() => b?.destroy());
  /** parity on the windowed backend; the family must have bound windows. */
  async function check(label: string, fn: (...xs: P.Tensor[]) => P.Tensor | P.Tensor[], inputs: In[], tol: Tol, opts: { bwd?: Tol; grad?: boolean } = {}): Promise<void> {
    const before = b.rt.stats.windowedDispatches;
    await parityOn(b, 'webgpu', label, fn, inputs, tol, opts);
    expect(b.rt.stats.windowedDispatches, `${label}: dispatches over binding windows`).toBeGreaterThan(before);
  }

  it('the limit is lowered (and the test tensors are above it)', () => {
    expect(b.rt.maxBindingBytes).toBe(65536);
    expect(300 * 257 * 4).toBeGreaterThan(65536);
  });

  it('unary, binary (broadcast, a broadcast input above the limit), where, cast, fill', async () => {
    await check('unary', (x) => [E.exp(x), E.relu(x), E.sigmoid(x)], [f([300, 257], 1, -3, 3)], TRANS);
    await check('binary full', (x, y) => E.mul(x, y), [f([300, 257], 2), f([300, 257], 3)], TIGHT);
    await check('binary [300, 257] + [257]', (x, y) => E.add(x, y), [f([300, 257], 4), f([257], 5)], TIGHT);
    await check('binary [300, 1] · [1, 257]', (x, y) => E.mul(x, y), [f([300, 1], 6), f([1, 257], 7)], TIGHT);
    await check('binary [2, 40000] - [40000]', (x, y) => E.sub(x, y), [f([2, 40000], 8), f([40000], 9)], TIGHT);
    await check('binary [40, 1, 150] + [1, 130, 150]', (x, y) => E.add(x, y), [f([40, 1, 150], 10), f([1, 130, 150], 11)], TIGHT, { bwd: SUM });
    await check('where', (c, x, y) => E.where(E.gt(c, 0), x, y), [fixed([300, 257], 12), f([257], 13), f([300, 257], 14)], TIGHT, { bwd: SUM });
    await check('cast f32 -> i32 -> f32', (x) => [cast(x, 'int32'), cast(cast(x, 'int32'), 'float32')], [fixed([300, 257], 15, -100, 100)], EXACT, { grad: false });
    await check('fill', (x) => E.add(x, P.full(x.shape, 2.5, { device: x.device, dtype: x.dtype })), [f([300, 257], 16)], TIGHT);
    await check('int32 ops', (x, y) => [E.add(x, y), E.maximum(x, y), E.neg(x)], [i32([70000], Array.from({ length: 70000 }, (_, i) => (i * 7919) % 20011 - 10000)), i32([70000], Array.from({ length: 70000 }, (_, i) => (i * 104729) % 30011 - 15000))], EXACT, { grad: false });
  });

  it('reductions: rows, columns, the whole tensor, a reduced axis split in ranges; arg/cum/topk', async () => {
    await check('sum/max/prod dim 1', (x) => [R.sum(x, 1), R.max(x, 1), R.prod(E.add(E.mul(x, 0.2), 1), 1)], [f([300, 257], 20)], { atol: 1e-5, rtol: 2e-5 }, { bwd: SUM });
    await check('sum/min dim 0', (x) => [R.sum(x, 0), R.min(x, 0)], [f([300, 257], 21)], SUM);
    // inner = 40000 > the binding: every output reads one value per window, the axis in 4 ranges
    await check('sum/max dim 0 of [4, 40000]', (x) => [R.sum(x, 0), R.max(x, 0)], [f([4, 40000], 22)], SUM);
    await check('sum of everything', (x) => R.sum(x), [f([300, 257], 23)], { atol: 2e-4, rtol: 1e-5 }, { grad: false });
    await check('mean dim 1 of [3, 30000, 2]', (x) => R.mean(x, 1), [f([3, 30000, 2], 24)], SUM, { grad: false });
    // arg-reductions and scans split over lines: a line (a [size, inner] slab) must fit a binding
    await check('argmax', (x) => [R.argmax(x, 1), R.argmin(x, 1)], [fixed([300, 257], 25)], EXACT, { grad: false });
    await check('argmax strided', (x) => R.argmax(x, 1), [fixed([3, 300, 40], 34)], EXACT, { grad: false });
    await check('cumsum', (x) => R.cumsum(x, 1), [f([300, 257], 26)], { atol: 1e-4, rtol: 1e-5 }, { grad: false });
    await check('cumsum strided', (x) => R.cumsum(x, 1), [f([3, 300, 40], 35)], { atol: 1e-4, rtol: 1e-5 }, { grad: false });
    await check('cumsum long rows', (x) => R.cumsum(x, 1), [f([40, 1000], 27)], { atol: 1e-4, rtol: 1e-5 }, { grad: false });
    await check('topk', (x) => { const r = SH.topk(x, 5, 1); return [r.values, r.indices]; }, [fixed([300, 257], 28)], EXACT, { grad: false });
    await check('topk long rows', (x) => { const r = SH.topk(x, 3, 1, false); return [r.values, r.indices]; }, [fixed([10, 3000], 29)], EXACT, { grad: false });
  });

  it('copies: transpose, strided slice, flip, concat', async () => {
    await check('transpose', (x) => SH.transpose(x, 0, 1), [f([300, 257], 30)], EXACT);
    await check('slice step 2, flip', (x) => [SH.slice(x, 1, 1, null, 2), SH.flip(x, [0, 1])], [f([300, 257], 31)], EXACT, { grad: false });
    await check('concat dim 1, dim 0', (x, y) => [SH.concat([x, y], 1), SH.concat([x, x], 0)], [f([300, 100], 32), f([300, 157], 33)], EXACT);
  });

  it('batchNorm (eval) and conv2d forward and backward, split over the batch', async () => {
    const C = 16;
    const rm = fixed([C], 40, -0.5, 0.5);
    const rv = fixed([C], 41, 0.5, 2);
    await check('batchNorm eval', (x, m, v, w, bb) => batchNorm2d(x, m!, v!, w!, bb!, { training: false }), [f([4, C, 40, 40], 42), rm, rv, fixed([C], 43), fixed([C], 44)], NORM, { grad: false });
    // one image of x is 18 KiB, of y 36 KiB: 6 chunks of one image; backward weight adds them up
    await check('conv2d 3x3', (x, w, bb) => conv2d(x, w, bb, { padding: 1 }), [f([6, 8, 24, 24], 45), f([16, 8, 3, 3], 46), f([16], 47)], CONV);
    await check('conv2d stride 2', (x, w) => conv2d(x, w, null, { stride: 2, padding: 1 }), [f([6, 8, 48, 24], 48), f([16, 8, 3, 3], 49)], CONV);
    await check('conv2d depthwise', (x, w) => conv2d(x, w, null, { padding: 1, groups: 16 }), [f([6, 16, 24, 24], 50), f([16, 1, 3, 3], 51)], CONV);
  });

  it('matmul: blocks of rows, blocks of batches, transposed operands', async () => {
    const MM: Tol = { atol: 2e-5, rtol: 1e-4 };
    // B's gradient Aᵀ·dC would bind dC [300, 60] (72 KB) whole as its B: matmul splits A and C only
    await parityOn(b, 'webgpu', 'A [300, 257] (row blocks)', (x, y) => P.matmul(x, y), [f([300, 257], 52), fixed([257, 60], 53)], MM);
    await parityOn(b, 'webgpu', 'Aᵀ [257, 300]', (x, y) => P.matmul(SH.transpose(x, 0, 1), y), [f([257, 300], 54), f([257, 30], 55)], MM);
    await parityOn(b, 'webgpu', 'bmm batch blocks', (x, y) => P.bmm(x, y), [f([20, 30, 40], 56), f([20, 40, 50], 57)], MM);
    await parityOn(b, 'webgpu', 'broadcast B, C above the limit', (x, y) => P.matmul(x, y), [f([6, 40, 30], 58), fixed([30, 90], 59)], MM);
    expect(() => P.tidy(() => {
      P.engine.registerBackend(b);
      try {
        P.matmul(P.ones([2, 300], { device: 'webgpu' }), P.ones([300, 60], { device: 'webgpu' }));
      } finally {
        P.engine.registerBackend(gpu!);
      }
    })).toThrow(/^matmul: expected at most 65536 bytes .*got 72000 bytes \(one matrix of B is 72000 bytes; matmul splits A and C into row blocks only\)/);
  });

  it('softmax, layerNorm, pooling, interpolate, gridSample: chunks of rows, planes or images (views)', async () => {
    // rows of 257 floats: 4 rows per aligned step (16-byte windows), 60 rows per chunk; backward too
    await check('softmax rows', (x) => [softmax(x, 1), logSoftmax(x, 1)], [f([300, 257], 60)], { atol: 1e-6, rtol: 1e-4 });
    // [8, 40, 300] over dim 1: one outer slice is 48,000 bytes, one per chunk
    await check('softmax strided', (x) => softmax(x, 1), [f([8, 40, 300], 61)], { atol: 1e-6, rtol: 1e-4 });
    // layerNorm's backward sums over every row (dγ, dβ) and is not split: forward only
    await check('layerNorm', (x, w, bb) => layerNorm(x, 257, w, bb), [f([300, 257], 62), f([257], 63, 0.5, 1.5), f([257], 64)], NORM, { grad: false });
    await check('maxPool2d', (x) => maxPool2d(x, 2), [f([2, 8, 40, 40], 65)], EXACT, { bwd: { atol: 1e-5, rtol: 1e-5 } });
    await check('avgPool2d, adaptive', (x) => [avgPool2d(x, 3, { stride: 2, padding: 1 }), adaptiveAvgPool2d(x, [7, 5])], [f([2, 8, 40, 40], 66)], { atol: 1e-6, rtol: 1e-5 }, { bwd: { atol: 1e-5, rtol: 1e-5 } });
    await check('interpolate bilinear', (x) => interpolate(x, { size: [80, 72], mode: 'bilinear' }), [f([2, 4, 40, 40], 67)], { atol: 1e-5, rtol: 1e-4 }, { bwd: { atol: 2e-6, rtol: 1e-5 } });
    await check('interpolate nearest', (x) => interpolate(x, { size: [20, 30], mode: 'nearest' }), [f([2, 8, 40, 40], 68)], EXACT, { grad: false });
    // x [3, 24, 16, 16] and the output [3, 24, 16, 16] are 72 KiB, one image 24 KiB: chunks of two images
    await check('gridSample', (x, g) => gridSample(x, g), [f([3, 24, 16, 16], 69), f([3, 16, 16, 2], 70, -1.1, 1.1)], { atol: 1e-5, rtol: 1e-4 }, { bwd: { atol: 1e-4, rtol: 1e-4 } });
  });

  it('deformConv2d and attention: chunks of images, of (batch, head) pairs, of batches with a mask', async () => {
    // x [6, 8, 24, 24] (108 KiB), offsets 243 KiB: one image per chunk; backward not split
    await check('deformConv2d', (x, off, w, m) => deformConv2d(x, off, w, null, { padding: 1, mask: m }), [f([6, 8, 24, 24], 71), f([6, 18, 24, 24], 72, -1.5, 1.5), f([8, 8, 3, 3], 73), f([6, 9, 24, 24], 74, 0, 1)], { atol: 1e-4, rtol: 1e-4 }, { grad: false });
    // q, k, v [4, 2, 80, 32] are 80 KiB each; the mask [4, 1, 80, 80] 100 KiB (split with the batches)
    await check('sdpa', (q, k, v) => sdpa(q, k, v), [f([4, 2, 80, 32], 75), f([4, 2, 80, 32], 76), f([4, 2, 80, 32], 77)], { atol: 1e-5, rtol: 1e-4 }, { grad: false });
    await check('sdpa masked', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [f([4, 2, 80, 32], 78), f([4, 2, 80, 32], 79), f([4, 2, 80, 32], 80), f([4, 1, 80, 80], 81, -2, 0)], { atol: 1e-5, rtol: 1e-4 }, { grad: false });
    // a mask shared by the batches is bound whole
    await check('sdpa shared mask', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [f([4, 2, 80, 32], 82), f([4, 2, 80, 32], 83), f([4, 2, 80, 32], 84), f([1, 2, 80, 80], 85, -2, 0)], { atol: 1e-5, rtol: 1e-4 }, { grad: false });
  });

  it('pad, gather, indexSelect, scatterAdd (gather\'s backward): ranges of output elements over windows', async () => {
    await check('pad', (x) => SH.pad(x, [1, 2, 3, 4], 0.5), [f([300, 257], 86)], EXACT);
    await check('pad int32', (x) => SH.pad(x, [0, 0, 2, 1], 7), [i32([300, 60], Array.from({ length: 18000 }, (_, k) => (k * 31) % 1000 - 500))], EXACT, { grad: false });
    // gather along dim 1: [300, 100] indices into rows of 257; its backward is scatterAdd over [300, 257]
    await check('gather', (x, i) => SH.gather(x, 1, i!), [f([300, 257], 87), i32([300, 100], Array.from({ length: 30000 }, (_, k) => (k * 7919) % 257))], EXACT, { bwd: SUM });
    await check('indexSelect dim 1', (x, j) => SH.indexSelect(x, 1, j!), [f([300, 257], 88), i32([100], Array.from({ length: 100 }, (_, k) => (k * 13) % 257))], EXACT, { bwd: SUM });
  });

  it('an op without the chunked path throws at its call, naming the op, the bytes and the limit, and frees what it allocated', async () => {
    P.engine.registerBackend(b);
    try {
      await b.sync();
      const x = P.tensor(rand(300 * 257, 60), { shape: [300, 257], device: 'webgpu' });
      const used = inUse(b);
      // batchNorm's training statistics are not split
      const x4 = P.tensor(rand(300 * 257, 61), { shape: [300, 257, 1, 1], device: 'webgpu' });
      const used4 = inUse(b);
      expect(() => batchNorm2d(x4, null, null, null, null, { training: true })).toThrow(/^batchNormStats: expected at most 65536 bytes per tensor bound by a webgpu kernel \(the device's maxStorageBufferBindingSize is \d+, lowered to 65536 by the maxBindingBytes option\), got 308400 bytes \(kernel 'batchNormStats', binding 0\)/);
      expect(inUse(b)).toBe(used4);
      x4.dispose();
      // a split op whose single slice is above the limit: softmax over rows of 20,000 floats
      const wide = P.tensor(rand(2 * 20000, 62), { shape: [2, 20000], device: 'webgpu' });
      const usedW = inUse(b);
      expect(() => softmax(wide, 1)).toThrow(/^softmax: expected at most 65536 bytes .*got 160000 bytes \(one outer slice of it takes 80000 bytes; this op splits only over outer slices\)/);
      expect(inUse(b)).toBe(usedW);
      wide.dispose();
      expect(inUse(b)).toBe(used);
      // argmax over dim 0 of [300, 257]: one output reads a column spanning the whole tensor
      expect(() => R.argmax(x, 0)).toThrow(/^argmax: expected at most 65536 bytes .*got 308400 bytes \(one output element reads a span of 307376 bytes of it\)/);
      expect(inUse(b)).toBe(used);
      // the runtime is still usable
      const y = R.sum(x);
      expect(Number((await y.data())[0])).toBeCloseTo(rand(300 * 257, 60).reduce((s, v) => s + v, 0), 1);
      for (const t of [x, y]) t.dispose();
    } finally {
      P.engine.registerBackend(gpu!);
    }
  });
});

// ------------------------------------------------------------------------------ folded grids

describe.skipIf(!gpuAvailable)('webgpu: grids above the workgroup limit (lowered to 16 per dimension)', { timeout: SLOW }, () => {
  let b: WebGPUBackend;
  beforeAll(async () => {
    b = (await createWebGPUBackend({ maxWorkgroupsPerDimension: 16 })) as WebGPUBackend;
  });
  afterAll(() => b?.destroy());
  const on = (label: string, fn: (...xs: P.Tensor[]) => P.Tensor | P.Tensor[], inputs: In[], tol: Tol, opts: { bwd?: Tol; grad?: boolean } = {}): Promise<void> =>
    parityOn(b, 'webgpu', label, fn, inputs, tol, opts);

  it('a raw dispatch above the limit throws at once, naming the op and the kernel', () => {
    expect(b.rt.maxWorkgroups).toBe(16);
    expect(() => b.rt.op('someOp', () => b.rt.run({ name: 'k', key: 'test:k', code: () => '', bindings: [], workgroups: [17] }))).toThrow(/^webgpu: someOp: kernel 'k': expected workgroup counts ≤ 16, got \[17, 1, 1\]$/);
  });

  it('elementwise, reductions, scans, top-k, copies', async () => {
    await on('unary/binary', (x, y) => E.mul(E.tanh(x), y), [f([64, 257], 1), f([257], 2)], TRANS, { bwd: SUM });
    await on('sum rows (workgroup per row)', (x) => R.sum(x, 1), [f([600, 70], 3)], SUM);
    await on('max columns (thread per output)', (x) => R.max(x, 0), [f([20, 5000], 4)], EXACT, { bwd: SUM });
    await on('sum of everything (chunk partials)', (x) => R.sum(x), [f([40000], 5)], { atol: 2e-4, rtol: 1e-5 }, { grad: false });
    await on('argmax', (x) => [R.argmax(x, 1), R.argmin(x, 0)], [fixed([600, 70], 6)], EXACT, { grad: false });
    await on('cumsum', (x, y) => [R.cumsum(x, 1), R.cumsum(y, 0)], [f([40, 600], 7), f([30, 5000], 8)], { atol: 1e-4, rtol: 1e-5 }, { grad: false });
    await on('topk', (x, y) => { const r = SH.topk(x, 4, 1); const s = SH.topk(y, 2, 1, false); return [r.values, r.indices, s.values, s.indices]; }, [fixed([100, 20], 9), fixed([20, 2100], 10)], EXACT, { grad: false });
    await on('permute, pad, concat', (x, y) => [SH.permute(x, [2, 0, 1]), SH.pad(x, [1, 2, 0, 1], 0.5), SH.concat([x, y], 1)], [f([20, 30, 40], 11), f([20, 10, 40], 12)], EXACT);
    await on('gather, indexSelect', (x, i, j) => [SH.gather(x, 1, i!), SH.indexSelect(x, 0, j!)], [f([300, 40], 13), i32([300, 30], Array.from({ length: 9000 }, (_, k) => (k * 7) % 40)), i32([200], Array.from({ length: 200 }, (_, k) => (k * 13) % 300))], EXACT, { bwd: SUM });
  });

  it('matmul (every tile kind) and attention', async () => {
    // each tile kind directly (P.matmul picks one per adapter): 300 rows are 19 to 38 row tiles
    const M = 300, K = 20, N = 40;
    const av = rand(M * K, 20);
    const bv = rand(K * N, 21);
    const cpu = P.engine.backend('cpu');
    const want = cpu.matmul({ storage: cpu.upload(av, 'float32'), shape: [1, M, K], dtype: 'float32' }, { storage: cpu.upload(bv, 'float32'), shape: [1, K, N], dtype: 'float32' }, { transA: false, transB: false }) as Float32Array;
    for (const tile of [TILE_LARGE, STREAM_LARGE, TEXTURE_LARGE]) {
      const a = { storage: b.upload(av, 'float32'), shape: [1, M, K], dtype: 'float32' as const };
      const w = { storage: b.upload(bv, 'float32'), shape: [1, K, N], dtype: 'float32' as const };
      const c = matmulWithTile(b.rt, a, w, { transA: false, transB: false }, tile);
      assertClose(new Float32Array(await b.rt.read(c)), want, { atol: 2e-5, rtol: 1e-4 }, `matmul tile ${tile.kind}`);
      for (const st of [a.storage, w.storage, c]) b.release(st);
    }
    await on('matmul 300x40x20', (x, y) => P.matmul(x, y), [f([300, 20], 20), f([20, 40], 21)], { atol: 2e-5, rtol: 1e-4 });
    await on('bmm batch 20', (x, y) => P.bmm(x, y), [f([20, 9, 7], 22), f([20, 7, 5], 23)], { atol: 2e-5, rtol: 1e-4 });
    await on('sdpa B·H = 20', (q, k, v) => sdpa(q, k, v), [f([4, 5, 10, 8], 24), f([4, 5, 12, 8], 25), f([4, 5, 12, 6], 26)], { atol: 1e-5, rtol: 1e-4 }, { bwd: { atol: 3e-5, rtol: 2e-4 } });
  });

  it('conv2d (implicit GEMM, direct), deformConv2d', async () => {
    await on('conv2d gemm', (x, w, bb) => conv2d(x, w, bb, { padding: 1 }), [f([2, 4, 20, 20], 30), f([8, 4, 3, 3], 31), f([8], 32)], CONV);
    await on('conv2d depthwise', (x, w) => conv2d(x, w, null, { padding: 1, groups: 20 }), [f([2, 20, 10, 10], 33), f([20, 1, 3, 3], 34)], CONV);
    await on('deformConv2d', (x, off, w, m) => deformConv2d(x, off, w, null, { padding: 1, mask: m }), [f([18, 2, 5, 5], 35), f([18, 18, 5, 5], 36, -1.5, 1.5), f([3, 2, 3, 3], 37), f([18, 9, 5, 5], 38, 0, 1)], { atol: 1e-4, rtol: 1e-4 }, { bwd: { atol: 2e-4, rtol: 2e-4 } });
  });

  it('pooling, resampling, softmax, normalization', async () => {
    await on('maxPool2d', (x) => maxPool2d(x, 2), [f([2, 8, 40, 40], 40)], EXACT, { bwd: { atol: 1e-5, rtol: 1e-5 } });
    await on('avgPool2d, adaptive', (x) => [avgPool2d(x, 3, { stride: 2, padding: 1 }), adaptiveAvgPool2d(x, [7, 5])], [f([2, 8, 40, 40], 41)], { atol: 1e-6, rtol: 1e-5 }, { bwd: { atol: 1e-5, rtol: 1e-5 } });
    await on('interpolate', (x) => interpolate(x, { size: [40, 36], mode: 'bilinear' }), [f([2, 4, 20, 20], 42)], { atol: 1e-5, rtol: 1e-4 }, { bwd: { atol: 2e-6, rtol: 1e-5 } });
    await on('gridSample', (x, g) => gridSample(x, g), [f([2, 3, 16, 16], 43), f([2, 30, 30, 2], 44, -1.1, 1.1)], { atol: 1e-5, rtol: 1e-4 }, { bwd: { atol: 1e-4, rtol: 1e-4 } });
    await on('softmax rows', (x) => [softmax(x, 1), logSoftmax(x, 1)], [f([20, 300], 45)], { atol: 1e-6, rtol: 1e-4 });
    await on('softmax strided', (x) => softmax(x, 1), [f([8, 10, 600], 46)], { atol: 1e-6, rtol: 1e-4 });
    await on('layerNorm', (x, w, bb) => layerNorm(x, 16, w, bb), [f([300, 16], 47), f([16], 48, 0.5, 1.5), f([16], 49)], NORM, { bwd: NORM_BWD });
    await on('batchNorm train', (x, w, bb) => batchNorm2d(x, null, null, w, bb, { training: true }), [f([4, 20, 10, 10], 50), f([20], 51, 0.5, 1.5), f([20], 52)], NORM, { bwd: NORM_BWD });
  });
});

// ------------------------------------------------------------------------------ real-size grids

describe.skipIf(!gpuAvailable)('webgpu: real grids above 65,535 workgroups (the device\'s own limits)', { timeout: SLOW }, () => {
  it('matmul with 600,000 rows, conv2d on a 1024×1024 output, attention over 70,000 (batch, head) pairs', async () => {
    const on = (label: string, fn: (...xs: P.Tensor[]) => P.Tensor | P.Tensor[], inputs: In[], tol: Tol, opts: { bwd?: Tol; grad?: boolean } = {}): Promise<void> =>
      parityOn(gpu!, 'webgpu', label, fn, inputs, tol, opts);
    expect(gpu!.rt.maxWorkgroups).toBe(65535);
    // 75,000 row tiles of 8 (the stream tile: A does not fit a texture)
    await on('matmul [600000, 4]·[4, 4]', (x, y) => P.matmul(x, y), [fixed([600000, 4], 1), fixed([4, 4], 2)], { atol: 2e-5, rtol: 1e-4 }, { grad: false });
    // 65,536 row tiles of 16 pixels, forward and backward input
    await on('conv2d 1024×1024', (x, w) => conv2d(x, w, null, { padding: 1 }), [f([1, 1, 1024, 1024], 3), fixed([5, 1, 3, 3], 4)], CONV);
    await on('sdpa B·H = 70,000', (q, k, v) => sdpa(q, k, v), [fixed([70000, 1, 2, 4], 5), fixed([70000, 1, 3, 4], 6), fixed([70000, 1, 3, 4], 7)], { atol: 1e-5, rtol: 1e-4 }, { grad: false });
  });
});

// ------------------------------------------------------------------------------ errors and device loss

describe.skipIf(!gpuAvailable)('webgpu: errors name the op; device loss', () => {
  it('a validation error of an op\'s dispatch names the op at the next sync', async () => {
    const rt = gpu!.rt;
    await rt.sync();
    const out = rt.alloc(16);
    rt.op('myOp', () => rt.run({
      name: 'myKernel',
      key: 'test:limits:missingBinding',
      code: () => `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = 1.0; z[0] = 2.0; }`,
      bindings: [out],
      workgroups: [1],
    }));
    await expect(rt.sync()).rejects.toThrow(/^webgpu: myOp: kernel 'myKernel' failed/);
    rt.free(out);
  });

  it('an out-of-range buffer size is refused at the op\'s call', () => {
    const rt = gpu!.rt;
    expect(() => rt.op('hugeOp', () => rt.alloc(rt.limits.maxBufferSize + 4))).toThrow(/^hugeOp: expected at most \d+ bytes per tensor on this webgpu device \(maxBufferSize\), got \d+ bytes$/);
  });

  it('after device.destroy(): lost is true and every entry point throws the clear Error', async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    const s = b.upload(Float32Array.from([1, 2, 3, 4]), 'float32');
    const t = { storage: s, shape: [4], dtype: 'float32' as const };
    expect(b.rt.lost).toBe(false);
    expect(Array.from(await b.read(t))).toEqual([1, 2, 3, 4]);
    b.rt.device.destroy(); // as a driver reset or a removed GPU would
    await b.rt.device.lost;
    expect(b.rt.lost).toBe(true);
    const msg = /^webgpu: the device was lost \(destroyed\).*; call init\('webgpu'\) again and re-create the tensors/;
    expect(() => b.upload(Float32Array.from([1]), 'float32')).toThrow(msg);
    expect(() => b.unary('relu', t, [])).toThrow(msg);
    expect(() => b.binary('add', t, t, [4], 'float32')).toThrow(msg);
    expect(() => b.fill([4], 'float32', 0)).toThrow(msg);
    await expect(b.read(t)).rejects.toThrow(msg);
    await expect(b.sync()).rejects.toThrow(msg);
    expect(() => b.rt.run({ name: 'k', key: 'k', code: () => '', bindings: [], workgroups: [1] })).toThrow(msg);
    b.release(s); // disposing a tensor of a lost device is fine
  });

  it('after destroy(): lost is true at once', async () => {
    const b = (await createWebGPUBackend()) as WebGPUBackend;
    const s: GPUStorage = b.upload(Float32Array.from([5]), 'float32');
    b.destroy();
    expect(b.rt.lost).toBe(true);
    expect(() => b.fill([2], 'float32', 1)).toThrow(/^webgpu: the device was lost \(destroyed\) \[the backend was destroyed\]; call init\('webgpu'\) again/);
    await expect(b.read({ storage: s, shape: [1], dtype: 'float32' })).rejects.toThrow(/device was lost/);
  });
});
