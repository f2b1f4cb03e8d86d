/**
 * The threaded backend (`threads: 2`): worker threads share the memory and split each large GEMM
 * by columns. Parity against cpu for matmul (all transposes, a size below the threading threshold
 * and sizes above it with column counts that do not divide evenly), conv2d forward/backward
 * (implicit im2col packing on both threads), deformConv2d forward/backward (each thread owns a
 * range of the chunk's columns and, in the backward, its own dx planes, summed afterwards) and
 * gridSample forward/backward (split by samples, and by points for one sample). Same tolerances
 * as the single-threaded tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WasmBackend } from '../../backends/wasm/index.js';
import { conv2d } from '../../ops/conv.js';
import { deformConv2d } from '../../ops/deform-conv.js';
import { gridSample } from '../../ops/resample.js';
import * as M from '../../ops/matmul.js';
import { transpose } from '../../ops/shape.js';
import { f, parity, setupWasm } from './helpers.js';

let be: WasmBackend;

beforeAll(async () => {
  be = await setupWasm({ threads: 2 });
});
afterAll(() => be.terminate());

describe('wasm with 2 threads', () => {
  it('runs the threads build over a shared memory', () => {
    expect(be.threads).toBe(2);
    expect(be.moduleFile).toMatch(/-threads\.wasm$/);
    expect(be.memory.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });
  it('matmul matches cpu (split by columns)', () => {
    const tol = { atol: 5e-5, rtol: 2e-4 };
    for (const [m, n, k] of [[5, 9, 3], [97, 203, 130], [64, 1001, 33]] as const) {
      parity(`A·B ${m}x${n}x${k}`, (a, b) => M.matmul(a, b), [f([m, k], 1), f([k, n], 2)], tol);
      parity(`Aᵀ·Bᵀ ${m}x${n}x${k}`, (a, b) => M.matmul(transpose(a, 0, 1), transpose(b, 0, 1)), [f([k, m], 3), f([n, k], 4)], tol);
    }
  });
  it('conv2d forward and backward match cpu', () => {
    parity('conv 3x3', (x, w, b) => conv2d(x, w, b, { padding: 1 }), [f([2, 32, 19, 23], 5), f([24, 32, 3, 3], 6), f([24], 7)], { atol: 5e-5, rtol: 2e-4 });
    parity('conv stride 2', (x, w) => conv2d(x, w, null, { padding: 2, stride: 2, dilation: 2 }), [f([1, 16, 33, 30], 8), f([40, 16, 3, 3], 9)], { atol: 5e-5, rtol: 2e-4 });
  });
  it('deformConv2d v2 forward and backward match cpu (columns split between the threads)', () => {
    // R·columns = (8·9)·(24·30) = 51840 per chunk: above the threading threshold (2^15)
    const tol = { atol: 1e-5, rtol: 1e-4 };
    parity('deform 3x3 dil 2', (x, off, w, m) => deformConv2d(x, off, w, null, { padding: 2, dilation: 2, mask: m }), [f([2, 8, 24, 30], 12), f([2, 36, 24, 30], 13, -2.3, 2.3), f([6, 8, 3, 3], 14), f([2, 18, 24, 30], 15, 0, 1)], tol, { bwd: { atol: 2e-5, rtol: 1e-4 } });
  });
  it('gridSample forward and backward match cpu (split by samples, and by points for one sample)', () => {
    const tol = { atol: 1e-6, rtol: 1e-5 };
    const bwd = { atol: 2e-5, rtol: 1e-4 };
    parity('gridSample N=3', (x, g) => gridSample(x, g, { alignCorners: false }), [f([3, 16, 12, 14], 16), f([3, 40, 30, 2], 17, -1.1, 1.1)], tol, { bwd });
    parity('gridSample N=1', (x, g) => gridSample(x, g, { paddingMode: 'border' }), [f([1, 32, 12, 14], 18), f([1, 50, 41, 2], 19, -1.1, 1.1)], tol, { bwd });
  });
  it('memory growth while workers exist keeps results right', () => {
    const big = be.upload(new Float32Array(2 ** 23), 'float32'); // 32 MiB: grows the shared memory
    parity('after growth', (a, b) => M.matmul(a, b), [f([70, 300], 10), f([300, 90], 11)], { atol: 5e-5, rtol: 2e-4 });
    be.release(big);
  });
});
