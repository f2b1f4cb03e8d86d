/**
 * wasm vs cpu: matmul / bmm / linear through ops and autograd (so the backward passes exercise all
 * four transpose combinations), over shapes that are not multiples of the 4x8 micro-tile or of the
 * SIMD width, dims of 1, K = 0, batch broadcasting, and one case larger than a cache block
 * (K > KC = 256, M > MC = 96). Tolerance: float32 sums of K products in a different order than
 * cpu's float64 accumulation: atol 1e-5 + rtol 1e-4 (relaxed-SIMD FMA rounds differently again).
 */
import { beforeAll, describe, it } from 'vitest';
import * as M from '../../ops/matmul.js';
import { transpose } from '../../ops/shape.js';
import { f, parity, setupWasm } from './helpers.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };

beforeAll(async () => {
  await setupWasm();
});

describe('wasm matmul matches cpu', () => {
  const cases: [number, number, number][] = [
    [1, 1, 1], [1, 7, 1], [3, 1, 5], [4, 8, 4], [5, 9, 3], [7, 13, 17], [8, 16, 32], [33, 31, 65], [1, 64, 130], [130, 1, 64], [2, 3, 0],
  ];
  for (const [m, n, k] of cases) {
    it(`[${m}, ${k}] · [${k}, ${n}] with all transposes`, () => {
      parity('A·B', (a, b) => M.matmul(a, b), [f([m, k], 1), f([k, n], 2)], TOL);
      parity('Aᵀ·B', (a, b) => M.matmul(transpose(a, 0, 1), b), [f([k, m], 3), f([k, n], 4)], TOL);
      parity('A·Bᵀ', (a, b) => M.matmul(a, transpose(b, 0, 1)), [f([m, k], 5), f([n, k], 6)], TOL);
    });
  }
  it('bmm, batch broadcasting, vectors, linear', () => {
    parity('bmm', (a, b) => M.bmm(a, b), [f([3, 5, 7], 7), f([3, 7, 9], 8)], TOL);
    parity('broadcast', (a, b) => M.matmul(a, b), [f([2, 1, 6, 5], 9), f([4, 5, 3], 10)], TOL);
    parity('vec·mat', (a, b) => M.matmul(a, b), [f([5], 11), f([5, 6], 12)], TOL);
    parity('mat·vec', (a, b) => M.matmul(a, b), [f([6, 5], 13), f([5], 14)], TOL);
    parity('linear', (x, w, b) => M.linear(x, w, b), [f([2, 3, 10], 15), f([9, 10], 16), f([9], 17)], TOL);
    // batched kernel: a broadcast operand (batch stride 0) and skinny batch members
    parity('[M, K] · [B, K, N]', (a, b) => M.matmul(a, b), [f([6, 5], 22), f([4, 5, 9], 23)], TOL);
    parity('[B, M, K] · [K, N]', (a, b) => M.matmul(a, b), [f([3, 7, 5], 24), f([5, 10], 25)], TOL);
    parity('bmm skinny members', (a, b) => M.bmm(a, b), [f([5, 2, 9], 26), f([5, 9, 3], 27)], TOL);
    parity('bmm Aᵀ·Bᵀ', (a, b) => M.bmm(transpose(a, 1, 2), transpose(b, 1, 2)), [f([4, 6, 13], 28), f([4, 11, 6], 29)], TOL);
  });
  it('a larger case crossing the cache blocks (K > 256, M > 96, N > 8·strips)', () => {
    parity('large', (a, b) => M.matmul(a, b), [f([150, 300], 18), f([300, 70], 19)], { atol: 5e-5, rtol: 2e-4 });
    parity('large Aᵀ·Bᵀ', (a, b) => M.matmul(transpose(a, 0, 1), transpose(b, 0, 1)), [f([270, 101], 20), f([37, 270], 21)], { atol: 5e-5, rtol: 2e-4 });
  });
});
