/**
 * wasm vs cpu: maxPool2d (+ indices), avgPool2d (countIncludePad on/off, ceilMode, divisorOverride),
 * adaptiveAvgPool2d and interpolate (nearest, bilinear with and without alignCorners, size and
 * scaleFactor), forward and backward, on odd sizes, 1x1 planes and overlapping windows.
 * Tolerances: maxPool exact (values and indices); averages and bilinear blends 1e-6 + 1e-5
 * relative (float32 arithmetic vs cpu's float64); their gradients (scatter-adds) 1e-5.
 */
import { beforeAll, describe, it } from 'vitest';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../../ops/pooling.js';
import { interpolate } from '../../ops/resample.js';
import { f, fixed, parity, setupWasm } from './helpers.js';

const EXACT = { atol: 0, rtol: 0 };
const TOL = { atol: 1e-6, rtol: 1e-5 };
const GRAD = { atol: 1e-5, rtol: 1e-5 };

beforeAll(async () => {
  await setupWasm();
});

describe('wasm pooling matches cpu', () => {
  it('maxPool2d with indices: stride, padding, dilation, ceilMode, overlapping windows', () => {
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
    ];
    for (const [shape, k, opts] of cases) {
      parity(`maxPool2d ${JSON.stringify(shape)} k${k}`, (x) => maxPool2d(x, k, { ...opts, returnIndices: true }), [f(shape, 1)], EXACT, { bwd: GRAD });
    }
    // ties: the first maximum; NaN: the last NaN
    const t = fixed([1, 1, 3, 4], 0);
    t.data.set([1, 5, 5, 0, 5, 2, NaN, 1, 0, 0, 0, NaN]);
    parity('maxPool2d ties and NaN', (x) => maxPool2d(x, 2, { stride: 1, returnIndices: true }), [t], EXACT, { grad: false });
    // the same on rows wide enough for the 4-column SIMD path, strides 1 and 2, all -inf windows
    const wide = fixed([1, 2, 6, 23], 5);
    wide.data = wide.data.map((v) => Math.round(v * 2) / 2);
    for (const k of [3, 17, 40, 41, 60, 70, 71, 100]) wide.data[k] = NaN;
    for (let k = 150; k < 170; k++) wide.data[k] = -Infinity;
    for (const stride of [1, 2]) {
      parity(`maxPool2d SIMD ties/NaN/-inf stride ${stride}`, (x) => maxPool2d(x, 3, { stride, padding: 1, returnIndices: true }), [wide], EXACT, { grad: false });
    }
  });
  it('avgPool2d: countIncludePad, ceilMode, divisorOverride', () => {
    const cases: [number[], number, Parameters<typeof avgPool2d>[2]][] = [
      [[2, 3, 7, 9], 3, { stride: 2, padding: 1 }],
      [[2, 3, 7, 9], 3, { stride: 2, padding: 1, countIncludePad: false }],
      [[1, 2, 6, 7], 3, { stride: 2, ceilMode: true, padding: 1 }],
      [[1, 2, 5, 5], 2, { divisorOverride: 3 }],
      [[1, 1, 1, 1], 1, {}],
      [[2, 16, 48, 37], 3, { stride: 2, padding: 1, countIncludePad: false }],
      [[1, 3, 9, 21], 3, { stride: 1, padding: 1 }],
      [[1, 3, 9, 21], 2, { stride: 1 }],
      [[1, 2, 8, 30], 4, { stride: 2, padding: 2, countIncludePad: false }],
    ];
    for (const [shape, k, opts] of cases) parity(`avgPool2d ${JSON.stringify(opts)}`, (x) => avgPool2d(x, k, opts), [f(shape, 2)], TOL, { bwd: GRAD });
  });
  it('adaptiveAvgPool2d: global, uneven windows, upsampling windows', () => {
    for (const [shape, size] of [[[2, 3, 7, 9], 1], [[1, 2, 10, 7], [3, 4]], [[1, 2, 3, 2], [5, 4]], [[1, 3, 16, 13], [1, 1]]] as const) {
      parity(`adaptiveAvgPool2d ${JSON.stringify(shape)}→${JSON.stringify(size)}`, (x) => adaptiveAvgPool2d(x, size as never), [f([...shape], 3)], TOL, { bwd: GRAD });
    }
  });
});

describe('wasm interpolate matches cpu', () => {
  const cases: [string, number[], Parameters<typeof interpolate>[1]][] = [
    ['nearest x2', [2, 3, 5, 7], { scaleFactor: 2, mode: 'nearest' }],
    ['nearest x2, 8+ columns (shuffle path)', [1, 3, 6, 13], { scaleFactor: 2, mode: 'nearest' }],
    ['nearest x4 (HRNet fuse)', [1, 2, 4, 9], { scaleFactor: 4, mode: 'nearest' }],
    ['nearest x2 rows, x3 columns', [1, 2, 5, 4], { size: [10, 12], mode: 'nearest' }],
    ['nearest down to size', [1, 2, 9, 8], { size: [4, 5], mode: 'nearest' }],
    ['nearest scale 1.7', [1, 1, 5, 6], { scaleFactor: 1.7, mode: 'nearest' }],
    ['bilinear x2', [2, 3, 5, 7], { scaleFactor: 2, mode: 'bilinear' }],
    ['bilinear alignCorners', [1, 2, 5, 4], { size: [9, 11], mode: 'bilinear', alignCorners: true }],
    ['bilinear down', [1, 2, 11, 9], { size: [4, 3], mode: 'bilinear' }],
    ['bilinear from 1x1', [1, 2, 1, 1], { size: [3, 4], mode: 'bilinear' }],
    ['bilinear alignCorners to 1x1', [1, 1, 4, 5], { size: [1, 1], mode: 'bilinear', alignCorners: true }],
    ['bilinear larger (64x48 -> 96x72)', [1, 4, 48, 64], { size: [72, 96], mode: 'bilinear' }],
  ];
  for (const [name, shape, opts] of cases) {
    it(name, () => {
      parity(name, (x) => interpolate(x, opts), [f(shape, 4)], TOL, { bwd: GRAD });
    });
  }
});
