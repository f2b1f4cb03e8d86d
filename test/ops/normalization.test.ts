/**
 * layerNorm, groupNorm (built on the layerNorm kernels), batchNorm2d (stats, forward, backward in
 * training and eval mode, running-statistics update), cosineSimilarity and normalize on every
 * backend (test/helpers/backends.ts): PyTorch fixtures, then parity with cpu float64 through the
 * ops and autograd: outputs and every input gradient.
 *
 * Shapes: rows of 1, 3, 7, 33, 300 and 1029 values (SIMD tails, several blocks or workgroups),
 * single rows and channels, 1x1 planes, odd plane sizes, a channel of 100k values (many blocks,
 * webgpu's chunked Welford merge), 600 rows (long dGamma/dBeta column sums).
 * Tolerances: forward atol 2e-5, rtol 1e-4; gradients atol 1e-4, rtol 1e-4 (float32 sums). Offset
 * data (1000 + U(-1, 1)) checks that the statistics do not cancel; its tolerance (atol 2e-3) is
 * float32's resolution of x near 1000 (6e-5) over the spread (0.58).
 */
import { it } from 'vitest';
import { engine } from '../../engine/engine.js';
import { Tensor } from '../../engine/tensor.js';
import { batchNorm2d, groupNorm, layerNorm } from '../../ops/normalization.js';
import { describeEnvs, f, fixed, fixture, parity } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const TOL = { atol: 2e-5, rtol: 1e-4 };
const BWD = { atol: 1e-4, rtol: 1e-4 };
const nn = loadFixture('ops', 'nn');


describeEnvs('layerNorm, groupNorm', () => {
  for (const [op, fn, cases] of fixtureOps(nn, 'normalization')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(nn, c, fn, fixtureTol(c));
    });
  }
  const cases: [number[], number[]][] = [
    [[1, 1], [1]], [[3, 7], [7]], [[2, 5, 33], [33]], [[4, 300], [300]], [[2, 3, 4, 5], [4, 5]], [[2, 1029], [1029]], [[5, 3], [3]],
  ];
  for (const [xs, ns] of cases) {
    it(`${JSON.stringify(xs)} over ${JSON.stringify(ns)}`, async () => {
      await parity('layerNorm affine', (x, w, b) => layerNorm(x, ns, w, b), [f(xs, 1, -2, 3), f(ns, 2, 0.5, 1.5), f(ns, 3)], TOL, { bwd: BWD });
      await parity('layerNorm plain', (x) => layerNorm(x, ns), [f(xs, 4, -2, 3)], TOL, { bwd: BWD });
      await parity('layerNorm weight only', (x, w) => layerNorm(x, ns, w, null), [f(xs, 5), f(ns, 6, 0.5, 1.5)], TOL, { bwd: BWD });
      await parity('layerNorm bias only', (x, b) => layerNorm(x, ns, null, b), [f(xs, 7), f(ns, 8)], TOL, { bwd: BWD });
    });
  }
  it('600 rows: dGamma/dBeta column sums', async () => {
    await parity('layerNorm 600 rows', (x, w, b) => layerNorm(x, 24, w, b, 1e-6), [f([600, 24], 9), f([24], 10), f([24], 11)], TOL, { bwd: BWD });
  });
  it('large mean, small spread: the two-pass statistics do not cancel', async () => {
    const x = f([3, 257], 12);
    x.data = x.data.map((v) => 1000 + v);
    await parity('layerNorm offset data', (t) => layerNorm(t, 257), [x], { atol: 2e-3, rtol: 1e-3 });
  });
  it('threaded: rows split between wasm threads (layerNorm [660, 800], groupNorm [2, 32, 92, 90] in 8 groups)', async () => {
    // 528k and 530k elements: above 2 x 2^18 (backends/wasm/norm.ts THREAD_MIN_ELEMENTS); dGamma/dBeta
    // add the threads' partial column sums
    await parity('layerNorm threaded', (x, w, b) => layerNorm(x, 800, w, b), [f([660, 800], 41, -2, 3), f([800], 42, 0.5, 1.5), f([800], 43)], TOL, { bwd: BWD });
    await parity('groupNorm threaded', (x, w, b) => groupNorm(x, 8, w, b), [f([2, 32, 92, 90], 44, -2, 3), f([32], 45, 0.5, 1.5), f([32], 46)], TOL, { bwd: BWD });
  });
  it('groupNorm (layerNorm kernels on [N·G, C/G·S])', async () => {
    await parity('groupNorm', (x, w, b) => groupNorm(x, 3, w, b), [f([2, 6, 5, 7], 13), f([6], 14), f([6], 15)], TOL, { bwd: BWD });
  });
  it('returns the same mean and rstd as cpu (the kernel itself)', async () => {
    await parity('layerNorm kernel', (t) => {
      const r = engine.backend(t.device).layerNorm(t.k('t'), null, null, 5, 19, 1e-5);
      return [Tensor.fromStorage(t.device, r.y, [5, 19], t.dtype), Tensor.fromStorage(t.device, r.mean, [5], t.dtype), Tensor.fromStorage(t.device, r.rstd, [5], t.dtype)];
    }, [fixed([5, 19], 16, -3, 3)], TOL, { grad: false });
  });
});

