/**
 * The relaxed-SIMD build (f32x4.relaxed_madd, a fused multiply-add, in the GEMM micro-kernel).
 * Node 20 compiles relaxed SIMD only behind V8's --experimental-wasm-relaxed-simd, which
 * `relaxedSimd: 'v8-flag'` sets at run time; later Node versions and browsers have it on by default.
 * Parity against cpu for the GEMM-based kernels (matmul, conv2d and its backward passes), with the
 * same tolerances as the plain build (FMA rounds once instead of twice: closer to cpu, not farther).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { WasmBackend } from '../../backends/wasm/index.js';
import { conv2d } from '../../ops/conv.js';
import * as M from '../../ops/matmul.js';
import { transpose } from '../../ops/shape.js';
import { f, parityOn } from '../helpers/backends.js';
import { createWasmBackend } from '../../backends/wasm/index.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };
let be: WasmBackend;

beforeAll(async () => {
  be = await createWasmBackend({ relaxedSimd: 'v8-flag' });
});

describe('wasm relaxed-SIMD build', () => {
  it('is selected after the probe', () => {
    expect(be.relaxedSimd).toBe(true);
    expect(be.moduleFile).toBe('posegrad-relaxed.wasm');
  });
  it('matmul matches cpu', async () => {
    for (const [m, n, k] of [[1, 1, 1], [5, 9, 3], [33, 31, 65], [150, 70, 300]] as const) {
      await parityOn(be, 'wasm-1', `A·B ${m}x${n}x${k}`, (a, b) => M.matmul(a, b), [f([m, k], 1), f([k, n], 2)], { atol: 5e-5, rtol: 2e-4 });
      await parityOn(be, 'wasm-1', `Aᵀ·Bᵀ ${m}x${n}x${k}`, (a, b) => M.matmul(transpose(a, 0, 1), transpose(b, 0, 1)), [f([k, m], 3), f([n, k], 4)], { atol: 5e-5, rtol: 2e-4 });
    }
  });
  it('conv2d (im2col + GEMM, 1x1, depthwise) matches cpu', async () => {
    await parityOn(be, 'wasm-1', '3x3', (x, w, b) => conv2d(x, w, b, { padding: 1, stride: [1, 2] }), [f([2, 3, 7, 9], 5), f([5, 3, 3, 3], 6), f([5], 7)], TOL);
    await parityOn(be, 'wasm-1', '1x1', (x, w) => conv2d(x, w), [f([2, 6, 5, 3], 8), f([7, 6, 1, 1], 9)], TOL);
    await parityOn(be, 'wasm-1', 'depthwise', (x, w) => conv2d(x, w, null, { padding: 3, groups: 4 }), [f([1, 4, 9, 8], 10), f([4, 1, 7, 7], 11)], TOL);
  });
  it('depthwise (masked borders, stride 2) and the stride-2 im2col packing match cpu', async () => {
    await parityOn(be, 'wasm-1', 'depthwise s2 masked', (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1, groups: 3 }), [f([2, 3, 9, 75], 12), f([3, 1, 3, 3], 13), f([3], 14)], TOL);
    await parityOn(be, 'wasm-1', 'depthwise s1 no padding', (x, w) => conv2d(x, w, null, { groups: 4 }), [f([1, 4, 7, 29], 15), f([4, 1, 3, 3], 16)], TOL);
    await parityOn(be, 'wasm-1', 'stem 3x3 s2', (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1 }), [f([1, 3, 21, 37], 17), f([8, 3, 3, 3], 18), f([8], 19)], TOL);
  });
});
