/**
 * The threaded backend (`threads: 2`): worker threads share the memory and split each large GEMM
 * by columns. Parity against cpu for matmul (all transposes, a size below the threading threshold
 * and sizes above it with column counts that do not divide evenly) and conv2d forward/backward
 * (implicit im2col packing on both threads). Same tolerances as the single-threaded tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WasmBackend } from '../../backends/wasm/index.js';
import { conv2d } from '../../ops/conv.js';
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
  it('memory growth while workers exist keeps results right', () => {
    const big = be.upload(new Float32Array(2 ** 23), 'float32'); // 32 MiB: grows the shared memory
    parity('after growth', (a, b) => M.matmul(a, b), [f([70, 300], 10), f([300, 90], 11)], { atol: 5e-5, rtol: 2e-4 });
    be.release(big);
  });
});