describeEnvs('batchNorm2d', () => {
  const shapes = [[2, 3, 4, 5], [1, 1, 3, 3], [5, 7, 1, 1], [3, 2, 17, 9], [2, 3, 1, 7], [2, 4, 30, 31], [2, 3, 50, 50]];
  it('training: batch statistics, gradients through them', async () => {
    for (const shape of shapes) {
      const C = shape[1]!;
      await parity(`train ${shape}`, (x, w, b) => batchNorm2d(x, null, null, w, b, { training: true }), [f(shape, 1, -1, 2), f([C], 2, 0.5, 1.5), f([C], 3)], TOL, { bwd: BWD });
      await parity(`train no affine ${shape}`, (x) => batchNorm2d(x, null, null, null, null, { training: true }), [f(shape, 4, -1, 2)], TOL, { bwd: BWD });
      await parity(`train bias only ${shape}`, (x, b) => batchNorm2d(x, null, null, null, b, { training: true }), [f(shape, 5), f([C], 6)], TOL, { bwd: BWD });
    }
  });
  it('eval: running statistics are constants', async () => {
    for (const shape of shapes) {
      const C = shape[1]!;
      const rm = fixed([C], 7, -0.5, 0.5);
      const rv = fixed([C], 8, 0.5, 2);
      await parity(`eval ${shape}`, (x, w, b, m, v) => batchNorm2d(x, m!, v!, w, b, { training: false, eps: 1e-3 }), [f(shape, 9), f([C], 10, 0.5, 1.5), f([C], 11), rm, rv], TOL, { bwd: BWD });
      await parity(`eval no affine ${shape}`, (x, m, v) => batchNorm2d(x, m!, v!, null, null, { training: false }), [f(shape, 12), rm, rv], TOL, { bwd: BWD });
    }
  });
  it('threaded: channels split between wasm threads ([2, 8, 182, 182], training and eval)', async () => {
    // 530k elements in 8 channels: above 2 x 2^18 (backends/wasm/norm.ts THREAD_MIN_ELEMENTS)
    const shape = [2, 8, 182, 182];
    await parity('train threaded', (x, w, b) => batchNorm2d(x, null, null, w, b, { training: true }), [f(shape, 51, -1, 2), f([8], 52, 0.5, 1.5), f([8], 53)], TOL, { bwd: BWD });
    await parity('eval threaded', (x, w, b, m, v) => batchNorm2d(x, m!, v!, w, b, { training: false }), [f(shape, 54), f([8], 55, 0.5, 1.5), f([8], 56), fixed([8], 57, -0.5, 0.5), fixed([8], 58, 0.5, 2)], TOL, { bwd: BWD });
  });
  it('a training step updates the running statistics identically', async () => {
    // outputs: y, and the running mean/var after the in-place update (unbiased variance)
    await parity('running stats', (x, w, b, m, v) => [batchNorm2d(x, m!, v!, w, b, { training: true, momentum: 0.3 }), m!, v!], [f([4, 3, 9, 11], 13, -1, 3), f([3], 14), f([3], 15), fixed([3], 16), fixed([3], 17, 0.5, 1.5)], TOL, { bwd: BWD });
  });
  it('a channel of 100k values (many blocks); large mean, small spread', async () => {
    const x = f([2, 2, 250, 201], 18);
    x.data = x.data.map((v, e) => 1000 + v + 2 * (e % 2));
    await parity('batchNorm2d 100k per channel', (t) => batchNorm2d(t, null, null, null, null, { training: true }), [x], { atol: 2e-3, rtol: 1e-3 });
    // the mean to float32's resolution at 1000; the variance (≈ 1.33) to 1e-5 relative
    await parity('batchNormStats 100k', (t) => {
      const r = engine.backend(t.device).batchNormStats(t.k('t'), 2, 2, 250 * 201);
      return [Tensor.fromStorage(t.device, r.mean, [2], t.dtype), Tensor.fromStorage(t.device, r.variance, [2], t.dtype)];
    }, [{ ...x, noGrad: true }], { atol: 1e-4, rtol: 1e-5 }, { grad: false });
    // [1, 1, 300000]: 74 webgpu chunks, more than the 64 invocations of the merge pass
    const y = f([1, 1, 300000], 19);
    y.data = y.data.map((v, e) => 1000 + v + 2 * Math.floor((2 * e) / 300000));
    await parity('batchNormStats 300000', (t) => {
      const r = engine.backend(t.device).batchNormStats(t.k('t'), 1, 1, 300000);
      return [Tensor.fromStorage(t.device, r.mean, [1], t.dtype), Tensor.fromStorage(t.device, r.variance, [1], t.dtype)];
    }, [{ ...y, noGrad: true }], { atol: 1e-4, rtol: 1e-4 }, { grad: false });
  });
});
