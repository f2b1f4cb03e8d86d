/**
 * maxPool2d, avgPool2d and adaptiveAvgPool2d on every backend (test/helpers/backends.ts): PyTorch
 * fixtures, then parity with cpu float64, forward and backward: maxPool2d with indices (stride,
 * padding, dilation, ceilMode, overlapping windows, 1x1 planes, empty batches, ties: the first
 * maximum, NaN: propagated, the wasm 4-column SIMD path, all -Infinity windows, unbatched input),
 * avgPool2d (countIncludePad on/off, ceilMode, divisorOverride, global), adaptiveAvgPool2d (global,
 * uneven windows, upsampling windows).
 * Tolerances: maxPool exact (values and indices); averages 1e-6 + 1e-5 relative; gradients 1e-5.
 */
import { it } from 'vitest';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../../ops/pooling.js';
import { describeEnvs, f, fixed, fixture, parity } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const nn = loadFixture('ops', 'nn');

const EXACT = { atol: 0, rtol: 0 };
const TOL = { atol: 1e-6, rtol: 1e-5 };
const GRAD = { atol: 1e-5, rtol: 1e-5 };


describeEnvs('pooling', () => {
  for (const [op, fn, cases] of fixtureOps(nn, 'pooling')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(nn, c, fn, fixtureTol(c));
    });
  }
  it('maxPool2d with indices: stride, padding, dilation, ceilMode, overlapping windows', async () => {
    const cases: [number[], number, Parameters<typeof maxPool2d>[2]][] = [
      [[2, 3, 7, 9], 3, { stride: 2, padding: 1 }],
      [[1, 2, 5, 5], 2, {}],
      [[1, 2, 8, 7], 3, { stride: 1, padding: 1 }],
      [[2, 1, 9, 10], 3, { stride: 2, dilation: 2, padding: 1 }],
      [[1, 3, 6, 7], 3, { stride: 2, ceilMode: true }],
      [[3, 2, 1, 1], 1, {}],
      [[0, 2, 5, 5], 2, {}],
      [[2, 16, 48, 37], 3, { stride: 2, padding: 1 }],
      [[1, 3, 9, 21], 2, { stride: 2 }],
      [[1, 3, 9, 21], 3, { stride: 1, padding: 1, dilation: 2 }],
      [[1, 2, 11, 10], 3, { stride: 2, padding: 1, dilation: 2, ceilMode: true }],
      [[1, 1, 8, 8], 3, { stride: 2, ceilMode: true }],
      [[3, 5, 4], 2, { stride: 2 }],
    ];
    for (const [shape, k, opts] of cases) {
      await parity(`maxPool2d ${JSON.stringify(shape)} k${k}`, (x) => maxPool2d(x, k, { ...opts, returnIndices: true }), [f(shape, 1)], EXACT, { bwd: GRAD });
    }
    // ties: the first maximum; NaN: the last NaN
    const t = fixed([1, 1, 3, 4], 0);
    t.data.set([1, 5, 5, 0, 5, 2, NaN, 1, 0, 0, 0, NaN]);
    await parity('maxPool2d ties and NaN', (x) => maxPool2d(x, 2, { stride: 1, returnIndices: true }), [t], EXACT, { grad: false });
    // the same on rows wide enough for the 4-column SIMD path, strides 1 and 2, all -inf windows
    const wide = fixed([1, 2, 6, 23], 5);
    wide.data = wide.data.map((v) => Math.round(v * 2) / 2);
    for (const k of [3, 17, 40, 41, 60, 70, 71, 100]) wide.data[k] = NaN;
    for (let k = 150; k < 170; k++) wide.data[k] = -Infinity;
    for (const stride of [1, 2]) {
      await parity(`maxPool2d SIMD ties/NaN/-inf stride ${stride}`, (x) => maxPool2d(x, 3, { stride, padding: 1, returnIndices: true }), [wide], EXACT, { grad: false });
    }
  });
  it('avgPool2d: countIncludePad, ceilMode, divisorOverride', async () => {
    const cases: [number[], number | [number, number], Parameters<typeof avgPool2d>[2]][] = [
      [[2, 3, 7, 9], 3, { stride: 2, padding: 1 }],
      [[2, 3, 7, 9], 3, { stride: 2, padding: 1, countIncludePad: false }],
      [[1, 2, 6, 7], 3, { stride: 2, ceilMode: true, padding: 1 }],
      [[1, 2, 5, 5], 2, { divisorOverride: 3 }],
      [[1, 1, 1, 1], 1, {}],
      [[2, 16, 48, 37], 3, { stride: 2, padding: 1, countIncludePad: false }],
      [[1, 3, 9, 21], 3, { stride: 1, padding: 1 }],
      [[1, 3, 9, 21], 2, { stride: 1 }],
      [[1, 2, 8, 30], 4, { stride: 2, padding: 2, countIncludePad: false }],
      [[1, 2, 8, 9], [3, 2], { stride: [2, 3], padding: [1, 1], ceilMode: true }],
      [[2, 5, 7, 7], 7, {}],
    ];
    for (const [shape, k, opts] of cases) await parity(`avgPool2d ${JSON.stringify(opts)}`, (x) => avgPool2d(x, k, opts), [f(shape, 2)], TOL, { bwd: GRAD });
  });
  it('adaptiveAvgPool2d: global, uneven windows, upsampling windows', async () => {
    for (const [shape, size] of [[[2, 3, 7, 9], 1], [[1, 2, 10, 7], [3, 4]], [[1, 2, 3, 2], [5, 4]], [[1, 3, 16, 13], [1, 1]], [[2, 3, 7, 5], [3, 2]], [[1, 2, 4, 3], [6, 5]]] as const) {
      await parity(`adaptiveAvgPool2d ${JSON.stringify(shape)}→${JSON.stringify(size)}`, (x) => adaptiveAvgPool2d(x, size as never), [f([...shape], 3)], TOL, { bwd: GRAD });
    }
  });
  it('larger: max and avg pool on [2, 16, 48, 36]', async () => {
    await parity('larger max', (x) => maxPool2d(x, 3, { stride: 2, padding: 1 }), [f([2, 16, 48, 36], 9)], EXACT, { bwd: GRAD });
    await parity('larger avg', (x) => avgPool2d(x, 2), [f([2, 16, 48, 36], 10)], TOL, { bwd: GRAD });
  });
});
