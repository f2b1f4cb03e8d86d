/**
 * wasm vs cpu: layerNorm, groupNorm (built on the layerNorm kernels) and batchNorm2d (stats,
 * forward, backward in training and eval mode, running-statistics update), through the ops and
 * autograd: outputs and every input gradient, from the same float32 inputs.
 *
 * Shapes: rows of 1, 3, 7, 33, 300 and 1029 values (the scalar tails of the 4- and 8-lane loops,
 * more than one 512-value block), single rows and channels, 1x1 planes, odd plane sizes, a channel
 * of 100k values (many blocks), and layerNormBackward over 600 rows (long dGamma/dBeta column sums).
 *
 * Tolerances: the kernels sum float32 blocks into float64, the cpu sums in float64 throughout:
 * forward atol 1e-5, rtol 1e-5; gradients atol 2e-5, rtol 1e-4 (their row/column sums mix
 * float32 products). Offset data (1000 + U(-1, 1)) checks that the statistics do not cancel; its
 * tolerance (atol 2e-3) is float32's resolution of x itself near 1000 (6e-5) over the spread (0.58).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { engine } from '../../engine/engine.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { batchNorm2d, groupNorm, layerNorm } from '../../ops/normalization.js';
import { assertClose } from '../helpers/close.js';
import { f, fixed, parity, rand, setupWasm } from './helpers.js';

const TOL = { atol: 1e-5, rtol: 1e-5 };
const BWD = { atol: 2e-5, rtol: 1e-4 };

beforeAll(async () => {
  await setupWasm();
});

describe('wasm layerNorm matches cpu', () => {
  const cases: [number[], number[]][] = [
    [[1, 1], [1]], [[3, 7], [7]], [[2, 5, 33], [33]], [[4, 300], [300]], [[2, 3, 4, 5], [4, 5]], [[2, 1029], [1029]], [[5, 3], [3]],
  ];
  for (const [xs, ns] of cases) {
    it(`${JSON.stringify(xs)} over ${JSON.stringify(ns)}`, () => {
      parity('layerNorm affine', (x, w, b) => layerNorm(x, ns, w, b), [f(xs, 1, -2, 3), f(ns, 2, 0.5, 1.5), f(ns, 3)], TOL, { bwd: BWD });
      parity('layerNorm plain', (x) => layerNorm(x, ns), [f(xs, 4, -2, 3)], TOL, { bwd: BWD });
      parity('layerNorm weight only', (x, w) => layerNorm(x, ns, w, null), [f(xs, 5), f(ns, 6, 0.5, 1.5)], TOL, { bwd: BWD });
      parity('layerNorm bias only', (x, b) => layerNorm(x, ns, null, b), [f(xs, 7), f(ns, 8)], TOL, { bwd: BWD });
    });
  }
  it('600 rows: dGamma/dBeta column sums', () => {
    parity('layerNorm 600 rows', (x, w, b) => layerNorm(x, 24, w, b, 1e-6), [f([600, 24], 9), f([24], 10), f([24], 11)], TOL, { bwd: BWD });
  });
  it('large mean, small spread: the two-pass statistics do not cancel', () => {
    const x = f([3, 257], 12);
    x.data = x.data.map((v) => 1000 + v);
    parity('layerNorm offset data', (t) => layerNorm(t, 257), [x], { atol: 2e-3, rtol: 1e-3 });
  });
  it('groupNorm (layerNorm kernels on [N·G, C/G·S])', () => {
    parity('groupNorm', (x, w, b) => groupNorm(x, 3, w, b), [f([2, 6, 5, 7], 13), f([6], 14), f([6], 15)], TOL, { bwd: BWD });
  });
  it('returns the same mean and rstd as cpu', () => {
    const x = rand(5 * 19, 16, -3, 3);
    const res = (['cpu', 'wasm'] as const).map((device) => {
      const t = tensor(x, { shape: [5, 19], device });
      const r = engine.backend(device).layerNorm(t.k('t'), null, null, 5, 19, 1e-5);
      const out = [r.y, r.mean, r.rstd].map((s, i) => {
        const w = Tensor.fromStorage(device, s, i === 0 ? [5, 19] : [5], 'float32');
        const d = w.dataSync();
        w.dispose();
        return d;
      });
      t.dispose();
      return out;
    });
    for (let i = 0; i < 3; i++) assertClose(res[1]![i]!, res[0]![i]!, TOL, ['y', 'mean', 'rstd'][i]);
  });
});

describe('wasm batchNorm2d matches cpu', () => {
  const shapes = [[2, 3, 4, 5], [1, 1, 3, 3], [5, 7, 1, 1], [3, 2, 17, 9], [2, 3, 1, 7], [2, 4, 30, 31]];
  it('training: batch statistics, gradients through them', () => {
    for (const shape of shapes) {
      const C = shape[1]!;
      parity(`train ${shape}`, (x, w, b) => batchNorm2d(x, null, null, w, b, { training: true }), [f(shape, 1, -1, 2), f([C], 2, 0.5, 1.5), f([C], 3)], TOL, { bwd: BWD });
      parity(`train no affine ${shape}`, (x) => batchNorm2d(x, null, null, null, null, { training: true }), [f(shape, 4, -1, 2)], TOL, { bwd: BWD });
      parity(`train bias only ${shape}`, (x, b) => batchNorm2d(x, null, null, null, b, { training: true }), [f(shape, 5), f([C], 6)], TOL, { bwd: BWD });
    }
  });
  it('eval: running statistics are constants', () => {
    for (const shape of shapes) {
      const C = shape[1]!;
      const rm = fixed([C], 7, -0.5, 0.5);
      const rv = fixed([C], 8, 0.5, 2);
      parity(`eval ${shape}`, (x, w, b, m, v) => batchNorm2d(x, m!, v!, w, b, { training: false, eps: 1e-3 }), [f(shape, 9), f([C], 10, 0.5, 1.5), f([C], 11), rm, rv], TOL, { bwd: BWD });
      parity(`eval no affine ${shape}`, (x, m, v) => batchNorm2d(x, m!, v!, null, null, { training: false }), [f(shape, 12), rm, rv], TOL, { bwd: BWD });
    }
  });
  it('a training step updates the running statistics identically', () => {
    // outputs: y, and the running mean/var after the in-place update (unbiased variance)
    parity('running stats', (x, w, b, m, v) => [batchNorm2d(x, m!, v!, w, b, { training: true, momentum: 0.3 }), m!, v!], [f([4, 3, 9, 11], 13, -1, 3), f([3], 14), f([3], 15), fixed([3], 16), fixed([3], 17, 0.5, 1.5)], TOL, { bwd: BWD });
  });
  it('a channel of 100k values (many blocks); large mean, small spread', () => {
    const x = f([2, 2, 250, 201], 18);
    x.data = x.data.map((v, e) => 1000 + v + 2 * (e % 2));
    parity('batchNorm2d 100k per channel', (t) => batchNorm2d(t, null, null, null, null, { training: true }), [x], { atol: 2e-3, rtol: 1e-3 });
    const stats = (device: 'cpu' | 'wasm'): Float32Array => {
      const t = tensor(x.data, { shape: x.shape, device });
      const r = engine.backend(device).batchNormStats(t.k('t'), 2, 2, 250 * 201);
      const m = Tensor.fromStorage(device, r.mean, [2], 'float32');
      const v = Tensor.fromStorage(device, r.variance, [2], 'float32');
      const out = Float32Array.from([...m.dataSync(), ...v.dataSync()]);
      for (const s of [t, m, v]) s.dispose();
      return out;
    };
    const c = stats('cpu');
    const w = stats('wasm');
    // the mean to float32's resolution at 1000; the variance (≈ 1.33) to 1e-5 relative
    assertClose(w.subarray(0, 2), c.subarray(0, 2), { atol: 1e-4, rtol: 0 }, 'mean');
    assertClose(w.subarray(2), c.subarray(2), { atol: 0, rtol: 1e-5 }, 'variance');
    expect(c[2]).toBeGreaterThan(1);
  });
});
