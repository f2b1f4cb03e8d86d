/**
 * Losses on every backend (test/helpers/backends.ts): the PyTorch fixtures of mseLoss, l1Loss,
 * jointsMseLoss and crossEntropy (class indices with ignoreIndex, label smoothing, class weights,
 * probabilities), and parity with cpu float64 for crossEntropy over [N, C, d...] inputs; bad
 * targets give the same Error on every backend.
 */
import { it } from 'vitest';
import { crossEntropy, mseLoss } from '../../ops/loss.js';
import { softmax } from '../../ops/softmax.js';
import { describeEnvs, f, fixture, i32, parity, throws } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const nn = loadFixture('ops', 'nn');
const TOL = { atol: 1e-5, rtol: 1e-4 };

describeEnvs('loss', () => {
  for (const [op, fn, cases] of fixtureOps(nn, 'loss')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(nn, c, fn, fixtureTol(c));
    });
  }
  it('crossEntropy: class indices (ignored targets, weights, smoothing) and probabilities', async () => {
    const t = i32([2, 30], Array.from({ length: 60 }, (_, i) => (i % 7 === 3 ? -100 : i % 4)));
    await parity('indices mean', (x, ti) => crossEntropy(x, ti), [f([2, 4, 30], 1, -2, 2), t], TOL);
    await parity('indices weight smoothing', (x, ti, w) => crossEntropy(x, ti, { weight: w, labelSmoothing: 0.1 }), [f([2, 4, 30], 3, -2, 2), t, f([4], 4, 0.5, 2)], TOL);
    await parity('indices none', (x, ti) => crossEntropy(x, ti, { reduction: 'none' }), [f([2, 4, 30], 5, -2, 2), t], TOL);
    await parity('probabilities', (x, p) => crossEntropy(x, softmax(p, 1), { labelSmoothing: 0.3, reduction: 'sum' }), [f([3, 5, 2], 6, -2, 2), f([3, 5, 2], 7)], TOL);
    await parity('mse', (a, b) => mseLoss(a, b), [f([3, 4, 5], 8), f([3, 4, 5], 9)], TOL);
  });
  it('bad targets: the same Error on every backend', () => {
    throws((t) => crossEntropy(t([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3]), t([0, 1, 3, 1], [4], 'int32')), 'crossEntropy: expected class indices in [0, 2] or ignoreIndex -100, got 3');
    throws((t) => crossEntropy(t([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3]), t([0, -1, 2, 1], [4], 'int32')), 'crossEntropy: expected class indices in [0, 2] or ignoreIndex -100, got -1');
  });
});
