/**
 * matmul, bmm and linear on every backend (test/helpers/backends.ts): PyTorch fixtures on cpu
 * float64 (and float32 everywhere), and parity with cpu float64 through ops and autograd (so the
 * backward passes exercise all four transpose combinations) over shapes that are not multiples of
 * the 4x8 wasm micro-tile, the webgpu tiles or the SIMD width, dims of 1, K = 0, batch
 * broadcasting, sizes larger than a cache block (K > KC = 256, M > MC = 96), and products above the
 * wasm threading threshold with column counts that do not divide evenly between threads.
 * Tolerance: float32 sums of K products in another order than cpu's float64: atol 2e-5 + rtol 1e-4
 * (5e-5 / 2e-4 for K in the hundreds).
 */
import { it } from 'vitest';
import * as P from '../../index.js';
import * as M from '../../ops/matmul.js';
import { transpose } from '../../ops/shape.js';
import { describeEnvs, f, fixture, parity } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const TOL = { atol: 2e-5, rtol: 1e-4 };
const LARGE = { atol: 5e-5, rtol: 2e-4 };
const core = loadFixture('ops', 'core');

describeEnvs('matmul', () => {
  for (const [op, fn, cases] of fixtureOps(core, 'matmul')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(core, c, fn, fixtureTol(c));
    });
  }

  const cases: [number, number, number][] = [
    [1, 1, 1], [1, 7, 1], [3, 1, 5], [4, 8, 4], [5, 9, 3], [7, 13, 17], [8, 16, 32], [17, 33, 19], [33, 31, 65], [1, 64, 130], [130, 1, 64], [2, 3, 0], [9, 520, 70],
  ];
  for (const [m, n, k] of cases) {
    it(`[${m}, ${k}] · [${k}, ${n}] with all transposes`, async () => {
      await parity('A·B', (a, b) => M.matmul(a, b), [f([m, k], 1), f([k, n], 2)], TOL);
      await parity('Aᵀ·B', (a, b) => M.matmul(transpose(a, 0, 1), b), [f([k, m], 3), f([k, n], 4)], TOL);
      await parity('A·Bᵀ', (a, b) => M.matmul(a, transpose(b, 0, 1)), [f([m, k], 5), f([n, k], 6)], TOL);
    });
  }
  it('empty outputs: M = 0, N = 0', async () => {
    await parity('M 0', (a, b) => M.matmul(a, b), [f([0, 3], 1), f([3, 4], 2)], TOL);
    await parity('N 0', (a, b) => M.matmul(a, transpose(b, 0, 1)), [f([3, 3], 1), f([0, 3], 2)], TOL);
  });
  it('bmm, batch broadcasting, vectors, linear', async () => {
    await parity('bmm', (a, b) => M.bmm(a, b), [f([3, 5, 7], 7), f([3, 7, 9], 8)], TOL);
    await parity('bmm 17x11x5', (a, b) => M.bmm(a, b), [f([3, 17, 11], 30), f([3, 11, 5], 31)], TOL);
    await parity('broadcast', (a, b) => M.matmul(a, b), [f([2, 1, 6, 5], 9), f([4, 5, 3], 10)], TOL);
    await parity('broadcast [2,1,13,6]·[3,6,9]', (a, b) => M.matmul(a, b), [f([2, 1, 13, 6], 32), f([3, 6, 9], 33)], TOL);
    await parity('vec·mat', (a, b) => M.matmul(a, b), [f([5], 11), f([5, 6], 12)], TOL);
    await parity('mat·vec', (a, b) => M.matmul(a, b), [f([6, 5], 13), f([5], 14)], TOL);
    await parity('vector both ways', (a, b) => [M.matmul(a, b), M.matmul(b, a)], [f([5], 34), f([5, 5], 35)], TOL);
    await parity('linear', (x, w, b) => M.linear(x, w, b), [f([2, 3, 10], 15), f([9, 10], 16), f([9], 17)], TOL);
    await parity('linear 4x7x10', (x, w, b) => M.linear(x, w, b), [f([4, 7, 10], 36), f([6, 10], 37), f([6], 38)], TOL);
    // batched kernel: a broadcast operand (batch stride 0) and skinny batch members
    await parity('[M, K] · [B, K, N]', (a, b) => M.matmul(a, b), [f([6, 5], 22), f([4, 5, 9], 23)], TOL);
    await parity('[B, M, K] · [K, N]', (a, b) => M.matmul(a, b), [f([3, 7, 5], 24), f([5, 10], 25)], TOL);
    await parity('bmm skinny members', (a, b) => M.bmm(a, b), [f([5, 2, 9], 26), f([5, 9, 3], 27)], TOL);
    await parity('bmm Aᵀ·Bᵀ', (a, b) => M.bmm(transpose(a, 1, 2), transpose(b, 1, 2)), [f([4, 6, 13], 28), f([4, 11, 6], 29)], TOL);
    await parity('batch 3/3, 1/4, 4/1', (a, b, c, d) => [M.matmul(a, b), M.matmul(c, b), M.matmul(a, d)], [f([3, 9, 7], 40), f([3, 7, 12], 41), f([1, 9, 7], 42), f([1, 7, 12], 43)], TOL);
  });
  it('larger cases crossing the cache blocks (K > 256, M > 96) and the threading threshold (uneven column splits)', async () => {
    await parity('large', (a, b) => M.matmul(a, b), [f([150, 300], 18), f([300, 70], 19)], LARGE);
    await parity('large Aᵀ·Bᵀ', (a, b) => M.matmul(transpose(a, 0, 1), transpose(b, 0, 1)), [f([270, 101], 20), f([37, 270], 21)], LARGE);
    for (const [m, n, k] of [[97, 203, 130], [64, 1001, 33]] as const) {
      await parity(`A·B ${m}x${n}x${k}`, (a, b) => M.matmul(a, b), [f([m, k], 1), f([k, n], 2)], LARGE);
      await parity(`Aᵀ·Bᵀ ${m}x${n}x${k}`, (a, b) => M.matmul(transpose(a, 0, 1), transpose(b, 0, 1)), [f([k, m], 3), f([n, k], 4)], LARGE);
    }
  });
  it('bad input: the same Error on every backend', async () => {
    const { throws } = await import('../helpers/backends.js');
    throws((t) => P.matmul(t([1, 2, 3, 4, 5, 6], [2, 3]), t([1, 2, 3, 4], [2, 2])), /^matmul: expected /);
  });
});
