/**
 * Reductions on every backend (test/helpers/backends.ts): PyTorch fixtures, then parity with cpu
 * float64 (forward and, through autograd, backward): sum/mean/max/min/prod over every layout
 * (reduced dims inner, outer, several, non-contiguous), sizes of 1 and 0, rows of 10^3..10^5
 * values (webgpu's chunked two-pass path), int32, NaN propagation (wasm's SIMD pmax/pmin NaN
 * tracking in the body and the scalar tail), argmax/argmin (ties take the first index, NaN
 * wins), cumsum along each dim, logSumExp and variance.
 * Tolerance: max/min/arg exact; sums 1e-5 + 1e-5 relative (cpu sums in float64; wasm in float64
 * along rows; webgpu in float32 trees), scaled for the 10^4..10^5-term rows.
 */
import { it } from 'vitest';
import * as R from '../../ops/reduce.js';
import { describeEnvs, f, fixed, fixture, i32, parity, vals } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';
import { rand } from '../helpers/backends.js';

const EXACT = { atol: 0, rtol: 0 };
const SUM = { atol: 1e-5, rtol: 1e-5 };
const core = loadFixture('ops', 'core');

describeEnvs('reduce', () => {
  for (const [op, fn, cases] of fixtureOps(core, 'reduce')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(core, c, fn, fixtureTol(c));
    });
  }

  const cases: [number[], number | number[] | undefined][] = [
    [[7], undefined], [[3, 5], 1], [[3, 5], 0], [[2, 3, 4], [0, 2]], [[2, 3, 9], 1], [[4, 1, 6], [1, 2]], [[2, 5, 7, 3], [1, 2]], [[1, 1], undefined], [[5, 1037], 1], [[300, 6], 0],
    [[3, 300, 2], 1], [[700, 40, 3], 1], [[1, 5, 3000], 1], [[5, 63], 1], [[4, 64], 1],
  ];
  for (const [shape, dim] of cases) {
    it(`sum/mean/max/min/prod ${JSON.stringify(shape)} over ${JSON.stringify(dim)}`, async () => {
      await parity('sum', (x) => R.sum(x, dim, true), [f(shape, 1)], SUM);
      await parity('mean', (x) => R.mean(x, dim), [f(shape, 2)], SUM);
      await parity('max', (x) => R.max(x, dim), [f(shape, 3)], EXACT, { bwd: SUM });
      await parity('min', (x) => R.min(x, dim, true), [f(shape, 4)], EXACT, { bwd: SUM });
      await parity('prod', (x) => R.prod(x, dim), [f(shape, 5, 0.8, 1.2)], { atol: 1e-6, rtol: 2e-5 });
    });
  }
  it('huge rows (chunked two-pass path)', async () => {
    await parity('sum 70000', (x) => R.sum(x, 0), [f([70000], 6)], { atol: 2e-4, rtol: 1e-5 }, { grad: false });
    await parity('max 2x20000', (x) => R.max(x, 1), [f([2, 20000], 7)], EXACT, { grad: false });
    await parity('sum 20000x3 dim 0', (x) => R.sum(x, 0), [f([20000, 3], 8)], { atol: 1e-3, rtol: 1e-5 }, { grad: false });
  });
  it('max/min/sum propagate NaN', async () => {
    const t = fixed([3, 9], 11);
    t.data[4] = NaN; // row 0, in the SIMD body
    t.data[9 + 8] = NaN; // row 1, in the scalar tail
    for (const dim of [0, 1]) {
      await parity(`max NaN dim ${dim}`, (x) => R.max(x, dim), [t], EXACT, { grad: false });
      await parity(`min NaN dim ${dim}`, (x) => R.min(x, dim), [t], EXACT, { grad: false });
      await parity(`sum NaN dim ${dim}`, (x) => R.sum(x, dim), [t], SUM, { grad: false });
    }
    const v = rand(200, 9);
    v[37] = NaN;
    await parity('max NaN [2, 100]', (x) => R.max(x, 1), [vals([2, 100], v, true)], EXACT, { grad: false });
    await parity('min NaN [1, 2, 100] dim 1', (x) => R.min(x, 1), [vals([1, 2, 100], v, true)], EXACT, { grad: false });
  });
  it('empty and int32 reductions; an empty reduction gives the identity', async () => {
    await parity('sum empty', (x) => R.sum(x, 1), [f([3, 0], 1)], EXACT);
    await parity('prod empty', (x) => R.prod(x, 1), [f([2, 0], 1)], EXACT);
    await parity('sum int32', (x) => R.sum(x, 0), [i32([3, 2], [1, 2, 3, 4, -5, 2147483647])], EXACT, { grad: false });
    await parity('max int32', (x) => R.max(x, 1), [i32([2, 3], [1, 9, 3, -4, -5, -1])], EXACT, { grad: false });
    const iv = Array.from({ length: 600 }, (_, i) => ((i * 7919) % 201) - 100);
    for (const op of [R.sum, R.max, R.min]) {
      await parity(`int32 ${op.name} [2, 300]`, (x) => op(x, 1), [i32([2, 300], iv)], EXACT, { grad: false });
      await parity(`int32 ${op.name} [3, 20, 10]`, (x) => op(x, 1), [i32([3, 20, 10], iv)], EXACT, { grad: false });
    }
  });
  it('argmax / argmin: ties take the first index, NaN wins', async () => {
    const t = vals([3, 6], [1, 3, 3, 2, 0, 3, 5, 5, 5, 5, 5, 5, 1, NaN, 2, NaN, 0, 9], true);
    for (const dim of [0, 1, undefined]) {
      await parity(`argmax ${dim}`, (x) => R.argmax(x, dim), [t], EXACT, { grad: false });
      await parity(`argmin ${dim}`, (x) => R.argmin(x, dim, true), [t], EXACT, { grad: false });
    }
    await parity('argmax wide', (x) => R.argmax(x, 1), [fixed([3, 37, 9], 5)], EXACT, { grad: false });
    await parity('argmin int', (x) => R.argmin(x, 0), [i32([2, 3], [4, 1, 7, 4, 0, 9])], EXACT, { grad: false });
    const ties = vals([3, 300], Array.from(rand(900, 4), (v) => Math.round(v * 2)), true);
    await parity('arg ties [3, 300]', (x) => [R.argmax(x, 1), R.argmin(x, 1), R.argmax(x, 0), R.argmin(x, 0)], [ties], EXACT, { grad: false });
    const nan = Array.from(rand(200, 6));
    nan[40] = NaN;
    nan[60] = NaN;
    nan[150] = NaN;
    await parity('arg NaN [2, 100]', (x) => [R.argmax(x, 1), R.argmin(x, 1)], [vals([2, 100], nan, true)], EXACT, { grad: false });
    await parity('argmax int [4, 80]', (x) => R.argmax(x, 1), [i32([4, 80], Array.from({ length: 320 }, (_, i) => (i * 37) % 11))], EXACT, { grad: false });
  });
  it('cumsum along each dim, long rows, int32', async () => {
    for (const dim of [0, 1, 2]) await parity(`cumsum ${dim}`, (x) => R.cumsum(x, dim), [f([3, 7, 5], 6)], SUM);
    await parity('cumsum long row', (x) => R.cumsum(x, 0), [f([2000], 7)], { atol: 1e-4, rtol: 1e-5 });
    await parity('cumsum [1, 5000]', (x) => R.cumsum(x, 1), [f([1, 5000], 8)], { atol: 1e-4, rtol: 1e-5 });
    await parity('cumsum [2, 600]', (x) => R.cumsum(x, 1), [f([2, 600], 9)], { atol: 1e-4, rtol: 1e-5 });
    await parity('cumsum int32', (x) => R.cumsum(x, 1), [i32([2, 3], [1, 2, 3, -4, 5, 6])], EXACT, { grad: false });
    await parity('cumsum int32 [2, 700]', (x) => R.cumsum(x, 1), [i32([2, 700], Array.from({ length: 1400 }, (_, i) => (i % 7) - 3))], EXACT, { grad: false });
  });
  it('logSumExp, variance and std with gradients', async () => {
    await parity('sum/mean dims', (x) => [R.sum(x), R.sum(x, [0, 2], true), R.mean(x, 1), R.max(x, 2), R.min(x, [0, 1]), R.logSumExp(x, 1), R.variance(x, 1), R.std(x, 2)], [f([3, 70, 5], 10)], SUM);
  });
});
